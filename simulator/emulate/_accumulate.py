"""Accumulator records and the array-generic "add, then round to the accumulator" step.

An accumulator is a format plus how its adder rounds and overflows. Accumulating in a format F
means: after every addition the running sum is rounded to F. The kernels here are written once
for ``xp = numpy`` and ``xp = jax.numpy`` (the JAX backend runs them under ``jax.enable_x64``);
both backends therefore give the same bits.

Float accumulators
    Values are carried in float64 arrays. ``acc + t`` (both float64, ``t`` exact) is first formed
    *rounded to odd* in float64 with an error-free transformation (Knuth's TwoSum: the rounding
    error of a float64 addition is itself a float64), then rounded once to F with the chosen mode.
    Rounding to odd at precision p ≥ q + 2 followed by any rounding to precision q gives the
    correctly rounded result of the exact sum (Boldo & Melquiond, "Emulation of FMA and
    correctly rounded sums: proved algorithms using rounding to odd", IEEE Trans. Computers
    57(4), 2008, Theorem 1) -- hence the precision limit of 51 bits. float64 itself is supported
    with round-to-nearest-even (the native addition).

Integer accumulators
    Values are carried in int64 arrays. ``wrap`` reduces modulo 2^width into the two's-complement
    (or unsigned) range after each addition -- since that is a ring homomorphism, wrapping after
    every addition equals wrapping once at the end, in any order. ``saturate`` clamps after each
    addition (order matters).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from lowbit import formats
from lowbit.formats import ROUNDINGS, FloatFormat, Format, IntFormat, get, make_options
from lowbit.formats.backend import bitcast

__all__ = ["Accumulator", "as_accumulator", "FP8_TENSOR_CORE_ACCUMULATOR", "INT_OVERFLOWS",
           "FLOAT_OVERFLOWS", "value_dtype"]

INT_OVERFLOWS = ("wrap", "saturate")
FLOAT_OVERFLOWS = (None, "saturate", "inf", "nan")

#: Largest accumulator precision (significand bits incl. the implicit one) that the float64
#: round-to-odd step rounds correctly: 53 − 2 (Boldo & Melquiond 2008, Theorem 1).
MAX_PRECISION = 51


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """Where partial sums live: a format, the rounding of its adder and its overflow rule.

    Args:
        format: a :class:`formats.FloatFormat` (signed) or :class:`formats.IntFormat`, or a
            registered name (``"float32"``, ``"bfloat16"``, ``"int32"``, ...).
        rounding: for float accumulators, one of ``formats.ROUNDINGS`` except ``"stochastic"``
            (default ``"nearest_even"``, as IEEE 754 adders). Integer accumulators add exactly
            and must keep the default.
        overflow: integer accumulators: ``"wrap"`` (default, two's-complement hardware) or
            ``"saturate"``. Float accumulators: ``None`` (the format's natural behaviour: Inf
            where it has Inf, else NaN, else saturate), ``"saturate"``, ``"inf"`` or ``"nan"``.

    Float accumulators need precision ≤ 51 bits and an exponent range inside float64's normal
    range (every IEEE/OCP/custom format up to 32 bits qualifies), or exactly float64 with
    round-to-nearest-even.

    Raises:
        ValueError: naming the field and the allowed values.
    """

    format: Format
    rounding: str = "nearest_even"
    overflow: str | None = None

    def __post_init__(self):
        fmt = self.format
        if isinstance(fmt, str):
            fmt = get(fmt)
            object.__setattr__(self, "format", fmt)
        if isinstance(fmt, IntFormat):
            if self.overflow is None:
                object.__setattr__(self, "overflow", "wrap")
            if self.overflow not in INT_OVERFLOWS:
                raise ValueError(f"overflow for an integer accumulator must be one of {INT_OVERFLOWS}, "
                                 f"got {self.overflow!r}")
            if self.rounding != "nearest_even":
                raise ValueError("rounding is only used by float accumulators (integer sums are exact); "
                                 f"got rounding={self.rounding!r} for {fmt}")
            return
        if not isinstance(fmt, FloatFormat):
            raise ValueError(f"format must be a FloatFormat or IntFormat accumulator, got {type(fmt).__name__}")
        if not fmt.signed:
            raise ValueError(f"a float accumulator must be signed, got {fmt}")
        if self.rounding not in ROUNDINGS or self.rounding == "stochastic":
            allowed = tuple(r for r in ROUNDINGS if r != "stochastic")
            raise ValueError(f"rounding must be one of {allowed}, got {self.rounding!r}")
        if self.overflow not in FLOAT_OVERFLOWS:
            raise ValueError(f"overflow for a float accumulator must be one of {FLOAT_OVERFLOWS}, "
                             f"got {self.overflow!r}")
        make_options(fmt, rounding=self.rounding, overflow=self.overflow)  # inf/nan availability
        if self.is_float64:
            if self.rounding != "nearest_even" or self.overflow not in (None, "inf"):
                raise ValueError("a float64 accumulator supports only rounding='nearest_even' and the "
                                 "natural overflow (Inf)")
            return
        if fmt.precision > MAX_PRECISION:
            raise ValueError(f"float accumulators need precision <= {MAX_PRECISION} bits (or float64 "
                             f"itself); {fmt} has {fmt.precision}")
        if fmt.emax > 1000 or fmt.emin - fmt.mantissa_bits < -1000:
            raise ValueError(f"the exponent range of accumulator {fmt} exceeds what float64 carries "
                             "exactly (|exponent| <= 1000)")
        if not fmt.subnormals:
            raise ValueError(f"accumulator {fmt} has no subnormals; use flush-free formats")

    # ----------------------------------------------------------------- properties
    @property
    def is_int(self) -> bool:
        return isinstance(self.format, IntFormat)

    @property
    def is_float64(self) -> bool:
        f = self.format
        return isinstance(f, FloatFormat) and (f.exponent_bits, f.mantissa_bits, f.bias, f.specials) == (
            11, 52, 1023, "ieee")

    @property
    def is_float32_native(self) -> bool:
        """float32 with IEEE round-to-nearest-even and overflow to Inf: what a float32 adder does."""
        f = self.format
        return (isinstance(f, FloatFormat) and (f.exponent_bits, f.mantissa_bits, f.bias, f.specials)
                == (8, 23, 127, "ieee") and f.subnormals and self.rounding == "nearest_even"
                and self.overflow in (None, "inf"))

    @property
    def options(self):
        """The :class:`formats.Options` of the rounding step (float accumulators)."""
        return make_options(self.format, rounding=self.rounding, overflow=self.overflow)

    def __str__(self) -> str:
        extra = []
        if self.rounding != "nearest_even":
            extra.append(self.rounding)
        if self.overflow not in (None, "wrap"):
            extra.append(self.overflow)
        return str(self.format) + (f"[{', '.join(extra)}]" if extra else "")


def resolve_format(fmt, param: str) -> Format:
    """The record of ``fmt`` (a format record or a registered name), with errors that name the
    parameter ``param``.

    Raises:
        formats.UnknownFormatError: an unknown name (a ValueError and a KeyError).
        TypeError: neither a record nor a string.
    """
    if isinstance(fmt, Format):
        return fmt
    if isinstance(fmt, str):
        try:
            return get(fmt)
        except formats.UnknownFormatError as exc:
            raise formats.UnknownFormatError(f"{param}: {exc}") from None
    raise TypeError(f"{param} must be a format record or a registered name, got {type(fmt).__name__}")


def as_accumulator(spec, *, param: str = "accumulator") -> Accumulator:
    """An :class:`Accumulator` from an Accumulator, a format record or a registered name.

    Raises:
        TypeError: for any other type; ValueError / KeyError from the record and the registry
            (naming ``param``).
    """
    if isinstance(spec, Accumulator):
        return spec
    if isinstance(spec, (Format, str)):
        fmt = resolve_format(spec, param)
        try:
            return Accumulator(fmt)
        except ValueError as exc:
            raise ValueError(f"{param}: {exc}") from None
    raise TypeError(f"{param} must be an Accumulator, a format record or a registered name, "
                    f"got {type(spec).__name__}")


#: A 22-bit float (1 sign, 8 exponent, 13 mantissa bits: 14 bits of precision) with truncation,
#: a model of the accumulator of FP8 tensor-core MMA on Hopper. Sources: DeepSeek-V3 Technical
#: Report (arXiv 2412.19437), §3.3.2 "Increasing Accumulation Precision" — "the accumulation
#: precision of FP8 GEMM on NVIDIA H800 GPUs is limited to retaining around 14 bits", promoted
#: to FP32 every N_C = 128 elements; SageAttention2 (arXiv 2411.10958) reports the accumulator of
#: ``mma.f32.f8.f8.f32`` to be FP22 (1-8-13) and accumulates in an FP32 buffer (two-level).
#: NVIDIA does not document the datapath (alignment, truncation), so this is a model.
FP8_TENSOR_CORE_ACCUMULATOR = Accumulator(FloatFormat(8, 13, name="float22_e8m13"), rounding="toward_zero")


def value_dtype(acc: Accumulator) -> np.dtype:
    """The NumPy dtype that results in ``acc`` are returned as.

    float32 when every value of the float format is a float32, else float64; int32 for signed
    integer accumulators and unsigned ones up to 31 bits, uint32 for uint32.
    """
    f = acc.format
    if isinstance(f, IntFormat):
        if f.signed or f.bits <= 31:
            return np.dtype(np.int32)
        return np.dtype(np.uint32)
    from lowbit import formats

    return np.dtype(formats.decode_dtype(f))


# ============================================================================ array kernels
def _bits64(xp, x):
    return bitcast(x, "int64")


def _from_bits64(xp, b):
    return bitcast(b, "float64")


def two_sum(xp, a, b):
    """(s, e) with s = fl(a + b) and s + e = a + b exactly (Knuth's TwoSum; float64)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def sum_round_to_odd(xp, a, b):
    """The float64 nearest to the exact ``a + b`` whose last significand bit is odd, unless the
    sum is exact (then the sum itself). Non-finite sums pass through."""
    s, e = two_sum(xp, a, b)
    e = xp.where(xp.isfinite(s), e, 0.0)
    bits = _bits64(xp, s)
    even = (bits & 1) == 0
    # e and s have the same sign -> the exact sum is larger in magnitude -> step the bits up
    same = (e > 0) == (s > 0)
    step = xp.where(same, 1, -1).astype(bits.dtype)
    bits = xp.where((e != 0) & even, bits + step, bits)
    return _from_bits64(xp, bits)


def _quantize(xp, x, fmt, opts):
    """Round float64 ``x`` to ``fmt`` (values as float64), with the public verb on both backends
    (NumPy: Numba kernels for large arrays; JAX: the compiled kernel, inlined in the caller's
    jit)."""
    return formats.quantize(x, fmt, rounding=opts.rounding, overflow=opts.overflow)


def round_to(xp, x, acc: Accumulator):
    """Round exact values ``x`` (float64 or int64) into accumulator ``acc`` (one rounding)."""
    if acc.is_int:
        return _int_fit(xp, x, acc)
    if acc.is_float64:
        return x
    return _quantize(xp, x, acc.format, acc.options)


def _int_fit(xp, x, acc: Accumulator):
    f: Any = acc.format  # an IntFormat (checked where the Accumulator is built)
    if acc.overflow == "saturate":
        return xp.clip(x, f.min, f.max)
    w = f.bits
    mask = (1 << w) - 1
    if w == 64:  # pragma: no cover - IntFormat is at most 32 bits
        return x
    if f.signed:
        half = 1 << (w - 1)
        return ((x + half) & mask) - half
    return x & mask


def add_round(xp, acc_vals, t, acc: Accumulator):
    """``round_acc(acc_vals + t)`` elementwise: one adder step of accumulator ``acc``.

    Args:
        acc_vals: current sums (float64 holding values of the float format, or int64).
        t: exact addends (float64 or int64, same kind).

    IEEE 754 §6.3 sign of an exact zero sum: +0, except −0 under rounding ``down``; (−0) + (−0)
    is −0 in every mode.
    """
    if acc.is_int:
        return _int_fit(xp, acc_vals + t, acc)
    if acc.is_float64:
        return acc_vals + t
    if acc.is_float32_native and xp is np:
        ro = sum_round_to_odd(xp, acc_vals, t)
        with np.errstate(over="ignore"):
            return ro.astype(np.float32).astype(np.float64)
    ro = sum_round_to_odd(xp, acc_vals, t)
    out = _quantize(xp, ro, acc.format, acc.options)
    if acc.rounding == "down":
        both_pos_zero = (acc_vals == 0) & ~xp.signbit(acc_vals) & (t == 0) & ~xp.signbit(t)
        out = xp.where((out == 0) & (ro == 0) & ~both_pos_zero, -0.0, out)
    return out


def tree_reduce(xp, terms, acc: Accumulator):
    """Pairwise (balanced binary tree) sum of ``terms`` along the last axis, each adder rounding
    to ``acc``: level by level, neighbours (2i, 2i+1) are added; an odd last term moves up
    unchanged. The root is finally rounded into the accumulator register. Zero terms → +0."""
    n = terms.shape[-1]
    if n == 0:
        return xp.zeros(terms.shape[:-1], dtype=terms.dtype)
    x = terms
    while x.shape[-1] > 1:
        L = x.shape[-1]
        pairs = add_round(xp, x[..., 0:L - 1:2], x[..., 1:L:2], acc)
        x = xp.concatenate([pairs, x[..., L - 1:]], axis=-1) if L % 2 else pairs
    return round_to(xp, x[..., 0], acc)


def zeros_like_acc(xp, shape, acc: Accumulator):
    return xp.zeros(shape, dtype=xp.int64 if acc.is_int else xp.float64)


def precision_bits(fmt) -> tuple[int, int, int]:
    """(p, qexp, emax1) of a scalar format: every value is n·2^e with |n| < 2^p, e ≥ qexp, and
    |value| < 2^emax1."""
    if isinstance(fmt, IntFormat):
        top = max(abs(fmt.min), fmt.max)
        p = max(top.bit_length(), 1)
        return p, 0, p
    if isinstance(fmt, FloatFormat):
        return fmt.precision, fmt.emin - fmt.mantissa_bits, fmt.emax + 1
    if getattr(fmt, "family", None) == "lns" and fmt.frac_bits == 0:  # 0 and ±2^k, k in [log2_min, log2_max]
        return 1, int(fmt.log2_min), int(fmt.log2_max) + 1
    raise ValueError(f"no exact precision bounds for {type(fmt).__name__} {fmt}: values must be binary "
                     "fractions (integer, float or power-of-two formats)")


def log2_ceil(x: float) -> int:
    return 0 if x <= 1 else math.ceil(math.log2(x))
