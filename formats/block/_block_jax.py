"""JAX side of the block/scaled/codebook codecs: fake quantization with a straight-through
gradient (the tangent of x passes through unchanged), and compiled (``jax.jit``) encode and
quantize for eager callers, as the scalar codec does. Imported only when a JAX array arrives."""

from __future__ import annotations

import functools

import jax

from ..core._backend import straight_through
from ..core._dispatch import codec_for

__all__ = ["encode_jax", "quantize_ste"]


def _quantize(fmt, opts, x, key, extra):
    codec = codec_for(fmt)
    q = codec.encode_impl(x, fmt, opts, key, "jax", extra)
    return straight_through(x, codec.decode(q, None, "jax").astype(x.dtype))


def _compiled(opts, key, extra) -> bool:
    """Whether a call can take the compiled form: no random key or family data option (their
    types vary), and no ``overflow='error'`` (it inspects concrete values)."""
    return key is None and extra is None and opts.overflow != "error"


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _encode_jit(codec, fmt, opts, x):
    return codec.encode_impl(x, fmt, opts, None, "jax", None)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _quantize_jit(fmt, opts, x):
    return _quantize(fmt, opts, x, None, None)


def encode_jax(codec, x, fmt, opts, key, extra):
    """``codec.encode_impl`` on JAX, compiled once per (format, options, shape) when it can be
    (inside a caller's ``jax.jit`` the inner jit is inlined)."""
    if _compiled(opts, key, extra):
        return _encode_jit(codec, fmt, opts, x)
    return codec.encode_impl(x, fmt, opts, key, "jax", extra)


def quantize_ste(x, fmt, opts, key, extra):
    """decode(encode(x)) in x's dtype, differentiable as the identity.

    ``extra`` is the family's data option (NVFP4 ``tensor_scale``, scaled-int ``scale``...) or
    None; it is a pytree (None, a scalar or an array).
    """
    if _compiled(opts, key, extra):
        return _quantize_jit(fmt, opts, x)
    return _quantize(fmt, opts, x, key, extra)
