"""Hypothesis properties of the scalar codec, with the public strategies of
``formats.strategies`` (registered formats, P3109 formats and arbitrary ExMy / integer records).

idempotence · monotonicity · sign symmetry · |x − q(x)| ≤ ½ ulp (RNE) · directed modes bracket
x · round-to-odd gives odd codes when inexact · stochastic rounding is unbiased · arbitrary
formats agree with the exact reference.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from _fmt_helpers import MODES, encode_np, quantize_np, scalar_formats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import lowbit.formats.strategies as fst
from lowbit import formats
from lowbit.formats import FloatFormat, IntFormat
from lowbit.formats.scalar._reference import ref_encode

REGISTERED = scalar_formats(16) + [formats.p3109(8, p) for p in (1, 3, 4)] + [
    IntFormat(8, narrow=True, name="int8_narrow")]
DETERMINISTIC = [m for m in MODES if m != "stochastic"]

any_format = st.one_of(st.sampled_from(REGISTERED), fst.float_formats(max_bits=12),
                       fst.int_formats(max_bits=12))


def _arrays(fmt, dtype="float32", max_size=12):
    return st.lists(fst.stress_floats(fmt, dtype=dtype), min_size=1, max_size=max_size).map(
        lambda v: np.array(v, dtype=dtype))


def _in_range(fmt, x):
    """|x| within the format's finite range (and not below the smallest value of a format
    without zero, where every mode gives the smallest value)."""
    lo = fmt.min if fmt.signed else 0
    ok = (x >= lo) & (x <= fmt.max)
    if isinstance(fmt, FloatFormat) and not fmt.has_zero:
        ok &= x >= fmt.smallest_positive
    return ok


def _same(a, b):
    return np.array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64), equal_nan=True)


# ---------------------------------------------------------------------------- idempotence
@given(data=st.data(), fmt=any_format, mode=st.sampled_from(MODES), key=st.integers(0, 2**32))
def test_idempotent(data, fmt, mode, key):
    x = data.draw(_arrays(fmt))
    kw = {"key": key} if mode == "stochastic" else {}
    q = formats.quantize(x, fmt, rounding=mode, **kw)
    e = formats.encode(x, fmt, rounding=mode, **kw)
    assert np.all(np.asarray(e.codes, np.uint64) < fmt.num_codes)
    d = formats.decode(e, dtype=np.float64)
    with np.errstate(over="ignore"):  # a format value past float32's range is Inf in q
        assert _same(d.astype(np.float32), q)
    # where q holds the format's value (not an Inf standing for a value past float32's range)
    ok = ~(np.isfinite(d) & (np.abs(d) > np.finfo(np.float32).max))
    assert _same(formats.quantize(q, fmt, rounding=mode, **kw)[ok], q[ok])
    assert _same(formats.quantize(q, fmt)[ok], q[ok])


@given(fmt=any_format, data=st.data())
def test_values_are_fixed_points(fmt, data):
    v = np.array(data.draw(st.lists(fst.values(fmt), min_size=1, max_size=8)), np.float64)
    for mode in DETERMINISTIC:
        assert _same(formats.quantize(v, fmt, rounding=mode), v)
    c = np.array(data.draw(st.lists(fst.codes(fmt, finite_only=True), min_size=1, max_size=8)))
    q = formats.QArray(c.astype(np.uint64), fmt, c.shape)
    assert _same(formats.quantize(formats.decode(q, dtype=np.float64), fmt), formats.decode(q, dtype=np.float64))


# --------------------------------------------------------------------------- monotonicity
@given(data=st.data(), fmt=any_format, mode=st.sampled_from(DETERMINISTIC))
def test_monotone(data, fmt, mode):
    x = data.draw(_arrays(fmt, max_size=16))
    x = x[np.lexsort((~np.signbit(x), x))]  # ascending, −0 before +0 (formats without zero
    #                                         send ±0 to ±smallest)
    q = formats.quantize(x, fmt, rounding=mode, overflow="saturate")
    assert not np.isnan(q).any()
    assert np.all(q[1:] >= q[:-1]), (x, q)


# -------------------------------------------------------------------------- sign symmetry
symmetric = st.one_of(
    st.sampled_from([f for f in REGISTERED if isinstance(f, FloatFormat) and f.signed]
                    + [IntFormat(8, narrow=True, name="int8_narrow")]),
    fst.float_formats(max_bits=12).filter(lambda f: f.signed))


@given(data=st.data(), fmt=symmetric)
def test_sign_symmetric(data, fmt):
    x = data.draw(_arrays(fmt))
    for mode in ("nearest_even", "nearest_away", "toward_zero", "odd"):
        assert _same(formats.quantize(-x, fmt, rounding=mode), -formats.quantize(x, fmt, rounding=mode))
    assert _same(formats.quantize(-x, fmt, rounding="up"), -formats.quantize(x, fmt, rounding="down"))
    # the sign of a stochastic result does not change its magnitude's distribution
    assert _same(formats.quantize(-x, fmt, rounding="stochastic", key=5),
                 -formats.quantize(x, fmt, rounding="stochastic", key=5))


# ------------------------------------------------------------------------- error bounds
def _ulp(fmt, a: Fraction) -> Fraction:
    """Spacing of the format's values in the binade of a > 0."""
    if isinstance(fmt, IntFormat):
        return Fraction(1)
    e = math.floor(math.log2(a)) if a > 0 else fmt.emin
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    return Fraction(2) ** (max(e, fmt.emin) - fmt.mantissa_bits)


