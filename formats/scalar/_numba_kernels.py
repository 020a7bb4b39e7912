"""Numba kernels of the scalar codec: a scalar transliteration of formats/_minifloat.py, used
in parallel loops for large NumPy inputs and offered to users through :mod:`formats.numba`.

All arithmetic is int64 on the input's bit pattern (float32 → 32-bit, float64 → 64-bit; the
magnitude fits in 63 bits). A format and its options are flattened into a tuple of int64
(:func:`params`), so one compiled kernel serves every format.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..core._backend import code_dtype, use_numba
from ..core._modes import OVERFLOW_IDS, ROUNDING_IDS, SPECIAL_IDS
from . import _minifloat as mf

__all__ = ["params", "decode_params", "quantize_bits", "encode_bits", "decode_code",
           "quantize_array", "encode_array"]

# mode IDs (compile-time constants of the kernels), from the one table in core._modes
_RNE, _RNA, _RTZ = ROUNDING_IDS["nearest_even"], ROUNDING_IDS["nearest_away"], ROUNDING_IDS["toward_zero"]
_RUP, _RDN, _ROD = ROUNDING_IDS["up"], ROUNDING_IDS["down"], ROUNDING_IDS["odd"]
_SAT, _INF, _NAN = OVERFLOW_IDS["saturate"], OVERFLOW_IDS["inf"], OVERFLOW_IDS["nan"]
_IEEE, _FN, _FNUZ, _P3109 = SPECIAL_IDS["ieee"], SPECIAL_IDS["fn"], SPECIAL_IDS["fnuz"], SPECIAL_IDS["p3109"]

# indices into the parameter tuple
(_W, _MI, _BI, _ISINT, _M, _EMIN, _BIAS, _SIGNED, _HASZERO, _MAXB, _MINB, _MINNB, _NEEDSUB,
 _HASNAN, _HASINF, _HASNZ, _BITS, _MAXC, _MINC, _NANC, _PINFC, _NINFC, _SIGNM, _SNAN,
 _ROUND, _OVF, _FLUSH, _R, _NMAXB) = range(29)


def params(fmt, dtype: str, opts) -> tuple:
    """Flatten (format, input dtype, options) into the kernels' int64 tuple."""
    s = mf.spec_for(fmt, dtype)
    ovf = opts.resolved_overflow(fmt)
    if ovf == "error":
        raise ValueError("overflow='error' is handled by the vectorized path, not the Numba kernels")
    P = (s.W, s.MI, s.BI, s.is_int, s.m, s.emin, s.bias, s.signed, s.has_zero, s.maxb, s.minb,
            s.min_normal_b, s.need_sub, s.has_nan, s.has_inf, s.has_negzero, s.bits, s.max_code,
            s.min_code, s.nan_code, s.pinf_code, s.ninf_code, s.sign_mask, s.signed_nan,
            ROUNDING_IDS[opts.rounding], OVERFLOW_IDS[ovf], int(opts.flush_subnormals),
            opts.random_bits, s.maxb if s.nmaxb == -1 else s.nmaxb)
    # codes of 64-bit formats reach 2^63: keep their bit patterns as two's-complement int64
    return tuple(v - (1 << 64) if v >= (1 << 63) else v for v in P)


@numba.njit(cache=True)
def _floor_log2(v):
    e = 0
    while v > 1:
        v >>= 1
        e += 1
    return e


