"""Scaled integers: integer codes with per-tensor, per-channel or per-group scales, symmetric or
with a zero point, the scale stored in a chosen format; plus dyadic requantization helpers for
integer-only inference.

Rounding of x / scale goes through the scalar integer codec (:func:`formats.quantize` on a wide
IntFormat), so every rounding mode of the package is available.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from ..core._backend import backend_of, divide, namespace
from ..core._codec import decode as _decode
from ..core._codec import encode as _encode
from ..core._codec import quantize as _quantize
from ..core._dispatch import register_codec
from ..core._options import randomness
from ..core._qarray import QArray
from ..core._records import FloatFormat, Format, IntFormat
from ..core._registry import resolve
from ._layout import (
    FLOAT32,
    ScaledCodec,
    bits_like,
    check_axis,
    check_blocked,
    from_blocks,
    jax_float,
    normalize_axis,
    source_meta,
    to_blocks,
    work_dtype,
)

__all__ = ["ScaledIntFormat", "GRANULARITIES", "dyadic", "requantize", "zero_points"]

#: ``granularity`` values of :class:`ScaledIntFormat`.
GRANULARITIES = ("tensor", "channel", "group")

_INT32 = IntFormat(32, name="int32")


@dataclasses.dataclass(frozen=True)
class ScaledIntFormat(Format):
    """Integers with scales: value = scale · (q − zero_point).

    Args:
        element: the integer code format (e.g. ``int8``, ``int4``, ``uint8``).
        granularity: ``"tensor"`` (one scale), ``"channel"`` (one scale per index of the
            ``axis`` given at encode time, over all other axes — e.g. ``axis=0`` for the output
            channels of a (out, in) weight) or ``"group"`` (groups of ``group_size`` consecutive
            elements along ``axis``, the block layout of :class:`BlockFormat`).
        group_size: elements per group (``granularity="group"`` only).
        symmetric: zero point 0 and scale = amax / qmax (needs a signed element); otherwise an
            integer zero point in the element's range with scale = (max − min) / (qmax − qmin),
            the range widened to include 0 (PyTorch observers, ONNX QuantizeLinear).
        scale: storage format of the scales — a FloatFormat with mantissa bits (float32,
            float16, bfloat16: the scale is rounded to nearest even), a FloatFormat without
            mantissa bits (E8M0: power-of-two scales, rounded *up* so nothing clips), or an
            unsigned IntFormat for two-level scaling: integer scales times one float32 tensor
            scale (the tensor scale = max scale / scale.max, the integer = nearest, at least 1).
        name: informational.

    Rounding: q = clamp(round(x / scale) + zero_point, qmin, qmax) with the ``rounding`` option
    (default nearest even), as ONNX QuantizeLinear. NaN inputs encode to the zero point, ±Inf
    saturate; scales are computed from the finite values. A group whose values are all zero
    gets scale 1.

    QArray layout: ``codes`` — the original shape for ``tensor``/``channel``, the block layout
    ``(*other_dims, n_groups, group_size)`` (axis moved last, zero padded) for ``group``;
    ``scales`` — a pair ``(scale_codes, zero_point_codes)`` with scale codes of shape ``()``,
    ``(shape[axis],)`` or ``(*other_dims, n_groups)`` and zero-point codes (element codes) of
    the same shape, or None when symmetric; ``tensor_scale`` — float32 0-d array for integer
    scale formats, else None. :func:`formats.block_scales` gives the scale values and
    :func:`zero_points` the integer zero points.

    Raises:
        ValueError: naming the field.
    """

    element: IntFormat = IntFormat(8, name="int8")
    granularity: str = "tensor"
    group_size: int | None = None
    symmetric: bool = True
    scale: FloatFormat | IntFormat = FLOAT32
    name: str = dataclasses.field(default="", compare=False)

    family: ClassVar[str] = "scaled_int"

    def __post_init__(self):
        if not isinstance(self.element, IntFormat):
            raise ValueError(f"element must be an IntFormat, got {type(self.element).__name__}")
        if self.element.bits > 24:
            raise ValueError(f"element width must be <= 24 bits (exact in float32), got {self.element.bits}")
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {self.granularity!r}")
        if self.granularity == "group":
            gs = self.group_size
            if isinstance(gs, bool) or not isinstance(gs, int) or gs < 1:
                raise ValueError(f"group_size must be a positive int for granularity='group', got {gs!r}")
        elif self.group_size is not None:
            raise ValueError("group_size is only used with granularity='group'")
        if not isinstance(self.symmetric, bool):
            raise ValueError(f"symmetric must be a bool, got {self.symmetric!r}")
        if self.symmetric and not self.element.signed:
            raise ValueError("symmetric=True needs a signed element; use symmetric=False for unsigned")
        if isinstance(self.scale, IntFormat):
            if self.scale.signed:
                raise ValueError("an integer scale format must be unsigned (e.g. uint8)")
        elif isinstance(self.scale, FloatFormat):
            if self.scale.bits > 32:
                raise ValueError(f"scale format must be at most 32 bits wide, got {self.scale.bits}")
        else:
            raise ValueError(f"scale must be a FloatFormat or unsigned IntFormat, got {type(self.scale).__name__}")

    @property
    def bits(self) -> int:
        return self.element.bits

    @property
    def unused_codes(self):
        """The element format's unused codes (the most negative code of a narrow element)."""
        return self.element.unused_codes

    @property
    def bits_per_element(self) -> float:
        """Element bits plus, per group, the scale (and zero point) bits / group_size; per-tensor
        and per-channel scales are amortised to 0."""
        if self.granularity != "group":
            return float(self.element.bits)
        extra = self.scale.bits + (0 if self.symmetric else self.element.bits)
        assert self.group_size is not None  # granularity "group" has one (checked in __post_init__)
        return self.element.bits + extra / self.group_size

    @property
    def qmin(self) -> int:
        return self.element.min

    @property
    def qmax(self) -> int:
        return self.element.max

    has_inf: ClassVar[bool] = False
    has_nan: ClassVar[bool] = False

    @property
    def _scale_kind(self) -> str:
        if isinstance(self.scale, IntFormat):
            return "int"
        return "pow2" if self.scale.mantissa_bits == 0 else "float"

    def _block_scales(self, q, include_tensor_scale):
        return _scale_values(q, q.format, include_tensor_scale)


