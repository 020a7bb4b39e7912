"""MkDocs hook: tables generated at build time, never typed by hand.

A page asks for a table with an HTML comment marker on a line of its own:

``<!-- lowbit:formats-tables -->``
    every registered format (``formats.names()`` / ``formats.get``), one table per family;
``<!-- lowbit:rounding-modes -->``
    a few values quantized under every rounding mode, computed by lowbit;
``<!-- lowbit:overflow-policies -->``
    what each overflow policy gives for out-of-range inputs, computed by lowbit;
``<!-- lowbit:scale-rules -->``
    one MXFP4 block encoded under every block-scale rule, computed by lowbit;
``<!-- lowbit:disagreements -->``
    what ml_dtypes, gfloat, torch/torchao and lowbit return for inputs on which the reference
    libraries disagree, computed by calling each library;
``<!-- lowbit:examples -->``
    the table of examples from ``examples/README.md``;
``<!-- lowbit:presets-table -->``
    every hardware preset's fields, values and sources, from the preset files;
``<!-- lowbit:comparison -->``
    the comparison with other tools, from ``README.md`` (one table for the README and the site).

Figures and notebooks are drawn by the sibling hooks ``lowbit_figures.py`` and ``lowbit_site.py``.

New format families show up automatically: columns are read with ``getattr`` and a default, and
a family without a dedicated column set gets a generic table. The functions here are also used
by ``tests/docs/test_docs.py``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

MARKERS = ("formats-tables", "rounding-modes", "overflow-policies", "scale-rules", "disagreements",
           "examples", "presets-table", "comparison")
_SKIP = (AttributeError, NotImplementedError, TypeError, ValueError, KeyError, OverflowError)


# ---------------------------------------------------------------------------- formatting
def num(v) -> str:
    """A number for a table cell, exact: powers of two far from 1 (≥ 2^17, ≤ 2^-5) as 2^e,
    others as a decimal of at most 12 characters, else ``m×2^e`` (odd m)."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}".replace(",", " ") if abs(v) >= 100000 else str(v)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+∞" if v > 0 else "−∞"
    if v == 0:
        return "−0" if math.copysign(1.0, v) < 0 else "0"
    m, e = math.frexp(abs(v))
    sign = "−" if v < 0 else ""
    if m == 0.5 and (e - 1 >= 17 or e - 1 <= -5):
        return f"{sign}2<sup>{e - 1}</sup>"
    from lowbit.simulator.cli._display import exact  # the CLI's exact writing, one helper

    text = exact(abs(v), max_decimal=12)  # a short decimal, else m×2^e: exact, never rounded
    if "^" in text:
        text = text.replace("2^", "2<sup>") + "</sup>"
    return sign + text


def _hex(code: int, bits: int) -> str:
    return f"0x{code:0{max(1, (bits + 3) // 4)}X}"


