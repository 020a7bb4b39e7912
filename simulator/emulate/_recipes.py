"""Recipes of layers: outliers kept in high precision and low-rank residuals.

The decompositions work on NumPy and JAX arrays alike (also under ``jax.jit``: the outlier sets
are masks of static shape, not gathers); :mod:`simulator.layers` runs their parts as GEMMs on the
emulated dot-product unit and adds them.

* LLM.int8() (Dettmers et al., arXiv 2208.07339, §3.2, Eq. 5): the feature dimensions (columns
  of X) with any |x| ≥ a threshold (6.0 in the paper) form the outlier set O;
  X·W = Σ_{h∈O} X_h·W_h (in float16) + Σ_{h∉O} X_h·W_h (vector-wise int8: one scale per row of
  X and per output channel of W, computed on the non-outlier dimensions).
* Dense + sparse (SpQR, Dettmers et al., arXiv 2306.03078, §3–4; KVQuant, Hooper et al.,
  arXiv 2401.18079, §3.5): the weights of largest magnitude (a fraction, ~1% in SpQR) or a
  user's mask are kept in float16 with their indices; the dense rest is quantized with scales
  computed without them.
* Low-rank residual (LQ-LoRA, Guo et al., arXiv 2311.12023, Algorithm 1): W ≈ Q(W − L·R) + L·R
  with rank-r factors; starting from Q⁽⁰⁾ = 0, each iteration takes L·R as the rank-r truncated
  SVD of W − Q⁽ᵗ⁻¹⁾ and quantizes the new residual, Q⁽ᵗ⁾ = Q(W − L·R); the iterate of least
  ‖W − Q − L·R‖_F is kept (the paper stops when the error grows). One iteration is the
  formula above with L·R the best rank-r approximation of W; LoRC (Yao et al., arXiv
  2303.08302) is the variant that factors the quantization error instead, W ≈ Q(W) + SVD_r(W −
  Q(W)).
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["outlier_columns", "sparse_outliers", "low_rank_residual", "OUTLIER_METHODS"]

#: ``method`` of the ``outliers=`` recipe of :mod:`simulator.layers`.
OUTLIER_METHODS = ("int8", "sparse")


def _xp(a):
    """jax.numpy for JAX arrays and tracers, NumPy otherwise (never imports jax)."""
    if "jax" in sys.modules:
        import jax

        if isinstance(a, jax.Array):
            return jax.numpy
    return np


def _array(a, name):
    xp = _xp(a)
    a = xp.asarray(a)
    if np.dtype(a.dtype).kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    return xp, a


def outlier_columns(x: Any, threshold: float = 6.0) -> Any:
    """LLM.int8()'s outlier feature dimensions: a (K,) boolean mask of the columns of x
    (..., K) holding any |x| ≥ ``threshold`` (arXiv 2208.07339 §3.2: 6.0).

    Raises:
        ValueError: a threshold that is not a positive number. TypeError: non-real ``x``.
    """
    xp, a = _array(x, "x")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
            or not threshold > 0:
        raise ValueError(f"threshold must be a positive number, got {threshold!r}")
    if a.ndim < 1:
        raise ValueError(f"x must be (..., K), got shape {tuple(a.shape)}")
    flat = xp.abs(a).reshape(-1, a.shape[-1])
    return xp.any(flat >= threshold, axis=0) if flat.shape[0] else xp.zeros(a.shape[-1], bool)


def _count(fraction, n: int) -> int:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer, np.floating)) \
            or not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be a number in [0, 1], got {fraction!r}")
    return math.floor(n * Fraction(repr(float(fraction))))


def sparse_outliers(w: Any, *, fraction: float | None = None, mask: Any = None) -> tuple[Any, Any, Any]:
    """Split ``w`` into a dense part and a sparse part: ``w = dense + sparse`` exactly.

    Args:
        w: weights (any shape; NumPy or JAX).
        fraction: keep the ⌊fraction·size⌋ entries of largest magnitude (ties: the lower flat
            index first) in the sparse part.
        mask: or a boolean mask of ``w``'s shape (True = kept in the sparse part).

    Returns:
        ``(dense, sparse, mask)``: dense has zeros where mask is True, sparse zeros elsewhere.

    Raises:
        ValueError: neither or both of fraction and mask, a fraction outside [0, 1], a mask of
            another shape. TypeError: a non-boolean mask, non-real ``w``.
    """
    xp, a = _array(w, "w")
    if (fraction is None) == (mask is None):
        raise ValueError("give exactly one of fraction= and mask=")
    if mask is not None:
        m = xp.asarray(mask)
        if m.dtype != bool:
            raise TypeError(f"mask must be a boolean array, got dtype {m.dtype}")
        if tuple(m.shape) != tuple(a.shape):
            raise ValueError(f"mask must have w's shape {tuple(a.shape)}, got {tuple(m.shape)}")
    else:
        k = _count(fraction, a.size)
        flat = xp.abs(a).reshape(-1)
        order = xp.argsort(-flat, stable=True) if xp is not np else np.argsort(-flat, kind="stable")
        keep = xp.zeros(a.size, bool)
        if xp is np:
            keep[order[:k]] = True
        else:
            keep = keep.at[order[:k]].set(True)
        m = keep.reshape(a.shape)
    zero = xp.zeros((), a.dtype)
    return xp.where(m, zero, a), xp.where(m, a, zero), m


def _svd_r(xp, A, r):
    """Rank-r truncated SVD as (U·√S, √S·Vᵀ) (balanced factors, as LoRC splits them)."""
    U, S, Vt = xp.linalg.svd(A, full_matrices=False)
    rs = xp.sqrt(S[:r])
    return U[:, :r] * rs[None, :], rs[:, None] * Vt[:r]


def low_rank_residual(w: Any, rank: int, *, quantizer: Any = None, factor_format: Any = None,
                      iterations: int = 1) -> tuple[Any, Any, Any]:
    """LQ-LoRA's low-rank-plus-quantized decomposition W ≈ Q(W − L·R) + L·R.

    Args:
        w: a 2-D weight matrix (N, K) (NumPy or JAX; ``jax.jit`` works with a static rank).
        rank: r, 0 ≤ r ≤ min(N, K).
        quantizer: v ↦ Q(v), the quantize-dequantize of the residual (what the layer's GEMM
            does to its weight operand); needed when ``iterations`` > 1, where each step
            factors W − Q(W − L·R). None: the identity.
        factor_format: the format L and R are stored in (a float format such as
            ``"bfloat16"``, ``"float16"``; None keeps them exact).
        iterations: LQ-LoRA iterations (≥ 1); the iterate with the least ‖W − Q − L·R‖_F is
            returned.

    Returns:
        ``(residual, L, R)``: L (N, r) and R (r, K) in ``factor_format`` (values), and the
        unquantized residual W − L·R that the layer quantizes.

    Raises:
        ValueError: a rank out of range, iterations < 1, a factor format that is not a float
            format. TypeError: non-real ``w``.
    """
    from lowbit import formats

    xp, a = _array(w, "w")
    if a.ndim != 2:
        raise ValueError(f"w must be 2-D (N, K), got shape {tuple(a.shape)}")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank <= min(a.shape):
        raise ValueError(f"rank must be an int in [0, {min(a.shape)}], got {rank!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise ValueError(f"iterations must be a positive int, got {iterations!r}")
    ff = None
    if factor_format is not None:
        ff = formats.get(factor_format) if isinstance(factor_format, str) else factor_format
        if not isinstance(ff, formats.FloatFormat):
            raise ValueError(f"factor_format must be a float format (e.g. 'bfloat16', 'float16') or None, got {ff}")

    def fq(F):
        return F if ff is None else formats.quantize(F, ff, overflow="saturate")

    q = quantizer if quantizer is not None else (lambda v: v)
    a = a.astype(xp.float64) if xp is np else a
    Q = xp.zeros_like(a)
    best: Any = None
    for _ in range(int(iterations)):
        L, R = _svd_r(xp, a - Q, int(rank))
        L, R = fq(L), fq(R)
        res = a - L @ R
        Q = q(res)
        err = xp.sum((res - Q) ** 2)
        if best is None:
            best = (err, res, L, R)
        elif xp is np:
            if err < best[0]:
                best = (err, res, L, R)
        else:
            better = err < best[0]
            best = tuple(xp.where(better, n, o) for n, o in zip((err, res, L, R), best, strict=True))
    return best[1], best[2], best[3]
