"""Numba kernel of L-Mul on codes; same semantics as ``_lmul.lmul_codes_xp``. Broadcasting is
done by strides (operands are never materialised): the output is walked row by row over its
last axis, rows in parallel. The format, variant and overflow policy arrive as a small integer
parameter vector, so one compiled kernel (cached on disk) serves every format. Imported lazily."""

from __future__ import annotations

import numba as nb
import numpy as np

from ..core._backend import code_dtype
from ..core._modes import OVERFLOW_IDS, SPECIAL_IDS
from ._lmul_spec import lmul_spec as _spec

__all__ = ["lmul_codes_numba", "lmul_values_numba"]

# mode IDs (compile-time constants of the kernel), from the one table in core._modes
_IEEE, _FN, _FNUZ, _P3109 = SPECIAL_IDS["ieee"], SPECIAL_IDS["fn"], SPECIAL_IDS["fnuz"], SPECIAL_IDS["p3109"]
_SAT, _INF = OVERFLOW_IDS["saturate"], OVERFLOW_IDS["inf"]


def _params(fmt, variant: str, overflow: str) -> np.ndarray:
    s = _spec(fmt)
    return np.array([s["m"], s["mmask"], s["magmask"], s["sign"], s["top"], s["maxmag"], s["C"], s["off"],
                     s["bias"], SPECIAL_IDS[s["specials"]], int(s["negzero"]), s["nan_code"], s["pinf"],
                     s["ninf"], int(variant == "bits"), OVERFLOW_IDS[overflow]], dtype=np.int64)


@nb.njit(inline="always", cache=True)
def _lmul_one(a, b, P):
    M, MM, MAG, SIGN, TOP, MAXMAG, C, OFF = P[0], P[1], P[2], P[3], P[4], P[5], P[6], P[7]
    BIAS, SP, NEGZERO, NAN, PINF, NINF, BITS, OV = P[8], P[9], P[10], P[11], P[12], P[13], P[14], P[15]
    ma = a & MAG
    mb = b & MAG
    Ea = ma >> M
    Eb = mb >> M
    Ma = ma & MM
    Mb = mb & MM
    nan_a = False
    nan_b = False
    inf_a = False
    inf_b = False
    if SP == _IEEE:
        nan_a = Ea == TOP and Ma != 0
        nan_b = Eb == TOP and Mb != 0
        inf_a = Ea == TOP and Ma == 0
        inf_b = Eb == TOP and Mb == 0
    elif SP == _FN:
        nan_a = ma == MAG
        nan_b = mb == MAG
    elif SP == _FNUZ:
        nan_a = a == SIGN
        nan_b = b == SIGN
    elif SP == _P3109:
        nan_a = a == SIGN
        nan_b = b == SIGN
        inf_a = ma == MAG
        inf_b = mb == MAG
    sign = (a ^ b) & SIGN
    zero = sign if NEGZERO != 0 else 0
    if nan_a or nan_b:
        return NAN
    if inf_a or inf_b:
        if (inf_a and Eb == 0 and not inf_b) or (inf_b and Ea == 0 and not inf_a):
            return NAN
        return NINF if sign != 0 else PINF
    if Ea == 0 or Eb == 0:
        return zero
    if BITS != 0:
        R = ma + mb - C
        if R < (1 << M):
            return zero
    else:
        N = (1 << M) + OFF + Ma + Mb
        Ez = Ea + Eb
        if N >= (1 << (M + 1)):
            h = N >> 1
            N = h + ((N & 1) & (h & 1))
            Ez += 1
            if N >= (1 << (M + 1)):
                N >>= 1
                Ez += 1
        Er = Ez - BIAS
        if Er <= 0:
            return zero
        if Er > TOP:
            Er = TOP + 1
        R = (Er << M) | (N & MM)
    if R > MAXMAG:
        if OV == _SAT:
            R = MAXMAG
        elif OV == _INF:
            return NINF if sign != 0 else PINF
        else:
            return NAN
    return R | sign


@nb.njit(parallel=True, cache=True)
def _run(a, b, astr, bstr, outer, inner, P, table, out):
    """out[i] = code of the L-Mul product of the broadcast operands (``table`` empty), or
    ``table[code]`` (the value)."""
    use_table = table.size > 0
    nrows = out.shape[0] // inner if inner > 0 else 0
    nd = outer.shape[0]
    sa = astr[nd]
    sb = bstr[nd]
    for r in nb.prange(nrows):
        rem = r * 1
        oa = 0
        ob = 0
        for d in range(nd - 1, -1, -1):
            i = rem % outer[d]
            rem //= outer[d]
            oa += i * astr[d]
            ob += i * bstr[d]
        base = r * inner
        for j in range(inner):
            code = _lmul_one(np.int64(a[oa + j * sa]), np.int64(b[ob + j * sb]), P)
            if use_table:
                out[base + j] = table[code]
            else:
                out[base + j] = code


def _layout(ca, cb, ct):
    shape = np.broadcast_shapes(ca.shape, cb.shape)
    if len(shape) == 0:
        shape = (1,)
    A = np.ascontiguousarray(ca, dtype=ct)
    B = np.ascontiguousarray(cb, dtype=ct)
    va = np.broadcast_to(A.reshape(A.shape), shape)
    vb = np.broadcast_to(B.reshape(B.shape), shape)
    astr = np.array([s // A.itemsize for s in va.strides], dtype=np.int64)
    bstr = np.array([s // B.itemsize for s in vb.strides], dtype=np.int64)
    outer = np.array(shape[:-1], dtype=np.int64)
    return shape, A.reshape(-1), B.reshape(-1), astr, bstr, outer, int(shape[-1])


def _ct(fmt):
    # one signature for ≤ 16-bit formats keeps the number of compiled variants small
    return np.uint16 if fmt.bits <= 16 else np.uint32


def lmul_codes_numba(ca, cb, fmt, variant, overflow):
    """Codes of the L-Mul products (broadcast shape)."""
    full = np.broadcast_shapes(ca.shape, cb.shape)
    shape, A, B, astr, bstr, outer, inner = _layout(ca, cb, _ct(fmt))
    out = np.empty(int(np.prod(shape)), dtype=_ct(fmt))
    _run(A, B, astr, bstr, outer, inner, _params(fmt, variant, overflow), np.zeros(0, np.float32), out)
    return out.astype(code_dtype(fmt.bits), copy=False).reshape(full)


def lmul_values_numba(ca, cb, fmt, variant, overflow, table):
    """Values ``table[code]`` of the L-Mul products (table dtype, broadcast shape)."""
    full = np.broadcast_shapes(ca.shape, cb.shape)
    shape, A, B, astr, bstr, outer, inner = _layout(ca, cb, _ct(fmt))
    out = np.empty(int(np.prod(shape)), dtype=table.dtype)
    _run(A, B, astr, bstr, outer, inner, _params(fmt, variant, overflow), table, out)
    return out.reshape(full)
