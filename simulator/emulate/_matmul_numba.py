"""Numba kernel of the NumPy backend: sequential (and two-level) float accumulation.

The vectorized NumPy path steps over K with array operations of size M×N; with a rounding
accumulator that costs a few dozen array passes per step. This kernel does the same arithmetic
per output element in compiled code, in parallel over rows: for each term, the float64 sum is
formed rounded to odd (TwoSum) and rounded to the accumulator on its bit pattern — the same
definition as :func:`simulator._accumulate.add_round` (and ``formats.quantize``) for IEEE-like
accumulator formats, so the results are identical (the test suite compares both with the exact
reference). Other accumulator formats use the vectorized path. Imported lazily (imports Numba).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from lowbit.formats import OVERFLOW_IDS, ROUNDING_IDS
from lowbit.formats.numba import bits_float, float_bits

__all__ = ["sequential_float"]

KIND_F64, KIND_F32, KIND_IEEE = 1, 2, 3


# Mode IDs of the rounder, from the one table of lowbit.formats (compile-time constants).
_RNE, _RNA, _RTZ = ROUNDING_IDS["nearest_even"], ROUNDING_IDS["nearest_away"], ROUNDING_IDS["toward_zero"]
_RUP, _RDN = ROUNDING_IDS["up"], ROUNDING_IDS["down"]
_SAT, _NAN = OVERFLOW_IDS["saturate"], OVERFLOW_IDS["nan"]


@numba.njit(cache=True)
def _round_ieee(x, R):
    """Round float64 ``x`` to an IEEE-like format (Inf/NaN in the top exponent, subnormals):
    R = (emin, mantissa_bits, max, mode, overflow). Same definition as formats.quantize."""
    emin, mbits, maxval, mode, ovf = R
    if math.isnan(x):
        return x
    if math.isinf(x):
        if ovf == _SAT:
            return math.copysign(maxval, x)
        if ovf == _NAN:
            return math.nan
        return x
    if x == 0.0:
        return x
    neg = x < 0
    a = -x if neg else x
    _, e = math.frexp(a)
    E = max(e - 1, emin)
    ulp = math.ldexp(1.0, E - mbits)
    q = a / ulp
    fl = math.floor(q)
    frac = q - fl
    if frac == 0.0:
        r = q
    elif mode == _RNE:
        r = fl + 1.0 if (frac > 0.5 or (frac == 0.5 and (np.int64(fl) & 1) == 1)) else fl
    elif mode == _RNA:
        r = fl + 1.0 if frac >= 0.5 else fl
    elif mode == _RTZ:
        r = fl
    elif mode == _RUP:
        r = fl if neg else fl + 1.0
    elif mode == _RDN:
        r = fl + 1.0 if neg else fl
    else:
        r = fl if (np.int64(fl) & 1) == 1 else fl + 1.0
    res = r * ulp
    if res > maxval:
        directed = mode == _RTZ or (mode == _RUP and neg) or (mode == _RDN and not neg)
        if ovf == _SAT or directed:
            res = maxval
        elif ovf == _NAN:
            return math.nan
        else:
            res = math.inf
    return -res if neg else res


@numba.njit(cache=True)
def _round_to_odd_sum(s, t):
    """The float64 sum of s and t rounded to odd (TwoSum; the last bit of an inexact sum is
    forced to 1 by stepping toward the exact value)."""
    x = s + t
    if not math.isfinite(x):
        return x
    bb = x - s
    e = (s - (x - bb)) + (t - bb)
    if e == 0.0:
        return x
    b = float_bits(x)
    if (b & 1) == 0:
        b = b + 1 if (e > 0) == (x > 0) else b - 1
    return bits_float(b)


@numba.njit(cache=True)
def _round_ieee_fast(x, R):
    """:func:`_round_ieee` on the bit pattern (normal float64 inputs dropping 1..52 bits);
    falls back to the float version otherwise."""
    emin, mbits, maxval, mode, ovf = R
    b = float_bits(x)
    neg = b < 0
    a = b & np.int64(0x7FFFFFFFFFFFFFFF)
    E = a >> 52
    if E == 0 or E == 0x7FF:
        return _round_ieee(x, R)
    e = E - 1023
    shift = max(e, emin) - mbits - (e - 52)
    if shift <= 0:
        r = a
    elif shift > 52:
        return _round_ieee(x, R)
    else:
        sig = (a & np.int64(0xFFFFFFFFFFFFF)) | np.int64(0x10000000000000)
        half = np.int64(1) << (shift - 1)
        rem = sig & ((np.int64(1) << shift) - 1)
        kept_odd = ((sig >> shift) & 1) == 1
        if rem == 0:
            inc = 0
        elif mode == _RNE:
            inc = 1 if (rem > half or (rem == half and kept_odd)) else 0
        elif mode == _RNA:
            inc = 1 if rem >= half else 0
        elif mode == _RTZ:
            inc = 0
        elif mode == _RUP:
            inc = 0 if neg else 1
        elif mode == _RDN:
            inc = 1 if neg else 0
        else:
            inc = 0 if kept_odd else 1
        r = ((a >> shift) + inc) << shift
    res = bits_float(r)
    if res > maxval:
        directed = mode == _RTZ or (mode == _RUP and neg) or (mode == _RDN and not neg)
        if ovf == _SAT or directed:
            res = maxval
        elif ovf == _NAN:
            return math.nan
        else:
            res = math.inf
    return -res if neg else res


@numba.njit(cache=True)
def _add(s, t, R, kind, down):
    if kind == KIND_F64:
        return s + t
    x = _round_to_odd_sum(s, t)
    if kind == KIND_F32:
        r = np.float64(np.float32(x))
    else:
        r = _round_ieee_fast(x, R)
    if down and r == 0.0 and x == 0.0:
        both_pos_zero = (s == 0.0 and math.copysign(1.0, s) > 0 and t == 0.0 and math.copysign(1.0, t) > 0)
        if not both_pos_zero:
            r = -0.0
    return r


@numba.njit(cache=True, parallel=True)
def _kernel(A, Bt, T, use_T, init, has_init, chunk, R_out, kind_out, down_out, R_in, kind_in, down_in):
    if use_T:
        J, M, N = T.shape
    else:
        M, J = A.shape
        N = Bt.shape[0]
    out = np.empty((M, N), dtype=np.float64)
    for m in numba.prange(M):
        for n in range(N):
            s = init[m, n] if has_init else 0.0
            if chunk <= 0:
                for j in range(J):
                    t = T[j, m, n] if use_T else A[m, j] * Bt[n, j]
                    s = _add(s, t, R_out, kind_out, down_out)
            else:
                for c0 in range(0, J, chunk):
                    c = 0.0
                    for j in range(c0, min(c0 + chunk, J)):
                        t = T[j, m, n] if use_T else A[m, j] * Bt[n, j]
                        c = _add(c, t, R_in, kind_in, down_in)
                    s = _add(s, c, R_out, kind_out, down_out)
            out[m, n] = s
    return out


def supported(acc) -> bool:
    """Accumulators the kernel rounds itself: float64, and IEEE-like float formats (Inf/NaN in
    the top exponent, subnormals) — float16, bfloat16, float32, custom e8m13, ..."""
    f = acc.format
    return acc.is_float64 or (getattr(f, "specials", None) == "ieee" and f.signed and f.subnormals)


def _kind(acc):
    """(kind, IEEE rounding parameters) of a supported accumulator."""
    f = acc.format
    ovf = acc.options.resolved_overflow(f)
    R = (np.int64(f.emin), np.int64(f.mantissa_bits), float(f.max), np.int64(ROUNDING_IDS[acc.rounding]),
         np.int64(OVERFLOW_IDS[ovf if ovf in ("saturate", "nan") else "inf"]))
    if acc.is_float64:
        return KIND_F64, R
    if acc.is_float32_native:
        return KIND_F32, R
    return KIND_IEEE, R


def sequential_float(A, Bt, T, init, plan):
    """Sequential accumulation of products A[m, j]·Bt[n, j] (2-D float64 operands) or of
    precomputed terms T[j, m, n], under ``plan`` (float accumulators, optional chunks)."""
    use_T = T is not None
    if use_T:
        A = Bt = np.zeros((1, 1))
        T = np.ascontiguousarray(T, dtype=np.float64)
    else:
        T = np.zeros((1, 1, 1))
        A = np.ascontiguousarray(A, dtype=np.float64)
        Bt = np.ascontiguousarray(Bt, dtype=np.float64)
    has_init = init is not None
    M = T.shape[1] if use_T else A.shape[0]
    N = T.shape[2] if use_T else Bt.shape[0]
    init_a = (np.ascontiguousarray(np.broadcast_to(init, (M, N)), dtype=np.float64) if has_init
              else np.zeros((1, 1)))
    kind_out, R_out = _kind(plan.acc)
    inner = plan.chunk_acc or plan.acc
    kind_in, R_in = _kind(inner)
    chunk = plan.chunk if plan.chunk is not None else 0
    return _kernel(A, Bt, T, use_T, init_a, has_init, chunk, R_out, kind_out, plan.acc.rounding == "down",
                   R_in, kind_in, inner.rounding == "down")
