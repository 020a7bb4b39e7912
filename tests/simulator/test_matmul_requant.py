"""INT GEMM + requantization: the dyadic multiplier of gemmlowp / TFLite.

Oracles: known answers of TFLite's ``QuantizeMultiplier`` (frexp, round half away); a literal
scalar transcription (Python ints, C truncating division) of gemmlowp's
``SaturatingRoundingDoublingHighMul`` and ``RoundingDivideByPOT``; exact ``fractions`` for the
single-rounding and exact methods.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowbit import simulator

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def c_div(a: int, b: int) -> int:
    """C/C++ integer division (truncation toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def srdhm(a: int, b: int) -> int:
    # gemmlowp fixedpoint/fixedpoint.h, SaturatingRoundingDoublingHighMul
    overflow = a == b == I32_MIN
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else (1 - (1 << 30))
    return I32_MAX if overflow else c_div(ab + nudge, 1 << 31)


def rdbpot(x: int, exponent: int) -> int:
    # gemmlowp fixedpoint/fixedpoint.h, RoundingDivideByPOT
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def tflite_mbqm(x: int, m0: int, shift: int) -> int:
    # tensorflow/lite/kernels/internal/common.h, MultiplyByQuantizedMultiplier
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    xs = ((x * (1 << left) + 2**31) % 2**32) - 2**31
    return rdbpot(srdhm(xs, m0), right)


@pytest.mark.parametrize("real, m0, shift", [
    (0.5, 2**30, 0), (1.0, 2**30, 1), (0.75, 3 * 2**29, 0), (0.25, 2**30, -1),
    (2.0**-40, 0, 0), (0.0, 0, 0), (1 - 2.0**-33, 2**30, 1),  # rounds up to 2^31, renormalised
])
def test_quantize_multiplier_known_answers(real, m0, shift):
    got_m0, got_shift = simulator.quantize_multiplier(real)
    assert (int(got_m0), int(got_shift)) == (m0, shift)


@settings(max_examples=100)
@given(st.floats(2.0**-30, 1000.0))
def test_quantize_multiplier_is_accurate(real):
    m0, shift = simulator.quantize_multiplier(real)
    assert 2**30 <= int(m0) < 2**31
    approx = Fraction(int(m0)) * Fraction(2) ** (int(shift) - 31)
    assert abs(approx - Fraction(real)) <= Fraction(real) * Fraction(1, 2**31)


@settings(max_examples=150)
@given(st.lists(st.integers(I32_MIN, I32_MAX), min_size=1, max_size=8), st.floats(2.0**-20, 4.0),
       st.integers(-128, 127))
def test_requantize_methods_against_scalar_transcriptions(xs, real, zp):
    m0, shift = (int(v) for v in simulator.quantize_multiplier(real))
    acc = np.array(xs, dtype=np.int64)
    n = 31 - shift
    g = simulator.requantize(acc, real, output_format="int32", zero_point=0, method="gemmlowp")
    s = simulator.requantize(acc, real, output_format="int32", method="single_rounding")
    e = simulator.requantize(acc, real, output_format="int32", method="exact")
    for i, x in enumerate(xs):
        assert g[i] == tflite_mbqm(x, m0, shift)
        exact = Fraction(x * m0, 2**n)
        fl = exact.numerator // exact.denominator
        half_up = fl + (1 if exact - fl >= Fraction(1, 2) else 0)
        assert s[i] == max(min(half_up, I32_MAX), I32_MIN)
        rne = round(exact)  # Python rounds Fractions half to even
        assert e[i] == max(min(rne, I32_MAX), I32_MIN)
        if abs(rne) < 2**30:
            assert abs(int(g[i]) - rne) <= 1
    out8 = simulator.requantize(acc, real, zero_point=zp)
    np.testing.assert_array_equal(out8, np.clip(g.astype(np.int64) + zp, -128, 127))


def test_requantize_per_channel_and_validation():
    acc = np.array([[1000, -1000], [30000, 7]])
    out = simulator.requantize(acc, np.array([0.01, 0.5]), method="exact")
    np.testing.assert_array_equal(out, [[10, -128], [127, 4]])  # 7·0.5 = 3.5 → 4 (even)
    with pytest.raises(ValueError, match="method"):
        simulator.requantize(acc, 0.1, method="float")
    with pytest.raises(ValueError, match="either multiplier"):
        simulator.requantize(acc)
    with pytest.raises(ValueError, match="int32"):
        simulator.requantize(np.array([2**31]), 0.5)
    with pytest.raises(ValueError, match="non-negative"):
        simulator.quantize_multiplier(-0.5)


def test_int_gemm_with_zero_points_bias_and_requantization():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (4, 50), dtype=np.uint8)
    b = rng.integers(-127, 128, (50, 3), dtype=np.int8)
    bias = rng.integers(-5000, 5000, (3,), dtype=np.int32)
    za = 117
    real = np.array([0.0031, 0.0007, 0.011])
    out = simulator.int_gemm(a, b, a_format="uint8", b_format="int8", a_zero_point=za, bias=bias,
                             multiplier=real, output_zero_point=-3)
    acc = (a.astype(np.int64) - za) @ b.astype(np.int64) + bias
    np.testing.assert_array_equal(simulator.int_gemm(a, b, a_format="uint8", b_format="int8", a_zero_point=za,
                                                     bias=bias), acc)
    for i in range(4):
        for j in range(3):
            m0, shift = (int(v) for v in simulator.quantize_multiplier(real[j]))
            assert out[i, j] == min(max(tflite_mbqm(int(acc[i, j]), m0, shift) - 3, -128), 127)
    with pytest.raises(ValueError, match="outside"):
        simulator.int_gemm(a, b, a_format="int8", b_format="int8")
