"""Layers (Linear, Conv2d via im2col, attention) and simulator.compare.

Oracles: PyTorch (unfold, conv2d, scaled_dot_product_attention in float64), SciPy (rel_entr),
hand computations of integer-quantized layers with NumPy integer arithmetic, and metric values
worked out by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import torch

from lowbit import simulator
from lowbit.simulator import layers

RNG = np.random.default_rng(11)


# ----------------------------------------------------------------------------------- compare
def test_compare_known_answers():
    m = simulator.compare(np.array([3.0, 4.5]), np.array([3.0, 4.0]))
    assert m.n == 2
    assert m.mse == pytest.approx(0.125)
    assert m.max_abs_error == 0.5 and m.mean_abs_error == 0.25
    assert m.max_rel_error == pytest.approx(0.125)
    assert m.sqnr_db == pytest.approx(20.0)  # 10 log10(25 / 0.25)
    assert m.cosine_similarity == pytest.approx((9 + 18) / (math.hypot(3, 4.5) * 5))
    exact = simulator.compare(np.ones(3), np.ones(3))
    assert exact.sqnr_db == math.inf and exact.mse == 0 and exact.cosine_similarity == 1
    assert math.isnan(simulator.compare(np.array([np.nan, 1.0]), np.ones(2)).mse)
    with pytest.raises(ValueError, match="same shape"):
        simulator.compare(np.ones(2), np.ones(3))


def test_compare_kl_matches_scipy():
    r = RNG.standard_normal((4, 7))
    a = r + 0.1 * RNG.standard_normal((4, 7))
    m = simulator.compare(a, r, kl_axis=-1)
    p, q = scipy.special.softmax(r, axis=-1), scipy.special.softmax(a, axis=-1)
    assert m.kl_divergence == pytest.approx(np.mean(scipy.special.rel_entr(p, q).sum(-1)), rel=1e-12)
    assert simulator.compare(p, p, kl_axis=-1, logits=False).kl_divergence == 0


# ----------------------------------------------------------------------------------- linear
def _sym_scale(x, qmax, axis=None):
    amax = np.max(np.abs(x), axis=axis, keepdims=axis is not None)
    return np.where(amax > 0, amax / qmax, 1.0).astype(np.float32).astype(np.float64)


def test_int8_linear_equals_hand_quantized_integer_gemm():
    x = RNG.standard_normal((6, 48)).astype(np.float32)
    w = (RNG.standard_normal((10, 48)) * 0.05).astype(np.float32)
    b = RNG.standard_normal(10).astype(np.float32)
    y = layers.linear(x, w, b, x_format="int8", w_format="int8")
    sx = _sym_scale(x.astype(np.float64), 127)  # per tensor
    sw = _sym_scale(w.astype(np.float64), 127, axis=1).T  # per output channel
    xq = np.clip(np.rint(x / sx), -128, 127).astype(np.int64)
    wq = np.clip(np.rint(w.T / sw), -128, 127).astype(np.int64)
    expect = ((xq @ wq) * sx * sw + b.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(y, expect)
    assert y.dtype == np.float32


def test_unquantized_linear_is_close_to_float64_and_batches():
    x = RNG.standard_normal((2, 3, 16))
    w = RNG.standard_normal((5, 16))
    lin = layers.Linear(w, None, accumulator="float64", output_format=None)
    y = lin(x)
    assert y.shape == (2, 3, 5)
    ref = x.astype(np.float32).astype(np.float64) @ w.astype(np.float32).astype(np.float64).T
    np.testing.assert_allclose(y, ref, rtol=1e-13, atol=1e-13)
    assert lin.compare(x).sqnr_db > 120


def test_fp8_and_block_linear_error_ordering():
    """More mantissa bits, less error: MXFP8/MXFP6 E2M3 (3 mantissa bits) beat MXFP4 (1 bit)."""
    x = RNG.standard_normal((16, 128)).astype(np.float32)
    w = (RNG.standard_normal((32, 128)) * 0.1).astype(np.float32)
    s = {f: layers.Linear(w, x_format=f, w_format=f).compare(x).sqnr_db
         for f in ("mxfp8_e4m3", "mxfp6_e2m3", "mxfp4")}
    assert min(s["mxfp8_e4m3"], s["mxfp6_e2m3"]) > s["mxfp4"] + 6 > 16
    with pytest.raises(ValueError, match="scales itself"):
        layers.linear(x, w, x_format="mxfp4", w_format="mxfp4", scaling="tensor")
    with pytest.raises(ValueError, match="scaling must be one of"):
        layers.linear(x, w, x_format="int8", w_format="int8", scaling="row")


# ----------------------------------------------------------------------------------- conv
@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (2, 1, 1), ((1, 2), (2, 0), (2, 1))])
def test_im2col_matches_torch_unfold(stride, padding, dilation):
    x = RNG.standard_normal((2, 3, 9, 8))
    cols, (ho, wo) = layers.im2col(x, (3, 2), stride=stride, padding=padding, dilation=dilation)
    ref = torch.nn.functional.unfold(torch.tensor(x), (3, 2), dilation=dilation, padding=padding, stride=stride)
    np.testing.assert_array_equal(cols, ref.numpy().transpose(0, 2, 1))
    assert cols.shape[1] == ho * wo


def test_conv2d_matches_torch_and_int8_hand_computation():
    x = RNG.standard_normal((2, 3, 10, 10))
    w = RNG.standard_normal((4, 3, 3, 3)) * 0.2
    b = RNG.standard_normal(4)
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=2, padding=1).numpy()
    conv = layers.Conv2d(w, b, stride=2, padding=1, accumulator="float64", output_format=None)
    np.testing.assert_allclose(conv.reference(x), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv(x), ref, rtol=1e-5, atol=1e-6)  # float32 operands
    y8 = layers.conv2d(x, w, b, stride=2, padding=1, x_format="int8", w_format="int8")
    cols, (ho, wo) = layers.im2col(x, 3, stride=2, padding=1)
    wt = w.reshape(4, -1).T
    sx = _sym_scale(cols, 127)
    sw = _sym_scale(wt, 127, axis=0)
    qx = np.clip(np.rint(cols / sx), -128, 127).astype(np.int64)
    acc = qx @ np.clip(np.rint(wt / sw), -128, 127).astype(np.int64)
    expect = (acc * sx * sw + b).astype(np.float32).transpose(0, 2, 1).reshape(2, 4, ho, wo)
    np.testing.assert_array_equal(y8, expect)
    assert 25 < layers.Conv2d(w, b, stride=2, padding=1, x_format="int8", w_format="int8").compare(x).sqnr_db < 60


# ----------------------------------------------------------------------------------- attention
@pytest.mark.parametrize("causal", [False, True])
def test_attention_reference_matches_torch_sdpa(causal):
    q = RNG.standard_normal((2, 3, 5, 8))
    k = RNG.standard_normal((2, 3, 7, 8))
    v = RNG.standard_normal((2, 3, 7, 4))
    ref = layers.attention_reference(q, k, v, causal=causal)
    if causal:  # torch's is_causal aligns to the top-left; build the bottom-right mask explicitly
        mask = torch.tensor(np.tril(np.ones((5, 7), bool), k=2))
        t = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                                                             attn_mask=mask)
    else:
        t = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v))
    np.testing.assert_allclose(ref.output, t.numpy(), rtol=1e-12, atol=1e-12)


def test_int8_qk_scores_and_fp8_probabilities():
    q = RNG.standard_normal((2, 6, 16))
    k = RNG.standard_normal((2, 9, 16))
    v = RNG.standard_normal((2, 9, 8))
    r = layers.attention(q, k, v, q_format="int8", k_format="int8", p_format="float8_e4m3fn", v_format="bfloat16")
    sq, sk = _sym_scale(q, 127), _sym_scale(k, 127)
    qi = np.clip(np.rint(q / sq), -128, 127).astype(np.int64)
    ki = np.clip(np.rint(k / sk), -128, 127).astype(np.int64)
    S = (qi @ np.swapaxes(ki, -1, -2)) * sq * sk * (1 / math.sqrt(16))
    np.testing.assert_array_equal(r.scores, S)
    import ml_dtypes

    P = scipy.special.softmax(S, axis=-1)
    np.testing.assert_array_equal(r.probs, P.astype(ml_dtypes.float8_e4m3fn).astype(np.float64))
    att = layers.Attention(q_format="int8", k_format="int8", p_format="float8_e4m3fn", v_format="bfloat16")
    m = att.compare(q, k, v)
    ref = layers.attention_reference(q, k, v)
    kl = np.mean(scipy.special.rel_entr(ref.probs, scipy.special.softmax(S, -1)).sum(-1))
    assert m.kl_divergence == pytest.approx(kl, rel=1e-9, abs=1e-15)
    assert 0 < m.kl_divergence < 1e-2 and m.sqnr_db > 15
    exact = layers.Attention(qk_accumulator="float64", pv_accumulator="float64", output_format=None).compare(q, k, v)
    assert exact.sqnr_db > 100 and exact.kl_divergence < 1e-12
    with pytest.raises(ValueError, match="shapes"):
        layers.attention(q, k[..., :8], v)


# ----------------------------------------------------------------- scaling never overflows the accumulator
import ml_dtypes  # noqa: E402

from lowbit import formats  # noqa: E402

#: every signed float format of the registry (unsigned ones, e.g. E8M0, have no negative values)
SIGNED_FLOATS = [n for n in formats.names() if formats.get(n).family == "float" and formats.get(n).signed]
F32_EPS = float(np.finfo(np.float32).eps)


def _tol(name):
    """Allowed max |error| / max|v| of emulated attention against float64 attention: 4× the
    operand format's eps, or float32's where the float32 accumulator and float32 output are
    coarser. One rounding of q, k, P and v each (≤ eps/2 relative), the scores' error
    amplified by the softmax (|ΔP|/P ≲ 2|ΔS|, |S| ≲ 2 here), and float32 rounding in the
    accumulator and the output: about 2·eps in all, doubled for margin."""
    return 4 * max(formats.get(name).eps, F32_EPS)


@pytest.mark.parametrize("scaling", ["tensor", "channel"])
@pytest.mark.parametrize("name", SIGNED_FLOATS)
def test_attention_with_scaling_is_close_to_float64_for_every_float_format(name, scaling):
    q, k, v = (RNG.standard_normal((2, 8, 16)) for _ in range(3))
    ref = layers.attention_reference(q, k, v)
    for att in (layers.Attention(q_format=name, k_format=name, p_format=name, v_format=name, scaling=scaling),
                layers.Attention(q_format=name, k_format=name, scaling=scaling)):  # P, V float32
        r = att(q, k, v)
        assert np.all(np.isfinite(r.output)) and np.all(np.isfinite(r.scores))
        err = np.max(np.abs(r.output - ref.output)) / np.max(np.abs(v))
        assert err <= _tol(name), (name, scaling, err)


@pytest.mark.parametrize("scaling", ["tensor", "channel"])
@pytest.mark.parametrize("name", SIGNED_FLOATS)
def test_linear_with_scaling_is_close_to_float64_for_every_float_format(name, scaling):
    x = RNG.standard_normal((4, 64)) * 30
    w = RNG.standard_normal((8, 64)) * 0.02
    y = layers.linear(x, w, x_format=name, w_format=name, scaling=scaling)
    ref = x @ w.T
    assert np.all(np.isfinite(y))
    # each product carries ≤ 2 roundings (eps/2 each): |Δy| ≤ eps · Σ|x||w|, plus float32 sums
    bound = 2 * max(formats.get(name).eps, F32_EPS) * (np.abs(x) @ np.abs(w).T)
    assert np.all(np.abs(y - ref) <= bound)


def test_old_nan_case_bfloat16_channel_attention():
    """The reported case: bfloat16 q/k with scaling='channel' mapped amax onto bfloat16's max
    (3.39e38); the products overflowed the float32 accumulator and the softmax made NaN."""
    q, k, v = (RNG.standard_normal((1, 4, 8)) for _ in range(3))
    att = layers.Attention(q_format="bfloat16", k_format="bfloat16", scaling="channel")
    r = att(q, k, v)
    assert not np.any(np.isnan(r.output)) and not np.any(np.isnan(r.probs))
    ref = att.reference(q, k, v)
    np.testing.assert_allclose(r.output, ref.output, atol=_tol("bfloat16") * np.max(np.abs(v)))
    m = att.compare(q, k, v)
    assert m.sqnr_db > 40 and m.kl_divergence < 1e-4


@pytest.mark.parametrize("name", ["float32", "float64", "tf32", "bfloat16"])
def test_wide_formats_with_tensor_scaling_give_float32_gemm_accuracy(name):
    """float32/float64 operands used to divide by a float32 scale that underflowed to 0 (float64)
    or overflow the accumulator; now the layer is the float32 GEMM it should be."""
    x = RNG.standard_normal((3, 32))
    w = RNG.standard_normal((5, 32))
    y = layers.linear(x, w, x_format=name, w_format=name, scaling="tensor", accumulator="float32")
    np.testing.assert_allclose(y, x @ w.T, rtol=0, atol=4 * max(formats.get(name).eps, F32_EPS) * 32 * 4)


@pytest.mark.parametrize("fmt, acc, K", [("float8_e4m3fn", "float16", 256), ("float8_e5m2", "float16", 64),
                                          ("bfloat16", "float32", 4096), ("float32", "float32", 1000),
                                          ("float16", "float16", 32), ("bfloat16", "bfloat16", 128)])
@pytest.mark.parametrize("scaling", ["tensor", "channel"])
def test_worst_case_sums_stay_inside_the_accumulator(fmt, acc, K, scaling):
    """All-equal inputs are the worst case: every product is amax_x·amax_w after scaling and
    the sum is K times that. It must not overflow; the result is exactly K·7·3 (powers-of-two
    scales, exact products, and partial sums that are exact in the accumulator)."""
    x = np.full((2, K), 7.0)
    w = np.full((3, K), 3.0)
    y = layers.linear(x, w, x_format=fmt, w_format=fmt, scaling=scaling, accumulator=acc, output_format=None)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, np.full((2, 3), 21.0 * K), rtol=formats.get(acc).eps)


def test_chunk_accumulator_is_respected():
    """k_chunk partial sums live in the chunk accumulator (float16 here): they must fit it too."""
    x = np.full((1, 512), 1.0)
    w = np.full((2, 512), 1.0)
    y = layers.linear(x, w, x_format="float8_e4m3fn", w_format="float8_e4m3fn", scaling="tensor",
                      accumulator="float32", k_chunk=128, chunk_accumulator="float16", output_format=None)
    np.testing.assert_array_equal(y, np.full((1, 2), 512.0))


def test_fp8_tensor_scale_still_maps_amax_to_the_format_max():
    """Where nothing can overflow (FP8 into float32) the scale is amax / 448, as before and as
    FP8 recipes do: checked against a hand computation with ml_dtypes and a float32 loop."""
    x = RNG.standard_normal((3, 24))
    w = RNG.standard_normal((2, 24))
    y = layers.linear(x, w, x_format="float8_e4m3fn", w_format="float8_e4m3fn", scaling="tensor",
                      output_format=None)
    sx, sw = _sym_scale(x, 448.0), _sym_scale(w, 448.0)
    xq = (x / sx).astype(ml_dtypes.float8_e4m3fn).astype(np.float32)
    wq = (w / sw).astype(ml_dtypes.float8_e4m3fn).astype(np.float32)
    assert np.max(np.abs(xq)) == 448
    for m in range(3):
        for n in range(2):
            acc = np.float32(0)
            for kk in range(24):
                acc = np.float32(acc + xq[m, kk] * wq[n, kk])
            assert y[m, n] == float(acc) * sx * sw


def test_tiny_and_huge_rows_with_channel_scaling():
    """A row whose amax / max underflows float32 gets the smallest float32 scale (no division by
    zero); an amax whose scale would exceed float32 is a clear error naming the operand."""
    x = np.array([[1e-44, -2e-44, 0.0, 1e-44], [1.0, 2.0, 3.0, 4.0]])
    w = np.eye(4)
    y = layers.linear(x, w, x_format="float8_e4m3fn", w_format="float8_e4m3fn", scaling="channel",
                      output_format=None)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y[1], x[1], rtol=0.07)
    assert abs(y[0, 1]) > 0
    with pytest.raises(ValueError, match=r"x: max\|x\| = 1e\+300 needs a scale beyond float32"):
        layers.linear(np.array([[1e300, 1.0]]), np.eye(2), x_format="float8_e4m3fn", w_format="float8_e4m3fn",
                      scaling="tensor")


# ----------------------------------------------------------------------------- bad input is named
_X, _W = np.ones((2, 4)), np.ones((3, 4))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: layers.linear(_X + 1j, _W, x_format="int8", w_format="int8"), TypeError, "x must hold real numbers"),
    (lambda: layers.linear(_X, _W.astype(object)), TypeError, "weight must hold real numbers"),
    (lambda: layers.linear(_X, _W, np.ones(1)), ValueError, r"bias must have shape \(3,\)"),
    (lambda: layers.linear(_X, _W, np.ones(5)), ValueError, r"bias must have shape \(3,\)"),
    (lambda: layers.Linear(_W, np.ones(1)).reference(_X), ValueError, r"bias must have shape \(3,\)"),
    (lambda: layers.linear(np.float64(1.0), _W), ValueError, "x must have at least 1 dimension"),
    (lambda: layers.linear(_X, _W, x_format="nope"), KeyError, "x_format: .*unknown format 'nope'"),
    (lambda: layers.linear(_X, _W, w_format=3), TypeError, "w_format must be a format record"),
    (lambda: layers.linear(_X, _W, output_format="nope"), KeyError, "output_format: .*unknown format"),
    (lambda: layers.linear(_X, _W, accumulator="nope"), KeyError, "accumulator: .*unknown format"),
    (lambda: layers.conv2d(np.ones((1, 2, 4, 4)), np.ones((3, 2, 2, 2)), np.ones(2)), ValueError,
     r"bias must have shape \(3,\)"),
    (lambda: layers.conv2d(np.ones((2, 4, 4)), np.ones((3, 2, 2, 2))), ValueError, "x must be NCHW"),
    (lambda: layers.attention(_X, _X, _X, scale="0.5"), TypeError, "scale must be a real number"),
    (lambda: layers.attention(_X, _X, _X, scale=float("nan")), ValueError, "scale must be finite"),
    (lambda: layers.attention(_X, _X, _X, causal="no"), TypeError, "causal must be a bool"),
    (lambda: layers.attention(np.ones((4, 4)), np.ones((2, 4)), np.ones((2, 4)), causal=True), ValueError,
     "needs Lq <= Lk"),
    (lambda: layers.attention_reference(np.ones((4, 4)), np.ones((2, 4)), np.ones((2, 4)), causal=True),
     ValueError, "needs Lq <= Lk"),
    (lambda: layers.attention(np.ones(4), np.ones(4), np.ones(4)), ValueError, "q must have at least 2"),
    (lambda: layers.attention(_X, _X, _X, p_format="nope"), KeyError, "p_format: .*unknown format"),
    (lambda: layers.attention(_X, _X, _X + 1j), TypeError, "v must hold real numbers"),
    (lambda: simulator.compare(_X + 1j, _X), TypeError, "approx must hold real numbers"),
    (lambda: simulator.compare(_X, np.array([["a"] * 4] * 2)), TypeError, "reference must hold real numbers"),
    (lambda: simulator.compare(_X, _X, kl_axis=5), ValueError, r"kl_axis must be in \[-2, 1\]"),
    (lambda: simulator.compare(_X, _X, kl_axis=1.0), TypeError, "kl_axis must be an int"),
])
def test_bad_input_is_a_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_causal_with_as_many_queries_as_keys_still_works():
    q = RNG.standard_normal((3, 4))
    r = layers.attention_reference(q, q, q, causal=np.bool_(True), scale=np.float32(0.5))
    assert np.all(np.isfinite(r.output))
    np.testing.assert_allclose(r.output[0], q[0])  # the first query sees only the first key
