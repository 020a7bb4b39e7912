"""Fused Numba loops for block formats on large float32 NumPy inputs (imports Numba).

Parallel over rows (the blocking axis last; a matrix with few rows is viewed as more rows of
whole blocks). Each row takes three passes that stay in cache: the amax bit pattern of every
block (a pairwise tree over the row for power-of-two block sizes), the scale of every block,
then the elements.

Elements. The default options (round to nearest even, saturate, no flushing) take a
branch-free conversion that LLVM vectorizes (:func:`_fast_code` for codes, :func:`_fast_round`
for fake-quantized values);
any other options, and the rare blocks the branch-free conversion cannot do exactly, take the
scalar codec's kernel (``_numba_kernels.encode_bits``) on the exactly scaled bit pattern — the
same integer algorithm as the vectorized path. tests/formats/test_block_fast_paths.py checks both
against the vectorized path on edge inputs.

Compilation. Format constants (``P``, ``FS``, ``C``) are run-time arguments, so one compiled
loop (per rule family, block size 16/32/other, codes or values, and option switches) serves
every element format; loops are memoized and cached on disk.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numba
import numpy as np

from ..core._backend import code_dtype
from ..core._modes import SCALE_RULE_IDS
from ..core._numba_bits import bits_float, float_bits
from ..core._options import make_options, make_random_bits
from ..core._qarray import QArray
from ..scalar._numba_kernels import encode_bits, params, quantize_bits
from ._layout import (
    TS_MIN,
    _elem_opts,
    _sig_exp,
    bits_like,
    fast_spec,
    normalize_axis,
    scale_spec,
    to_blocks,
)

if TYPE_CHECKING:  # pragma: no cover
    from ._block import BlockFormat

__all__ = ["encode_numba", "quantize_numba"]

# scale rules of the power-of-two loop (compile-time constants; floor is the remaining case)
_RULE_CEIL, _RULE_RCEIL, _RULE_EVEN = SCALE_RULE_IDS["ceil"], SCALE_RULE_IDS["rceil"], SCALE_RULE_IDS["even"]


@numba.njit(cache=True, inline="always")
def _split32(a):
    """(e, sig) of a finite non-zero float32 magnitude pattern: value = sig · 2^(e − 23)."""
    E = a >> 23
    M = a & 0x7FFFFF
    if E == 0:
        _, ex = math.frexp(float(M))
        p = np.int64(ex - 1)
        return p - 149, M << (23 - p)
    return E - 127, M | 0x800000


@numba.njit(cache=True, inline="always")
def _ldexp32(b, n):
    """Bits of value(b) · 2^n (b: 32-bit pattern in an int64, 0 ≤ b < 2^32); exact when
    representable, sticky below the smallest normal (as ``_layout.ldexp_bits``)."""
    s = b & 0x80000000
    a = b & 0x7FFFFFFF
    if a >= 0x7F800000 or a == 0:
        return b
    e, sig = _split32(a)
    e2 = e + n
    if e2 > 127:
        return s | 0x7F800000
    if e2 >= -126:
        return s | ((e2 + 127) << 23) | (sig & 0x7FFFFF)
    sh = -126 - e2
    if sh > 24:
        sh = 24
    r = sig >> sh
    if (sig & ((np.int64(1) << sh) - 1)) != 0:
        r |= 1
    return s | r


# ------------------------------------------------------------------ branch-free element conversion
# Round to nearest even with saturation, the default of every block format, written as integer
# arithmetic without branches so that LLVM vectorizes the element loop (AVX2/AVX-512: variable
# shifts, min/max, selects). Other rounding modes, overflow policies and flushing use the scalar
# codec's kernel (``encode_bits``) in the same loops.
#
# Codes. A finite float32 magnitude a with exponent field E and fraction F is sig · 2^(e−23),
# with e = max(E, 1) − 127 and sig = F (+ 2^23 when E > 0). Times 2^n, in a format with bias EB and
# M fraction bits (smallest normal exponent 1 − EB), its code magnitude is
#     ebase · 2^M + RNE(sig / 2^sh),   ebase = max(e + n + EB − 1, 0),
#     sh = 23 − M + d,   d = max(0, 1 − EB − (e + n))   (sh capped at 25: all rounds to 0 beyond),
# because the codes of such a format are the binades laid end to end: a carry out of the fraction
# steps into the next binade, and the subnormal binade (exponent field 0) is the d > 0 case. This
# holds for float32-subnormal inputs (sig without the hidden bit) when e + n ≤ 1 − EB, i.e. when
# the result is subnormal in the element format; blocks where it is not take the scalar kernel.
#
# Values (fake quantization) round in the float domain instead: see :func:`_fast_round`.


@numba.njit(cache=True, inline="always")
def _rne_mag(a, n, EB, M, MAXMAG):
    """Saturated code magnitude of value(a) · 2^n rounded to nearest even (a: int32 magnitude
    pattern of a finite float32; n: int32)."""
    E = a >> np.int32(23)
    e = max(E, np.int32(1)) - np.int32(127) + n
    sig = (a & np.int32(0x7FFFFF)) | (np.int32(0x800000) if E != np.int32(0) else np.int32(0))
    d = max(np.int32(0), np.int32(1 - EB) - e)
    ebase = max(e + np.int32(EB - 1), np.int32(0))
    sh = min(np.int32(23 - M) + d, np.int32(25))
    r = (sig + (np.int32(1) << (sh - np.int32(1))) - np.int32(1) + ((sig >> sh) & np.int32(1))) >> sh
    mag = min((ebase << np.int32(M)) + r, np.int32(MAXMAG))
    return mag if a != np.int32(0) else np.int32(0)


@numba.njit(cache=True, inline="always")
def _mag_bits(mag, EB, M):
    """float32 pattern (int32) of the value of code magnitude ``mag`` (normal float32 results)."""
    Ec = mag >> np.int32(M)
    Mc = mag & np.int32((1 << M) - 1)
    nrm = np.int32(((Ec + np.int32(127 - EB)) << np.int32(23)) | (Mc << np.int32(23 - M)))
    sub = float_bits(np.float32(np.float32(Mc) * bits_float(np.int32((128 - EB - M) << 23))))
    return nrm if Ec != np.int32(0) else sub


@numba.njit(cache=True, inline="always")
def _fast_code(b, n, FS):
    """Element code of value(b) · 2^n (b: int32 float32 pattern, finite)."""
    EB, M, MAXMAG, SB, SZ = FS
    mag = _rne_mag(b & np.int32(0x7FFFFFFF), n, EB, M, MAXMAG)
    sgn = ((b >> np.int32(31)) & np.int32(1)) << np.int32(SB)
    if not SZ:
        sgn = sgn if mag != np.int32(0) else np.int32(0)
    return mag | sgn


@numba.njit(cache=True, inline="always")
def _fast_round(b, lo, vmax, FS):
    """float32 pattern (int32) of value(b) rounded to nearest even to M fraction bits with a
    quantum of at least 2^lo, saturated at ``vmax`` (a float32): the fake-quantized value without
    codes. The float addition of C = 2^(quantum exponent + 23) rounds exactly (IEEE RNE), so
    the caller guarantees 2^(lo + 23) and 2^(e + 23 − M) (e: the largest exponent in the block)
    are normal floats."""
    EB, M, MAXMAG, SB, SZ = FS
    a = np.int32(b & np.int32(0x7FFFFFFF))
    E = a >> np.int32(23)
    qe = max(max(E, np.int32(1)) - np.int32(127 + M), lo)
    c = bits_float(np.int32((qe + np.int32(150)) << np.int32(23)))
    q = float_bits(np.float32(min(np.float32(np.float32(bits_float(a) + c) - c), vmax)))
    sgn = np.int32(b & np.int32(-0x80000000))
    if not SZ:
        sgn = sgn if q != np.int32(0) else np.int32(0)
    return np.int32(q | sgn)


_LOOPS: dict = {}
#: whether the branch-free element conversion is used where it applies (tests switch it off to
#: compare against the scalar kernel)
_FAST = True

#: the loops run rows in parallel; a matrix with fewer rows is viewed as this many (or more) rows
#: of whole blocks when its length allows
_MIN_ROWS = 64
_INF = 0x7F800000
_NOFS = (0, 0, 0, 0, 0)
_NOSS = (0, 0, 0)

# int64 block constants (pow2 loops)
(_RULE, _EMAX, _EE, _KMIN, _KMAX, _HASNAN, _NANCODE, _SB, _SM, _SEMIN, _SSUB, _MB, _EM, _SIGM, _BS,
 _NMAXF, _NMINV) = range(17)


@numba.njit(cache=True, inline="always")
def _pow2_block_scale(amax, C):
    """(k, nan_scale, scale code) of one block from its amax bit pattern (int64), as
    ``_block.pow2_scale_exponents`` and ``pow2_code``. Written as selects (every rule computed,
    shifts clamped) so that the loop over a row's blocks vectorizes."""
    bad = amax >= _INF
    zero = amax == 0
    rule = C[_RULE]
    # even: round amax to the element precision first (carries into the exponent field)
    aa = amax + ((np.int64(1) << max(22 - C[_MB], 0)) if (rule == _RULE_EVEN and C[_MB] < 23) else 0)
    aa = np.int64(0x800000) if zero else aa
    E = aa >> 23
    F = aa & 0x7FFFFF
    p = (np.int64(float_bits(np.float32(F))) >> 23) - 127  # floor(log2 F), exact for F < 2^24
    e = E - 127 if E != 0 else p - 149
    sig = (F | 0x800000) if E != 0 else (F << min(max(23 - p, 0), 23))
    k_floor = e - C[_EMAX]
    k_ceil = k_floor + (1 if sig != 0x800000 else 0)
    k_rceil = e - C[_EM] + (1 if sig > C[_SIGM] else 0)
    k = k_ceil if rule == _RULE_CEIL else (k_rceil if rule == _RULE_RCEIL else k_floor)
    k = np.int64(-(1 << 20)) if zero else k
    kmax = C[_KMAX]
    nan_scale = C[_HASNAN] != 0 and (bad or k > kmax)
    k = min(max(k, C[_KMIN]), kmax)
    k = kmax if bad else k
    sub = np.int64(1) << min(max(k - (C[_SEMIN] - C[_SM]), 0), 62)
    nrm = (k + C[_SB]) << C[_SM]
    scode = C[_NANCODE] if nan_scale else (sub if (C[_SSUB] != 0 and k < C[_SEMIN]) else nrm)
    return k, nan_scale, scode


