"""The ``lowbit`` command line: user errors are one line on stderr and status 2, never a
traceback; a closed pipe is silent (status 141); negative numbers are values.

Most tests run ``simulator._cli.main`` in-process; the traceback-free and broken-pipe cases also
run a real interpreter (``python -m lowbit``), where the exit path, the final flush of
stdout and the console-script behaviour are real.
"""

from __future__ import annotations

import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pandas as pd
import pytest

from lowbit.simulator.bench import _main as _bench
from lowbit.simulator.cli._main import main

_EST = ["estimate", "--workload", "llama2-7b-decode", "--hw", "systolic-128x128",
        "--weights", "int4", "--activations", "int8"]


def _run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _assert_one_line_error(rc, err, command):
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    prefix = "lowbit: error: " if command is None else f"lowbit {command}: error: "
    assert lines[0].startswith(prefix), err
    return lines[0]


# ------------------------------------------------------------------------ user errors
@pytest.mark.parametrize("argv, command, words", [
    # missing input file (a preset YAML)
    (["estimate", "--workload", "llama2-7b-decode", "--hw", "/nonexistent/x.yaml",
      "--weights", "int4", "--activations", "int8"], "estimate", ["No such file", "/nonexistent/x.yaml"]),
    # unwritable output paths: a folder that does not exist, a parent that is a file, a folder
    (_EST + ["--csv", "/nonexistent-lowbit-dir/l.csv"], "estimate", ["--csv", "does not exist"]),
    (_EST + ["--plot", "/nonexistent-lowbit-dir/e.png"], "estimate", ["--plot", "does not exist"]),
    (_EST + ["--csv", "{file}/l.csv"], "estimate", ["--csv", "is not a directory"]),
    (_EST + ["--csv", "{dir}"], "estimate", ["--csv", "is a directory"]),
    (_EST + ["--plot", "{dir}/e.xyz"], "estimate", ["--plot", "unknown image type 'xyz'", "png"]),
    (["bench", "hw", "--csv", "/nonexistent-lowbit-dir/b.csv"], "bench", ["--csv", "does not exist"]),
    # unknown names
    (["quantize", "--format", "float9_e9m9", "1"], "quantize", ["unknown format 'float9_e9m9'"]),
    (["formats", "show", "nope"], "formats", ["unknown format 'nope'"]),
    (["estimate", "--workload", "llama9", "--hw", "a100", "--weights", "int4", "--activations", "int8"],
     "estimate", ["unknown workload 'llama9'"]),
    (["estimate", "--workload", "llama2-7b-decode", "--hw", "nope", "--weights", "int4",
      "--activations", "int8"], "estimate", ["unknown hardware preset 'nope'"]),
    (["bench", "nope"], "bench", ["suite must be one of", "'nope'"]),
    (["nope"], None, ["invalid choice: 'nope'"]),
    # bad values (argparse's own errors are one line too)
    (["quantize", "--format", "int8", "1", "abc"], "quantize", ["invalid float value: 'abc'"]),
    (["quantize", "--format", "int8", "--rounding", "sideways", "1"], "quantize", ["rounding must be one of"]),
    (["quantize", "--format", "int8", "--rounding", "stochastic", "--seed", "-1", "1"], "quantize",
     ["--seed must be an integer >= 0"]),
    (["quantize", "--format", "int8", "-x", "1"], None, ["unrecognized arguments: -x"]),
    (["quantize", "1"], "quantize", ["--format"]),
    (["formats", "bogus"], "formats", ["invalid choice: 'bogus'"]),
    (_EST + ["--batch", "0"], "estimate", ["--batch must be >= 1"]),
    (_EST + ["--batch", "two"], "estimate", ["--batch", "invalid int value: 'two'"]),
])
def test_user_errors_print_one_line_and_exit_2(argv, command, words, tmp_path, capsys):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    argv = [a.replace("{file}", str(afile)).replace("{dir}", str(tmp_path)) for a in argv]
    rc, out, err = _run(argv, capsys)
    line = _assert_one_line_error(rc, err, command)
    for w in words:
        assert w in line
    if any(a in ("--csv", "--plot") for a in argv):
        assert out == ""  # refused before the command runs, not after its work
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("exc", [PermissionError(13, "Permission denied", "/ro/l.csv"),
                                 OSError(28, "No space left on device", "/full/l.csv")])