@numba.njit(cache=True)
def _round_core(b, r, P):
    """Rounding of one input bit pattern ``b`` (int64, raw bits incl. sign).

    Returns (qa, neg, nan_out, inf_out, sat) like ``_minifloat.round_bits``.
    """
    W = P[_W]
    MI = P[_MI]
    BI = P[_BI]
    m = P[_M]
    ABS = (np.int64(1) << (W - 1)) - 1
    INF = ((np.int64(1) << (W - 1 - MI)) - 1) << MI
    MM = (np.int64(1) << MI) - 1
    neg = ((b >> (W - 1)) & 1) != 0
    a = b & ABS
    isnan = a > INF
    isinf = a == INF
    e_in = a >> MI
    if P[_FLUSH] and e_in == 0:
        a = np.int64(0)
    e_eff = e_in if e_in > 1 else np.int64(1)
    sig = (a & MM) | ((np.int64(1) << MI) if e_in > 0 else np.int64(0))
    exp_true = e_eff - BI
    if P[_NEEDSUB] and e_in == 0:
        exp_true = _floor_log2(sig if sig > 1 else np.int64(1)) + (1 - BI - MI)
    q_exp = (exp_true if exp_true > P[_EMIN] else P[_EMIN]) - m
    shift = q_exp - (e_eff - (BI + MI))
    sh = min(max(shift, 1), MI + 2)
    rbit = ((sig >> (sh - 1)) & 1) != 0
    sticky = (sig & ((np.int64(1) << (sh - 1)) - 1)) != 0
    kept = sig >> sh
    inexact = rbit or sticky
    if m >= 1:
        code_odd = (kept & 1) != 0
    else:
        code_odd = kept != 0 and ((q_exp + P[_BIAS]) & 1) != 0
    rnd = P[_ROUND]
    if rnd == _RNE:
        inc = rbit and (sticky or code_odd)
    elif rnd == _RNA:
        inc = rbit
    elif rnd == _RTZ:
        inc = False
    elif rnd == _RUP:
        inc = inexact and not neg
    elif rnd == _RDN:
        inc = inexact and neg
    elif rnd == _ROD:
        inc = inexact and not code_odd
    else:
        R = P[_R]
        rem = sig if shift > MI + 1 else (sig & ((np.int64(1) << sh) - 1))
        s2 = shift - R
        if s2 > 0:
            s2c = min(s2, MI + 2)
            d = rem >> s2c
            rb2 = ((rem >> (s2c - 1)) & 1) != 0
            st2 = (rem & ((np.int64(1) << (s2c - 1)) - 1)) != 0
            if rb2 and (st2 or (d & 1) != 0):
                d += 1
        else:
            d = rem << min(-s2, 31)
        inc = shift > 0 and d > ((np.int64(1) << R) - 1) - r

    if shift <= 0:
        qa = a
    elif shift <= MI:
        qa = ((a >> sh) + (1 if inc else 0)) << sh
    else:
        pe = min(max(q_exp + BI, 1), (np.int64(1) << (W - 1 - MI)) - 2)
        qa = (pe << MI) if inc else np.int64(0)

    finite = not (isnan or isinf)
    lim = P[_NMAXB] if neg else P[_MAXB]  # signed ints reach one further below zero
    ovf = finite and qa > lim
    if rnd == _RTZ:
        clamp_dir = ovf
    elif rnd == _RUP:
        clamp_dir = ovf and neg
    elif rnd == _RDN:
        clamp_dir = ovf and not neg
    else:
        clamp_dir = False
    pol = P[_OVF]
    nan_out = False
    inf_out = False
    if pol == _SAT:
        sat = ovf or isinf
    else:
        sat = clamp_dir
        rest = (ovf and not clamp_dir) or isinf
        if pol == _INF:
            inf_out = rest
        elif pol == _NAN:
            nan_out = rest
    if P[_HASNAN]:
        nan_out = nan_out or isnan
    elif isnan:
        qa = np.int64(0)
        neg = False
    if P[_FLUSH] and qa < P[_MINNB]:
        qa = np.int64(0)
    if sat:
        qa = lim
    if not P[_SIGNED]:
        bad = neg and not isnan and (qa != 0 or P[_HASZERO] == 0 or isinf)
        if bad:
            if P[_HASNAN] and pol != _SAT:
                nan_out = True
            else:
                qa = P[_MINB]
                sat = False
                inf_out = False
        neg = False
    if not P[_HASZERO]:
        if a == 0 and not isnan and P[_HASNAN] and pol != _SAT:
            nan_out = True
        if qa == 0:
            qa = P[_MINB]
    if not P[_HASNZ]:
        neg = neg and qa != 0
    if not P[_SNAN]:
        neg = neg and not nan_out
    return qa, neg, nan_out, inf_out, sat


