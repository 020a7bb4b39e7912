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

import math
from fractions import Fraction

import numpy as np
import pytest
from _fmt_helpers import code_adjacent_inputs, ids, mismatches, quantize_np, random_bits, same_values
from gfloat import Domain, FormatInfo, RoundMode, decode_float, round_ndarray
from gfloat import formats as gff
from gfloat.types import Signedness

from lowbit import formats


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
    assert fmt.max == fi.max and fmt.smallest_normal == fi.smallest_normal
    assert (fmt.smallest_subnormal or fmt.smallest_normal) == fi.smallest
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


#: Every P3109 format of at most 8 bits (signed p < k, unsigned p <= k; both domains), and a
#: sample of wider ones whose values are float64 numbers (gfloat decodes to Python floats).
P3109_SMALL = [(k, p, s, d) for k in range(2, 9) for s in (True, False) for p in range(1, k + (not s))
               for d in ("extended", "finite")]
P3109_WIDE = [(10, 4, True, "extended"), (12, 7, True, "extended"), (12, 2, False, "finite"),
              (16, 7, True, "finite"), (16, 7, False, "extended"), (16, 11, True, "extended"),
              (16, 16, False, "finite"), (14, 5, False, "extended")]
P3109 = P3109_SMALL + P3109_WIDE


def _p3109_id(t):
    k, p, s, d = t
    return f"k{k}p{p}{'s' if s else 'u'}{d[0]}"


def _gfloat_p3109(k, p, signed, domain):
    return gff.format_info_p3109(k, p, Signedness.Signed if signed else Signedness.Unsigned,
                                 Domain.Extended if domain == "extended" else Domain.Finite)


@pytest.mark.parametrize("k,p,signed,domain", P3109, ids=[_p3109_id(t) for t in P3109])
def test_p3109_matches_gfloat(k, p, signed, domain):
    """Every code's value, the extremes, the special codes, and every rounding mode (saturating
    and not) against gfloat's ``format_info_p3109(k, p, signedness, domain)``."""
    fmt, fi = formats.p3109(k, p, signed=signed, domain=domain), _gfloat_p3109(k, p, signed, domain)
    assert fmt.bits == fi.k and fmt.precision == fi.precision and fmt.bias == fi.bias
    codes = range(fmt.num_codes) if fmt.bits <= 12 else range(0, fmt.num_codes, 7)
    vals = np.array([decode_float(fi, c).fval for c in codes])
    assert same_values(formats.values(fmt)[list(codes)], vals).all()
    assert fmt.nan_codes == (fi.code_of_nan,)
    if domain == "extended":
        want_inf = (fi.code_of_posinf, fi.code_of_neginf) if signed else (fi.code_of_posinf,)
        assert fmt.inf_codes == want_inf and fmt.has_inf
    else:
        assert fmt.inf_codes == () and not fmt.has_inf
    # gfloat's max formula assumes a normal binade: for the tiny formats without one (K2P1
    # signed: 0, ±Inf, NaN; K2P2 unsigned: 0, 0.5, Inf, NaN) it is not a value of the format,
    # so the largest value is read from its decoder, and its saturation is not compared
    fi_max = decode_float(fi, fi.code_of_max).fval
    assert fmt.max == fi_max and fmt.max_code == fi.code_of_max
    assert fmt.smallest_positive == fi.smallest or fmt.max == 0.0
    tiny = fi.max != fi_max
    if fi_max == 0.0:  # K2P1 signed: no finite nonzero value; see the known answers below
        return
    x = _inputs(fmt, k * 16 + p)
    if not signed:  # gfloat rounds |x| for unsigned formats (lowbit: negatives are out of range)
        x = x[~(x < 0) & ~np.signbit(x)]
    if fmt.emax >= 127:  # values beyond float32: float64 inputs (lowbit answers in x's dtype)
        x = x.astype(np.float64)
    for mode in MODES:
        if tiny and mode in ("toward_zero", "up", "down"):
            continue  # gfloat clamps these to its (wrong) max
        for sat in ((False,) if tiny else (False, True)):
            _compare(fmt, fi, x, mode, sat, seed=p, nbits=5)