# modes of a block in the element pass
_M_FAST, _M_NAN, _M_GEN = 0, 1, 2


@numba.njit(cache=True, inline="always")
def _amax_row(row, am, tmp, BS, FLUSH):
    """Row pass 1: the amax bit pattern of every block of one row (``am``; padding reads as +0),
    with ``tmp`` scratch of at least L/2. A power-of-two block size takes a pairwise tree over
    the row, which vectorizes (a per-block reduction over 16 or 32 elements does not: its vector
    loop is longer than the block)."""
    L = row.shape[0]
    nb = am.shape[0]
    nbf = L // BS
    ABS = np.int32(0x7FFFFFFF)
    MINN = np.int32(0x800000)
    j0 = 0
    if BS >= 2 and (BS & (BS - 1)) == 0:
        half = nbf * (BS // 2)
        for q in range(half):
            a0 = row[2 * q] & ABS
            a1 = row[2 * q + 1] & ABS
            if FLUSH:
                a0 = a0 if a0 >= MINN else np.int32(0)
                a1 = a1 if a1 >= MINN else np.int32(0)
            tmp[q] = max(a0, a1)
        w = BS // 2
        cnt = half
        while w > 1:
            cnt //= 2
            for q in range(cnt):
                tmp[q] = max(tmp[2 * q], tmp[2 * q + 1])
            w //= 2
        for j in range(nbf):
            am[j] = tmp[j]
        j0 = nbf
    for j in range(j0, nb):
        m = np.int32(0)
        for i in range(j * BS, min(j * BS + BS, L)):
            a = row[i] & ABS
            if FLUSH:
                a = a if a >= MINN else np.int32(0)
            m = max(m, a)
        am[j] = m


def _pow2_loop(fast: bool, BSC: int, kind: int, stoch: bool, flush: bool):
    """Loop for the power-of-two scale rules, parallel over rows; per row: block amax, scale
    codes, then the elements. With ``fast`` the full blocks that the branch-free conversion
    (constants ``FS``, :func:`fast_spec`) does exactly take it; the others (and every block
    without ``fast``) take the scalar codec's kernel (``P``) on the exactly scaled bits
    (``_ldexp32``, as ``_layout.ldexp_bits``). ``kind`` 0 writes codes, 1 values. ``BSC``: the
    block size as a compile-time constant, or 0 to read it from ``C`` at run time. ``P`` and
    ``FS`` are run-time arguments, so one compiled loop serves every element format."""
    key = ("pow2", fast, BSC, kind, stoch, flush)
    fn = _LOOPS.get(key)
    if fn is not None:
        return fn
    KIND = kind
    STOCH = stoch
    FLUSH = flush
    FAST = fast

    @numba.njit(cache=True, parallel=True)
    def loop(src, codes, scales, vals, rand, tbl, C, P, FS):
        BS = BSC if BSC else C[_BS]
        # the branch-free conversion is exact for float32-subnormal inputs while n ≤ 127 − EB
        # (see above): larger n come only from blocks whose amax is itself below ~2^-120
        NSUB = 127 - FS[0]
        EE = C[_EE]
        NMAXF = C[_NMAXF]
        NMINV = C[_NMINV]
        rows = src.shape[0]
        L = src.shape[1]
        nb = scales.shape[1]
        for r in numba.prange(rows):
            row = src[r]
            am = np.empty(nb, np.int32)
            nn = np.empty(nb, np.int32)
            md = np.empty(nb, np.int8)
            tmp = np.empty(L // 2 + 1, np.int32)
            _amax_row(row, am, tmp, BS, FLUSH)
            for j in range(nb):
                amax = np.int64(am[j])
                k, nan_scale, scode = _pow2_block_scale(amax, C)
                scales[r, j] = scode
                n = -(k + EE)
                nn[j] = n
                fast = (FAST and j * BS + BS <= L and amax < _INF and n <= NSUB
                      # values: element values times 2^-n normal (n ≤ NMAXF also keeps the
                      # smallest quantum of _fast_round normal), its constant for amax normal
                      and (KIND == 0 or (NMINV <= n <= NMAXF and (amax >> 23) - 127 - FS[1] <= 104)))
                md[j] = _M_NAN if nan_scale else (_M_FAST if fast else _M_GEN)
            for j in range(nb):
                start = j * BS
                mode = md[j]
                n = nn[j]
                if FAST and mode == _M_FAST:
                    if KIND == 0:
                        for i in range(BS):
                            codes[r, j, i] = _fast_code(row[start + i], n, FS)
                    else:
                        lo = np.int32(1 - FS[0] - FS[1]) - n
                        vmax = bits_float(np.int32(((C[_EM] - n + 127) << 23) | (C[_SIGM] & 0x7FFFFF)))
                        for i in range(BS):
                            vals[r, start + i] = _fast_round(row[start + i], lo, vmax, FS)
                elif mode == _M_NAN:
                    for i in range(BS):
                        if KIND == 0:
                            codes[r, j, i] = 0
                        elif start + i < L:
                            vals[r, start + i] = 0x7FC00000
                else:
                    n64 = np.int64(n)
                    for i in range(BS):
                        idx = start + i
                        b = (np.int64(row[idx]) & 0xFFFFFFFF) if idx < L else np.int64(0)
                        if FLUSH and (b & 0x7FFFFFFF) < 0x800000:
                            b = b & 0x80000000
                        y = _ldexp32(b, n64)
                        rr = np.int64(rand[r, j, i]) if STOCH else np.int64(0)
                        code = encode_bits(y, rr, P)
                        if KIND == 0:
                            codes[r, j, i] = code
                        elif idx < L:
                            vals[r, idx] = _ldexp32(np.int64(tbl[code]) & 0xFFFFFFFF, -n64)

    _LOOPS[key] = loop
    return loop


def _amax_loop(fast: bool, sfast: bool, BSC: int, kind: int, stoch: bool, flush: bool):
    """Loop for the NVFP4 ("amax") rule, parallel over rows; per row: block amax, block scale
    codes with the float32 multipliers fl(fl(1/ts)/s) (elements) and fl(ts·s) (values) of
    torchao's recipe, then the elements x · multiplier. With ``sfast`` the scale, with ``fast``
    the full finite blocks take the branch-free conversions (constants ``SS``, ``FS``:
    :func:`scale_spec`, :func:`fast_spec`), else the scalar kernels (``PS``, ``P``). Padding
    reads as +0. ``BSC`` as in :func:`_pow2_loop`."""
    key = ("amax", fast, sfast, BSC, kind, stoch, flush)
    fn = _LOOPS.get(key)
    if fn is not None:
        return fn
    KIND = kind
    STOCH = stoch
    FLUSH = flush
    FAST = fast
    SFAST = sfast

    @numba.njit(cache=True, parallel=True)
    def loop(src, codes, scales, vals, rand, stbl, CF, C, P, PS, FS, SS):
        SEB, SM, SMAX = SS
        emaxf, smin, smax, ts = CF[0], CF[1], CF[2], CF[3]
        TWO, HASNAN, NANCODE = C[0] != 0, C[1] != 0, C[2]
        BS = BSC if BSC else C[3]
        rows = src.shape[0]
        L = src.shape[1]
        nb = scales.shape[1]
        one = np.float32(1.0)
        inv_ts = one / ts
        zero = np.int32(0)
        lo_e = np.int32(1 - FS[0] - FS[1])
        for r in numba.prange(rows):
            row = src[r]
            am = np.empty(nb, np.int32)
            rec = np.empty(nb, np.float32)
            dsc = np.empty(nb, np.float32)
            md = np.empty(nb, np.int8)
            tmp = np.empty(L // 2 + 1, np.int32)
            _amax_row(row, am, tmp, BS, FLUSH)
            for j in range(nb):
                # written as selects so that this loop over the blocks vectorizes too
                amax32 = am[j]
                isbad = amax32 >= np.int32(_INF)
                amax32 = np.int32(0) if isbad else amax32
                s_raw = bits_float(amax32) / emaxf
                if TWO:
                    s_raw = s_raw / ts
                s_raw = np.float32(min(max(s_raw, smin), smax))
                if SFAST:
                    sc = _rne_mag(float_bits(s_raw), zero, SEB, SM, SMAX)
                    s_val = bits_float(_mag_bits(sc, SEB, SM))
                else:
                    sc = np.int32(encode_bits(np.int64(float_bits(s_raw)) & 0xFFFFFFFF, np.int64(0), PS))
                    s_val = stbl[sc]
                recip = (inv_ts if TWO else one) / s_val
                rec[j] = recip
                dsc[j] = ts * s_val if TWO else s_val
                nan_b = HASNAN and isbad
                scales[r, j] = np.int32(NANCODE) if nan_b else sc
                fast = FAST and not isbad and j * BS + BS <= L
                if KIND == 1:  # _fast_round's constant for the largest y must be normal
                    ymax = float_bits(np.float32(bits_float(amax32) * recip))
                    fast = fast and (ymax >> 23) - 127 - FS[1] <= 104
                md[j] = _M_NAN if nan_b else (_M_FAST if fast else _M_GEN)
            for j in range(nb):
                start = j * BS
                mode = md[j]
                recip = rec[j]
                d = dsc[j]
                if FAST and mode == _M_FAST:
                    for i in range(BS):
                        y = float_bits(np.float32(bits_float(row[start + i]) * recip))
                        if KIND == 0:
                            codes[r, j, i] = _fast_code(y, zero, FS)
                        else:
                            q = bits_float(_fast_round(y, lo_e, emaxf, FS))
                            vals[r, start + i] = float_bits(np.float32(q * d))
                elif mode == _M_NAN:
                    for i in range(BS):
                        if KIND == 0:
                            codes[r, j, i] = 0
                        elif start + i < L:
                            vals[r, start + i] = 0x7FC00000
                else:
                    for i in range(BS):
                        idx = start + i
                        b = row[idx] if idx < L else np.int32(0)
                        if FLUSH:
                            b = b if (b & 0x7FFFFFFF) >= 0x800000 else np.int32(b & -0x80000000)
                        y = np.int64(float_bits(np.float32(bits_float(np.int32(b)) * recip))) & 0xFFFFFFFF
                        rr = np.int64(rand[r, j, i]) if STOCH else np.int64(0)
                        if KIND == 0:
                            codes[r, j, i] = encode_bits(y, rr, P)
                        elif idx < L:
                            qv = bits_float(np.int32(quantize_bits(y, rr, P)))
                            vals[r, idx] = np.int64(float_bits(np.float32(qv * d))) & 0xFFFFFFFF

    _LOOPS[key] = loop
    return loop


@numba.njit(cache=True, parallel=True)
def _finite_amax_rows(src):
    """Largest finite magnitude bit pattern of each row (int32 selects: vectorizes)."""
    rows = src.shape[0]
    out = np.zeros(rows, np.int64)
    for r in numba.prange(rows):
        m = np.int32(0)
        for i in range(src.shape[1]):
            a = src[r, i] & np.int32(0x7FFFFFFF)
            m = max(m, a if a < np.int32(_INF) else np.int32(0))
        out[r] = m
    return out


def _prepare(x, fmt, opts):
    xw = x.astype(np.float32) if x.dtype.name != "float32" else x
    shape = tuple(x.shape)
    if xw.ndim == 0:
        xw = xw.reshape(1)
        axis = 0
    else:
        axis = normalize_axis(opts.axis, xw.ndim)
    x2 = np.ascontiguousarray(np.moveaxis(xw, axis, -1))
    other = x2.shape[:-1]
    L = x2.shape[-1]
    rows = int(np.prod(other)) if other else 1
    src = x2.reshape(rows, L).view(np.int32)
    bs = L if fmt.block_size is None else fmt.block_size
    nb = -(-L // bs) if bs else 0
    return shape, axis, other, src, L, bs, nb


def _row_split(rows: int, L: int, bs: int, nb: int) -> int:
    """How many rows of whole blocks to view each row as (a power of two), so that the loops,
    parallel over rows, have at least ``_MIN_ROWS`` of them; 1 when a block is partial."""
    g = 1
    if bs == 0 or L != nb * bs:
        return g
    while rows * g < _MIN_ROWS and nb % (2 * g) == 0 and nb // (2 * g) >= 8:
        g *= 2
    return g


def _values(fmt) -> np.ndarray:
    from ..core._codec import values

    return values(fmt)


def _value_bits(elem) -> np.ndarray:
    """float32 bit patterns (as int64) of every element code's value (scale 1)."""
    from ..core._codec import values

    v = np.asarray(values(elem), dtype=np.float32)
    return v.view(np.uint32).astype(np.int64)


def _n_range(fmt: BlockFormat) -> tuple[int, int]:
    """(smallest, largest) scaling n for which every non-zero element value times 2^-n is a
    normal float32."""
    from ..core._codec import values

    v = np.abs(np.asarray(values(fmt.element), dtype=np.float64))
    v = v[np.isfinite(v) & (v > 0)]
    return int(math.floor(math.log2(v.max()))) - 127, int(math.floor(math.log2(v.min()))) + 126


def _run(x, fmt: BlockFormat, opts, key, ts_user, do_codes: bool, do_vals: bool):
    shape, axis, other, src, L, bs, nb = _prepare(x, fmt, opts)
    rows0 = src.shape[0]
    g = _row_split(rows0, L, bs, nb)  # the loops see (rows, Lg) = (rows0·g, L/g)
    rows, Lg, nbg = rows0 * g, L // g, nb // g
    src = src.reshape(rows, Lg)
    eo = _elem_opts(opts)
    elem_opts = make_options(fmt.element, rounding=eo["rounding"], overflow=eo["overflow"],
                             random_bits=eo["random_bits"], flush_subnormals=eo["flush_subnormals"])
    P = params(fmt.element, "float32", elem_opts)
    FS = fast_spec(fmt.element, elem_opts) if _FAST else None
    if opts.rounding == "stochastic":
        # explicit bits follow the elements into the blocked layout (axis last, zero padded)
        xs = x.shape if x.ndim else (1,)
        key = bits_like(key, xs, lambda k: to_blocks(np, k, axis, fmt.block_size))
        rand = make_random_bits(key, (rows0, nb, bs), "numpy", opts.random_bits).reshape(rows, nbg, bs)
    else:
        if key is not None:
            raise ValueError("key is only used with rounding='stochastic'")
        rand = np.zeros((0, 0, 0), np.uint32)
    cdt = code_dtype(fmt.element.bits)
    codes = np.empty((rows, nbg, bs) if do_codes else (0, 0, 0), cdt)
    scales = np.empty((rows, nbg), code_dtype(fmt.scale.bits))
    vals = np.empty((rows, Lg) if do_vals else (0, 0), np.uint32)
    tbl = _value_bits(fmt.element)
    flush = int(opts.flush_subnormals)
    kind = 0 if do_codes else 1
    # the OCP MX and NVFP4 block sizes are compile-time constants of the loops (the element loop
    # over one block then vectorizes); others are read at run time
    bsc = bs if bs in (16, 32) else 0
    s = fmt.scale
    ts_out = None
    if bs == 0 or rows == 0 or nb == 0:
        pass
    elif fmt.scale_rule == "amax":
        two = fmt.tensor_scale is not None
        if two:
            if ts_user is not None:
                tsv = np.asarray(ts_user, dtype=np.float64)
                if tsv.shape != () or not np.isfinite(tsv) or tsv <= 0:
                    raise ValueError(f"tensor_scale must be a positive finite scalar, got {ts_user!r}")
                ts = np.float32(tsv)
            else:
                if flush:
                    flushed = np.where((src & 0x7FFFFFFF) < 0x800000, 0, src)
                    t_amax = int(_finite_amax_rows(flushed).max())
                else:
                    t_amax = int(_finite_amax_rows(src).max())
                amax_f = np.array(t_amax, np.uint32).view(np.float32)
                ts = np.float32(amax_f / np.float32(fmt.element_max * s.max))
            ts = max(ts, np.float32(TS_MIN))
            from ..core._codec import quantize

            assert fmt.tensor_scale is not None  # two-level
            ts = np.float32(np.asarray(quantize(np.asarray([ts], np.float32), fmt.tensor_scale,
                                                overflow="saturate"))[0])
            ts_out = np.asarray(ts, np.float32)
        else:
            ts = np.float32(1.0)
        PS = params(s, "float32", make_options(s, rounding="nearest_even", overflow="saturate"))
        CF = np.array([fmt.element_max, s.smallest_normal, s.max, ts], np.float32)
        C = np.array([int(two), int(s.has_nan), int(s.nan_code if s.nan_code is not None else 0), bs], np.int64)
        stbl = np.asarray(_values(s), dtype=np.float32)
        SS = scale_spec(s) if _FAST else None
        _amax_loop(FS is not None, SS is not None, bsc, kind, rand.size > 0, bool(flush))(
            src, codes, scales, vals, rand, stbl, CF, C, P, PS, FS or _NOFS, SS or _NOSS)
    else:
        rule = SCALE_RULE_IDS[fmt.scale_rule]
        kmin, kmax = fmt.scale_exponent_range
        eM, sigM = _sig_exp(fmt.element_max, 32)
        nmin, nmax = _n_range(fmt)
        C = np.array([rule, fmt.element_emax, fmt.element_exp, kmin, kmax, int(s.has_nan),
                      int(s.nan_code if s.nan_code is not None else 0), s.bias, s.mantissa_bits, s.emin,
                      int(s.subnormals and s.mantissa_bits > 0), fmt.element_mantissa_bits, eM, sigM, bs,
                      nmax, nmin], np.int64)
        _pow2_loop(FS is not None, bsc, kind, rand.size > 0, bool(flush))(
            src, codes, scales, vals, rand, tbl, C, P, FS or _NOFS)
    return shape, axis, other, codes, scales, vals, ts_out, L, nb, bs


def encode_numba(x, fmt: BlockFormat, opts, key, ts_user) -> QArray:
    shape, axis, other, codes, scales, vals, ts_out, L, nb, bs = _run(x, fmt, opts, key, ts_user, True, False)
    codes = codes.reshape(tuple(other) + (nb, bs))
    scales = scales.reshape(tuple(other) + (nb,))
    src = "float64" if x.dtype.name == "float64" else "float32"
    return QArray(codes=codes, format=fmt, shape=shape, scales=scales, tensor_scale=ts_out,
                  axis=axis if len(shape) else 0, meta=(("source", src),))


def quantize_numba(x, fmt: BlockFormat, opts, key, ts_user):
    shape, axis, other, codes, scales, vals, ts_out, L, nb, bs = _run(x, fmt, opts, key, ts_user, False, True)
    v = vals.view(np.float32).reshape(tuple(other) + (L,))
    out = np.moveaxis(v, -1, axis) if len(shape) else v.reshape(())
    return out.astype(x.dtype, copy=False)
