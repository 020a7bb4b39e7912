"""Fused Numba loops for block formats on large float32 NumPy inputs (imports Numba).

One pass per block: amax from the bit patterns, the shared scale, then every element scaled
exactly (integer arithmetic on its bits, as ``_block.ldexp_bits``) and converted by the scalar
codec's own kernel (``_numba_kernels.encode_bits``) — the same integer algorithm as the
vectorized path, so the codes are identical; values come from the element's value table.

Speed notes. The element kernel is fast only when LLVM inlines it with the parameter tuple
``P`` folded in as constants, which it does for a lean loop body. So the main loop has a single
call site, the power-of-two scaling takes its exponent-add fast path, and no flag is carried
across the element loop; the rare blocks that need the general scaling (subnormal inputs or
results) are marked and redone by a second, general loop. ``P`` is a compile-time constant
(one compiled loop per element format and rounding options, memoized and cached on disk); the
block constants travel at run time.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from ._block import TS_MIN, BlockFormat, _elem_opts, _sig_exp, normalize_axis
from ._numba_kernels import encode_bits, params, quantize_bits
from ._options import make_options, make_random_bits
from ._qarray import QArray
from . import _minifloat as mf

__all__ = ["encode_numba", "quantize_numba"]


@intrinsic
def _f32_to_bits(typingctx, x):
    if x != types.float32:
        return None
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int32))

    return sig, codegen


@intrinsic
def _bits_to_f32(typingctx, b):
    if b != types.int32:
        return None
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return sig, codegen


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
    representable, sticky below the smallest normal (as ``_block.ldexp_bits``)."""
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


_LOOPS: dict = {}

#: blocks per parallel task (within one row of blocks)
_TILE_BLOCKS = 64
_INF = 0x7F800000

# int64 block constants (pow2 loops)
(_RULE, _EMAX, _EE, _KMIN, _KMAX, _HASNAN, _NANCODE, _SB, _SM, _SEMIN, _SSUB, _MB, _EM, _SIGM, _BS,
 _FLUSH, _TB, _NMAXF, _DOC, _DOV) = range(20)


@numba.njit(cache=True, inline="always")
def _pow2_block_scale(amax, C):
    """(k, nan_scale, scale code) of one block from its amax bit pattern."""
    bad = amax >= _INF
    if amax == 0:
        k = np.int64(-(1 << 20))
    else:
        aa = amax
        if C[_RULE] == 3 and C[_MB] < 23:  # even: round amax to the element precision first
            aa = aa + (np.int64(1) << (22 - C[_MB]))
        e, sig = _split32(aa)
        if C[_RULE] == 0 or C[_RULE] == 3:
            k = e - C[_EMAX]
        elif C[_RULE] == 1:
            k = e + (1 if sig != 0x800000 else 0) - C[_EMAX]
        else:
            k = e - C[_EM] + (1 if sig > C[_SIGM] else 0)
    nan_scale = C[_HASNAN] != 0 and (bad or k > C[_KMAX])
    if k > C[_KMAX]:
        k = C[_KMAX]
    if k < C[_KMIN]:
        k = C[_KMIN]
    if bad:
        k = C[_KMAX]
    if nan_scale:
        scode = C[_NANCODE]
    elif C[_SSUB] and k < C[_SEMIN]:
        scode = np.int64(1) << (k - (C[_SEMIN] - C[_SM]))
    else:
        scode = (k + C[_SB]) << C[_SM]
    return k, nan_scale, scode