def test_a_write_that_fails_late_is_one_line(exc, monkeypatch, tmp_path, capsys):
    """A location the up-front check lets through but that refuses the write (a read-only file
    system; as root the permission bits do not stop a write) still gives one line, no
    traceback."""
    def refuse(self, path, *a, **k):
        raise exc

    monkeypatch.setattr(pd.DataFrame, "to_csv", refuse)
    rc, _, err = _run(_EST + ["--csv", str(tmp_path / "l.csv")], capsys)
    line = _assert_one_line_error(rc, err, "estimate")
    assert exc.strerror in line and exc.filename in line and "Errno" not in line


def test_lowbit_traceback_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("LOWBIT_TRACEBACK", "1")
    with pytest.raises(KeyError, match="unknown format"):
        main(["quantize", "--format", "float9_e9m9", "1"])


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only user-error classes are turned into one line: a bug (here an AttributeError inside a
    command) propagates."""
    import lowbit.simulator.cli._formats as cf

    def broken(args):
        raise AttributeError("a bug")

    monkeypatch.setattr(cf, "_quantize_main", broken)
    with pytest.raises(AttributeError, match="a bug"):
        main(["quantize", "--format", "int8", "1"])


def test_ctrl_c_is_status_130_without_traceback(monkeypatch, capsys):
    import lowbit.simulator.cli._formats as cf

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cf, "_formats_main", interrupted)
    rc, _, err = _run(["formats"], capsys)
    assert rc == 130 and err == ""


# ------------------------------------------------------------------------ negative values
def _quantize_table(out):
    rows = [line.split() for line in out.strip().splitlines()[1:]]
    return [float(r[0]) for r in rows], [float(r[1]) for r in rows], [r[2] for r in rows]


def test_quantize_accepts_negative_values(capsys):
    rc, out, err = _run(["quantize", "--format", "int8", "-inf", "-3.5", "2", "-1e3", "-0.5", "-2.5e0"],
                        capsys)
    assert rc == 0, err
    inputs, vals, codes = _quantize_table(out)
    assert inputs == [-np.inf, -3.5, 2.0, -1000.0, -0.5, -2.5]  # the order given
    # int8: round half to even, saturate: -3.5 -> -4, -0.5 -> 0, -2.5 -> -2; -inf, -1e3 -> -128
    assert vals == [-128.0, -4.0, 2.0, -128.0, 0.0, -2.0]
    assert codes == ["0x80", "0xfc", "0x02", "0x80", "0x00", "0xfe"]


def test_quantize_negative_values_match_ml_dtypes(capsys):
    xs = ["-inf", "-1e3", "-0.5", "-3.3", "-1.0e-2", "-nan", "7"]
    rc, out, err = _run(["quantize", "-f", "float8_e5m2", *xs, "--rounding", "nearest_even"], capsys)
    assert rc == 0, err
    _, vals, codes = _quantize_table(out)
    ref = np.array([float(x) for x in xs]).astype(ml_dtypes.float8_e5m2)
    np.testing.assert_array_equal(np.array(vals), ref.astype(np.float64))
    # the sign of NaN aside (ml_dtypes keeps the input's), codes agree bit for bit
    bits = ref.view(np.uint8)
    for c, b, x in zip(codes, bits, xs, strict=True):
        if "nan" not in x:
            assert int(c, 16) == int(b)


def test_negative_number_as_an_option_value(capsys):
    rc, _, err = _run(["quantize", "--format", "int8", "--rounding", "stochastic", "--seed", "-5", "1.5"],
                      capsys)
    assert "--seed must be an integer >= 0, got -5" in _assert_one_line_error(rc, err, "quantize")


# ------------------------------------------------------------------------ bench --scale
@pytest.mark.parametrize("scale", ["0", "-1", "-0.5", "nan", "inf", "-inf", "abc", "1e400"])
def test_bench_scale_is_validated(scale, capsys):
    rc, out, err = _run(["bench", "hw", "--scale", scale], capsys)
    line = _assert_one_line_error(rc, err, "bench")
    assert "--scale" in line and "positive" in line and repr(scale) in line
    assert out == ""


@pytest.mark.parametrize("scale, exc", [(0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                                        (float("inf"), ValueError), ("1", TypeError), (True, TypeError),
                                        (None, TypeError)])
def test_bench_run_validates_scale(scale, exc):
    with pytest.raises(exc, match="scale must be a positive"):
        _bench.run(["hw"], scale)


def test_bench_checks_every_suite_name_before_running_any(monkeypatch):
    ran = []
    suite = type("S", (), {"run": staticmethod(lambda s, progress=None: ran.append(s) or [])})
    monkeypatch.setattr(_bench, "available_suites", lambda: {"hw": suite})
    with pytest.raises(ValueError, match="got 'nope'"):
        _bench.run(["hw", "nope"], 0.01)
    assert ran == []
    _bench.run("hw", 0.01)  # one name as a string
    assert ran == [0.01]


def test_bench_valid_scale_runs(tmp_path, capsys):
    csv = tmp_path / "b.csv"
    rc, out, err = _run(["bench", "hw", "--scale", "0.001", "--csv", str(csv)], capsys)
    assert rc == 0, err
    assert "gemm_batch" in out and len(pd.read_csv(csv)) >= 3


# ------------------------------------------------------------------------ closed pipe
class _ClosedPipe:
    def write(self, s):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_broken_pipe_in_process_is_silent(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    rc = main(["formats"])
    assert rc == 141
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------ a real interpreter
def _lowbit(args, *, stdout=subprocess.PIPE, cwd):
    env = {k: v for k, v in os.environ.items() if k != "LOWBIT_TRACEBACK"}
    return subprocess.run([sys.executable, "-m", "lowbit", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, env=env, cwd=cwd, timeout=300)


def test_subprocess_user_errors_have_no_traceback(tmp_path):
    r = _lowbit(["estimate", "--workload", "llama2-7b-decode", "--hw", str(tmp_path / "missing.yaml"),
                 "--weights", "int4", "--activations", "int8"], cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [f"lowbit estimate: error: No such file or directory: "
                                     f"'{tmp_path / 'missing.yaml'}'"]
    r = _lowbit(["quantize", "--format", "int8", "-inf", "-3.5", "2"], cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == ""
    assert _quantize_table(r.stdout)[1] == [-128.0, -4.0, 2.0]


@pytest.mark.parametrize("args", [["formats", "show", "float8_e4m3fn"], ["formats"], ["--help"]])
def test_subprocess_closed_pipe_is_silent(args, tmp_path):
    """``lowbit ... | head -1`` with the reader gone before the first write: the read end of
    the pipe is closed before the process starts, so every write fails with EPIPE (no race)."""
    rfd, wfd = os.pipe()
    os.close(rfd)
    try:
        r = _lowbit(args, stdout=wfd, cwd=tmp_path)
    finally:
        os.close(wfd)
    assert r.stderr == ""
    assert r.returncode == 141


# ------------------------------------------------------------------------ help and version
def test_help_and_version(capsys):
    rc, out, _ = _run([], capsys)
    assert rc == 0 and "quantize" in out and "estimate" in out
    rc, out, _ = _run(["--help"], capsys)
    assert rc == 0 and "status 141" in " ".join(out.split())
    rc, out, _ = _run(["--version"], capsys)
    from importlib.metadata import version

    assert rc == 0 and out.strip() == f"lowbit {version('lowbit')}"
