"""The architecture: one name, one-way imports between the three packages, lazy backends.

* A source scan (``ast``) of the checkout's ``formats/``, ``hwmodels/`` and ``simulator/``
  (installed as ``lowbit.formats``, ``lowbit.hwmodels``, ``lowbit.simulator``):
  - ``formats ← hwmodels ← simulator``: no module of ``formats`` imports ``hwmodels`` or
    ``simulator`` (not even lazily, inside a function), no module of ``hwmodels`` imports
    ``simulator``;
  - no module imports a private module (a dotted name with a component starting with ``_``) of
    another of the three packages: what one package needs from another is that package's
    documented API;
  - no import cycle among the modules of one package, counting imports inside functions (the
    rule and its dispatch points: ``test_no_import_cycles``); ``formats``' rooms are layered
    (core ← scalar ← block ← numsys); backend modules (JAX, Numba) are imported lazily;
  - public modules (no leading underscore) import neither ``jax``, ``numba`` nor ``torch`` at
    module level.
* Packaging: every package folder is listed in ``pyproject.toml``; the installed distribution
  puts only ``lowbit`` at the top of site-packages; ``lowbit.__version__`` is the distribution's
  version.
* Subprocesses (a fresh interpreter each): ``import lowbit``, ``import lowbit.formats`` (also
  hwmodels, simulator, and NumPy work through the codec) load neither JAX, Numba nor torch.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import pathlib
import subprocess
import sys
import tomllib

import pytest

import lowbit

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("formats", "hwmodels", "simulator")
FORBIDDEN = {"formats": {"hwmodels", "simulator"}, "hwmodels": {"simulator"}, "simulator": set()}
BACKENDS = {"jax", "jaxlib", "numba", "torch"}


def _modules(pkg):
    return sorted((ROOT / pkg).rglob("*.py"))


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["lowbit", *parts])


def _imports(path: pathlib.Path, *, runtime_only: bool = False):
    """(absolute module name under ``lowbit.``, line, at module level) of every import.

    ``runtime_only``: leave out imports under ``if TYPE_CHECKING:`` (never executed)."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = ["lowbit", *rel.parts[:-1]]  # the package a relative import starts from
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top = {id(n) for n in tree.body}
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    # imports at module level, including those under module-level if/try blocks
    for node in tree.body:
        if isinstance(node, (ast.If, ast.Try)):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue  # typing only: never executed
            for sub in ast.walk(node):
                top.add(id(sub))
    for node in ast.walk(tree):
        if runtime_only and id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield name, node.lineno, id(node) in top
            for alias in node.names:  # from . import x / from lowbit import formats
                yield f"{name}.{alias.name}", node.lineno, id(node) in top


def _package_of(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] == "lowbit" and len(parts) > 1 and parts[1] in PACKAGES:
        return parts[1]
    return None


def test_scan_sees_the_packages():
    for pkg in PACKAGES:
        assert _modules(pkg), f"no sources found for {pkg}"
    names = {n for n, _, _ in _imports(ROOT / "formats" / "__init__.py")}
    assert "lowbit.formats.core._codec" in names  # relative imports are resolved
    # positive controls: the scan sees simulator's imports of the lower layers, and it would
    # see a private import if there were one
    seen = {_package_of(n) for path in _modules("simulator") for n, _, _ in _imports(path)}
    assert {"formats", "hwmodels"} <= seen
    assert _private_cross_imports_in("from lowbit.formats.core._codec import x", "simulator")


@pytest.mark.parametrize("pkg", PACKAGES)
def test_one_way_imports(pkg):
    bad = []
    for path in _modules(pkg):
        for name, line, _ in _imports(path):
            if _package_of(name) in FORBIDDEN[pkg]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "formats ← hwmodels ← simulator is one way:\n" + "\n".join(bad)


