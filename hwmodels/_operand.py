"""What a cost model needs to know about a format: a small, cached summary of its record.

``hwmodels`` reads format *records* only (bit widths, family), never values. Records of families
this module does not know are summarised from ``.bits`` / ``.bits_per_element``, so a new family
works (as an integer of its width) before a cost rule is written for it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

__all__ = ["Operand", "operand", "resolve_format", "resolve_accumulator", "ACCUMULATOR_FAMILIES"]


@dataclasses.dataclass(frozen=True)
class Operand:
    """Cost-relevant summary of a format.

    Args:
        kind: ``"int"``, ``"float"``, ``"lns"``, ``"posit"``, ``"codebook"`` (element arithmetic).
        bits: width of one element in the datapath (the element format for block formats).
        storage_bits: bits per element in memory, block scales included (``bits_per_element``).
        significand_bits: multiplier input width: integer width, float ``mantissa_bits + 1``.
        exponent_bits: exponent width (0 for integers).
        signed: whether a sign bit is present.
        block_size: elements sharing one scale, or None for scalar formats.
        scale: summary of the scale format of a block format, or None.
        decoded: the format a codebook decodes to (float16 by default), or None.
        es: posit exponent size (posits only).
        frac_bits: fractional bits of the logarithm (LNS only).
        name: the format's name.
    """

    kind: str
    bits: int
    storage_bits: float
    significand_bits: int
    exponent_bits: int = 0
    signed: bool = True
    block_size: int | None = None
    scale: Operand | None = None
    decoded: Operand | None = None
    es: int = 0
    frac_bits: int = 0
    name: str = ""

    @property
    def is_block(self) -> bool:
        return self.block_size is not None

    @property
    def power_of_two_scale(self) -> bool:
        """Whether the block scale is a power of two (E8M0-like: a float with no mantissa)."""
        s = self.scale
        return s is not None and s.kind == "float" and s.significand_bits == 1


@functools.lru_cache(maxsize=256)
def _named(name: str):
    from lowbit import formats

    return formats.get(name)


def resolve_format(fmt: Any, param: str) -> Any:
    """A format record from a record, a registered name or None.

    Raises:
        ValueError: naming ``param`` when the name is not registered.
        TypeError: when ``fmt`` is neither a name nor a format record.
    """
    if fmt is None:
        return None
    from lowbit import formats

    if isinstance(fmt, formats.Format):
        return fmt
    if isinstance(fmt, str):
        try:
            return _named(fmt)
        except KeyError as exc:
            msg = exc.args[0] if exc.args else str(exc)
            raise ValueError(f"{param}: {msg}") from exc
    if hasattr(fmt, "bits"):  # a record of a family defined outside formats.Format
        return fmt
    raise TypeError(f"{param} must be a format record, a registered format name or None, "
                    f"got {type(fmt).__name__}")


#: format families an accumulator may have: scalar formats whose partial sums the energy model
#: prices (``_energy._accumulate``): integer and float adders, posit adders, LNS adders
ACCUMULATOR_FAMILIES = ("float", "int", "posit", "lns")


def resolve_accumulator(fmt: Any, param: str = "accumulator") -> Any:
    """A scalar accumulator format record from a record, a registered name or None.

    Partial sums live in one scalar number per output: a block format, a scaled integer, a
    codebook, a lattice or LUQ format (values defined by a scale, a table or a vector) cannot
    hold them. ``simulator.matmul`` rejects them likewise.

    Raises:
        ValueError: naming ``param``, for an unregistered name or a non-scalar format.
        TypeError: when ``fmt`` is neither a name nor a format record.
    """
    rec = resolve_format(fmt, param)
    if rec is None:
        return None
    family = getattr(rec, "family", None)
    from lowbit import formats

    scalar = family in ACCUMULATOR_FAMILIES if isinstance(rec, formats.Format) else (
        getattr(rec, "element", None) is None and getattr(rec, "block_size", None) is None
        and operand(rec).kind in ("int", "float", "posit", "lns"))
    if not scalar:
        raise ValueError(f"{param} must be a scalar format (family {', '.join(ACCUMULATOR_FAMILIES)}),"
                         f" got {getattr(rec, 'name', '') or rec!r} ({type(rec).__name__}, family "
                         f"{family!r}): partial sums cannot be held in a block, scaled, codebook "
                         "or lattice format")
    return rec


def _int_bits(fmt) -> int:
    b = getattr(fmt, "bits", None)
    if b is None:
        raise TypeError(f"format record {fmt!r} has no 'bits'")
    return int(math.ceil(float(b)))


@functools.lru_cache(maxsize=512)
def operand(fmt: Any) -> Operand:
    """The :class:`Operand` summary of a format record (cached; records are hashable)."""
    name = str(getattr(fmt, "name", "") or "")
    family = getattr(fmt, "family", None)
    element = getattr(fmt, "element", None)
    block_size = getattr(fmt, "block_size", None)
    if element is not None:
        e = operand(element)
        scale_fmt = getattr(fmt, "scale", None)
        s = operand(scale_fmt) if scale_fmt is not None else None
        storage = getattr(fmt, "bits_per_element", None)
        if block_size is None:  # one scale per tensor: element arithmetic, no per-block work
            return dataclasses.replace(e, storage_bits=float(storage or e.storage_bits), name=name)
        if storage is None:
            storage = e.storage_bits + (s.storage_bits / block_size if s is not None else 0.0)
        return dataclasses.replace(e, storage_bits=float(storage), block_size=int(block_size),
                                   scale=s, name=name)
    bpe = float(getattr(fmt, "bits_per_element", getattr(fmt, "bits", 0)))
    known = family in ("float", "int", "posit", "lns", "luq", "codebook")
    if family == "float" or (not known and hasattr(fmt, "exponent_bits")
                             and hasattr(fmt, "mantissa_bits")):
        m, e = int(fmt.mantissa_bits), int(fmt.exponent_bits)
        return Operand("float", _int_bits(fmt), bpe, m + 1, e, bool(getattr(fmt, "signed", True)),
                       name=name)
    if family == "int" or (not known and hasattr(fmt, "width")):
        w = int(getattr(fmt, "width", _int_bits(fmt)))
        return Operand("int", w, bpe, w, 0, bool(getattr(fmt, "signed", True)), name=name)
    if family == "posit":
        n = _int_bits(fmt)
        es = int(getattr(fmt, "es", 2))
        # Largest fraction field of an n-bit posit: n - 3 - es bits (sign, 2 regime bits, es).
        frac = max(n - 3 - es, 0)
        return Operand("posit", n, bpe, frac + 1, es + max(1, math.ceil(math.log2(n))), True,
                       es=es, name=name)
    if family in ("lns", "luq"):  # log-domain values ±2^L: products are exponent adds
        n = _int_bits(fmt)
        frac = int(getattr(fmt, "frac_bits", 0))
        return Operand("lns", n, bpe, n, 0, bool(getattr(fmt, "signed", True)),
                       frac_bits=frac, name=name)
    if family == "codebook" or (not known and (hasattr(fmt, "codebook") or hasattr(fmt, "levels"))):
        n = _int_bits(fmt)
        # Codebook entries are decoded by a table to a wider format; float16 unless the record
        # names another one.
        dec = getattr(fmt, "value_format", None) or getattr(fmt, "decoded_format", None)
        if dec is None:
            from lowbit import formats

            dec = formats.get("float16")
        bs = getattr(fmt, "block_size", None)
        sc = getattr(fmt, "scale", None)
        scale = operand(sc) if (bs is not None and sc is not None and hasattr(sc, "bits")) else None
        bsize = int(bs) if scale is not None else None
        levels = getattr(fmt, "levels", None)
        if levels is not None and set(float(v) for v in levels) <= {-1.0, 0.0, 1.0}:
            # ternary / binary codebooks (BitNet b1.58): multiplying is a sign select — priced as
            # a 2-bit signed integer operand, with no decode table
            return Operand("int", 2, bpe, 2, 0, True, block_size=bsize, scale=scale, name=name)
        return Operand("codebook", n, bpe, n, 0, True, decoded=operand(dec),
                       block_size=bsize, scale=scale, name=name)
    # Unknown family: an integer of its width.
    n = _int_bits(fmt)
    return Operand("int", n, bpe, n, 0, True, name=name)
