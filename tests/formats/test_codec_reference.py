"""The fast paths equal the slow exact reference (``formats/_reference.py``, Fraction
arithmetic on the sorted list of a format's values) on code-adjacent inputs.

For every registered scalar format of at most 8 bits (and some unregistered records:
P3109, unsigned IEEE-like and ``fn``, E3M0-style scales, narrow integers) the comparison runs
on EVERY code-adjacent input (each value, each tie, one input-ulp either side, past the top,
below the smallest value, specials), float32 and float64 inputs, every rounding mode.
The scalar reference costs ~15 µs a call, so for the 9..16-bit formats (bfloat16, float16,
int/uint 9..16) it runs on every code-adjacent input of the bottom and top binades and a
fixed random sample of the rest; every code-adjacent input of those formats is still checked
against an exact oracle in ``test_codec_exhaustive.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _fmt_helpers import MODES, code_adjacent_inputs, encode_np, exact_values, ids, random_bits, scalar_formats

from lowbit import formats
from lowbit.formats.scalar._reference import ref_encode

EXTRA = [
    formats.p3109(8, 3), formats.p3109(8, 1), formats.p3109(6, 2), formats.p3109(5, 4),
    formats.FloatFormat(4, 3, signed=False, specials="ieee", name="ufloat8_e4m3"),
    formats.FloatFormat(5, 3, signed=False, specials="fn", name="ufloat8_e5m3fn"),
    formats.FloatFormat(3, 0, signed=False, subnormals=False, specials="fn", name="float3_e3m0fnu"),
    formats.FloatFormat(4, 0, signed=True, specials="none", bias=3, name="float5_e4m0"),
    formats.FloatFormat(3, 2, bias=-2, specials="none", name="float6_e3m2_bias-2"),
    # ranges past float32's: the carry to 2^128 is a value here, not an overflow
    formats.FloatFormat(8, 1, specials="none", name="float10_e8m1"),
    formats.FloatFormat(8, 1, signed=False, specials="fn", bias=120, name="ufloat9_e8m1fn_b120"),
    formats.IntFormat(4, narrow=True, name="int4_narrow"),
    formats.IntFormat(8, narrow=True, name="int8_narrow"),
]
SMALL = [f for f in scalar_formats(8)] + EXTRA
LARGE = [f for f in scalar_formats(16) if f.bits > 8]


def _policies(fmt):
    out = [None, "saturate", "error"]
    if fmt.has_inf:
        out.append("inf")
    if fmt.has_nan:
        out.append("nan")
    return out


def _ref(x, fmt, mode, overflow=None, r=None, nbits=32):
    """Reference code, or the exception class it raises."""
    try:
        return ref_encode(x, fmt, mode, overflow, r, nbits)
    except (OverflowError, ValueError) as e:
        return type(e)


def _check(fmt, x, mode, overflow=None, nbits=5, seed=0):
    rand = None
    r = [None] * len(x)
    if mode == "stochastic":
        rb = random_bits(x.shape, nbits, seed)
        rand, r = (rb, nbits), rb.tolist()
    got = encode_np(x, fmt, rounding=mode, overflow=overflow, rand=rand)
    want = [_ref(v, fmt, mode, overflow, ri, nbits) for v, ri in zip(x.tolist(), r, strict=True)]
    bad = [(v, int(g), w) for v, g, w in zip(x.tolist(), got.tolist(), want, strict=True) if g != w]
    assert not bad, f"{fmt} {mode} overflow={overflow}: {len(bad)} mismatches (x, got, ref): {bad[:6]}"


def _magnitudes(fmt):
    """The format's finite magnitudes, ascending."""
    v = exact_values(fmt)
    return np.unique(np.abs(v[np.isfinite(v)]))