# ------------------------------------------------------------------------------ layout
def _stat_view(xp, x, fmt, axis):
    """(blocked array (..., n_stat, L), undo) for the format's granularity."""
    if fmt.granularity == "group":
        return to_blocks(xp, x, axis, fmt.group_size)
    if fmt.granularity == "channel":
        moved = xp.moveaxis(x, axis, 0)
        return moved.reshape(moved.shape[0], 1, -1) if moved.size else moved.reshape(moved.shape[0], 1, 0)
    return x.reshape(1, 1, -1) if x.size else x.reshape(1, 1, 0)


def _unstat(xp, xb, fmt, shape, axis):
    if fmt.granularity == "group":
        return from_blocks(xp, xb, shape, axis)
    if fmt.granularity == "channel":
        moved_shape = (shape[axis],) + tuple(s for i, s in enumerate(shape) if i != axis)
        return xp.moveaxis(xb.reshape(moved_shape), 0, axis)
    return xb.reshape(shape)


def _scale_shape(fmt, nb_shape):
    if fmt.granularity == "group":
        return tuple(nb_shape)
    if fmt.granularity == "channel":
        return (nb_shape[0],)
    return ()


# ------------------------------------------------------------------------------ codec
class _ScaledIntCodec(ScaledCodec):
    label = "scaled-integer"

    def _extra(self, fmt, extra):
        """Static ``scale`` / ``zero_point`` (see :func:`formats.quantize`), or None."""
        s, zp = extra.pop("scale", None), extra.pop("zero_point", None)
        super()._extra(fmt, extra)
        if zp is not None:
            if s is None:
                raise ValueError("zero_point= needs scale= (a static zero point belongs to a static scale)")
            if fmt.symmetric:
                raise ValueError(f"zero_point= is for asymmetric formats; {fmt} is symmetric (zero point 0)")
        return None if s is None else (s, zp)

    def encode_impl(self, x, fmt, opts, key, backend, extra):
        return _encode_scaled(x, fmt, opts, key, backend, extra)

    def decode(self, q, dtype, backend):
        return _decode_scaled(q, dtype, backend)

    def validate(self, q):
        """QArray layout of a scaled-integer format (see :class:`ScaledIntFormat`)."""
        from ..core._qarray import check_codes, check_float_scalar, check_shape_of

        fmt = q.format
        if fmt.granularity == "group":
            want = check_blocked(q, fmt.group_size, None)
            sshape = want[:-1]
        else:
            check_shape_of("codes", q.codes, q.shape, fmt)
            if fmt.granularity == "channel":
                ax = check_axis(q)
                sshape = (q.shape[ax] if q.shape else 1,)
            else:
                sshape = ()
        sc = q.scales
        if not isinstance(sc, tuple) or len(sc) != 2:
            raise ValueError(f"scales of {fmt} must be a pair (scale codes, zero-point codes or None), "
                             f"got {type(sc).__name__}")
        s_codes = check_codes("scales[0] (scale codes)", sc[0], fmt.scale.bits, fmt.scale)
        check_shape_of("scales[0] (scale codes)", s_codes, sshape, fmt)
        zp = sc[1]
        if fmt.symmetric:
            if zp is not None:
                raise ValueError(f"scales[1] (zero points) must be None for the symmetric {fmt}")
        else:
            if zp is None:
                raise ValueError(f"scales[1] (zero points) is missing (None) for the asymmetric {fmt}")
            zp = check_codes("scales[1] (zero-point codes)", zp, fmt.element.bits, fmt.element)
            check_shape_of("scales[1] (zero-point codes)", zp, sshape, fmt)
        object.__setattr__(q, "scales", (s_codes, zp))
        if fmt._scale_kind == "int":
            check_float_scalar("tensor_scale", q.tensor_scale)
        elif q.tensor_scale is not None:
            raise ValueError(f"tensor_scale must be None for {fmt} (its scales are floats)")

    def values(self, fmt):
        """Integer value of every element code (scale 1, zero point 0)."""
        from ..core._codec import values

        return values(fmt.element)


