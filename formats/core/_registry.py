"""The one registry of named formats.

Every named format is built here by code, one section per family; names are checked unique.
Collections that tests loop over ("all FP8", "formats without Inf") are computed from the
records with :func:`select`, never typed by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ._records import FloatFormat, Format, IntFormat

__all__ = ["get", "names", "register", "select", "p3109", "P3109_DOMAINS", "resolve"]


#: ``domain`` values of :func:`p3109`.
P3109_DOMAINS = ("extended", "finite")


def p3109(k: int, p: int, *, signed: bool = True, domain: str = "extended") -> FloatFormat:
    """IEEE P3109 binary format ``binary{k}p{p}`` with its signedness and domain parameters.

    K bits, precision P (P − 1 trailing significand bits), K − P (signed) or K − P + 1
    (unsigned) exponent bits, subnormals, no −0. Parameters and encodings as in the P3109
    working group's interim report (v3, 2024) and gfloat's ``format_info_p3109(k, p,
    signedness, domain)``, against which every code of every format of at most 8 bits is tested:

    * bias 2^(K−P−1) when signed, 2^(K−P) when unsigned;
    * signed: a single NaN at the −0 code (0x80 for K = 8); ``domain="extended"`` (extended
      reals) puts ±Inf at the top magnitude codes (0x7F, 0xFF), ``"finite"`` makes them the
      largest finite values (specials ``"fnuz"``);
    * unsigned: the NaN at the top code 2^K − 1; ``"extended"`` puts +Inf at 2^K − 2,
      ``"finite"`` makes it the largest finite value (specials ``"fn"``).

    Args:
        k: width K, 2..16.
        p: precision P, 1..K−1 when signed, 1..K when unsigned.
        signed: signed (sign bit) or unsigned (non-negative values only).
        domain: ``"extended"`` (with infinities, the default) or ``"finite"``.

    Returns:
        The FloatFormat, named ``p3109_k{K}p{P}`` (signed, extended) or with the suffix
        ``u``/``s`` and ``e``/``f`` otherwise (``p3109_k8p4uf``).

    Formats with K − P ≥ 11 have values beyond float64's range (up to 2^±32767): see
    :class:`FloatFormat`.

    Raises:
        ValueError: naming ``k``, ``p``, ``signed`` or ``domain`` when out of range.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 16:
        raise ValueError(f"k must be an int in [2, 16], got {k!r}")
    if not isinstance(signed, bool):
        raise ValueError(f"signed must be a bool, got {signed!r}")
    pmax = k - 1 if signed else k
    if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= pmax:
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"p must be an int in [1, {pmax}] for a {kind} format of k={k} bits, got {p!r}")
    if domain not in P3109_DOMAINS:
        raise ValueError(f"domain must be one of {P3109_DOMAINS}, got {domain!r}")
    e = k - p + (0 if signed else 1)
    bias = 2 ** (k - p - 1) if signed else 2 ** (k - p)
    if domain == "extended":
        specials = "p3109"
    else:
        specials = "fnuz" if signed else "fn"
    suffix = "" if (signed and domain == "extended") else ("s" if signed else "u") + domain[0]
    return FloatFormat(e, p - 1, bias=bias, signed=signed, specials=specials,
                       name=f"p3109_k{k}p{p}{suffix}")


