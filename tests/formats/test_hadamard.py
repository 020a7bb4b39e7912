"""Hadamard matrices and the fast Walsh–Hadamard transform (``formats.hadamard``,
``formats.fwht``): every base order the LLM recipes need is orthogonal in exact integer
arithmetic; ``fwht`` equals ``x @ hadamard(n)`` bit for bit on integers and to a few ulps on
floats, with and without random signs, on NumPy and under ``jax.jit``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from lowbit import formats

# QuaRot / SpinQuant base sizes (../shared/references.md; QuaRot's hadamard_utils.py ships
# these orders): n = 2^k · m.
BASES = (12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172)
# sizes of real models: Llama-2-7B MLP 11008 = 172·64, Llama-3-8B MLP 14336 = 28·512,
# Llama-2-13B MLP 13824 = 108·128, Qwen2-7B hidden 3584 = 28·128, Phi-3 3072 = 12·256
MODEL_SIZES = {11008: (172, 64), 14336: (28, 512), 13824: (108, 128), 3584: (28, 128), 3072: (12, 256),
               4096: (1, 4096), 5120: (20, 256), 28672: (28, 1024)}
SMALL = sorted({2 ** k for k in range(11)} | {m * 2 ** k for m in BASES for k in range(4)})


def int_matrix(n):
    return formats.hadamard(n, normalized=False, dtype=np.int64)


@pytest.mark.parametrize("m", BASES)
def test_base_matrices_are_hadamard_exactly(m):
    H = int_matrix(m)
    assert H.shape == (m, m)
    assert set(np.unique(H)) <= {-1, 1}
    np.testing.assert_array_equal(H @ H.T, m * np.eye(m, dtype=np.int64))


@pytest.mark.parametrize("n", SMALL)
def test_orthonormal_for_every_supported_size(n):
    H = int_matrix(n)
    np.testing.assert_array_equal(H @ H.T, n * np.eye(n, dtype=np.int64))
    Hn = formats.hadamard(n)
    assert Hn.dtype == np.float64
    np.testing.assert_allclose(Hn @ Hn.T, np.eye(n), atol=1e-13)
    # every entry is ±fl(1/√n): the normalized matrix is the ±1 matrix times one constant
    np.testing.assert_array_equal(Hn, H * np.float64(1 / math.sqrt(n)))


@pytest.mark.parametrize("n", sorted(MODEL_SIZES))
def test_model_sizes_factor_as_expected(n):
    assert formats.hadamard_factors(n) == MODEL_SIZES[n]


@pytest.mark.slow
@pytest.mark.parametrize("n", [11008, 14336])
def test_llm_sizes_are_kronecker_products_of_orthogonal_factors(n):
    """H_n = H_m ⊗ H_(2^k) exactly (checked row block by row block against the two factors,
    which are exactly orthogonal), so H_n·H_nᵀ = n·I; plus a direct Gram check of sampled
    rows."""
    m, p2 = formats.hadamard_factors(n)
    H = formats.hadamard(n, normalized=False, dtype=np.int8)
    Hm, S = int_matrix(m), int_matrix(p2)
    np.testing.assert_array_equal(Hm @ Hm.T, m * np.eye(m, dtype=np.int64))
    np.testing.assert_array_equal(S @ S.T, p2 * np.eye(p2, dtype=np.int64))
    S8 = S.astype(np.int8)
    for i in range(m):
        np.testing.assert_array_equal(H[i * p2:(i + 1) * p2], np.kron(Hm[i].astype(np.int8), S8))
    rows = np.random.default_rng(0).choice(n, 48, replace=False)
    R = H[np.unique(np.r_[rows, 0, n - 1])].astype(np.float64)  # integer sums < 2^53: exact
    np.testing.assert_array_equal(R @ R.T, n * np.eye(R.shape[0]))


@pytest.mark.parametrize("n", SMALL)
def test_fwht_is_bit_exact_in_integer_arithmetic(n):
    x = np.random.default_rng(n).integers(-1000, 1000, size=(3, n))
    y = formats.fwht(x, normalized=False)
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(y, x @ int_matrix(n))


def _ulp_bound(n, dtype):
    m, p2 = formats.hadamard_factors(n)
    return (math.log2(p2) + math.sqrt(m) + 1) * float(np.finfo(dtype).eps) / 2


def _check_float(y, x, n, dtype, H=None):
    """max |fwht(x) − x·H| ≤ (log2 2^k + √m + 1) ulps of the row's largest output, the
    reference in extended precision (long double)."""
    H = formats.hadamard(n) if H is None else H
    ref = np.asarray(x, np.longdouble) @ np.asarray(H, np.longdouble)
    err = np.abs(np.asarray(y, np.longdouble) - ref).max(axis=-1)
    scale = np.abs(ref).max(axis=-1)
    assert np.all(err <= _ulp_bound(n, dtype) * scale), (err / scale).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SMALL)
def test_fwht_matches_the_matrix_within_a_few_ulps(n, dtype):
    x = np.random.default_rng(n).standard_normal((4, n)).astype(dtype)
    y = formats.fwht(x)
    assert y.dtype == dtype and y.shape == x.shape
    _check_float(y, x, n, dtype)


@pytest.mark.parametrize("n", [16, 12 * 8, 172 * 2, 156])
def test_fwht_under_jit_matches_numpy(n):
    x = np.random.default_rng(1).standard_normal((5, n)).astype(np.float32)
    yj = jax.jit(formats.fwht)(jnp.asarray(x))
    assert isinstance(yj, jax.Array) and yj.dtype == jnp.float32
    _check_float(np.asarray(yj), x, n, np.float32)
    xi = np.random.default_rng(2).integers(-100, 100, size=(3, n)).astype(np.int32)
    yi = jax.jit(lambda v: formats.fwht(v, normalized=False))(jnp.asarray(xi))
    np.testing.assert_array_equal(np.asarray(yi), xi.astype(np.int64) @ int_matrix(n))


def test_fwht_along_an_axis_and_in_narrow_dtypes():
    x = np.random.default_rng(3).standard_normal((24, 5, 3)).astype(np.float32)
    y = formats.fwht(x, axis=0)
    ref = np.einsum("i...,ij->j...", x.astype(np.float64), formats.hadamard(24))
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5)
    for dt in (np.float16, ml_dtypes.bfloat16):
        xs = x[:, 0, 0].astype(dt)
        ys = formats.fwht(xs)
        assert ys.dtype == dt
        # computed in float32 and rounded once
        np.testing.assert_array_equal(ys, formats.fwht(xs.astype(np.float32)).astype(dt))


def test_random_signs_rht():
    n = 12 * 16
    H = formats.hadamard(n)
    Hk = formats.hadamard(n, key=7)
    s = np.diag(Hk @ H.T).round()  # Hk = diag(s) H
    assert set(np.unique(s)) == {-1.0, 1.0}
    np.testing.assert_array_equal(Hk, s[:, None] * H)
    np.testing.assert_allclose(Hk @ Hk.T, np.eye(n), atol=1e-13)
    assert not np.array_equal(Hk, formats.hadamard(n, key=8))
    np.testing.assert_array_equal(Hk, formats.hadamard(n, key=7))  # same seed, same signs
    np.testing.assert_array_equal(formats.hadamard(n, key=s), Hk)  # explicit signs
    x = np.random.default_rng(0).standard_normal((3, n))
    _check_float(formats.fwht(x, key=7), x, n, np.float64, H=Hk)
    # an int seed gives the same signs on JAX, also under jit
    yj = jax.jit(lambda v: formats.fwht(v, key=7))(jnp.asarray(x, jnp.float32))
    _check_float(np.asarray(yj), x.astype(np.float32), n, np.float32, H=Hk)


def test_random_signs_from_a_jax_key_under_jit():
    n = 20 * 4
    key = jax.random.key(3)
    Hk = formats.hadamard(n, key=key)
    assert isinstance(Hk, jax.Array)
    Hk = np.asarray(Hk, np.float64)
    np.testing.assert_allclose(Hk @ Hk.T, np.eye(n), atol=1e-6)
    x = np.random.default_rng(0).standard_normal((4, n)).astype(np.float32)
    y = jax.jit(lambda v, k: formats.fwht(v, key=k))(jnp.asarray(x), key)
    Hexact = np.asarray(formats.hadamard(n, normalized=False), np.float64) * np.sign(Hk) * np.sign(
        formats.hadamard(n))  # the same signs, entries ±1/√n in float64
    _check_float(np.asarray(y), x, n, np.float32, H=Hexact / math.sqrt(n))
    assert not np.allclose(np.asarray(y), formats.fwht(x))  # the signs did something


@pytest.mark.parametrize("n", [3, 6, 10, 22, 92, 184, 0])  # 92 = 4·23, 184: no Paley or stored base
def test_unsupported_sizes_are_refused(n):
    with pytest.raises(ValueError, match="n must|no Hadamard matrix"):
        formats.hadamard_factors(n)
    if n:
        with pytest.raises(ValueError, match="no Hadamard matrix"):
            formats.fwht(np.zeros(n))


def test_bad_inputs():
    with pytest.raises(TypeError, match="normalized=False"):
        formats.fwht(np.arange(8))
    with pytest.raises(TypeError, match="dtype"):
        formats.fwht(np.zeros(8, bool))
    with pytest.raises(TypeError, match="dtype"):
        formats.fwht(np.zeros(8, complex))
    with pytest.raises(ValueError, match="axis"):
        formats.fwht(np.zeros((8, 8)), axis=2)
    with pytest.raises(ValueError, match="dtype"):
        formats.hadamard(8, dtype=np.int8)
    with pytest.raises(ValueError, match=r"explicit signs must have shape"):
        formats.fwht(np.zeros(8), key=np.ones(4))
    with pytest.raises(ValueError, match=r"\+1 or -1"):
        formats.fwht(np.zeros(2), key=np.array([0, 42], np.uint32))  # a legacy PRNGKey
    with pytest.raises(TypeError, match="key must be"):
        formats.fwht(np.zeros(8), key="seed")


def test_fwht_under_vmap_and_grad():
    x = np.random.default_rng(4).standard_normal((3, 28 * 2)).astype(np.float32)
    yv = jax.vmap(formats.fwht)(jnp.asarray(x))
    _check_float(np.asarray(yv), x, 56, np.float32)
    # linear and orthogonal: the gradient of Σ fwht(x)·c is c·Hᵀ
    c = np.random.default_rng(5).standard_normal(56).astype(np.float32)
    g = jax.grad(lambda v: jnp.sum(formats.fwht(v) * c))(jnp.asarray(x[0]))
    np.testing.assert_allclose(np.asarray(g), formats.hadamard(56) @ c, atol=1e-5)
