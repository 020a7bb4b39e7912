"""Calibration and static scales: ``formats.calibrate`` and the ``scale=`` / ``zero_point=``
options of ``quantize`` / ``encode``.

Oracles (issue 14, item 2): a static ``absmax`` scale reproduces the dynamic codes exactly (every
family with scales, NumPy and ``jax.jit``); ``mse`` equals a brute-force argmin over the same
candidate grid; ``percentile`` clips exactly the stated fraction of each group.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowbit import formats

INT4, INT8, UINT8 = (formats.get(n) for n in ("int4", "int8", "uint8"))
E8M0 = formats.get("float8_e8m0fnu")
SI = formats.ScaledIntFormat

# (format, axis) — the formats whose QArrays carry scales, in every layout
SCALED = {
    "int8-tensor": (SI(INT8), -1),
    "int8-channel": (SI(INT8, "channel"), 0),
    "int4-g32": (SI(INT4, "group", 32), -1),
    "int4-g128-bf16": (SI(INT4, "group", 128, scale=formats.get("bfloat16")), -1),
    "int4-g32-e8m0": (SI(INT4, "group", 32, scale=E8M0), -1),
    "int4-g32-uint8x": (SI(INT4, "group", 32, scale=formats.get("uint8")), -1),
    "uint8-tensor-asym": (SI(UINT8, symmetric=False), -1),
    "uint4-g32-asym": (SI(formats.get("uint4"), "group", 32, symmetric=False), -1),
    "uint8-channel-asym": (SI(UINT8, "channel", symmetric=False), 1),
}
BLOCK = {f.name: (f, -1) for f in formats.select(family="block")}
BLOCK.update({f"mxfp4-{r}": (dataclasses.replace(formats.get("mxfp4"), scale_rule=r), -1)
              for r in ("ceil", "rceil", "even")})
CODEBOOK = {"nf4": (formats.get("nf4"), -1),
            "nf4-tensor": (formats.CodebookFormat(formats.NF4_LEVELS, None), -1)}
WITH_SCALES = {**SCALED, **BLOCK, **CODEBOOK}


def data(seed=0, shape=(6, 200)):
    """Heavy-tailed values, a few outlier channels, specials and an all-zero row."""
    rng = np.random.default_rng(seed)
    x = rng.standard_t(4, size=shape)
    x[:, 3] *= 40.0
    x[1, 5] = np.nan
    x[2, 7] = -np.inf
    x[3] = 0.0
    return x.astype(np.float32)


def assert_same_qarray(a, b):
    np.testing.assert_array_equal(np.asarray(a.codes), np.asarray(b.codes))
    sa, sb = a.scales, b.scales
    if isinstance(sa, tuple):
        for u, v in zip(sa, sb, strict=True):
            assert (u is None) == (v is None)
            if u is not None:
                np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    else:
        np.testing.assert_array_equal(np.asarray(sa), np.asarray(sb))
    if a.tensor_scale is not None or b.tensor_scale is not None:
        np.testing.assert_array_equal(np.asarray(a.tensor_scale), np.asarray(b.tensor_scale))


# ------------------------------------------------------------------------------ absmax oracle
@pytest.mark.parametrize("name", sorted(WITH_SCALES))
def test_static_absmax_reproduces_the_dynamic_codes(name):
    fmt, axis = WITH_SCALES[name]
    x = data()
    cal = formats.calibrate(x, fmt, method="absmax", axis=axis)
    assert cal.method == "absmax"
    assert_same_qarray(formats.encode(x, fmt, axis=axis, **cal), formats.encode(x, fmt, axis=axis))
    np.testing.assert_array_equal(formats.quantize(x, fmt, axis=axis, **cal), formats.quantize(x, fmt, axis=axis))


@pytest.mark.parametrize("name", ["int8-channel", "int4-g32", "uint4-g32-asym", "mxfp4", "nvfp4", "mxint8", "nf4"])
def test_static_absmax_under_jit(name):
    fmt, axis = WITH_SCALES[name]
    x = data(1)
    xj = jnp.asarray(x)
    cal = jax.jit(lambda v: formats.calibrate(v, fmt, axis=axis))(xj)
    assert isinstance(cal, formats.Calibration)
    q = jax.jit(lambda v, c: formats.encode(v, fmt, axis=axis, **c))(xj, cal)
    assert_same_qarray(q, formats.encode(x, fmt, axis=axis))
    y = jax.jit(lambda v, c: formats.quantize(v, fmt, axis=axis, **c))(xj, cal)
    np.testing.assert_array_equal(np.asarray(y), formats.quantize(x, fmt, axis=axis))


def test_static_scale_applies_to_new_data():
    """A scale calibrated on one batch quantizes another: values beyond its range saturate."""
    fmt = SI(INT8, "channel")
    calib = data(0)
    cal = formats.calibrate(calib, fmt, axis=0)
    y = (data(5) * 3).astype(np.float32)  # larger than the calibration data
    q = formats.encode(y, fmt, axis=0, **cal)
    s = formats.block_scales(q)
    np.testing.assert_array_equal(s, np.asarray(cal.scale, np.float32))  # float32 scales, stored as given
    fin = np.where(np.isfinite(y), y, 0)
    want = np.clip(np.round(fin / s[:, None]), -128, 127)  # NumPy rounds half to even
    want[np.isposinf(y)], want[np.isneginf(y)] = 127, -128
    want[np.isnan(y)] = 0
    np.testing.assert_array_equal(formats.decode(q, np.float64), want * s[:, None].astype(np.float64))


# ------------------------------------------------------------------------------ scalar formats
def test_scalar_formats_quantize_with_a_static_scale():
    x = data(2)
    s = np.float32(0.037)
    got = formats.quantize(x, "int8", scale=s)
    fin = np.nan_to_num(x, nan=0.0, posinf=1e30, neginf=-1e30)
    want = (np.clip(np.round(fin / s), -128, 127) * s).astype(np.float32)
    want[np.isnan(x)] = 0.0  # integers have no NaN: +0, as quantize without a scale
    np.testing.assert_array_equal(got, want)
    # per-channel scales broadcast; FP8 saturates with a static scale (natural overflow is NaN)
    sc = np.abs(np.nan_to_num(x, posinf=0, neginf=0)).max(axis=0, keepdims=True) / 448
    sc = np.where(sc > 0, sc, 1).astype(np.float32)
    y = formats.quantize(x * 2, "float8_e4m3fn", scale=sc)
    assert not np.isnan(y[np.isfinite(x)]).any()
    np.testing.assert_array_equal(y, formats.quantize((x * 2) / sc, "float8_e4m3fn", overflow="saturate") * sc)


def test_unsigned_zero_point():
    x = np.linspace(-1.0, 3.0, 41, dtype=np.float32)
    s, zp = np.float32(4 / 255), 64
    got = formats.quantize(x, "uint8", scale=s, zero_point=zp)
    want = ((np.clip(np.round(x / s) + zp, 0, 255) - zp) * s).astype(np.float32)
    np.testing.assert_array_equal(got, want)
    cal = formats.calibrate(x, "uint8")
    lo, hi = -1.0, 3.0
    assert cal.scale == np.float32(np.float32(hi - lo) / np.float32(255))
    assert cal.zero_point == 0 - np.round(lo / cal.scale)
    np.testing.assert_allclose(formats.quantize(x, "uint8", **cal), x, atol=float(cal.scale) / 2 * 1.0001)


def test_scalar_calibration_layouts():
    x = data(3)
    assert formats.calibrate(x, "int8").scale.shape == ()
    assert formats.calibrate(x, "int8", axis=0).scale.shape == (6, 1)
    c = formats.calibrate(x, "int8", axis=-1)
    assert c.scale.shape == (1, 200)
    amax = np.nanmax(np.where(np.isinf(x), np.nan, np.abs(x)), axis=0)
    want = np.where(amax > 0, (amax / np.float32(127)).astype(np.float32), 1)
    np.testing.assert_array_equal(c.scale[0], want)


# ------------------------------------------------------------------------------ percentile oracle
def distinct(seed, shape):
    """Magnitudes spaced 0.1% apart (no ties at any threshold), shuffled, random signs."""
    rng = np.random.default_rng(seed)
    n = math.prod(shape)
    mag = np.exp(np.linspace(-5.0, 5.0 * n / 10000, n))
    x = (rng.permutation(mag) * rng.choice([-1.0, 1.0], n)).reshape(shape).astype(np.float32)
    assert np.unique(np.abs(x)).size == x.size
    return x


@pytest.mark.parametrize("p", [50.0, 90.0, 99.0, 99.9, 99.99])
@pytest.mark.parametrize("name", ["int8-tensor", "int8-channel", "int4-g32", "scalar-int8", "scalar-e4m3-rows"])
def test_percentile_clips_exactly_the_stated_fraction(name, p):
    x = distinct(7, (8, 1000))
    x[2, 11] = np.nan  # left out: row 2 has 999 values
    if name.startswith("scalar"):
        fmt = formats.get("int8" if "int8" in name else "float8_e4m3fn")
        axis = None if name == "scalar-int8" else 0
        cal = formats.calibrate(x, fmt, method="percentile", percentile=p, axis=axis)
        s = np.broadcast_to(np.asarray(cal.scale, np.float64), x.shape)
        top, bottom = float(fmt.max), float(fmt.min)
        groups = [np.ones(x.shape, bool)] if axis is None else [np.arange(8)[:, None] == i for i in range(8)]
        masks = [np.broadcast_to(g, x.shape) for g in groups]
    else:
        fmt, axis = SCALED[name]
        axis = 0 if fmt.granularity == "channel" else -1
        cal = formats.calibrate(x, fmt, method="percentile", percentile=p, axis=axis)
        q = formats.encode(x, fmt, axis=axis, **cal)
        sv = np.asarray(formats.block_scales(q), np.float64)  # the scales as stored
        top, bottom = float(fmt.qmax), float(fmt.qmin)
        if fmt.granularity == "tensor":
            s, masks = np.full(x.shape, sv), [np.ones(x.shape, bool)]
        elif fmt.granularity == "channel":
            s, masks = np.repeat(sv[:, None], x.shape[1], 1), [np.arange(8)[:, None] == i for i in range(8)]
            masks = [np.broadcast_to(m, x.shape) for m in masks]
        else:
            s = np.repeat(sv, 32, axis=-1)[:, :1000]
            masks = [(np.arange(8)[:, None] == r) & (np.arange(1000)[None, :] // 32 == g)
                     for r in range(8) for g in range(sv.shape[1])]
    f = (100 - round(p, 4)) / 100
    # beyond the range: further than a float32 rounding of the scale (relative 2^-24) can move
    # its end; the data's values are 0.1% apart
    beyond = np.abs(x.astype(np.float64)) > s * top * (1 + 2.0 ** -20)
    for m in masks:
        m = m & np.isfinite(x)
        n = int(m.sum())
        assert int(beyond[m].sum()) == math.floor(f * n + 1e-9), (n, p)
    # and those values really are clipped: they decode to the ends of the range (int8: −128·s)
    y = formats.quantize(x, fmt, axis=-1 if axis is None else axis, **cal).astype(np.float64)
    pos, neg = beyond & (x > 0), np.isfinite(x) & (x < s * bottom)
    assert pos.any() or neg.any() or not beyond.any()
    np.testing.assert_allclose(y[pos], (s * top)[pos], rtol=1e-6)
    np.testing.assert_allclose(y[neg], (s * bottom)[neg], rtol=1e-6)


def test_percentile_asymmetric_clips_each_end():
    x = distinct(8, (1, 2000))
    cal = formats.calibrate(x, SI(UINT8, symmetric=False), method="percentile", percentile=99.0)
    # thresholds: 10 values below lo and 10 above hi (f·N/2 = 10 at each end)
    fmt = SI(UINT8, symmetric=False)
    q = formats.encode(x, fmt, **cal)
    s = float(formats.block_scales(q))
    zp = float(formats.zero_points(q))
    lo_rng, hi_rng = s * (0 - zp), s * (255 - zp)
    srt = np.sort(x[0].astype(np.float64))
    assert srt[9] < lo_rng + s and srt[-10] > hi_rng - s  # the range ends sit at the cut (± a step)
    assert np.isclose(cal.scale, (srt[-11] + srt[-10]) / 2 - (srt[9] + srt[10]) / 2, rtol=0, atol=1e-5 * 255) \
        or abs(float(cal.scale) * 255 - ((srt[-11] + srt[-10]) / 2 - (srt[9] + srt[10]) / 2)) < 1e-4


# ------------------------------------------------------------------------------ mse oracle
def _groups_error(x, y, fmt, axis):
    """Per-group sums of squared errors, by explicit loops over the groups of the layout."""
    d = np.where(np.isfinite(x), (y.astype(np.float64) - x.astype(np.float64)) ** 2, 0.0)
    if isinstance(fmt, SI) and fmt.granularity == "tensor":
        return np.array([d.sum()])
    if isinstance(fmt, SI) and fmt.granularity == "channel":
        dd = np.moveaxis(d, axis, 0)
        return np.array([dd[i].sum() for i in range(dd.shape[0])])
    bs = fmt.group_size if isinstance(fmt, SI) else fmt.block_size
    dd = np.moveaxis(d, axis, -1)
    out = []
    for row in dd.reshape(-1, dd.shape[-1]):
        out += [row[j:j + bs].sum() for j in range(0, row.size, bs)]
    return np.array(out)


MSE_CASES = ["int8-tensor", "int8-channel", "int4-g32", "uint4-g32-asym", "int4-g32-e8m0", "mxfp4", "nvfp4",
             "mxfp6_e2m3", "mxint8", "nf4"]


@pytest.mark.parametrize("name", MSE_CASES)
def test_mse_is_the_brute_force_argmin_over_the_same_grid(name):
    fmt, axis = WITH_SCALES[name]
    x = data(4, (4, 256))
    grid = 16
    ratios = [i / grid for i in range(grid, 0, -1)]
    cal = formats.calibrate(x, fmt, method="mse", grid=grid, axis=axis)
    # brute force: the candidate scales of ratio r are the absmax scales of r·x (max|r·x| is
    # fl(r·max|x|)); quantize all of x with each, keep the first least error of every group
    ts = {} if cal.tensor_scale is None else {"tensor_scale": cal.tensor_scale}
    if ts:  # two-level (NVFP4): the tensor scale is the format's own amax / (448·6)
        np.testing.assert_array_equal(cal.tensor_scale, formats.encode(x, fmt).tensor_scale)
    cands, errs = [], []
    for r in ratios:
        xr = (x * np.float32(r)).astype(np.float32)
        if isinstance(fmt, SI):
            c = formats.calibrate(xr, fmt, method="absmax", axis=axis)
        else:  # the codec's own block scales of r·x (under the same tensor scale)
            sc = formats.block_scales(formats.encode(xr, fmt, axis=axis, **ts), include_tensor_scale=False)
            c = dict(scale=np.where(np.isnan(sc), 1, sc), **ts)  # NaN: blocks holding NaN/Inf stay NaN
        y = formats.quantize(x, fmt, axis=axis, **c)
        cands.append(c)
        errs.append(_groups_error(x, y, fmt, axis))
    best = np.argmin(np.stack(errs), axis=0)  # argmin takes the first of equal minima
    for key in cal:
        if key == "tensor_scale":
            continue
        got = np.asarray(cal[key]).reshape(-1)
        want = np.array([np.asarray(cands[b][key]).reshape(-1)[g] for g, b in enumerate(best)])
        ok = ~np.isnan(errs[0])  # blocks holding NaN/Inf decode to NaN whatever their scale
        assert ok.sum() >= ok.size - 2
        np.testing.assert_array_equal(got[ok], want[ok])
    # and it is never worse than absmax (ratio 1 is a candidate)
    e_mse = _groups_error(x, formats.quantize(x, fmt, axis=axis, **cal), fmt, axis)
    assert np.all((e_mse <= errs[0]) | np.isnan(errs[0]))  # NaN: blocks holding NaN/Inf


def test_mse_clips_gaussian_data_where_the_theory_says():
    """4-bit uniform quantization of N(0, 1): the MSE-optimal clipping is about 2.55σ (Banner,
    Nahshan & Soudry, "Post training 4-bit quantization of convolutional networks for
    rapid-deployment" (ACIQ), NeurIPS 2019, Table 1), far inside max|x| ≈ 4σ."""
    x = np.random.default_rng(0).standard_normal((1, 1 << 16)).astype(np.float32)
    fmt = SI(INT4)
    clip = float(formats.calibrate(x, fmt, method="mse").scale) * fmt.qmax
    assert 2.2 < clip < 2.9
    assert clip < 0.75 * np.abs(x).max()


def test_mse_under_jit_matches_numpy():
    fmt, axis = WITH_SCALES["int4-g32"]
    x = data(6)
    c = formats.calibrate(x, fmt, method="mse", grid=6)
    cj = jax.jit(lambda v: formats.calibrate(v, fmt, method="mse", grid=6))(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(cj.scale), c.scale)


# ------------------------------------------------------------------------------ sigma
def test_sigma_threshold():
    x = data(9, (4, 500))
    cal = formats.calibrate(x, SI(INT8, "channel"), method="sigma", k=2.5, axis=0)
    for i in range(3):
        v = x[i][np.isfinite(x[i])].astype(np.float64)
        t = min(abs(v.mean()) + 2.5 * v.std(), np.abs(v).max())
        np.testing.assert_allclose(cal.scale[i], t / 127, rtol=1e-5)


# ------------------------------------------------------------------------------ the record
def test_calibration_is_a_mapping_of_keyword_options():
    c = formats.calibrate(data(), "nvfp4")
    assert sorted(c) == ["scale", "tensor_scale"]
    assert set(dict(c)) == {"scale", "tensor_scale"} and len(c) == 2
    c2 = formats.calibrate(data(), SI(UINT8, symmetric=False))
    assert sorted(c2) == ["scale", "zero_point"]
    with pytest.raises(KeyError):
        c2["tensor_scale"]


# ------------------------------------------------------------------------------ errors
def test_bad_calibration_arguments():
    x = data()
    with pytest.raises(ValueError, match="method must be one of"):
        formats.calibrate(x, "int8", method="kl")
    with pytest.raises(TypeError, match="unexpected option"):
        formats.calibrate(x, "int8", method="absmax", percentile=99)
    with pytest.raises(ValueError, match="percentile must be"):
        formats.calibrate(x, "int8", method="percentile", percentile=0)
    with pytest.raises(ValueError, match="k must be"):
        formats.calibrate(x, "int8", method="sigma", k=-1)
    with pytest.raises(ValueError, match="grid"):
        formats.calibrate(x, "int8", method="mse", grid=0)
    with pytest.raises(ValueError, match="grid ratios"):
        formats.calibrate(x, "int8", method="mse", grid=[1.5])
    with pytest.raises(ValueError, match="rounding"):
        formats.calibrate(x, "int8", method="mse", rounding="stochastic")
    with pytest.raises(TypeError, match="calibrate supports"):
        formats.calibrate(x, "posit8")
    with pytest.raises(ValueError, match="scale_rule='absmax'"):
        formats.calibrate(x, formats.CodebookFormat((-1.0, 0.0, 1.0), None, "absmean"))
    with pytest.raises(ValueError, match="axis"):
        formats.calibrate(x, "mxfp4", axis=2)
    with pytest.raises(TypeError, match="dtype"):
        formats.calibrate(np.arange(4), "int8")


def test_bad_static_scales():
    x = data()
    g = SI(INT4, "group", 32)
    with pytest.raises(ValueError, match=r"scale of shape \(3,\) does not broadcast to \(6, 7\)"):
        formats.encode(x, g, scale=np.ones(3))
    with pytest.raises(ValueError, match="scale must be positive and finite"):
        formats.quantize(x, g, scale=-np.ones((6, 7)))
    with pytest.raises(ValueError, match="scale must be positive and finite"):
        formats.quantize(x, "int8", scale=0.0)
    with pytest.raises(TypeError, match="scale must hold real numbers"):
        formats.quantize(x, "int8", scale=np.array([True]))
    with pytest.raises(ValueError, match="powers of two"):
        formats.encode(x, "mxfp4", scale=np.full((6, 7), 3.0))
    with pytest.raises(ValueError, match="zero_point= is for asymmetric"):
        formats.encode(x, g, scale=1.0, zero_point=0)
    with pytest.raises(ValueError, match="zero_point= needs scale="):
        formats.encode(x, SI(UINT8, symmetric=False), zero_point=3)
    with pytest.raises(ValueError, match=r"zero_point must hold integers in \[0, 255\]"):
        formats.encode(x, SI(UINT8, symmetric=False), scale=1.0, zero_point=300)
    with pytest.raises(ValueError, match="zero_point must hold integers"):
        formats.quantize(x, "uint8", scale=1.0, zero_point=2.5)
    with pytest.raises(ValueError, match="zero_point= applies to integer formats"):
        formats.quantize(x, "float8_e4m3fn", scale=1.0, zero_point=0)
    with pytest.raises(ValueError, match="zero_point= does not apply to block"):
        formats.quantize(x, "mxfp4", scale=1.0, zero_point=0)
    with pytest.raises(TypeError, match="holds codes only"):
        formats.encode(x, "int8", scale=1.0)
    with pytest.raises(TypeError, match="unexpected option"):
        formats.quantize(x, "posit8", scale=1.0)
    with pytest.raises(ValueError, match="scale_rule='none'"):
        formats.quantize(x, formats.CodebookFormat((-1.0, 0.0, 1.0), None, "none"), scale=1.0)


@pytest.mark.parametrize("fmt", ["int8", "float8_e4m3fn", "mxfp4", "nvfp4"])
def test_static_scales_pass_the_gradient_straight_through(fmt):
    x = jnp.asarray(data(7)[4:])  # finite rows
    cal = formats.calibrate(x, fmt)
    g = jax.grad(lambda v: jnp.sum(formats.quantize(v, fmt, **cal)))(x)
    np.testing.assert_array_equal(np.asarray(g), np.ones(x.shape, np.float32))
