"""``lowbit formats`` (table of registered formats, ``show NAME``) and ``lowbit quantize``.

Values are printed exactly (:func:`._display.exact`: a short decimal, else ``m×2^e``) and codes
in hex: a bit-exact library does not round what it shows.
"""

from __future__ import annotations

import shutil

from ._display import exact

#: properties shown in the table, in order (records lacking one show "")
COLUMNS = ("family", "bits", "bits_per_element", "bias", "max", "smallest_normal", "smallest_subnormal",
           "eps", "has_inf", "has_nan")

#: property names whose integers are codes or bit masks (shown in hex)
_CODE_SUFFIXES = ("_code", "_codes", "_mask")

#: largest format (bits) whose every code ``formats show`` lists
VALUE_TABLE_MAX_BITS = 8


def _cell(v, *, hex_width: int | None = None) -> str:
    """One property value as text: booleans yes/no, numbers exact, codes in hex."""
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, str):
        return v
    if hex_width is not None and isinstance(v, int):
        return f"0x{v:0{hex_width}x}"
    if isinstance(v, (tuple, list)) or type(v).__name__ == "CodeSet":
        seq = list(v)
        if len(seq) > 16:
            return f"{len(seq)} codes" if hex_width is not None else f"{len(seq)} values"
        return ", ".join(_cell(c, hex_width=hex_width) for c in seq) or "none"
    try:
        return exact(v)
    except TypeError:
        return str(v)


def _prop(fmt, name):
    try:
        v = getattr(fmt, name)
    except (AttributeError, ValueError, NotImplementedError, TypeError, OverflowError):
        return ""
    return v() if callable(v) and name not in ("family",) else v


def format_table():
    """A pandas DataFrame with one row per registered format and its key numbers, exact."""
    import pandas as pd

    from lowbit import formats

    rows = []
    for name in formats.names():
        fmt = formats.get(name)
        row = {"name": name}
        for col in COLUMNS:
            row[col] = _cell(_prop(fmt, col))
        rows.append(row)
    return pd.DataFrame(rows)


def register(sub) -> None:
    p = sub.add_parser(
        "formats", help="list registered formats, or `formats show NAME`",
        description="Without arguments: every registered format with its key numbers (exact: "
                    "a short decimal or m×2^e). `formats show NAME`: every property of one format "
                    "and, up to 8 bits, the value of every code.")
    p.add_argument("action", nargs="?", choices=["show"], help="show one format in full")
    p.add_argument("name", nargs="?", help="format name (with `show`)")
    p.add_argument("--family", help="only formats of this family (float, int, block, ...)")
    p.set_defaults(func=_formats_main)

    q = sub.add_parser(
        "quantize", help="quantize numbers to a format and print value and code",
        description="Quantize numbers and print each one's exact quantized value and code (hex); "
                    "for block, scaled and codebook formats also each block's scale.")
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
            fams = ", ".join(sorted(set(format_table()["family"])))
            raise ValueError(f"--family {args.family!r} matches no format; families: {fams}")
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_columns", 20):
        print(df.to_string(index=False))
    return 0


