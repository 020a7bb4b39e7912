"""``QArray``: the one container of encoded values, for every format family."""

from __future__ import annotations

import dataclasses
import math
import operator
import sys
from typing import Any

import numpy as np

from ._backend import backend_of, code_dtype
from ._dispatch import codec_for

__all__ = ["QArray", "check_codes", "check_shape_of", "check_float_scalar"]

_JAX_REGISTERED = False


def _register_with_jax() -> None:
    """Register QArray as a JAX pytree (format, axis, shape static) once jax is loaded."""
    global _JAX_REGISTERED
    if _JAX_REGISTERED or "jax" not in sys.modules:
        return
    import jax

    def flatten(q):
        return (q.codes, q.scales, q.tensor_scale), (q.format, q.shape, q.axis, q.meta)

    def unflatten(aux, children):
        fmt, shape, axis, meta = aux
        codes, scales, tensor_scale = children
        obj = object.__new__(QArray)
        for name, val in zip(
            ("codes", "scales", "tensor_scale", "format", "shape", "axis", "meta"),
            (codes, scales, tensor_scale, fmt, shape, axis, meta), strict=True,
        ):
            object.__setattr__(obj, name, val)
        return obj

    jax.tree_util.register_pytree_node(QArray, flatten, unflatten)
    _JAX_REGISTERED = True