def _private_cross_imports_in(source: str, pkg: str) -> list[str]:
    """The private cross-package imports the scan finds in ``source`` (absolute imports)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and not node.level:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return [n for n in names if _is_private_cross(n, pkg)]


def _is_private_cross(name: str, pkg: str) -> bool:
    other = _package_of(name)
    if other is None or other == pkg:
        return False
    return any(part.startswith("_") for part in name.split(".")[2:])


@pytest.mark.parametrize("pkg", PACKAGES)
def test_no_private_imports_across_packages(pkg):
    bad = []
    for path in _modules(pkg):
        for name, line, _ in _imports(path):
            if _is_private_cross(name, pkg):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, ("use the other package's documented API, not its private modules:\n"
                     + "\n".join(bad))


def _graph(pkg: str) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports, at module level or inside a function
    (typing-only imports left out). Package ``__init__`` facades are left out: importing a
    submodule runs its parents' ``__init__`` first, which is not a dependency."""
    mods = {_module_name(p): p for p in _modules(pkg)}
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        if path.name == "__init__.py":
            continue
        graph[name] = {t for t, _, _ in _imports(path, runtime_only=True)
                       if t in mods and t != name and mods[t].name != "__init__.py"}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    cycles: list[str] = []
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" → ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return cycles


@pytest.mark.parametrize("pkg", PACKAGES)
def test_no_import_cycles(pkg):
    """No import cycle inside a package, counting lazy imports (inside functions) too.

    The rule: a lower module never imports a higher one — not at module level, not lazily. A
    cycle that is only broken by deferring one import to a function still makes the two modules
    one unit (and the import order matter); it hides layering mistakes. Where a lower module must
    reach a higher one, there is one documented dispatch point:

    * a **registry** the higher module fills when it is imported: ``formats/core/_dispatch.py``
      (``register_codec``/``codec_for``) is how the core's verbs and ``QArray`` reach the format
      families; the core imports no family module;
    * a **lazy import of a backend module from one dispatching module**, where the backend
      module (``*_jax.py``, ``*_numba.py``: it imports JAX or Numba at module level) takes what
      it shares with the dispatcher from a third, lower module — never from the dispatcher:
      ``block/_block.py`` → ``block/_block_numba.py``, both on ``block/_layout.py``;
      ``numsys/_lmul.py`` → ``numsys/_lmul_numba.py``, both on ``numsys/_lmul_spec.py``;
      ``simulator/emulate/_matmul_dispatch.py`` → ``_matmul_jax.py``, both on ``_matmul.py``.

    ``test_formats_rooms_are_layered`` and ``test_backend_modules_are_imported_lazily`` check the
    two halves of that rule; this test checks that no cycle is left anywhere.
    """
    cycles = _cycles(_graph(pkg))
    assert not cycles, "import cycles (counting imports inside functions):\n" + "\n".join(cycles)


def test_the_cycle_check_sees_lazy_imports():
    """Positive control: a cycle closed by an import inside a function is found."""
    graph = {"a": {"b"}, "b": set()}
    assert not _cycles(graph)
    graph["b"].add("a")
    assert _cycles(graph) == ["a → b → a"]
    # and the scan records function-level imports of the package
    lazy = {t for t, _, top in _imports(ROOT / "formats" / "block" / "_block.py") if not top}
    assert "lowbit.formats.block._block_numba" in lazy


#: the rooms of ``formats`` from the bottom up; the modules at the top of ``formats/`` (public
#: modules such as ``strategies.py``, ``_error.py``, ``_products.py``) come last
FORMATS_ROOMS = ("core", "scalar", "block", "numsys")


def _room(module: str) -> int:
    parts = module.split(".")  # lowbit.formats.<room>.<module>
    if len(parts) > 3 and parts[2] in FORMATS_ROOMS:
        return FORMATS_ROOMS.index(parts[2])
    return len(FORMATS_ROOMS)


def test_formats_rooms_are_layered():
    """``formats``: core ← scalar ← block ← numsys ← the modules at the top of ``formats/``. A
    module imports only from its own room and the rooms below it (lazily or not); in particular
    the core imports no format family and reaches them through the codec registry."""
    bad = []
    for name, deps in _graph("formats").items():
        for dep in deps:
            if _room(dep) > _room(name):
                bad.append(f"{name} imports {dep}")
    assert not bad, "a lower room of formats imports a higher one:\n" + "\n".join(sorted(bad))


