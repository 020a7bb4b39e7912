"""Transforms that leave a product unchanged: orthogonal rotations (``formats.rotate``,
``formats.random_orthogonal``) and SmoothQuant equalization (``formats.smooth_scales``,
``formats.smooth``), on NumPy and under ``jax.jit``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowbit import formats


def operands(k=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, k))
    x[:, [3, 40]] *= 60.0  # outlier channels (LLM.int8(), SmoothQuant Fig. 4)
    w = rng.standard_normal((24, k)) * 0.05  # PyTorch layout (out, in)
    return x, w


# ------------------------------------------------------------------------------ SmoothQuant
def test_smooth_scales_formula():
    x, w = operands()
    s = formats.smooth_scales(x, w, alpha=0.5)
    assert s.shape == (96,) and s.dtype == np.float64
    want = np.sqrt(np.abs(x).max(axis=0)) / np.sqrt(np.abs(w).max(axis=0))
    np.testing.assert_allclose(s, want, rtol=1e-14)
    s8 = formats.smooth_scales(x, w, alpha=0.8)
    np.testing.assert_allclose(s8, np.abs(x).max(0) ** 0.8 / np.abs(w).max(0) ** 0.2, rtol=1e-13)
    # (K, N) weights: the input channels are axis 0
    np.testing.assert_array_equal(formats.smooth_scales(x, w.T, w_axis=0), s)
    # α = 0.5 balances the two: max|X̂_j| = max|Ŵ_j| = √(max|X_j| · max|W_j|) (SmoothQuant §4)
    xs, ws = formats.smooth(x, w, s)
    np.testing.assert_allclose(np.abs(xs).max(0), np.abs(ws).max(0), rtol=1e-13)


def test_smoothquant_fold_leaves_the_product_unchanged():
    x, w = operands()
    for pow2 in (False, True):
        s = formats.smooth_scales(x, w, pow2=pow2)
        xs, ws = formats.smooth(x, w, s)
        if pow2:  # power-of-two factors: every product x_j·w_j is the same float, so is the GEMM
            assert set(np.unique(np.log2(s) % 1)) == {0.0}
            np.testing.assert_array_equal(xs @ ws.T, x @ w.T)
        else:
            np.testing.assert_allclose(xs @ ws.T, x @ w.T, rtol=1e-12, atol=1e-12)


def test_smoothing_helps_per_tensor_int8_activations():
    x, w = operands()
    xs, ws = formats.smooth(x, w, formats.smooth_scales(x, w))
    ref = x @ w.T

    def err(a, b):
        qa = formats.quantize(a, "int8", **formats.calibrate(a, "int8"))  # per tensor
        qb = formats.quantize(b, "int8", **formats.calibrate(b, "int8", axis=0))  # per output channel
        return np.linalg.norm(qa @ qb.T - ref)

    assert err(xs, ws) < 0.5 * err(x, w)


def test_smooth_edge_cases_and_errors():
    x, w = operands()
    x[:, 7] = 0.0
    w[:, 9] = 0.0
    s = formats.smooth_scales(x, w)
    assert s[7] == 1.0 and s[9] == 1.0
    assert formats.smooth_scales(x.astype(np.float32), w.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="alpha"):
        formats.smooth_scales(x, w, alpha=1.5)
    with pytest.raises(ValueError, match="input channels"):
        formats.smooth_scales(x, w.T)
    with pytest.raises(ValueError, match="scales must be positive"):
        formats.smooth(x, w, np.zeros(96))
    with pytest.raises(TypeError, match="float"):
        formats.smooth_scales(x.astype(int), w)


def test_smooth_under_jit():
    x, w = (a.astype(np.float32) for a in operands())
    s, (xs, ws) = jax.jit(lambda a, b: (formats.smooth_scales(a, b, pow2=True),
                                        formats.smooth(a, b, formats.smooth_scales(a, b, pow2=True))))(
        jnp.asarray(x), jnp.asarray(w))
    np.testing.assert_array_equal(np.asarray(s), formats.smooth_scales(x, w, pow2=True))
    np.testing.assert_array_equal(np.asarray(xs), x / np.asarray(s))
    np.testing.assert_array_equal(np.asarray(ws), w * np.asarray(s))


# ------------------------------------------------------------------------------ rotations
@pytest.mark.parametrize("rotation", ["hadamard", "random_hadamard", "orthogonal"])
def test_rotation_leaves_the_product_unchanged(rotation):
    x, w = operands()
    key, R = None, rotation
    if rotation == "random_hadamard":
        key = 5
    elif rotation == "orthogonal":
        R = formats.random_orthogonal(96, key=1)
    xr = formats.rotate(x, R, key=key)
    wr = formats.rotate(w, R, key=key)
    np.testing.assert_allclose(xr @ wr.T, x @ w.T, rtol=1e-12, atol=1e-11)
    # the rotation spreads the outlier channels: the largest |x| shrinks towards the mean
    assert np.abs(xr).max() < 0.5 * np.abs(x).max()


def test_rotate_matches_the_matrix_and_its_inverse():
    x, _ = operands()
    H = formats.hadamard(96, key=3)
    np.testing.assert_allclose(formats.rotate(x, "random_hadamard", key=3), x @ H, atol=1e-12)
    np.testing.assert_allclose(formats.rotate(formats.rotate(x, H), H.T), x, atol=1e-12)
    np.testing.assert_allclose(formats.rotate(x.T, "hadamard", axis=0), (x @ formats.hadamard(96)).T, atol=1e-12)


def test_random_orthogonal():
    Q = formats.random_orthogonal(50, key=0)
    np.testing.assert_allclose(Q @ Q.T, np.eye(50), atol=1e-13)
    np.testing.assert_array_equal(Q, formats.random_orthogonal(50, key=0))
    assert not np.allclose(Q, formats.random_orthogonal(50, key=1))
    Qj = formats.random_orthogonal(16, key=jax.random.key(0))
    assert isinstance(Qj, jax.Array)
    np.testing.assert_allclose(np.asarray(Qj) @ np.asarray(Qj).T, np.eye(16), atol=1e-5)
    with pytest.raises(TypeError, match="key"):
        formats.random_orthogonal(4, key="x")
    with pytest.raises(ValueError, match="n must"):
        formats.random_orthogonal(0, key=0)


def test_rotate_under_jit():
    x, _ = operands()
    x = x.astype(np.float32)
    R = formats.random_orthogonal(96, key=2).astype(np.float32)
    for rot, key in (("hadamard", None), ("random_hadamard", jax.random.key(1)), (R, None)):
        y = jax.jit(lambda v, k, rot=rot: formats.rotate(v, rot, key=k))(jnp.asarray(x), key)
        Rm = R if rot is R else np.asarray(formats.hadamard(96, key=key), np.float64)
        np.testing.assert_allclose(np.asarray(y), x.astype(np.float64) @ Rm, atol=2e-4)


def test_rotate_errors():
    x, _ = operands()
    with pytest.raises(ValueError, match="rotation must be one of"):
        formats.rotate(x, "givens")
    with pytest.raises(ValueError, match="needs key"):
        formats.rotate(x, "random_hadamard")
    with pytest.raises(ValueError, match="key is only used"):
        formats.rotate(x, "hadamard", key=1)
    with pytest.raises(ValueError, match="96×96"):
        formats.rotate(x, np.eye(95))
    with pytest.raises(ValueError, match="not orthogonal"):
        formats.rotate(x, 2 * np.eye(96))
    with pytest.raises(TypeError, match="float"):
        formats.rotate(x.astype(int), "hadamard")