@dataclasses.dataclass(frozen=True, eq=False)
class QArray:
    """Encoded values of a format, validated where built.

    Attributes:
        codes: unsigned integer array, one code per element, unpacked (uint8 for ≤8-bit
            formats, uint16 for ≤16, uint32 for ≤32, uint64 above). For block formats its shape
            is the padded, blocked layout documented by that family.
        scales: per-block/per-channel scales (codes or values, as the family documents), or
            None for scalar formats.
        tensor_scale: optional per-tensor scale (e.g. NVFP4's FP32 scale), or None.
        format: the format record.
        shape: shape of the original array (what ``decode`` returns).
        axis: blocking axis for block formats (normalised to a non-negative int), else None.
        meta: hashable extra static data a family needs to decode (e.g. padding); () if none.

    A QArray is a JAX pytree (codes, scales, tensor_scale are leaves; the rest is static), so it
    passes through ``jax.jit``.

    Validation (construction stays cheap: one vectorized min/max pass over NumPy codes):
    ``format`` must be a format record (or a registered name); ``shape`` non-negative ints;
    ``codes`` (and integer scale codes) unsigned — or non-negative signed, converted — integers
    below 2^bits of their format, in native byte order (non-native arrays are converted), laid
    out as the family documents for ``shape`` and ``axis``; ``scales`` / ``tensor_scale``
    present exactly where the family stores them. JAX arrays are checked for dtype and shape
    only (their values may be traced). Codes listed in ``format.unused_codes`` are accepted and
    decode to NaN.

    Raises:
        TypeError: naming ``format``, ``shape``, ``codes``, ``scales`` or ``tensor_scale``
            (wrong kind or dtype).
        ValueError: naming ``shape``, ``codes``, ``scales``, ``tensor_scale`` or ``axis`` (a
            code out of range, a shape that does not match the layout, a missing part).
    """

    codes: Any
    format: Any
    shape: tuple
    scales: Any = None
    tensor_scale: Any = None
    axis: int | None = None
    meta: tuple = ()

    def __post_init__(self):
        if not _JAX_REGISTERED and "jax" in sys.modules:
            _register_with_jax()
        from ._records import Format

        if isinstance(self.format, str):
            from ._registry import get

            object.__setattr__(self, "format", get(self.format))
        if not isinstance(self.format, Format):
            raise TypeError(f"format must be a format record (e.g. formats.get(name)), got "
                            f"{type(self.format).__name__}")
        try:
            shape = tuple(operator.index(s) for s in self.shape)
        except TypeError:
            raise TypeError(f"shape must be a tuple of non-negative ints, got {self.shape!r}") from None
        if any(s < 0 for s in shape):
            raise ValueError(f"shape must be a tuple of non-negative ints, got {self.shape!r}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "codes", check_codes("codes", self.codes, self.format.bits, self.format))
        validate = getattr(codec_for(self.format), "validate", None)
        if validate is None:  # a family without its own layout: one code per element
            check_shape_of("codes", self.codes, shape, self.format)
            for name in ("scales", "tensor_scale"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} must be None for {self.format}, got {type(getattr(self, name)).__name__}")
        else:
            validate(self)

    # ----------------------------------------------------------------- storage
    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype_bits(self) -> int:
        """Bits of one element code."""
        return self.format.bits

    def _scale_bits(self) -> int:
        """Width of one stored scale: the format's scale record, else the scales' dtype."""
        scale_fmt = getattr(self.format, "scale", None)
        if scale_fmt is not None and hasattr(scale_fmt, "bits"):
            return int(scale_fmt.bits)
        return int(np.asarray(self.scales).dtype.itemsize * 8)

    @property
    def nbytes(self) -> int:
        """True storage in bytes, as :meth:`pack` lays it out: every stored element code
        (block padding included) at the format's width, every scale code at the scale format's
        width, and 4 bytes for a per-tensor float32 scale — each part rounded up to whole bytes."""
        return len(self.pack())

    @property
    def bits_per_element(self) -> float:
        """Storage bits per element, scales included (the format's nominal figure)."""
        return float(self.format.bits_per_element)

    def pack(self) -> np.ndarray:
        """Dense bytes: packed element codes, then packed scale codes (if any), then the
        float32 tensor scale (if any). See :func:`formats.pack_codes` for the bit layout;
        ternary codebook codes pack five per byte (:func:`formats.pack_trits`)."""
        from ._packing import pack_codes, pack_format_codes

        parts = [pack_format_codes(np.asarray(self.codes).ravel(), self.format)]
        if self.scales is not None:
            sc = np.asarray(self.scales).ravel()
            if sc.dtype.kind in "ui":
                parts.append(pack_codes(sc, self._scale_bits()))
            else:
                parts.append(sc.view(np.uint8))
        if self.tensor_scale is not None:
            parts.append(np.asarray(self.tensor_scale, dtype=np.float32).reshape(1).view(np.uint8))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def __array__(self, dtype=None, copy=None):
        # decode(self), through the codec registry (the verbs sit above QArray)
        out = np.asarray(codec_for(self.format).decode(self, None, backend_of(self.codes)))
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"QArray(format={self.format}, shape={self.shape}, codes={self.codes!r})"


def _is_jax(a) -> bool:
    return backend_of(a) == "jax"  # tracers included


def check_codes(name: str, codes, bits: int, fmt=None, limit: int | None = None):
    """``codes`` as a validated code array: unsigned (or non-negative signed) integers below
    ``2**bits`` (below ``limit`` when given), in native byte order; signed NumPy arrays are
    converted to the unsigned dtype of the width. JAX arrays are checked for their dtype only
    (their values may be traced).

    One vectorized min/max pass on NumPy (none when the dtype cannot exceed the width).

    Raises:
        TypeError: naming ``name``, for non-integer (float, bool, complex, object) codes.
        ValueError: naming ``name``, for a code outside ``[0, 2**bits)``.
    """
    what = f" of {fmt}" if fmt is not None else ""
    if _is_jax(codes):
        if np.dtype(codes.dtype).kind not in "ui":
            raise TypeError(f"{name} must be an unsigned integer array{what}, got dtype {codes.dtype}")
        return codes
    from ._options import native

    a = np.asarray(codes)
    if a.dtype.kind not in "ui":
        raise TypeError(f"{name} must be an unsigned integer array{what}, got dtype {a.dtype}")
    a = native(a)
    top = (1 << bits) if limit is None else limit
    if a.size and (a.dtype.kind == "i" or a.dtype.itemsize * 8 > bits or limit is not None):
        lo, hi = (int(a.min()), int(a.max())) if a.dtype.kind == "i" else (0, int(a.max()))
        if lo < 0 or hi >= top:
            bad = lo if lo < 0 else hi
            rng = f"2**{bits}) (the {bits}-bit codes{what})" if limit is None else f"{limit}){what}"
            raise ValueError(f"{name} must be in [0, {rng}, got {bad}")
    if a.dtype.kind == "i":
        a = a.astype(code_dtype(bits))
    return a


def check_shape_of(name: str, a, shape: tuple, fmt=None) -> None:
    """Raise ValueError naming ``name`` unless array ``a`` has exactly ``shape``."""
    if tuple(a.shape) != tuple(shape):
        what = f" of {fmt}" if fmt is not None else ""
        raise ValueError(f"{name} has shape {tuple(a.shape)}, but the layout{what} needs {tuple(shape)}")


def check_float_scalar(name: str, v, shape=()):
    """A float array of ``shape`` (a per-tensor or per-block float scale): returned as is.

    Raises:
        TypeError / ValueError: naming ``name``.
    """
    if v is None:
        raise ValueError(f"{name} is missing (None)")
    a = v if _is_jax(v) else np.asarray(v)
    if np.dtype(a.dtype).kind != "f":
        raise TypeError(f"{name} must be a float array, got dtype {a.dtype}")
    check_shape_of(name, a, shape)
    return a
