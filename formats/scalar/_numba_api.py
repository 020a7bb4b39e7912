"""Implementation of :mod:`formats.numba` (imports Numba)."""

from __future__ import annotations

import numba as _numba
import numpy as _np

from ..core._numba_bits import bits_float, float_bits
from ..core._options import make_options as _make_options
from ..core._records import FloatFormat as _FloatFormat
from ..core._records import Format as _Format
from ..core._records import IntFormat as _IntFormat
from ..core._registry import resolve as _resolve
from ._numba_kernels import decode_code as _decode_code
from ._numba_kernels import decode_params as _decode_params
from ._numba_kernels import encode_bits as _encode_bits
from ._numba_kernels import params as _params
from ._numba_kernels import quantize_bits as _quantize_bits

__all__ = ["params", "decode_params", "quantize_scalar", "encode_scalar", "decode_scalar"]


def params(fmt: _Format | str, *, rounding: str = "nearest_even", overflow: str | None = None,
           flush_subnormals: bool = False, random_bits: int | None = None) -> tuple[int, ...]:
    """Parameter tuple of ``fmt`` (a FloatFormat/IntFormat or its name) and options for
    :func:`quantize_scalar` / :func:`encode_scalar` (float64 inputs).

    Raises:
        ValueError: for bad options, overflow='error' (not available in compiled code), or a
            format family without scalar kernels.
    """
    fmt = _resolve(fmt)
    if not isinstance(fmt, (_FloatFormat, _IntFormat)):
        raise ValueError(f"fmt must be a FloatFormat or IntFormat, got {type(fmt).__name__}")
    opts = _make_options(fmt, rounding=rounding, overflow=overflow, random_bits=random_bits,
                         flush_subnormals=flush_subnormals)
    return _params(fmt, "float64", opts)


def decode_params(fmt: _Format | str) -> tuple[int, ...]:
    """Parameter tuple of ``fmt`` for :func:`decode_scalar`."""
    fmt = _resolve(fmt)
    if not isinstance(fmt, (_FloatFormat, _IntFormat)):
        raise ValueError(f"fmt must be a FloatFormat or IntFormat, got {type(fmt).__name__}")
    return _decode_params(fmt)


@_numba.njit(cache=True)
def quantize_scalar(x, P, r=0):
    """Fake-quantize float64 ``x`` with parameters ``P`` from :func:`params`."""
    return bits_float(_quantize_bits(float_bits(_np.float64(x)), _np.int64(r), P))


@_numba.njit(cache=True)
def encode_scalar(x, P, r=0):
    """Code (int64) of float64 ``x`` with parameters ``P`` from :func:`params`."""
    return _encode_bits(float_bits(_np.float64(x)), _np.int64(r), P)


@_numba.njit(cache=True)
def decode_scalar(code, D):
    """Value (float64) of ``code`` with parameters ``D`` from :func:`decode_params`."""
    return _decode_code(code, D)
