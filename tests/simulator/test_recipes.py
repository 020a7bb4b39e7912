"""Recipes in layers (issue 14, items 3–5): rotations, calibration, outliers (LLM.int8()
decomposition, SpQR-style dense + sparse) and low-rank residuals in ``simulator.layers``, the
``flip_rate`` metric, and the decompositions on NumPy and under ``jax.jit``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowbit import formats, simulator
from lowbit.simulator import layers

F64 = dict(x_format="float64", w_format="float64", accumulator="float64", output_format=None)


def llm_like(seed=0, M=48, K=256, N=64, n_out=6):
    """Heavy-tailed activations with a few outlier channels 20–100× larger (LLM.int8() §3,
    SmoothQuant Fig. 4) and weights with a low-rank structure plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_t(5, size=(M, K))
    cols = rng.choice(K, n_out, replace=False)
    x[:, cols] *= rng.uniform(20, 100, n_out)
    w = 0.02 * rng.standard_normal((N, 8)) @ rng.standard_normal((8, K)) + 0.01 * rng.standard_normal((N, K))
    return x, w, cols


def small(seed=0):
    x, w, cols = llm_like(seed, M=6, K=64, N=10, n_out=2)
    return x, w


# ------------------------------------------------------------------------------ rotation
@pytest.mark.parametrize("rotation", ["hadamard", "random_hadamard", "matrix"])
def test_rotation_without_quantization_leaves_the_linear_output_unchanged(rotation):
    x, w = small()  # float64 accumulators are emulated add by add: keep it small
    rot = formats.random_orthogonal(64, key=3) if rotation == "matrix" else rotation
    y0 = layers.linear(x, w, **F64)
    y1 = layers.linear(x, w, rotation=rot, **F64)
    np.testing.assert_allclose(y1, y0, rtol=0, atol=1e-12 * np.abs(y0).max())


