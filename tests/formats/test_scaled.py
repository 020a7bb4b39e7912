"""Scaled integers (per-tensor / per-channel / per-group, symmetric or zero point, scale
formats) and the dyadic requantization helpers.

Oracles: a plain NumPy float32 reference written from the definitions (IEEE float32 division is
correctly rounded; Python's ``round`` is round-half-even), PyTorch's MinMaxObserver +
``quantize_per_tensor`` for asymmetric uint8, and exact Fraction arithmetic for the dyadic
helpers.
"""

from __future__ import annotations

import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lowbit import formats
from lowbit.formats import ScaledIntFormat

INT8, UINT8, INT4, UINT4 = (formats.get(n) for n in ("int8", "uint8", "int4", "uint4"))


def ref_scale(s: np.float32, scale_fmt) -> np.float32:
    name = scale_fmt.name
    if name == "float32":
        return np.float32(s)
    if name == "float16":
        return np.float32(np.float16(s))
    if name == "bfloat16":
        return np.float32(s.astype(ml_dtypes.bfloat16))
    if name == "float8_e8m0fnu":  # power of two, rounded up
        m, e = math.frexp(float(s))
        return np.float32(2.0 ** (e - 1 if m == 0.5 else e))
    raise ValueError(name)


def ref_group(x: np.ndarray, elem, symmetric, scale_fmt):
    """Reference codes (as integers), scale and zero point of one group (float32)."""
    x = x.astype(np.float32)
    qmin, qmax = elem.min, elem.max
    if symmetric:
        s = np.float32(np.abs(x).max()) / np.float32(qmax)
    else:
        lo = min(np.float32(x.min()), np.float32(0))
        hi = max(np.float32(x.max()), np.float32(0))
        s = np.float32(hi - lo) / np.float32(qmax - qmin)
    if s == 0:
        s = np.float32(1)
    s = ref_scale(np.float32(s), scale_fmt)
    zp = 0
    if not symmetric:
        zp = min(max(qmin - round(float(np.float32(lo) / s)), qmin), qmax)
    q = [min(max(round(float(v / s)) + zp, qmin), qmax) for v in x]
    return np.array(q), s, zp


def int_codes(q, elem):
    return (np.asarray(q) % (1 << elem.bits)).astype(np.uint8)


@pytest.mark.parametrize("elem,symmetric", [(INT8, True), (INT4, True), (UINT8, False), (INT8, False), (UINT4, False)])
@pytest.mark.parametrize("scale", ["float32", "float16", "bfloat16", "float8_e8m0fnu"])
def test_group_against_reference(elem, symmetric, scale):
    fmt = ScaledIntFormat(elem, "group", 16, symmetric, formats.get(scale))
    rng = np.random.default_rng(elem.bits + 7 * symmetric + len(scale))
    x = (rng.standard_normal((3, 40)) * np.exp2(rng.integers(-8, 8, size=(3, 1)))).astype(np.float32)
    x[0, :16] = 0.0
    x[1, 16:32] = np.abs(x[1, 16:32]) + 1  # all positive: zero point at qmin
    q = formats.encode(x, fmt)
    assert q.codes.shape == (3, 3, 16) and q.scales[0].shape == (3, 3)
    s_vals = formats.block_scales(q)
    zps = formats.zero_points(q)
    for r in range(3):
        for g in range(3):
            blk = np.zeros(16, np.float32)
            part = x[r, 16 * g:16 * (g + 1)]
            blk[:part.size] = part
            codes, s, zp = ref_group(blk, elem, symmetric, formats.get(scale))
            np.testing.assert_array_equal(q.codes[r, g], int_codes(codes, elem))
            assert s_vals[r, g] == s and zps[r, g] == zp
    v = formats.decode(q)
    assert v.shape == x.shape
    np.testing.assert_array_equal(v, formats.quantize(x, fmt))


