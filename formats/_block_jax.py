"""JAX side of the block/scaled/codebook codecs: fake quantization with a straight-through
gradient (the tangent of x passes through unchanged). Imported only when a JAX array arrives."""

from __future__ import annotations

import functools

import jax

__all__ = ["quantize_ste"]


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _quantize(fmt, opts, x, key, extra):
    from ._codec import _codec_for

    codec = _codec_for(fmt)
    q = codec.encode_impl(x, fmt, opts, key, "jax", extra)
    return codec.decode(q, None, "jax").astype(x.dtype)


@_quantize.defjvp
def _quantize_jvp(fmt, opts, primals, tangents):
    x, key, extra = primals
    return _quantize(fmt, opts, x, key, extra), tangents[0]


def quantize_ste(x, fmt, opts, key, extra):
    """decode(encode(x)) in x's dtype, differentiable as the identity.

    ``extra`` is the family's data option (NVFP4 ``tensor_scale``, scaled-int ``scale``...) or
    None; it is a pytree (None, a scalar or an array).
    """
    return _quantize(fmt, opts, x, key, extra)
