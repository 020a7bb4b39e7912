"""Format records: frozen, hashable descriptions of scalar number formats.

A record is data. Every derived quantity (``max``, ``smallest_normal``, ``eps``, the NaN codes, ...)
is a property computed from the fields; nothing is typed in per format. Records are usable as
dict keys and as ``jax.jit`` static arguments.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from ._modes import SPECIALS

__all__ = ["NumberFormat", "Format", "FloatFormat", "IntFormat", "SPECIALS", "CodeSet"]


class CodeSet(tuple):
    """An immutable, ascending set of codes stored as disjoint ``range`` objects.

    Behaves like a sequence of ints (``in``, ``len``, iteration, indexing via ``list(...)``)
    without enumerating the codes, so it stays cheap for float32/float64 NaN sets.
    """

    def __new__(cls, ranges=()):
        return super().__new__(cls, tuple(r for r in ranges if len(r)))

    def __contains__(self, code) -> bool:
        return any(code in r for r in tuple.__iter__(self))

    def __len__(self) -> int:
        return sum(len(r) for r in tuple.__iter__(self))

    def __iter__(self):
        for r in tuple.__iter__(self):
            yield from r

    def __getitem__(self, i):
        return list(self)[i]

    def __eq__(self, other) -> bool:
        try:
            return list(self) == list(other) if len(self) < 4096 else tuple.__eq__(self, other)
        except TypeError:
            return NotImplemented

    def __hash__(self):
        return tuple.__hash__(self)

    def __repr__(self) -> str:
        if len(self) <= 8:
            return repr(tuple(self))
        return "CodeSet(" + ", ".join(f"{r.start:#x}..{r.stop - 1:#x}" for r in tuple.__iter__(self)) + ")"


def _to_float(v) -> float:
    """``v`` (Fraction, int or float) as the nearest float64, ±inf beyond float64's range."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _require_int(name: str, value, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be {rng}, got {value}")


@runtime_checkable
class NumberFormat(Protocol):
    """The declared contract of a format record: what every record of every family provides
    (``isinstance(record, NumberFormat)`` checks it at run time; every record class derives
    from :class:`Format`, which supplies the defaults).

    Names follow ``numpy.finfo`` / ``numpy.iinfo``: ``bits`` is the total width of one code on
    every record — there is no ``width`` or ``nbits``.

    Attributes:
        name: registry name (informational; ``""`` for unnamed records).
        family: the family tag (``"float"``, ``"int"``, ``"block"``, ``"scaled"``,
            ``"codebook"``, ``"posit"``, ``"lns"``, ``"luq"``, ``"lattice"``).
        bits: width of one code, in bits (for block and scaled formats: of one element code).
        bits_per_element: storage bits per element, every scale included (MXFP4: 4.25).
        max: largest finite value, or None when the format alone does not fix it (a per-tensor
            scale or a lattice's shaping decides).
        min: most negative finite value (0 for unsigned formats), or None likewise.
        smallest_normal: smallest positive normal value (``numpy.finfo.smallest_normal``), or
            None where the format has no normal/subnormal distinction of its own.
        smallest_subnormal: smallest positive subnormal value, None when the format has none.
        eps: distance from 1.0 to the next larger value, or None where 1.0 is not a value or
            the gap is not a property of the format alone.
        has_inf, has_nan: whether some code decodes to ±Inf / NaN.
        unused_codes: codes of the format's width that encoding never produces (a
            :class:`CodeSet`, usually empty).
    """

    name: str
    family: str

    @property
    def bits(self) -> int: ...

    @property
    def bits_per_element(self) -> float: ...

    @property
    def max(self) -> float | None: ...

    @property
    def min(self) -> float | None: ...

    @property
    def smallest_normal(self) -> float | None: ...

    @property
    def smallest_subnormal(self) -> float | None: ...

    @property
    def eps(self) -> float | None: ...

    @property
    def has_inf(self) -> bool: ...

    @property
    def has_nan(self) -> bool: ...

    @property
    def unused_codes(self) -> CodeSet: ...


