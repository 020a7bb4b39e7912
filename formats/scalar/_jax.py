"""JAX backend of the scalar codec: jit- and vmap-safe; ``quantize`` has a straight-through
gradient (the tangent of x passes through unchanged). Imported only when a JAX array arrives."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ..core._backend import straight_through
from . import _minifloat as mf

__all__ = ["quantize_jax", "encode_jax", "decode_jax"]


def _check_width(x):
    if x.dtype == jnp.float64 and not jax.config.jax_enable_x64:  # pragma: no cover - jax forbids it
        raise TypeError("float64 JAX arrays need jax_enable_x64")


def _quantize_ste(x, fmt, opts, rand_r, R):
    rand = None if rand_r is None else (rand_r, R)
    return straight_through(x, mf.quantize_xp(jnp, x, fmt, opts, rand))


@functools.partial(jax.jit, static_argnums=(1, 2, 4))
def _quantize_jit(x, fmt, opts, rand_r, R):
    return _quantize_ste(x, fmt, opts, rand_r, R)


@functools.partial(jax.jit, static_argnums=(1, 2, 4))
def _encode_jit(x, fmt, opts, rand_r, R):
    return mf.encode_xp(jnp, x, fmt, opts, None if rand_r is None else (rand_r, R))


def _eager(opts, fmt) -> bool:
    # overflow='error' inspects concrete values, so it cannot run under jit
    return opts.resolved_overflow(fmt) == "error"


def quantize_jax(x, fmt, opts, rand):
    """Quantize a JAX array (compiled once per format, options and shape; eager only for
    overflow='error')."""
    _check_width(x)
    r, R = (None, 0) if rand is None else rand
    if _eager(opts, fmt):
        return _quantize_ste(x, fmt, opts, r, R)
    return _quantize_jit(x, fmt, opts, r, R)


def encode_jax(x, fmt, opts, rand):
    _check_width(x)
    if _eager(opts, fmt):
        return mf.encode_xp(jnp, x, fmt, opts, rand)
    r, R = (None, 0) if rand is None else rand
    return _encode_jit(x, fmt, opts, r, R)


def decode_jax(codes, fmt, dtype):
    if dtype is None:
        dtype = mf.default_decode_dtype(fmt)
        if dtype == "float64" and not jax.config.jax_enable_x64:
            raise ValueError(
                f"the values of {fmt} need float64 to be exact, and jax_enable_x64 is off: enable "
                "it, or pass dtype=jnp.float32 to accept values rounded to float32"
            )
    return mf.decode_xp(jnp, codes, fmt, jnp.dtype(dtype))