def _pow2_loop(P, kind: int, stoch: bool, flush: bool):
    """Main loop for power-of-two scale rules over the full blocks (partial and subnormal
    blocks are marked in ``slow``). ``kind`` 0 writes codes, 1 writes values. Compiled once
    per (P, kind, stoch, flush); the block constants travel at run time."""
    key = ("pow2", P, kind, stoch, flush)
    fn = _LOOPS.get(key)
    if fn is not None:
        return fn
    KIND = kind
    STOCH = stoch
    FLUSH = flush

    @numba.njit(cache=True, parallel=True)
    def loop(src, codes, scales, vals, rand, tbl, slow, C):
        BS = C[_BS]
        TB = C[_TB]
        EE = C[_EE]
        NMAXF = C[_NMAXF]
        rows = src.shape[0]
        L = src.shape[1]
        nb = scales.shape[1]
        tpr = (nb + TB - 1) // TB
        for t in numba.prange(rows * tpr):
            r = t // tpr
            j0 = (t - r * tpr) * TB
            j1 = min(j0 + TB, nb)
            for j in range(j0, j1):
                start = j * BS
                if start + BS > L:
                    slow[r, j] = True
                    continue
                amax32 = np.int32(0)
                amin32 = np.int32(_INF)
                for i in range(BS):  # int32 reductions vectorize
                    a = np.int32(src[r, start + i] & np.int32(0x7FFFFFFF))
                    if FLUSH:
                        a = a if a >= np.int32(0x800000) else np.int32(0)
                    amax32 = np.int32(max(amax32, a))
                    amin32 = np.int32(min(amin32, a if a != 0 else np.int32(_INF)))
                amax = np.int64(amax32)
                amin = np.int64(amin32)
                k, nan_scale, scode = _pow2_block_scale(amax, C)
                n = -(k + EE)
                sl = (not nan_scale) and (amax >= _INF or (amin < _INF and (amin < 0x800000 or (amin >> 23) + n < 1))
                                          or (amax >> 23) + n > 254 or (KIND == 1 and n > NMAXF))
                slow[r, j] = sl
                if sl:
                    continue
                scales[r, j] = scode
                if nan_scale:
                    for i in range(BS):
                        if KIND == 0:
                            codes[r, j, i] = 0
                        else:
                            vals[r, start + i] = 0x7FC00000
                    continue
                sh = n << 23
                for i in range(BS):
                    b = np.int64(src[r, start + i]) & 0xFFFFFFFF
                    if FLUSH:
                        b = b if (b & 0x7FFFFFFF) >= 0x800000 else (b & 0x80000000)
                    y = b + sh if (b & 0x7FFFFFFF) != 0 else b
                    rr = np.int64(rand[r, j, i]) if STOCH else np.int64(0)
                    if KIND == 0:
                        codes[r, j, i] = encode_bits(y, rr, P)
                    else:
                        qv = quantize_bits(y, rr, P) & 0xFFFFFFFF
                        qa = qv & 0x7FFFFFFF
                        vals[r, start + i] = qv - sh if (qa != 0 and qa < _INF) else qv

    _LOOPS[key] = loop
    return loop


def _pow2_fixup(P):
    """General loop for the marked blocks (partial, or subnormal inputs/results): exact bit
    scaling as ``_block.ldexp_bits``."""
    key = ("pow2fix", P)
    fn = _LOOPS.get(key)
    if fn is not None:
        return fn

    @numba.njit(cache=True)
    def fix(src, codes, scales, vals, rand, tbl, blocks, C):
        BS = C[_BS]
        FLUSH = C[_FLUSH] != 0
        do_codes = C[_DOC] != 0
        do_vals = C[_DOV] != 0
        L = src.shape[1]
        stoch = rand.size > 0
        for q in range(blocks.shape[0]):
            r = blocks[q, 0]
            j = blocks[q, 1]
            start = j * BS
            amax = np.int64(0)
            for i in range(start, min(start + BS, L)):
                a = np.int64(src[r, i]) & 0x7FFFFFFF
                if FLUSH and a < 0x800000:
                    a = np.int64(0)
                amax = max(amax, a)
            k, nan_scale, scode = _pow2_block_scale(amax, C)
            scales[r, j] = scode
            n = np.int64(0) if nan_scale else -(k + C[_EE])
            for i in range(BS):
                idx = start + i
                b = (np.int64(src[r, idx]) & 0xFFFFFFFF) if idx < L else np.int64(0)
                if FLUSH and (b & 0x7FFFFFFF) < 0x800000:
                    b = b & 0x80000000
                y = _ldexp32(b, n)
                rr = np.int64(rand[r, j, i]) if stoch else np.int64(0)
                code = np.int64(0) if nan_scale else encode_bits(y, rr, P)
                if do_codes:
                    codes[r, j, i] = code
                if do_vals and idx < L:
                    if nan_scale:
                        vals[r, idx] = 0x7FC00000
                    else:
                        vals[r, idx] = _ldexp32(np.int64(tbl[code]) & 0xFFFFFFFF, -n)

    _LOOPS[key] = fix
    return fix