def test_per_channel_and_tensor_layout():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((8, 5, 3)).astype(np.float32)
    fmt = ScaledIntFormat(INT8, "channel")
    q = formats.encode(w, fmt, axis=1)
    assert q.codes.shape == w.shape and q.scales[0].shape == (5,) and q.scales[1] is None and q.axis == 1
    for c in range(5):
        codes, s, _ = ref_group(w[:, c, :].ravel(), INT8, True, formats.get("float32"))
        np.testing.assert_array_equal(q.codes[:, c, :].ravel(), int_codes(codes, INT8))
        assert formats.block_scales(q)[c] == s
    qt = formats.encode(w, ScaledIntFormat(INT8))
    assert qt.codes.shape == w.shape and qt.scales[0].shape == () and qt.axis is None
    codes, s, _ = ref_group(w.ravel(), INT8, True, formats.get("float32"))
    np.testing.assert_array_equal(qt.codes.ravel(), int_codes(codes, INT8))
    np.testing.assert_array_equal(formats.decode(qt), (codes.astype(np.float32) * s).reshape(w.shape))


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
def test_asymmetric_uint8_matches_pytorch():
    # PyTorch MinMaxObserver (quint8, per_tensor_affine): scale = (max − min)/255 with the range
    # widened to include 0, zero_point = −round(min/scale) clamped; quantize_per_tensor codes.
    x = torch.randn(2000, generator=torch.Generator().manual_seed(0)) * 3 + 1
    obs = torch.ao.quantization.MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    obs(x)
    s, zp = obs.calculate_qparams()
    q = formats.encode(x.numpy(), ScaledIntFormat(UINT8, symmetric=False))
    assert formats.block_scales(q) == s.item() and formats.zero_points(q) == zp.item()
    ref = torch.quantize_per_tensor(x, s.item(), zp.item(), torch.quint8).int_repr().numpy()
    np.testing.assert_array_equal(q.codes, ref)


def test_two_level_integer_scales():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((4, 64)) * np.exp2(rng.integers(-3, 3, size=(4, 1)))).astype(np.float32)
    fmt = ScaledIntFormat(INT4, "group", 16, scale=UINT8)
    q = formats.encode(x, fmt)
    s_raw = np.abs(x.reshape(4, 4, 16)).max(-1) / np.float32(7)
    S = np.float32(s_raw.max() / np.float32(255))
    assert q.tensor_scale == S and q.tensor_scale.dtype == np.float32
    c = np.clip(np.round(s_raw / S), 1, 255)
    np.testing.assert_array_equal(q.scales[0], c.astype(np.uint8))
    np.testing.assert_array_equal(formats.block_scales(q), (c * S).astype(np.float32))
    np.testing.assert_array_equal(formats.block_scales(q, include_tensor_scale=False), c)
    assert fmt.bits_per_element == 4 + 8 / 16


def test_special_values_and_options():
    fmt = ScaledIntFormat(INT8, "group", 4)
    x = np.array([np.nan, 1.0, -np.inf, 0.5, 0, 0, 0, 0], np.float32)
    q = formats.encode(x, fmt)
    v = formats.decode(q)
    # scale from the finite values (1/127); NaN → 0, −Inf saturates to −127·s
    s = formats.block_scales(q)[0]
    assert s == np.float32(1) / np.float32(127)
    # 1/s = 127; −Inf saturates to the element's minimum (−128 for int8; a narrow IntFormat gives
    # −127); 0.5/s = 63.5 → 64 (ties to even)
    np.testing.assert_array_equal(v[:4], np.float32([0, 127, -128, 64]) * s)
    assert (v[4:] == 0).all()
    assert formats.block_scales(q)[1] == 1.0  # all-zero group: scale 1
    with pytest.raises(TypeError, match="unexpected"):
        formats.encode(x, fmt, tensor_scale=1.0)
    with pytest.raises(ValueError, match="overflow"):
        formats.encode(x, fmt, overflow="inf")


@pytest.mark.parametrize("kw,match", [
    (dict(granularity="row"), "granularity"),
    (dict(granularity="group"), "group_size"),
    (dict(group_size=4), "group_size"),
    (dict(element=UINT8), "symmetric"),
    (dict(scale=INT8), "unsigned"),
    (dict(element=formats.get("float16")), "IntFormat"),
])
def test_record_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        ScaledIntFormat(**kw)