class Format:
    """Base of every format record (scalar, block, posit, LNS, codebook, lattice): the defaults
    of :class:`NumberFormat` (None for the quantities a family does not define by itself).

    Subclasses are frozen dataclasses with a ``bits`` field or property. ``name`` is
    informational: two records with the same fields but different names compare unequal only by
    name, so the registry's records are the canonical instances.
    """

    #: Family tag used by the codec dispatcher (one entry per record class).
    family: ClassVar[str] = "abstract"

    if TYPE_CHECKING:  # every subclass has these as dataclass fields or properties
        name: str

        @property
        def bits(self) -> int: ...

    @property
    def bits_per_element(self) -> float:
        """Storage bits per element, scales included (equals ``bits`` for scalar formats)."""
        return float(self.bits)

    @property
    def max(self) -> float | None:
        """Largest finite value; None when the format alone does not fix it."""
        return None

    @property
    def min(self) -> float | None:
        """Most negative finite value; None when the format alone does not fix it."""
        return None

    @property
    def smallest_normal(self) -> float | None:
        """Smallest positive normal value; None where the family has no such notion."""
        return None

    @property
    def min_normal(self) -> float | None:
        """Alias of :attr:`smallest_normal` (the name of earlier lowbit versions; ``numpy.finfo``
        keeps ``tiny`` the same way)."""
        return self.smallest_normal

    @property
    def smallest_subnormal(self) -> float | None:
        """Smallest positive subnormal value; None when the format has none."""
        return None

    @property
    def eps(self) -> float | None:
        """Distance from 1.0 to the next larger value; None where not defined by the format."""
        return None

    @property
    def unused_codes(self) -> CodeSet:
        """Codes of the format's width that are no value: encoding never produces them,
        :func:`formats.values` holds NaN at them and :func:`formats.decode` gives NaN for them
        (e.g. the most negative code of a symmetric ``narrow`` integer format, the codes of a
        codebook beyond its levels). Empty for most formats."""
        return CodeSet()

    def __str__(self) -> str:
        return getattr(self, "name", "") or repr(self)