def test_p3109_tiny_formats_known_answers():
    # K2P1 signed, extended: 0, +Inf, NaN, −Inf (the −0 code is NaN, the top codes ±Inf)
    assert formats.values(formats.p3109(2, 1)).tolist()[:2] == [0.0, math.inf]
    assert formats.p3109(2, 1).max == 0.0
    # K2P2 unsigned, extended: 0, 0.5 (a subnormal: bias 2^(K−P) = 1, 1 trailing bit), +Inf, NaN
    v = formats.values(formats.p3109(2, 2, signed=False)).tolist()
    assert v[:3] == [0.0, 0.5, math.inf] and math.isnan(v[3])
    assert formats.quantize(np.float32([0.2, 0.3, 0.7, 0.8]), formats.p3109(2, 2, signed=False)).tolist() \
        == [0.0, 0.5, 0.5, math.inf]
    # K2P1 signed: the grid is 0, 1 (unrepresentable, so: overflow), ties to the even code 0
    x = np.float32([0.4, 0.5, 0.7, -0.7, 3.0, -0.5])
    fi = _gfloat_p3109(2, 1, True, "extended")
    want = round_ndarray(fi, x.astype(np.float64), RoundMode.TiesToEven)
    got = formats.quantize(x, formats.p3109(2, 1))
    assert same_values(got, want).all() and got.tolist() == [0.0, 0.0, math.inf, -math.inf, math.inf, 0.0]
    assert formats.quantize(np.float32([0.7, -3.0]), formats.p3109(2, 1), overflow="saturate").tolist() == [0, 0]


@pytest.mark.parametrize("signed", [True, False])
def test_p3109_beyond_float64(signed):
    """K16P1 (unsigned: 16 exponent bits, bias 2^15) reaches 2^±16382 / 2^±32765, beyond float64
    (and gfloat, which decodes to Python floats). value_of_code is exact; every float64 input
    lies inside the range; decoded values are float64 roundings."""
    fmt = formats.p3109(16, 1, signed=signed)
    bias = 2**14 if signed else 2**15  # P3109: 2^(K−P−1) signed, 2^(K−P) unsigned
    assert fmt.bias == bias and fmt.exponent_bits == (15 if signed else 16)
    # P = 1: code c (E = c, no mantissa bits) is 2^(c − bias) for c >= 1 (c = 0 is zero)
    for c in (1, 2, bias - 1074, bias - 1022, bias, bias + 1, bias + 1023, bias + 1024,
              fmt.max_code):
        assert fmt.value_of_code(c) == Fraction(2) ** (c - bias), c
    assert fmt.max == math.inf and fmt.smallest_normal == 0.0  # float64 roundings of 2^±16382...
    powers = np.ldexp(1.0, np.arange(-1074, 1024))
    q = formats.encode(powers, fmt)
    assert np.array_equal(q.codes, np.arange(-1074, 1024) + bias)
    assert np.array_equal(formats.decode(q, dtype=np.float64), powers)
    assert np.array_equal(formats.quantize(powers, fmt), powers)
    # 3 = 1.5 · 2: a tie between 2 and 4, to the even code (the even exponent field: 4)
    # and the largest float64, (2 − 2^-52)·2^1023, rounds to 2^1024 — a finite code, decoded to
    # float64 as Inf (beyond float64), as an IEEE conversion
    big = formats.encode(np.array([3.0, np.finfo(np.float64).max, -3.0 if signed else 5.0]), fmt)
    want = [bias + 2, bias + 1024, (bias + 2) | fmt.sign_mask if signed else bias + 2]
    assert big.codes.tolist() == want
    assert formats.decode(big, dtype=np.float64).tolist()[:2] == [4.0, math.inf]
    # float32 inputs: 1e38 ≈ 1.18 · 2^126 rounds to 2^126 (finite in float32)
    assert formats.quantize(np.float32([3.0, 1e38]), fmt).tolist() == [4.0, 2.0**126]
    # the NumPy kernels, the Numba kernels (large arrays) and JAX give the same codes
    many = np.tile(powers, 20)
    assert np.array_equal(formats.encode(many, fmt).codes, np.tile(q.codes, 20))


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


