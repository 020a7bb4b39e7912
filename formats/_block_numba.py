"""Fused Numba loops for block formats on large float32 NumPy inputs (imports Numba).

One pass per block: amax from the bit patterns, the shared scale, then every element scaled
exactly (integer arithmetic on its bits, as ``_block.ldexp_bits``) and converted by the scalar
codec's own kernels (``_numba_kernels.encode_bits`` / ``quantize_bits``) — the same integer
algorithm as the vectorized path, so the codes are identical. Format and options are baked in
as compile-time constants (one compiled loop per format/option set, memoized and cached on disk).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from ._block import BlockFormat, _elem_opts, _sig_exp, normalize_axis
from ._numba_kernels import decode_code, decode_params, encode_bits, params, quantize_bits
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


def _pow2_loop(C, P):
    """Fused loop for power-of-two scale rules. ``C`` holds the block constants."""
    key = ("pow2", C, P)
    fn = _LOOPS.get(key)
    if fn is not None:
        return fn
    (RULE, EMAX, EE, KMIN, KMAX, HASNAN, NANCODE, SB, SM, SEMIN, SSUB, MB, EM, SIGM, BS, FLUSH,
     DO_CODES, DO_VALS) = C

    @numba.njit(cache=True, parallel=True)
    def loop(src, codes, scales, vals, rand):
        rows = src.shape[0]
        L = src.shape[1]
        nb = scales.shape[1]
        stoch = rand.size > 0
        for t in numba.prange(rows * nb):
            r = t // nb
            j = t - r * nb
            start = j * BS
            end = min(start + BS, L)
            amax = np.int64(0)
            for i in range(start, end):
                a = np.int64(src[r, i]) & 0x7FFFFFFF
                if FLUSH and a < 0x800000:
                    a = np.int64(0)
                if a > amax:
                    amax = a
            bad = amax >= 0x7F800000
            if amax == 0:
                k = np.int64(-(1 << 20))
            else:
                aa = amax
                if RULE == 3 and MB < 23:  # even
                    aa = aa + (np.int64(1) << (22 - MB))
                e, sig = _split32(aa)
                if RULE == 0 or RULE == 3:
                    k = e - EMAX
                elif RULE == 1:
                    k = e + (1 if sig != 0x800000 else 0) - EMAX
                else:
                    k = e - EM + (1 if sig > SIGM else 0)
            nan_scale = False
            if HASNAN and (bad or k > KMAX):
                nan_scale = True
            if k > KMAX:
                k = KMAX
            if k < KMIN:
                k = KMIN
            if bad:
                k = KMAX
            if nan_scale:
                scode = np.int64(NANCODE)
            elif SSUB and k < SEMIN:
                scode = np.int64(1) << (k - (SEMIN - SM))
            else:
                scode = (k + SB) << SM
            scales[r, j] = scode
            n = np.int64(0) if nan_scale else -(k + EE)
            for i in range(BS):
                idx = start + i
                b = np.int64(src[r, idx]) & 0xFFFFFFFF if idx < L else np.int64(0)
                if FLUSH and (b & 0x7FFFFFFF) < 0x800000:
                    b = b & 0x80000000
                y = _ldexp32(b, n)
                rr = np.int64(rand[r, j, i]) if stoch else np.int64(0)
                if DO_CODES:
                    codes[r, j, i] = 0 if nan_scale else encode_bits(y, rr, P)
                if DO_VALS and idx < L:
                    if nan_scale:
                        vals[r, idx] = 0x7FC00000
                    else:
                        vals[r, idx] = _ldexp32(quantize_bits(y, rr, P) & 0xFFFFFFFF, -n)

    _LOOPS[key] = loop
    return loop


def _amax_loop(C, P, PS, DS, DE):
    """Fused loop for the NVFP4 ("amax") rule in float32 arithmetic (torchao's recipe)."""
    key = ("amax", C, P, PS, DS, DE)
    fn = _LOOPS.get(key)
    if fn is not None:
        return fn
    (EMAXF, SMIN, SMAX, TWO, HASNAN, NANCODE, SSIGNM, BS, FLUSH, DO_CODES, DO_VALS) = C

    @numba.njit(cache=True, parallel=True)
    def loop(src, codes, scales, vals, rand, ts_arr):
        rows = src.shape[0]
        L = src.shape[1]
        nb = scales.shape[1]
        stoch = rand.size > 0
        ts = ts_arr[0]
        one = np.float32(1.0)
        emaxf = np.float32(EMAXF)
        for t in numba.prange(rows * nb):
            r = t // nb
            j = t - r * nb
            start = j * BS
            end = min(start + BS, L)
            amax = np.int64(0)
            for i in range(start, end):
                a = np.int64(src[r, i]) & 0x7FFFFFFF
                if FLUSH and a < 0x800000:
                    a = np.int64(0)
                if a > amax:
                    amax = a
            bad = amax >= 0x7F800000
            if bad:
                amax = np.int64(0)
            amax_f = _bits_to_f32(np.int32(amax))
            s_raw = amax_f / emaxf
            if TWO:
                s_raw = s_raw / ts
            if s_raw < np.float32(SMIN):
                s_raw = np.float32(SMIN)
            if s_raw > np.float32(SMAX):
                s_raw = np.float32(SMAX)
            scode = encode_bits(np.int64(_f32_to_bits(s_raw)) & 0xFFFFFFFF, np.int64(0), PS)
            s_val = np.float32(decode_code(scode, DS))
            if TWO:
                recip = (one / ts) / s_val
                dscale = ts * s_val
            else:
                recip = one / s_val
                dscale = s_val
            nan_scale = HASNAN and bad
            if nan_scale:
                scode = np.int64(NANCODE)
            scales[r, j] = scode
            for i in range(BS):
                idx = start + i
                b = np.int64(src[r, idx]) & 0xFFFFFFFF if idx < L else np.int64(0)
                if FLUSH and (b & 0x7FFFFFFF) < 0x800000:
                    b = b & 0x80000000
                xv = _bits_to_f32(np.int32(b))
                y = np.int64(_f32_to_bits(xv * recip)) & 0xFFFFFFFF
                rr = np.int64(rand[r, j, i]) if stoch else np.int64(0)
                code = 0 if nan_scale else encode_bits(y, rr, P)
                if DO_CODES:
                    codes[r, j, i] = code
                if DO_VALS and idx < L:
                    if nan_scale:
                        vals[r, idx] = 0x7FC00000
                    else:
                        ev = np.float32(decode_code(code, DE))
                        vals[r, idx] = np.int64(_f32_to_bits(ev * dscale)) & 0xFFFFFFFF

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
            ts = max(ts, np.float32(np.finfo(np.float32).tiny))
            from ._codec import quantize

            ts = np.float32(np.asarray(quantize(np.asarray([ts], np.float32), fmt.tensor_scale,
                                                overflow="saturate"))[0])
            ts_out = np.asarray(ts, np.float32)
        else:
            ts = np.float32(1.0)
        PS = params(s, "float32", make_options(s, rounding="nearest_even", overflow="saturate"))
        C = (float(fmt.element_max), float(s.min_normal), float(s.max), int(two), int(s.has_nan),
             int(s.nan_code if s.has_nan else 0), s.sign_mask, bs, flush, int(do_codes), int(do_vals))
        loop = _amax_loop(C, P, PS, decode_params(s), decode_params(fmt.element))
        loop(src, codes, scales, vals, rand, np.array([ts], np.float32))
    else:
        rule = {"floor": 0, "ceil": 1, "rceil": 2, "even": 3}[fmt.scale_rule]
        kmin, kmax = fmt.scale_exponent_range
        eM, sigM = _sig_exp(fmt.element_max, 32)
        C = (rule, fmt.element_emax, fmt.element_exp, kmin, kmax, int(s.has_nan),
             int(s.nan_code if s.has_nan else 0), s.bias, s.mantissa_bits, s.emin,
             int(s.subnormals and s.mantissa_bits > 0), fmt.element_mantissa_bits, eM, sigM, bs, flush,
             int(do_codes), int(do_vals))
        _pow2_loop(C, P)(src, codes, scales, vals, rand)
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
