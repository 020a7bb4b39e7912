"""JAX helper shared by the posit, LNS, L-Mul and lattice codecs (imported only for JAX inputs);
the straight-through gradient is ``core._backend.straight_through``."""

from __future__ import annotations

import functools

import jax

__all__ = ["jitted"]


@functools.cache
def jitted(fn, static_argnums: tuple):
    """``jax.jit(fn, static_argnums=...)``, cached: the codecs run their JAX kernels compiled
    (eager dispatch of ~100 small ops is slow), and nest inside a caller's jit unchanged."""
    return jax.jit(fn, static_argnums=static_argnums)