def test_stochastic_rounding():
    fmt = ScaledIntFormat(INT8)
    x = np.full(4000, 0.3, np.float32)
    x[0] = 127.0  # scale 1
    v = formats.quantize(x, fmt, rounding="stochastic", key=0)
    assert set(np.unique(v[1:])) <= {0.0, 1.0} and abs(v[1:].mean() - 0.3) < 0.03


# ----------------------------------------------------------------------------- dyadic
@pytest.mark.parametrize("m,b,c", [(0.5, 2 ** 30, 31), (1.0, 2 ** 30, 30), (0.75, 3 * 2 ** 29, 31),
                                   (2.0 ** 40, 2 ** 30, -10)])
def test_dyadic_known(m, b, c):
    assert formats.dyadic(m) == (b, c)


@settings(max_examples=100)
@given(st.fractions(min_value=Fraction(1, 10 ** 12), max_value=Fraction(10 ** 6)), st.integers(4, 40))
def test_dyadic_is_nearest(m, bits):
    b, c = formats.dyadic(m, bits=bits)
    assert 2 ** (bits - 1) <= b < 2 ** bits
    err = abs(m - Fraction(b, 1) / Fraction(2) ** c)
    # nearest: no neighbour b ± 1 at the same exponent is closer, and the error is at most half a step
    assert err <= Fraction(1, 2) / Fraction(2) ** c
    for nb in (b - 1, b + 1):
        assert abs(m - Fraction(nb) / Fraction(2) ** c) >= err


def test_dyadic_validation():
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            formats.dyadic(bad)
    with pytest.raises(ValueError, match="bits"):
        formats.dyadic(0.5, bits=0)


def _exact_round(p: Fraction, mode: str) -> int:
    f = math.floor(p)
    d = p - f
    if mode == "down":
        return f
    if mode == "up":
        return f + (d != 0)
    if mode == "toward_zero":
        return f + (d != 0 and p < 0)
    if mode == "nearest_away":
        return f + (d > Fraction(1, 2) or (d == Fraction(1, 2) and p >= 0))
    return f + (d > Fraction(1, 2) or (d == Fraction(1, 2) and f % 2 == 1))


@pytest.mark.parametrize("mode", ["nearest_even", "nearest_away", "toward_zero", "up", "down"])
def test_requantize_against_exact(mode):
    rng = np.random.default_rng(len(mode))
    acc = rng.integers(-2 ** 31, 2 ** 31, size=400, dtype=np.int64).astype(np.int32)
    acc[:4] = [0, 1, -1, 2 ** 20]  # plus exact ties below
    m = 0.0123456
    b, c = formats.dyadic(m)
    for zp, out in ((0, "int8"), (7, "uint8"), (-3, "int16")):
        y = formats.requantize(acc, b, c, zero_point=zp, out=out, rounding=mode)
        f = formats.get(out)
        want = [min(max(_exact_round(Fraction(int(a) * b, 2 ** c), mode) + zp, f.min), f.max) for a in acc]
        np.testing.assert_array_equal(y, want)
    ties = np.array([1, 3, -1, -3], np.int32)  # (a · 2^30) / 2^31 = a/2: exact halves
    y = formats.requantize(ties, 2 ** 30, 31, out="int32", rounding=mode)
    np.testing.assert_array_equal(y, [_exact_round(Fraction(int(a), 2), mode) for a in ties])


def test_requantize_validation_and_big_products():
    with pytest.raises(TypeError):
        formats.requantize(np.ones(3), 1, 1)
    with pytest.raises(ValueError, match="rounding"):
        formats.requantize(np.ones(3, np.int32), 1, 1, rounding="odd")
    # products beyond int64: exact Python-int path
    acc = np.array([2 ** 62, -(2 ** 62)], np.int64)
    y = formats.requantize(acc, 2 ** 40, 100, out="int32")
    assert list(y) == [_exact_round(Fraction(2 ** 102, 2 ** 100), "nearest_away"), -4]
