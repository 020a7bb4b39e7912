"""What a cost model needs to know about a format: a small, cached summary of its record.

``hwmodels`` reads format *records* only (bit widths, family), never values. The summary
dispatches on the record's class — one rule per family of ``formats`` — and a record of a family
without a rule (a lattice format, a user's own ``formats.Format`` subclass) is summarised from
its ``bits`` / ``bits_per_element`` as an integer of that width, so a new family works before a
cost rule is written for it.
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
        TypeError: when ``fmt`` is neither a name nor a ``formats.Format`` record.
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
    raise TypeError(f"{param} must be a format record (a formats.Format), a registered format "
                    f"name or None, got {type(fmt).__name__}")


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
    family = rec.family
    if family not in ACCUMULATOR_FAMILIES:
        raise ValueError(f"{param} must be a scalar format (family {', '.join(ACCUMULATOR_FAMILIES)}),"
                         f" got {getattr(rec, 'name', '') or rec!r} ({type(rec).__name__}, family "
                         f"{family!r}): partial sums cannot be held in a block, scaled, codebook "
                         "or lattice format")
    return rec


def _int_bits(fmt) -> int:
    return int(math.ceil(float(fmt.bits)))


def _float(fmt, name: str) -> Operand:
    m, e = int(fmt.mantissa_bits), int(fmt.exponent_bits)
    return Operand("float", _int_bits(fmt), float(fmt.bits_per_element), m + 1, e,
                   bool(fmt.signed), name=name)


def _int(fmt, name: str) -> Operand:
    w = _int_bits(fmt)
    return Operand("int", w, float(fmt.bits_per_element), w, 0, bool(fmt.signed), name=name)


def _posit(fmt, name: str) -> Operand:
    n = _int_bits(fmt)
    es = int(fmt.es)
    # Largest fraction field of an n-bit posit: n - 3 - es bits (sign, 2 regime bits, es).
    frac = max(n - 3 - es, 0)
    return Operand("posit", n, float(fmt.bits_per_element), frac + 1,
                   es + max(1, math.ceil(math.log2(n))), True, es=es, name=name)


def _lns(fmt, name: str) -> Operand:
    # log-domain values ±2^L: products are exponent adds
    n = _int_bits(fmt)
    return Operand("lns", n, float(fmt.bits_per_element), n, 0, bool(fmt.signed),
                   frac_bits=int(fmt.frac_bits), name=name)


def _luq(fmt, name: str) -> Operand:
    # LUQ: a per-tensor scale times an LNS element (no per-block work)
    e = operand(fmt.element)
    return dataclasses.replace(e, storage_bits=float(fmt.bits_per_element), name=name)


def _block(fmt, name: str) -> Operand:
    # element format + one scale per block (or per tensor: element arithmetic, no per-block work)
    e = operand(fmt.element)
    storage = float(fmt.bits_per_element)
    if fmt.block_size is None:
        return dataclasses.replace(e, storage_bits=storage, name=name)
    return dataclasses.replace(e, storage_bits=storage, block_size=int(fmt.block_size),
                               scale=operand(fmt.scale), name=name)


def _scaled_int(fmt, name: str) -> Operand:
    # an integer element with per-tensor/channel/group scales (and zero points): element
    # arithmetic; groups along k add per-group scale handling like a block format
    e = operand(fmt.element)
    storage = float(fmt.bits_per_element)
    if fmt.granularity == "group" and fmt.group_size is not None:
        return dataclasses.replace(e, storage_bits=storage, block_size=int(fmt.group_size),
                                   scale=operand(fmt.scale), name=name)
    return dataclasses.replace(e, storage_bits=storage, name=name)


def _codebook(fmt, name: str) -> Operand:
    from lowbit import formats

    n = _int_bits(fmt)
    bpe = float(fmt.bits_per_element)
    scale = operand(fmt.scale) if fmt.block_size is not None else None
    bsize = int(fmt.block_size) if fmt.block_size is not None else None
    if set(float(v) for v in fmt.levels) <= {-1.0, 0.0, 1.0}:
        # ternary / binary codebooks (BitNet b1.58): multiplying is a sign select — priced as
        # a 2-bit signed integer operand, with no decode table
        return Operand("int", 2, bpe, 2, 0, True, block_size=bsize, scale=scale, name=name)
    # codebook entries are decoded by a table to float16 (a 16-entry NF4 table holds fp16
    # values in bitsandbytes' and QLoRA's kernels)
    return Operand("codebook", n, bpe, n, 0, True, decoded=operand(formats.get("float16")),
                   block_size=bsize, scale=scale, name=name)


def _generic(fmt, name: str) -> Operand:
    # a family without a cost rule (lattice formats, a user's own Format subclass): an integer
    # of its width, until a rule is written
    n = _int_bits(fmt)
    return Operand("int", n, float(fmt.bits_per_element), n, 0, True, name=name)


@functools.cache
def _rules() -> tuple:
    """(record class, summary function) pairs, most specific first."""
    from lowbit import formats

    return ((formats.FloatFormat, _float), (formats.IntFormat, _int),
            (formats.PositFormat, _posit), (formats.LNSFormat, _lns), (formats.LUQFormat, _luq),
            (formats.BlockFormat, _block), (formats.ScaledIntFormat, _scaled_int),
            (formats.CodebookFormat, _codebook))


@functools.lru_cache(maxsize=512)
def operand(fmt) -> Operand:
    """The :class:`Operand` summary of a format record (cached; records are hashable).

    Dispatches on the record's class (``FloatFormat``, ``IntFormat``, ``PositFormat``,
    ``LNSFormat``, ``LUQFormat``, ``BlockFormat``, ``ScaledIntFormat``, ``CodebookFormat``);
    any other ``formats.Format`` (lattice formats, a user's own family) is priced as an integer
    of its ``bits``.

    Raises:
        TypeError: ``fmt`` is not a ``formats.Format`` record.
    """
    from lowbit import formats

    if not isinstance(fmt, formats.Format):
        raise TypeError(f"a format record (a formats.Format) is needed, got {type(fmt).__name__}")
    name = str(getattr(fmt, "name", "") or "")  # informational; the base class has none
    for cls, rule in _rules():
        if isinstance(fmt, cls):
            return rule(fmt, name)
    return _generic(fmt, name)