@numba.njit(cache=True)
def quantize_bits(b, r, P):
    """Quantized value of input bit pattern ``b``, as a bit pattern of the same width."""
    qa, neg, nan_out, inf_out, sat = _round_core(b, r, P)
    W = P[_W]
    MI = P[_MI]
    INF = ((np.int64(1) << (W - 1 - MI)) - 1) << MI
    out = INF if inf_out else qa
    if nan_out:
        out = INF | (np.int64(1) << (MI - 1))
    if neg:
        out |= np.int64(1) << (W - 1)
    return out


@numba.njit(cache=True)
def encode_bits(b, r, P):
    """Code of input bit pattern ``b`` in the target format (int64)."""
    qa, neg, nan_out, inf_out, sat = _round_core(b, r, P)
    MI = P[_MI]
    BI = P[_BI]
    bits = P[_BITS]
    if nan_out:
        c = P[_NANC]
        if P[_SNAN] and neg:
            c |= P[_SIGNM]
        return c
    if inf_out:
        return P[_NINFC] if neg else P[_PINFC]
    if P[_ISINT]:
        if sat:
            return P[_MINC] if neg else P[_MAXC]
        # qa is the bit pattern of a non-negative integer value < 2^32
        e_q = qa >> MI
        if e_q == 0:
            v = np.int64(0)
        else:
            sg = (qa & ((np.int64(1) << MI) - 1)) | (np.int64(1) << MI)
            t = MI - (e_q - BI)
            v = (sg >> t) if t >= 0 else (sg << -t)
        mask = (np.int64(1) << bits) - 1
        return ((-v) & mask) if neg else v
    m = P[_M]
    e_q = qa >> MI
    sig = (qa & ((np.int64(1) << MI) - 1)) | ((np.int64(1) << MI) if e_q > 0 else np.int64(0))
    lsb = (e_q if e_q > 1 else np.int64(1)) - (BI + MI)
    exp_q = lsb + MI
    if P[_NEEDSUB] and e_q == 0:
        exp_q = _floor_log2(sig if sig > 1 else np.int64(1)) + (1 - BI - MI)
    normal = exp_q >= P[_EMIN] and (e_q > 0 or P[_NEEDSUB] != 0)
    t = (exp_q if normal else P[_EMIN]) - m - lsb
    msig = (sig >> min(t, 63)) if t >= 0 else (sig << min(-t, 63))
    mfield = msig & ((np.int64(1) << m) - 1)
    efield = (exp_q + P[_BIAS]) if normal else np.int64(0)
    mag = (efield << m) | mfield
    if qa == 0:
        mag = np.int64(0)
    if sat:
        mag = P[_MAXC] & ((np.int64(1) << (bits - P[_SIGNED])) - 1)
    return (mag | P[_SIGNM]) if neg else mag


_LOOPS: dict = {}


@numba.njit(cache=True, parallel=True)
def _generic_quantize_loop(src, out, rand, P):
    stoch = rand.size == src.size
    for i in numba.prange(src.size):
        r = np.int64(rand[i]) if stoch else np.int64(0)
        out[i] = quantize_bits(np.int64(src[i]), r, P)


@numba.njit(cache=True, parallel=True)
def _generic_encode_loop(src, out, rand, P):
    stoch = rand.size == src.size
    for i in numba.prange(src.size):
        r = np.int64(rand[i]) if stoch else np.int64(0)
        out[i] = encode_bits(np.int64(src[i]), r, P)


