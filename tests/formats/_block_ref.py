"""Slow, obviously-correct references for the block, scaled-integer and codebook families.

Power-of-two block scales are computed in exact rational arithmetic straight from the
definitions (OCP MX v1.0 §6.3 and the other rules as torchao documents them), and elements are
rounded with the scalar reference codec (``formats._reference.ref_encode``, exact Fractions).
Nothing here calls the code under test.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from lowbit.formats.scalar._reference import ref_encode


def floor_log2(q: Fraction) -> int:
    """floor(log2 q) for a positive Fraction, exactly."""
    e = q.numerator.bit_length() - q.denominator.bit_length()
    while Fraction(2) ** e > q:
        e -= 1
    while Fraction(2) ** (e + 1) <= q:
        e += 1
    return e


def ceil_log2(q: Fraction) -> int:
    e = floor_log2(q)
    return e if Fraction(2) ** e == q else e + 1


def element_emax(elem) -> int:
    return 0 if not hasattr(elem, "exponent_bits") else elem.emax


def element_exp(elem) -> int:
    return 0 if hasattr(elem, "exponent_bits") else -(elem.bits - 2)


def element_max(elem) -> Fraction:
    if hasattr(elem, "exponent_bits"):
        return Fraction(elem.value_of_code(elem.max_code))
    return Fraction(elem.max) * Fraction(2) ** element_exp(elem)


def round_to_bits_away(a: Fraction, bits: int) -> Fraction:
    """a rounded to ``bits`` significant bits, ties away (torchao EVEN's pre-rounding)."""
    e = floor_log2(a)
    ulp = Fraction(2) ** (e - bits + 1)
    n = a / ulp
    r = math.floor(n + Fraction(1, 2))
    return r * ulp


def pow2_range(scale) -> tuple[int, int]:
    kmin = scale.emin - scale.mantissa_bits if (scale.subnormals and scale.mantissa_bits > 0) else scale.emin
    return kmin, scale.emax


def ref_pow2_block(vals, fmt, rounding="nearest_even"):
    """(k or None for a NaN scale, [element codes]) of one block of Python floats."""
    elem = fmt.element
    if any(math.isnan(v) or math.isinf(v) for v in vals):
        return None, [0] * len(vals)
    amax = max((abs(Fraction(v)) for v in vals), default=Fraction(0))
    kmin, kmax = pow2_range(fmt.scale)
    if amax == 0:
        k = kmin
    else:
        rule = fmt.scale_rule
        if rule == "floor":
            k = floor_log2(amax) - element_emax(elem)
        elif rule == "ceil":
            k = ceil_log2(amax) - element_emax(elem)
        elif rule == "rceil":
            k = ceil_log2(amax / element_max(elem))
        elif rule == "even":
            mb = elem.mantissa_bits if hasattr(elem, "exponent_bits") else elem.bits - 2
            k = floor_log2(round_to_bits_away(amax, mb + 1)) - element_emax(elem)
        else:
            raise ValueError(rule)
        if k > kmax:
            return None, [0] * len(vals)
        k = max(k, kmin)
    div = Fraction(2) ** (k + element_exp(elem))
    # (zeros pass through as they are, keeping the sign of -0.0)
    codes = [ref_encode(v if v == 0 else float(Fraction(v) / div), elem, rounding, "saturate") for v in vals]
    return k, codes


def ref_pow2_encode(x2d: np.ndarray, fmt, rounding="nearest_even"):
    """Reference codes/scale exponents for a 2-D float array blocked along the last axis
    (zero padded). Returns (codes (rows, nb, bs), k (rows, nb) with None for NaN scales)."""
    rows, L = x2d.shape
    bs = fmt.block_size or L
    nb = -(-L // bs)
    codes = np.zeros((rows, nb, bs), np.int64)
    ks = np.empty((rows, nb), object)
    for r in range(rows):
        for j in range(nb):
            blk = [float(v) for v in x2d[r, j * bs:(j + 1) * bs]]
            blk += [0.0] * (bs - len(blk))
            k, c = ref_pow2_block(blk, fmt, rounding)
            codes[r, j] = c
            ks[r, j] = k
    return codes, ks


def pow2_code(k: int, scale) -> int:
    """Code of 2^k in a FloatFormat scale (by search over its codes: slow, obvious)."""
    target = Fraction(2) ** k
    for c in range(scale.num_codes):
        if scale.value_of_code(c) == target:
            return c
    raise ValueError(f"2^{k} is not a value of {scale}")
