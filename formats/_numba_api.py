"""Implementation of :mod:`formats.numba` (imports Numba)."""


from __future__ import annotations

import math

import numba as _numba
import numpy as _np

from ._registry import resolve as _resolve
from ._numba_kernels import decode_code as _decode_code
from ._numba_kernels import decode_params as _decode_params
from ._numba_kernels import encode_bits as _encode_bits
from ._numba_kernels import params as _params
from ._numba_kernels import quantize_bits as _quantize_bits
from ._options import make_options as _make_options
from ._records import FloatFormat as _FloatFormat
from ._records import IntFormat as _IntFormat

__all__ = ["params", "decode_params", "quantize_scalar", "encode_scalar", "decode_scalar"]


def params(fmt, *, rounding="nearest_even", overflow=None, flush_subnormals=False, random_bits=None):
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


def decode_params(fmt):
    """Parameter tuple of ``fmt`` for :func:`decode_scalar`."""
    fmt = _resolve(fmt)
    if not isinstance(fmt, (_FloatFormat, _IntFormat)):
        raise ValueError(f"fmt must be a FloatFormat or IntFormat, got {type(fmt).__name__}")
    return _decode_params(fmt)


@_numba.njit(cache=True)
def _f64_bits(x):
    """Raw IEEE bits of float64 ``x`` as int64 (exact, via frexp)."""
    neg = math.copysign(1.0, x) < 0
    a = abs(x)
    if math.isnan(x):
        b = _np.int64(0x7FF8000000000000)
    elif math.isinf(x):
        b = _np.int64(0x7FF0000000000000)
    elif a == 0.0:
        b = _np.int64(0)
    else:
        f, e = math.frexp(a)  # a = f * 2^e, f in [0.5, 1)
        if e - 1 >= -1022:
            sig = _np.int64(math.ldexp(f, 53))
            b = (_np.int64(e - 1 + 1023) << 52) | (sig - (_np.int64(1) << 52))
        else:
            b = _np.int64(math.ldexp(a, 1074))
    if neg:
        b |= _np.int64(-0x8000000000000000)
    return b


@_numba.njit(cache=True)
def _bits_f64(b):
    neg = b < 0
    a = b & _np.int64(0x7FFFFFFFFFFFFFFF)
    e = a >> 52
    mnt = a & ((_np.int64(1) << 52) - 1)
    if e == 0x7FF:
        v = math.inf if mnt == 0 else math.nan
    elif e == 0:
        v = math.ldexp(float(mnt), -1074)
    else:
        v = math.ldexp(float(mnt | (_np.int64(1) << 52)), int(e) - 1075)
    return -v if neg else v


@_numba.njit(cache=True)
def quantize_scalar(x, P, r=0):
    """Fake-quantize float64 ``x`` with parameters ``P`` from :func:`params`."""
    return _bits_f64(_quantize_bits(_f64_bits(x), _np.int64(r), P))


@_numba.njit(cache=True)
def encode_scalar(x, P, r=0):
    """Code (int64) of float64 ``x`` with parameters ``P`` from :func:`params`."""
    return _encode_bits(_f64_bits(x), _np.int64(r), P)


@_numba.njit(cache=True)
def decode_scalar(code, D):
    """Value (float64) of ``code`` with parameters ``D`` from :func:`decode_params`."""
    return _decode_code(code, D)
