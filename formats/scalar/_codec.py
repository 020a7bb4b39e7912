"""The codec of the scalar formats (:class:`FloatFormat`, :class:`IntFormat`), registered with
the core's codec registry: NumPy inputs run through the vectorized kernels of ``_minifloat`` (or
the Numba kernels of ``_numba_kernels`` from ``NUMBA_THRESHOLDS["codec"]`` elements), JAX inputs
through ``_jax``; decoding of formats of at most 16 bits is a lookup in a value table."""

from __future__ import annotations

import numpy as np

from ..core._backend import code_dtype, use_numba
from ..core._dispatch import register_codec
from ..core._options import check_float_input, make_random_bits
from ..core._qarray import QArray
from ..core._records import FloatFormat, IntFormat
from . import _minifloat as mf

__all__ = ["value_table"]


class _ScalarCodec:
    """FloatFormat and IntFormat: NumPy (vectorized, or the Numba kernels from
    ``NUMBA_THRESHOLDS["codec"]`` elements) and JAX."""

    def _rand(self, x, opts, key, backend):
        if opts.rounding != "stochastic":
            if key is not None:
                raise ValueError("key is only used with rounding='stochastic'")
            return None
        return (make_random_bits(key, x.shape, backend, opts.random_bits), opts.random_bits)

    def _check_extra(self, extra):
        if extra:
            raise TypeError(f"unexpected option(s) for scalar formats: {', '.join(sorted(extra))}")

    def quantize(self, x, fmt, opts, key, backend, **extra):
        scale, zp = extra.pop("scale", None), extra.pop("zero_point", None)
        self._check_extra(extra)
        x = check_float_input(x, backend)
        if scale is not None or zp is not None:
            from ..core._static import scaled_scalar_quantize

            return scaled_scalar_quantize(self, x, fmt, opts, key, backend, scale, zp)
        rand = self._rand(x, opts, key, backend)
        if backend == "jax":
            from ._jax import quantize_jax

            return quantize_jax(x, fmt, opts, rand)
        if use_numba("codec", x.size):
            from ._numba_kernels import quantize_array

            return quantize_array(x, fmt, opts, rand)
        return np.asarray(mf.quantize_xp(np, _contiguous(x), fmt, opts, rand))

    def encode(self, x, fmt, opts, key, backend, **extra):
        if "scale" in extra or "zero_point" in extra:
            raise TypeError(f"scale=/zero_point=: a QArray of the scalar format {fmt} holds codes only, no "
                            "scales; use quantize(x, fmt, scale=...), or a format that stores its scales "
                            "(formats.ScaledIntFormat, a BlockFormat)")
        self._check_extra(extra)
        x = check_float_input(x, backend)
        rand = self._rand(x, opts, key, backend)
        if backend == "jax":
            from ._jax import encode_jax

            codes = encode_jax(x, fmt, opts, rand)
        elif use_numba("codec", x.size):
            from ._numba_kernels import encode_array

            codes = encode_array(x, fmt, opts, rand)
        else:
            codes = np.asarray(mf.encode_xp(np, _contiguous(x), fmt, opts, rand))
        return QArray(codes=codes, format=fmt, shape=x.shape)

    def default_dtype(self, fmt):
        """The dtype ``decode`` gives without ``dtype=`` (NumPy)."""
        return mf.default_decode_dtype(fmt)

    def decode(self, q, dtype, backend):
        fmt = q.format
        if backend == "jax":
            from ._jax import decode_jax

            return decode_jax(q.codes, fmt, dtype)
        dt = np.dtype(dtype or mf.default_decode_dtype(fmt))
        codes = np.asarray(q.codes)
        if fmt.bits <= 16:
            return np.asarray(value_table(fmt, dt.name)[codes])
        return np.asarray(mf.decode_xp(np, codes, fmt, dt))

    def values(self, fmt):
        if fmt.bits > 24:
            raise ValueError(f"values() enumerates at most 2**24 codes; {fmt} has 2**{fmt.bits}")
        return value_table(fmt, "float64").copy()


def _contiguous(x: np.ndarray) -> np.ndarray:
    """C-contiguous view/copy of ``x`` with its shape (np.ascontiguousarray makes 0-d arrays 1-d)."""
    return np.ascontiguousarray(x).reshape(x.shape)


_TABLES: dict = {}


def value_table(fmt, dtype: str) -> np.ndarray:
    """The value of every code of scalar ``fmt`` in ``dtype`` (read-only, cached)."""
    key = (fmt, dtype)
    t = _TABLES.get(key)
    if t is None:
        codes = np.arange(fmt.num_codes, dtype=code_dtype(fmt.bits))
        t = mf.decode_xp(np, codes, fmt, np.dtype(dtype))
        t.setflags(write=False)
        _TABLES[key] = t
    return t


register_codec(FloatFormat, _ScalarCodec())
register_codec(IntFormat, _ScalarCodec())
