"""Differential oracle: gfloat's block quantization (``quantize_block`` with
``compute_scale_amax``, ``encode_block``) against the OCP MX FLOOR rule, on random blocks.

gfloat computes X = 2^(floor(log2 amax) − emax_elem) clipped to 2^[−127, 127] (1 → 2^-127 for
an all-zero block) and rounds V/X to the element with ties to even, saturating — the spec's
§6.3 conversion. Its MXINT8 element is two's complement down to −2 (code 0x80); lowbit keeps the
symmetric ±127/64 of microxcaling, so a negative block maximum that rounds to −2 is compared as
−127/64 (asserted separately).
"""

from __future__ import annotations

import numpy as np
import pytest
from gfloat import RoundMode, compute_scale_amax, decode_block, encode_block, quantize_block, round_ndarray
from gfloat import formats as gff

from lowbit import formats

GF = {
    "mxfp8_e4m3": gff.format_info_mxfp8_e4m3,
    "mxfp8_e5m2": gff.format_info_mxfp8_e5m2,
    "mxfp6_e3m2": gff.format_info_mxfp6_e3m2,
    "mxfp6_e2m3": gff.format_info_mxfp6_e2m3,
    "mxfp4": gff.format_info_mxfp4_e2m1,
    "mxint8": gff.format_info_mxint8,
}


def random_blocks(seed, n=40):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 32)) * np.exp2(rng.integers(-60, 60, size=(n, 1)))
    x[0] = 0.0
    x[1, ::3] *= 2.0 ** -12  # element subnormals
    x[2] = np.round(x[2] * 4) / 4  # many exact values and ties
    return x.astype(np.float32)


@pytest.mark.parametrize("name", list(GF))
def test_values_match_gfloat_quantize_block(name):
    fi = GF[name]
    x = random_blocks(len(name))
    ours = formats.quantize(x, name).astype(np.float64)
    for i, blk in enumerate(x.astype(np.float64)):
        ref = quantize_block(fi, blk, compute_scale_amax, RoundMode.TiesToEven)
        if name == "mxint8":
            scale = compute_scale_amax(fi.etype.emax, blk)
            ref = np.maximum(ref, -127 / 64 * scale)  # symmetric INT8 (see module docstring)
        np.testing.assert_array_equal(ours[i], ref, err_msg=f"block {i}")


@pytest.mark.parametrize("name", list(GF))
def test_codes_match_gfloat_encode_block(name):
    fi = GF[name]
    x = random_blocks(len(name) + 1)
    q = formats.encode(x, name)
    for i, blk in enumerate(x.astype(np.float64)):
        scale = compute_scale_amax(fi.etype.emax, blk)
        enc = list(encode_block(fi, scale, blk / scale, RoundMode.TiesToEven))
        if name == "mxint8":
            enc[1:] = [0x81 if c == 0x80 else c for c in enc[1:]]
        assert enc[0] == q.scales[i, 0], f"block {i}"
        np.testing.assert_array_equal(q.codes[i, 0], enc[1:], err_msg=f"block {i}")
        # and gfloat decodes lowbit's codes to lowbit's values
        dec = np.fromiter(decode_block(fi, [int(q.scales[i, 0])] + [int(c) for c in q.codes[i, 0]]), float)
        np.testing.assert_array_equal(dec, formats.decode(q)[i].astype(np.float64))


def test_mxint8_minus_two_corner():
    # gfloat may produce −2 (0x80) for a negative block maximum just below −2^e; lowbit saturates
    # to −127/64 (symmetric range, microxcaling's max_norm = 1.984375)
    x = np.zeros(32, np.float32)
    x[0] = -1.999
    q = formats.encode(x, "mxint8")
    assert q.codes[0, 0] == 0x81 and formats.decode(q)[0] == -127 / 64
    enc = list(encode_block(gff.format_info_mxint8, 1.0, x.astype(np.float64), RoundMode.TiesToEven))
    assert enc[1] == 0x80


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4"])
def test_explicit_random_bits_round_each_element_as_gfloat(name):
    """Stochastic rounding of block formats with explicit random bits (one per element of x,
    srbits=): each element is rounded as gfloat rounds it (``round_ndarray(..., Stochastic, sat=True,
    srbits, srnumbits)`` of V / X, X the block's power-of-two scale, which rounding does not
    change), on NumPy, Numba (≥ 2^15 elements) and JAX, with the blocking axis first or last and
    a partial block."""
    import jax.numpy as jnp

    fi = GF[name].etype
    R = 6
    for rows, axis in ((8, -1), (1100, -1), (8, 0)):
        x = np.concatenate([random_blocks(rows, rows)] * 2, axis=1)[:, :60]  # 60: a partial block
        if axis == 0:
            x = np.ascontiguousarray(x.T)
        bits = np.random.default_rng(rows).integers(0, 2**R, size=x.shape, dtype=np.uint8)
        scales = np.asarray(formats.block_scales(formats.encode(x, name, axis=axis)), np.float64)
        xm = np.moveaxis(x, axis, -1).astype(np.float64)
        bm = np.moveaxis(bits, axis, -1)
        s = np.repeat(scales, 32, axis=-1)[:, :60]
        want = round_ndarray(fi, xm / s, RoundMode.Stochastic, True, bm.astype(np.int64), R) * s
        want = np.moveaxis(want, -1, axis)
        kw = dict(rounding="stochastic", srbits=bits, random_bits=R, axis=axis)
        got = formats.quantize(x, name, **kw)
        np.testing.assert_array_equal(got.astype(np.float64), want, err_msg=f"{rows} rows")
        q = formats.encode(x, name, **kw)
        np.testing.assert_array_equal(formats.decode(q).astype(np.float64), want)
        if rows <= 8:
            kw["srbits"] = jnp.asarray(bits)
            got = formats.quantize(jnp.asarray(x), name, **kw)
            np.testing.assert_array_equal(np.asarray(got).astype(np.float64), want, err_msg="jax")