def code_ranges(codes, bits: int) -> str:
    """Codes as compact hex ranges: ``0x7C01–0x7FFF, 0xFC01–0xFFFF``."""
    codes = sorted(codes)
    if not codes:
        return "none"
    out, start, prev = [], codes[0], codes[0]
    for c in codes[1:] + [None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        out.append(_hex(start, bits) if start == prev else f"{_hex(start, bits)}–{_hex(prev, bits)}")
        if c is not None:
            start = prev = c
    return ", ".join(out)


def _get(obj, attr, default=None):
    try:
        return getattr(obj, attr, default)
    except _SKIP:
        return default


def _name(fmt) -> str:
    if fmt is None:
        return "—"
    return _get(fmt, "name", "") or repr(fmt)


_SPECIALS_TEXT = {  # wide formats: describe the special codes instead of listing them
    "ieee": ("exponent all ones, mantissa 0", "exponent all ones, mantissa ≠ 0"),
    "fn": ("none", "S.1…1 (all ones magnitude)"),
    "fnuz": ("none", "1000…0 (the −0 code)"),
    "p3109": ("top magnitude code of each sign", "1000…0 (the −0 code)"),
    "none": ("none", "none"),
}


def _special_codes(fmt, which: str) -> str:
    """'inf' or 'nan' codes of ``fmt`` as ranges; described in words for formats wider than
    16 bits (listing 2^52 NaN codes of float64 is neither cheap nor useful)."""
    bits = _get(fmt, "bits")
    if bits is None:
        return "—"
    if bits <= 16:
        codes = _get(fmt, f"{which}_codes")
        return "—" if codes is None else code_ranges(list(codes), bits)
    specials = _get(fmt, "specials")
    if specials in _SPECIALS_TEXT:
        return _SPECIALS_TEXT[specials][0 if which == "inf" else 1]
    code = _get(fmt, f"{which}_code") if which == "nan" else None
    if code is not None:
        return _hex(code, bits)
    codes = _get(fmt, f"{which}_codes")
    if codes is not None and len(codes) <= 8:
        return code_ranges(list(codes), bits)
    return "—"


# -------------------------------------------------------------------- formats tables
def _cols_float():
    return [
        ("name", lambda f: f"`{_name(f)}`"),
        ("bits", lambda f: num(_get(f, "bits"))),
        ("E", lambda f: num(_get(f, "exponent_bits"))),
        ("M", lambda f: num(_get(f, "mantissa_bits"))),
        ("bias", lambda f: num(_get(f, "bias"))),
        ("max", lambda f: num(_get(f, "max"))),
        ("smallest normal", lambda f: num(_get(f, "smallest_normal"))),
        ("smallest subnormal", lambda f: num(_get(f, "smallest_subnormal"))),
        ("eps", lambda f: num(_get(f, "eps"))),
    ]


def _cols_float_specials():
    return [
        ("name", lambda f: f"`{_name(f)}`"),
        ("Inf codes", lambda f: _special_codes(f, "inf")),
        ("NaN codes", lambda f: _special_codes(f, "nan")),
        ("−0", lambda f: num(_get(f, "has_negative_zero"))),
    ]


def _cols_int():
    return [
        ("name", lambda f: f"`{_name(f)}`"),
        ("bits", lambda f: num(_get(f, "bits"))),
        ("signed", lambda f: num(_get(f, "signed"))),
        ("min", lambda f: num(_get(f, "min"))),
        ("max", lambda f: num(_get(f, "max"))),
        ("Inf / NaN", lambda f: "none"),
    ]


def _first(f, *attrs):
    for a in attrs:
        v = _get(f, a)
        if v is not None:
            return v
    return None


def _cols_block():
    def elem(f):
        return _first(f, "element", "element_format", "elem")

    def scale(f):
        return _first(f, "scale", "scale_format")

    def tensor_scale(f):
        t = _first(f, "tensor_scale", "tensor_scale_format")
        return "—" if t in (None, False) else (_name(t) if not isinstance(t, (bool, str)) else str(t))

    return [
        ("name", lambda f: f"`{_name(f)}`"),
        ("element", lambda f: f"`{_name(elem(f))}`" if elem(f) is not None else "—"),
        ("scale", lambda f: f"`{_name(scale(f))}`" if scale(f) is not None else "—"),
        ("block", lambda f: num(_first(f, "block_size", "block"))),
        ("scale rule", lambda f: str(_get(f, "scale_rule") or "—")),
        ("tensor scale", tensor_scale),
        ("bits / element", lambda f: num(_get(f, "bits_per_element"))),
        ("element max", lambda f: num(_get(elem(f), "max")) if elem(f) is not None else "—"),
        ("element Inf / NaN", lambda f: (
            f"{_special_codes(elem(f), 'inf')} / {_special_codes(elem(f), 'nan')}"
            if elem(f) is not None else "—")),
    ]


def _params(f) -> str:
    if not dataclasses.is_dataclass(f):
        return "—"
    parts = []
    for fld in dataclasses.fields(f):
        if fld.name == "name":
            continue
        v = getattr(f, fld.name, None)
        if isinstance(v, (tuple, list)) and len(v) > 6:
            v = f"({len(v)} entries)"
        elif hasattr(v, "name") and getattr(v, "name", ""):
            v = v.name
        parts.append(f"{fld.name}={v}")
    return "<br>".join(parts) if parts else "—"


def _cols_generic():
    return [
        ("name", lambda f: f"`{_name(f)}`"),
        ("record", lambda f: f"`{type(f).__name__}`"),
        ("bits", lambda f: num(_get(f, "bits"))),
        ("bits / element", lambda f: num(_get(f, "bits_per_element"))),
        ("max", lambda f: num(_get(f, "max"))),
        ("smallest positive", lambda f: num(_first(f, "smallest_positive", "min_positive", "minpos",
                                                   "smallest_normal"))),
        ("Inf codes", lambda f: _special_codes(f, "inf")),
        ("NaN codes", lambda f: _special_codes(f, "nan")),
        ("parameters", _params),
    ]


#: family -> column sets; a family with two sets gets two tables (each fits a 1400 px screen)
_FAMILY_COLUMNS = {"float": (_cols_float, _cols_float_specials), "int": (_cols_int,),
                   "block": (_cols_block,)}
_TABLE_TITLES = {_cols_float: "Range and precision", _cols_float_specials: "Special values"}

#: most columns one generated table may have (wider tables are split: readable at 1400 px)
MAX_COLUMNS = 9
_FAMILY_TITLES = {
    "float": "Floating point",
    "int": "Integers",
    "block": "Block and scaled formats",
    "posit": "Posits",
    "lns": "Logarithmic (LNS)",
    "luq": "Logarithmic unbiased quantization (LUQ)",
    "codebook": "Codebooks",
    "lattice": "Lattices",
}


def _table(rows, cols) -> str:
    if len(cols) > MAX_COLUMNS:
        raise ValueError(f"a generated table has {len(cols)} columns; split it (at most {MAX_COLUMNS})")
    head = "| " + " | ".join(c for c, _ in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    body = []
    for f in rows:
        cells = []
        for _, get in cols:
            try:
                cells.append(str(get(f)).replace("|", "\\|"))
            except _SKIP:
                cells.append("—")
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, sep, *body])