def _backend_modules(pkg: str) -> dict[str, str]:
    """Modules that load JAX, Numba or torch when imported — directly at module level, or through
    a module-level import of such a module — each with the import that does it."""
    mods = {_module_name(p): p for p in _modules(pkg)}
    top = {name: {n for n, _, t in _imports(path, runtime_only=True) if t} for name, path in mods.items()}
    found = {name: next(n for n in deps if n.split(".")[0] in BACKENDS)
             for name, deps in top.items() if any(n.split(".")[0] in BACKENDS for n in deps)}
    grew = True
    while grew:
        grew = False
        for name, deps in top.items():
            if name not in found:
                via = next((n for n in deps if n in found), None)
                if via is not None:
                    found[name] = via
                    grew = True
    return found


def _declares_backend(module: str) -> bool:
    last = module.split(".")[-1]
    return last.endswith("_jax") or "numba" in last


@pytest.mark.parametrize("pkg", PACKAGES)
def test_backend_modules_are_imported_lazily(pkg):
    """Only modules whose name declares a backend (``*_jax``, ``*numba*``) load JAX, Numba or
    torch when imported, directly or through another module; every other module reaches them
    inside a function, when an array of that library (or a size that calls for Numba) arrives."""
    loads = _backend_modules(pkg)
    bad = [f"{m} loads a backend at import (via {via})" for m, via in sorted(loads.items())
           if not _declares_backend(m)]
    assert not bad, "\n".join(bad)
    if pkg == "formats":  # positive control: the scan finds backend modules, also transitively
        assert {"lowbit.formats.scalar._jax", "lowbit.formats.block._block_numba",
                "lowbit.formats.numba"} <= set(loads)