#: narrow targets (m <= LUT_MAX_M) from float32 use a rounding table instead of arithmetic
LUT_MAX_M = 5
_LUTS: dict = {}


@numba.njit(cache=True, parallel=True)
def _lut_loop(src, out, lut, sh, low):
    """out[i] = lut[(top bits of src[i]) * 2 + sticky]; see :func:`_lut_for`."""
    for i in numba.prange(src.size):
        b = np.uint32(src[i])
        # (an int64 index, via the int literal, lets LLVM vectorize the gather: ~4x faster)
        out[i] = lut[((b >> sh) << 1) | (np.uint32(1) if (b & low) != 0 else np.uint32(0))]


def _lut_for(kind, fmt, opts, spec):
    """Rounding table for float32 inputs, or None when the case is not eligible.

    For a deterministic rounding mode the result depends only on the sign, the exponent, the
    top m + 1 mantissa bits (kept bits and round bit) and whether any lower bit is set (sticky),
    provided the target's normal range does not reach below float32's (``need_sub`` == 0: then
    the round bit of input subnormals also lies in the top bits). So the table has
    2^(m + 10) × 2 entries, each computed by the exact vectorized kernel from a representative
    input; the loop is a shift, a mask and a gather.
    """
    if (spec.W != 32 or spec.m > LUT_MAX_M or spec.need_sub or opts.rounding == "stochastic"
            or opts.resolved_overflow(fmt) == "error"):
        return None
    key = (kind, fmt, opts)
    hit = _LUTS.get(key)
    if hit is None:
        sh = 22 - spec.m
        top = np.arange(1 << (spec.m + 10), dtype=np.uint32) << np.uint32(sh)
        reps = np.stack([top, top | np.uint32(1)], axis=1).ravel().view(np.float32)
        if kind == "quantize":
            lut = mf.quantize_xp(np, reps, fmt, opts).view(np.int32)
        else:
            lut = mf.encode_xp(np, reps, fmt, opts)
        hit = (np.ascontiguousarray(lut), np.uint32(sh), np.uint32((1 << sh) - 1))
        _LUTS[key] = hit
    return hit


def _run(kind, P, src, out, rand):
    """Run the generic loop (one compiled kernel for all formats) or, for large inputs, the
    loop specialized to ``P``."""
    if use_numba("specialize", src.size):
        _loop(kind, P)(src, out, rand)
    elif kind == "quantize":
        _generic_quantize_loop(src, out, rand, P)
    else:
        _generic_encode_loop(src, out, rand, P)


def _loop(kind: str, P: tuple):
    """A parallel loop with the parameter tuple baked in as compile-time constants.

    LLVM then folds every format and rounding branch away (about 5x faster than passing the
    tuple at run time). Loops are memoized per process and cached on disk by Numba, keyed by
    the captured constants.
    """
    key = (kind, P)
    fn = _LOOPS.get(key)
    if fn is not None:
        return fn
    if kind == "quantize":
        kernel = quantize_bits
    else:
        kernel = encode_bits

    @numba.njit(cache=True, parallel=True)
    def loop(src, out, rand):
        stoch = rand.size == src.size
        for i in numba.prange(src.size):
            r = np.int64(rand[i]) if stoch else np.int64(0)
            out[i] = kernel(np.int64(src[i]), r, P)

    _LOOPS[key] = loop
    return loop


_NO_RAND = np.zeros(0, np.uint32)


def _prep(x, fmt, opts, rand):
    xw, dt = mf._prepare(np, x, opts.flush_subnormals)
    xw = np.ascontiguousarray(xw).ravel()
    P = params(fmt, xw.dtype.name, opts)
    r = _NO_RAND if rand is None else np.ascontiguousarray(rand[0]).ravel()
    return dt, xw, P, r