def families():
    """Registered formats grouped by family, in registration order: [(family, [fmt, ...])]."""
    from lowbit import formats

    groups: dict[str, list] = {}
    for n in formats.names():
        f = formats.get(n)
        fam = _get(f, "family") or type(f).__name__
        if not isinstance(fam, str) or fam == "abstract":
            fam = type(f).__name__
        groups.setdefault(fam, []).append(f)
    return list(groups.items())


def formats_tables_md() -> str:
    """Markdown: one section and table per format family, from the live registry."""
    from lowbit import formats

    out = [
        f"*{len(formats.names())} registered formats, generated from `formats.names()` and "
        f"`formats.get()` when this site was built.*",
        "",
    ]
    for fam, fmts in families():
        title = _FAMILY_TITLES.get(fam, fam.replace("_", " ").capitalize())
        cls_names = sorted({type(f).__name__ for f in fmts})
        out += [f"## {title}", "", f"Record: {', '.join(f'`{c}`' for c in cls_names)}.", ""]
        sets = _FAMILY_COLUMNS.get(fam, (_cols_generic,))
        for make in sets:
            if len(sets) > 1:
                out += [f"**{_TABLE_TITLES[make]}**", ""]
            out += [_table(fmts, make()), ""]
    return "\n".join(out)


# -------------------------------------------------------------- rounding / overflow
ROUNDING_INPUTS = (0.3, 1.0625, 1.1875, 2.5, 3.5, -2.5, -0.3)


def rounding_modes_md(fmt_name: str = "float8_e4m3fn", key: int = 0) -> str:
    """Markdown table: ``formats.quantize`` of a few inputs under every rounding mode."""
    import numpy as np

    from lowbit import formats

    x = np.array(ROUNDING_INPUTS, dtype=np.float64)
    head = "| rounding | " + " | ".join(num(v) for v in x) + " |"
    lines = [head, "|" + "---|" * (len(x) + 1)]
    for r in formats.ROUNDINGS:
        kw = {"key": key} if r == "stochastic" else {}
        q = formats.quantize(x, fmt_name, rounding=r, **kw)
        lines.append(f"| `{r}` | " + " | ".join(num(v) for v in q) + " |")
    return (f"*`formats.quantize(x, \"{fmt_name}\", rounding=...)`, computed when this site was "
            f"built (stochastic: one draw with `key={key}`).*\n\n" + "\n".join(lines))


OVERFLOW_CASES = (("float8_e4m3fn", (500.0, 1e6, math.inf, math.nan)),
                  ("float8_e5m2", (70000.0, math.inf, math.nan)),
                  ("float4_e2m1fn", (7.0, math.inf, math.nan)),
                  ("int8", (300.0, -300.0, math.inf)))