@pytest.mark.parametrize("rotation", ["hadamard", "random_hadamard"])
def test_rotation_without_quantization_leaves_attention_unchanged(rotation):
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((1, 2, 4, 32)), rng.standard_normal((1, 2, 6, 32))
    v = rng.standard_normal((1, 2, 6, 40))  # dv = 40 = 20·2: its own Hadamard matrix
    kw = dict(q_format="float64", k_format="float64", p_format="float64", v_format="float64",
              qk_accumulator="float64", pv_accumulator="float64", output_format=None)
    a0 = layers.attention(q, k, v, **kw)
    a1 = layers.attention(q, k, v, rotation=rotation, **kw)
    np.testing.assert_allclose(a1.output, a0.output, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a1.scores, a0.scores, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rotation_helps_int4_per_token_activations_with_outlier_channels(seed):
    """QuaRot's point (arXiv 2404.00456, §1 and Table 1): a few outlier channels make per-token
    INT4 fail (their scale crushes every other channel to 0); a Hadamard rotation spreads them.
    Gaussian activations, 4 of 1024 channels 20× larger: about +10 dB."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 1024))
    x[:, rng.choice(1024, 4, replace=False)] *= 20
    w = rng.standard_normal((64, 1024)) * 0.02
    lin = dict(x_format="int4", w_format="int4", scaling="channel")
    plain = layers.Linear(w, **lin).compare(x)
    rot = layers.Linear(w, rotation="hadamard", **lin).compare(x)
    assert rot.sqnr_db > plain.sqnr_db + 8
    assert rot.flip_rate < plain.flip_rate


def test_quarot_rotation_in_attention_helps_int4_kv():
    rng = np.random.default_rng(2)
    q = rng.standard_normal((1, 2, 16, 64))
    k = rng.standard_normal((1, 2, 32, 64))
    k[..., 5] *= 40  # key outlier channels (KVQuant Fig. 2)
    v = rng.standard_normal((1, 2, 32, 64))
    kw = dict(q_format="int4", k_format="int4", v_format="int4", scaling="channel")
    plain = layers.Attention(**kw).compare(q, k, v)
    rot = layers.Attention(rotation="hadamard", **kw).compare(q, k, v)
    assert rot.sqnr_db > plain.sqnr_db
    assert rot.flip_rate is not None and 0 <= rot.flip_rate <= 1


# ------------------------------------------------------------------------------ outliers
def test_int8_decomposition_is_the_sum_of_its_two_partial_gemms_exactly():
    x, w, cols = llm_like()
    spec = {"method": "int8", "threshold": 6.0}
    lin = dict(x_format="int8", w_format="int8", scaling="channel")
    parts = layers.linear_parts(x, w, outliers=spec, **lin)
    O = np.asarray(layers.outlier_columns(x, 6.0))
    assert set(np.flatnonzero(O)) >= set(cols)
    # the int8 part: vector-wise int8 GEMM of the non-outlier dimensions (scales without them)
    keep = ~O
    main = layers.linear(x * keep, w * keep, output_format=None, **lin)
    np.testing.assert_array_equal(parts["main"], main)
    # the float16 part: the outlier dimensions only, fp16 operands, fp32 accumulation
    out = simulator.matmul(x[:, O], w[:, O].T, a_format="float16", b_format="float16")
    np.testing.assert_array_equal(parts["outliers"], np.asarray(out, np.float64))
    y = layers.linear(x, w, outliers=spec, output_format=None, **lin)
    np.testing.assert_array_equal(y, parts["main"] + parts["outliers"])
    # and with the default float32 output, that sum rounded once
    np.testing.assert_array_equal(layers.linear(x, w, outliers=spec, **lin),
                                  (parts["main"] + parts["outliers"]).astype(np.float32))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_int8_decomposition_error_never_grows_as_more_outliers_are_kept(seed):
    x, w, _ = llm_like(seed)
    lin = dict(x_format="int8", w_format="int8", scaling="channel")
    colmax = np.sort(np.abs(x).max(axis=0))[::-1]
    # nested outlier sets: thresholds just below each of the 6 outlier channels' maxima, then
    # below every column's (all of x in float16). (Among columns of ordinary magnitude the
    # error moves at the rounding level as columns switch: no monotonicity to test there.)
    thresholds = list(colmax[:6] * (1 - 1e-9)) + [1e-9]
    errs = [np.abs(layers.linear(x, w, **lin) - x @ w.T).sum()]
    errs += [np.abs(layers.linear(x, w, outliers={"method": "int8", "threshold": t}, **lin) - x @ w.T).sum()
             for t in thresholds]
    assert all(b <= a for a, b in zip(errs, errs[1:], strict=False)), errs
    assert errs[6] < 0.2 * errs[0]  # the 6 outlier channels carry most of the error


def test_sparse_outliers_are_the_sum_of_dense_and_sparse_gemms():
    x, w, _ = llm_like()
    spec = {"method": "sparse", "fraction": 0.02}
    lin = dict(x_format="int4", w_format="int4", scaling="channel")
    parts = layers.linear_parts(x, w, outliers=spec, **lin)
    dense, sparse, mask = layers.sparse_outliers(w, fraction=0.02)
    assert mask.sum() == int(0.02 * w.size)
    assert np.abs(w[mask]).min() >= np.abs(w[~mask]).max()  # the largest magnitudes
    np.testing.assert_array_equal(dense + sparse, w)
    np.testing.assert_array_equal(parts["main"], layers.linear(x, dense, output_format=None, **lin))
    np.testing.assert_array_equal(parts["outliers"], np.asarray(
        simulator.matmul(x, sparse.T, a_format="float16", b_format="float16"), np.float64))
    # a user mask gives the same parts as the fraction that selects it
    p2 = layers.linear_parts(x, w, outliers={"method": "sparse", "mask": mask}, **lin)
    np.testing.assert_array_equal(p2["main"], parts["main"])


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_outlier_error_never_grows_as_more_are_kept(seed):
    x, w, _ = llm_like(seed)
    w[np.unravel_index(np.random.default_rng(seed).choice(w.size, 20, replace=False), w.shape)] *= 30
    lin = dict(x_format="bfloat16", w_format="int4", scaling="channel")
    fractions = [0.0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.2, 1.0]
    ref = x @ w.T
    errs = [np.abs(layers.linear(x, w, outliers={"method": "sparse", "fraction": f}, **lin) - ref).sum()
            for f in fractions]
    assert all(b <= a for a, b in zip(errs, errs[1:], strict=False)), errs


# ------------------------------------------------------------------------------ low rank
@pytest.mark.parametrize("iterations", [1, 3])
def test_low_rank_error_does_not_grow_with_rank_and_vanishes_at_full_rank(iterations):
    x, w, _ = llm_like(K=128, N=48)
    lin = dict(x_format="int8", w_format="int4", output_format=None)
    ref = x @ w.T
    ranks = [0, 1, 2, 4, 8, 16, 32, 48]
    errs = [np.abs(layers.linear(x, w, low_rank={"rank": r, "iterations": iterations}, **lin) - ref).sum()
            for r in ranks]
    assert all(b <= a for a, b in zip(errs, errs[1:], strict=False)), errs
    assert errs[-1] <= 1e-12 * np.abs(ref).sum()  # full rank, float64 factors: W = L·R exactly
    # the weights: W − (Q(W − L·R) + L·R) vanishes too
    res, L, R = layers.low_rank_residual(w, 48)
    np.testing.assert_allclose(L @ R, w, rtol=0, atol=1e-13)
    np.testing.assert_allclose(res, 0, atol=1e-13)


def test_low_rank_in_bfloat16_factors_is_emulated():
    x, w, _ = llm_like(K=128, N=48)
    lin = dict(x_format="int8", w_format="int4")
    base = layers.Linear(w, **lin).compare(x)
    lr = layers.Linear(w, low_rank={"rank": 8, "format": "bfloat16"}, **lin)
    parts = lr.parts(x)
    assert set(parts) == {"main", "low_rank"}
    res, L, R = layers.low_rank_residual(w, 8, factor_format="bfloat16")
    np.testing.assert_array_equal(formats.quantize(L, "bfloat16"), L)  # factors hold bfloat16 values
    t = layers.linear(x, R, x_format="bfloat16", w_format="bfloat16", scaling="tensor", output_format="bfloat16")
    np.testing.assert_array_equal(parts["low_rank"], layers.linear(t, L, x_format="bfloat16", w_format="bfloat16",
                                                                   scaling="tensor", output_format=None))
    assert lr.compare(x).sqnr_db > base.sqnr_db + 10


# ------------------------------------------------------------------------------ calibration
def test_static_calibration_in_a_layer():
    x, w, _ = llm_like()
    lin = dict(x_format="int8", w_format="int8")
    cal = formats.calibrate(x, "int8")  # per tensor, absmax: what the layer does on its own
    np.testing.assert_array_equal(layers.linear(x, w, calibration={"x": cal}, **lin), layers.linear(x, w, **lin))
    # a static scale from a calibration batch, applied to a larger input: it clips
    y = layers.linear(x * 2, w, calibration={"x": cal}, **lin)
    assert not np.array_equal(y, layers.linear(x * 2, w, **lin))


def test_calibrated_layers_beat_absmax_on_heavy_tails():
    x, w, _ = llm_like()
    x = x + np.random.default_rng(0).standard_t(1.5, size=x.shape)  # a few huge values
    for fmt in ("int4", "nvfp4", "mxfp4"):
        lin = dict(x_format=fmt, w_format=fmt)
        absmax = layers.Linear(w, **lin).compare(x).sqnr_db
        mse = layers.Linear(w, calibration={"method": "mse", "grid": 20}, **lin).compare(x).sqnr_db
        assert mse >= absmax - 1e-9, fmt


# ------------------------------------------------------------------------------ flip rate
def test_flip_rate_counts_rows_whose_argmax_changes():
    ref = np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 0.0], [0.0, 5.0, 0.0], [1.0, 2.0, 3.0]])
    approx = ref.copy()
    approx[1] = [0.0, 3.5, 0.0]  # argmax 0 → 1
    approx[3] = [1.0, 2.0, 2.9]  # unchanged
    m = simulator.compare(approx, ref)
    assert m.flip_rate == 0.25
    assert simulator.compare(approx, ref, flip_axis=0).flip_rate == 1 / 3
    assert simulator.compare(approx, ref, flip_axis=None).flip_rate is None
    with pytest.raises(ValueError, match="axis"):
        simulator.compare(approx, ref, flip_axis=2)


# ------------------------------------------------------------------------------ JAX
def test_decompositions_under_jit_match_numpy():
    x, w, _ = llm_like()
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    cols = jax.jit(lambda a: layers.outlier_columns(a, 6.0))(jnp.asarray(x32))
    np.testing.assert_array_equal(np.asarray(cols), layers.outlier_columns(x32, 6.0))
    d, s, m = jax.jit(lambda a: layers.sparse_outliers(a, fraction=0.01))(jnp.asarray(w32))
    dn, sn, mn = layers.sparse_outliers(w32, fraction=0.01)
    np.testing.assert_array_equal(np.asarray(m), mn)
    np.testing.assert_array_equal(np.asarray(d), dn)
    np.testing.assert_array_equal(np.asarray(s), sn)
    res, L, R = jax.jit(lambda a: layers.low_rank_residual(a, 8, factor_format="bfloat16"))(jnp.asarray(w32))
    resn, Ln, Rn = layers.low_rank_residual(w32.astype(np.float64), 8)
    np.testing.assert_allclose(np.asarray(L) @ np.asarray(R), Ln @ Rn, atol=5e-3 * np.abs(w).max())
    np.testing.assert_allclose(np.asarray(res) + np.asarray(L) @ np.asarray(R), w32, atol=1e-5)


# ------------------------------------------------------------------------------ errors
def test_bad_recipe_options():
    x, w, _ = llm_like()
    with pytest.raises(ValueError, match="rotation must be"):
        layers.linear(x, w, rotation="givens")
    with pytest.raises(ValueError, match="no Hadamard matrix"):
        layers.linear(x[:, :92], w[:, :92], rotation="hadamard")
    with pytest.raises(ValueError, match="256×256"):
        layers.linear(x, w, rotation=np.eye(4))
    with pytest.raises(ValueError, match="not orthogonal"):
        layers.linear(x, w, rotation=2 * np.eye(256))
    with pytest.raises(ValueError, match="calibration"):
        layers.linear(x, w, x_format="int8", w_format="int8", calibration="kl")
    with pytest.raises(ValueError, match="per-operand keys"):
        layers.linear(x, w, calibration={"y": "mse"})
    with pytest.raises(ValueError, match="outliers must be"):
        layers.linear(x, w, outliers={"method": "gptq"})
    with pytest.raises(ValueError, match="unknown option"):
        layers.linear(x, w, outliers={"method": "int8", "fraction": 0.1})
    with pytest.raises(ValueError, match="exactly one of"):
        layers.linear(x, w, outliers={"method": "sparse"})
    with pytest.raises(ValueError, match="rank must be"):
        layers.linear(x, w, low_rank=1000)
    with pytest.raises(ValueError, match="factor_format"):
        layers.linear(x, w, low_rank={"rank": 2, "format": "int8"})
    with pytest.raises(ValueError, match="outliers must be"):
        layers.attention(x[None, :8], x[None, :8], x[None, :8], outliers={"method": "int8"})
    with pytest.raises(ValueError, match="asymmetric"):
        layers.linear(x, w, x_format="uint8", w_format="int8", scaling="tensor", calibration="absmax")


def test_attention_calibration_and_sparse_kv():
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((1, 2, 8, 32)) for _ in range(3))
    kw = dict(q_format="int8", k_format="int8", v_format="int8", p_format="float8_e4m3fn")
    base = layers.Attention(**kw)
    same = layers.Attention(calibration={"q": "absmax", "k": "absmax", "v": "absmax"}, **kw)
    np.testing.assert_array_equal(same(q, k, v).output, base(q, k, v).output)  # absmax = the default scales
    k[..., 3] *= 30
    sparse = layers.Attention(outliers={"method": "sparse", "fraction": 0.02}, **kw).compare(q, k, v)
    assert sparse.sqnr_db > base.compare(q, k, v).sqnr_db
