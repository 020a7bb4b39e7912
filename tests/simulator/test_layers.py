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

import simulator
from simulator import layers

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
    acc = np.clip(np.rint(cols / sx), -128, 127).astype(np.int64) @ np.clip(np.rint(wt / sw), -128, 127).astype(np.int64)
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
