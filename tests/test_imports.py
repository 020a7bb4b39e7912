"""The architecture: one name, one-way imports between the three packages, lazy backends.

* A source scan (``ast``) of the checkout's ``formats/``, ``hwmodels/`` and ``simulator/``
  (installed as ``lowbit.formats``, ``lowbit.hwmodels``, ``lowbit.simulator``):
  - ``formats ← hwmodels ← simulator``: no module of ``formats`` imports ``hwmodels`` or
    ``simulator`` (not even lazily, inside a function), no module of ``hwmodels`` imports
    ``simulator``;
  - no module imports a private module (a dotted name with a component starting with ``_``) of
    another of the three packages: what one package needs from another is that package's
    documented API;
  - no import cycle among the modules of one package (imports at module level);
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


def _imports(path: pathlib.Path):
    """(absolute module name under ``lowbit.``, line, at module level) of every import."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = ["lowbit", *rel.parts[:-1]]  # the package a relative import starts from
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top = {id(n) for n in tree.body}
    # imports at module level, including those under module-level if/try blocks
    for node in tree.body:
        if isinstance(node, (ast.If, ast.Try)):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue  # typing only: never executed
            for sub in ast.walk(node):
                top.add(id(sub))
    for node in ast.walk(tree):
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
def test_no_import_cycles(pkg):
    """Module-level imports inside one package form no cycle (a cycle makes the import order
    matter and hides layering mistakes). Package ``__init__`` facades are left out: importing a
    submodule always runs its parents' ``__init__`` first, which is not a dependency."""
    mods = {_module_name(p): p for p in _modules(pkg)}
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        if path.name == "__init__.py":
            continue
        deps = set()
        for target, _, top in _imports(path):
            if top and target in mods and target != name and mods[target].name != "__init__.py":
                deps.add(target)
        graph[name] = deps
    cycles = []
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
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("pkg", PACKAGES)
def test_public_modules_import_no_backend_at_module_level(pkg):
    bad = []
    for path in _modules(pkg):
        if any(p.startswith("_") and p != "__init__.py" for p in path.relative_to(ROOT).parts):
            continue
        for name, line, top in _imports(path):
            if top and name.split(".")[0] in BACKENDS:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name} at module level")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------------------ packaging
def test_every_package_folder_is_installed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {_module_name(p) for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")}
    assert folders <= listed, f"package folders missing from pyproject.toml: {folders - listed}"
    assert "lowbit" in listed


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
