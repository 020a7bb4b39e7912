"""``lowbit estimate``: time, energy and memory of a workload on a machine, with a chart.

Example::

    lowbit estimate --workload llama2-7b-decode --hw systolic-128x128 \\
        --weights mxfp4 --activations float8_e4m3fn --plot energy.png
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "estimate",
        help="time, energy and memory of a workload on a hardware model",
        description="Estimate cycles, time, energy (by MAC, SRAM, DRAM, scale, table, network) "
                    "and memory footprint of a workload on a hardware preset.",
    )
    p.add_argument("--workload", required=True,
                   help="workload name, e.g. llama2-7b-decode (see --list)")
    p.add_argument("--hw", required=True,
                   help="hardware preset name (e.g. systolic-128x128, tpu-v1, a100) or a preset YAML file")
    p.add_argument("--weights", required=True, help="weight format, e.g. mxfp4, int4")
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
    if report.fits is False:
        import sys

        fp = report.footprint
        print(f"lowbit estimate: warning: the footprint ({fp['total_bytes'] / 1e9:.4g} GB: weights "
              f"{fp['weights_bytes'] / 1e9:.4g} + KV cache {fp['kv_cache_bytes'] / 1e9:.4g} + "
              f"activations {fp['activations_bytes'] / 1e9:.4g}) does not fit the "
              f"{report.capacity_bytes / 1e9:.4g} GB of {report.hardware}; the time and energy "
              "below assume it did", file=sys.stderr)
    print(report.summary().to_string(index=False, header=False))
    print()
    g = report.by_kind()
    tot_s, tot_e = g["seconds"].sum(), g["energy_pj"].sum()
    table = pd.DataFrame({
        "time %": 100 * g["seconds"] / tot_s if tot_s > 0 else 0.0,
        "energy (J)": g["energy_pj"] * 1e-12,
        "energy %": 100 * g["energy_pj"] / tot_e if tot_e > 0 else 0.0,
        "bound": report.layers.groupby("kind", sort=False)["bound"].agg(
            lambda s: s.mode().iloc[0]),
    })
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))
        if args.layers:
            print()
            cols = ["name", "m", "k", "n", "count", "cycles", "seconds", "energy_pj",
                    "utilization", "bound"]
            print(report.layers[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.csv:
        report.layers.to_csv(args.csv, index=False)
    if args.plot:
        report.plot(args.plot)
        print(f"\nenergy chart saved to {args.plot}")
    return 0
