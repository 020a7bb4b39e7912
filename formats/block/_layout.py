"""Layout and bit helpers shared by the block, scaled-integer and codebook families and by the
fused Numba loops of ``_block_numba`` (which must not import the codec module that dispatches
to them): the blocked layout of codes (axis last, zero-padded blocks), exact power-of-two
scaling on IEEE bit patterns, the branch-free element conversion, and :class:`ScaledCodec`, the
codec shape every scaled family shares.
"""

from __future__ import annotations

import math

import numpy as np

from ..core._backend import bitcast, float64_available
from ..core._options import check_float_input
from ..core._records import FloatFormat
from ..scalar import _minifloat as mf

__all__ = ["TS_MIN", "FLOAT32", "ScaledCodec", "normalize_axis", "to_blocks", "from_blocks", "blocked_shape",
           "check_axis", "check_blocked", "bits_like", "work_dtype", "source_meta", "jax_float",
           "split_exponent", "fast_spec", "scale_spec", "fast_element_codes", "ldexp_bits"]

FLOAT32 = FloatFormat(8, 23, name="float32")
#: smallest per-tensor scale of two-level formats: with block scales >= 2^-6 (E4M3's smallest
#: normal) the element multiplier fl(1/ts)/s stays below 2^126.
TS_MIN = 2.0 ** -120

_F = {  # width -> (mantissa bits, bias, uint dtype name, int dtype name, float dtype name)
    32: (23, 127, "uint32", "int32", "float32"),
    64: (52, 1023, "uint64", "int64", "float64"),
}


# ============================================================================ layout helpers
def normalize_axis(axis: int, ndim: int) -> int:
    """``axis`` in [−ndim, ndim) as a non-negative int.

    Raises:
        ValueError: naming ``axis`` and the allowed range.
    """
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis must be in [{-ndim}, {ndim}) for a {ndim}-d array, got {axis}")
    return axis % ndim


def to_blocks(xp, x, axis: int, block_size: int | None):
    """Move ``axis`` last, zero-pad it to a multiple of ``block_size`` (None: one block of the
    whole axis) and reshape to ``(*other, n_blocks, block_size)``."""
    x = xp.moveaxis(x, axis, -1)
    n = x.shape[-1]
    bs = n if block_size is None else block_size
    nb = -(-n // bs) if bs else 0
    pad = nb * bs - n
    if pad:
        x = xp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)])
    return x.reshape(tuple(x.shape[:-1]) + (nb, bs))


def from_blocks(xp, xb, shape: tuple, axis: int):
    """Inverse of :func:`to_blocks`: drop the padding, move the axis back."""
    other = tuple(xb.shape[:-2])
    flat = xb.reshape(other + (xb.shape[-2] * xb.shape[-1],))
    flat = flat[..., : shape[axis]]
    return xp.moveaxis(flat, -1, axis)


