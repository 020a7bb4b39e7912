"""Differential oracle: torchao 0.18 (``torchao.prototype.mx_formats``) for OCP MX and NVFP4.

Codes and scales must agree bit for bit on random tensors of several shapes, including blocks
of zeros, values in the element-subnormal range, float32 subnormals beside normal values, and
values near the float32 maximum, for the FLOOR, RCEIL, CEIL and EVEN scale rules, and for NVFP4
with one and two scale levels.

Documented divergences (not compared as equal, asserted as what they are):

* blocks whose E8M0 scale is code 0 (2^-127; only blocks with amax below about 2^-118): torchao
  divides the elements by max(2^-127, 2^-126) = 2^-126 under FLOOR/CEIL/EVEN (its
  ``F32_MIN_NORMAL`` clamp) and by 1 under RCEIL (``exp2f_rcp`` of code 0), so its element codes
  do not decode back to the input; lowbit divides by the scale itself, as OCP MX v1.0 §6.3 says.
* NaN/Inf blocks: torchao gives a NaN scale only for NaN; lowbit also for ±Inf (spec rule,
  tested in test_block.py).
"""

from __future__ import annotations

import dataclasses
import zlib

import ml_dtypes
import numpy as np
import pytest
import torch
from torchao.prototype.mx_formats.config import ScaleCalculationMode
from torchao.prototype.mx_formats.constants import DTYPE_FP6_E2M3, DTYPE_FP6_E3M2
from torchao.prototype.mx_formats.kernels import unpack_uint4
from torchao.prototype.mx_formats.mx_tensor import to_mx
from torchao.prototype.mx_formats.nvfp4_tensor import nvfp4_quantize, per_tensor_amax_to_scale

from lowbit import formats

ELEM = {
    "mxfp8_e4m3": torch.float8_e4m3fn,
    "mxfp8_e5m2": torch.float8_e5m2,
    "mxfp6_e3m2": DTYPE_FP6_E3M2,
    "mxfp6_e2m3": DTYPE_FP6_E2M3,
    "mxfp4": torch.float4_e2m1fn_x2,
}
MODES = {"floor": ScaleCalculationMode.FLOOR, "rceil": ScaleCalculationMode.RCEIL,
         "ceil": ScaleCalculationMode.CEIL, "even": ScaleCalculationMode.EVEN}
SHAPES = [(4, 64), (3, 5, 96), (128, 32)]


