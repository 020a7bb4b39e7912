"""Block formats: OCP Microscaling (MX), NVFP4, block floating point (MSFP, BFP16) and dynamic
fixed point — one record, :class:`BlockFormat`, composed of an element format, a scale format, a
block size and a scale rule.

Every step is exact integer arithmetic on the input's IEEE bit pattern, the same code for NumPy
and JAX (so both give identical codes even where XLA flushes float32 subnormals); the elements
are converted by the scalar element codec (:func:`formats.encode` on the element record, or its
Numba kernel inside the fused loop of ``_block_numba``). Layout helpers here are shared with the
scaled-integer and codebook families.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from ..core._backend import backend_of, bitcast, code_dtype, divide, namespace, use_numba
from ..core._codec import decode as _decode
from ..core._codec import encode as _encode
from ..core._dispatch import register_codec
from ..core._modes import SCALE_RULES
from ..core._options import make_options, randomness
from ..core._qarray import QArray
from ..core._records import FloatFormat, Format, IntFormat
from ..core._registry import register
from ._layout import (
    _F,
    FLOAT32,
    TS_MIN,
    ScaledCodec,
    _elem_opts,
    _sig_exp,
    bits_like,
    check_blocked,
    fast_element_codes,
    fast_spec,
    from_blocks,
    jax_float,
    ldexp_bits,
    normalize_axis,
    source_meta,
    split_exponent,
    to_blocks,
    work_dtype,
)

__all__ = ["BlockFormat", "SCALE_RULES", "block_scales", "bfp", "dynamic_fixed_point"]

_POW2_RULES = ("floor", "ceil", "rceil", "even")

# OCP Microscaling Formats (MX) v1.0, §5.4.1: E8M0 scale — unsigned, bias 127, no zero,
# NaN = 0xFF, range 2^-127 … 2^127.
E8M0 = FloatFormat(8, 0, signed=False, subnormals=False, specials="fn", name="float8_e8m0fnu")
# OCP 8-bit Floating Point (OFP8) v1.0, Table 1: E4M3 (used unsigned-valued as the NVFP4 scale).
E4M3 = FloatFormat(4, 3, specials="fn", name="float8_e4m3fn")


def _require_positive_int_or_none(name, value):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")


@dataclasses.dataclass(frozen=True)
class BlockFormat(Format):
    """Blocks of ``block_size`` elements sharing one scale: value_i = X · P_i (· tensor scale).

    Args:
        element: element format — a :class:`FloatFormat` (FP8/FP6/FP4, or a sign-magnitude
            integer written as a 1-exponent-bit float, see :func:`bfp`) or a signed
            :class:`IntFormat`. Integer elements are two's-complement fixed point with w − 2
            fraction bits (value = integer · 2^−(w−2)), as OCP MX v1.0 §5.3.4 defines MXINT8
            (implied scale 2^−6) and as microxcaling reads ``intX``; so emax_elem = 0.
        scale: scale format, a :class:`FloatFormat` (E8M0 for MX and BFP, E4M3 for NVFP4). Only
            its positive values are used.
        block_size: elements per block (OCP MX: 32, NVFP4: 16) or None for one block spanning
            the whole blocking axis (dynamic fixed point).
        scale_rule: one of :data:`SCALE_RULES`; ``"amax"`` is the only rule for non-power-of-two
            scales. Change it with ``dataclasses.replace(fmt, scale_rule="rceil")``.
        tensor_scale: format of a per-tensor scale (float32 for NVFP4's two-level scheme) or
            None (one level). Only with ``scale_rule="amax"``.
        name: registry name (informational).

    Scale convention: scales are *multipliers* — decoded value = tensor_scale · X · P. For
    NVFP4 the tensor scale is amax(tensor) / (448 · 6) (NVIDIA's recipe, torchao
    ``per_tensor_amax_to_scale``), the block scale X = e4m3(amax(block) / 6 / tensor_scale) and
    the elements P = e2m1(x · fl(fl(1/tensor_scale) / X)) (torchao's reciprocal arithmetic).

    QArray layout (another engineer's GEMM emulator relies on it):

    * ``codes``: element codes with the blocking axis moved last and zero-padded to a multiple
      of the block size, shape ``(*other_dims, n_blocks, block_size)`` (uint8 for ≤ 8-bit
      elements). Padding holds the code of +0 and is invisible to :func:`formats.decode`.
    * ``scales``: scale *codes* in the scale format (uint8 E8M0 / E4M3 codes), shape
      ``(*other_dims, n_blocks)``; :func:`block_scales` gives their values.
    * ``tensor_scale``: float32 0-d array (two-level formats) or None.
    * ``axis``: the blocking axis of the original array, normalised to ≥ 0.
    * ``shape``: the original shape. ``meta``: ``(("source", dtype_name),)``.

    Special values (OCP MX v1.0 §6.3, microxcaling's reference code): a block holding NaN or
    ±Inf gets the NaN scale code and element codes 0, so all its values decode to NaN; an
    all-zero block gets the smallest scale (E8M0 code 0 = 2^−127); a shared exponent above the
    scale's largest power of two is NaN, one below its smallest is clamped to it. Elements
    saturate at ±max_elem (the spec's "clamping normal numbers") unless ``overflow`` says
    otherwise.

    Raises:
        ValueError: naming the field, when a parameter is out of range or inconsistent.
    """

    element: FloatFormat | IntFormat
    scale: FloatFormat = E8M0
    block_size: int | None = 32
    scale_rule: str = "floor"
    tensor_scale: FloatFormat | None = None
    name: str = dataclasses.field(default="", compare=False)

    family: ClassVar[str] = "block"

    def __post_init__(self):
        if isinstance(self.element, IntFormat):
            if not self.element.signed or self.element.bits < 2:
                raise ValueError(f"element must be a signed IntFormat of width >= 2, got {self.element!r}")
        elif isinstance(self.element, FloatFormat):
            if not self.element.signed:
                raise ValueError(f"element must be a signed format, got {self.element!r}")
            if not self.element.subnormals and self.element.mantissa_bits > 0:
                raise ValueError("element FloatFormat with subnormals=False is not supported; "
                                 "use flush_subnormals=True at encode time")
        else:
            raise ValueError(f"element must be a FloatFormat or IntFormat, got {type(self.element).__name__}")
        if not isinstance(self.scale, FloatFormat):
            raise ValueError(f"scale must be a FloatFormat (e.g. E8M0, E4M3), got {type(self.scale).__name__}")
        if self.scale.bits > 32:
            raise ValueError(f"scale format must be at most 32 bits wide, got {self.scale.bits}")
        _require_positive_int_or_none("block_size", self.block_size)
        if self.scale_rule not in SCALE_RULES:
            raise ValueError(f"scale_rule must be one of {SCALE_RULES}, got {self.scale_rule!r}")
        if self.tensor_scale is not None:
            if not isinstance(self.tensor_scale, FloatFormat):
                raise ValueError(f"tensor_scale must be a FloatFormat or None, got {self.tensor_scale!r}")
            if self.scale_rule != "amax":
                raise ValueError("tensor_scale (two-level scaling) needs scale_rule='amax'")
        if self.scale_rule in _POW2_RULES and self.scale.max < 1:
            raise ValueError(f"scale format {self.scale} cannot hold the power-of-two scales of "
                             f"scale_rule={self.scale_rule!r}")

    # ------------------------------------------------------------------ widths
    @property
    def bits(self) -> int:
        """Width of one element code."""
        return self.element.bits

    @property
    def unused_codes(self):
        """The element format's unused codes (MXINT8: 0x80, its symmetric range is ±127)."""
        return self.element.unused_codes

    @property
    def bits_per_element(self) -> float:
        """Storage bits per element: element bits + scale bits / block size (the per-tensor
        scale is amortised to 0; for block_size None the scale is counted as 0 too)."""
        if self.block_size is None:
            return float(self.element.bits)
        return self.element.bits + self.scale.bits / self.block_size

    # --------------------------------------------------------- element numbers
    @property
    def element_exp(self) -> int:
        """Implied power-of-two scale of the element codes: −(w−2) for integer elements
        (MXINT8: −6, OCP MX v1.0 §5.3.4), 0 for float elements."""
        if isinstance(self.element, IntFormat):
            return -(self.element.bits - 2)
        return 0

    @property
    def element_emax(self) -> int:
        """emax_elem of OCP MX v1.0 §6.3: exponent of the largest element binade (E4M3 8, E5M2
        15, E3M2 4, E2M3 2, E2M1 2, INT8 0)."""
        if isinstance(self.element, IntFormat):
            return 0
        return self.element.emax

    @property
    def element_max(self) -> float:
        """Largest element value (with the implied integer scale applied)."""
        return math.ldexp(float(self.element.max), self.element_exp)

    @property
    def element_mantissa_bits(self) -> int:
        """Fraction bits of the element at its top binade (for ``scale_rule='even'``)."""
        if isinstance(self.element, IntFormat):
            return self.element.bits - 2
        return self.element.mantissa_bits

    @property
    def scale_exponent_range(self) -> tuple[int, int]:
        """(kmin, kmax): the smallest and largest k with 2^k a value of the scale format."""
        s = self.scale
        kmin = s.emin - s.mantissa_bits if (s.subnormals and s.mantissa_bits > 0) else s.emin
        return kmin, s.emax

    @property
    def has_inf(self) -> bool:
        return self.element.has_inf

    @property
    def has_nan(self) -> bool:
        return True if self.scale.has_nan else self.element.has_nan

    @property
    def max(self) -> float:
        """Largest finite value of one block, scale at its maximum (tensor scale 1)."""
        return float(self.scale.max) * self.element_max


# ============================================================================ power-of-two scales
def pow2_code(xp, k, scale: FloatFormat):
    """Code of 2^k (k int array within the scale's power-of-two range) in ``scale``."""
    m = scale.mantissa_bits
    kmin_normal = scale.emin
    U = xp.dtype("uint32")
    normal = (xp.clip(k + scale.bias, 0, (1 << scale.exponent_bits) - 1).astype(U) << U.type(m))
    if scale.subnormals and m > 0:
        sub = U.type(1) << xp.clip(k - (kmin_normal - m), 0, m).astype(U)
        return xp.where(k >= kmin_normal, normal, sub)
    return normal


def pow2_exponent_of_code(xp, codes, scale: FloatFormat):
    """(k, bad) for scale codes: the code's value is 2^k; ``bad`` marks NaN/Inf codes and codes
    that are not a power of two (only hand-made QArrays have those)."""
    m = scale.mantissa_bits
    U = xp.dtype("uint32")
    c = codes.astype(U) & U.type(scale.magnitude_mask)
    E = (c >> U.type(m)).astype(xp.int32)
    M = c & U.type((1 << m) - 1)
    if scale.subnormals and m > 0:
        _, lg = xp.frexp(xp.maximum(M, U.type(1)).astype(xp.float32))
        k_sub = lg.astype(xp.int32) - 1 + (scale.emin - m)
        k = xp.where(E == 0, k_sub, E - scale.bias)
        not_pow2 = xp.where(E == 0, (M == 0) | ((M & (M - U.type(1))) != 0), M != 0)
    else:
        k = E - scale.bias
        not_pow2 = M != 0
    kmin, kmax = _pow2_range(scale)
    bad = not_pow2 | (k > kmax) | (k < kmin)
    if scale.nan_codes:
        bad = bad | _isin(xp, codes.astype(U), scale.nan_codes)
    if scale.signed:
        bad = bad | ((codes.astype(U) & U.type(scale.sign_mask)) != 0)
    return k, bad


def _isin(xp, c, values):
    out = xp.zeros(c.shape, dtype=bool)
    for v in values:
        out = out | (c == v)
    return out


def _pow2_range(scale: FloatFormat) -> tuple[int, int]:
    kmin = scale.emin - scale.mantissa_bits if (scale.subnormals and scale.mantissa_bits > 0) else scale.emin
    return kmin, scale.emax


# ============================================================================ the codec
_NEG_BIG = -(1 << 20)


def pow2_scale_exponents(xp, amax_bits, fmt: BlockFormat, W: int):
    """Raw shared exponent k (int) per block from the amax bit patterns (finite blocks; zero
    blocks give a very negative k so they clamp to the smallest scale)."""
    MI, BI, U, I, Fd = _F[W]
    U_ = xp.dtype(U)
    zero = amax_bits == 0
    a = xp.where(zero, U_.type(1 << MI), amax_bits)
    rule = fmt.scale_rule
    emax = fmt.element_emax
    if rule == "even":
        mb = fmt.element_mantissa_bits
        if MI - mb - 1 >= 0:
            a = a + U_.type(1 << (MI - mb - 1))  # carries into the exponent field
    e, sig = split_exponent(xp, a, W)
    if rule in ("floor", "even"):
        k = e - emax
    elif rule == "ceil":
        k = e + (sig != U_.type(1 << MI)).astype(e.dtype) - emax
    else:  # rceil: ceil(log2(amax / max_elem)), exact (see docs/formats/block-formats.md)
        eM, sigM = _sig_exp(fmt.element_max, W)
        k = e - eM + (sig > U_.type(sigM)).astype(e.dtype)
    return xp.where(zero, e.dtype.type(_NEG_BIG), k)


class _BlockCodec(ScaledCodec):
    """Codec of :class:`BlockFormat` (NumPy — Numba from ``NUMBA_THRESHOLDS["codec"]`` elements —
    and JAX)."""

    label = "block"

    def _extra(self, fmt, extra):
        """(tensor_scale, static block scales) or None when neither is given."""
        ts = extra.pop("tensor_scale", None)
        scale = extra.pop("scale", None)
        if "zero_point" in extra:
            raise ValueError(f"zero_point= does not apply to block format {fmt} (its blocks are symmetric)")
        if extra:
            raise TypeError(f"unexpected option(s) for block formats: {', '.join(sorted(extra))}; "
                            "block formats accept scale= and tensor_scale= (two-level formats only)")
        if ts is not None and fmt.tensor_scale is None:
            raise ValueError(f"tensor_scale= is only used by two-level formats (tensor_scale set); {fmt} has none")
        return None if ts is None and scale is None else (ts, scale)

    def encode_impl(self, x, fmt, opts, key, backend, extra):
        ts_user, scale_user = extra or (None, None)
        return encode_block(x, fmt, opts, key, backend, ts_user, scale_user)

    def _quantize_fast(self, x, fmt, opts, key, extra):
        ts_user, scale_user = extra or (None, None)
        if scale_user is None and _numba_ok(x, fmt, opts):
            from ._block_numba import quantize_numba

            return quantize_numba(x, fmt, opts, key, ts_user)
        return None

    def decode(self, q, dtype, backend):
        return decode_block(q, dtype, backend)

    def validate(self, q):
        """QArray layout of a block format (see :class:`BlockFormat`)."""
        from ..core._qarray import check_float_scalar

        fmt = q.format
        check_blocked(q, fmt.block_size, fmt.scale.bits)
        if fmt.tensor_scale is not None:
            check_float_scalar("tensor_scale", q.tensor_scale)
        elif q.tensor_scale is not None:
            raise ValueError(f"tensor_scale must be None for {fmt} (one-level scaling)")

    def values(self, fmt):
        """Element values (scale 1; integer elements with their implied 2^−(w−2))."""
        from ..core._codec import values

        return np.ldexp(values(fmt.element), fmt.element_exp)


def _numba_ok(x, fmt, opts) -> bool:
    return (use_numba("codec", x.size) and x.dtype.name in ("float16", "bfloat16", "float32")
            and opts.overflow != "error" and fmt.element.bits <= 16)


def encode_block(x, fmt: BlockFormat, opts, key, backend: str, ts_user=None, scale_user=None) -> QArray:
    """Encode ``x`` (an accepted float array) to a :class:`QArray` of ``fmt``; ``scale_user``:
    static block scale values ``(*other_dims, n_blocks)`` in place of the scale rule's."""
    shape = tuple(x.shape)
    src = work_dtype(x)
    if backend == "numpy" and scale_user is None and _numba_ok(x, fmt, opts):
        from ._block_numba import encode_numba

        return encode_numba(x, fmt, opts, key, ts_user)
    xp = namespace(backend)
    wd = src if backend == "numpy" else jax_float(src)
    W = 64 if wd == "float64" else 32
    xw = x.astype(xp.dtype(wd))
    if xw.ndim == 0:
        xw = xw.reshape(1)
        axis = 0
    else:
        axis = normalize_axis(opts.axis, xw.ndim)
    xb = to_blocks(xp, xw, axis, fmt.block_size)
    key = bits_like(key, xw.shape, lambda k: to_blocks(xp, k, axis, fmt.block_size))
    MI, BI, U, I, Fd = _F[W]
    U_ = xp.dtype(U)
    bits = bitcast(xb, U)
    ABS = U_.type((1 << (W - 1)) - 1)
    if opts.flush_subnormals:  # inputs below the smallest normal are zero (DAZ)
        bits = xp.where((bits & ABS) < U_.type(1 << MI), bits & ~ABS, bits)
    INF = U_.type(((1 << (W - 1 - MI)) - 1) << MI)
    if xb.shape[-1] == 0 or xb.shape[-2] == 0:
        amax = xp.zeros(xb.shape[:-1], U_)
    else:
        amax = xp.max(bits & ABS, axis=-1)
    bad = amax >= INF  # NaN or Inf in the block
    if scale_user is not None:
        scale_user = _static_block_scales(xp, scale_user, fmt, xb.shape[:-1], backend, wd)
    eo = _elem_opts(opts)
    ts_out = None
    # JAX: the branch-free element conversion (XLA vectorizes it; NumPy's small inputs keep the
    # general kernel, against which the Numba and JAX fast paths are tested). Blocks with Inf/NaN
    # must get a NaN scale (their codes are zeroed), so the scale format needs a NaN.
    FS = None
    if backend == "jax" and W == 32 and fmt.scale.has_nan and eo["rounding"] == "nearest_even":
        FS = fast_spec(fmt.element, make_options(fmt.element, overflow=eo["overflow"],
                                                 flush_subnormals=eo["flush_subnormals"]))
    if fmt.scale_rule in _POW2_RULES:
        kmin, kmax = fmt.scale_exponent_range
        if scale_user is None:
            k = pow2_scale_exponents(xp, amax, fmt, W)
        else:  # exact powers of two: the exponent field
            k, _ = split_exponent(xp, bitcast(scale_user, U), W)
        over = k > kmax
        if fmt.scale.has_nan:
            nan_scale = bad | over
        else:
            nan_scale = xp.zeros(bad.shape, bool)
        k = xp.clip(k, kmin, kmax)
        k = xp.where(bad, kmax, k)
        scodes = pow2_code(xp, k, fmt.scale)
        if fmt.scale.has_nan:
            scodes = xp.where(nan_scale, xp.asarray(fmt.scale.nan_code, dtype=scodes.dtype), scodes)
        n = xp.where(nan_scale, 0, -(k + fmt.element_exp)).astype(xp.dtype(I))
        if FS is not None:
            ecodes = fast_element_codes(xp, bits, n[..., None], FS)
        else:
            y = bitcast(ldexp_bits(xp, bits, n[..., None], W), wd)
    else:  # "amax": NVFP4 recipe in the working float precision
        fdt = xp.dtype(wd)
        amax_f = bitcast(xp.where(bad, U_.type(0), amax), wd)
        emax_f = fdt.type(fmt.element_max)
        s_raw = divide(amax_f, emax_f)
        if fmt.tensor_scale is not None:
            if ts_user is not None:
                if backend == "numpy":
                    tsv = np.asarray(ts_user, dtype=np.float64)
                    if tsv.shape != () or not np.isfinite(tsv) or tsv <= 0:
                        raise ValueError(f"tensor_scale must be a positive finite scalar, got {ts_user!r}")
                ts = xp.asarray(ts_user, dtype=fdt)
            else:
                t_amax = bitcast(xp.max(xp.where(bad, U_.type(0), amax)) if amax.size else U_.type(0), wd)
                ts = divide(t_amax, fdt.type(fmt.element_max * fmt.scale.max))
            # at least TS_MIN, so that fl(1/ts)/s stays finite for every block scale s
            # (all-zero and absurdly small tensors)
            ts = xp.maximum(ts, fdt.type(TS_MIN))
            ts = _quantize_scalar_array(xp, ts, fmt.tensor_scale, backend)
            s_raw = divide(s_raw, ts)
        if scale_user is not None:
            s_raw = scale_user
        s_cl = xp.clip(s_raw, fdt.type(fmt.scale.smallest_normal), fdt.type(fmt.scale.max))
        scodes = _encode(s_cl, fmt.scale, rounding="nearest_even", overflow="saturate").codes
        if fmt.scale.has_nan:
            scodes = xp.where(bad, xp.asarray(fmt.scale.nan_code, dtype=scodes.dtype), scodes)
        s_val = _decode(QArray(codes=scodes, format=fmt.scale, shape=scodes.shape), dtype=wd)
        s_val = xp.where(bad, fdt.type(1), s_val)
        if fmt.tensor_scale is not None:
            recip = divide(divide(fdt.type(1), ts), s_val)
            ts_out = xp.asarray(ts, dtype=xp.float32) if xp is not np else np.asarray(ts, np.float32)
        else:
            recip = divide(fdt.type(1), s_val)
        y = bitcast(bits, wd) * recip[..., None]
        nan_scale = bad if fmt.scale.has_nan else xp.zeros(bad.shape, bool)
        if FS is not None:
            ecodes = fast_element_codes(xp, bitcast(y, U), 0, FS)
    if FS is None:
        ecodes = _encode(y, fmt.element, **randomness(key), **eo).codes
    ecodes = ecodes.astype(code_dtype(fmt.element.bits))
    ecodes = xp.where(nan_scale[..., None], xp.asarray(0, dtype=ecodes.dtype), ecodes)
    scodes = scodes.astype(code_dtype(fmt.scale.bits))
    return QArray(codes=ecodes, format=fmt, shape=shape, scales=scodes, tensor_scale=ts_out,
                  axis=axis if len(shape) else 0, meta=(("source", src),))


def _static_block_scales(xp, scale, fmt: BlockFormat, shape: tuple, backend: str, wd: str):
    """Static block scales (``scale=``): positive finite values of shape ``(*other_dims,
    n_blocks)``; exact powers of two within the scale format's range for the power-of-two
    rules (checked where the values are concrete)."""
    from ..core._static import _concrete_all, static_array

    s = static_array(scale, "scale", shape, backend, wd, layout=f"the block scales of {fmt}")
    if fmt.scale_rule in _POW2_RULES:
        m, e = xp.frexp(s)
        kmin, kmax = fmt.scale_exponent_range
        if _concrete_all(xp, (m == 0.5) & (e - 1 >= kmin) & (e - 1 <= kmax)) is False:
            raise ValueError(f"scale: the block scales of {fmt} (scale_rule={fmt.scale_rule!r}) must be powers "
                             f"of two in [2^{kmin}, 2^{kmax}]")
    return s


def _quantize_scalar_array(xp, v, fmt, backend):
    from ..core._codec import quantize

    # (the scalar codec returns 1-d for 0-d NumPy input: keep the shape explicitly)
    return quantize(v.reshape(1), fmt, rounding="nearest_even", overflow="saturate").reshape(v.shape)


def _decode_dtype(q, dtype, backend):
    if dtype is not None:
        return np.dtype(dtype).name
    src = source_meta(q.meta)
    if backend == "jax":
        return jax_float(src)
    return src


def decode_block(q: QArray, dtype, backend: str):
    """Values of a BlockFormat QArray in the original shape."""
    fmt = q.format
    xp = namespace(backend)
    out_dt = _decode_dtype(q, dtype, backend)
    wd = "float64" if out_dt == "float64" else "float32"
    if backend == "jax":
        wd = jax_float(wd)
    W = 64 if wd == "float64" else 32
    MI, BI, U, I, Fd = _F[W]
    codes = q.codes
    ev = _decode(QArray(codes=codes, format=fmt.element, shape=codes.shape), dtype=wd)
    scodes = q.scales
    if fmt.scale_rule in _POW2_RULES:
        k, bad = pow2_exponent_of_code(xp, scodes, fmt.scale)
        n = xp.where(bad, 0, k + fmt.element_exp).astype(xp.dtype(I))
        vb = ldexp_bits(xp, bitcast(ev, U), n[..., None], W)
        v = bitcast(vb, wd)
        v = xp.where(bad[..., None], xp.dtype(wd).type(np.nan), v)
    else:
        s = _decode(QArray(codes=scodes, format=fmt.scale, shape=scodes.shape), dtype=wd)
        if fmt.tensor_scale is not None:
            ts = q.tensor_scale
            if ts is None:
                raise ValueError("two-level QArray without tensor_scale")
            s = xp.asarray(ts).astype(xp.dtype(wd)) * s
        if fmt.scale.signed:
            s = xp.where((scodes.astype(xp.uint32) & xp.uint32(fmt.scale.sign_mask)) != 0,
                         xp.dtype(wd).type(np.nan), s)
        v = ev * s[..., None]
    shape = q.shape
    work_shape = shape if len(shape) else (1,)
    axis = int(q.axis) if len(shape) and q.axis is not None else 0
    out = from_blocks(xp, v, work_shape, axis).reshape(shape)
    return out.astype(xp.dtype(out_dt))


def block_scales(q: QArray, *, include_tensor_scale: bool = True) -> Any:
    """Scale values of a block, scaled-integer or codebook QArray, as floats.

    Args:
        q: a QArray of a :class:`BlockFormat`, ``ScaledIntFormat`` or ``CodebookFormat``.
        include_tensor_scale: multiply by the per-tensor scale where the format has one
            (NVFP4 two-level, two-level scaled integers).

    Returns:
        Array shaped like the scale codes (``(*other_dims, n_blocks)`` for block layouts), in
        the QArray's array library: float32 where every scale value is a float32, else float64
        (float32 under JAX without x64). NaN scale codes give NaN.

    Raises:
        TypeError: if ``q`` is not a QArray of one of those families.
    """
    if not isinstance(q, QArray):
        raise TypeError(f"q must be a QArray, got {type(q).__name__}")
    fmt = q.format
    if isinstance(fmt, BlockFormat):
        backend = backend_of(q.codes)
        xp = namespace(backend)
        scodes = q.scales
        if fmt.scale_rule in _POW2_RULES:
            k, bad = pow2_exponent_of_code(xp, scodes, fmt.scale)
            one = bitcast(xp.full(scodes.shape, 1.0, dtype=xp.float32), "uint32")
            v = bitcast(ldexp_bits(xp, one, xp.where(bad, 0, k).astype(xp.int32), 32), "float32")
            return xp.where(bad, xp.float32(np.nan), v)
        s = _decode(QArray(codes=scodes, format=fmt.scale, shape=scodes.shape), dtype="float32")
        if fmt.tensor_scale is not None and include_tensor_scale:
            s = xp.asarray(q.tensor_scale).astype(xp.float32) * s
        return s
    fn = getattr(fmt, "_block_scales", None)
    if fn is None:
        raise TypeError(f"block_scales needs a QArray of a block, scaled-integer or codebook format, got {fmt}")
    return fn(q, include_tensor_scale)


# ============================================================================ constructors
def sign_magnitude(mantissa_bits: int) -> FloatFormat:
    """A sign + ``mantissa_bits``-bit magnitude fixed-point element with values
    ±k·2^−(mantissa_bits−1), k = 0 … 2^mantissa_bits − 1, written as the 1-exponent-bit float
    with bias 1 (its code is exactly sign | magnitude)."""
    if isinstance(mantissa_bits, bool) or not isinstance(mantissa_bits, int) or not 1 <= mantissa_bits <= 24:
        raise ValueError(f"mantissa_bits must be an int in [1, 24], got {mantissa_bits!r}")
    return FloatFormat(1, mantissa_bits - 1, bias=1, specials="none",
                       name=f"sm{mantissa_bits + 1}")


def bfp(mantissa_bits: int, block_size: int | None = 16, *, exponent_bits: int = 8, name: str = "") -> BlockFormat:
    """Block floating point: one shared exponent per block, sign-magnitude mantissas.

    The shared exponent is the largest element exponent (floor(log2 amax)); each element keeps a
    sign and ``mantissa_bits`` magnitude bits, the implicit leading one of the largest element
    included (MSFP, Darvish Rouhani et al., NeurIPS 2020; AMD Quark BFP16). Mantissas round to
    nearest even and saturate.

    Args:
        mantissa_bits: magnitude bits per element (MSFP12: 3, MSFP16: 7, BFP16: 7).
        block_size: elements per shared exponent, or None for the whole blocking axis
            (dynamic fixed point).
        exponent_bits: width of the shared exponent (8: E8M0-style, bias 127; others use an
            unsigned exponent with bias 2^(exponent_bits−1) − 1 and a NaN code).
        name: optional registry-style name.

    Raises:
        ValueError: for out-of-range arguments.
    """
    if isinstance(exponent_bits, bool) or not isinstance(exponent_bits, int) or not 2 <= exponent_bits <= 8:
        raise ValueError(f"exponent_bits must be an int in [2, 8], got {exponent_bits!r}")
    scale = E8M0 if exponent_bits == 8 else FloatFormat(exponent_bits, 0, signed=False, subnormals=False,
                                                         specials="fn", name=f"e{exponent_bits}m0")
    return BlockFormat(sign_magnitude(mantissa_bits), scale, block_size, "floor", name=name)


def dynamic_fixed_point(bits: int, *, exponent_bits: int = 8) -> BlockFormat:
    """Dynamic fixed point: ``bits``-wide sign-magnitude integers sharing one exponent per slice
    along the blocking axis (block_size None). For one exponent per tensor, encode
    ``x.reshape(-1)``.

    Raises:
        ValueError: if ``bits`` is not in [2, 25].
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 25:
        raise ValueError(f"bits must be an int in [2, 25], got {bits!r}")
    return bfp(bits - 1, None, exponent_bits=exponent_bits, name=f"dfp{bits}")


def _block_formats():
    F = FloatFormat
    # OCP MX v1.0, Table 1 (§5.2): MXFP8 (E5M2, E4M3), MXFP6 (E3M2, E2M3), MXFP4 (E2M1), MXINT8;
    # block size k = 32, E8M0 scale.
    yield BlockFormat(F(4, 3, specials="fn", name="float8_e4m3fn"), E8M0, 32, name="mxfp8_e4m3")
    yield BlockFormat(F(5, 2, specials="ieee", name="float8_e5m2"), E8M0, 32, name="mxfp8_e5m2")
    yield BlockFormat(F(3, 2, specials="none", name="float6_e3m2fn"), E8M0, 32, name="mxfp6_e3m2")
    yield BlockFormat(F(2, 3, specials="none", name="float6_e2m3fn"), E8M0, 32, name="mxfp6_e2m3")
    yield BlockFormat(F(2, 1, specials="none", name="float4_e2m1fn"), E8M0, 32, name="mxfp4")
    # MXINT8 element: two's complement with implied 2^-6 (OCP MX v1.0 §5.3.4); symmetric range
    # ±127 (microxcaling mx/formats.py: max_norm = 1.984375 for int8).
    yield BlockFormat(IntFormat(8, narrow=True, name="int8_narrow"), E8M0, 32, name="mxint8")
    # NVFP4 (NVIDIA Blackwell; torchao nvfp4_tensor.py): E2M1 elements, blocks of 16, E4M3 block
    # scale, FP32 per-tensor scale amax / (448 · 6).
    yield BlockFormat(F(2, 1, specials="none", name="float4_e2m1fn"), E4M3, 16, "amax", FLOAT32,
                      name="nvfp4")
    # Microsoft Floating Point (Darvish Rouhani et al., "Pushing the Limits of Narrow Precision
    # Inferencing at Cloud Scale with Microsoft Floating Point", NeurIPS 2020): 8-bit shared
    # exponent, bounding box 16, sign + 3 (MSFP12) / 7 (MSFP16) mantissa bits.
    yield bfp(3, 16, name="msfp12")
    yield bfp(7, 16, name="msfp16")
    # AMD Quark BFP16 (quark.docs.amd.com, "BFP16 (Block floating point) Quantization"): blocks
    # of 8, 8-bit shared exponent, sign + 7 mantissa bits.
    yield bfp(7, 8, name="bfp16")


register(_block_formats, aliases={"mxfp4_e2m1": "mxfp4"})
register_codec(BlockFormat, _BlockCodec())