# ------------------------------------------------------------------------------ packaging
def test_every_package_folder_is_installed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {_module_name(p) for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")}
    assert folders <= listed, f"package folders missing from pyproject.toml: {folders - listed}"
    assert "lowbit" in listed


#: import name → distribution name, for the third-party imports of the library
DISTRIBUTIONS = {"numpy": "numpy", "array_api_compat": "array-api-compat", "numba": "numba",
                 "llvmlite": "numba", "pandas": "pandas", "matplotlib": "matplotlib", "yaml": "pyyaml",
                 "tqdm": "tqdm", "jax": "jax", "jaxlib": "jax", "ml_dtypes": "ml_dtypes",
                 "hypothesis": "hypothesis", "gfloat": "gfloat", "torch": "torch", "torchao": "torchao"}


def _requirement_name(req: str) -> str:
    import re

    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


def _third_party_imports() -> dict[str, set[tuple[str, bool]]]:
    """Top-level import name → {(module, at module level)} over the library's modules."""
    found: dict[str, set[tuple[str, bool]]] = {}
    paths = [ROOT / "__init__.py", ROOT / "__main__.py"] + [p for pkg in PACKAGES for p in _modules(pkg)]
    for path in paths:
        for name, _, top in _imports(path, runtime_only=True):
            root = name.split(".")[0]
            if root in ("", "lowbit", "__future__") or root in sys.stdlib_module_names:
                continue
            found.setdefault(root, set()).add((_module_name(path), top))
    return found


def test_runtime_dependencies_are_what_the_library_imports():
    """``dependencies`` are exactly the distributions the library imports outside its optional
    features; every other third-party import belongs to an extra and is imported lazily (inside a
    function) — except in modules whose name declares it (``formats.strategies`` is the optional
    Hypothesis module; ``*_jax`` / ``*numba*`` modules are imported lazily themselves)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {_requirement_name(r) for r in project["dependencies"]}
    extras = {_requirement_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    imports = _third_party_imports()
    unknown = sorted(set(imports) - set(DISTRIBUTIONS))
    assert not unknown, f"add these imports to DISTRIBUTIONS (and to dependencies or an extra): {unknown}"
    used = {DISTRIBUTIONS[name].lower().replace("_", "-") for name in imports}
    assert used <= deps | extras, f"imported but not declared: {sorted(used - deps - extras)}"
    assert deps <= used, f"declared but never imported: {sorted(deps - used)}"
    for name, where in imports.items():
        dist = DISTRIBUTIONS[name].lower().replace("_", "-")
        if dist in deps:
            continue
        eager = sorted(m for m, top in where if top and not _declares_backend(m)
                       and m != "lowbit.formats.strategies" and not m.startswith("lowbit.simulator.bench."))
        assert not eager, f"{name} (an extra) is imported at module level by {eager}"


def test_license_matches_the_metadata():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # PEP 639: the expression
    assert "Typing :: Typed" in project["classifiers"] and (ROOT / "py.typed").exists()


#: the public API whose functions must carry type hints: the facades and the public modules
PUBLIC_MODULES = ("lowbit", "lowbit.formats", "lowbit.hwmodels", "lowbit.simulator", "lowbit.formats.backend",
                  "lowbit.formats.numba", "lowbit.formats.lattice", "lowbit.formats.strategies",
                  "lowbit.formats.plotting", "lowbit.hwmodels.presets", "lowbit.simulator.layers",
                  "lowbit.simulator.workloads")


def _public_callables():
    import importlib
    import inspect

    for modname in PUBLIC_MODULES:
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")]
        for n in names:
            obj = getattr(mod, n)
            if inspect.isfunction(obj) and obj.__module__.startswith("lowbit"):
                yield f"{modname}.{n}", obj
            elif inspect.isclass(obj) and obj.__module__.startswith("lowbit"):
                for an, a in vars(obj).items():
                    if inspect.isfunction(a) and (not an.startswith("_") or an == "__call__"):
                        yield f"{modname}.{n}.{an}", a


def test_public_functions_have_type_hints():
    import inspect

    missing = []
    seen = 0
    for name, fn in _public_callables():
        seen += 1
        sig = inspect.signature(fn)
        params = [p for p in sig.parameters.values()
                  if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        bad = [p.name for p in params if p.annotation is inspect.Parameter.empty]
        no_return = sig.return_annotation is inspect.Signature.empty
        if bad or no_return:
            missing.append(f"{name}({', '.join(bad)})" + (" -> ?" if no_return else ""))
    assert seen > 100  # the scan sees the API (quantize, matmul, estimate, every machine's gemm, ...)
    assert not missing, "public functions without type hints:\n" + "\n".join(missing)


def test_only_lowbit_at_the_top_of_site_packages():
    files = importlib.metadata.files("lowbit")
    assert files, "lowbit is not installed"
    tops = {f.parts[0] for f in files if not f.parts[0].endswith((".dist-info", ".egg-info"))
            and f.parts[0] != ".."}  # ../../../bin/lowbit: the console script
    tops = {t for t in tops if not t.startswith("__")}  # an editable install's finder and its cache
    assert tops <= {"lowbit"}, tops
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is None or "lowbit" not in str(spec.origin), f"{name} installed at the top"


def test_version_is_the_distributions():
    assert lowbit.__version__ == importlib.metadata.version("lowbit")


def test_packages_load_on_attribute_access():
    out = subprocess.run([sys.executable, "-c", "import lowbit; print(lowbit.simulator.matmul.__name__, "
                          "lowbit.formats.quantize.__name__, lowbit.hwmodels.GPU.__name__)"],
                         capture_output=True, text=True, cwd=ROOT.parent, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["matmul", "quantize", "GPU"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lowbit.nope  # noqa: B018


# ------------------------------------------------------------------------- lazy backends
def _loaded_after(code: str) -> set[str]:
    probe = (code + "\nimport sys\n"
             "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
             f"{sorted(BACKENDS)!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT.parent, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


@pytest.mark.parametrize("code", [
    "import lowbit",
    "import lowbit.formats",
    "from lowbit import hwmodels",
    "from lowbit import simulator",
    "import lowbit.formats.strategies",
    "import numpy as np\nfrom lowbit import formats\n"
    "x = np.linspace(-500, 500, 1001, dtype=np.float32)\n"
    "for f in ('float8_e4m3fn', 'int4', 'bfloat16'):\n"
    "    q = formats.encode(x, f, rounding='stochastic', key=0)\n"
    "    formats.decode(q); formats.quantize(x, f); formats.values(f); q.pack()",
], ids=["lowbit", "formats", "hwmodels", "simulator", "strategies", "numpy-work"])
def test_no_backend_is_loaded(code):
    assert _loaded_after(code) == set()


def test_the_probe_can_see_a_backend():
    assert "jax" in _loaded_after("import jax.numpy")
