"""Numba kernel of L-Mul on codes, one compiled kernel per (format, variant, overflow); same
semantics as ``_lmul.lmul_codes_xp``. Broadcasting is done by strides (no materialised
operands): the output is walked row by row over its last axis, in parallel over rows.
Imported lazily."""

from __future__ import annotations

import functools

import numba as nb
import numpy as np

from ._lmul import _spec

__all__ = ["lmul_codes_numba", "lmul_values_numba"]

_SPECIALS = {"ieee": 0, "fn": 1, "fnuz": 2, "p3109": 3, "none": 4}


@functools.lru_cache(maxsize=None)
def _scalar(fmt, variant: str, overflow: str):
    s = _spec(fmt)
    M = s["m"]
    MM, MAG, SIGN, TOP, MAXMAG = s["mmask"], s["magmask"], s["sign"], s["top"], s["maxmag"]
    C, OFF, BIAS = s["C"], s["off"], s["bias"]
    SP = _SPECIALS[s["specials"]]
    NEGZERO = bool(s["negzero"])
    NAN, PINF, NINF = s["nan_code"], s["pinf"], s["ninf"]
    BITS = variant == "bits"
    OV = {"saturate": 0, "inf": 1, "nan": 2}[overflow]

    @nb.njit(inline="always")
    def kernel(a, b):
        ma = a & MAG
        mb = b & MAG
        Ea = ma >> M
        Eb = mb >> M
        Ma = ma & MM
        Mb = mb & MM
        if SP == 0:
            nan_a = Ea == TOP and Ma != 0
            nan_b = Eb == TOP and Mb != 0
            inf_a = Ea == TOP and Ma == 0
            inf_b = Eb == TOP and Mb == 0
        elif SP == 1:
            nan_a = ma == MAG
            nan_b = mb == MAG
            inf_a = False
            inf_b = False
        elif SP == 2:
            nan_a = a == SIGN
            nan_b = b == SIGN
            inf_a = False
            inf_b = False
        elif SP == 3:
            nan_a = a == SIGN
            nan_b = b == SIGN
            inf_a = ma == MAG
            inf_b = mb == MAG
        else:
            nan_a = False
            nan_b = False
            inf_a = False
            inf_b = False
        sign = (a ^ b) & SIGN
        if nan_a or nan_b:
            return NAN
        if inf_a or inf_b:
            if (inf_a and Eb == 0 and not inf_b) or (inf_b and Ea == 0 and not inf_a):
                return NAN
            return NINF if sign != 0 else PINF
        if Ea == 0 or Eb == 0:
            return sign if NEGZERO else 0
        if BITS:
            R = ma + mb - C
            if R < (1 << M):
                return sign if NEGZERO else 0
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
                return sign if NEGZERO else 0
            if Er > TOP:
                Er = TOP + 1
            R = (Er << M) | (N & MM)
        if R > MAXMAG:
            if OV == 0:
                R = MAXMAG
            elif OV == 1:
                return NINF if sign != 0 else PINF
            else:
                return NAN
        return R | sign

    return kernel


@functools.lru_cache(maxsize=None)
def _driver(fmt, variant: str, overflow: str, with_table: bool):
    kernel = _scalar(fmt, variant, overflow)

    @nb.njit(parallel=True, cache=False)
    def run(a, b, astr, bstr, outer, inner, table, out):
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
                c = kernel(np.int64(a[oa + j * sa]), np.int64(b[ob + j * sb]))
                if with_table:
                    out[base + j] = table[c]
                else:
                    out[base + j] = c

    return run


def _layout(ca, cb):
    shape = np.broadcast_shapes(ca.shape, cb.shape)
    if len(shape) == 0:
        shape = (1,)
    A = np.ascontiguousarray(ca)
    B = np.ascontiguousarray(cb)
    va = np.broadcast_to(A, shape)
    vb = np.broadcast_to(B, shape)
    astr = np.array([s // A.itemsize for s in va.strides], dtype=np.int64)
    bstr = np.array([s // B.itemsize for s in vb.strides], dtype=np.int64)
    outer = np.array(shape[:-1], dtype=np.int64)
    return shape, A.ravel(), B.ravel(), astr, bstr, outer, int(shape[-1])


def lmul_codes_numba(ca, cb, fmt, variant, overflow):
    """Codes of the L-Mul products (broadcast shape)."""
    full = np.broadcast_shapes(ca.shape, cb.shape)
    shape, A, B, astr, bstr, outer, inner = _layout(ca, cb)
    ct = np.uint8 if fmt.bits <= 8 else np.uint16 if fmt.bits <= 16 else np.uint32
    out = np.empty(int(np.prod(shape)), dtype=ct)
    _driver(fmt, variant, overflow, False)(A, B, astr, bstr, outer, inner, np.zeros(1, np.float32), out)
    return out.reshape(full)


def lmul_values_numba(ca, cb, fmt, variant, overflow, table):
    """Values ``table[code]`` of the L-Mul products (table dtype, broadcast shape)."""
    full = np.broadcast_shapes(ca.shape, cb.shape)
    shape, A, B, astr, bstr, outer, inner = _layout(ca, cb)
    out = np.empty(int(np.prod(shape)), dtype=table.dtype)
    _driver(fmt, variant, overflow, True)(A, B, astr, bstr, outer, inner, table, out)
    return out.reshape(full)