# ---------------------------------------------------------- explicit random bits (srbits=)
SR_FORMATS = ["float8_e4m3fn", "float8_e5m2", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn",
              "float8_e4m3fnuz"]


def _tile(a, n):
    return np.tile(a, -(-n // a.size))[:n]


@pytest.mark.parametrize("nbits,dtype", [(1, np.uint8), (4, np.uint8), (8, np.uint8), (13, np.uint16),
                                         (23, np.uint32)])
@pytest.mark.parametrize("name", SR_FORMATS)
def test_explicit_random_bits_reproduce_gfloat(name, nbits, dtype):
    """The same random integers give gfloat's stochastic results bit for bit, on every
    code-adjacent input, through the NumPy, Numba (large arrays) and JAX paths."""
    import jax.numpy as jnp

    from lowbit.formats.backend import NUMBA_THRESHOLDS

    fmt, fi = formats.get(name), GFLOAT[name]
    x = _inputs(fmt, nbits)
    bits = np.random.default_rng(nbits).integers(0, 2**nbits, size=x.shape, dtype=dtype)
    for sat in _sats(fmt):
        ov = "saturate" if sat else None
        with np.errstate(invalid="ignore", over="ignore"):
            want = round_ndarray(fi, x.astype(np.float64), RoundMode.Stochastic, sat, bits.astype(np.int64),
                                 nbits)
        kw = dict(rounding="stochastic", srbits=bits, random_bits=nbits, overflow=ov)
        got = formats.quantize(x, fmt, **kw)
        assert same_values(got, want).all(), mismatches(x, got, want)
        q = formats.encode(x, fmt, **kw)
        assert same_values(formats.decode(q, dtype=np.float64), want).all()
        n = NUMBA_THRESHOLDS["codec"] + 5
        xb, bb, wb = _tile(x, n), _tile(bits, n), _tile(want, n)
        got = formats.quantize(xb, fmt, rounding="stochastic", srbits=bb, random_bits=nbits, overflow=ov)
        assert same_values(got, wb).all(), "numba: " + mismatches(xb, got, wb)
        got = formats.quantize(jnp.asarray(x), fmt, rounding="stochastic", srbits=jnp.asarray(bits),
                               random_bits=nbits, overflow=ov)
        assert same_values(np.asarray(got), want).all(), "jax: " + mismatches(x, got, want)


def test_explicit_random_bits_default_to_their_dtype_width():
    fmt, fi = formats.get("float8_e4m3fn"), GFLOAT["float8_e4m3fn"]
    x = _inputs(fmt, 1)
    x = x[np.isfinite(x)]
    for dtype, nbits in ((np.uint8, 8), (np.uint16, 16)):
        bits = np.random.default_rng(2).integers(0, 2**nbits, size=x.shape, dtype=dtype)
        want = round_ndarray(fi, x.astype(np.float64), RoundMode.Stochastic, True, bits.astype(np.int64), nbits)
        got = formats.quantize(x, fmt, rounding="stochastic", srbits=bits, overflow="saturate")
        assert same_values(got, want).all()
    # one value broadcast to every element (a 0-d array)
    b = np.array(200, np.uint8)
    want = round_ndarray(fi, x.astype(np.float64), RoundMode.Stochastic, True,
                         np.full(x.shape, 200, np.int64), 8)
    assert same_values(formats.quantize(x, fmt, rounding="stochastic", srbits=b, overflow="saturate"), want).all()
