"""Bench suite ``hw``: cost evaluations per second, the mapping search included.

Cases (``lowbit bench hw``), on ``systolic-128x128`` unless said otherwise:

* ``gemm_batch``: :meth:`hwmodels.SystolicArray.gemm_batch` (vectorised mapping search and full
  cost: cycles, traffic, energy, bound) over 10^5 random GEMM shapes;
* ``gemm_cycles``: the vectorised cycle count alone over the same shapes;
* ``gemm (scalar, new shapes)``: the scalar :meth:`~hwmodels.SystolicArray.gemm` on shapes it
  has not seen — a mapping search per call;
* ``gemm (scalar, cached)``: the same shapes again — the cost is cached per (machine, shape,
  formats);
* ``estimate (llama2-7b decode)``: :func:`simulator.estimate` of a decode step, GEMMs cached, as
  in a sweep;
* ``scalesim mode``: ``memory_model="scalesim"`` (SCALE-Sim 3.0.0's counts) on one layer, CALC
  and USER;
* ``SCALE-Sim 3.0.0``: SCALE-Sim's own wall time for that layer, when it can be run — importable
  in this environment, or an interpreter that has it named by the ``SCALESIM_PYTHON`` environment
  variable (SCALE-Sim is not a lowbit dependency; see ``tests/fixtures/scalesim/regenerate.py``);
  its ratio is against the SCALE-Sim-compatible mode on the same layer.

``ns_per_element`` is nanoseconds per evaluated shape; ``note`` gives evaluations per second.
"""

from __future__ import annotations

import dataclasses
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
    mode = sys.argv[6]
    cfg = '''[general]
    run_name = bench
    [run_presets]
    InterfaceBandwidth = %s
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
    ''' % (mode, rows, cols)
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