def quantize_array(x: np.ndarray, fmt, opts, rand=None) -> np.ndarray:
    """Numba path of ``quantize`` (same results as the vectorized path)."""
    if opts.resolved_overflow(fmt) == "error":
        return mf.quantize_xp(np, np.ascontiguousarray(x), fmt, opts, rand)
    dt, xw, P, r = _prep(x, fmt, opts, rand)
    idt = np.int32 if xw.dtype == np.float32 else np.int64
    out = np.empty(xw.size, idt)
    lut = _lut_for("quantize", fmt, opts, mf.spec_for(fmt, xw.dtype.name))
    if lut is not None:
        _lut_loop(xw.view(idt), out, *lut)
    else:
        _run("quantize", P, xw.view(idt), out, r)
    res = out.view(xw.dtype)
    with np.errstate(over="ignore"):  # values past float16's range become ±Inf (documented)
        return res.reshape(x.shape).astype(dt, copy=False)


def encode_array(x: np.ndarray, fmt, opts, rand=None) -> np.ndarray:
    """Numba path of ``encode`` codes (same results as the vectorized path)."""
    if opts.resolved_overflow(fmt) == "error":
        return mf.encode_xp(np, np.ascontiguousarray(x), fmt, opts, rand)
    dt, xw, P, r = _prep(x, fmt, opts, rand)
    out = np.empty(xw.size, code_dtype(fmt.bits))
    lut = _lut_for("encode", fmt, opts, mf.spec_for(fmt, xw.dtype.name))
    if lut is not None:
        _lut_loop(xw.view(np.int32), out, *lut)
        return out.reshape(x.shape)
    _run("encode", P, xw.view(np.int32 if xw.dtype == np.float32 else np.int64), out, r)
    return out.reshape(x.shape)


# ---------------------------------------------------------------------- decoding
def decode_params(fmt) -> tuple:
    """Flatten a FloatFormat/IntFormat into the int64 tuple :func:`decode_code` takes."""
    from ..core._records import IntFormat

    if isinstance(fmt, IntFormat):
        return (1, fmt.bits, int(fmt.narrow), 0, int(fmt.signed), 0, 0, 0, 0, 0)
    sp = SPECIAL_IDS[fmt.specials]
    return (0, fmt.bits, fmt.exponent_bits, fmt.mantissa_bits, int(fmt.signed), fmt.bias,
            int(fmt.subnormals), sp, fmt.sign_mask, fmt.magnitude_mask)


@numba.njit(cache=True)
def decode_code(code, D):
    """Value (float64) of ``code`` under decode parameters ``D`` (NaN for NaN and unused
    codes)."""
    c = np.int64(code)
    if D[0] == 1:
        w = D[1]
        if D[2] and c == (np.int64(1) << (w - 1)):  # the unused code of a narrow format
            return math.nan
        if D[4] and c >= (np.int64(1) << (w - 1)):
            c -= np.int64(1) << w
        return float(c)
    e = D[2]
    m = D[3]
    bias = D[5]
    signm = D[8]
    magm = D[9]
    negative = D[4] != 0 and (c & signm) != 0
    mag = c & magm
    E = mag >> m
    M = mag & ((np.int64(1) << m) - 1)
    top = (np.int64(1) << e) - 1
    sp = D[7]
    if sp == _IEEE and E == top:
        if M == 0:
            return -math.inf if negative else math.inf
        return math.nan
    if sp == _FN and mag == magm:
        return math.nan
    if sp == _P3109 and D[4] == 0:  # unsigned P3109: NaN at the top code, +Inf below it
        if c == magm:
            return math.nan
        if c == magm - 1:
            return math.inf
    elif (sp == _FNUZ or sp == _P3109) and c == signm:
        return math.nan
    if sp == _P3109 and D[4] != 0 and mag == magm:
        return -math.inf if negative else math.inf
    if E == 0 and D[6]:
        v = math.ldexp(float(M), 1 - bias - m)
    else:
        v = math.ldexp(float(M + (np.int64(1) << m)), E - bias - m)
    return -v if negative else v