def _amax_scales(PS, flush: bool):
    """First pass of the NVFP4 ("amax") rule: block scale codes, element multipliers
    fl(fl(1/ts)/s) and decode multipliers fl(ts·s), in float32 arithmetic (torchao's recipe).
    ``stbl`` holds the float32 value of every scale code."""
    key = ("amax_scales", PS, flush)
    fn = _LOOPS.get(key)
    if fn is not None:
        return fn
    FLUSH = flush

    @numba.njit(cache=True, parallel=True)
    def scales_loop(src, scales, rec, dsc, bad, stbl, CF, C):
        emaxf, smin, smax, ts = CF[0], CF[1], CF[2], CF[3]
        TWO, HASNAN, NANCODE, BS, TB = C[0] != 0, C[1] != 0, C[2], C[3], C[5]
        rows = src.shape[0]
        L = src.shape[1]
        nb = scales.shape[1]
        tpr = (nb + TB - 1) // TB
        one = np.float32(1.0)
        inv_ts = one / ts
        for t in numba.prange(rows * tpr):
            r = t // tpr
            j0 = (t - r * tpr) * TB
            j1 = min(j0 + TB, nb)
            for j in range(j0, j1):
                start = j * BS
                end = min(start + BS, L)
                amax32 = np.int32(0)
                for i in range(start, end):
                    a = np.int32(src[r, i] & np.int32(0x7FFFFFFF))
                    if FLUSH:
                        a = a if a >= np.int32(0x800000) else np.int32(0)
                    amax32 = np.int32(max(amax32, a))
                isbad = amax32 >= np.int32(_INF)
                if isbad:
                    amax32 = np.int32(0)
                s_raw = _bits_to_f32(np.int32(amax32)) / emaxf
                if TWO:
                    s_raw = s_raw / ts
                s_raw = min(max(s_raw, smin), smax)
                scode = encode_bits(np.int64(_f32_to_bits(s_raw)) & 0xFFFFFFFF, np.int64(0), PS)
                s_val = stbl[scode]
                if TWO:
                    rec[r, j] = inv_ts / s_val
                    dsc[r, j] = ts * s_val
                else:
                    rec[r, j] = one / s_val
                    dsc[r, j] = s_val
                nan_b = HASNAN and isbad
                bad[r, j] = nan_b
                scales[r, j] = NANCODE if nan_b else scode

    _LOOPS[key] = scales_loop
    return scales_loop


def _amax_loop(P, kind: int, stoch: bool, flush: bool):
    """Second pass of the NVFP4 rule: elements x · multiplier through the element kernel;
    padding reads as +0."""
    key = ("amax", P, kind, stoch, flush)
    fn = _LOOPS.get(key)
    if fn is not None:
        return fn
    KIND = kind
    STOCH = stoch
    FLUSH = flush

    @numba.njit(cache=True, parallel=True)
    def loop(src, codes, vals, rand, rec, dsc, bad, C):
        BS, TB = C[3], C[5]
        rows = src.shape[0]
        L = src.shape[1]
        nb = rec.shape[1]
        tpr = (nb + TB - 1) // TB
        for t in numba.prange(rows * tpr):
            r = t // tpr
            j0 = (t - r * tpr) * TB
            j1 = min(j0 + TB, nb)
            for j in range(j0, j1):
                start = j * BS
                if bad[r, j]:
                    for i in range(BS):
                        if KIND == 0:
                            codes[r, j, i] = 0
                        elif start + i < L:
                            vals[r, start + i] = 0x7FC00000
                    continue
                recip = rec[r, j]
                d = dsc[r, j]
                if start + BS <= L:
                    for i in range(BS):
                        b = src[r, start + i]
                        if FLUSH:
                            b = b if (b & 0x7FFFFFFF) >= 0x800000 else np.int32(b & -0x80000000)
                        y = np.int64(_f32_to_bits(_bits_to_f32(np.int32(b)) * recip)) & 0xFFFFFFFF
                        rr = np.int64(rand[r, j, i]) if STOCH else np.int64(0)
                        if KIND == 0:
                            codes[r, j, i] = encode_bits(y, rr, P)
                        else:
                            qv = _bits_to_f32(np.int32(quantize_bits(y, rr, P)))
                            vals[r, start + i] = np.int64(_f32_to_bits(qv * d)) & 0xFFFFFFFF
                else:
                    for i in range(BS):
                        idx = start + i
                        b = src[r, idx] if idx < L else np.int32(0)
                        if FLUSH:
                            b = b if (b & 0x7FFFFFFF) >= 0x800000 else np.int32(b & -0x80000000)
                        y = np.int64(_f32_to_bits(_bits_to_f32(np.int32(b)) * recip)) & 0xFFFFFFFF
                        rr = np.int64(rand[r, j, i]) if STOCH else np.int64(0)
                        if KIND == 0:
                            codes[r, j, i] = encode_bits(y, rr, P)
                        elif idx < L:
                            qv = _bits_to_f32(np.int32(quantize_bits(y, rr, P)))
                            vals[r, idx] = np.int64(_f32_to_bits(qv * d)) & 0xFFFFFFFF

    _LOOPS[key] = loop
    return loop


