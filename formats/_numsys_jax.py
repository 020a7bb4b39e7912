"""JAX helpers shared by the posit, LNS, L-Mul and lattice codecs (imported only for JAX inputs)."""

from __future__ import annotations

import jax

__all__ = ["ste"]


@jax.custom_jvp
def ste(x, q):
    """Return ``q`` (the quantized ``x``) with a straight-through gradient: d/dx = identity."""
    return q


@ste.defjvp
def _ste_jvp(primals, tangents):
    x, q = primals
    tx, _ = tangents
    return q, tx