def _encode_scaled(x, fmt: ScaledIntFormat, opts, key, backend: str, static=None) -> QArray:
    xp = namespace(backend)
    shape = tuple(x.shape)
    src = work_dtype(x)
    wd = src if backend == "numpy" else jax_float(src)
    fdt = xp.dtype(wd)
    xw = x.astype(fdt)
    if fmt.granularity == "tensor":
        axis = None
        ax = 0
    else:
        if xw.ndim == 0:  # one element along axis 0, as in block formats
            xw = xw.reshape(1)
        ax = axis = normalize_axis(opts.axis, xw.ndim)
    xb = _stat_view(xp, xw, fmt, ax)
    key = bits_like(key, xw.shape, lambda k: _stat_view(xp, k, fmt, ax))
    finite = xp.isfinite(xb)
    xf = xp.where(finite, xb, fdt.type(0))
    empty = xb.shape[-1] == 0
    qmin, qmax = fmt.qmin, fmt.qmax
    zp_static = None
    if static is not None:  # static scales (and zero points) in the layout of the scale codes
        from ..core._static import static_array

        lay = _scale_shape(fmt, xb.shape[:-1])
        what = f"the scales of {fmt} ({fmt.granularity})"
        s = static_array(static[0], "scale", lay, backend, wd, layout=what).reshape(xb.shape[:-1])
        if static[1] is not None:
            zp_static = static_array(static[1], "zero_point", lay, backend, wd, kind="zero_point", lo=qmin,
                                     hi=qmax, layout=what).reshape(xb.shape[:-1])
        lo = None if fmt.symmetric else (xp.zeros(xb.shape[:-1], fdt) if empty
                                         else xp.minimum(xp.min(xf, axis=-1), fdt.type(0)))
    elif fmt.symmetric:
        amax = xp.zeros(xb.shape[:-1], fdt) if empty else xp.max(xp.abs(xf), axis=-1)
        s = divide(amax, fdt.type(qmax))
        lo = None
    else:
        lo = xp.zeros(xb.shape[:-1], fdt) if empty else xp.minimum(xp.min(xf, axis=-1), fdt.type(0))
        hi = xp.zeros(xb.shape[:-1], fdt) if empty else xp.maximum(xp.max(xf, axis=-1), fdt.type(0))
        s = divide(hi - lo, fdt.type(qmax - qmin))
    s = xp.where(s > 0, s, fdt.type(1))  # all-zero groups: scale 1
    s_codes, s_val, ts = _store_scale(xp, s, fmt, wd)
    if not fmt.symmetric:
        if zp_static is not None:
            zp = zp_static
        else:
            zp = fdt.type(qmin) - _quantize(divide(lo, s_val), _INT32, rounding="nearest_even")
            zp = xp.clip(zp, fdt.type(qmin), fdt.type(qmax))
        zp_codes = _encode(zp, fmt.element).codes
    else:
        zp = None
        zp_codes = None
    t = divide(xb, s_val[..., None])
    r = _quantize(t, _INT32, rounding=opts.rounding, **randomness(key),
                  random_bits=opts.random_bits if opts.rounding == "stochastic" else None)
    if zp is not None:
        r = r + zp[..., None]
    r = xp.clip(r, fdt.type(qmin), fdt.type(qmax))
    if opts.overflow == "error":
        bad = (xp.abs(xf) > 0) & ((t > fdt.type(qmax) + fdt.type(0.5)) | (t < fdt.type(qmin) - fdt.type(0.5)))
        if backend == "numpy" and np.any(bad | ~finite):
            raise OverflowError(f"value out of range of {fmt} (overflow='error')")
    codes = _encode(r, fmt.element).codes
    if fmt.granularity != "group":
        codes = _unstat(xp, codes, fmt, shape if shape else (1,), ax).reshape(shape)
    sshape = _scale_shape(fmt, s_codes.shape)
    s_codes = s_codes.reshape(sshape)
    if zp_codes is not None:
        zp_codes = zp_codes.reshape(sshape)
    return QArray(codes=codes, format=fmt, shape=shape, scales=(s_codes, zp_codes), tensor_scale=ts,
                  axis=axis, meta=(("source", src),))


