"""Vectorized codec for scalar formats (``FloatFormat``, ``IntFormat``), generic over the array
library: the same code runs with ``xp = numpy`` and ``xp = jax.numpy``.

The algorithm works on the input's IEEE bit pattern (float32 → uint32, float64 → uint64; float16
and bfloat16 are widened to float32 first, exactly):

1. the target quantum at the input's magnitude is 2^q with q = max(e, emin) − m (for an
   IntFormat of width w this is the same formula with emin = m = w, so q = 0 in range);
2. ``shift`` = q − (input LSB exponent) low bits of the significand are dropped; the round bit,
   sticky bit and kept LSB decide the increment for the rounding mode;
3. the rounded magnitude is rebuilt *as input-format bits* — ``((a >> s) + inc) << s`` lets a
   mantissa carry flow into the exponent field, as in hardware;
4. overflow, NaN, Inf, unsigned and no-zero rules are applied on those bits;
5. ``quantize`` returns the bits as floats; ``encode`` converts them to target fields.

Every step is exact integer arithmetic: nothing is upcast and rounded twice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..core._backend import bitcast, code_dtype, raise_if
from ..core._records import FloatFormat, IntFormat

__all__ = ["Spec", "spec_for", "round_bits", "quantize_xp", "encode_xp", "decode_xp",
           "default_decode_dtype"]

_INPUTS = {  # W, MI (mantissa bits), BI (bias)
    "float32": (32, 23, 127),
    "float64": (64, 52, 1023),
}


@dataclass(frozen=True)
class Spec:
    """Static integers describing (format, input dtype) for the kernels (NumPy, JAX, Numba)."""

    W: int
    MI: int
    BI: int
    is_int: int
    m: int            # mantissa bits (floats) / width (ints)
    emin: int         # exponent of the smallest normal binade (floats) / width (ints)
    bias: int
    signed: int
    has_zero: int
    maxb: int         # input-format bits of the largest input value <= fmt.max
    minb: int         # input-format bits of the smallest positive value (no-zero formats) else 0
    min_normal_b: int
    need_sub: int     # the target's normal range reaches below the input's min normal
    has_nan: int
    has_inf: int
    has_negzero: int
    bits: int
    max_code: int     # code of +max (floats) / of max (ints)
    min_code: int     # code of the most negative value (signed) / of min (unsigned)
    nan_code: int     # -1 when none
    pinf_code: int    # -1 when none
    ninf_code: int    # -1 when none
    sign_mask: int
    signed_nan: int = 0  # NaN codes exist for both signs (ieee, fn): NaN keeps the input's sign
    nmaxb: int = -1      # input-format bits of the largest magnitude of a negative value:
    #                      |min| = 2^(w-1) for signed non-narrow ints, else maxb (-1: use maxb)


def _float_bits(value, dtype: str, *, round_down: bool) -> int:
    """Bits of ``value`` (a non-negative int, Fraction or float) in the input float dtype; when
    not exact, the nearest below (if round_down) so that comparisons against it are exact.

    A ``value`` of at least 2^(emax+1) of the dtype (a format whose range exceeds the input's,
    e.g. an E8M1 against float32, or a P3109 format beyond float64) gives the Inf pattern: the
    largest finite rounding result, 2^(emax+1) (the Inf pattern after a carry), is then in
    range, not an overflow.
    """
    w = _INPUTS[dtype][0]
    npdt = np.dtype(dtype)
    value = Fraction(value)
    inf_bits = int(np.array(np.inf, npdt).view(f"uint{w}"))
    if value >= Fraction(2) ** int(np.finfo(npdt).maxexp):
        return inf_bits
    with np.errstate(over="ignore", under="ignore"):
        v = np.array(float(value), dtype=npdt)  # float(Fraction) is correctly rounded
    if round_down and (np.isinf(v) or Fraction(float(v)) > value):
        v = np.nextafter(v, np.array(0, npdt))
    return int(v.view(f"uint{w}"))


@functools.cache
def spec_for(fmt, dtype: str) -> Spec:
    """The :class:`Spec` of ``fmt`` for inputs of float ``dtype`` ('float32' or 'float64')."""
    W, MI, BI = _INPUTS[dtype]
    if isinstance(fmt, IntFormat):
        w = fmt.bits
        return Spec(W, MI, BI, 1, w, w, 0, int(fmt.signed), 1,
                    _float_bits(fmt.max, dtype, round_down=True), 0,
                    _float_bits(1, dtype, round_down=False), 0, 0, 0, 0, w,
                    fmt.max, (fmt.min + (1 << w)) % (1 << w), -1, -1, -1,
                    (1 << (w - 1)) if fmt.signed else 0, 0,
                    _float_bits(-fmt.min if fmt.signed else fmt.max, dtype, round_down=True))
    assert isinstance(fmt, FloatFormat)
    if not fmt.subnormals and fmt.mantissa_bits > 0:
        raise ValueError(
            "subnormals=False is supported only with mantissa_bits=0 (E8M0-style scales); "
            "for flush-to-zero hardware use flush_subnormals=True"
        )
    infs = fmt.inf_codes
    vmax = fmt.value_of_code(fmt.max_code)  # exact (beyond float64 for wide P3109 formats)
    vmin_normal = Fraction(2) ** fmt.emin if fmt.subnormals or fmt.mantissa_bits == 0 \
        else fmt.value_of_code(1)
    return Spec(
        W, MI, BI, 0, fmt.mantissa_bits, fmt.emin, fmt.bias, int(fmt.signed), int(fmt.has_zero),
        _float_bits(vmax, dtype, round_down=True),
        0 if fmt.has_zero else _float_bits(vmin_normal, dtype, round_down=False),
        _float_bits(vmin_normal, dtype, round_down=False),
        int(fmt.emin < 1 - BI), int(fmt.has_nan), int(fmt.has_inf), int(fmt.has_negative_zero),
        fmt.bits, fmt.max_code, fmt.max_code | fmt.sign_mask if fmt.signed else 0,
        -1 if fmt.nan_code is None else fmt.nan_code,
        infs[0] if infs else -1, infs[1] if len(infs) > 1 else -1, fmt.sign_mask,
        int(fmt.signed and fmt.specials in ("ieee", "fn")),
        _float_bits(vmax, dtype, round_down=True),
    )


def default_decode_dtype(fmt) -> str:
    """float32 when every value of ``fmt`` is exactly a float32, else float64."""
    if isinstance(fmt, IntFormat):
        return "float32" if fmt.bits <= 24 else "float64"
    ok = fmt.mantissa_bits <= 23 and fmt.emax <= 127 and fmt.emin - fmt.mantissa_bits >= -149
    return "float32" if ok else "float64"


# --------------------------------------------------------------------------- helpers per backend
def _true_exponent(xp, sig, fdt, MI, BI):
    """floor(log2(sig)) + (1 − BI − MI) for subnormal inputs (sig < 2^MI, exact in fdt)."""
    _, e = xp.frexp(sig.astype(fdt))
    return e.astype(xp.int32 if fdt == xp.float32 else xp.int64) - 1 + (1 - BI - MI)


def round_increment(xp, rounding: str, rbit, sticky, odd, neg):
    """Whether a deterministic rounding mode rounds the magnitude up one step.

    Args: boolean arrays — ``rbit`` the first dropped bit, ``sticky`` any later dropped bit,
    ``odd`` the kept code is odd, ``neg`` the value is negative. Shared by every codec that
    rounds a bit pattern (minifloats, integers, posits).
    """
    inexact = rbit | sticky
    if rounding == "nearest_even":
        return rbit & (sticky | odd)
    if rounding == "nearest_away":
        return rbit
    if rounding == "toward_zero":
        return xp.zeros_like(rbit)
    if rounding == "up":
        return inexact & ~neg
    if rounding == "down":
        return inexact & neg
    if rounding == "odd":
        return inexact & ~odd
    raise ValueError(f"rounding must be a deterministic mode here, got {rounding!r}")


def round_bits(xp, x, fmt, spec: Spec, rounding: str, overflow: str, flush: bool, rand=None):
    """Round float array ``x`` (float32/float64) onto ``fmt``.

    Returns:
        (qa, neg, nan_out, inf_out, sat): qa — rounded magnitude as input-format bits;
        neg — sign of the result; nan_out / inf_out — result is NaN / Inf; sat — result was
        clamped to the format's max/min (encode emits the max/min code for these).
    """
    s = spec
    W, MI, BI = s.W, s.MI, s.BI
    fdt = x.dtype
    U = xp.uint32 if W == 32 else xp.uint64
    I = xp.int32 if W == 32 else xp.int64
    ABS = (1 << (W - 1)) - 1
    INF = ((1 << (W - 1 - MI)) - 1) << MI
    MM = (1 << MI) - 1

    b = bitcast(x, U)
    neg = (b >> (W - 1)) != 0
    a = b & U(ABS)
    isnan = a > U(INF)
    isinf = a == U(INF)
    e_in = a >> MI
    if flush:  # denormal inputs are zero (DAZ)
        a = xp.where(e_in == 0, U(0), a)
    e_eff = xp.maximum(e_in, U(1)).astype(I)
    sig = (a & U(MM)) | xp.where(e_in > 0, U(1 << MI), U(0))
    exp_true = e_eff - BI
    if s.need_sub:
        exp_true = xp.where(e_in == 0, _true_exponent(xp, xp.maximum(sig, U(1)), fdt, MI, BI), exp_true)
    q_exp = xp.maximum(exp_true, I(s.emin)) - s.m
    shift = q_exp - (e_eff - (BI + MI))
    sh = xp.clip(shift, 1, MI + 2).astype(U)
    one = U(1)
    rb = (sig >> (sh - one)) & one
    sticky = (sig & ((one << (sh - one)) - one)) != 0
    kept = sig >> sh
    rbit = rb != 0
    if s.m >= 1:
        code_odd = (kept & one) != 0
    else:
        code_odd = (kept != 0) & (((q_exp + s.bias) & 1) != 0)

    if rounding == "stochastic":
        inc = _stochastic_inc(xp, sig, shift, rand, U, I, MI)
    else:
        inc = round_increment(xp, rounding, rbit, sticky, code_odd, neg)

    small = ((a >> sh) + inc.astype(U)) << sh
    pow_e = xp.clip(q_exp + BI, 1, (1 << (W - 1 - MI)) - 2).astype(U)
    big = xp.where(inc, pow_e << MI, U(0))
    qa = xp.where(shift <= 0, a, xp.where(shift <= MI, small, big))

    # -------------------------------------------------------------- range and specials
    finite = ~(isnan | isinf)
    # the largest magnitude per sign (signed ints reach one further below zero)
    lim = U(s.maxb) if s.nmaxb in (-1, s.maxb) else xp.where(neg, U(s.nmaxb), U(s.maxb))
    ovf = finite & (qa > lim)
    if rounding == "toward_zero":
        clamp_dir = ovf
    elif rounding == "up":
        clamp_dir = ovf & neg
    elif rounding == "down":
        clamp_dir = ovf & ~neg
    else:
        clamp_dir = xp.zeros_like(ovf)
    if overflow == "saturate":
        sat = ovf | isinf
        rest = xp.zeros_like(ovf)
    else:
        sat = clamp_dir
        rest = (ovf & ~clamp_dir) | isinf
    nan_out = xp.zeros_like(ovf)
    inf_out = xp.zeros_like(ovf)
    if overflow == "inf":
        inf_out = rest
    elif overflow == "nan":
        nan_out = rest
    elif overflow == "error":
        raise_if(xp, rest, OverflowError(f"value out of range of {fmt} (overflow='error'; max {fmt.max})"))

    if s.has_nan:
        nan_out = nan_out | isnan
    else:
        if overflow == "error":
            raise_if(xp, isnan, ValueError(f"NaN input but {fmt} has no NaN (overflow='error')"))
        # documented rule: NaN → +0 for formats without NaN
        qa = xp.where(isnan, U(0), qa)
        neg = neg & ~isnan

    if flush:  # results below the smallest normal are flushed (FTZ)
        qa = xp.where(qa < U(s.min_normal_b), U(0), qa)

    qa = xp.where(sat, lim, qa)

    if not s.signed:
        bad = neg & ~isnan & ((qa != 0) | (s.has_zero == 0) | isinf)
        if overflow == "error":
            raise_if(xp, bad, OverflowError(f"negative value for unsigned format {fmt} (overflow='error')"))
        if s.has_nan and overflow != "saturate":
            nan_out = nan_out | bad
        else:
            qa = xp.where(bad, U(s.minb), qa)
            sat = sat & ~bad
            inf_out = inf_out & ~bad
        neg = xp.zeros_like(neg)
    if not s.has_zero:
        # no zero (E8M0): tiny inputs round to the smallest value; an exact zero is out of range
        zero_in = (a == 0) & ~isnan
        if overflow == "error":
            raise_if(xp, zero_in, OverflowError(f"zero is not representable in {fmt} (overflow='error')"))
        if s.has_nan and overflow != "saturate":
            nan_out = nan_out | zero_in
        qa = xp.where(qa == 0, U(s.minb), qa)
    if not s.has_negzero:
        neg = neg & (qa != 0)
    if not s.signed_nan:
        neg = neg & ~nan_out
    return qa, neg, nan_out, inf_out, sat


def _stochastic_inc(xp, sig, shift, rand, U, I, MI):
    """Round away iff RNE(frac · 2^R) + r ≥ 2^R, frac = dropped bits / 2^shift (gfloat's rule).

    ``rand`` carries (r, R): r uniform in [0, 2^R) as the kernel's unsigned type.
    """
    r, R = rand
    one = U(1)
    shc = xp.clip(shift, 1, MI + 2).astype(U)
    rem = xp.where(shift > MI + 1, sig, sig & ((one << shc) - one))
    s2 = shift - R  # > 0: drop s2 more bits with RNE; <= 0: exact, scale up
    s2c = xp.clip(s2, 1, MI + 2).astype(U)
    d_hi = rem >> s2c
    rb2 = ((rem >> (s2c - one)) & one) != 0
    st2 = (rem & ((one << (s2c - one)) - one)) != 0
    d_hi = d_hi + (rb2 & (st2 | ((d_hi & one) != 0))).astype(U)
    up = xp.clip(-s2, 0, 31).astype(U)
    d_lo = rem << up
    d = xp.where(s2 > 0, d_hi, d_lo)
    mask_r = U((1 << R) - 1)
    return (d > mask_r - r.astype(U)) & (shift > 0)


def assemble_float(xp, x, spec, qa, neg, nan_out, inf_out):
    """Quantized values in x's dtype from the rounding results."""
    W, MI = spec.W, spec.MI
    U = xp.uint32 if W == 32 else xp.uint64
    INF = ((1 << (W - 1 - MI)) - 1) << MI
    out = xp.where(inf_out, U(INF), qa)
    out = xp.where(nan_out, U(INF | (1 << (MI - 1))), out)
    out = out | xp.where(neg, U(1 << (W - 1)), U(0))
    return bitcast(out, x.dtype)


def assemble_codes(xp, x, fmt, spec, qa, neg, nan_out, inf_out, sat):
    """Target codes from the rounding results."""
    s = spec
    W, MI, BI = s.W, s.MI, s.BI
    U = xp.uint32 if W == 32 else xp.uint64
    I = xp.int32 if W == 32 else xp.int64
    wide = s.bits > 32 or W == 64
    if wide and xp is not np:
        import jax

        if not jax.config.jax_enable_x64:
            raise ValueError(f"encoding to {fmt} ({s.bits} bits) from JAX needs jax_enable_x64")
    UC = xp.uint64 if wide else xp.uint32
    IC = xp.int64 if wide else xp.int32
    if s.is_int:
        v = bitcast(qa, x.dtype).astype(UC)
        mask = UC((1 << s.bits) - 1) if s.bits < 64 else UC(-1)
        code = xp.where(neg, (UC(0) - v) & mask, v)
        code = xp.where(sat, xp.where(neg, UC(s.min_code), UC(s.max_code)), code)
        return code.astype(code_dtype(s.bits, xp))
    e_q = qa >> MI
    sig = (qa & U((1 << MI) - 1)) | xp.where(e_q > 0, U(1 << MI), U(0))
    lsb = xp.maximum(e_q, U(1)).astype(I) - (BI + MI)
    exp_q = lsb + MI
    if s.need_sub:
        exp_q = xp.where(e_q == 0, _true_exponent(xp, xp.maximum(sig, U(1)), x.dtype, MI, BI), exp_q)
    normal = exp_q >= s.emin
    if not s.need_sub:  # an input-subnormal value lies below every normal of the target
        normal = normal & (e_q > 0)
    t = (xp.where(normal, exp_q, I(s.emin)) - s.m - lsb).astype(IC)
    sigc = sig.astype(UC)
    msig = xp.where(t >= 0, sigc >> xp.clip(t, 0, 63 if wide else 31).astype(UC),
                    sigc << xp.clip(-t, 0, 63 if wide else 31).astype(UC))
    mfield = msig & UC((1 << s.m) - 1)
    efield = xp.where(normal, (exp_q + s.bias).astype(IC), IC(0)).astype(UC)
    mag = (efield << UC(s.m)) | mfield
    mag = xp.where(qa == 0, UC(0), mag)
    mag = xp.where(sat, UC(s.max_code & ((1 << (s.bits - s.signed)) - 1)), mag)
    code = mag | xp.where(neg, UC(s.sign_mask), UC(0))
    if s.pinf_code >= 0:
        inf_code = xp.where(neg, UC(max(s.ninf_code, 0)), UC(s.pinf_code))
        code = xp.where(inf_out, inf_code, code)
    if s.nan_code >= 0:
        nan_c = UC(s.nan_code)
        if s.signed_nan:
            nan_c = nan_c | xp.where(neg, UC(s.sign_mask), UC(0))
        code = xp.where(nan_out, nan_c, code)
    return code.astype(code_dtype(s.bits, xp))


def _prepare(xp, x, flush=False):
    """Widen float16/bfloat16 to float32 (exact); return (x_work, original dtype).

    With ``flush``, float16 subnormals (|x| < 2^-14) become ±0 first: they are subnormal in the
    input's own format, which the float32 kernel cannot see (bfloat16 shares float32's range).
    """
    dt = x.dtype
    if dt.name in ("float16", "bfloat16"):
        xw = x.astype(xp.float32)
        if flush and dt.name == "float16":
            xw = xp.where(xp.abs(xw) < xp.float32(2.0**-14), xp.copysign(xp.float32(0), xw), xw)
        return xw, dt
    return x, dt


def quantize_xp(xp, x, fmt, opts, rand=None):
    xw, dt = _prepare(xp, x, opts.flush_subnormals)
    spec = spec_for(fmt, xw.dtype.name)
    overflow = opts.resolved_overflow(fmt)
    parts = round_bits(xp, xw, fmt, spec, opts.rounding, overflow, opts.flush_subnormals, rand)
    out = assemble_float(xp, xw, spec, *parts[:4])
    if out.dtype == dt:
        return out
    # float16 inputs: a format value beyond float16's range (e.g. bfloat16's 65536 from 65504)
    # becomes ±Inf in the input dtype, as an IEEE cast does, without a warning
    with np.errstate(over="ignore"):
        return out.astype(dt)


def encode_xp(xp, x, fmt, opts, rand=None):
    xw, _ = _prepare(xp, x, opts.flush_subnormals)
    spec = spec_for(fmt, xw.dtype.name)
    overflow = opts.resolved_overflow(fmt)
    parts = round_bits(xp, xw, fmt, spec, opts.rounding, overflow, opts.flush_subnormals, rand)
    return assemble_codes(xp, xw, fmt, spec, *parts)


def _assemble_jax(xp, sig, e, fdt):
    """Float bits of sig · 2^e in ``fdt`` (float32/float64), correctly rounded (nearest even;
    ±0 / Inf beyond the range), by integer ops — subnormal results included, which XLA's CPU
    arithmetic would flush. ``sig``: unsigned integers (any width), ``e``: int32."""
    from jax import lax

    if fdt == xp.float32:
        W, MI, BI, U = 32, 23, 127, xp.uint32
    else:
        W, MI, BI, U = 64, 52, 1023, xp.uint64
    SW = 64 if (W == 64 or sig.dtype in (xp.uint64, xp.int64)) else 32  # room for q << (MI + 1)
    S = xp.uint64 if SW == 64 else xp.uint32
    I = xp.int32
    sig = sig.astype(S)
    e = e.astype(I)
    n = (SW - 1) - lax.clz(sig).astype(I)  # floor(log2(sig)); -1 for sig == 0
    lsb = xp.maximum(n + e, I(1 - BI)) - MI  # exponent of the result's last bit
    d = lsb - e  # > 0: bits of sig dropped; <= 0: sig shifted left
    one = S(1)
    q = xp.where(d >= SW, S(0), sig >> xp.clip(d, 0, SW - 1).astype(S))
    rbit = xp.where((d >= 1) & (d <= SW), (sig >> xp.clip(d - 1, 0, SW - 1).astype(S)) & one, S(0))
    sticky = (sig & ((one << xp.clip(d - 1, 0, SW - 1).astype(S)) - one)) != 0
    q = q + (rbit & (sticky.astype(S) | (q & one)))
    q = xp.where(d <= 0, sig << xp.clip(-d, 0, SW - 1).astype(S), q)
    carry = q >= S(1 << (MI + 1))  # rounding carried into the next binade
    q = xp.where(carry, q >> one, q)
    lsb = lsb + carry.astype(I)
    # normal: ((E − 1) << MI) + q with the leading 1 of q at bit MI; subnormal: E − 1 = 0
    efield = (lsb + (MI + BI - 1)).astype(I)
    bits = (xp.maximum(efield, I(0)).astype(U) << U(MI)) + q.astype(U)
    bits = xp.where(lsb + MI > BI, U(((1 << (W - 1 - MI)) - 1) << MI), bits)  # overflow: Inf
    bits = xp.where(sig == 0, U(0), bits)
    return lax.bitcast_convert_type(bits, fdt)


def _code_mask(xp, c, codeset, UC):
    """Boolean mask of the codes ``c`` that lie in ``codeset`` (a CodeSet of a few ranges)."""
    out = xp.zeros(c.shape, dtype=bool)
    for r in tuple.__iter__(codeset):
        if len(r) == 1:
            out = out | (c == UC(r.start))
        else:
            out = out | ((c >= UC(r.start)) & (c <= UC(r.stop - 1)))
    return out


def decode_xp(xp, codes, fmt, dtype):
    """Values of ``codes`` (unsigned ints) in float ``dtype``, correctly rounded to it (exact
    when the format's values are ``dtype`` numbers). NumPy computes in float64 (exact for every
    format whose range fits float64) and rounds once at the end; values beyond the dtype's
    range become ±inf / ±0, as an IEEE conversion. Unused codes (``fmt.unused_codes``) and NaN
    codes give NaN."""
    wide = fmt.bits > 32
    UC = xp.uint64 if wide else xp.uint32
    c = codes.astype(UC)
    fdt = xp.dtype(dtype)
    if xp is np and fdt != np.float64:
        with np.errstate(over="ignore", under="ignore"):
            return decode_xp(np, codes, fmt, np.float64).astype(fdt)
    if isinstance(fmt, IntFormat):
        w = fmt.bits
        if fmt.signed:
            IC = xp.int64 if (wide or w == 32) and (xp is np) else (xp.int64 if wide else xp.int32)
            v = c.astype(xp.int64 if xp is np else IC)
            v = xp.where(v >= (1 << (w - 1)), v - (1 << w), v)
        else:
            v = c
        v = v.astype(fdt)
        if fmt.narrow:
            v = xp.where(c == UC(1 << (w - 1)), fdt.type(np.nan), v)
        return v
    m, e = fmt.mantissa_bits, fmt.exponent_bits
    E = (c >> UC(m)) & UC((1 << e) - 1)
    M = c & UC((1 << m) - 1)
    sub = (E == 0) if fmt.subnormals else xp.zeros_like(E, dtype=bool)
    IE = xp.int64 if xp is np else xp.int32
    sigv = xp.where(sub, M, M + UC(1 << m)).astype(fdt)
    ex = xp.where(sub, IE(fmt.emin - m), E.astype(IE) - (fmt.bias + m))
    nan = _code_mask(xp, c, fmt.nan_codes, UC)
    infs = fmt.inf_codes
    pinf = c == UC(infs[0]) if infs else xp.zeros(c.shape, dtype=bool)
    ninf = c == UC(infs[1]) if len(infs) > 1 else xp.zeros(c.shape, dtype=bool)
    ex = xp.where(nan | pinf | ninf, IE(0), ex)  # Inf/NaN codes are set below; keep ldexp in range
    if xp is np:
        with np.errstate(over="ignore", under="ignore"):  # ranges beyond float64 (wide P3109)
            val = xp.ldexp(sigv, ex)
    else:  # XLA on CPU flushes subnormal results of arithmetic: assemble the bits instead
        sig_i = xp.where(sub, M, M + UC(1 << m))
        val = _assemble_jax(xp, sig_i, ex.astype(xp.int32), fdt)
    if fmt.signed:
        val = xp.where((c & UC(fmt.sign_mask)) != 0, -val, val)
    val = xp.where(pinf, fdt.type(np.inf), val)
    val = xp.where(ninf, fdt.type(-np.inf), val)
    val = xp.where(nan, fdt.type(np.nan), val)
    return val.astype(fdt)
