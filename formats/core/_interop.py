"""Conversion between QArray codes and ml_dtypes arrays (ml_dtypes imported lazily)."""

from __future__ import annotations

import numpy as np

from ._qarray import QArray
from ._records import Format
from ._registry import resolve

__all__ = ["to_ml_dtypes", "from_ml_dtypes"]

_VIEWABLE = {
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3b11fnuz",
    "float8_e4m3", "float8_e3m4", "float8_e8m0fnu", "float6_e2m3fn", "float6_e3m2fn",
    "float4_e2m1fn", "bfloat16", "int2", "int4", "uint2", "uint4", "int1", "uint1",
}


_NUMPY = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


def _ml_dtype(fmt):
    """The ml_dtypes (or NumPy) dtype storing ``fmt``'s codes; matched by record equality, so
    an unnamed record equal to a registered format works too."""
    from ._registry import get, names

    name = getattr(fmt, "name", "")
    if name not in _VIEWABLE and name not in _NUMPY:
        name = next((n for n in list(_VIEWABLE) + list(_NUMPY) if n in names() and get(n) == fmt), "")
    if name in _NUMPY:
        return np.dtype(_NUMPY[name])
    import ml_dtypes

    if name not in _VIEWABLE or not hasattr(ml_dtypes, name):
        raise ValueError(f"format {fmt} has no ml_dtypes/NumPy dtype; those that do: "
                         f"{sorted(_VIEWABLE | set(_NUMPY))}")
    return np.dtype(getattr(ml_dtypes, name))


def to_ml_dtypes(q: QArray) -> np.ndarray:
    """The codes of scalar QArray ``q`` as an array of the matching ml_dtypes dtype (same bits;
    one byte per element, as ml_dtypes stores sub-byte types).

    Raises:
        ValueError: if the format has no ml_dtypes dtype.
    """
    dt = _ml_dtype(q.format)
    codes = np.asarray(q.codes)
    return codes.astype(f"u{dt.itemsize}").view(dt).reshape(q.shape)


def from_ml_dtypes(a: np.ndarray, fmt: Format | str | None = None) -> QArray:
    """A QArray holding the codes of ml_dtypes array ``a`` (no rounding: the bits are kept).

    Args:
        a: array of an ml_dtypes dtype.
        fmt: the format (default: the registered format named like ``a.dtype``).
    """
    a = np.asarray(a)
    fmt = resolve(fmt if fmt is not None else a.dtype.name)
    dt = _ml_dtype(fmt)
    if a.dtype != dt:
        raise ValueError(f"a has dtype {a.dtype}, expected {dt} for format {fmt}")
    raw = a.view(f"u{dt.itemsize}")
    if fmt.bits < 8 * dt.itemsize:
        raw = raw & raw.dtype.type((1 << fmt.bits) - 1)
    return QArray(codes=raw.copy(), format=fmt, shape=a.shape)
