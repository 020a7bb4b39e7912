"""L-Mul: linear-complexity multiplication (Luo & Sun, arXiv 2410.00907, "Addition is All You
Need for Energy-efficient Language Models").

For x = (1 + xm)·2^xe and y = (1 + ym)·2^ye (m mantissa bits) the paper replaces the mantissa
product by a constant:

    (1 + xm)(1 + ym)·2^(xe+ye)  ≈  (1 + xm + ym + 2^−l(m))·2^(xe+ye),
    l(m) = m (m ≤ 3), 3 (m = 4), 4 (m > 4)                      (arXiv 2410.00907, Eq. 3-4)

Two variants are provided:

``"bits"`` (default)
    The paper's kernels: add the two exponent-and-mantissa bit fields as integers and subtract
    ``(bias << m) − 2^(m − l(m))`` (0x3F780000 for float32). With s = xm + ym + 2^−l, the
    integer part ⌊s⌋ carries into the exponent field, so the result is
    2^(xe+ye+⌊s⌋)·(1 + s − ⌊s⌋) — exact, no rounding needed. For m ≤ 3, s < 2; for m ≥ 4,
    s ≥ 2 happens when xm + ym ≥ 2 − 2^−l (two carries).
``"formula"``
    The written formula: 1 + xm + ym + 2^−l is normalised (divided by 2 when ≥ 2, exponent + 1)
    and rounded to m bits, ties to even.

The two agree whenever s = xm + ym + 2^−l < 1. For 1 ≤ s < 2, ``bits`` gives 2^(e+1)·s and
``formula`` gives 2^e·(1 + s) rounded: ``bits`` is larger by 2^e·(s − 1) ≥ 0 (before the
formula's rounding); for s ≥ 2, ``bits`` gives 2^(e+2)·(s − 1), again ≥ the formula's
2^e·(1 + s). Example (fp32): 1.5 × 1.5 → bits 2.125, formula 2.0625.

Special values (both variants): the sign is the XOR of the signs. Subnormal operands are
flushed to zero (L-Mul is defined on normal numbers), as are results whose exponent falls
below the normal range (underflow → ±0; +0 in formats without −0). Results above the largest
finite value follow the overflow policy (``saturate`` → ±max, ``inf`` → ±Inf, ``nan`` → NaN,
``error`` → OverflowError; None = the format's natural behaviour). NaN operands give NaN,
Inf × nonzero gives ±Inf, Inf × 0 gives NaN.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..core._backend import backend_of, code_dtype, raise_if, use_numba
from ..core._codec import encode
from ..core._options import make_options
from ..core._qarray import QArray
from ..core._records import FloatFormat, Format
from ..core._registry import resolve
from ._lmul_spec import lmul_offset, lmul_spec

__all__ = ["lmul", "lmul_codes", "lmul_offset", "LMUL_VARIANTS"]

#: Variants of :func:`lmul`.
LMUL_VARIANTS = ("bits", "formula")

def _check_fmt(fmt: Format | str) -> FloatFormat:
    fmt = resolve(fmt)
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"fmt must be a FloatFormat (or its name), got {type(fmt).__name__}")
    if not fmt.signed or not fmt.subnormals:
        raise ValueError(f"L-Mul needs a signed FloatFormat with a zero and subnormal encoding, got {fmt}")
    return fmt


def _check_variant(variant):
    if variant not in LMUL_VARIANTS:
        raise ValueError(f"variant must be one of {LMUL_VARIANTS}, got {variant!r}")


def _specials(xp, c, mag, E, M, s):
    """(nan, inf) masks of codes."""
    sp = s["specials"]
    if sp == "ieee":
        return (E == s["top"]) & (M != 0), (E == s["top"]) & (M == 0)
    if sp == "fn":
        return mag == s["magmask"], xp.zeros(c.shape, bool)
    if sp == "fnuz":
        return c == s["sign"], xp.zeros(c.shape, bool)
    if sp == "p3109":
        return c == s["sign"], mag == s["magmask"]
    return xp.zeros(c.shape, bool), xp.zeros(c.shape, bool)


def lmul_codes_xp(xp, ca, cb, fmt, variant: str, overflow: str):
    """L-Mul on codes (any broadcastable unsigned arrays) → codes; ``overflow`` resolved."""
    s = lmul_spec(fmt)
    U = xp.uint32 if s["bits"] <= 32 else xp.uint64
    a = ca.astype(U)
    b = cb.astype(U)
    m = s["m"]
    ma, mb = a & U(s["magmask"]), b & U(s["magmask"])
    Ea, Eb = ma >> U(m), mb >> U(m)
    nan_a, inf_a = _specials(xp, a, ma, Ea, ma & U(s["mmask"]), s)
    nan_b, inf_b = _specials(xp, b, mb, Eb, mb & U(s["mmask"]), s)
    za, zb = Ea == 0, Eb == 0                      # zero or subnormal: flushed
    sign = (a ^ b) & U(s["sign"])
    if variant == "bits":
        S = ma + mb                                # < 2^32: magnitudes have bits-1 bits
        thr = s["C"] + (1 << m)                    # R = S − C < 2^m: exponent field 0 → underflow
        under = S < U(max(thr, 0)) if thr > 0 else xp.zeros(S.shape, bool)
        over = S > U(s["maxmag"] + s["C"])
        R = S - U(s["C"]) if s["C"] >= 0 else S + U(-s["C"])
    else:
        N = U((1 << m) + s["off"]) + (ma & U(s["mmask"])) + (mb & U(s["mmask"]))
        Ez = Ea + Eb
        carry = N >= U(1 << (m + 1))
        half = N >> U(1)
        N2 = xp.where(carry, half + ((N & U(1)) & (half & U(1))), N)   # RNE of N/2
        Ez = Ez + carry.astype(U)
        ren = N2 >= U(1 << (m + 1))
        N2 = xp.where(ren, N2 >> U(1), N2)
        Ez = Ez + ren.astype(U)
        under = Ez <= U(s["bias"]) if s["bias"] >= 0 else xp.zeros(Ez.shape, bool)
        Er = Ez - U(s["bias"]) if s["bias"] >= 0 else Ez + U(-s["bias"])
        big = Er > U(s["top"])
        R = (xp.minimum(Er, U(s["top"] + 1)) << U(m)) | (N2 & U(s["mmask"]))
        over = big | (R > U(s["maxmag"]))
    nan_out = nan_a | nan_b | (inf_a & zb & ~inf_b) | (inf_b & za & ~inf_a)
    inf_out = (inf_a | inf_b) & ~nan_out
    zero = (za | zb | under) & ~nan_out & ~inf_out
    over = over & ~zero & ~nan_out & ~inf_out
    if overflow == "saturate":
        R = xp.where(over, U(s["maxmag"]), R)
    elif overflow == "inf":
        inf_out = inf_out | over
    elif overflow == "nan":
        nan_out = nan_out | over
    else:
        raise_if(xp, over, OverflowError(f"L-Mul result out of range of {fmt} (overflow='error'; max {fmt.max})"))
    R = xp.where(zero, U(0), R)
    code = R | sign
    if not s["negzero"]:
        code = xp.where(zero, U(0), code)
    if s["pinf"] >= 0:
        code = xp.where(inf_out, xp.where(sign != 0, U(s["ninf"]), U(s["pinf"])), code)
    if s["nan_code"] >= 0:
        code = xp.where(nan_out, U(s["nan_code"]), code)
    return code.astype(code_dtype(s["bits"], xp))


def _lmul_codes_jax(ca, cb, fmt, variant, overflow):
    import jax.numpy as jnp

    return lmul_codes_xp(jnp, ca, cb, fmt, variant, overflow)


def _resolve_overflow(fmt, overflow):
    return make_options(fmt, overflow=overflow).resolved_overflow(fmt)


def lmul_codes(ca: Any, cb: Any, fmt: Format | str, *, variant: str = "bits",
               overflow: str | None = None) -> Any:
    """L-Mul on code arrays of ``fmt`` (broadcasting); returns codes of ``fmt``.

    The building block for emulated L-Mul dot products: encode the operands once, broadcast
    the codes, multiply here, decode (or look up values) afterwards.

    Args:
        ca, cb: unsigned integer code arrays of ``fmt`` (NumPy or JAX), broadcastable.
        fmt: a signed :class:`FloatFormat` or its registered name.
        variant: ``"bits"`` or ``"formula"`` (see the module documentation).
        overflow: ``saturate``, ``inf``, ``nan``, ``error`` or None (the format's natural rule).

    Returns:
        Codes (uint8/16/32) of the broadcast shape, same array library as the inputs.

    Raises:
        TypeError / ValueError: bad format, variant or overflow, or codes (naming ``ca`` /
        ``cb``) that are not integers in [0, 2^bits); OverflowError with ``error``.
    """
    fmt = _check_fmt(fmt)
    _check_variant(variant)
    ov = _resolve_overflow(fmt, overflow)
    jax_in = backend_of(ca, cb) == "jax"
    if jax_in:
        import jax.numpy as jnp

        if ov == "error":
            return lmul_codes_xp(jnp, jnp.asarray(ca), jnp.asarray(cb), fmt, variant, ov)
        from ._numsys_jax import jitted

        return jitted(_lmul_codes_jax, (2, 3, 4))(jnp.asarray(ca), jnp.asarray(cb), fmt, variant, ov)
    from ..core._qarray import check_codes

    # integer codes below 2^bits, native byte order (a code out of range would be masked silently)
    ca, cb = check_codes("ca", ca, fmt.bits, fmt), check_codes("cb", cb, fmt.bits, fmt)
    size = int(np.prod(np.broadcast_shapes(ca.shape, cb.shape)))
    if use_numba("lmul", size) and ov != "error" and fmt.bits <= 32:
        from ._lmul_numba import lmul_codes_numba

        return lmul_codes_numba(ca, cb, fmt, variant, ov)
    return lmul_codes_xp(np, ca, cb, fmt, variant, ov)


def _operand_codes(v, fmt, name):
    if isinstance(v, QArray):
        if v.format != fmt:
            raise ValueError(f"{name} is a QArray of {v.format}, expected {fmt}")
        return v.codes
    q = encode(v, fmt)
    return q.codes.reshape(q.shape)


def lmul(a: Any, b: Any, fmt: Format | str, *, variant: str = "bits", overflow: str | None = None) -> Any:
    """Elementwise L-Mul product of ``a`` and ``b`` in the float format ``fmt``.

    Operands are first rounded to ``fmt`` (round-to-nearest-even, the format's natural overflow
    rule; a no-op for values of ``fmt``), or taken as they are when given as QArrays of ``fmt``.
    Then the mantissa product is replaced by 2^−l(m) (arXiv 2410.00907), see the module
    documentation for the two variants and for special values.

    Args:
        a, b: float arrays (NumPy or JAX; broadcastable) or QArrays of ``fmt``.
        fmt: a signed :class:`FloatFormat` (fp32, bf16, fp16, every FP8, FP6, ...) or its name.
        variant: ``"bits"`` (integer addition of exponent-mantissa fields; default) or
            ``"formula"`` (normalise, then round to nearest even).
        overflow: ``saturate``, ``inf``, ``nan``, ``error`` or None (the format's natural rule).

    Returns:
        Array of the broadcast shape holding values of ``fmt``: the floating dtype of the inputs
        (result_type of ``a`` and ``b``; float32 for QArrays when the format fits), same array
        library as the inputs.

    Raises:
        TypeError: ``fmt`` not a FloatFormat; ValueError: unsigned formats, bad variant or
        overflow; OverflowError: with ``overflow='error'``.

    Example:
        >>> lmul(np.float32(1.5), np.float32(1.5), "float32")   # bits variant
        array(2.125, dtype=float32)
    """
    fmt = _check_fmt(fmt)
    _check_variant(variant)
    ca = _operand_codes(a, fmt, "a")
    cb = _operand_codes(b, fmt, "b")
    dts = [np.dtype(x.dtype) for x in (a, b) if not isinstance(x, QArray) and hasattr(x, "dtype")]
    dts += [np.dtype(np.asarray(x).dtype) for x in (a, b)
            if not isinstance(x, QArray) and not hasattr(x, "dtype")]
    try:
        out_dt = np.result_type(*dts) if dts else None
    except TypeError:  # e.g. mixed ml_dtypes types without a promotion rule
        out_dt = np.dtype(np.float32)
    if out_dt is not None and out_dt.kind != "f":
        out_dt = None
    shape = tuple(np.broadcast_shapes(tuple(np.shape(ca)), tuple(np.shape(cb))))
    jax_in = backend_of(ca, cb) == "jax"
    if not jax_in and fmt.bits <= 16 and use_numba("lmul", int(np.prod(shape))):
        ov = _resolve_overflow(fmt, overflow)
        if ov != "error":
            from ..scalar import _minifloat as mf
            from ._lmul_numba import lmul_values_numba

            dt = out_dt if out_dt is not None else np.dtype(mf.default_decode_dtype(fmt))
            return lmul_values_numba(np.asarray(ca), np.asarray(cb), fmt, variant, ov, _table(fmt, dt.name))
    codes = lmul_codes(ca, cb, fmt, variant=variant, overflow=overflow)
    return _values(codes, fmt, out_dt, shape)


def _values(codes, fmt, out_dt, shape):
    from ..core._codec import decode
    from ..scalar import _minifloat as mf

    if backend_of(codes) == "jax":
        v = decode(QArray(codes=codes, format=fmt, shape=shape))
        return v if out_dt is None else v.astype(out_dt)
    if out_dt is None:
        out_dt = np.dtype(mf.default_decode_dtype(fmt))
    if fmt.bits <= 16:
        return _table(fmt, np.dtype(out_dt).name)[codes]
    if fmt == FloatFormat(8, 23):
        return codes.view(np.float32).astype(out_dt, copy=False)
    if fmt == FloatFormat(11, 52):
        return codes.view(np.float64).astype(out_dt, copy=False)
    return decode(QArray(codes=codes, format=fmt, shape=shape), dtype="float64").astype(out_dt)


@functools.cache
def _table(fmt, dtype_name: str):
    """Value of every code of ``fmt`` (≤ 16 bits) in ``dtype_name``."""
    from ..core._codec import values

    t = values(fmt).astype(dtype_name)
    t.setflags(write=False)
    return t