def _store_scale(xp, s, fmt, wd):
    """(scale codes, scale values in the working dtype, tensor scale or None)."""
    fdt = xp.dtype(wd)
    kind = fmt._scale_kind
    flat = s.reshape(-1)
    if kind == "float":
        sv = _quantize(flat, fmt.scale, rounding="nearest_even", overflow="saturate")
        tiny = fdt.type(fmt.scale.smallest_positive)
        sv = xp.where(sv > 0, sv, tiny)  # underflow to 0 would divide by zero
        codes = _encode(sv, fmt.scale).codes
        return codes.reshape(s.shape), sv.reshape(s.shape).astype(fdt), None
    if kind == "pow2":
        codes = _encode(flat, fmt.scale, rounding="up", overflow="saturate").codes
        sv = _decode(QArray(codes=codes, format=fmt.scale, shape=codes.shape), dtype=wd)
        return codes.reshape(s.shape), sv.reshape(s.shape), None
    # two-level: integer scales times a float32 tensor scale
    smax = xp.max(flat) if flat.size else fdt.type(1)
    ts = divide(smax, fdt.type(fmt.scale.max)).astype(xp.float32).astype(fdt)
    ts = xp.maximum(ts, fdt.type(np.finfo(np.float32).tiny))
    c = _quantize(divide(flat, ts), fmt.scale, rounding="nearest_even", overflow="saturate")
    c = xp.maximum(c, fdt.type(1))
    codes = _encode(c, fmt.scale).codes
    sv = (c * ts).astype(fdt)
    ts32 = xp.asarray(ts, dtype=xp.float32) if xp is not np else np.asarray(ts, np.float32)
    return codes.reshape(s.shape), sv.reshape(s.shape), ts32