@given(data=st.data(), fmt=any_format)
def test_nearest_error_at_most_half_ulp(data, fmt):
    x = data.draw(_arrays(fmt, "float64"))
    x = x[_in_range(fmt, x)]
    for mode in ("nearest_even", "nearest_away"):
        q = formats.quantize(x, fmt, rounding=mode)
        for xi, qi in zip(x.tolist(), q.tolist(), strict=True):
            a = abs(Fraction(xi))
            if a == 0:
                assert qi == 0
                continue
            assert abs(Fraction(xi) - Fraction(qi)) <= _ulp(fmt, a) / 2, (xi, qi)


@given(data=st.data(), fmt=any_format)
def test_directed_modes_bracket(data, fmt):
    x = data.draw(_arrays(fmt, "float64"))
    x = x[_in_range(fmt, x)]
    down = formats.quantize(x, fmt, rounding="down")
    up = formats.quantize(x, fmt, rounding="up")
    tz = formats.quantize(x, fmt, rounding="toward_zero")
    near = formats.quantize(x, fmt)
    assert np.all(down <= x) and np.all(x <= up)
    assert np.all(np.abs(tz) <= np.abs(x)) and np.all((tz == 0) | (np.sign(tz) == np.sign(x)))
    assert np.all((near == down) | (near == up))
    exact = down == up
    assert np.array_equal(exact, x == near)
    # nothing of the format lies strictly between down and up
    c_dn = formats.encode(down, fmt, rounding="up").codes
    c_up = formats.encode(up, fmt, rounding="down").codes
    mid = (down.astype(np.float64) + up) / 2
    between = formats.quantize(mid, fmt, rounding="toward_zero")
    assert np.all((between == down) | (between == up) | exact)
    assert np.array_equal(c_dn, formats.encode(down, fmt).codes)
    assert np.array_equal(c_up, formats.encode(up, fmt).codes)


@given(data=st.data(), fmt=any_format)
def test_round_to_odd_gives_odd_codes_when_inexact(data, fmt):
    x = data.draw(_arrays(fmt, "float64"))
    x = x[_in_range(fmt, x)]
    q = formats.quantize(x, fmt, rounding="odd")
    codes = np.asarray(formats.encode(x, fmt, rounding="odd").codes, np.int64)
    inexact = q != x
    assert np.all(codes[inexact] % 2 == 1), (x[inexact], codes[inexact])
    assert np.all((q == formats.quantize(x, fmt, rounding="down"))
                  | (q == formats.quantize(x, fmt, rounding="up")))


