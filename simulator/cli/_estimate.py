"""``lowbit estimate``: time, energy and memory of a workload on a machine, what bounds it, and a
chart.

Example::

    lowbit estimate --workload llama2-7b-decode --hw systolic-128x128 \\
        --weights mxfp4 --activations float8_e4m3fn --plot energy.png
"""

from __future__ import annotations

import sys

from ._display import si


def register(sub) -> None:
    p = sub.add_parser(
        "estimate",
        help="time, energy and memory of a workload on a hardware model",
        description="Estimate time, energy (by MAC, SRAM, DRAM, scale, table, network, overhead), "
                    "memory footprint and what bounds a workload (memory or compute) on a "
                    "hardware preset. Names: `lowbit workloads`, `lowbit presets`, `lowbit formats`.",
    )
    p.add_argument("--workload", required=True,
                   help="workload name, e.g. llama2-7b-decode (see `lowbit workloads`)")
    p.add_argument("--hw", required=True,
                   help="hardware preset name (e.g. systolic-128x128, tpu-v1, h100; see "
                        "`lowbit presets`) or a preset YAML file")
    p.add_argument("--weights", required=True, help="weight format, e.g. mxfp4, int4 (see `lowbit formats`)")
    p.add_argument("--activations", required=True, help="activation format, e.g. float8_e4m3fn")
    p.add_argument("--kv-cache", default=None, help="KV-cache format (default: the activation format)")
    p.add_argument("--accumulator", default=None, help="accumulator format (default: the machine's)")
    p.add_argument("--batch", type=int, default=1, help="sequences (default 1)")
    p.add_argument("--context", type=int, default=2048, help="context length (default 2048)")
    p.add_argument("--layers", action="store_true", help="also print the per-layer table")
    p.add_argument("--csv", default=None, help="write the per-layer table to this CSV file")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="save a stacked energy-breakdown chart (PNG/SVG/PDF by extension)")
    p.set_defaults(func=_main)


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole > 0 else "0%"


def explain_bound(report) -> list[str]:
    """Sentences that say what bounds ``report`` and why, from its per-layer ``bound`` and time
    components (``compute_seconds``/``memory_seconds`` where the layers carry them, else the
    stall cycles).

    Returns:
        Lines of text (no trailing newline).
    """
    layers = report.layers
    total = float(layers["seconds"].sum())
    by = layers.groupby("bound", sort=False)["seconds"].sum()
    mem_s, comp_s = float(by.get("memory", 0.0)), float(by.get("compute", 0.0))
    verdict = "memory" if mem_s >= comp_s else "compute"
    kinds = layers.loc[layers["bound"] == verdict, "kind"].drop_duplicates().tolist()
    lines = [f"bound: {verdict}. {_share(mem_s if verdict == 'memory' else comp_s, total)} of the time "
             f"({si(mem_s if verdict == 'memory' else comp_s, 's')} of {si(total, 's')}) is in "
             f"{verdict}-bound layers ({', '.join(kinds)})."]
    if {"compute_seconds", "memory_seconds"} <= set(layers.columns):
        c, m = float(layers["compute_seconds"].sum()), float(layers["memory_seconds"].sum())
        lines.append(f"Moving the operands takes {si(m, 's')}; the arithmetic alone would take "
                     f"{si(c, 's')} ({max(m, c) / min(m, c):.3g}× {'less' if m > c else 'more'}).")
    elif "stall_cycles" in layers.columns and float(layers["stall_cycles"].sum()) > 0:
        stall = float(layers["stall_cycles"].sum())
        lines.append(f"Stalls waiting for memory: {_share(stall, float(layers['cycles'].sum()))} "
                     "of the cycles.")
    lines.append(f"Utilization {100 * report.utilization:.3g}%: the share of the machine's peak "
                 "MAC rate this workload uses.")
    if verdict == "memory":
        lines.append("Fewer bits per weight (and per KV-cache element) shorten this; a faster "
                     "datapath does not.")
    else:
        lines.append("More MACs per cycle, a higher clock or better utilization shorten this; "
                     "narrower operands in memory save DRAM energy but not time.")
    return lines


def _main(args) -> int:
    import pandas as pd

    from .. import workloads
    from ..estimation._estimate import estimate

    for name in ("batch", "context"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    wl = workloads.get(args.workload, batch=args.batch, context=args.context)
    report = estimate(wl, args.hw, weights=args.weights, activations=args.activations,
                      accumulator=args.accumulator, kv_cache=args.kv_cache)
    fp = report.footprint
    if report.fits is False:
        print(f"lowbit estimate: warning: the footprint ({si(fp['total_bytes'], 'B')}: weights "
              f"{si(fp['weights_bytes'], 'B')} + KV cache {si(fp['kv_cache_bytes'], 'B')} + "
              f"activations {si(fp['activations_bytes'], 'B')}) does not fit the "
              f"{si(report.capacity_bytes, 'B')} of {report.hardware}; the time and energy "
              "below assume it did", file=sys.stderr)
    f = report.formats
    print(f"{report.workload} (batch {args.batch}, context {args.context}) on {report.hardware}")
    print(f"formats: weights {f['weights']}, activations {f['activations']}, KV cache "
          f"{f['kv_cache']}, accumulator {f['accumulator']}\n")
    e = report.energy_pj
    rows = [("time", si(report.seconds, "s")), ("cycles", f"{report.cycles:.4g}"),
            ("energy", si(e * 1e-12, "J"))]
    rows += [(f"  {k}", f"{si(v * 1e-12, 'J')} ({_share(v, e)})") for k, v in report.breakdown.items() if v > 0]
    rows += [("utilization", f"{100 * report.utilization:.3g}%"),
             ("weights", si(fp["weights_bytes"], "B")), ("KV cache", si(fp["kv_cache_bytes"], "B")),
             ("activations", si(fp["activations_bytes"], "B")), ("memory", si(fp["total_bytes"], "B"))]
    if report.capacity_bytes is not None:
        rows.append(("capacity", f"{si(report.capacity_bytes, 'B')} "
                                 f"({'fits' if report.fits else 'does NOT fit'})"))
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:{w}s}  {v}")
    print()
    for line in explain_bound(report):
        print(line)
    print()
    g = report.by_kind()
    tot_s, tot_e = g["seconds"].sum(), g["energy_pj"].sum()
    bound = report.layers.groupby("kind", sort=False)["bound"].agg(lambda s: s.mode().iloc[0])
    table = pd.DataFrame({
        "time": g["seconds"].map(lambda v: si(v, "s")),
        "time %": (100 * g["seconds"] / tot_s if tot_s > 0 else 0.0).map(lambda v: f"{v:.1f}"),
        "energy": g["energy_pj"].map(lambda v: si(v * 1e-12, "J")),
        "energy %": (100 * g["energy_pj"] / tot_e if tot_e > 0 else 0.0).map(lambda v: f"{v:.1f}"),
        "bound": bound,
    })
    table.index.name = "layer kind"
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string())
        if args.layers:
            print()
            lay = report.layers.copy()
            lay["time"] = lay["seconds"].map(lambda v: si(v, "s"))
            lay["energy"] = lay["energy_pj"].map(lambda v: si(v * 1e-12, "J"))
            lay["utilization"] = lay["utilization"].map(lambda v: f"{100 * v:.3g}%")
            cols = ["name", "m", "k", "n", "count", "cycles", "time", "energy", "utilization", "bound"]
            print(lay[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.csv:
        report.layers.to_csv(args.csv, index=False)
    if args.plot:
        report.plot(args.plot)
        print(f"\nenergy chart saved to {args.plot}")
    return 0
