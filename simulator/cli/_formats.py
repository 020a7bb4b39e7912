"""``lowbit formats`` (table of registered formats, ``show NAME``) and ``lowbit quantize``."""

from __future__ import annotations

import math

#: properties shown in the table, in order (records lacking one show "")
COLUMNS = ("family", "bits", "bits_per_element", "bias", "max", "smallest_normal", "smallest_subnormal",
           "eps", "has_inf", "has_nan")


def _fmt_num(v) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            mant, e = math.frexp(abs(v))
            if mant == 0.5:  # an exact power of two
                return f"{'-' if v < 0 else ''}2^{e - 1}"
            return f"{v:.4g}"
        return f"{v:g}"
    return str(v)


def _prop(fmt, name):
    try:
        v = getattr(fmt, name)
    except (AttributeError, ValueError, NotImplementedError):
        return ""
    return v() if callable(v) and name not in ("family",) else v


def format_table():
    """A pandas DataFrame with one row per registered format and the key numbers."""
    import pandas as pd

    from lowbit import formats

    rows = []
    for name in formats.names():
        fmt = formats.get(name)
        row = {"name": name}
        for col in COLUMNS:
            row[col] = _fmt_num(_prop(fmt, col))
        rows.append(row)
    return pd.DataFrame(rows)


def register(sub) -> None:
    p = sub.add_parser("formats", help="list registered formats, or `formats show NAME`")
    p.add_argument("action", nargs="?", choices=["show"], help="show one format in full")
    p.add_argument("name", nargs="?", help="format name (with `show`)")
    p.add_argument("--family", help="only formats of this family (float, int, block, ...)")
    p.set_defaults(func=_formats_main)

    q = sub.add_parser("quantize", help="quantize numbers to a format and print value and code")
    q.add_argument("values", nargs="+", type=float, metavar="VALUE",
                   help="numbers to quantize (e.g. 3.3 -0.001 1e6 -inf; a leading minus is a value)")
    q.add_argument("--format", "-f", required=True, dest="fmt", help="format name (see `lowbit formats`)")
    q.add_argument("--rounding", default="nearest_even", help="rounding mode (default nearest_even)")
    q.add_argument("--overflow", default=None, help="overflow policy (default: the format's natural one)")
    q.add_argument("--seed", type=int, default=None, help="seed (an integer >= 0) for --rounding stochastic")
    q.set_defaults(func=_quantize_main)


def _formats_main(args) -> int:
    import pandas as pd

    from lowbit import formats

    if args.action == "show":
        if not args.name:
            raise ValueError("`lowbit formats show` needs a format NAME")
        _show(formats.get(args.name))
        return 0
    if args.name:
        raise ValueError(f"unexpected argument {args.name!r}; did you mean `lowbit formats show {args.name}`?")
    df = format_table()
    if args.family:
        df = df[df["family"] == args.family]
        if df.empty:
            raise ValueError(f"--family {args.family!r} matches no format")
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_columns", 20):
        print(df.to_string(index=False))
    return 0


def _show(fmt) -> None:
    import numpy as np

    from lowbit import formats

    print(f"{fmt.name}: {fmt!r}")
    names = [n for n in dir(type(fmt)) if isinstance(getattr(type(fmt), n, None), property)]
    for n in sorted(names):
        v = _prop(fmt, n)
        if isinstance(v, (tuple, list)) or type(v).__name__ == "CodeSet":
            seq = list(v) if len(v) <= 16 else None
            v = ", ".join(f"{c:#x}" if isinstance(c, int) else str(c) for c in seq) if seq is not None \
                else f"{len(v)} codes"
        print(f"  {n:20s} {_fmt_num(v) if not isinstance(v, str) else v}")
    if fmt.bits <= 8 and getattr(fmt, "family", "") in ("float", "int", "posit", "lns"):
        vals = formats.values(fmt)
        width = max(1, (fmt.bits + 3) // 4)
        print(f"\n  value table ({len(vals)} codes):")
        per_line = 8
        for start in range(0, len(vals), per_line):
            cells = [f"{c:0{width}x}:{_fmt_num(float(v)):>10s}" for c, v in
                     zip(range(start, start + per_line), vals[start:start + per_line], strict=True)]
            print("   " + "  ".join(cells))
    elif fmt.bits <= 16 and getattr(fmt, "family", "") in ("float", "int", "posit", "lns"):
        vals = formats.values(fmt)
        fin = vals[np.isfinite(vals)]
        print(f"\n  {len(vals)} codes, {fin.size} finite; value table omitted (use formats.values)")


def _quantize_main(args) -> int:
    import numpy as np

    from lowbit import formats

    fmt = formats.get(args.fmt)
    x = np.asarray(args.values, dtype=np.float64)
    kw = dict(rounding=args.rounding, overflow=args.overflow)
    if args.rounding == "stochastic":
        if args.seed is not None and args.seed < 0:
            raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
        kw["key"] = 0 if args.seed is None else args.seed
    elif args.seed is not None:
        raise ValueError("--seed is only used with --rounding stochastic")
    q = formats.encode(x, fmt, **kw)
    vals = np.asarray(formats.decode(q, dtype=np.float64))
    codes = np.asarray(q.codes).ravel()
    width = max(1, (getattr(fmt, "bits", 8) + 3) // 4)
    print(f"{'input':>14s}  {'quantized':>14s}  code")
    for xi, vi, ci in zip(x, vals.ravel(), codes, strict=True):
        print(f"{xi:>14.7g}  {vi:>14.7g}  0x{int(ci):0{width}x}")
    return 0
