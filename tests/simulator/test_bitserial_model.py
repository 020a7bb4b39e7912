"""Bit-serial functional model: plane decomposition + shift-add equals the integer GEMM exactly.

Known answers: Stripes (Judd et al., MICRO 2016) — time ∝ activation precision p; Loom
(arXiv 1706.07853) — both operands serial: time ∝ p_a · p_w.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowbit import formats, simulator

FMTS = ["int2", "int3", "int4", "int5", "int8", "uint1", "uint4", "uint8", "int16"]


@settings(max_examples=80)
@given(st.integers(1, 4), st.integers(1, 40), st.integers(1, 4), st.sampled_from(FMTS), st.sampled_from(FMTS),
       st.sampled_from(["a", "b", "both"]), st.integers(0, 2**32 - 1))
def test_bitserial_equals_integer_gemm(m, k, n, fa, fb, serial, seed):
    A, B = formats.get(fa), formats.get(fb)
    rng = np.random.default_rng(seed)
    a = rng.integers(A.min, A.max + 1, (m, k))
    b = rng.integers(B.min, B.max + 1, (k, n))
    r = simulator.bitserial_matmul(a, b, a_format=A, b_format=B, serial=serial)
    exact = a.astype(object) @ b.astype(object)
    np.testing.assert_array_equal(r.output, exact.astype(np.int64))
    bits = {"a": A.bits, "b": B.bits, "both": A.bits * B.bits}[serial]
    assert r.counts.plane_ops == bits
    assert r.counts.bit_macs == bits * m * k * n
    assert r.counts.as_dict() | {"zero_planes": 0} == simulator.bitserial_counts(
        m, k, n, a_bits=A.bits, b_bits=B.bits, serial=serial).as_dict()


def test_wrapping_accumulator_matches_matmul_int16():
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (3, 64), dtype=np.int8)
    b = rng.integers(-128, 128, (64, 2), dtype=np.int8)
    r = simulator.bitserial_matmul(a, b, accumulator="int16", serial="both")
    np.testing.assert_array_equal(r.output, simulator.matmul(a, b, accumulator="int16"))
    exact = a.astype(np.int64) @ b.astype(np.int64)
    assert not np.array_equal(r.output, exact)


def test_cycles_scale_with_precision_like_stripes_and_loom():
    c8 = simulator.bitserial_counts(16, 256, 64, a_bits=8, b_bits=8, serial="a", lanes=4096)
    c5 = simulator.bitserial_counts(16, 256, 64, a_bits=5, b_bits=8, serial="a", lanes=4096)
    assert c5.cycles * 8 == c8.cycles * 5  # Stripes: time ∝ p_a
    both = simulator.bitserial_counts(16, 256, 64, a_bits=5, b_bits=3, serial="both", lanes=4096)
    assert both.cycles == 15 * (16 * 256 * 64 // 4096)  # Loom: ∝ p_a · p_w
    assert simulator.bitserial_counts(2, 3, 4, a_bits=4, b_bits=4).cycles == 4  # no lanes: plane steps


def test_zero_planes_and_validation():
    a = np.array([[1, 2, 3]])  # int8: bits 2..7 of these codes are all zero
    b = np.array([[1], [1], [1]])
    r = simulator.bitserial_matmul(a, b)
    assert r.output[0, 0] == 6 and r.counts.zero_planes == 6
    with pytest.raises(ValueError, match="serial"):
        simulator.bitserial_matmul(a, b, serial="c")
    with pytest.raises(ValueError, match="outside"):
        simulator.bitserial_matmul(a * 100, b)
    with pytest.raises(TypeError):
        simulator.bitserial_matmul(a * 0.5, b)
    with pytest.raises(ValueError, match="lanes"):
        simulator.bitserial_counts(1, 1, 1, a_bits=8, b_bits=8, lanes=0)
    q = formats.encode(np.array([[-3.0, 5.0, 7.0]], np.float32), "int4")
    assert simulator.bitserial_matmul(q, b).output[0, 0] == 9