def _scalesim_time(mode: str = "CALC"):
    """(seconds, compute cycles) of one SCALE-Sim layer (``CALC``, or ``USER`` with 10
    words/cycle on the three DRAM interfaces), or (None, reason)."""
    exe = os.environ.get("SCALESIM_PYTHON")
    if exe is None:
        if importlib.util.find_spec("scalesim") is None:
            return None, "SCALE-Sim not installed (set SCALESIM_PYTHON to a Python that has scalesim==3.0.0)"
        exe = sys.executable
    rows, cols = _SCALESIM_ARRAY
    m, k, n = _SCALESIM_LAYER
    try:
        out = subprocess.run([exe, "-c", _SCALESIM_SCRIPT, str(rows), str(cols), str(m), str(k), str(n),
                              mode],
                             capture_output=True, text=True, timeout=600, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return None, f"SCALE-Sim could not be run: {type(exc).__name__}"
    return res["seconds"], res["compute_cycles"]


def run(scale: float = 1.0, progress: Progress | None = None) -> list[dict]:
    from lowbit import hwmodels, simulator

    progress = progress or Progress()
    count = max(int(round(1e5 * scale)), 10)
    rng = np.random.default_rng(0)
    m = rng.integers(1, 4097, count)
    k = rng.integers(1, 4097, count)
    n = rng.integers(1, 4097, count)
    arr = hwmodels.presets.get("systolic-128x128")
    rows = []

    def row(case, impl, seconds, evals, note="", ratio=None):
        rate = evals / seconds if seconds > 0 else float("inf")
        out = {"suite": "hw", "case": case, "impl": impl, "seconds": seconds,
               "ns_per_element": 1e9 * seconds / evals,
               "note": f"{rate:.3g} evaluations/s" + (f"; {note}" if note else "")}
        if ratio is not None:
            out["ratio"] = ratio
        return out

    progress.case("hw", f"systolic-128x128, {count} random GEMM shapes")
    kw = dict(a_format="int8", b_format="int8")
    t_batch = timeit(lambda: arr.gemm_batch(m, k, n, **kw), repeats=3)
    rows.append(row(f"systolic-128x128 {count} shapes", "gemm_batch", t_batch, count,
                    "mapping search vectorised"))
    t_cyc = timeit(lambda: arr.gemm_cycles(m, k, n), repeats=3)
    rows.append(row(f"systolic-128x128 {count} shapes", "gemm_cycles", t_cyc, count))
    sub = max(count // 20, 10)
    # scalar calls on shapes the cache has not seen: a fresh set of shapes for every repeat
    fresh = iter(range(1, 1000))

    def scalar_new():
        g = np.random.default_rng(1000 + next(fresh))
        ms, ks, ns = (g.integers(1, 4097, sub).tolist() for _ in range(3))
        for i in range(sub):
            arr.gemm(ms[i], ks[i], ns[i], **kw)

    t_new = timeit(scalar_new, repeats=3, warmup=1)
    rows.append(row(f"systolic-128x128 {sub} shapes", "gemm (scalar, new shapes)", t_new, sub,
                    "a mapping search per call", ratio=t_new / t_batch * count / sub))
    ms, ks, ns = (x[:sub].tolist() for x in (m, k, n))

    def scalar_cached():
        for i in range(sub):
            arr.gemm(ms[i], ks[i], ns[i], **kw)

    scalar_cached()
    t_hit = timeit(scalar_cached, repeats=3)
    rows.append(row(f"systolic-128x128 {sub} shapes", "gemm (scalar, cached)", t_hit, sub,
                    "cached per (machine, shape, formats)", ratio=t_hit / t_new))
    progress.rows(rows)
    wl = simulator.workloads.get("llama2-7b-decode")
    layers = len(wl.layers())
    t_est = timeit(lambda: simulator.estimate(wl, arr, weights="mxfp4",
                                              activations="float8_e4m3fn"), repeats=3)
    rows.append(row(f"llama2-7b decode, {layers} GEMM shapes", "estimate (cached GEMMs)", t_est,
                    layers, "a Report (pandas) per call"))

    progress.rows(rows[-1:])

    R, C = _SCALESIM_ARRAY
    mm, kk, nn = _SCALESIM_LAYER
    case = f"{R}x{C} ws, one {mm}x{kk}x{nn} layer"
    progress.case("hw", f"scalesim mode: {case}")
    compat = hwmodels.SystolicArray(R, C, "ws", ifmap_sram_bytes=256 * 1024,
                                    filter_sram_bytes=256 * 1024, ofmap_sram_bytes=128 * 1024,
                                    memory_model="scalesim")
    # a record the cache has not seen for every call (the clock changes nothing counted here)
    clocks = iter(range(1, 10**6))

    def compat_gemm(bw):
        i = next(clocks)
        # (a buffer one byte larger as well: USER mode caches its read-window replay per size)
        arr_ = dataclasses.replace(compat, clock_hz=1e9 + i, ifmap_sram_bytes=256 * 1024 + i,
                                   dram_bandwidth_bytes_per_cycle=bw)
        return arr_.gemm(mm, kk, nn)

    t_calc = timeit(lambda: compat_gemm(None), repeats=5)
    rows.append(row(case, "scalesim mode (CALC)", t_calc, 1, "uncached"))
    t_user = timeit(lambda: compat_gemm(10), repeats=3)
    rows.append(row(case, "scalesim mode (USER, 10 words/cycle)", t_user, 1, "uncached"))
    progress.rows(rows[-2:])

    if scale >= 0.5:  # SCALE-Sim takes seconds; the tiny test-suite run skips it
        for mode, ours_t, bw in (("CALC", t_calc, None), ("USER", t_user, 10)):
            progress.case("hw", f"SCALE-Sim 3.0.0 ({mode}): {case}")
            secs, info = _scalesim_time(mode)
            impl = f"SCALE-Sim 3.0.0 ({mode})"
            if secs is None:
                rows.append({"suite": "hw", "case": case, "impl": impl,
                             "seconds": float("nan"), "note": info})
                progress.rows(rows[-1:])
                continue
            ours = compat_gemm(bw).compute_cycles
            same = "same compute cycles" if ours == info else f"cycles differ: {ours} vs {info}"
            rows.append({"suite": "hw", "case": case, "impl": impl,
                         "seconds": secs, "ns_per_element": 1e9 * secs, "ratio": secs / ours_t,
                         "note": f"{1 / secs:.3g} evaluations/s; ratio vs the scalesim mode "
                                 f"({mode}); {same}"})
            progress.rows(rows[-1:])
    return rows
