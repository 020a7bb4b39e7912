"""INT GEMM with int32 accumulation and requantization by a dyadic multiplier.

Integer inference engines (gemmlowp, TFLite, ruy, QNNPACK, CMSIS-NN) scale an int32 accumulator
back to 8 bits without floating point: the real multiplier s = s_a · s_b / s_out is stored as a
*dyadic* number m0 · 2^(shift − 31) with m0 a 31-bit integer in [2^30, 2^31)
(:func:`quantize_multiplier`), and applied with integer multiply, rounding and shifts.

Methods (``method=``):

``"gemmlowp"``
    TFLite's reference ``MultiplyByQuantizedMultiplier`` (tensorflow/lite/kernels/internal/
    common.h) built from gemmlowp's ``SaturatingRoundingDoublingHighMul`` and
    ``RoundingDivideByPOT`` (gemmlowp fixedpoint/fixedpoint.h): two roundings — the high
    half of the doubled 64-bit product rounded to nearest by a "nudge" and C's truncating
    division (ties toward +∞: 1.5 → 2, −1.5 → −1), then a rounding arithmetic right shift
    (ties away from zero). Can differ by one from the single correct rounding.
``"single_rounding"``
    TFLite's ``TFLITE_SINGLE_ROUNDING`` variant: (x · m0 + 2^(n−1)) >> n with n = 31 − shift,
    one rounding, ties toward +∞.
``"exact"``
    x · m0 · 2^(shift−31) rounded once to nearest, ties to even (the mathematically clean
    reference the other two approximate).

Then the output zero point is added and the result clamped to the output format's range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lowbit.formats import IntFormat, get

__all__ = ["quantize_multiplier", "requantize", "int_gemm", "REQUANT_METHODS"]

REQUANT_METHODS = ("gemmlowp", "single_rounding", "exact")

_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


def quantize_multiplier(real_multiplier: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(m0, shift) with real ≈ m0 · 2^(shift − 31), m0 in [2^30, 2^31) or 0.

    TFLite ``QuantizeMultiplier`` (tensorflow/lite/kernels/internal/quantization_util.cc):
    frexp, m0 = round(q · 2^31) (half away from zero), m0 = 2^31 → 2^30 with shift + 1, and
    shifts below −31 flush the multiplier to 0.

    Args:
        real_multiplier: non-negative float or array (per-tensor or per-channel).

    Returns:
        (m0, shift) int64 arrays of the input's shape.

    Raises:
        ValueError: for negative, NaN or infinite multipliers, or multipliers ≥ 2^31.
    """
    r = np.asarray(real_multiplier, dtype=np.float64)
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("real_multiplier must be finite and non-negative")
    q, shift = np.frexp(r)
    m0 = np.floor(np.abs(q) * 2.0**31 + 0.5).astype(np.int64)  # exact: q·2^31 < 2^31
    carry = m0 == (1 << 31)
    m0 = np.where(carry, m0 // 2, m0)
    shift = shift.astype(np.int64) + carry
    small = shift < -31
    m0 = np.where(small | (r == 0), 0, m0)
    shift = np.where(small | (r == 0), 0, shift)
    if np.any(shift > 31):
        raise ValueError("real_multiplier must be below 2^31")
    return m0, shift


def _trunc_div_pow2(v, n: int):
    """C integer division v / 2^n (truncation toward zero) on int64."""
    return np.where(v >= 0, v >> n, -((-v) >> n))


def _srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values held in int64."""
    overflow = (a == b) & (a == _I32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    r = _trunc_div_pow2(ab + nudge, 31)
    return np.where(overflow, _I32_MAX, r)


def _rdbpot(x, exponent):
    """gemmlowp RoundingDivideByPOT (exponent 0..31, per element)."""
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def _wrap32(x):
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def requantize(acc: ArrayLike, multiplier: ArrayLike | None = None, *, m0: ArrayLike | None = None,
               shift: ArrayLike | None = None, output_format: IntFormat | str = "int8", zero_point: ArrayLike = 0,
               method: str = "gemmlowp") -> np.ndarray:
    """Scale int32 accumulators to an integer output format by a dyadic multiplier.

    Args:
        acc: int32 accumulator values (any integer array; must lie in int32).
        multiplier: the real multiplier s_a·s_b/s_out (float or array broadcasting against
            ``acc``, e.g. one per output channel along the last axis), converted by
            :func:`quantize_multiplier`; or give ``m0`` and ``shift`` directly.
        m0, shift: the dyadic multiplier m0 · 2^(shift − 31) (integers or arrays).
        output_format: an :class:`formats.IntFormat` or its name (default ``int8``).
        zero_point: output zero point, added after scaling (before clamping).
        method: ``"gemmlowp"`` (default), ``"single_rounding"`` or ``"exact"`` (see module).

    Returns:
        int32 NumPy array of output values, clamped to the output format's range.

    Raises:
        ValueError: bad method, both or neither of ``multiplier`` and ``m0``/``shift``,
            accumulators outside int32, or a non-integer output format.
    """
    if method not in REQUANT_METHODS:
        raise ValueError(f"method must be one of {REQUANT_METHODS}, got {method!r}")
    out_fmt = get(output_format)
    if not isinstance(out_fmt, IntFormat):
        raise ValueError(f"output_format must be an IntFormat, got {out_fmt}")
    if (multiplier is None) == (m0 is None and shift is None):
        raise ValueError("give either multiplier or (m0, shift)")
    if multiplier is not None:
        m0, shift = quantize_multiplier(multiplier)
    elif m0 is None or shift is None:
        raise ValueError("m0 and shift must be given together")
    x = np.asarray(acc).astype(np.int64)
    if x.size and (x.min() < _I32_MIN or x.max() > _I32_MAX):
        raise ValueError("acc must hold int32 values")
    m0 = np.asarray(m0, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if np.any((m0 < 0) | (m0 > _I32_MAX)):
        raise ValueError("m0 must be in [0, 2^31)")
    if np.any((shift < -31) | (shift > 30)):
        raise ValueError("shift must be in [-31, 30]")
    if method == "gemmlowp":
        left = np.maximum(shift, 0)
        right = np.maximum(-shift, 0)
        y = _rdbpot(_srdhm(_wrap32(x << left), m0), right)
    elif method == "single_rounding":
        total = 31 - shift
        y = (x * m0 + (np.int64(1) << (total - 1))) >> total
    else:
        total = 31 - shift
        prod = x * m0  # exact: |x|, m0 < 2^31
        q = prod >> total
        rem = prod - (q << total)
        half = np.int64(1) << (total - 1)
        up = (rem > half) | ((rem == half) & ((q & 1) == 1))
        y = q + up
    y = y + np.asarray(zero_point, dtype=np.int64)
    return np.clip(y, out_fmt.min, out_fmt.max).astype(np.int32)


def int_gemm(a: ArrayLike, b: ArrayLike, *, a_format: IntFormat | str = "int8", b_format: IntFormat | str = "int8",
             a_zero_point: ArrayLike = 0, b_zero_point: ArrayLike = 0, bias: ArrayLike | None = None,
             accumulator: Any = "int32", multiplier: ArrayLike | None = None, m0: ArrayLike | None = None,
             shift: ArrayLike | None = None, output_format: IntFormat | str = "int8",
             output_zero_point: ArrayLike = 0, method: str = "gemmlowp", **matmul_kwargs: Any) -> np.ndarray:
    """Quantized integer GEMM as integer inference engines run it.

    acc = bias + Σ_k (a − a_zp)(b − b_zp) accumulated in ``accumulator`` (int32 with
    two's-complement wrap by default), then :func:`requantize` to ``output_format``.

    Args:
        a: integer values (..., M, K) of ``a_format`` (e.g. uint8 activations with a zero point).
        b: integer values (..., K, N) of ``b_format``.
        a_zero_point, b_zero_point: subtracted before multiplying (b's may be per output column).
        bias: int32 values broadcast to (..., M, N), the accumulator's starting value.
        accumulator: integer accumulator for :func:`simulator.matmul`.
        multiplier / m0, shift / output_format / output_zero_point / method: see
            :func:`requantize`. With neither ``multiplier`` nor ``m0``, the int32 accumulators
            are returned.
        **matmul_kwargs: passed to :func:`simulator.matmul` (``order``, ``k_chunk``, ...).

    Returns:
        int32 NumPy array (..., M, N): requantized outputs, or the accumulators.

    Raises:
        ValueError: values outside their formats, or from :func:`requantize`.
    """
    from ._matmul_dispatch import matmul

    fa, fb = get(a_format), get(b_format)
    for name, f in (("a_format", fa), ("b_format", fb)):
        if not isinstance(f, IntFormat):
            raise ValueError(f"{name} must be an IntFormat, got {f}")
    a = np.asarray(a)
    b = np.asarray(b)
    for name, v, f in (("a", a, fa), ("b", b, fb)):
        if v.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer array, got dtype {v.dtype}")
        if v.size and (v.min() < f.min or v.max() > f.max):
            raise ValueError(f"{name} holds values outside {f} [{f.min}, {f.max}]")
    za = np.asarray(a_zero_point, dtype=np.int64)
    zb = np.asarray(b_zero_point, dtype=np.int64)
    ad = a.astype(np.int64) - za
    bd = b.astype(np.int64) - zb
    # the hardware's subtractor widens by one bit
    wa = IntFormat(_width_for(ad, fa.bits + 1))
    wb = IntFormat(_width_for(bd, fb.bits + 1))
    acc = matmul(ad, bd, a_format=wa, b_format=wb, accumulator=accumulator, init=bias, **matmul_kwargs)
    if multiplier is None and m0 is None and shift is None:
        return acc
    return requantize(acc, multiplier, m0=m0, shift=shift, output_format=output_format,
                      zero_point=output_zero_point, method=method)


def _width_for(v, w: int) -> int:
    if v.size:
        need = max(int(v.max()).bit_length(), int(-v.min() - 1).bit_length() if v.min() < 0 else 0) + 1
        w = max(w, need)
    return min(max(w, 2), 32)