def overflow_policies_md() -> str:
    """Markdown table: every overflow policy on out-of-range inputs of a few formats."""
    import numpy as np

    from lowbit import formats

    pols = [p for p in formats.OVERFLOWS]
    head = "| format | input | " + " | ".join("natural (`None`)" if p is None else f"`{p}`"
                                             for p in pols) + " |"
    lines = [head, "|" + "---|" * (len(pols) + 2)]
    for name, xs in OVERFLOW_CASES:
        for v in xs:
            cells = []
            for p in pols:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        q = formats.quantize(np.array([v]), name, overflow=p)
                    cells.append(num(q[0]))
                except (ValueError, OverflowError) as exc:
                    cells.append(type(exc).__name__)
            lines.append(f"| `{name}` | {num(v)} | " + " | ".join(cells) + " |")
    return ("*`formats.quantize(x, fmt, overflow=...)`, computed when this site was built. "
            "`ValueError` means the policy does not apply to the format (e.g. `inf` for a format "
            "without Inf) or that NaN cannot be represented; `OverflowError` is the `error` "
            "policy doing its job.*\n\n" + "\n".join(lines))


SCALE_RULE_BLOCK = (7.0, 1.0, 0.3, -2.5)  # the rest of the 32-element block is zero


def scale_rules_md(fmt_name: str = "mxfp4") -> str:
    """Markdown table: one block encoded under every scale rule the format accepts."""
    import numpy as np

    from lowbit import formats

    base = formats.get(fmt_name)
    x = np.zeros(base.block_size, np.float32)
    x[: len(SCALE_RULE_BLOCK)] = SCALE_RULE_BLOCK
    lines = ["| `scale_rule` | scale | " + " | ".join(f"x = {num(v)}" for v in SCALE_RULE_BLOCK) + " |",
             "|" + "---|" * (len(SCALE_RULE_BLOCK) + 2)]
    for rule in formats.SCALE_RULES:
        try:
            fmt = dataclasses.replace(base, scale_rule=rule)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # E8M0 value table: 2^128 (NaN)
                q = formats.encode(x, fmt)
        except ValueError:
            continue  # a rule this format's scale cannot express
        scale = float(np.ravel(formats.block_scales(q))[0])
        vals = formats.decode(q)[: len(SCALE_RULE_BLOCK)]
        lines.append(f"| `{rule}` | {num(scale)} | " + " | ".join(num(v) for v in vals) + " |")
    return (f"*One `{fmt_name}` block ({base.block_size} elements: "
            f"{', '.join(num(v) for v in SCALE_RULE_BLOCK)}, then zeros) under each scale rule "
            "(`dataclasses.replace(fmt, scale_rule=...)`), computed when this site was built.*"
            "\n\n" + "\n".join(lines))


# -------------------------------------------------------------- reference disagreements
#: (format, input, what the row shows). Values in the table are computed, never typed.
DISAGREEMENT_CASES = (
    ("float8_e4m3fn", 464.0, "midpoint of 448 (max) and 480 (not representable): ties to even"),
    ("float8_e4m3fn", 465.0, "just above that midpoint: overflow"),
    ("float8_e4m3fn", math.inf, "infinity into a format without Inf"),
    ("float8_e5m2", 1e6, "overflow in a format with Inf"),
    ("float8_e8m0fnu", 3.0, "tie between scales 2 and 4"),
    ("float8_e8m0fnu", 0.75, "tie between scales 0.5 and 1"),
    ("float8_e8m0fnu", 0.0, "zero into a format without zero"),
    ("float8_e8m0fnu", -2.0, "negative input into an unsigned format"),
    ("float4_e2m1fn", 5.0, "tie between 4 and 6"),
    ("float4_e2m1fn", math.nan, "NaN into a format without NaN"),
    ("float4_e2m1fn", math.inf, "infinity into a format without Inf or NaN"),
    ("float6_e3m2fn", math.nan, "NaN into a format without NaN"),
    ("int4", 100.0, "integer overflow"),
)

_GFLOAT_INFO = {
    "float8_e4m3fn": "format_info_ocp_e4m3",
    "float8_e5m2": "format_info_ocp_e5m2",
    "float8_e8m0fnu": "format_info_ocp_e8m0",
    "float4_e2m1fn": "format_info_ocp_e2m1",
    "float6_e3m2fn": "format_info_ocp_e3m2",
    "float6_e2m3fn": "format_info_ocp_e2m3",
}
_TORCHAO_UNPACKED = {  # torch has no float4/float6 conversion; torchao's MX kernels do it
    "float4_e2m1fn": ("f32_to_f4_unpacked", "f4_unpacked_to_f32"),
    "float6_e3m2fn": ("f32_to_f6_e3m2_unpacked", "f6_e3m2_unpacked_to_f32"),
    "float6_e2m3fn": ("f32_to_f6_e2m3_unpacked", "f6_e2m3_unpacked_to_f32"),
}