def _hex_width(fmt) -> int:
    bits = _prop(fmt, "bits")
    return max(1, (int(bits) + 3) // 4) if isinstance(bits, int) else 2


def _show(fmt) -> None:
    print(f"{fmt.name}: {fmt!r}")
    width = _hex_width(fmt)
    names = sorted(n for n in dir(type(fmt)) if isinstance(getattr(type(fmt), n, None), property))
    pad = max((len(n) for n in names), default=0) + 2
    for n in names:
        v = _prop(fmt, n)
        is_code = n.endswith(_CODE_SUFFIXES) and not isinstance(v, bool) and (
            not n.endswith("_codes") or not isinstance(v, int))  # num_codes is a count
        text = _cell(v, hex_width=width if is_code else None)
        if not isinstance(v, (tuple, list)):
            text = _approx(text, v)
        print(f"  {n:{pad}s}{text}")
    element = getattr(fmt, "element", None)
    if element is not None and getattr(fmt, "family", "") == "block":
        print(f"\n  element format {element.name} (`lowbit formats show {element.name}`), "
              f"scale format {getattr(fmt.scale, 'name', fmt.scale)}")
        _value_table(element, title=f"element {element.name}")
    else:
        _value_table(fmt)


def _value_table(fmt, *, title: str | None = None) -> None:
    """Every code in hex with its exact value (formats up to 8 bits); a count above that."""
    import numpy as np

    from lowbit import formats

    bits = _prop(fmt, "bits")
    if not isinstance(bits, int) or getattr(fmt, "family", "") not in ("float", "int", "posit", "lns", "luq"):
        return
    if bits > 16:
        return
    vals = np.asarray(formats.values(fmt), dtype=np.float64)
    if bits > VALUE_TABLE_MAX_BITS:
        fin = vals[np.isfinite(vals)]
        print(f"\n  {len(vals)} codes, {fin.size} finite; value table omitted (formats.values(...) has it)")
        return
    width = max(1, (bits + 3) // 4)
    cells = [f"0x{c:0{width}x} {exact(float(v), max_decimal=12)}" for c, v in enumerate(vals)]
    cw = max(len(c) for c in cells) + 2
    fit = max(1, min(8, (shutil.get_terminal_size((100, 24)).columns - 4) // cw))
    per_line = 1 << (fit.bit_length() - 1)  # a power of two: rows start at aligned codes
    print(f"\n  value table of {title or fmt.name} ({len(vals)} codes: code value):")
    for start in range(0, len(cells), per_line):
        print("    " + "".join(f"{c:<{cw}s}" for c in cells[start:start + per_line]).rstrip())


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
    vals = np.asarray(formats.decode(q, dtype=np.float64)).ravel()
    codes = np.asarray(q.codes).ravel()[: x.size]
    width = _hex_width(getattr(fmt, "element", None) or fmt)
    blocked = q.scales is not None
    block = _block_size(fmt) if blocked else None
    rows = [(repr(float(xi)) if not float(xi).is_integer() else exact(float(xi)), _approx(exact(float(vi)), vi),
             f"0x{int(ci):0{width}x}") for xi, vi, ci in zip(x, vals, codes, strict=True)]
    w_in = max(14, *(len(r[0]) for r in rows))
    w_q = max(14, *(len(r[1]) for r in rows))
    head = f"{'input':>{w_in}s}  {'quantized':>{w_q}s}  code"
    print(head + ("  block" if block else ""))
    for i, (xi, vi, ci) in enumerate(rows):
        print(f"{xi:>{w_in}s}  {vi:>{w_q}s}  {ci}" + (f"  {i // block:>5d}" if block else ""))
    if blocked:
        _print_scales(q, fmt, block, x.size)
    return 0


def _approx(text: str, v) -> str:
    """``text`` (an exact value) with its 7-digit decimal when it is written as m×2^e."""
    return f"{text} (≈ {float(v):.7g})" if "×2^" in text else text


def _block_size(fmt):
    b = getattr(fmt, "block_size", None) or getattr(fmt, "group_size", None)
    return b if isinstance(b, int) and b > 0 else None


def _print_scales(q, fmt, block, n) -> None:
    """Each block's scale: code (hex) and exact value; the tensor scale when the format has one."""
    import numpy as np

    from lowbit import formats

    scale_codes = np.asarray(q.scales).ravel()
    scale_vals = np.asarray(formats.block_scales(q), dtype=np.float64).ravel()
    scale_fmt = getattr(fmt, "scale", None)
    sw = _hex_width(scale_fmt) if scale_fmt is not None and not isinstance(scale_fmt, str) \
        else 2 * np.asarray(q.scales).dtype.itemsize
    label = getattr(scale_fmt, "name", None) or "scale"
    print(f"\nscales ({label}), one per {'block of ' + str(block) if block else 'group'} elements:")
    print(f"{'block':>5s}  {'elements':>9s}  {'code':>{sw + 2}s}  scale")
    for b, (c, v) in enumerate(zip(scale_codes, scale_vals, strict=True)):
        lo = b * block if block else 0
        hi = min(n, (b + 1) * block) - 1 if block else n - 1
        print(f"{b:>5d}  {f'{lo}–{hi}':>9s}  {f'0x{int(c):0{sw}x}':>{sw + 2}s}  {_approx(exact(float(v)), v)}")
    ts = getattr(q, "tensor_scale", None)
    if ts is not None:
        t = float(np.asarray(ts).ravel()[0])
        print(f"tensor scale: {_approx(exact(t), t)}; an element's value = code value × block scale × tensor scale")
    else:
        print("an element's value = code value × its block's scale")
