"""JAX backend of :func:`simulator.matmul`: the same kernels as NumPy, under ``jax.jit``.

The kernels of :mod:`simulator._matmul` and :mod:`simulator._accumulate` are written once for
``xp = numpy`` and ``xp = jax.numpy``; here they run jitted with ``lax.fori_loop`` as the loop
over K. Exact float64/int64 intermediates need 64-bit types, so the computation runs under
``jax.enable_x64(True)`` whatever the global setting; results come back as float32 (or int32)
arrays when the accumulator's values fit, as on NumPy.

XLA on CPU flushes subnormal results to zero. The plans therefore keep every intermediate in
float64's *normal* range (checked from the formats), and the native float32 path is used only
when no float32 subnormal can occur (product quantum ≥ 2^-126); float32 results are converted
from float64 by bit manipulation (``formats`` encode), never by an arithmetic cast.

Importing this module imports JAX.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from lowbit import formats
from lowbit.formats.backend import bitcast

from . import _matmul as mm

__all__ = ["matmul_jax"]


def _fori(lo, hi, body, carry):
    if hi - lo <= 0:
        return carry
    return lax.fori_loop(lo, hi, body, carry)


def _to_out(vals, plan):
    if plan.out_dtype == "float32" and vals.dtype == jnp.float64:
        # float64 -> float32 through the codes (an arithmetic cast would flush subnormals)
        codes = formats.encode(vals, "float32").codes
        return bitcast(codes.astype(jnp.uint32), "float32")
    return vals.astype(plan.out_dtype)


@functools.partial(jax.jit, static_argnums=(3,))
def _kernel(a, b, init, cfg_items):
    cfg = dict(cfg_items)
    try:
        A, B, plan = mm.build(jnp, a, b, cfg)
    except mm._NotExact as exc:
        raise ValueError(f"{exc}; the JAX backend needs float64-exact products — use backend='numpy' "
                         "(exact reference fallback)") from None
    shape = mm.output_shape(A, B)
    init_v = mm.prepare_init(jnp, init, plan, shape)
    if plan.wrap_gemm:
        vals = mm.run_wrap_gemm(jnp, A, B, plan, init_v)
    else:
        term, terms_range, J = mm.make_term_fns(jnp, A, B, plan)
        vals = mm.run_core(jnp, _fori, term, terms_range, J, shape, plan, init_v)
    vals = mm.epilogue(jnp, vals, A, B, plan)
    return _to_out(vals, plan)


def matmul_jax(a, b, init, cfg):
    """Run :func:`simulator.matmul` with JAX (see its docstring); ``cfg`` holds its keywords."""
    items = tuple(sorted(cfg.items()))
    try:
        hash(items)
    except TypeError:
        raise TypeError("matmul options must be hashable for the JAX backend (formats, names, "
                        "Accumulator records, ints)") from None
    with jax.enable_x64(True):
        a = a if isinstance(a, mm.QArray) else jnp.asarray(a)
        b = b if isinstance(b, mm.QArray) else jnp.asarray(b)
        return _kernel(a, b, None if init is None else jnp.asarray(init), items)