NA = "n/a"


def _err(exc) -> str:
    return type(exc).__name__


def ref_ml_dtypes(name: str, v: float):
    """ml_dtypes: ``np.float32(v).astype(ml_dtypes.<name>)`` back to float."""
    import ml_dtypes
    import numpy as np

    dt = getattr(ml_dtypes, name, None)
    if dt is None:
        return NA
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.array([v], np.float32).astype(dt).astype(np.float64)[0])


def ref_gfloat(name: str, v: float, saturate: bool = False):
    """gfloat: ``round_float(format_info, v, TiesToEven, sat=saturate)``."""
    import gfloat
    import gfloat.formats as gf

    info = _GFLOAT_INFO.get(name)
    if info is None:
        return NA
    try:
        return float(gfloat.round_float(getattr(gf, info), v, gfloat.RoundMode.TiesToEven, saturate))
    except (ValueError, OverflowError) as exc:
        return _err(exc)


def ref_torch(name: str, v: float):
    """torch ``Tensor.to(torch.<name>)`` (float8 types) or torchao's unpacked FP4/FP6 kernels."""
    import torch

    if name in _TORCHAO_UNPACKED:
        import logging

        logging.disable(logging.WARNING)  # torchao import chatter about optional CUDA kernels
        try:
            from torchao.prototype.mx_formats import kernels
        finally:
            logging.disable(logging.NOTSET)
        enc, dec = (getattr(kernels, n) for n in _TORCHAO_UNPACKED[name])
        return float(dec(enc(torch.tensor([v], dtype=torch.float32)))[0])
    dt = getattr(torch, name, None)
    if dt is None:
        return NA
    try:
        return float(torch.tensor([v], dtype=torch.float32).to(dt).to(torch.float64)[0])
    except (RuntimeError, TypeError) as exc:
        return _err(exc)


def ref_lowbit(name: str, v: float, overflow=None):
    """lowbit: ``formats.quantize(np.float32([v]), name, overflow=overflow)``."""
    import numpy as np

    from lowbit import formats

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(formats.quantize(np.array([v], np.float32), name, overflow=overflow)[0])
    except (ValueError, OverflowError) as exc:
        return _err(exc)


def disagreements():
    """pandas DataFrame: one row per case, one column per library (values or error names)."""
    import pandas as pd

    rows = []
    for name, v, what in DISAGREEMENT_CASES:
        row = {
            "format": name,
            "input": v,
            "case": what,
            "ml_dtypes": ref_ml_dtypes(name, v),
            "gfloat": ref_gfloat(name, v),
            "gfloat (sat)": ref_gfloat(name, v, saturate=True),
            "torch / torchao": ref_torch(name, v),
            "lowbit": ref_lowbit(name, v),
            "lowbit saturate": ref_lowbit(name, v, overflow="saturate"),
        }
        refs = [row[k] for k in ("ml_dtypes", "gfloat", "torch / torchao") if row[k] != NA]
        keys = {("nan" if isinstance(r, float) and math.isnan(r) else r) for r in refs}
        row["agree"] = len(keys) == 1
        rows.append(row)
    return pd.DataFrame(rows)