def _sample(fmt, x, n=2500, seed=0):
    """The inputs around the bottom and top binades, plus a fixed random sample of the rest."""
    a = np.abs(x.astype(np.float64))
    mags = _magnitudes(fmt)
    edge = (a <= mags[min(48, mags.size - 1)]) | (a >= mags[-min(48, mags.size)]) | ~np.isfinite(a)
    rest = np.nonzero(~edge)[0]
    pick = np.random.default_rng(seed).choice(rest, size=min(n, rest.size), replace=False)
    return x[np.sort(np.concatenate([np.nonzero(edge)[0], pick]))]


@pytest.mark.parametrize("fmt", SMALL + LARGE, ids=ids(SMALL + LARGE))
def test_values_equal_exact_decoder(fmt):
    got = formats.values(fmt)
    want = exact_values(fmt)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(want[~np.isnan(want)]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fmt", SMALL, ids=ids(SMALL))
def test_every_code_adjacent_input_every_mode(fmt, dtype):
    x = code_adjacent_inputs(fmt, dtype)
    for mode in MODES:
        _check(fmt, x, mode, nbits=5, seed=len(x))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", LARGE, ids=ids(LARGE))
def test_large_formats_sampled_inputs_every_mode(fmt):
    for dtype in ("float32", "float64"):
        x = _sample(fmt, code_adjacent_inputs(fmt, dtype), n=400 if fmt.family == "int" else 1500)
        for mode in MODES:
            _check(fmt, x, mode, nbits=5, seed=fmt.bits)


@pytest.mark.parametrize("fmt", SMALL + LARGE, ids=ids(SMALL + LARGE))
def test_every_overflow_policy_on_outer_inputs(fmt):
    """Each policy on the inputs where it matters: around the 8 largest magnitudes and past
    them, below the smallest positive value, ±0, ±Inf, NaN. With ``error`` the array raises
    iff some input raises in the reference, and the inputs that do not raise agree."""
    x = code_adjacent_inputs(fmt, "float32")
    a = np.abs(x.astype(np.float64))
    mags = _magnitudes(fmt)
    x = x[(a >= mags[-min(8, mags.size)]) | (a < fmt.smallest_positive) | ~np.isfinite(a)]
    for overflow in _policies(fmt):
        for mode in MODES:
            if overflow != "error":
                _check(fmt, x, mode, overflow, nbits=3, seed=1)
                continue
            want = [_ref(v, fmt, mode, "error", 0, 3) for v in x.tolist()]
            raises = np.array([isinstance(w, type) for w in want])
            rand = (np.zeros(x.shape, np.uint32), 3) if mode == "stochastic" else None
            if raises.any():
                exc = {w for w in want if isinstance(w, type)}
                with pytest.raises(tuple(exc)):
                    encode_np(x, fmt, rounding=mode, overflow="error", rand=rand)
            ok = ~raises
            rand_ok = (rand[0][ok], 3) if rand else None
            got = encode_np(x[ok], fmt, rounding=mode, overflow="error", rand=rand_ok)
            assert got.tolist() == [w for w in want if not isinstance(w, type)], (fmt, mode)


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float4_e2m1fn", "float8_e8m0fnu", "int4", "bfloat16"])
def test_stochastic_with_full_random_bits(name):
    """R = 32 random bits (the default) on float64 inputs, whose fraction between neighbours
    has more than 32 bits: the fraction is rounded to R bits first (RNE), as gfloat does."""
    fmt = formats.get(name)
    x = _sample(fmt, code_adjacent_inputs(fmt, "float64"), n=1500)
    rng = np.random.default_rng(9)
    x = np.concatenate([x, (rng.standard_normal(1500) * float(fmt.max) / 8)])
    _check(fmt, x, "stochastic", nbits=32, seed=4)


def test_reference_rejects_missing_random_bits():
    with pytest.raises(ValueError, match="stochastic"):
        ref_encode(1.3, formats.get("float8_e4m3fn"), "stochastic")
    assert math.isnan(float(formats.get("float8_e4m3fn").value_of_code(0x7F)))
