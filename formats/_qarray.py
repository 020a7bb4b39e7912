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

    @property
    def nbytes(self) -> int:
        """True storage in bytes: packed codes plus scales (counted at their format's width)."""
        total_bits = self.size * self.format.bits_per_element
        return int(math.ceil(total_bits / 8))

    @property
    def bits_per_element(self) -> float:
        """Storage bits per element, scales included."""
        return float(self.format.bits_per_element)

    def pack(self) -> np.ndarray:
        """Codes packed densely into bytes (see :func:`formats.pack_codes` for the layout)."""
        from ._packing import pack_codes

        return pack_codes(np.asarray(self.codes).ravel(), self.format.bits)

    def __array__(self, dtype=None, copy=None):
        from ._codec import decode

        out = np.asarray(decode(self))
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"QArray(format={self.format}, shape={self.shape}, codes={self.codes!r})"