def _scale_values(q, fmt, include_tensor_scale=True, dtype=None):
    backend = backend_of(q.codes)
    xp = namespace(backend)
    wd = dtype or (jax_float(source_meta(q.meta)) if backend == "jax" else source_meta(q.meta))
    s_codes = q.scales[0]
    sv = _decode(QArray(codes=s_codes, format=fmt.scale, shape=s_codes.shape), dtype=wd)
    if fmt._scale_kind == "int" and include_tensor_scale:
        sv = (sv * xp.asarray(q.tensor_scale).astype(xp.dtype(wd))).astype(xp.dtype(wd))
    return sv


def zero_points(q: QArray) -> Any:
    """Integer zero points of a scaled-integer QArray (zeros when symmetric), shaped like the
    scale codes, as a float array of the QArray's array library.

    Raises:
        TypeError: if ``q`` is not a QArray of a :class:`ScaledIntFormat`.
    """
    if not isinstance(q, QArray) or not isinstance(q.format, ScaledIntFormat):
        raise TypeError("zero_points needs a QArray of a ScaledIntFormat")
    backend = backend_of(q.codes)
    xp = namespace(backend)
    wd = jax_float(source_meta(q.meta)) if backend == "jax" else source_meta(q.meta)
    s_codes, zp_codes = q.scales
    if zp_codes is None:
        return xp.zeros(s_codes.shape, xp.dtype(wd))
    return _decode(QArray(codes=zp_codes, format=q.format.element, shape=zp_codes.shape), dtype=wd)


def _decode_scaled(q: QArray, dtype, backend: str):
    fmt = q.format
    xp = namespace(backend)
    src = source_meta(q.meta)
    out_dt = np.dtype(dtype).name if dtype is not None else (jax_float(src) if backend == "jax" else src)
    wd = "float64" if out_dt == "float64" else "float32"
    if backend == "jax":
        wd = jax_float(wd)
    fdt = xp.dtype(wd)
    sv = _scale_values(q, fmt, True, wd)
    zp = zero_points(q).astype(fdt) if not fmt.symmetric else None
    shape = q.shape
    codes = q.codes
    if fmt.granularity != "group":
        work_shape = shape if shape else (1,)
        ax = q.axis if q.axis is not None else 0
        codes = _stat_view(xp, codes.reshape(work_shape), fmt, ax)
    iv = _decode(QArray(codes=codes, format=fmt.element, shape=codes.shape), dtype=wd)
    sv = sv.reshape(codes.shape[:-1])
    if zp is not None:
        iv = iv - zp.reshape(codes.shape[:-1])[..., None]
    v = iv * sv[..., None]
    if fmt.granularity == "group":
        out = from_blocks(xp, v, shape if shape else (1,), q.axis if q.axis is not None else 0)
    else:
        out = _unstat(xp, v, fmt, shape if shape else (1,), q.axis if q.axis is not None else 0)
    return out.reshape(shape).astype(xp.dtype(out_dt))


register_codec(ScaledIntFormat, _ScaledIntCodec())