def disagreements_md() -> str:
    df = disagreements()
    cols = ["format", "input", "case", "ml_dtypes", "gfloat", "gfloat (sat)", "torch / torchao",
            "lowbit", "lowbit saturate", "agree"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c == "format":
                cells.append(f"`{v}`")
            elif c == "case":
                cells.append(str(v))
            elif c == "agree":
                cells.append("yes" if v else "**no**")
            else:
                cells.append(num(v) if isinstance(v, float) else f"`{v}`")
        lines.append("| " + " | ".join(cells) + " |")
    from importlib.metadata import version

    versions = ", ".join(f"{p} {version(p)}" for p in ("ml_dtypes", "gfloat", "torch", "torchao"))
    return (f"*Computed when this site was built by calling each library ({versions}) on a "
            "float32 input; `agree` compares ml_dtypes, gfloat (non-saturating) and torch/torchao. "
            "An exception name means the library raised it.*\n\n" + "\n".join(lines))


# ------------------------------------------------------------------------- examples
_ROOT = None  # repository root (set from the mkdocs config; the checkout otherwise)


def _root():
    import pathlib

    return _ROOT or pathlib.Path(__file__).resolve().parents[2]


def examples_md() -> str:
    """The table of examples from ``examples/README.md`` (one list, kept in one place)."""
    lines = (_root() / "examples" / "README.md").read_text().splitlines()
    table = [ln for ln in lines if ln.startswith("|")]
    if not table:
        raise ValueError("examples/README.md has no table of examples")
    return "\n".join(table)


# --------------------------------------------------------------------------- presets
def presets_table_md() -> str:
    """Markdown: every hardware preset's fields, values and sources, one table per kind
    (fields as rows, presets as columns), generated from the preset files."""
    from lowbit import hwmodels
    from lowbit.simulator.cli._presets import describe

    by_kind: dict[str, list] = {}
    for n in hwmodels.presets.names():
        d = describe(n)
        by_kind.setdefault(d["kind"], []).append(d)
    out = [f"*{len(hwmodels.presets.names())} presets, generated from the files in "
           "`hwmodels/data/` when this site was built (`lowbit presets show NAME` prints the "
           "same with each number's source). Hover a value for the comment its file gives it; "
           "*default* marks a field the file leaves at the record's default.*", ""]
    for kind, ds in by_kind.items():
        for i in range(0, len(ds), MAX_COLUMNS - 1):  # at most MAX_COLUMNS columns per table
            part = ds[i:i + MAX_COLUMNS - 1]
            out += [f"### `{kind}`" + (" (continued)" if i else ""), ""]
            head = "| field | " + " | ".join(f"`{d['name']}`" for d in part) + " |"
            lines = [head, "|---" * (len(part) + 1) + "|"]
            fields = [r["field"] for r in part[0]["fields"]]
            for j, field in enumerate(fields):
                cells = []
                for d in part:
                    r = d["fields"][j]
                    text = r["text"].replace("|", "\\|")
                    if r["given"] == "default":
                        text += " <small>*default*</small>"
                    elif r["note"]:
                        note = r["note"].replace('"', "&quot;").replace("|", "&#124;")
                        text = f'<span title="{note}">{text}</span>'
                    cells.append(text)
                lines.append(f"| `{field}` | " + " | ".join(cells) + " |")
            lines.append("| **source** | " + " | ".join(d["source"].replace("|", "\\|") or "—" for d in part) + " |")
            out += lines + [""]
    return "\n".join(out)


# ------------------------------------------------------------------------- comparison
def comparison_md() -> str:
    """The "How lowbit compares" table of README.md (one table, kept in one place)."""
    text = (_root() / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^## How lowbit compares\n(.*?)(?=^## )", text, flags=re.S | re.M)
    if m is None:
        raise ValueError("README.md has no '## How lowbit compares' section")
    return m.group(1).strip()


# --------------------------------------------------------------------------- the hook
_RENDER = {
    "examples": examples_md,
    "presets-table": presets_table_md,
    "comparison": comparison_md,
    "scale-rules": scale_rules_md,
    "formats-tables": formats_tables_md,
    "rounding-modes": rounding_modes_md,
    "overflow-policies": overflow_policies_md,
    "disagreements": disagreements_md,
}


def render(markdown: str) -> str:
    """Replace every ``<!-- lowbit:NAME -->`` marker line with its generated table."""
    for key, fn in _RENDER.items():
        marker = f"<!-- lowbit:{key} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, fn())
    return markdown


def on_config(config, **kwargs):  # mkdocs hook
    global _ROOT
    import pathlib

    _ROOT = pathlib.Path(config["config_file_path"]).resolve().parent
    return config


def on_page_markdown(markdown, page, config, files, **kwargs):  # mkdocs hook
    if "<!-- lowbit:" not in markdown:
        return markdown
    return render(markdown)


_SPHINX_ROLE = None


def on_page_content(html, page, config, files, **kwargs):  # mkdocs hook
    """Drop Sphinx roles (``:class:`X```) that docstrings use; mkdocstrings shows them verbatim."""
    global _SPHINX_ROLE
    import re

    if _SPHINX_ROLE is None:
        _SPHINX_ROLE = re.compile(r":(?:class|func|data|meth|attr|mod|exc|obj|const|py:\w+):(<code>)")
    return _SPHINX_ROLE.sub(r"\1", html)
