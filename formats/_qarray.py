"""``QArray``: the one container of encoded values, for every format family."""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

import numpy as np

__all__ = ["QArray"]

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
            (codes, scales, tensor_scale, fmt, shape, axis, meta),
        ):
            object.__setattr__(obj, name, val)
        return obj

    jax.tree_util.register_pytree_node(QArray, flatten, unflatten)
    _JAX_REGISTERED = True


@dataclasses.dataclass(frozen=True, eq=False)
class QArray:
    """Encoded values of a format.

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
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

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
        float32 tensor scale (if any). See :func:`formats.pack_codes` for the bit layout."""
        from ._packing import pack_codes

        parts = [pack_codes(np.asarray(self.codes).ravel(), self.format.bits)]
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
        from ._codec import decode

        out = np.asarray(decode(self))
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"QArray(format={self.format}, shape={self.shape}, codes={self.codes!r})"
