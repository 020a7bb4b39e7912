"""Bench suite ``hw``: systolic-array cost evaluations per second.

Cases (``lowbit bench hw``):

* ``gemm_batch``: :meth:`hwmodels.SystolicArray.gemm_batch` (vectorised, full cost: cycles,
  traffic, energy) over 10^5 random GEMM shapes;
* ``gemm_cycles``: the vectorised cycle count alone over the same shapes;
* ``gemm``: the scalar :meth:`~hwmodels.SystolicArray.gemm` (a ``Cost`` record per call), on a
  subset, reported per evaluation;
* ``scalesim``: SCALE-Sim 3.0.0's wall time for one layer, when it can be run — importable in
  this environment, or an interpreter that has it named by the ``SCALESIM_PYTHON`` environment
  variable (SCALE-Sim is not a lowbit dependency; see ``tests/fixtures/scalesim/regenerate.py``).

``ns_per_element`` is nanoseconds per evaluated shape; ``note`` gives evaluations per second.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from ._main import Progress, timeit

_SCALESIM_LAYER = (64, 64, 64)  # m, k, n of the layer SCALE-Sim times
_SCALESIM_ARRAY = (32, 32)

_SCALESIM_SCRIPT = textwrap.dedent("""
    import contextlib, io, json, os, sys, tempfile, time
    rows, cols, m, k, n = map(int, sys.argv[1:6])
    cfg = '''[general]
    run_name = bench
    [run_presets]
    InterfaceBandwidth = CALC
    UseRamulatorTrace = False
    [architecture_presets]
    ArrayHeight = %d
    ArrayWidth = %d
    IfmapSramSzkB = 256
    FilterSramSzkB = 256
    OfmapSramSzkB = 128
    IfmapOffset = 0
    FilterOffset = 10000000
    OfmapOffset = 20000000
    Bandwidth = 10
    Dataflow = ws
    ReadRequestBuffer = 32
    WriteRequestBuffer = 32
    [layout]
    IfmapCustomLayout = False
    IfmapSRAMBankBandwidth = 10
    IfmapSRAMBankNum = 10
    IfmapSRAMBankPort = 2
    FilterCustomLayout = False
    FilterSRAMBankBandwidth = 10
    FilterSRAMBankNum = 10
    FilterSRAMBankPort = 2
    [sparsity]
    SparsitySupport = false
    SparseRep = ellpack_block
    OptimizedMapping = false
    BlockSize = 8
    RandomNumberGeneratorSeed = 40
    ''' % (rows, cols)
    from scalesim.scale_sim import scalesim
    with tempfile.TemporaryDirectory() as d:
        for name, text in (("c.cfg", cfg), ("t.csv", "Layer, M, N, K,\\nl0, %d, %d, %d,\\n" % (m, n, k)),
                           ("l.csv", "Layer name,unused,\\n")):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        sink = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            s = scalesim(save_disk_space=True, verbose=False, config=os.path.join(d, "c.cfg"),
                         topology=os.path.join(d, "t.csv"), layout=os.path.join(d, "l.csv"),
                         input_type_gemm=True)
            s.run_scale(top_path=os.path.join(d, "out"))
        dt = time.perf_counter() - t0
        it = s.runner.single_layer_sim_object_list[0].get_compute_report_items()
    print(json.dumps({"seconds": dt, "compute_cycles": int(it[1]) - int(it[2])}))
""")


def _scalesim_time():
    """(seconds, compute cycles) of one SCALE-Sim layer, or (None, reason)."""
    exe = os.environ.get("SCALESIM_PYTHON")
    if exe is None:
        if importlib.util.find_spec("scalesim") is None:
            return None, "SCALE-Sim not installed (set SCALESIM_PYTHON to a Python that has scalesim==3.0.0)"
        exe = sys.executable
    rows, cols = _SCALESIM_ARRAY
    m, k, n = _SCALESIM_LAYER
    try:
        out = subprocess.run([exe, "-c", _SCALESIM_SCRIPT, str(rows), str(cols), str(m), str(k), str(n)],
                             capture_output=True, text=True, timeout=600, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return None, f"SCALE-Sim could not be run: {type(exc).__name__}"
    return res["seconds"], res["compute_cycles"]


def run(scale: float = 1.0, progress: Progress | None = None) -> list[dict]:
    from lowbit import hwmodels

    progress = progress or Progress()
    count = max(int(round(1e5 * scale)), 10)
    rng = np.random.default_rng(0)
    m = rng.integers(1, 4097, count)
    k = rng.integers(1, 4097, count)
    n = rng.integers(1, 4097, count)
    arr = hwmodels.presets.get("systolic-128x128")
    rows = []

    def row(case, impl, seconds, evals, note=""):
        rate = evals / seconds if seconds > 0 else float("inf")
        return {"suite": "hw", "case": case, "impl": impl, "seconds": seconds,
                "ns_per_element": 1e9 * seconds / evals,
                "note": f"{rate:.3g} evaluations/s" + (f"; {note}" if note else "")}

    progress.case("hw", f"systolic-128x128, {count} random GEMM shapes")
    t_batch = timeit(lambda: arr.gemm_batch(m, k, n, a_format="int8", b_format="int8"), repeats=3)
    rows.append(row(f"systolic-128x128 {count} shapes", "gemm_batch", t_batch, count))
    t_cyc = timeit(lambda: arr.gemm_cycles(m, k, n), repeats=3)
    rows.append(row(f"systolic-128x128 {count} shapes", "gemm_cycles", t_cyc, count))
    sub = max(count // 20, 10)
    ms, ks, ns = (x[:sub].tolist() for x in (m, k, n))

    def scalar():
        for i in range(sub):
            arr.gemm(ms[i], ks[i], ns[i], a_format="int8", b_format="int8")

    t_scalar = timeit(scalar, repeats=3)
    rows.append(row(f"systolic-128x128 {sub} shapes", "gemm (scalar)", t_scalar, sub))
    progress.rows(rows)

    if scale >= 0.5:  # SCALE-Sim takes seconds; the tiny test-suite run skips it
        R, C = _SCALESIM_ARRAY
        mm, kk, nn = _SCALESIM_LAYER
        case = f"{R}x{C} ws, one {mm}x{kk}x{nn} layer"
        progress.case("hw", f"SCALE-Sim 3.0.0: {case}")
        secs, info = _scalesim_time()
        if secs is None:
            rows.append({"suite": "hw", "case": case, "impl": "SCALE-Sim 3.0.0",
                         "seconds": float("nan"), "note": info})
        else:
            ours = hwmodels.SystolicArray(R, C, "ws").gemm_cycles(mm, kk, nn)
            same = "same compute cycles" if ours == info else f"cycles differ: {ours} vs {info}"
            rows.append({"suite": "hw", "case": case, "impl": "SCALE-Sim 3.0.0",
                         "seconds": secs, "ns_per_element": 1e9 * secs,
                         "ratio": secs / (t_batch / count),
                         "note": f"{1 / secs:.3g} evaluations/s; ratio vs gemm_batch per shape; {same}"})
        progress.rows(rows[-1:])
    return rows
