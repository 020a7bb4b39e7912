"""Hypothesis properties of simulator.matmul over shapes, formats, accumulators and orders.

* the vectorized NumPy path equals the exact reference (Python fractions, one output element at
  a time) — bit for bit, NaN positions included;
* with an accumulator that holds every partial sum exactly, the order does not matter and the
  result is the exact dot product (computed here with fractions);
* integer accumulation with wrap is independent of order and chunking (a ring homomorphism);
* negating an operand negates the result under sign-symmetric roundings.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lowbit import formats, simulator
from lowbit.simulator import Accumulator

OPERANDS = ["float8_e4m3fn", "float8_e5m2", "float6_e2m3fn", "float4_e2m1fn", "bfloat16", "float16",
            "float8_e4m3fnuz"]
FLOAT_ACCS = [Accumulator("float32"), Accumulator("bfloat16"), Accumulator("float16", overflow="saturate"),
              Accumulator(formats.FloatFormat(5, 4), rounding="toward_zero"),
              Accumulator(formats.FloatFormat(8, 13), rounding="odd"), Accumulator("float32", rounding="down"),
              Accumulator("float16", rounding="nearest_away")]
ORDERS = ["sequential", "pairwise", "systolic"]


@st.composite
def float_case(draw):
    m, k, n = draw(st.integers(1, 3)), draw(st.integers(0, 24)), draw(st.integers(1, 3))
    fa, fb = draw(st.sampled_from(OPERANDS)), draw(st.sampled_from(OPERANDS))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    spread = draw(st.sampled_from([0.0, 2.0, 6.0]))
    a = (rng.standard_normal((m, k)) * np.exp2(rng.normal(0, spread, (m, k)))).astype(np.float32)
    b = (rng.standard_normal((k, n)) * np.exp2(rng.normal(0, spread, (k, n)))).astype(np.float32)
    acc = draw(st.sampled_from(FLOAT_ACCS))
    order = draw(st.sampled_from(ORDERS))
    kc = draw(st.sampled_from([None, 1, 3, 8]))
    cacc = draw(st.sampled_from([None] + FLOAT_ACCS[:3])) if kc else None
    return a, b, dict(a_format=fa, b_format=fb, accumulator=acc, order=order, k_chunk=kc, chunk_accumulator=cacc)


def _eq(x, y):
    np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
    np.testing.assert_array_equal(np.where(np.isnan(x), 0, x), np.where(np.isnan(y), 0, y))


@settings(max_examples=60)
@given(float_case())
def test_numpy_equals_exact_reference(case):
    a, b, kw = case
    _eq(simulator.matmul(a, b, **kw), simulator.matmul(a, b, backend="reference", **kw))


@settings(max_examples=25)
@given(st.integers(1, 3), st.integers(0, 40), st.integers(1, 3), st.integers(0, 2**32 - 1),
       st.sampled_from(["mxfp8_e4m3", "mxfp4", "mxint8", "nvfp4", "mxfp6_e3m2"]),
       st.sampled_from([Accumulator("float32"), Accumulator("bfloat16"), Accumulator("float16", rounding="up")]),
       st.sampled_from(["sequential", "pairwise"]), st.sampled_from(["exact", "accumulator"]))
def test_block_formats_numpy_equals_exact_reference(m, k, n, seed, fmt, acc, order, block_reduce):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((m, k)) * np.exp2(rng.integers(-8, 8, (m, k)))).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    kw = dict(a_format=fmt, b_format=fmt, accumulator=acc, order=order, block_reduce=block_reduce)
    _eq(simulator.matmul(a, b, **kw), simulator.matmul(a, b, backend="reference", **kw))


@settings(max_examples=40)
@given(st.integers(1, 3), st.integers(1, 30), st.integers(1, 3), st.integers(0, 2**32 - 1),
       st.sampled_from(["float4_e2m1fn", "float6_e2m3fn", "int4", "int3"]), st.sampled_from(ORDERS),
       st.sampled_from([None, 2, 7]))
def test_wide_accumulator_is_exact_in_any_order(m, k, n, seed, fmt, order, kc):
    """FP4/FP6/INT4 products summed in float32: every partial sum is exact, so every order gives
    the exact dot product."""
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((m, k)) * 3).astype(np.float32)
    b = (rng.standard_normal((k, n)) * 3).astype(np.float32)
    out = simulator.matmul(a, b, a_format=fmt, b_format=fmt, accumulator="float32", order=order, k_chunk=kc)
    qa, qb = formats.quantize(a, fmt), formats.quantize(b, fmt)
    for i in range(m):
        for j in range(n):
            exact = sum(Fraction(float(qa[i, t])) * Fraction(float(qb[t, j])) for t in range(k))
            assert Fraction(float(out[i, j])) == exact


@settings(max_examples=40)
@given(st.integers(1, 3), st.integers(0, 60), st.integers(1, 3), st.integers(0, 2**32 - 1),
       st.sampled_from(["int8", "int4", "uint8"]), st.sampled_from(["int8", "int16", "int32", "uint16"]),
       st.sampled_from(ORDERS), st.sampled_from([None, 1, 5]))
def test_integer_wrap_is_order_free(m, k, n, seed, fmt, acc, order, kc):
    f = formats.get(fmt)
    rng = np.random.default_rng(seed)
    a = rng.integers(f.min, f.max + 1, (m, k))
    b = rng.integers(f.min, f.max + 1, (k, n))
    kw = dict(a_format=fmt, b_format=fmt, accumulator=acc)
    out = simulator.matmul(a, b, order=order, k_chunk=kc, **kw)
    w = formats.get(acc)
    exact = a.astype(object) @ b.astype(object)
    expect = np.vectorize(lambda v: (v - w.min) % (1 << w.bits) + w.min)(exact).astype(np.int64)
    np.testing.assert_array_equal(out.astype(np.int64), expect)
    sat = Accumulator(acc, overflow="saturate")
    _eq(simulator.matmul(a, b, a_format=fmt, b_format=fmt, accumulator=sat, order=order, k_chunk=kc),
        simulator.matmul(a, b, a_format=fmt, b_format=fmt, accumulator=sat, order=order, k_chunk=kc,
                         backend="reference"))


@settings(max_examples=40)
@given(float_case())
def test_negating_an_operand_negates_the_result(case):
    a, b, kw = case
    acc = kw["accumulator"]
    if acc.rounding in ("up", "down") or (kw["chunk_accumulator"] is not None and
                                         kw["chunk_accumulator"].rounding in ("up", "down")):
        return  # directed roundings are not sign-symmetric
    if formats.get(kw["a_format"]).specials == "fnuz":
        return  # no -0 / asymmetric NaN
    out = simulator.matmul(a, b, **kw)
    neg = simulator.matmul(-a, b, **kw)
    _eq(np.where(out == 0, 0, out), np.where(neg == 0, 0, -neg))


@settings(max_examples=60)
@given(float_case())
def test_numba_kernel_equals_exact_reference(case):
    """The compiled sequential kernel of the NumPy backend (used above a work threshold) gives
    the reference's values and the vectorized path's bits (signed zeros included)."""
    from lowbit.formats.backend import numba_policy

    a, b, kw = case
    if kw["order"] == "pairwise":
        kw = dict(kw, order="sequential")
    with numba_policy("always"):
        fast = simulator.matmul(a, b, **kw)
    with numba_policy("never"):
        vec = simulator.matmul(a, b, **kw)
    _eq(fast, simulator.matmul(a, b, backend="reference", **kw))
    nn = ~np.isnan(vec)
    _eq(fast, vec)
    np.testing.assert_array_equal(np.signbit(fast[nn]), np.signbit(vec[nn]))