# ------------------------------------------------------------------------------ dyadic
def dyadic(multiplier: float, *, bits: int = 31) -> tuple[int, int]:
    """The dyadic number b / 2^c nearest to ``multiplier`` with a ``bits``-bit significand.

    Integer-only inference (Jacob et al., CVPR 2018, §2.2; gemmlowp/TFLite
    ``QuantizeMultiplier``) replaces the real rescale M = s_in · s_w / s_out by b / 2^c with
    2^(bits−1) ≤ b < 2^bits, so requantization is an integer multiply and a rounding shift.

    Args:
        multiplier: a positive finite real (float, int or Fraction).
        bits: significand width of b, 1..62.

    Returns:
        (b, c) Python ints: b / 2^c is the nearest such number to ``multiplier`` (ties to even
        b); c may be negative for multipliers ≥ 2^bits.

    Raises:
        ValueError: if ``multiplier`` is not positive and finite or ``bits`` is out of range.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 62:
        raise ValueError(f"bits must be an int in [1, 62], got {bits!r}")
    try:
        m = Fraction(multiplier)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"multiplier must be a positive finite number, got {multiplier!r}") from None
    if m <= 0:
        raise ValueError(f"multiplier must be positive, got {multiplier!r}")
    e = m.numerator.bit_length() - m.denominator.bit_length()  # 2^(e-1) <= m < 2^(e+1)
    if m >= Fraction(2) ** e:
        e += 1
    # now 2^(e-1) <= m < 2^e
    c = bits - e
    scaled = m * Fraction(2) ** c
    b = math.floor(scaled)
    rem = scaled - b
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and b % 2 == 1):
        b += 1
    if b == 1 << bits:
        b >>= 1
        c -= 1
    return int(b), int(c)


_REQ_ROUNDINGS = ("nearest_even", "nearest_away", "toward_zero", "up", "down")


def requantize(acc: ArrayLike, b: int, c: int, *, zero_point: int = 0, out: Format | str = "int8",
               rounding: str = "nearest_away") -> np.ndarray:
    """Integer-only requantization: clamp(round(acc · b / 2^c) + zero_point) into ``out``.

    The product acc · b is exact (int64, or Python ints when it might not fit) and rounded once
    by the shift; ``nearest_away`` is gemmlowp's ``RoundingDivideByPOT`` rule.

    Args:
        acc: integer array (e.g. int32 accumulators), NumPy or anything ``numpy.asarray`` takes.
        b, c: the dyadic multiplier from :func:`dyadic`.
        zero_point: output zero point (int).
        out: output IntFormat or its name (e.g. ``"int8"``, ``"uint8"``).
        rounding: one of ``nearest_even``, ``nearest_away``, ``toward_zero``, ``up``, ``down``.

    Returns:
        int64 NumPy array of the output integers (values, not codes), shaped like ``acc``.

    Raises:
        ValueError: bad ``rounding``/``out``; TypeError: non-integer ``acc``.
    """
    if rounding not in _REQ_ROUNDINGS:
        raise ValueError(f"rounding must be one of {_REQ_ROUNDINGS}, got {rounding!r}")
    fmt = resolve(out)
    if not isinstance(fmt, IntFormat):
        raise ValueError(f"out must be an IntFormat (e.g. 'int8'), got {fmt}")
    for nm, v in (("b", b), ("c", c), ("zero_point", zero_point)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{nm} must be an int, got {v!r}")
    a = np.asarray(acc)
    if a.dtype.kind not in "iu":
        raise TypeError(f"acc must be an integer array, got dtype {a.dtype}")
    b, c = int(b), int(c)
    big = a.size and (int(np.abs(a.astype(object)).max()) * abs(b) >= 1 << 62 or abs(c) > 62)
    if big:
        flat = [_round_shift(int(v) * b, c, rounding) for v in a.ravel().tolist()]
        y = np.array(flat, dtype=object).reshape(a.shape)
        y = np.clip(y + zero_point, fmt.min, fmt.max).astype(np.int64)
        return y
    p = a.astype(np.int64) * np.int64(b)
    if c <= 0:
        y = p << np.int64(-c)
    else:
        q = p >> np.int64(c)  # floor
        r = p - (q << np.int64(c))  # in [0, 2^c)
        half = np.int64(1) << np.int64(c - 1)
        if rounding == "down":
            inc = np.zeros(p.shape, bool)
        elif rounding == "up":
            inc = r != 0
        elif rounding == "toward_zero":
            inc = (r != 0) & (p < 0)
        elif rounding == "nearest_away":
            inc = (r > half) | ((r == half) & (p >= 0))
        else:
            inc = (r > half) | ((r == half) & ((q & 1) == 1))
        y = q + inc.astype(np.int64)
    return np.clip(y + np.int64(zero_point), fmt.min, fmt.max).astype(np.int64)


def _round_shift(p: int, c: int, rounding: str) -> int:
    if c <= 0:
        return p << -c
    q, r = divmod(p, 1 << c)
    half = 1 << (c - 1)
    if rounding == "down":
        return q
    if rounding == "up":
        return q + (r != 0)
    if rounding == "toward_zero":
        return q + (r != 0 and p < 0)
    if rounding == "nearest_away":
        return q + (r > half or (r == half and p >= 0))
    return q + (r > half or (r == half and q % 2 == 1))
