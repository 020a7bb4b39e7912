"""EVERY code-adjacent input of the 9..16-bit registered formats (bfloat16, float16,
int/uint 9..16), every rounding mode, float32 and float64 inputs, against a vectorized exact
oracle built here from the format's value table (the scalar reference of
``formats/_reference.py`` is too slow for ~400k inputs × 7 modes; test_codec_reference.py runs
it on every code-adjacent input of the ≤8-bit formats and on a sample of these).

The oracle brackets |x| between neighbouring magnitudes of the exact value table with
``searchsorted`` (exact float64 comparisons: every value of these formats is a float64) and
decides with exact float64 arithmetic: 2|x| against lo + hi for the nearest modes (both sides
exact), and frac = (|x| − lo)/(hi − lo) for stochastic rounding (exact: hi − lo is a power of
two and |x| − lo is exact by Sterbenz's lemma or because lo = 0).
"""

from __future__ import annotations

import numpy as np
import pytest
from _fmt_helpers import MODES, code_adjacent_inputs, encode_np, exact_values, ids, random_bits

from lowbit import formats

FORMATS = formats.select(lambda f: 8 < f.bits <= 16 and (f.family == "int" or (
    f.family == "float" and f.specials == "ieee" and f.signed)))


def _choose_up(mode, a, lo, hi, lo_odd, neg, r=None, nbits=None):
    """True where the result is the larger magnitude ``hi`` (a strictly between lo and hi)."""
    if mode == "nearest_even":
        return (2 * a > lo + hi) | ((2 * a == lo + hi) & lo_odd)
    if mode == "nearest_away":
        return 2 * a >= lo + hi
    if mode == "toward_zero":
        return np.zeros_like(neg)
    if mode == "up":
        return ~neg
    if mode == "down":
        return neg
    if mode == "odd":
        return ~lo_odd
    if mode == "stochastic":
        frac = (a - lo) / (hi - lo)
        d = np.rint(frac * 2.0**nbits)  # exact; rint rounds ties to even
        return d + r.astype(np.float64) >= 2.0**nbits
    raise AssertionError(mode)


def _oracle_float(fmt, x, mode, r, nbits):
    v = exact_values(fmt)
    mags = v[: fmt.max_code + 1]  # codes 0..max_code hold the ascending magnitudes of an
    assert np.all(np.diff(mags) > 0)  # IEEE-like format (sign-magnitude encoding)
    step = mags[-1] - mags[-2]
    beyond = mags[-1] + step
    xf = x.astype(np.float64)
    neg = np.signbit(xf)
    a = np.abs(xf)
    fin = np.isfinite(a)
    af = np.where(fin, a, 0.0)
    i = np.searchsorted(mags, af, side="left")
    ic = np.minimum(i, mags.size - 1)
    exact = (i <= fmt.max_code) & (mags[ic] == af)
    lo_k = np.maximum(i - 1, 0)
    hi_v = np.where(i <= fmt.max_code, mags[ic], beyond)
    up = _choose_up(mode, af, mags[lo_k], hi_v, (lo_k & 1) == 1, neg, r, nbits)
    k = np.where(exact, i, np.where(up, lo_k + 1, lo_k))
    ovf = fin & ((k > fmt.max_code) | (af >= beyond))
    directed = (mode == "toward_zero") | ((mode == "up") & neg) | ((mode == "down") & ~neg)
    k = np.where(ovf & directed, fmt.max_code, k)
    code = np.where(ovf & ~directed, fmt.inf_codes[0], k)
    code = np.where(np.isinf(xf), fmt.inf_codes[0], code)
    code = code | np.where(neg, fmt.sign_mask, 0)
    return np.where(np.isnan(xf), fmt.nan_code | np.where(neg, fmt.sign_mask, 0), code)


def _oracle_int(fmt, x, mode, r, nbits):
    xf = x.astype(np.float64)
    neg = np.signbit(xf)
    a = np.where(np.isfinite(xf), np.abs(xf), 2.0**40)  # ±Inf saturate like huge values
    lo = np.floor(a)
    exact = lo == a
    up = _choose_up(mode, a, lo, lo + 1, np.mod(lo, 2) == 1, neg, r, nbits)
    m = np.where(exact | ~up, lo, lo + 1)
    val = np.clip(np.where(neg, -m, m), fmt.min, fmt.max)  # natural policy: saturate
    val = np.where(np.isnan(xf), 0, val)                    # documented: NaN → 0
    return np.mod(val.astype(np.int64), fmt.num_codes)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fmt", FORMATS, ids=ids(FORMATS))
def test_every_code_adjacent_input(fmt, dtype):
    x = code_adjacent_inputs(fmt, dtype)
    oracle = _oracle_int if fmt.family == "int" else _oracle_float
    for mode in MODES:
        for nbits in ((5, 32) if mode == "stochastic" else (None,)):
            r = random_bits(x.shape, nbits, fmt.bits) if nbits else None
            got = encode_np(x, fmt, rounding=mode, rand=(r, nbits) if nbits else None)
            with np.errstate(over="ignore", invalid="ignore"):  # huge inputs: 2|x| → inf
                want = oracle(fmt, x, mode, r, nbits)
            bad = np.nonzero(got.astype(np.int64) != want)[0]
            assert bad.size == 0, (f"{fmt} {mode} R={nbits}: {bad.size} mismatches, e.g. "
                                   + str([(float(x[j]), int(got[j]), int(want[j])) for j in bad[:6]]))


def test_collection():
    assert {"bfloat16", "float16", "int16", "uint16", "int11"} <= {f.name for f in FORMATS}
