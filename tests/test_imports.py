"""The one-way street ``formats ← hwmodels ← simulator`` and lazy backends.

* A source scan (``ast``): no module of ``formats`` imports ``hwmodels`` or ``simulator`` (not
  even lazily, inside a function), no module of ``hwmodels`` imports ``simulator``; public
  modules (no leading underscore) import neither ``jax`` nor ``numba`` at module level.
* Subprocesses (a fresh interpreter each): ``import formats`` (also hwmodels, simulator, and
  NumPy work through the codec) loads neither jax nor numba.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("formats", "hwmodels", "simulator")
FORBIDDEN = {"formats": {"hwmodels", "simulator"}, "hwmodels": {"simulator"}, "simulator": set()}
BACKENDS = {"jax", "jaxlib", "numba"}


def _modules(pkg):
    return sorted((ROOT / pkg).rglob("*.py"))


def _imports(path: pathlib.Path):
    """(absolute module name, line, at module level) of every import in ``path``."""
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    package = parts[:-1]  # the package a relative import starts from (also for __init__)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top = {id(n) for n in tree.body}
    # imports at module level, including those under module-level if/try blocks
    for node in tree.body:
        if isinstance(node, (ast.If, ast.Try)):
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
            if node.module is None or node.level:
                for alias in node.names:  # from . import x / from .. import simulator
                    yield f"{name}.{alias.name}", node.lineno, id(node) in top


def test_scan_sees_the_packages():
    for pkg in PACKAGES:
        assert _modules(pkg), f"no sources found for {pkg}"
    names = {n for n, _, _ in _imports(ROOT / "formats" / "__init__.py")}
    assert "formats._codec" in names  # relative imports are resolved
    # positive control: the scan does see simulator's imports of the lower layers
    seen = {n.split(".")[0] for path in _modules("simulator") for n, _, _ in _imports(path)}
    assert {"formats", "hwmodels"} & seen


@pytest.mark.parametrize("pkg", PACKAGES)
def test_one_way_imports(pkg):
    bad = []
    for path in _modules(pkg):
        for name, line, _ in _imports(path):
            if name.split(".")[0] in FORBIDDEN[pkg]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "formats ← hwmodels ← simulator is one way:\n" + "\n".join(bad)


@pytest.mark.parametrize("pkg", PACKAGES)
def test_public_modules_import_no_backend_at_module_level(pkg):
    bad = []
    for path in _modules(pkg):
        if path.name.startswith("_") and path.name != "__init__.py":
            continue
        for name, line, top in _imports(path):
            if top and name.split(".")[0] in BACKENDS:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name} at module level")
    assert not bad, "\n".join(bad)


def _loaded_after(code: str) -> set[str]:
    probe = (code + "\nimport sys\n"
             "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
             f"{sorted(BACKENDS)!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


@pytest.mark.parametrize("code", [
    "import formats",
    "import hwmodels",
    "import simulator",
    "import formats.strategies",
    "import numpy as np, formats\n"
    "x = np.linspace(-500, 500, 1001, dtype=np.float32)\n"
    "for f in ('float8_e4m3fn', 'int4', 'bfloat16'):\n"
    "    q = formats.encode(x, f, rounding='stochastic', key=0)\n"
    "    formats.decode(q); formats.quantize(x, f); formats.values(f); q.pack()",
], ids=["formats", "hwmodels", "simulator", "strategies", "numpy-work"])
def test_no_backend_is_loaded(code):
    assert _loaded_after(code) == set()


def test_the_probe_can_see_a_backend():
    assert "jax" in _loaded_after("import jax.numpy")
