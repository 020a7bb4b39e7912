"""LUT-GEMM / T-MAC functional model: equals the integer GEMM; counts match the paper's shapes.

Known answers: T-MAC (arXiv 2407.00088) — groups of g = 4 activations give 2^4 = 16 table entries,
8 with sign symmetry; lookups are linear in the weight bits b. LUT-GEMM (arXiv 2206.09557) —
binary-coding quantization W = Σ α_i β_i with group-wise α.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowbit import formats, simulator

INT_W = ["int1", "int2", "int3", "int4", "int8", "uint1", "uint2", "uint4"]


@settings(max_examples=60)
@given(st.integers(1, 4), st.integers(1, 30), st.integers(1, 5), st.sampled_from(INT_W),
       st.integers(1, 6), st.booleans(), st.integers(0, 2**32 - 1))
def test_integer_lut_gemm_equals_integer_gemm(m, k, n, wname, g, sym, seed):
    f = formats.get(wname)
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (m, k))
    w = rng.integers(f.min, f.max + 1, (k, n))
    r = simulator.lut_gemm(x, w, w_format=f, group_size=g, sign_symmetry=sym)
    assert r.output.dtype == np.int64
    np.testing.assert_array_equal(r.output, x @ w)
    # counts: the model's own tally equals the analytic formula (negations are data dependent)
    c = r.counts.as_dict()
    a = simulator.lut_gemm_counts(m, k, n, bits=f.bits, group_size=g, sign_symmetry=sym).as_dict()
    c_neg, a_neg = c.pop("negations"), a.pop("negations")
    assert c == a
    if sym:  # one negation per lookup whose pattern has the top bit set
        codes = w & ((1 << f.bits) - 1)
        G = -(-k // g)
        pad = np.zeros((G * g - k, n), dtype=np.int64)
        expect = 0
        for i in range(f.bits):
            plane = np.concatenate([(codes >> i) & 1, pad]).reshape(G, g, n)
            expect += m * int(plane[:, g - 1, :].sum())
        assert c_neg == expect
    else:
        assert c_neg == a_neg == 0


def test_tmac_table_sizes_and_linear_cost_in_bits():
    c4 = simulator.lut_gemm_counts(1, 4096, 4096, bits=4, group_size=4, sign_symmetry=False)
    c4s = simulator.lut_gemm_counts(1, 4096, 4096, bits=4, group_size=4, sign_symmetry=True)
    c2 = simulator.lut_gemm_counts(1, 4096, 4096, bits=2, group_size=4, sign_symmetry=True)
    assert c4.entries_per_table == 16 and c4s.entries_per_table == 8  # T-MAC §3.2
    assert c4s.tables == 1024  # one per group of 4 activations
    assert c4s.lookups == 1024 * 4096 * 4 == 2 * c2.lookups  # linear in b
    assert c4s.table_adds == c2.table_adds  # tables are shared by the planes


def test_float_activations_and_table_precision():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 40))
    w = rng.integers(-8, 8, (40, 6))
    exact = x @ w
    np.testing.assert_allclose(simulator.lut_gemm(x, w).output, exact, rtol=1e-12, atol=1e-12)
    T_max = 4 * np.abs(x).max()  # |table entry| <= g · max|x|
    G = 10
    for fmt, rel in (("float16", 2.0**-11), ("bfloat16", 2.0**-8)):
        y = simulator.lut_gemm(x, w, table_format=fmt, sign_symmetry=False).output
        bound = (1 + 2 + 4 + 8) * G * T_max * rel  # each lookup off by at most half an ulp
        assert np.abs(y - exact).max() <= bound
        assert not np.array_equal(y, exact)
    y8 = simulator.lut_gemm(x, w, table_format="int8").output  # T-MAC-style int8 tables
    assert np.abs(y8 - exact).max() <= (1 + 2 + 4 + 8) * G * T_max / 127 + 1e-9


def test_bcq_weights_with_group_scales():
    rng = np.random.default_rng(2)
    b, K, N = 3, 32, 5
    x = rng.integers(-50, 50, (4, K))
    beta = rng.choice([-1, 1], (b, K, N))
    alpha = rng.integers(1, 16, (b, 2, N)) / 16.0  # dyadic: the float64 result is exact
    W = np.concatenate([(alpha[:, q, None, :] * beta[:, 16 * q:16 * q + 16]).sum(0) for q in range(2)])
    for sym in (True, False):
        r = simulator.lut_gemm_bcq(x, beta, alpha, group_size=4, sign_symmetry=sym)
        np.testing.assert_array_equal(r.output, x @ W)
        c = r.counts.as_dict()
        a = simulator.lut_gemm_counts(4, K, N, bits=b, group_size=4, sign_symmetry=sym, kind="bcq",
                                      scale_groups=2).as_dict()
        c.pop("negations"), a.pop("negations")
        assert c == a
    with pytest.raises(ValueError, match="-1 and \\+1"):
        simulator.lut_gemm_bcq(x, np.zeros((b, K, N)), alpha)
    with pytest.raises(ValueError, match="scale groups"):
        simulator.lut_gemm_bcq(x, beta, rng.random((b, 3, N)))


def test_codebook_weights():
    rng = np.random.default_rng(3)
    x = rng.integers(-20, 20, (2, 24))
    cb = rng.integers(-7, 8, (16, 2))  # 16 two-dimensional codewords
    idx = rng.integers(0, 16, (12, 3))
    W = cb[idx].transpose(0, 2, 1).reshape(24, 3)  # W[2G + t, n] = cb[idx[G, n], t]
    r = simulator.lut_gemm_codebook(x, idx, cb)
    np.testing.assert_array_equal(r.output, x @ W)
    assert r.counts.entries_per_table == 16 and r.counts.lookups == 2 * 12 * 3
    assert r.counts.as_dict() == simulator.lut_gemm_counts(2, 24, 3, bits=1, group_size=2, kind="codebook",
                                                           codebook_size=16).as_dict()
    # scalar codebook (g = 1): NF4-style 16 values
    nf = np.sort(rng.standard_normal(16))
    xi = rng.standard_normal((2, 5))
    id1 = rng.integers(0, 16, (5, 4))
    np.testing.assert_allclose(simulator.lut_gemm_codebook(xi, id1, nf).output, xi @ nf[id1], rtol=1e-12)


def test_qarray_weights_and_validation():
    rng = np.random.default_rng(4)
    x = rng.integers(-5, 5, (2, 8))
    w = rng.integers(-8, 8, (8, 3)).astype(np.float32)
    q = formats.encode(w, "int4")
    np.testing.assert_array_equal(simulator.lut_gemm(x, q).output, x @ w.astype(np.int64))
    with pytest.raises(ValueError, match="outside"):
        simulator.lut_gemm(x, np.full((8, 3), 9), w_format="int4")
    with pytest.raises(ValueError, match="group_size"):
        simulator.lut_gemm(x, w.astype(int), group_size=0)
    with pytest.raises(ValueError, match="shape"):
        simulator.lut_gemm(x, np.zeros((7, 3), int))
    with pytest.raises(ValueError, match="kind"):
        simulator.lut_gemm_counts(1, 2, 3, bits=2, kind="vq")
