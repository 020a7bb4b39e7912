"""Slow, obviously-correct scalar reference codec in exact rational arithmetic.

Rounding is defined on the sorted list of the format's finite values: the candidates are the
nearest value below and above |x| (exact ``Fraction`` comparison). Used by the tests as the
oracle the fast paths must equal, on every code of formats of 16 bits or fewer.
"""

from __future__ import annotations

import bisect
import functools
import math
from fractions import Fraction

from ..core._records import IntFormat

__all__ = ["ref_quantize", "ref_encode", "ref_value"]


def ref_value(fmt, code: int):
    """Exact value of ``code`` (Fraction, ±inf or nan)."""
    return fmt.value_of_code(code)


@functools.cache
def _grid(fmt):
    """Non-negative finite values (sorted, Fraction), the code of each (+0 first), a dict
    value → code, and the values as floats (every value of a ≤16-bit format is exactly a
    float64, checked here, so bisecting the float list compares exactly)."""
    pairs = {}
    n = min(fmt.num_codes, 1 << 16)
    if fmt.num_codes > n:
        raise ValueError("the reference enumerates formats of at most 16 bits")
    if isinstance(fmt, IntFormat):
        # magnitudes of both signs (two's complement reaches one further below zero); the
        # "code" of a magnitude here only carries its parity, _code_of builds the real code
        pairs = {Fraction(i): i for i in range(max(fmt.max, -fmt.min) + 1)}
    for c in range(fmt.num_codes if not pairs else 0):
        v = fmt.value_of_code(c)
        if isinstance(v, float):  # nan / inf
            continue
        if v < 0 or (v == 0 and c != 0 and fmt.value_of_code(0) == 0):
            continue
        pairs.setdefault(v, c)
    vals = sorted(pairs)
    floats = [float(v) for v in vals]
    if any(Fraction(f) != v for f, v in zip(floats, vals, strict=True)):  # pragma: no cover - ≤16-bit formats
        raise ValueError(f"values of {fmt} are not all exact float64 numbers")
    return vals, [pairs[v] for v in vals], pairs, floats


def _code_of(fmt, v: Fraction, negative: bool) -> int:
    if isinstance(fmt, IntFormat):
        return (-int(v)) % fmt.num_codes if negative else int(v)
    c = _grid(fmt)[2][v]
    if negative and (v != 0 or fmt.has_negative_zero):
        c |= fmt.sign_mask
    return c


def ref_encode(x: float, fmt, rounding: str = "nearest_even", overflow=None, srbits: int | None = None,
               srnumbits: int = 32):
    """Reference encode of one Python float.

    Stochastic rounding (gfloat's ``RoundMode.Stochastic``): with frac = |x|'s exact position
    between its neighbours in [0, 1), R = ``srnumbits`` and the random integer r = ``srbits``
    in [0, 2^R), round away from zero iff RNE(frac · 2^R) + r ≥ 2^R (names as in gfloat's
    ``round_ndarray``).
    """
    policy = overflow or ("inf" if fmt.has_inf else "nan" if fmt.has_nan else "saturate")
    if math.isnan(x):
        if fmt.has_nan:
            return _nan_code(fmt, math.copysign(1.0, x) < 0)
        if policy == "error":
            raise ValueError("NaN")
        return 0
    negative = math.copysign(1.0, x) < 0
    vals, _, _, floats = _grid(fmt)
    if x == 0 and not fmt.has_zero:  # no zero (E8M0): ±0 is out of range (ml_dtypes gives NaN)
        if policy == "error":
            raise OverflowError("zero is not representable")
        if fmt.has_nan and policy != "saturate":
            return _nan_code(fmt, negative)  # keeps the sign where NaN has both (as overflow)
        return _code_of(fmt, vals[0], negative and getattr(fmt, "signed", True))
    top = vals[-1]
    signed = getattr(fmt, "signed", True)
    if isinstance(fmt, IntFormat):
        mag_lim = -Fraction(fmt.min) if negative else Fraction(fmt.max)
    else:
        mag_lim = top
    if math.isinf(x):
        r = None
    else:
        a = abs(Fraction(x))
        i = bisect.bisect_left(floats, abs(x))  # exact: x and the grid are float64 numbers
        if i < len(vals) and vals[i] == a:
            r = a
        else:
            lo = vals[i - 1] if i > 0 else None
            # above the top: the next value up would be one more step of the top binade
            hi = vals[i] if i < len(vals) else _beyond(fmt, top)
            if lo is None:
                lo = Fraction(0)
            if a >= hi:  # at or past that step: rounded as if the exponent were unbounded, it
                r = hi   # exceeds the top in every mode (IEEE 754 §7.4 overflow)
            else:
                r = _choose(lo, hi, a, negative, rounding, fmt, (srbits, srnumbits))
    if not signed and negative and (r is None or r != 0 or not fmt.has_zero):
        # a negative result is out of range of an unsigned format (before any overflow rule)
        if policy == "error":
            raise OverflowError
        if fmt.has_nan and policy != "saturate":
            return fmt.nan_code
        r = vals[0]
        negative = False
    ovf = r is None or r > mag_lim
    if ovf:
        finite = not math.isinf(x)
        directed = finite and (rounding == "toward_zero" or (rounding == "up" and negative)
                               or (rounding == "down" and not negative))
        if policy == "saturate" or directed:
            r = mag_lim
        elif policy == "inf":
            return fmt.inf_codes[1 if negative else 0]
        elif policy == "nan":
            return _nan_code(fmt, negative)
        else:
            raise OverflowError
    if not signed:
        negative = False
    if r == 0 and not fmt.has_zero:
        r = vals[0]
    assert r is not None
    return _code_of(fmt, r, negative)


