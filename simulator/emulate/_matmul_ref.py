"""Slow, obviously-correct reference of :func:`simulator.matmul` in exact arithmetic.

Every operand value, product, block sum and partial sum is a Python ``Fraction`` (or a Python
``int`` for integer accumulators); rounding to an accumulator format is done on the exact value
by :func:`round_fraction`. Special values (NaN, ±Inf) are Python floats and follow IEEE 754.
One output element at a time, in plain loops: the fast NumPy/JAX paths are tested against it,
and :func:`simulator.matmul` falls back to it when a product is not exact in float64.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from lowbit.formats import FloatFormat, IntFormat

__all__ = ["round_fraction", "ref_matmul_terms", "exact", "add_exact", "mul_exact"]


def exact(v):
    """A float / int / numpy scalar as an exact Fraction (NaN and ±Inf stay floats)."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return Fraction(int(v))
    f = float(v)
    if math.isnan(f) or math.isinf(f):
        return f
    return Fraction(f)


def _special(v) -> bool:
    return isinstance(v, float)


def mul_exact(a, b):
    """Exact product; IEEE 754 for NaN/±Inf (Inf × 0 = NaN)."""
    if _special(a) or _special(b):
        if (_special(a) and math.isnan(a)) or (_special(b) and math.isnan(b)):
            return math.nan
        if a == 0 or b == 0:
            return math.nan
        return math.inf if (a > 0) == (b > 0) else -math.inf
    return a * b


def add_exact(a, b):
    if _special(a) or _special(b):
        return float(a) + float(b)
    return a + b


def round_fraction(x, fmt: FloatFormat, rounding: str = "nearest_even", overflow=None):
    """Round the exact value ``x`` (Fraction, or a special float) to ``fmt``.

    The quantum at |x| is 2^(max(floor(log2|x|), emin) − m); |x| / quantum is rounded to an
    integer n by the mode (the parity of n is the parity of the code's last bit); a result above
    ``fmt.max`` overflows: to ±max for ``saturate`` and for directed modes that round toward
    zero, else to ±Inf / NaN per the policy (``None`` = the format's natural behaviour).
    Returns a Fraction, or a float for NaN/±Inf.
    """
    policy = overflow or ("inf" if fmt.has_inf else "nan" if fmt.has_nan else "saturate")
    top = Fraction(fmt.max)
    if _special(x):
        if math.isnan(x):
            return math.nan
        if policy == "saturate":
            return top if x > 0 else -top
        if policy == "inf":
            return x
        return math.nan
    if x == 0:
        return Fraction(0)
    neg = x < 0
    a = -x if neg else x
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    elif Fraction(2) ** (e + 1) <= a:
        e += 1
    q = Fraction(2) ** (max(e, fmt.emin) - fmt.mantissa_bits)
    n = a / q
    fl = n.numerator // n.denominator
    frac = n - fl
    if frac == 0:
        k = fl
    elif rounding == "nearest_even":
        k = fl + 1 if frac > Fraction(1, 2) or (frac == Fraction(1, 2) and fl % 2 == 1) else fl
    elif rounding == "nearest_away":
        k = fl + 1 if frac >= Fraction(1, 2) else fl
    elif rounding == "toward_zero":
        k = fl
    elif rounding == "up":
        k = fl if neg else fl + 1
    elif rounding == "down":
        k = fl + 1 if neg else fl
    elif rounding == "odd":
        k = fl if fl % 2 == 1 else fl + 1
    else:
        raise ValueError(f"rounding {rounding!r} is not supported by the reference")
    r = k * q
    if r > top:
        toward_zero = rounding == "toward_zero" or (rounding == "up" and neg) or (rounding == "down" and not neg)
        if policy == "saturate" or toward_zero:
            r = top
        elif policy == "inf":
            return -math.inf if neg else math.inf
        else:
            return math.nan
    return -r if neg else r


def round_to_acc(x, acc):
    """Round the exact value ``x`` into accumulator ``acc`` (an :class:`Accumulator`)."""
    f = acc.format
    if isinstance(f, IntFormat):
        if _special(x) or x.denominator != 1:
            raise ValueError("an integer accumulator received a non-integer addend")
        v = int(x)
        if acc.overflow == "saturate":
            return Fraction(min(max(v, f.min), f.max))
        mod = 1 << f.bits
        v %= mod
        if f.signed and v >= mod // 2:
            v -= mod
        return Fraction(v)
    if acc.is_float64:
        return exact(float(x)) if not _special(x) else x
    return round_fraction(x, f, acc.rounding, acc.overflow)


def _reduce(terms, acc, order):
    if order in ("sequential", "systolic"):
        s = Fraction(0)
        for t in terms:
            s = round_to_acc(add_exact(s, t), acc)
        return s
    # pairwise
    if not terms:
        return Fraction(0)
    x = list(terms)
    while len(x) > 1:
        nxt = [round_to_acc(add_exact(x[i], x[i + 1]), acc) for i in range(0, len(x) - 1, 2)]
        if len(x) % 2:
            nxt.append(x[-1])
        x = nxt
    return round_to_acc(x[0], acc)


def ref_matmul_terms(terms, acc, *, chunk=None, chunk_acc=None, order="sequential", init=None):
    """Accumulate one output element from its exact ``terms`` (a list, in reduction order).

    Semantics (the contract the fast paths implement):

    * no ``chunk``: ``sequential``/``systolic`` — s = init (or 0); s = round(s + t) for each t;
      ``pairwise`` — the tree of :func:`_reduce`, then s = round(init + tree).
    * ``chunk`` c: the terms are cut into consecutive chunks of c; each chunk is reduced in
      ``chunk_acc`` (from 0, in ``order``) and added into ``acc``: s = round(s + chunk_sum).
    """
    s = Fraction(0) if init is None else exact(init)
    if chunk is None:
        if order in ("sequential", "systolic"):
            for t in terms:
                s = round_to_acc(add_exact(s, t), acc)
            return s
        return round_to_acc(add_exact(s, _reduce(terms, acc, order)), acc)
    inner = chunk_acc or acc
    for i in range(0, len(terms), chunk):
        c = _reduce(terms[i:i + chunk], inner, order)
        s = round_to_acc(add_exact(s, c), acc)
    return s


def to_float(v) -> float:
    return v if isinstance(v, float) else float(v)
