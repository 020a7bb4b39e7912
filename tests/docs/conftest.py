"""The documentation site, built once per test run and shared by every test that reads it.

``mkdocs build --strict`` runs in a subprocess (it executes the example notebooks and draws the
figures, so it takes a while). Under pytest-xdist the workers of one run share one build: the
first to get the lock builds, the others wait and read its result, success or failure.
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _build(out: pathlib.Path) -> dict:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(out)],
        cwd=out.parent, env=env, capture_output=True, text=True, timeout=1200,
    )
    return {"rc": proc.returncode, "log": f"{proc.stdout[-20000:]}\n{proc.stderr[-20000:]}"}


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> pathlib.Path:
    """The built site's folder (``mkdocs build --strict`` succeeded)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = (tmp_path_factory.getbasetemp().parent / f"lowbit-site-{run}") if run \
        else tmp_path_factory.mktemp("lowbit-site")
    base.mkdir(parents=True, exist_ok=True)
    out, status = base / "site", base / "status.json"
    with open(base / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not status.exists():
            status.write_text(json.dumps(_build(out)))
    result = json.loads(status.read_text())
    assert result["rc"] == 0, f"mkdocs build --strict failed:\n{result['log']}"
    return out