def _scalar_formats() -> Iterable[Format]:
    F = FloatFormat
    # OCP 8-bit Floating Point Specification (OFP8) v1.0, Table 1 (E4M3 / E5M2).
    yield F(4, 3, specials="fn", name="float8_e4m3fn")
    yield F(5, 2, specials="ieee", name="float8_e5m2")
    # LLVM / ml_dtypes "fnuz" variants (Graphcore / AMD): single NaN at 0x80, no -0.
    yield F(4, 3, bias=8, specials="fnuz", name="float8_e4m3fnuz")
    yield F(5, 2, bias=16, specials="fnuz", name="float8_e5m2fnuz")
    yield F(4, 3, bias=11, specials="fnuz", name="float8_e4m3b11fnuz")
    # ml_dtypes IEEE-like 8-bit formats.
    yield F(4, 3, specials="ieee", name="float8_e4m3")
    yield F(3, 4, specials="ieee", name="float8_e3m4")
    # OCP Microscaling Formats (MX) v1.0, §5.4.1 (E8M0 scale): unsigned, no zero, NaN = 0xFF.
    yield F(8, 0, signed=False, subnormals=False, specials="fn", name="float8_e8m0fnu")
    # OCP MX v1.0, §5.3.2 / §5.3.3 (FP6 E2M3, E3M2; FP4 E2M1): no Inf, no NaN.
    yield F(2, 3, specials="none", name="float6_e2m3fn")
    yield F(3, 2, specials="none", name="float6_e3m2fn")
    yield F(2, 1, specials="none", name="float4_e2m1fn")
    # IEEE 754 binary16/32/64 and Google bfloat16; NVIDIA TF32 (8-bit exponent, 10-bit mantissa).
    yield F(8, 7, name="bfloat16")
    yield F(5, 10, name="float16")
    yield F(8, 23, name="float32")
    yield F(11, 52, name="float64")
    yield F(8, 10, name="tf32")
    for w in range(1, 33):
        yield IntFormat(w, signed=True, name=f"int{w}")
        yield IntFormat(w, signed=False, name=f"uint{w}")


# Other families register their builders here (block formats, posits, LNS, codebooks, ...).
_BUILDERS: list[Callable[[], Iterable[Format]]] = [_scalar_formats]
_ALIASES: dict[str, str] = {}
_REGISTRY: dict[str, Format] | None = None


def register(builder: Callable[[], Iterable[Format]], aliases: dict[str, str] | None = None):
    """Add a family's builder (a function yielding named records) to the registry.

    Used by the family modules of this package; names must stay unique.
    """
    global _REGISTRY
    _BUILDERS.append(builder)
    _ALIASES.update(aliases or {})
    _REGISTRY = None


def _table() -> dict[str, Format]:
    global _REGISTRY
    if _REGISTRY is None:
        table: dict[str, Format] = {}
        for build in _BUILDERS:
            for fmt in build():
                if not fmt.name:
                    raise ValueError(f"registered format has no name: {fmt!r}")
                if fmt.name in table or fmt.name in _ALIASES:
                    raise ValueError(f"duplicate format name {fmt.name!r}")
                table[fmt.name] = fmt
        for alias, target in _ALIASES.items():
            if target not in table:
                raise ValueError(f"alias {alias!r} points at unknown format {target!r}")
        _REGISTRY = table
    return _REGISTRY


def names() -> list[str]:
    """Names of every registered format, in registration order (aliases excluded)."""
    return list(_table())


class UnknownFormatError(KeyError, ValueError):
    """An unknown format name. A ``ValueError`` (a bad value of a parameter) that is also a
    ``KeyError`` (a failed registry lookup), so either ``except`` clause catches it."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def get(name: str | Format) -> Format:
    """The format ``name`` names: a registered name (or one of its aliases), or a format record,
    which is returned as it is (so every function that takes a format takes either).

    Raises:
        UnknownFormatError: (a ValueError and a KeyError) naming the unknown format and listing
            close matches.
        TypeError: if ``name`` is neither a str nor a format record.
    """
    if isinstance(name, Format):
        return name
    if not isinstance(name, str):
        raise TypeError(f"format must be a registered name (a str) or a format record, got {type(name).__name__}")
    table = _table()
    key = _ALIASES.get(name, name)
    if key not in table:
        import difflib

        close = difflib.get_close_matches(name, list(table) + list(_ALIASES), n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownFormatError(f"unknown format {name!r}{hint} (formats.names() lists all)")
    return table[key]


def resolve(fmt: Format | str) -> Format:
    """Accept a record or a registered name; return the record.

    Raises:
        TypeError: if ``fmt`` is neither.
    """
    if isinstance(fmt, Format):
        return fmt
    if isinstance(fmt, str):
        return get(fmt)
    raise TypeError(f"fmt must be a format record or a registered name, got {type(fmt).__name__}")


def select(predicate: Callable[[Format], bool] | None = None, *, family: str | None = None) -> list[Format]:
    """Registered formats (in registration order) that satisfy ``predicate`` and ``family``.

    Example: ``select(lambda f: f.bits == 8, family="float")`` is every FP8 format.
    """
    return [
        f
        for f in _table().values()
        if (family is None or f.family == family) and (predicate is None or predicate(f))
    ]
