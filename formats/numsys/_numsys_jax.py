"""JAX helpers shared by the posit, LNS, L-Mul and lattice codecs (imported only for JAX inputs)."""

from __future__ import annotations

import functools

import jax

__all__ = ["ste", "jitted"]


@jax.custom_jvp
def ste(x, q):
    """Return ``q`` (the quantized ``x``) with a straight-through gradient: d/dx = identity."""
    return q


@ste.defjvp
def _ste_jvp(primals, tangents):
    x, q = primals
    tx, _ = tangents
    return q, tx


@functools.cache
def jitted(fn, static_argnums: tuple):
    """``jax.jit(fn, static_argnums=...)``, cached: the codecs run their JAX kernels compiled
    (eager dispatch of ~100 small ops is slow), and nest inside a caller's jit unchanged."""
    return jax.jit(fn, static_argnums=static_argnums)
