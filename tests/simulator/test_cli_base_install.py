"""Every ``lowbit`` command runs in a base install — without the test extras (JAX, ml_dtypes,
gfloat, torch, torchao, SoftPosit, Dask, Hypothesis, pytest, mkdocs) — and a user error of each
exits with status 2 and one line on stderr.

Each command runs in a fresh interpreter whose import system refuses those packages (a
meta-path finder installed before lowbit is imported), as a machine that ran only
``pip install .`` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

#: top-level modules of the test extras (pyproject.toml [project.optional-dependencies] test)
TEST_EXTRAS = ("jax", "jaxlib", "ml_dtypes", "gfloat", "torch", "torchao", "softposit", "dask",
               "distributed", "hypothesis", "pytest", "xdist", "nbmake", "mkdocs", "mkdocstrings",
               "mathjax")

_RUN = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = set(sys.argv[1].split(","))

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    for m in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
        del sys.modules[m]
    from lowbit.simulator.cli import main
    rc = main(sys.argv[2:])
    loaded = sorted({m.split(".")[0] for m in sys.modules} & BLOCKED)
    assert not loaded, loaded
    sys.exit(rc)
""")


def _base(args, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LOWBIT_TRACEBACK"}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-c", _RUN, ",".join(TEST_EXTRAS), *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)


def test_the_base_install_really_lacks_the_extras(tmp_path):
    probe = _RUN.replace("from lowbit.simulator.cli import main\nrc = main(sys.argv[2:])",
                         "import ml_dtypes\nrc = 0")
    r = subprocess.run([sys.executable, "-c", probe, ",".join(TEST_EXTRAS)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "No module named 'ml_dtypes'" in r.stderr


COMMANDS = [
    ["--version"],
    ["--help"],
    ["formats"],
    ["formats", "show", "float8_e4m3fn"],
    ["formats", "show", "mxfp4"],
    ["formats", "show", "posit16"],
    ["quantize", "-f", "float8_e5m2", "3.3", "-0.001", "1e6"],
    ["quantize", "-f", "nvfp4", "1.1", "300", "1e-3"],
    ["quantize", "-f", "int4", "--rounding", "stochastic", "--seed", "3", "2.5"],
    ["presets"],
    ["presets", "show", "tpu-v1"],
    ["workloads"],
    ["workloads", "show", "llama3-8b-decode", "--batch", "2"],
    ["estimate", "--workload", "llama2-7b-decode", "--hw", "h100", "--weights", "nvfp4",
     "--activations", "float8_e4m3fn", "--layers", "--csv", "l.csv", "--plot", "e.png"],
    ["sweep", "--workload", "llama2-7b-decode", "--hw", "h100", "tmac", "--weights", "int4", "int8",
     "--activations", "float8_e4m3fn", "--csv", "s.csv", "--plot", "s.png"],
    ["bench", "--scale", "0.001"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[:2]) for a in COMMANDS])
def test_every_command_runs_in_a_base_install(args, tmp_path):
    r = _base(args, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip(), args
    assert "Traceback" not in r.stderr
    for opt in ("--csv", "--plot"):
        if opt in args:
            assert (tmp_path / args[args.index(opt) + 1]).stat().st_size > 0
    if args[0] == "bench":  # peers that are missing are named once, and their rows skipped
        assert "not installed, skipped: ml_dtypes, gfloat, jax, torch, torchao" in r.stdout
        assert "ml_dtypes is not installed" in r.stdout and "[gemm]" in r.stdout


USER_ERRORS = [
    (["formats", "show", "float9"], "formats", "unknown format"),
    (["formats", "--family", "nope"], "formats", "--family"),
    (["quantize", "-f", "mxfp4", "--rounding", "sideways", "1"], "quantize", "rounding"),
    (["presets", "show", "tpu-v9"], "presets", "unknown hardware preset"),
    (["presets", "show", "/nonexistent/p.yaml"], "presets", "No such file"),
    (["workloads", "show", "llama9-decode"], "workloads", "unknown workload"),
    (["workloads", "show", "llama2-7b-decode", "--context", "0"], "workloads", "--context must be >= 1"),
    (["estimate", "--workload", "llama2-7b-decode", "--hw", "h100", "--weights", "nvfp9",
      "--activations", "int8"], "estimate", "nvfp9"),
    (["sweep", "--workload", "llama2-7b-decode", "--hw", "h100", "--weights", "int4",
      "--activations", "int8", "--plot", "/nonexistent-dir/s.png"], "sweep", "--plot"),
    (["sweep", "--workload", "llama2-7b-decode", "--hw", "h100", "--weights", "int4",
      "--activations", "int8", "--x", "time", "--y", "time"], "sweep", "--x and --y must differ"),
    (["bench", "nope"], "bench", "suite must be one of"),
    (["bench", "--scale", "-1"], "bench", "--scale"),
]


@pytest.mark.parametrize("args, command, words", USER_ERRORS, ids=[" ".join(a[:3]) for a, _, _ in USER_ERRORS])
def test_a_user_error_is_one_line_and_status_2_in_a_base_install(args, command, words, tmp_path):
    r = _base(args, tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"lowbit {command}: error: ") and words in lines[0], lines[0]
    assert r.stdout == ""
