"""Differential oracle: gfloat (Graphcore), for every rounding mode it has and for saturation.

gfloat's ``round_ndarray`` implements TiesToEven, TiesToAway, TowardZero, TowardPositive,
TowardNegative and Stochastic (round away iff RNE(frac · 2^R) + r ≥ 2^R, with the random
integers r passed as ``srbits`` and R as ``srnumbits``); lowbit's rules are the same, so the
same random integers give the same results. ``sat=True`` is lowbit's ``overflow='saturate'``,
``sat=False`` the natural policy (Inf, else NaN).

Not compared (gfloat returns values outside the format): NaN into formats without NaN (FP4/FP6;
lowbit's rule, +0, is tested in test_codec_mldtypes.py), negative or zero inputs into the
unsigned E8M0 (gfloat rounds |x| there; lowbit gives NaN, tested in test_codec_options.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from gfloat import Domain, FormatInfo, RoundMode, decode_float, round_ndarray
from gfloat import formats as gff

import formats

from _fmt_helpers import code_adjacent_inputs, ids, mismatches, quantize_np, random_bits, same_values


def _fnuz(name, precision, bias):
    # LLVM APFloat Float8E4M3FNUZ / Float8E5M2FNUZ / Float8E4M3B11FNUZ (as ml_dtypes): one NaN
    # at the −0 code (gfloat: has_nz=False), no Inf, no other NaN.
    return FormatInfo(name, k=8, precision=precision, bias=bias, is_signed=True,
                      domain=Domain.Finite, has_nz=False, num_high_nans=0, has_subnormals=True,
                      is_twos_complement=False)


def _ieee(name, k, precision, bias):
    # IEEE 754-like: top exponent holds ±Inf (mantissa 0) and 2^m − 1 NaNs per sign.
    return FormatInfo(name, k=k, precision=precision, bias=bias, is_signed=True,
                      domain=Domain.Extended, has_nz=True, num_high_nans=2 ** (precision - 1) - 1,
                      has_subnormals=True, is_twos_complement=False)


#: gfloat's description of each registered format (gfloat's own records where it has them).
GFLOAT = {
    "float8_e4m3fn": gff.format_info_ocp_e4m3,
    "float8_e5m2": gff.format_info_ocp_e5m2,
    "float6_e2m3fn": gff.format_info_ocp_e2m3,
    "float6_e3m2fn": gff.format_info_ocp_e3m2,
    "float4_e2m1fn": gff.format_info_ocp_e2m1,
    "float8_e8m0fnu": gff.format_info_ocp_e8m0,
    "bfloat16": gff.format_info_bfloat16,
    "float16": gff.format_info_binary16,
    "float8_e4m3fnuz": _fnuz("e4m3fnuz", 4, 8),
    "float8_e5m2fnuz": _fnuz("e5m2fnuz", 3, 16),
    "float8_e4m3b11fnuz": _fnuz("e4m3b11fnuz", 4, 11),
    "float8_e4m3": _ieee("e4m3", 8, 4, 7),
    "float8_e3m4": _ieee("e3m4", 8, 5, 3),
}
FLOATS = [formats.get(n) for n in GFLOAT]
P3109 = [(8, p) for p in range(1, 8)] + [(6, 3), (6, 1), (4, 2), (3, 2), (10, 4), (12, 7)]

MODES = {
    "nearest_even": RoundMode.TiesToEven,
    "nearest_away": RoundMode.TiesToAway,
    "toward_zero": RoundMode.TowardZero,
    "up": RoundMode.TowardPositive,
    "down": RoundMode.TowardNegative,
    "stochastic": RoundMode.Stochastic,
}


def _inputs(fmt, seed):
    rng = np.random.default_rng(seed)
    rand = np.concatenate([rng.standard_normal(3000) * s
                           for s in (float(fmt.max) / 3, 1.0, fmt.smallest_positive * 3)])
    with np.errstate(over="ignore"):
        x = np.concatenate([code_adjacent_inputs(fmt, "float32"), rand.astype(np.float32)])
    if not fmt.has_nan:
        x = x[~np.isnan(x)]
    if not fmt.signed:
        # gfloat rounds below E8M0's smallest value 2^-127 as if the exponent went on down
        x = x[(x >= fmt.smallest_positive) | np.isnan(x)]
    return x


def _compare(fmt, fi, x, mode, sat, seed=0, nbits=None):
    rand = None
    srbits, srnumbits = None, 0
    if mode == "stochastic":
        r = random_bits(x.shape, nbits, seed)
        rand, srbits, srnumbits = (r, nbits), r.astype(np.int64), nbits
    got = quantize_np(x, fmt, rounding=mode, overflow="saturate" if sat else None, rand=rand)
    with np.errstate(invalid="ignore", over="ignore"):
        want = round_ndarray(fi, x.astype(np.float64), MODES[mode], sat, srbits, srnumbits)
    ok = same_values(got, want)
    assert ok.all(), f"{fmt} {mode} sat={sat}: " + mismatches(x, got, want)


def _sats(fmt):
    # gfloat raises on overflow without sat when the format has neither Inf nor NaN
    return (False, True) if (fmt.has_inf or fmt.has_nan) else (True,)


@pytest.mark.parametrize("fmt", FLOATS, ids=ids(FLOATS))
def test_gfloat_describes_the_same_values(fmt):
    fi = GFLOAT[fmt.name]
    want = np.array([decode_float(fi, c).fval for c in range(fmt.num_codes)]) if fmt.bits <= 8 else None
    if want is not None:
        assert same_values(formats.values(fmt), want).all()
    assert fmt.max == fi.max and fmt.min_normal == fi.smallest_normal
    assert (fmt.smallest_subnormal or fmt.min_normal) == fi.smallest
    assert len(fmt.nan_codes) == fi.num_nans and fmt.has_negative_zero == fi.has_nz


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("fmt", FLOATS, ids=ids(FLOATS))
def test_rounding_modes_match_gfloat(fmt, mode):
    x = _inputs(fmt, 7)
    for sat in _sats(fmt):
        _compare(fmt, GFLOAT[fmt.name], x, mode, sat, seed=11, nbits=6)


@pytest.mark.parametrize("nbits", [1, 3, 13, 24])
def test_stochastic_random_bit_counts_match_gfloat(nbits):
    for name in ("float8_e4m3fn", "float4_e2m1fn", "bfloat16", "float8_e8m0fnu"):
        fmt = formats.get(name)
        _compare(fmt, GFLOAT[name], _inputs(fmt, nbits), "stochastic", True, seed=nbits, nbits=nbits)


@pytest.mark.parametrize("k,p", P3109, ids=[f"k{k}p{p}" for k, p in P3109])
def test_p3109_matches_gfloat(k, p):
    fmt, fi = formats.p3109(k, p), gff.format_info_p3109(k, p)
    vals = np.array([decode_float(fi, c).fval for c in range(fmt.num_codes)])
    assert same_values(formats.values(fmt), vals).all()
    assert fmt.max == fi.max and fmt.smallest_positive == fi.smallest
    assert fmt.nan_codes == (fi.code_of_nan,) and fmt.inf_codes == (fi.code_of_posinf, fi.code_of_neginf)
    x = _inputs(fmt, k * 16 + p)
    for mode in MODES:
        for sat in (False, True):
            _compare(fmt, fi, x, mode, sat, seed=p, nbits=5)


def test_tf32_matches_gfloat():
    """tf32 (19 bits: too many codes to enumerate) on random inputs, ties and near-ties built
    from float32 bit patterns (a tf32 value is a float32 with the low 13 bits zero)."""
    fmt = formats.get("tf32")
    fi = FormatInfo("tf32", k=19, precision=11, bias=127, is_signed=True, domain=Domain.Extended,
                    has_nz=True, num_high_nans=2**10 - 1, has_subnormals=True,
                    is_twos_complement=False)
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2**32, size=20000, dtype=np.uint32) & np.uint32(~0x1FFF & 0xFFFFFFFF)
    vals = bits.view(np.float32)
    ties = (bits | np.uint32(0x1000)).view(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        x = np.concatenate([vals, ties, np.nextafter(ties, np.float32(np.inf)),
                            np.nextafter(ties, np.float32(-np.inf)),
                            rng.standard_normal(5000).astype(np.float32)])
    x = x[np.isfinite(x)]
    for mode in MODES:
        for sat in (False, True):
            _compare(fmt, fi, x, mode, sat, seed=3, nbits=8)