def _nan_code(fmt, negative: bool) -> int:
    """The NaN code encoding produces: the format's canonical NaN, with the sign of the input
    where NaN codes exist for both signs (IEEE-like and ``fn`` formats, as ml_dtypes)."""
    c = fmt.nan_code
    if negative and fmt.signed and fmt.specials in ("ieee", "fn"):
        c |= fmt.sign_mask
    return c


def _beyond(fmt, top):
    if isinstance(fmt, IntFormat):
        return top + 1
    e = math.floor(math.log2(top)) if top >= 1 else -math.ceil(math.log2(1 / top))
    while Fraction(2) ** (e + 1) <= top:
        e += 1
    while Fraction(2) ** e > top:
        e -= 1
    return top + Fraction(2) ** (e - fmt.mantissa_bits)


def _is_odd_choice(fmt, v) -> bool:
    """Whether the code of non-negative grid value v is odd (for ties-to-even and round-odd)."""
    vals, codes, index, _ = _grid(fmt)
    if v in index:
        return index[v] & 1 == 1
    # beyond the top (overflowed): the code would continue the sequence
    return (codes[-1] + 1) & 1 == 1


def _rne(q: Fraction) -> int:
    """Round a non-negative Fraction to the nearest integer, ties to even."""
    n = math.floor(q)
    d = q - n
    return n + 1 if d > Fraction(1, 2) or (d == Fraction(1, 2) and n % 2 == 1) else n


def _choose(lo, hi, a, negative, rounding, fmt, sr):
    frac = (a - lo) / (hi - lo)
    if rounding == "nearest_even":
        if frac != Fraction(1, 2):
            return hi if frac > Fraction(1, 2) else lo
        return lo if not _is_odd_choice(fmt, lo) else hi
    if rounding == "nearest_away":
        return hi if frac >= Fraction(1, 2) else lo
    if rounding == "toward_zero":
        return lo
    if rounding == "up":
        return lo if negative else hi
    if rounding == "down":
        return hi if negative else lo
    if rounding == "odd":
        return lo if _is_odd_choice(fmt, lo) else hi
    if rounding == "stochastic":
        r, nbits = sr
        if r is None or not 0 <= r < 2**nbits:
            raise ValueError(f"stochastic rounding needs r in [0, 2**{nbits}), got {r!r}")
        return hi if _rne(frac * 2**nbits) + r >= 2**nbits else lo
    raise ValueError(rounding)


def ref_quantize(x: float, fmt, rounding="nearest_even", overflow=None, srbits=None, srnumbits=32) -> float:
    """Reference quantize of one Python float (value of :func:`ref_encode`'s code)."""
    code = ref_encode(x, fmt, rounding, overflow, srbits, srnumbits)
    v = fmt.value_of_code(code)
    if isinstance(v, float):
        return v
    if v == 0 and code & getattr(fmt, "sign_mask", 0):
        return -0.0  # the −0 code (Fraction has no signed zero)
    return float(v)