@numba.njit(cache=True, parallel=True)
def _finite_amax_rows(src):
    rows = src.shape[0]
    out = np.zeros(rows, np.int64)
    for r in numba.prange(rows):
        m = np.int64(0)
        for i in range(src.shape[1]):
            a = np.int64(src[r, i]) & 0x7FFFFFFF
            if a < 0x7F800000 and a > m:
                m = a
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


def _values(fmt) -> np.ndarray:
    from ._codec import values

    return values(fmt)


def _value_bits(elem) -> np.ndarray:
    """float32 bit patterns (as int64) of every element code's value (scale 1)."""
    from ._codec import values

    v = np.asarray(values(elem), dtype=np.float32)
    return v.view(np.uint32).astype(np.int64)


def _nmax_fast(fmt: BlockFormat) -> int:
    """Largest scaling n for which every non-zero element value times 2^-n is a normal float32."""
    from ._codec import values

    v = np.abs(np.asarray(values(fmt.element), dtype=np.float64))
    v = v[np.isfinite(v) & (v > 0)]
    return int(math.floor(math.log2(v.min()))) + 126


def usable(fmt: BlockFormat) -> bool:
    """Whether the fused loops handle ``fmt`` (element codes of at most 16 bits)."""
    return fmt.element.bits <= 16


def _run(x, fmt: BlockFormat, opts, key, ts_user, do_codes: bool, do_vals: bool):
    shape, axis, other, src, L, bs, nb = _prepare(x, fmt, opts)
    rows = src.shape[0]
    eo = _elem_opts(opts)
    elem_opts = make_options(fmt.element, rounding=eo["rounding"], overflow=eo["overflow"],
                             random_bits=eo["random_bits"], flush_subnormals=eo["flush_subnormals"])
    P = params(fmt.element, "float32", elem_opts)
    if opts.rounding == "stochastic":
        rand = make_random_bits(key, (rows, nb, bs), "numpy", opts.random_bits)
    else:
        if key is not None:
            raise ValueError("key is only used with rounding='stochastic'")
        rand = np.zeros((0, 0, 0), np.uint32)
    cdt = mf.code_dtype(fmt.element.bits)
    codes = np.empty((rows, nb, bs) if do_codes else (0, 0, 0), cdt)
    scales = np.empty((rows, nb), mf.code_dtype(fmt.scale.bits))
    vals = np.empty((rows, L) if do_vals else (0, 0), np.uint32)
    tbl = _value_bits(fmt.element)
    flush = int(opts.flush_subnormals)
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
            from ._codec import quantize

            ts = np.float32(np.asarray(quantize(np.asarray([ts], np.float32), fmt.tensor_scale,
                                                overflow="saturate"))[0])
            ts_out = np.asarray(ts, np.float32)
        else:
            ts = np.float32(1.0)
        PS = params(s, "float32", make_options(s, rounding="nearest_even", overflow="saturate"))
        CF = np.array([fmt.element_max, s.min_normal, s.max, ts], np.float32)
        C = np.array([int(two), int(s.has_nan), int(s.nan_code if s.has_nan else 0), bs, flush,
                      _TILE_BLOCKS, int(do_codes), int(do_vals)], np.int64)
        rec = np.empty((rows, nb), np.float32)
        dsc = np.empty((rows, nb), np.float32)
        bad = np.empty((rows, nb), np.bool_)
        stbl = np.asarray(_values(s), dtype=np.float32)
        _amax_scales(PS, bool(flush))(src, scales, rec, dsc, bad, stbl, CF, C)
        _amax_loop(P, 0 if do_codes else 1, rand.size > 0, bool(flush))(src, codes, vals, rand, rec, dsc, bad, C)
    else:
        rule = {"floor": 0, "ceil": 1, "rceil": 2, "even": 3}[fmt.scale_rule]
        kmin, kmax = fmt.scale_exponent_range
        eM, sigM = _sig_exp(fmt.element_max, 32)
        C = np.array([rule, fmt.element_emax, fmt.element_exp, kmin, kmax, int(s.has_nan),
                      int(s.nan_code if s.has_nan else 0), s.bias, s.mantissa_bits, s.emin,
                      int(s.subnormals and s.mantissa_bits > 0), fmt.element_mantissa_bits, eM, sigM, bs,
                      flush, _TILE_BLOCKS, _nmax_fast(fmt), int(do_codes), int(do_vals)], np.int64)
        slow = np.zeros((rows, nb), np.bool_)
        _pow2_loop(P, 0 if do_codes else 1, rand.size > 0, bool(flush))(src, codes, scales, vals, rand, tbl, slow, C)
        marked = np.argwhere(slow).astype(np.int64)
        if marked.size:
            _pow2_fixup(P)(src, codes, scales, vals, rand, tbl, marked, C)
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