# ------------------------------------------------------------------------- stochastic mean
def _neighbours(fmt, x):
    """(toward zero, away from zero) neighbours of x in the format (equal when exact)."""
    tz = quantize_np(x, fmt, rounding="toward_zero")
    away = np.where(x < 0, quantize_np(x, fmt, rounding="down"), quantize_np(x, fmt, rounding="up"))
    return tz, away


@settings(max_examples=40)
@given(data=st.data(), fmt=st.sampled_from(REGISTERED), key=st.integers(0, 2**32))
def test_stochastic_mean_converges(data, fmt, key):
    """The count of round-ups over N draws is Binomial(N, frac) with frac = (|x| − lo)/(hi − lo)
    exactly (32 random bits resolve frac, which has ≤ 24 bits here). The two-sided binomial
    test at level 1e-6 fails by chance about once in 10^6 runs of an example."""
    x = data.draw(fst.stress_floats(fmt, dtype="float32"))
    if not _in_range(fmt, np.float64(x)) or math.isnan(x):
        return
    n = 4000
    xs = np.full(n, x, np.float32)
    q = formats.quantize(xs, fmt, rounding="stochastic", key=key).astype(np.float64)
    tz, away = _neighbours(fmt, np.float64([x]))
    tz, away = float(tz[0]), float(away[0])
    assert np.all((q == tz) | (q == away))
    if tz == away:
        assert np.all(q == x)
        return
    frac = float((Fraction(x) - Fraction(tz)) / (Fraction(away) - Fraction(tz)))
    k = int(np.sum(q == away))
    assert stats.binomtest(k, n, frac).pvalue > 1e-6, (x, tz, away, frac, k / n)


@given(fmt=st.sampled_from(REGISTERED), data=st.data(), nbits=st.integers(1, 6))
def test_stochastic_exactly_unbiased_over_all_random_values(fmt, data, nbits):
    """Over all 2^R values of the random integer, the mean result is lo + (hi − lo) ·
    RNE(frac · 2^R) / 2^R exactly: unbiased to R bits."""
    x = data.draw(st.lists(fst.stress_floats(fmt, dtype="float64"), min_size=1, max_size=4))
    x = np.array(x)
    x = x[_in_range(fmt, x)]
    if x.size == 0:
        return
    R = 2**nbits
    xs = np.repeat(x, R)
    r = np.tile(np.arange(R, dtype=np.uint32), x.size)
    q = quantize_np(xs, fmt, rounding="stochastic", rand=(r, nbits)).reshape(x.size, R)
    tz, away = _neighbours(fmt, x)
    for xi, qi, l, h in zip(x.tolist(), q, tz.tolist(), away.tolist(), strict=True):
        mean = sum(Fraction(v) for v in qi.tolist()) / R
        if l == h:
            assert mean == Fraction(l)
            continue
        frac = (Fraction(xi) - Fraction(l)) / (Fraction(h) - Fraction(l))
        d = frac * R
        n = math.floor(d)
        rne = n + 1 if d - n > Fraction(1, 2) or (d - n == Fraction(1, 2) and n % 2) else n
        assert mean == Fraction(l) + (Fraction(h) - Fraction(l)) * Fraction(rne, R)


# ------------------------------------------------------------------- arbitrary formats
@settings(max_examples=60)
@given(fmt=st.one_of(fst.float_formats(max_bits=9), fst.int_formats(max_bits=9)), data=st.data(),
       mode=st.sampled_from(MODES), dtype=st.sampled_from(["float32", "float64"]))
def test_arbitrary_formats_match_reference(fmt, data, mode, dtype):
    """Random ExMy / integer records (every special-value family, odd biases, unsigned, no
    subnormals with m = 0) against the exact reference."""
    x = data.draw(_arrays(fmt, dtype, max_size=24))
    r = data.draw(st.lists(st.integers(0, 2**5 - 1), min_size=x.size, max_size=x.size))
    rand = (np.array(r, np.uint32), 5) if mode == "stochastic" else None
    got = encode_np(x, fmt, rounding=mode, rand=rand)
    want = [ref_encode(v, fmt, mode, None, ri, 5) for v, ri in zip(x.tolist(), r, strict=True)]
    assert got.tolist() == want, (fmt, x)