@dataclasses.dataclass(frozen=True)
class FloatFormat(Format):
    """A binary floating-point format with ``exponent_bits`` and ``mantissa_bits``.

    Value of a code with sign s, exponent field E and mantissa field M:

    * normal (E ≥ 1, or any E when ``subnormals`` is False):  (−1)^s · (1 + M/2^m) · 2^(E − bias)
    * subnormal (E = 0, ``subnormals`` True):                 (−1)^s · (M/2^m) · 2^(1 − bias)
    * code with E = 0 and M = 0 is zero unless ``subnormals`` is False and m = 0 (as in E8M0,
      which has no zero); this follows gfloat's ``FormatInfo`` conventions.

    Ranges wider than float64's are allowed when they contain 1 (P3109 formats with k − p ≥ 11,
    up to 2^±32767): every float64 input lies inside them, ``value_of_code`` is exact, and the
    float properties (``max``, ``smallest_normal``, ...) and decoded values are float64 roundings
    (±inf / 0 beyond float64's range).

    Args:
        exponent_bits: width of the exponent field, 1..16 (above 11 only for ranges wider than
            float64's, see below).
        mantissa_bits: width of the trailing significand field, 0..52.
        bias: exponent bias; default ``2**(exponent_bits-1) - 1`` (IEEE).
        signed: whether a sign bit is present.
        subnormals: whether E = 0 encodes subnormals (True) or normals with exponent −bias.
        specials: special-value family, one of :data:`SPECIALS`.
        name: registry name (informational).

    Raises:
        ValueError: naming the field, when a parameter is out of range or inconsistent.
    """

    exponent_bits: int
    mantissa_bits: int
    bias: int = None  # type: ignore[assignment]  # None: the IEEE bias, set in __post_init__
    signed: bool = True
    subnormals: bool = True
    specials: str = "ieee"
    name: str = dataclasses.field(default="", compare=False)

    family: ClassVar[str] = "float"

    def __post_init__(self):
        _require_int("exponent_bits", self.exponent_bits, 1, 16)
        _require_int("mantissa_bits", self.mantissa_bits, 0, 52)
        if self.bias is None:
            object.__setattr__(self, "bias", 2 ** (self.exponent_bits - 1) - 1)
        _require_int("bias", self.bias, -(2**16), 2**16)
        if not isinstance(self.signed, bool):
            raise ValueError(f"signed must be a bool, got {self.signed!r}")
        if not isinstance(self.subnormals, bool):
            raise ValueError(f"subnormals must be a bool, got {self.subnormals!r}")
        if self.specials not in SPECIALS:
            raise ValueError(f"specials must be one of {SPECIALS}, got {self.specials!r}")
        if self.specials == "fnuz" and not self.signed:
            raise ValueError(f"specials={self.specials!r} needs signed=True (its NaN is the −0 code)")
        if self.specials == "ieee" and self.exponent_bits < 2:
            raise ValueError("specials='ieee' needs exponent_bits >= 2")
        if self.specials in ("fnuz", "p3109") and not self.subnormals and self.mantissa_bits == 0:
            raise ValueError(f"specials={self.specials!r} needs a zero (code 0); "
                             "use subnormals=True or mantissa_bits >= 1")
        if self.specials == "ieee" and self.mantissa_bits < 1:
            raise ValueError("specials='ieee' needs mantissa_bits >= 1 (its NaNs have a nonzero "
                             "mantissa); use specials='p3109' or 'fn' for an m = 0 format")
        if self.bits > 64:
            raise ValueError(f"total width {self.bits} exceeds 64 bits")
        if self.specials == "p3109" and self.emax < self.emin:
            pass  # tiny P3109 formats: finite values all subnormal (K2P2 unsigned: 0, 0.5), or
            #       none but zero (K2P1 signed: 0, ±Inf, NaN)
        elif self.emax < self.emin:
            raise ValueError("exponent_bits/specials leave no finite normal binade")
        # Values beyond float64's range exist only for wide exponent fields (P3109 formats with
        # k − p ≥ 11): they are allowed when the range contains 1, so that every float64 input
        # lies inside it; their float properties and decoded values are float64 roundings.
        if (self.emax > 1023 or self.emin - self.mantissa_bits < -1074) and not (
            self.emin <= 0 <= self.emax and self.emax <= 1 << 16 and self.emin >= -(1 << 16)
        ):
            raise ValueError(f"bias={self.bias} puts values outside float64's range "
                             f"(2^{self.emin - self.mantissa_bits} .. 2^{self.emax + 1})")

    # ----------------------------------------------------------------- fields
    @property
    def bits(self) -> int:
        """Total width in bits."""
        return int(self.signed) + self.exponent_bits + self.mantissa_bits

    @property
    def precision(self) -> int:
        """Significand precision p = mantissa_bits + 1 (implicit bit included)."""
        return self.mantissa_bits + 1

    @property
    def num_codes(self) -> int:
        return 1 << self.bits

    @property
    def sign_mask(self) -> int:
        """Code bit of the sign (0 for unsigned formats)."""
        return (1 << (self.bits - 1)) if self.signed else 0

    @property
    def magnitude_mask(self) -> int:
        return (1 << (self.exponent_bits + self.mantissa_bits)) - 1

    # ---------------------------------------------------------- exponent range
    @property
    def emin(self) -> int:
        """Exponent of the smallest normal binade (1 − bias, or −bias without subnormals)."""
        return 1 - self.bias if self.subnormals else -self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest finite binade (the exponent field of :attr:`max_code`)."""
        return ((self.max_code & self.magnitude_mask) >> self.mantissa_bits) - self.bias

    @property
    def max_code(self) -> int:
        """Code of the largest finite positive value."""
        mag = self.magnitude_mask
        if self.specials == "ieee":
            mag = ((1 << self.exponent_bits) - 1) << self.mantissa_bits
            mag -= 1
        elif self.specials == "fn" or (self.specials == "p3109" and self.signed):
            mag -= 1
        elif self.specials == "p3109":  # unsigned: NaN, then +Inf at the top
            mag -= 2
        return mag

    @property
    def max(self) -> float:
        """Largest finite value (as a float64; ``inf`` for the P3109 formats whose largest
        value exceeds float64's range)."""
        return _to_float(self.value_of_code(self.max_code))

    @property
    def min(self) -> float:
        """Most negative finite value (0 or the smallest positive value for unsigned formats)."""
        if self.signed:
            return -self.max
        return _to_float(self.value_of_code(0))

    @property
    def has_zero(self) -> bool:
        return self.subnormals or self.mantissa_bits > 0

    @property
    def smallest_normal(self) -> float:
        """Smallest positive normal value, 2^emin; for formats without subnormals whose code 0
        is zero, the smallest positive value (code 1). (0.0 when below float64's range.)"""
        if self.subnormals or self.mantissa_bits == 0:
            return math.ldexp(1.0, self.emin)
        return _to_float(self.value_of_code(1))

    @property
    def smallest_subnormal(self) -> float | None:
        """Smallest positive subnormal 2^(emin − m); None when the format has none."""
        if not self.subnormals or self.mantissa_bits == 0:
            return None
        return math.ldexp(1.0, self.emin - self.mantissa_bits)

    @property
    def smallest_positive(self) -> float:
        """Smallest positive value (subnormal if the format has them)."""
        s = self.smallest_subnormal
        return self.smallest_normal if s is None else s

    @property
    def eps(self) -> float:
        """Distance from 1.0 to the next larger value, 2^−m."""
        return math.ldexp(1.0, -self.mantissa_bits)

    @property
    def resolution(self) -> float:
        """10^−(decimal digits of precision), as ``numpy.finfo.resolution``."""
        return 10.0 ** -math.floor(self.mantissa_bits * math.log10(2))

    # ---------------------------------------------------------------- specials
    @property
    def has_inf(self) -> bool:
        return self.specials in ("ieee", "p3109")

    @property
    def has_nan(self) -> bool:
        return self.specials != "none"

    @property
    def has_negative_zero(self) -> bool:
        return self.signed and self.has_zero and self.specials not in ("fnuz", "p3109")

    @property
    def nan_codes(self) -> CodeSet:
        """Every code that decodes to NaN, ascending (a :class:`CodeSet`)."""
        m, mag, sm = self.mantissa_bits, self.magnitude_mask, self.sign_mask
        if self.specials == "ieee":
            top = ((1 << self.exponent_bits) - 1) << m
            mags = range(top + 1, top + (1 << m))
        elif self.specials == "fn" or (self.specials == "p3109" and not self.signed):
            mags = range(mag, mag + 1)
        elif self.specials in ("fnuz", "p3109"):
            return CodeSet([range(sm, sm + 1)])
        else:
            return CodeSet()
        neg = [range(mags.start | sm, (mags.stop - 1 | sm) + 1)] if self.signed else []
        return CodeSet([mags] + neg)

    @property
    def inf_codes(self) -> tuple[int, ...]:
        """(+Inf code, −Inf code) or () when the format has no Inf."""
        if self.specials == "ieee":
            pos = ((1 << self.exponent_bits) - 1) << self.mantissa_bits
        elif self.specials == "p3109":
            pos = self.magnitude_mask if self.signed else self.magnitude_mask - 1
        else:
            return ()
        return (pos, pos | self.sign_mask) if self.signed else (pos,)

    @property
    def nan_code(self) -> int | None:
        """The canonical NaN code produced by encoding (positive quiet NaN), or None."""
        if self.specials == "ieee":
            return (((1 << self.exponent_bits) - 1) << self.mantissa_bits) | (
                1 << max(self.mantissa_bits - 1, 0)
            )
        if self.specials == "fn" or (self.specials == "p3109" and not self.signed):
            return self.magnitude_mask
        if self.specials in ("fnuz", "p3109"):
            return self.sign_mask
        return None

    # ------------------------------------------------------------ exact values
    def value_of_code(self, code: int) -> Fraction | float:
        """Exact value of ``code``: a Fraction for finite values, ±inf or nan otherwise.

        This is the slow, obviously-correct reference decoder the fast paths are tested
        against.

        Raises:
            ValueError: if ``code`` is not in ``[0, num_codes)``.
        """
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < self.num_codes:
            raise ValueError(f"code must be an int in [0, {self.num_codes}), got {code!r}")
        if code in self.nan_codes:
            return math.nan
        negative = bool(code & self.sign_mask)
        if code in self.inf_codes:
            return -math.inf if negative else math.inf
        mag = code & self.magnitude_mask
        e_field, m_field = mag >> self.mantissa_bits, mag & ((1 << self.mantissa_bits) - 1)
        scale = Fraction(1, 1 << self.mantissa_bits)
        if e_field == 0 and self.subnormals:
            v = m_field * scale * Fraction(2) ** (1 - self.bias)
        elif e_field == 0 and m_field == 0 and self.mantissa_bits > 0:
            v = Fraction(0)
        else:
            v = (1 + m_field * scale) * Fraction(2) ** (e_field - self.bias)
        return -v if negative else v


@dataclasses.dataclass(frozen=True)
class IntFormat(Format):
    """A fixed-width integer format (two's complement when signed).

    Args:
        bits: width in bits, 1..32.
        signed: two's complement (True) or unsigned.
        narrow: symmetric range: the most negative code (1 followed by zeros, −2^(w−1) in two's
            complement) is unused (:attr:`unused_codes`), so the range is ±(2^(w−1) − 1), as
            symmetric INT quantizers use. Encoding never produces it; its value is NaN
            (``value_of_code``, :func:`formats.values`, :func:`formats.decode`).
        name: registry name (informational).

    Raises:
        ValueError: naming the field.
    """

    bits: int
    signed: bool = True
    narrow: bool = False
    name: str = dataclasses.field(default="", compare=False)

    family: ClassVar[str] = "int"

    def __post_init__(self):
        _require_int("bits", self.bits, 1, 32)
        if not isinstance(self.signed, bool):
            raise ValueError(f"signed must be a bool, got {self.signed!r}")
        if not isinstance(self.narrow, bool):
            raise ValueError(f"narrow must be a bool, got {self.narrow!r}")
        if self.narrow and not self.signed:
            raise ValueError("narrow=True needs signed=True")
        if self.narrow and self.bits < 2:
            raise ValueError("narrow=True needs bits >= 2")

    @property
    def num_codes(self) -> int:
        return 1 << self.bits

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def min(self) -> int:
        if not self.signed:
            return 0
        return -self.max if self.narrow else -(1 << (self.bits - 1))

    @property
    def smallest_normal(self) -> int:
        return 1

    @property
    def smallest_subnormal(self) -> None:
        return None

    @property
    def smallest_positive(self) -> int:
        return 1

    @property
    def eps(self) -> int:
        return 1

    @property
    def bias(self) -> int:
        return 0

    @property
    def unused_codes(self) -> CodeSet:
        """The most negative code of a ``narrow`` format; empty otherwise."""
        if not self.narrow:
            return CodeSet()
        c = 1 << (self.bits - 1)
        return CodeSet([range(c, c + 1)])

    has_zero: ClassVar[bool] = True
    has_inf: ClassVar[bool] = False
    has_nan: ClassVar[bool] = False
    has_negative_zero: ClassVar[bool] = False
    nan_codes: ClassVar[tuple] = ()
    inf_codes: ClassVar[tuple] = ()
    nan_code: ClassVar[None] = None

    def value_of_code(self, code: int) -> Fraction | float:
        """Exact value of ``code`` (two's complement when signed); nan for the unused code of a
        ``narrow`` format.

        Raises:
            ValueError: if ``code`` is not in ``[0, num_codes)``.
        """
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < self.num_codes:
            raise ValueError(f"code must be an int in [0, {self.num_codes}), got {code!r}")
        if self.narrow and code == 1 << (self.bits - 1):
            return math.nan
        if self.signed and code >> (self.bits - 1):
            code -= 1 << self.bits
        return Fraction(code)
