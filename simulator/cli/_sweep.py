"""``lowbit sweep``: :func:`simulator.sweep` as a command — every workload × machine × weight ×
activation format, a table, a CSV and a Pareto plot whose points name their format pair.

Example::

    lowbit sweep --workload llama2-7b-decode --hw h100 systolic-128x128 \\
        --weights int4 nvfp4 mxfp4 int8 --activations float8_e4m3fn int8 \\
        --csv sweep.csv --plot sweep.png
"""

from __future__ import annotations

from ._display import si

#: --x / --y choices: name -> (sweep column, factor to the unit, unit)
METRICS = {
    "time": ("seconds", 1.0, "s"),
    "energy": ("energy_pj", 1e-12, "J"),
    "memory": ("memory_bytes", 1.0, "B"),
    "cycles": ("cycles", 1.0, ""),
}


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", help="estimate every workload × hardware × format combination; table, CSV, Pareto plot",
        description="Run simulator.sweep over every combination of the given workloads, hardware "
                    "presets and formats (a progress bar on stderr), print one row per combination "
                    "(infeasible ones say why) with the Pareto-optimal rows marked, and optionally "
                    "write the full table as CSV and a Pareto plot whose points are labelled with "
                    "their format pair.")
    p.add_argument("--workload", "--workloads", nargs="+", required=True, dest="workloads",
                   help="workload names (see `lowbit workloads`)")
    p.add_argument("--hw", nargs="+", required=True, help="hardware presets or preset YAML files")
    p.add_argument("--weights", nargs="+", required=True, help="weight formats")
    p.add_argument("--activations", nargs="+", required=True, help="activation formats")
    p.add_argument("--kv-cache", nargs="+", default=None, help="KV-cache formats (default: the activation format)")
    p.add_argument("--accumulator", nargs="+", default=None, help="accumulator formats (default: each machine's)")
    p.add_argument("--batch", type=int, default=1, help="sequences (default 1)")
    p.add_argument("--context", type=int, default=2048, help="context length (default 2048)")
    p.add_argument("--x", default="time", choices=sorted(METRICS), help="x axis of the front and plot (default time)")
    p.add_argument("--y", default="energy", choices=sorted(METRICS), help="y axis (default energy)")
    p.add_argument("--csv", default=None, help="write the full sweep table to this CSV file")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="save the Pareto plot (PNG/SVG/PDF by extension)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_main)


def _main(args) -> int:
    import pandas as pd

    from .. import workloads
    from ..estimation._pareto import pareto, plot_pareto
    from ..estimation._sweep import sweep

    for name in ("batch", "context"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.x == args.y:
        raise ValueError(f"--x and --y must differ, both are {args.x!r}")
    wls = [workloads.get(w, batch=args.batch, context=args.context) for w in args.workloads]
    df = sweep(wls, args.hw, args.weights, args.activations, kv_cache=args.kv_cache,
               accumulator=args.accumulator, progress=not args.no_progress)
    xcol, ycol = _axis(args.x), _axis(args.y)
    view = df.copy()
    for name in {args.x, args.y, "time", "energy", "memory"}:
        col, factor, _ = METRICS[name]
        view[_axis(name)] = view[col] * factor
    on_front = view.index.isin(pareto(view, xcol, ycol).index)
    table = pd.DataFrame({
        "pareto": ["*" if f else "" for f in on_front],
        **{c: view[c] for c in ("workload", "hardware", "weights", "activations")},
        "time": view["seconds"].map(lambda v: si(v, "s")),
        "energy": view["energy_pj"].map(lambda v: si(v * 1e-12, "J")),
        "memory": view["memory_bytes"].map(lambda v: si(v, "B")),
        "fits": view["fits"].map(lambda v: "" if v is None or v != v else ("yes" if v else "NO")),
        "error": view["error"],
    })
    if (table["error"] == "").all():
        table = table.drop(columns="error")
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_columns", 20,
                           "display.max_colwidth", 80):
        print(table.to_string(index=False))
    n_bad = int((df["error"] != "").sum())
    print(f"\n{len(df)} combinations, {int(on_front.sum())} on the Pareto front of {args.x} and "
          f"{args.y} (marked *), {n_bad} infeasible")
    if args.csv:
        df.to_csv(args.csv, index=False)
        print(f"table saved to {args.csv}")
    if args.plot:
        plot_pareto(view, xcol, ycol, path=args.plot,
                    title=None if len(args.workloads) > 1 else
                    f"{wls[0].name} (batch {args.batch}, context {args.context})")
        print(f"Pareto plot saved to {args.plot}")
    return 0


def _axis(name: str) -> str:
    _, _, unit = METRICS[name]
    return f"{name} ({unit})" if unit else name