def blocked_shape(shape: tuple, axis: int, block_size: int | None) -> tuple:
    """Shape of :func:`to_blocks` of an array of ``shape`` (a 0-d array counts as shape (1,),
    axis 0): ``(*other_dims, n_blocks, block_size)``."""
    work = tuple(shape) if len(shape) else (1,)
    ax = axis if len(shape) else 0
    other = tuple(s for i, s in enumerate(work) if i != ax)
    n = work[ax]
    bs = n if block_size is None else block_size
    nb = -(-n // bs) if bs else 0
    return other + (nb, bs)


def check_axis(q, required: bool = True) -> int | None:
    """The QArray's blocking axis, validated against its shape and normalised to >= 0 (stored
    back). A 0-d QArray's axis is 0.

    Raises:
        ValueError: naming ``axis``.
    """
    nd = len(q.shape)
    ax = q.axis
    if ax is None and not required:
        return None
    if ax is None and nd == 0:
        ax = 0
    if isinstance(ax, bool) or not isinstance(ax, (int, np.integer)) or not (
            -max(nd, 1) <= ax < max(nd, 1)):
        raise ValueError(f"axis must be an int in [{-max(nd, 1)}, {max(nd, 1)}) for a QArray of shape "
                         f"{q.shape} of {q.format}, got {q.axis!r}")
    ax = int(ax) % max(nd, 1)
    object.__setattr__(q, "axis", ax)
    return ax


def check_blocked(q, block_size: int | None, scale_bits: int | None, scales=None, name="scales"):
    """Validate the block layout of a QArray (codes ``(*other, n_blocks, block_size)`` along its
    axis; scale codes ``(*other, n_blocks)`` of ``scale_bits`` when ``scale_bits`` is given) and
    store the normalised arrays back. Returns the blocked codes shape."""
    from ..core._qarray import check_codes, check_shape_of

    ax = check_axis(q)
    assert ax is not None  # required: never None
    want = blocked_shape(q.shape, ax, block_size)
    check_shape_of("codes", q.codes, want, q.format)
    if scale_bits is not None:
        sc = q.scales if scales is None else scales
        if sc is None:
            raise ValueError(f"{name} is missing (None): {q.format} stores one scale per block")
        sc = check_codes(name, sc, scale_bits, q.format)
        check_shape_of(name, sc, want[:-1], q.format)
        if scales is None:
            object.__setattr__(q, "scales", sc)
    return want


def bits_like(key, x_shape: tuple, layout):
    """Explicit random bits ``key`` (one per element of an input of ``x_shape``) put through
    the same ``layout`` function as the input (blocking, padding, moving axes), so that each
    element keeps its own bits; any other ``key`` (a seed, a generator, a JAX key, None) is
    returned unchanged."""
    from ..core._options import is_explicit_bits

    if key is None or not is_explicit_bits(key):
        return key
    return layout(key.reshape(tuple(x_shape)))


def work_dtype(x) -> str:
    """float64 for float64 inputs, else float32 (float16/bfloat16 widen exactly)."""
    return "float64" if x.dtype.name == "float64" else "float32"


def source_meta(meta) -> str:
    for k, v in meta or ():
        if k == "source":
            return v
    return "float32"


def jax_float(dtype_name: str) -> str:
    """The JAX work dtype for ``dtype_name``: float64 needs JAX x64; otherwise float32."""
    if dtype_name == "float64" and not float64_available("jax"):
        return "float32"
    return dtype_name


# ============================================================================ bit helpers
def split_exponent(xp, a, W: int):
    """Exponent e and 1+MI-bit significand of finite non-zero magnitude bits ``a`` (uint):
    value = sig · 2^(e − MI), sig in [2^MI, 2^(MI+1)). Exact for subnormals too (the integer
    mantissa is normalised through an exact integer → float conversion)."""
    MI, BI, U, I, Fd = _F[W]
    U_, I_ = xp.dtype(U), xp.dtype(I)
    E = (a >> U_.type(MI)).astype(I_)
    M = a & U_.type((1 << MI) - 1)
    fb = bitcast(M.astype(xp.dtype(Fd)), U)  # exact: M < 2^MI, a normal float
    Ef = (fb >> U_.type(MI)).astype(I_)
    sub = E == 0
    e = xp.where(sub, Ef - (2 * BI + MI - 1), E - BI)
    sig = xp.where(sub, fb & U_.type((1 << MI) - 1), M) | U_.type(1 << MI)
    return e, sig


def fast_spec(elem, elem_opts) -> tuple | None:
    """Constants (EB, M, MAXMAG, SB, SZ) of the branch-free conversion to ``elem`` under
    ``elem_opts``, or None when it does not apply: it needs a signed sign-magnitude float format
    of at most 16 bits with subnormals whose exponent field counts binades from 1 − bias, and
    round-to-nearest-even with saturation without input flushing. SB: sign bit position; SZ:
    whether −0 has a code (it has not in the fnuz family). The conversion itself:
    ``_block_numba._fast_code`` (Numba loops) and :func:`fast_element_codes` (arrays)."""
    if not isinstance(elem, FloatFormat) or not elem.subnormals or elem.bits > 16:
        return None
    if (elem_opts.rounding != "nearest_even" or elem_opts.resolved_overflow(elem) != "saturate"
            or elem_opts.flush_subnormals):
        return None
    s = mf.spec_for(elem, "float32")
    if (s.is_int or not s.signed or not s.has_zero or s.m > 22 or s.emin != 1 - s.bias
            or s.sign_mask != 1 << (s.bits - 1)):
        return None
    return (s.bias, s.m, s.max_code, s.bits - 1, int(s.has_negzero))


def scale_spec(scale) -> tuple | None:
    """Magnitude constants (EB, M, MAXMAG) of a scale format for positive normal inputs rounded
    to nearest even with saturation (the NVFP4 block scale), or None."""
    if not isinstance(scale, FloatFormat) or not scale.subnormals:
        return None
    s = mf.spec_for(scale, "float32")
    if s.is_int or s.m > 22 or s.emin != 1 - s.bias:
        return None
    return (s.bias, s.m, s.max_code)


def fast_element_codes(xp, bits, n, FS):
    """Element codes (int32) of value(bits) · 2^n rounded to nearest even and saturated, for
    the formats and options of :func:`fast_spec` (constants ``FS``): the integer formula of
    ``_block_numba`` (see its notes) on whole arrays, with the significand normalised exactly,
    so it holds for every finite input. ``bits``: float32 patterns (uint32, sign included);
    ``n``: int32, broadcast. Inf and NaN saturate: callers zero the codes of such blocks."""
    EB, M, MAXMAG, SB, SZ = FS
    I_ = xp.dtype("int32")
    a = bits & np.uint32(0x7FFFFFFF)
    zero = a == 0
    e, sig = split_exponent(xp, xp.where(zero, np.uint32(1 << 23), a), 32)
    e = e + xp.asarray(n).astype(I_)
    sig = sig.astype(I_)
    d = xp.maximum((1 - EB) - e, 0)
    ebase = xp.maximum(e + (EB - 1), 0)
    sh = xp.minimum(d + (23 - M), 25)
    r = (sig + (xp.left_shift(I_.type(1), sh - 1) - 1) + ((sig >> sh) & 1)) >> sh
    mag = xp.where(zero, I_.type(0), xp.minimum((ebase << M) + r, MAXMAG))
    sgn = ((bits >> np.uint32(31)).astype(I_)) << SB
    if not SZ:
        sgn = xp.where(mag != 0, sgn, I_.type(0))
    return mag | sgn


def ldexp_bits(xp, b, n, W: int):
    """Bits of value(b) · 2^n for float bit patterns ``b`` (uint, sign included) and integer
    exponents ``n`` (broadcast), in pure integer arithmetic.

    Exact whenever the result is representable. Results below the smallest normal that are not
    exact keep a sticky low bit (so they stay non-zero, on the correct side): every element
    format rounds any two non-zero magnitudes below 2^−(BI−1) alike. Overflow gives ±Inf; NaN,
    Inf and zeros pass through.
    """
    MI, BI, U, I, Fd = _F[W]
    U_, I_ = xp.dtype(U), xp.dtype(I)
    sign = b & U_.type(1 << (W - 1))
    a = b & U_.type((1 << (W - 1)) - 1)
    INF = ((1 << (W - 1 - MI)) - 1) << MI
    keep = (a >= U_.type(INF)) | (a == 0)
    e, sig = split_exponent(xp, xp.where(keep, U_.type(1 << MI), a), W)
    e2 = e + xp.asarray(n).astype(I_)
    emin = 1 - BI
    normal = e2 >= emin
    over = e2 > BI
    res_n = (xp.clip(e2 + BI, 1, 2 * BI).astype(U_) << U_.type(MI)) | (sig & U_.type((1 << MI) - 1))
    sh = xp.clip(emin - e2, 0, MI + 1).astype(U_)
    res_d = sig >> sh
    inexact = (sig & ((U_.type(1) << sh) - U_.type(1))) != 0
    res_d = res_d | inexact.astype(U_)
    res = xp.where(over, U_.type(INF), xp.where(normal, res_n, res_d))
    return xp.where(keep, a, res) | sign


def _sig_exp(value: float, W: int) -> tuple[int, int]:
    """(e, sig) of a positive finite Python float in the width-W representation."""
    m, e = math.frexp(value)  # value = m 2^e, m in [0.5, 1)
    MI = _F[W][0]
    sig = int(m * (1 << (MI + 1)))
    if sig != m * (1 << (MI + 1)):
        raise ValueError(f"{value} is not exact in float{W}")
    return e - 1, sig


def _elem_opts(opts):
    return dict(rounding=opts.rounding, overflow=opts.overflow or "saturate",
                random_bits=opts.random_bits if opts.rounding == "stochastic" else None,
                flush_subnormals=opts.flush_subnormals)


# ============================================================================ the codec shape
class ScaledCodec:
    """Shared codec shape of the families that carry scales (block, scaled-int, codebook).

    Subclasses set ``label`` and implement ``encode_impl(x, fmt, opts, key, backend, extra)``
    and ``decode``; ``_extra`` validates family options (none by default) and returns what
    ``encode_impl`` needs of them. ``quantize`` is encode-then-decode on NumPy (or a subclass's
    ``_quantize_fast``) and the straight-through JAX path on JAX.
    """

    label = "scaled"

    def _extra(self, fmt, extra):
        if extra:
            raise TypeError(f"unexpected option(s) for {self.label} formats: {', '.join(sorted(extra))}")
        return None

    def encode(self, x, fmt, opts, key, backend, **extra):
        ex = self._extra(fmt, dict(extra))
        x = check_float_input(x, backend)
        if backend == "jax":
            from ._block_jax import encode_jax

            return encode_jax(self, x, fmt, opts, key, ex)
        return self.encode_impl(x, fmt, opts, key, backend, ex)

    def _quantize_fast(self, x, fmt, opts, key, ex):
        return None  # no fused NumPy path

    def quantize(self, x, fmt, opts, key, backend, **extra):
        ex = self._extra(fmt, dict(extra))
        x = check_float_input(x, backend)
        if backend == "jax":
            from ._block_jax import quantize_ste

            return quantize_ste(x, fmt, opts, key, ex)
        out = self._quantize_fast(x, fmt, opts, key, ex)
        if out is not None:
            return out
        q = self.encode_impl(x, fmt, opts, key, backend, ex)
        return self.decode(q, work_dtype(x), backend).astype(x.dtype)
