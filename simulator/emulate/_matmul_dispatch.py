"""``simulator.matmul``: validation and the choice of the driver — the NumPy engine
(``_matmul``, with its Numba kernel and the exact reference), or the JAX driver
(``_matmul_jax``, imported lazily). Both drivers build on ``_matmul``; neither imports this
module, which is the one place that dispatches to them.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from lowbit.formats import LMUL_VARIANTS, MULTIPLIERS, Format, QArray
from lowbit.formats.backend import backend_of

from ._accumulate import Accumulator, resolve_format
from ._matmul import BACKENDS, BLOCK_REDUCES, ORDERS, _matmul_numpy, _validate_choice

__all__ = ["matmul"]


def matmul(a: Any, b: Any, *, a_format: Format | str | None = None, b_format: Format | str | None = None,
           multiplier: str = "exact", accumulator: Accumulator | Format | str | None = None,
           k_chunk: int | None = None, chunk_accumulator: Accumulator | Format | str | None = None,
           order: Literal["sequential", "pairwise", "systolic"] = "sequential", init: Any = None,
           block_reduce: Literal["exact", "accumulator"] = "exact", lmul_variant: Literal["bits", "formula"] = "bits",
           backend: Literal["numpy", "jax", "reference"] | None = None) -> Any:
    """The bit-exact result of a dot-product unit computing ``a @ b``.

    Args:
        a: left operand (..., M, K) — activations — as a float array (quantized to
            ``a_format``), an integer array (values of an IntFormat), or a
            :class:`formats.QArray` (block formats blocked along K = its last axis). 1-D is
            promoted as in ``numpy.matmul``. Leading dimensions broadcast.
        b: right operand (..., K, N) — weights — likewise (block QArrays blocked along axis -2).
        a_format, b_format: the operand formats: a record or registered name (scalar
            ``FloatFormat``/``IntFormat``, or a block format such as ``"mxfp8_e4m3"``,
            ``"nvfp4"``). ``None``: take a QArray's format, or the values as they are in the
            format of the array's dtype (float32 → ``float32``, int8 → ``int8``, ...).
            Float inputs are quantized with round-to-nearest-even and the format's natural
            overflow (``formats.quantize`` / ``formats.encode``).
        multiplier: ``"exact"`` (products exact), ``"lmul"`` (``formats.lmul``, Luo & Sun
            arXiv 2410.00907) or ``"lns"`` (logarithmic number system product).
        accumulator: an :class:`Accumulator`, a format or a name; default
            :func:`formats.default_accumulator` — ``int32`` (wrap) when both operands are
            IntFormat and the multiplier exact, else ``float32`` — the rule the ``hwmodels``
            cost models use too.
        k_chunk: two-level accumulation: K is cut into chunks of ``k_chunk`` elements (a
            multiple of the block size for block formats), each reduced from zero in
            ``chunk_accumulator`` (default: ``accumulator``), then added into ``accumulator``.
        chunk_accumulator: the inner accumulator of two-level accumulation.
        order: ``"sequential"`` (((0 + t0) + t1) + ... — an output-stationary MAC),
            ``"pairwise"`` (balanced binary adder tree, neighbours first; an odd last term
            moves up), or ``"systolic"`` (a weight-stationary column of ``k_chunk`` PEs: each
            column pass adds its products top to bottom from zero, the pass results are added
            into the accumulator memory — the same numbers as ``sequential`` with that
            ``k_chunk``; without ``k_chunk`` one pass covers K).
        init: initial accumulator value (the GEMM's C), broadcast to the output; rounded into
            the accumulator format first.
        block_reduce: block formats: ``"exact"`` — OCP MX v1.0 ``Dot``: each block's element
            products summed exactly, times both block scales, is one term; ``"accumulator"`` —
            every scaled element product is added into the accumulator by itself.
        lmul_variant: forwarded to ``formats.lmul(..., variant=)``.
        backend: ``None`` (follow the arrays: JAX if either operand is a JAX array),
            ``"numpy"``, ``"jax"``, or ``"reference"`` (exact Python fractions; slow).

    Returns:
        Array (..., M, N) of accumulator values, in the array library of the backend: float32
        when every value of the accumulator format is a float32 (float64 otherwise), int32 for
        signed integer accumulators (uint32 for ``uint32``). NVFP4 tensor scales are applied
        after accumulation: ``round_acc(acc × round_f32(ts_a × ts_b))``.

    Special values: NaN and ±Inf operands propagate as IEEE 754 (Inf × 0 = NaN); an overflowing
    float accumulator follows its overflow policy at every addition.

    Raises:
        ValueError: bad parameter (named, with the allowed values), mismatched K, an integer
            accumulator with non-integer products, or a configuration that cannot be emulated
            exactly (JAX) / too large for the exact fallback (NumPy).
        TypeError: unsupported operand dtype or parameter type.
    """
    _validate_choice("multiplier", multiplier, MULTIPLIERS)
    _validate_choice("order", order, ORDERS)
    _validate_choice("block_reduce", block_reduce, BLOCK_REDUCES)
    _validate_choice("backend", backend, BACKENDS)
    _validate_choice("lmul_variant", lmul_variant, LMUL_VARIANTS)
    if backend is None:
        probe = [x.codes if isinstance(x, QArray) else x for x in (a, b)]
        backend = "jax" if backend_of(*probe) == "jax" else "numpy"
    a, b, a1, b1 = _promote_1d(a, b)
    cfg = dict(a_format=None if a_format is None else resolve_format(a_format, "a_format"),
               b_format=None if b_format is None else resolve_format(b_format, "b_format"), multiplier=multiplier,
               accumulator=accumulator, k_chunk=k_chunk, chunk_accumulator=chunk_accumulator,
               order=order, block_reduce=block_reduce, lmul_variant=lmul_variant)
    if backend == "jax":
        from ._matmul_jax import matmul_jax

        out = matmul_jax(a, b, init, cfg)
    else:
        out = _matmul_numpy(a, b, init, cfg, reference=backend == "reference")
    if b1:
        out = out[..., 0]
    if a1:
        out = out[..., 0] if b1 else out[..., 0, :]
    return out


def _promote_1d(a, b):
    """numpy.matmul's 1-D promotion: (K,) @ (K, N) → a as (1, K); (M, K) @ (K,) → b as (K, 1).
    Lists and scalars become float64 arrays first (a TypeError naming the operand if they do
    not hold real numbers)."""
    from ._compare import as_real_array

    a = a if isinstance(a, QArray) or hasattr(a, "ndim") else as_real_array(a, "a")
    b = b if isinstance(b, QArray) or hasattr(b, "ndim") else as_real_array(b, "b")
    a1 = not isinstance(a, QArray) and np.ndim(a) == 1
    b1 = not isinstance(b, QArray) and np.ndim(b) == 1
    if a1:
        a = (a if hasattr(a, "ndim") else np.asarray(a))[None, :]
    if b1:
        b = (b if hasattr(b, "ndim") else np.asarray(b))[:, None]
    return a, b, a1, b1