def hard_tensor(shape, seed, block=32):
    """Random data with the awkward cases torchao and lowbit must agree on."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    blocks = x.reshape(-1, block)  # blocks along the last axis (shape[-1] % block == 0)
    # a random power-of-two magnitude per block: 2^-100 … 2^100
    blocks *= np.exp2(rng.integers(-100, 100, size=(blocks.shape[0], 1)))
    blocks[0] = 0.0                                                 # an all-zero block
    blocks[1] = rng.standard_normal(block) * 2.0 ** -30             # element-subnormal range …
    blocks[1, 1] = 1.0                                              # … beside a normal amax
    blocks[-1] = rng.standard_normal(block) * 1e-39                 # float32 subnormals …
    blocks[-1, 0] = 3.0                                             # … in a normal block
    blocks[-2, -1] = 3.3e38                                         # near the float32 maximum
    return blocks.reshape(shape).astype(np.float32)


def torchao_mx(x, name, rule):
    s, d = to_mx(torch.from_numpy(x), ELEM[name], 32, scaling_mode=MODES[rule])
    s = s.view(torch.uint8).numpy()
    if name == "mxfp4":
        d = unpack_uint4(d.view(torch.uint8)).numpy()
    else:
        d = d.view(torch.uint8).numpy()
    return s, d.reshape(x.shape)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("rule", list(MODES))
@pytest.mark.parametrize("name", list(ELEM))
def test_mx_codes_and_scales_match_torchao(name, rule, shape):
    x = hard_tensor(shape, seed=zlib.crc32(repr((name, rule, shape)).encode()))
    s_ao, d_ao = torchao_mx(x, name, rule)
    fmt = dataclasses.replace(formats.get(name), scale_rule=rule)
    q = formats.encode(x, fmt)
    np.testing.assert_array_equal(q.scales, s_ao.reshape(q.scales.shape))
    codes = q.codes.reshape(x.shape)
    # every block except the documented scale-code-0 divergence (an all-zero block is compared)
    nonzero = q.codes.reshape(q.scales.shape + (32,)).any(axis=-1)
    compared = np.repeat(~((q.scales == 0) & nonzero), 32, axis=-1).reshape(x.shape)
    assert compared.mean() > 0.8
    np.testing.assert_array_equal(codes[compared], d_ao[compared])


def test_mx_scale_code_zero_divergence_is_torchaos_clamp():
    # A block of float32 subnormals gets scale code 0 (2^-127) in both. torchao's FLOOR divides
    # by 2^-126 instead, so its codes equal lowbit's codes of x / 2 (the same block at half size).
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((2, 32)) * 1e-39).astype(np.float32)
    s_ao, d_ao = torchao_mx(x, "mxfp8_e5m2", "floor")
    q = formats.encode(x, "mxfp8_e5m2")
    assert (s_ao == 0).all() and (q.scales == 0).all()
    half = formats.encode((x.astype(np.float64) / 2).astype(np.float32), "mxfp8_e5m2")
    np.testing.assert_array_equal(half.codes.reshape(x.shape), d_ao)
    assert not np.array_equal(q.codes.reshape(x.shape), d_ao)
    # lowbit's codes decode back to the input to E5M2 precision at scale 2^-127
    np.testing.assert_allclose(formats.decode(q), x, rtol=2 ** -3, atol=2.0 ** -143)


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp4"])
def test_mx_bfloat16_input_matches_torchao(name):
    x = hard_tensor((8, 64), seed=5).astype(ml_dtypes.bfloat16)
    xt = torch.from_numpy(x.view(np.int16)).view(torch.bfloat16)
    s, d = to_mx(xt, ELEM[name], 32)
    d = unpack_uint4(d.view(torch.uint8)).numpy() if name == "mxfp4" else d.view(torch.uint8).numpy()
    q = formats.encode(x, name)
    np.testing.assert_array_equal(q.scales, s.view(torch.uint8).numpy())
    nonzero = q.codes.any(axis=-1)
    compared = np.repeat(~((q.scales == 0) & nonzero), 32, axis=-1)
    np.testing.assert_array_equal(q.codes.reshape(x.shape)[compared], d.reshape(x.shape)[compared])


def torchao_nvfp4(x, two_level):
    xt = torch.from_numpy(x)
    pts = per_tensor_amax_to_scale(xt.abs().max()) if two_level else None
    s, d = nvfp4_quantize(xt, 16, pts)
    d = d.view(torch.uint8)
    d = unpack_uint4(d).numpy() if d.shape[-1] * 2 == x.shape[-1] else d.numpy()
    return s.view(torch.uint8).numpy(), d.reshape(x.shape), None if pts is None else pts.numpy()


@pytest.mark.parametrize("shape", [(4, 64), (64, 48), (2, 160)], ids=str)
@pytest.mark.parametrize("two_level", [True, False], ids=["two-level", "one-level"])
def test_nvfp4_codes_and_scales_match_torchao(shape, two_level):
    x = hard_tensor(shape, seed=sum(shape) + two_level, block=16)
    if two_level:  # NVFP4's tensor scale serves tensors of moderate range
        x = np.clip(x, -1e6, 1e6) * np.float32(1e-3)
    fmt = formats.get("nvfp4")
    if not two_level:
        fmt = dataclasses.replace(fmt, tensor_scale=None)
    s_ao, d_ao, pts = torchao_nvfp4(x, two_level)
    q = formats.encode(x, fmt)
    np.testing.assert_array_equal(q.scales, s_ao.reshape(q.scales.shape))
    np.testing.assert_array_equal(q.codes.reshape(x.shape), d_ao)
    if two_level:
        assert q.tensor_scale == pts  # amax / (448 · 6) in float32
        # torchao's dequantization (scale as multiplier, fl(ts · s) · e) equals lowbit's decode
        from torchao.prototype.mx_formats.nvfp4_tensor import NVFP4Tensor

        ref = NVFP4Tensor.to_nvfp4(torch.from_numpy(x), per_tensor_scale=torch.tensor(pts))
        np.testing.assert_array_equal(formats.decode(q), ref.dequantize(torch.float32).numpy())


def test_nvfp4_user_tensor_scale():
    x = hard_tensor((4, 64), seed=3, block=16)
    x = np.clip(x, -10, 10)
    pts = np.float32(0.01)
    s, d = nvfp4_quantize(torch.from_numpy(x), 16, torch.tensor(pts))
    q = formats.encode(x, "nvfp4", tensor_scale=pts)
    np.testing.assert_array_equal(q.scales, s.view(torch.uint8).numpy().reshape(q.scales.shape))
    np.testing.assert_array_equal(q.codes.reshape(x.shape), unpack_uint4(d.view(torch.uint8)).numpy())
    assert q.tensor_scale == pts
