"""MkDocs hook: the hardware validation tables, computed at build time from the fixtures.

``docs/hardware/validation.md`` asks for each table with a marker line
``<!-- lowbit:validation-NAME -->``; every number in them is computed here, when the site is
built, by running lowbit's models on the inputs of ``tests/fixtures/`` and comparing with the
outputs recorded there (SCALE-Sim 3.0.0 and ZigZag 3.9.1 runs, published measurements). Nothing
is typed by hand, so the page cannot drift from the models. The targets themselves are asserted
by the tests named on the page (``tests/hwmodels/``).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import importlib.util
import pathlib

_ROOT = None

MARKERS = ("scalesim-calc", "scalesim-user", "mapped-scalesim", "zigzag", "gpu",
           "accelerators", "sram", "static")


def _root() -> pathlib.Path:
    return _ROOT or pathlib.Path(__file__).resolve().parents[2]


def _fix(*parts) -> pathlib.Path:
    return _root().joinpath("tests", "fixtures", *parts)


def _csv(*parts) -> list[dict]:
    with open(_fix(*parts), newline="") as f:
        return list(csv.DictReader(f))


def _table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _r(x) -> str:
    return f"{x:.3f}"


def _rng(xs) -> str:
    lo, hi = min(xs), max(xs)
    return _r(lo) if abs(hi - lo) < 5e-4 else f"{_r(lo)}–{_r(hi)}"


def _g(x) -> str:
    return f"{x:.4g}"


# ------------------------------------------------------------------------ SCALE-Sim
def _scalesim_array(row, **kw):
    from lowbit.hwmodels import SystolicArray

    kb = {x: 1024 * int(row[f"{x}_sram_kb"]) for x in ("ifmap", "filter", "ofmap")}
    return SystolicArray(int(row["rows"]), int(row["cols"]), row["dataflow"],
                         ifmap_sram_bytes=kb["ifmap"], filter_sram_bytes=kb["filter"],
                         ofmap_sram_bytes=kb["ofmap"], **kw)


def _shape(row):
    return int(row["m"]), int(row["k"]), int(row["n"])


@functools.cache
def scalesim_calc_rows() -> list[dict]:
    out = []
    for fname in ("golden.csv", "golden_memory.csv"):
        for row in _csv("scalesim", fname):
            c = _scalesim_array(row, memory_model="scalesim").gemm(*_shape(row))
            out.append({"file": fname, "dataflow": row["dataflow"],
                        "a": c.accesses["a_dram_bytes"] / int(row["ifmap_dram_reads"]),
                        "b": c.accesses["b_dram_bytes"] / int(row["filter_dram_reads"]),
                        "c": c.accesses["c_dram_bytes"] / int(row["ofmap_dram_writes"]),
                        "cycles": c.cycles / int(row["total_cycles"])})
    return out


def scalesim_calc_md() -> str:
    rows = []
    for fname in ("golden.csv", "golden_memory.csv"):
        for df in ("os", "ws", "is"):
            sel = [r for r in scalesim_calc_rows() if r["file"] == fname and r["dataflow"] == df]
            exact = sum(r["a"] == 1 and r["b"] == 1 for r in sel)
            rows.append([f"`{fname}`", df, len(sel), f"{exact}/{len(sel)}",
                         _rng([r["a"] for r in sel]), _rng([r["b"] for r in sel]),
                         _rng([r["c"] for r in sel]), _rng([r["cycles"] for r in sel])])
    return _table(["fixture (SCALE-Sim 3.0.0, CALC)", "dataflow", "cases",
                   "a and b reads exact", "a DRAM reads, ratio", "b DRAM reads, ratio",
                   "c DRAM writes, ratio", "cycles, ratio"], rows)


@functools.cache
def scalesim_user_rows() -> list[dict]:
    out = []
    for row in _csv("scalesim", "golden_user.csv"):
        bw = int(row["ofmap_dram_bw"])
        c = _scalesim_array(row, memory_model="scalesim",
                            dram_bandwidth_bytes_per_cycle=bw).gemm(*_shape(row))
        out.append({"dataflow": row["dataflow"], "bw": bw,
                    "cycles": c.cycles / int(row["total_cycles"]),
                    "stall": c.stall_cycles == int(row["stall_cycles"]),
                    "reads": (c.accesses["a_dram_reads"] == int(row["ifmap_dram_reads"])
                              and c.accesses["b_dram_reads"] == int(row["filter_dram_reads"])),
                    "writes": c.accesses["c_dram_writes"] / int(row["ofmap_dram_writes"])})
    return out


def scalesim_user_md() -> str:
    rows = []
    for df in ("os", "ws", "is"):
        for bw in (4, 10, 32):
            sel = [r for r in scalesim_user_rows() if r["dataflow"] == df and r["bw"] == bw]
            if not sel:
                continue
            rows.append([df, bw, len(sel), _rng([r["cycles"] for r in sel]),
                         f"{sum(r['stall'] for r in sel)}/{len(sel)}",
                         f"{sum(r['reads'] for r in sel)}/{len(sel)}",
                         _rng([r["writes"] for r in sel])])
    return _table(["dataflow", "bandwidth (words/cycle, all three interfaces)", "runs",
                   "total cycles, ratio", "stall cycles exact", "a and b reads exact",
                   "c writes, ratio"], rows)


@functools.cache
def mapped_scalesim_rows() -> list[dict]:
    out = []
    for fname in ("golden.csv", "golden_memory.csv"):
        for row in _csv("scalesim", fname):
            m, k, n = _shape(row)
            c = _scalesim_array(row).gemm(m, k, n)
            ss = (int(row["ifmap_dram_reads"]) + int(row["filter_dram_reads"])
                  + int(row["ofmap_dram_writes"]))
            out.append({"file": fname, "dataflow": row["dataflow"],
                        "comp": c.accesses["dram_bytes"] / (m * k + k * n + m * n),
                        "ss": c.accesses["dram_bytes"] / ss})
    return out


def mapped_scalesim_md() -> str:
    rows = []
    for fname in ("golden.csv", "golden_memory.csv"):
        for df in ("os", "ws", "is"):
            sel = [r for r in mapped_scalesim_rows() if r["file"] == fname and r["dataflow"] == df]
            rows.append([f"`{fname}`", df, len(sel), _rng([r["comp"] for r in sel]),
                         _rng([r["ss"] for r in sel])])
    return _table(["fixture", "dataflow", "cases", "mapped DRAM bytes / compulsory",
                   "mapped DRAM bytes / SCALE-Sim's"], rows)


# --------------------------------------------------------------------------- ZigZag
@functools.cache
def zigzag_rows() -> list[dict]:
    from lowbit import hwmodels

    zz = _csv("zigzag", "golden.csv")
    arr = hwmodels.presets.get("systolic-32x32")
    arr_e = dataclasses.replace(arr, mapping_objective="energy")
    out = []
    for shape in sorted({_shape(r) for r in zz}, key=lambda s: (s[0] > 4, s)):
        rs = [r for r in zz if _shape(r) == shape]
        fast = min(rs, key=lambda r: (float(r["latency_cycles"]), float(r["dram_bytes"])))
        eff = min(rs, key=lambda r: (float(r["energy_total_pj"]), float(r["latency_cycles"])))
        c, e = arr.gemm(*shape), arr_e.gemm(*shape)
        out.append({"shape": shape, "cycles": c.cycles, "zz_cycles": float(fast["latency_cycles"]),
                    "bytes": c.accesses["dram_bytes"], "zz_bytes": float(fast["dram_bytes"]),
                    "e_bytes": e.accesses["dram_bytes"], "zz_e_bytes": float(eff["dram_bytes"]),
                    "energy": e.energy_pj - e.breakdown["static"],
                    "zz_energy": float(eff["energy_total_pj"]), "mapping": str(c.mapping),
                    "bound": c.bound})
    return out


def zigzag_md() -> str:
    rows = []
    for r in zigzag_rows():
        rows.append(["×".join(map(str, r["shape"])), _g(r["cycles"]), _g(r["zz_cycles"]),
                     _r(r["cycles"] / r["zz_cycles"]), _r(r["bytes"] / r["zz_bytes"]),
                     _r(r["e_bytes"] / r["zz_e_bytes"]), _r(r["energy"] / r["zz_energy"]),
                     r["bound"]])
    return _table(["m×k×n", "cycles", "ZigZag cycles", "cycles, ratio",
                   "DRAM bytes, ratio (time objective)", "DRAM bytes, ratio (energy objective)",
                   "energy, ratio (energy objective)", "bound"], rows)


# ----------------------------------------------------------------------------- GPUs
@functools.cache
def _calibration():
    spec = importlib.util.spec_from_file_location(
        "calibrate_gpu", _fix("measurements", "calibrate_gpu.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def gpu_md() -> str:
    cal = _calibration()
    rows = []
    for r in cal.table():
        note = f" ({r['note']})" if r["note"] else ""
        rows.append([r["row"], r["set"] + note, r["gpu"], r["model"], r["precision"],
                     r["batch"], f"{r['input']}/{r['output']}", r["metric"], _g(r["measured"]),
                     _g(r["predicted"]), _r(r["ratio"]), r["source"]])
    return _table(["row", "set", "GPU", "model", "weights", "batch", "in/out", "metric",
                   "measured", "lowbit", "ratio", "source"], rows)


# ----------------------------------------------------------------------- accelerators
def _acc(row_id):
    return next(r for r in _csv("measurements", "accelerators.csv") if r["row_id"] == row_id)


@functools.cache
def accelerator_rows() -> list[list]:
    from lowbit import hwmodels, simulator
    from lowbit.simulator import workloads

    rows = []

    def add(what, ours, row_id, note=""):
        r = _acc(row_id)
        meas = float(r["value"])
        rows.append([what, _g(ours), f"{_g(meas)} {r['unit']}", _r(ours / meas), row_id,
                     f"{r['source']}, {r['source_location']}" + (f"; {note}" if note else "")])

    tpu = hwmodels.presets.get("tpu-v1")
    ridge = tpu.peak_macs_per_s / (tpu.dram_bandwidth_bytes_per_cycle * tpu.clock_hz)
    add("TPU v1 roofline ridge (MACs per weight byte)", ridge, "a009")
    mlp0 = sum(tpu.gemm(200, 2000, 2000) for _ in range(5))
    add("TPU v1 MLP0, batch 200: useful MACs, % of peak", 100 * mlp0.utilization, "a024",
        "MLP0 taken as five 2000×2000 layers (the paper gives 5 layers, 20M weights)")
    wse, a100 = hwmodels.presets.get("cerebras-wse2"), hwmodels.presets.get("a100")
    kw = dict(a_format="float16", b_format="float16")
    for side, lat, spd, en in ((16384, "a076", "a077", "a078"), (32768, "a079", "a080", "a081")):
        w, g = wse.gemm(1, side, side, **kw), a100.gemm(1, side, side, **kw)
        add(f"WSE-2 GEMV {side // 1024}K, ms", 1e3 * w.seconds, lat)
        add(f"WSE-2 GEMV {side // 1024}K, speedup over one A100", g.seconds / w.seconds, spd)
        add(f"WSE-2 GEMV {side // 1024}K, A100 energy / WSE-2 energy", g.energy_pj / w.energy_pj,
            en)
    for model, row_id in (("llama3-8b", "a085"), ("llama2-13b", "a088")):
        r = simulator.estimate(workloads.get(f"{model}-decode", context=4096), wse,
                               weights="float16", activations="float16")
        add(f"WSE-2 {model} decode, tokens/s (4K context)", 1 / r.seconds, row_id,
            "WaferLLM on 420×420 cores; lowbit picks the grid per GEMM")
    tmac = hwmodels.presets.get("tmac")
    for bits, row_id in ((4, "a112"), (2, "a108")):
        r = simulator.estimate("llama2-7b-decode", tmac, weights=f"int{bits}", activations="int8")
        add(f"T-MAC Llama-2-7B W{bits}, tokens/s", 1 / r.seconds, row_id,
            "measured on an M2-Ultra, 8 threads; the `tmac` preset is an M2-class CPU (assumed "
            "rates, 100 GB/s)")
    st = hwmodels.presets.get("stripes")
    sp = (st.gemm(256, 4096, 4096, a_format="int16", b_format="int16").cycles
          / st.gemm(256, 4096, 4096, a_format="int8", b_format="int16").cycles)
    add("Stripes speedup over the 16-bit baseline", sp, "a157",
        "lowbit at 8-bit activations (assumed: the paper's per-layer precisions are not in the "
        "fixture); the paper's figure is the mean over its networks")
    return rows


def accelerators_md() -> str:
    return _table(["quantity", "lowbit", "published", "ratio", "row", "source"],
                  accelerator_rows())


# ------------------------------------------------------------------------ SRAM, static
def sram_md() -> str:
    from lowbit import hwmodels

    t = hwmodels.energy_table()
    pts = _csv("measurements", "sram_energy.csv")
    caps = sorted({int(r["capacity_bytes"]) for r in pts})
    rows = []
    for cap in caps:
        by = {("Horowitz" if "Horowitz" in r["source"] else
               "itrs-hp" if "itrs-hp" in r["source"] else "itrs-lstp"): float(r["energy_pj"])
              for r in pts if int(r["capacity_bytes"]) == cap}
        ours = t.sram_access(64, cap)
        cells = [f"{_g(by[k])} ({_r(ours / by[k])})" if k in by else "—"
                 for k in ("Horowitz", "itrs-hp", "itrs-lstp")]
        size = f"{cap / 2**20:g} MiB" if cap >= 2**20 else f"{cap / 1024:g} KiB"
        rows.append([size, _g(ours), *cells])
    return _table(["capacity", "lowbit (pJ per 64-bit access)", "Horowitz, ISSCC 2014 (ratio)",
                   "CACTI 7.0 itrs-hp (ratio)", "CACTI 7.0 itrs-lstp (ratio)"], rows)


def static_md() -> str:
    from lowbit import hwmodels

    rows = []
    for name in hwmodels.presets.names():
        hw = hwmodels.presets.get(name)
        given = getattr(hw, "static_power_w", None)
        how = ("preset (measured)" if given is not None else
               "25 % of board power (assumption)" if hasattr(hw, "power_w") else
               "SRAM leakage, CACTI itrs-hp, rescaled to the node")
        rows.append([f"`{name}`", _g(hw.static_w), how])
    idle = next(r for r in _csv("measurements", "static_power.csv") if r["row_id"] == "s001")
    tpu = hwmodels.presets.get("tpu-v1").static_w
    table = _table(["preset", "static power (W)", "from"], rows)
    return (table + f"\n\nTPU v1: {_g(tpu)} W against the measured idle die power of "
            f"{_g(float(idle['value']))} W (ratio {_r(tpu / float(idle['value']))}; "
            f"{idle['source']}, {idle['source_location']}).")


# -------------------------------------------------------------------------- the hook
_RENDER = {
    "scalesim-calc": scalesim_calc_md, "scalesim-user": scalesim_user_md,
    "mapped-scalesim": mapped_scalesim_md, "zigzag": zigzag_md, "gpu": gpu_md,
    "accelerators": accelerators_md, "sram": sram_md, "static": static_md,
}


def render(markdown: str) -> str:
    """Replace every ``<!-- lowbit:validation-NAME -->`` marker with its table."""
    for key, fn in _RENDER.items():
        marker = f"<!-- lowbit:validation-{key} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, fn())
    return markdown


def on_config(config, **kwargs):  # mkdocs hook
    global _ROOT
    _ROOT = pathlib.Path(config["config_file_path"]).resolve().parent
    return config


def on_page_markdown(markdown, page, config, files, **kwargs):  # mkdocs hook
    if "<!-- lowbit:validation-" not in markdown:
        return markdown
    return render(markdown)


