"""Every example runs headless: notebooks through a Jupyter kernel (nbclient, as nbmake does),
scripts as subprocesses. Notebooks are committed without outputs.

Notebooks run in a temporary working directory (files they write land there) with ``examples/``
on ``PYTHONPATH`` (so they can import the example scripts, as they can when started from
``examples/``), matplotlib on the Agg backend, and must finish within ``TIMEOUT_S``.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
TIMEOUT_S = 180


def _ids(paths):
    return [p.name for p in paths]


def test_examples_exist_and_are_listed_in_readme():
    readme = (EXAMPLES / "README.md").read_text()
    missing = [p.name for p in NOTEBOOKS + SCRIPTS if p.name not in readme]
    assert not missing, f"examples/README.md does not mention {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path, monkeypatch, tmp_path):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(EXAMPLES), os.environ.get("PYTHONPATH", "")) if p))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("path", SCRIPTS, ids=_ids(SCRIPTS))
def test_script_runs(path, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
