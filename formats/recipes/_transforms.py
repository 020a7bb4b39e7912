"""Orthogonal rotations and SmoothQuant equalization: transforms that leave a product unchanged,
(X·R)(Rᵀ·W) = X·W and (X·diag(s)⁻¹)(diag(s)·W) = X·W, chosen so that the factors quantize
better.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core._backend import backend_of, divide, namespace
from ..core._options import as_numpy_array
from ..core._static import _concrete_all
from ._hadamard import fwht

__all__ = ["rotate", "random_orthogonal", "smooth_scales", "smooth", "ROTATIONS"]

#: Named rotations of :func:`rotate` (besides an explicit matrix).
ROTATIONS = ("hadamard", "random_hadamard")

_FLOATS = ("float16", "bfloat16", "float32", "float64")


def _float_array(x, name):
    backend = backend_of(x)
    xp = namespace(backend)
    a = xp.asarray(x) if backend == "jax" else as_numpy_array(x, name)
    if a.dtype.name not in _FLOATS:
        raise TypeError(f"{name} must be a float16/bfloat16/float32/float64 array, got dtype {a.dtype}")
    return a, xp, backend


def _work(dtype) -> str:
    return "float64" if dtype.name == "float64" else "float32"


def _check_axis(axis, ndim, name="axis") -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"{name} must be an int in [{-ndim}, {ndim}) for a {ndim}-d array, got {axis!r}")
    return int(axis) % ndim


def rotate(x: Any, rotation: Any, *, axis: int = -1, key: Any = None) -> Any:
    """``x`` rotated along ``axis``: x @ R with R orthogonal.

    Args:
        x: float NumPy or JAX array (works under ``jax.jit``).
        rotation: ``"hadamard"`` (the orthonormal Hadamard matrix, applied by :func:`fwht`),
            ``"random_hadamard"`` (with random signs from ``key``: QuaRot's randomized Hadamard
            transform) or an n×n orthogonal matrix R (n = x.shape[axis]; e.g. a learned
            SpinQuant rotation or :func:`random_orthogonal`), applied as a product in x's
            working precision (float32, or float64 for float64 inputs).
        axis: the axis to rotate.
        key: the random signs of ``"random_hadamard"`` (see :func:`formats.hadamard`).

    Returns:
        An array of x's shape, dtype and array library. The rotation is undone by the
        transposed matrix: ``rotate(rotate(x, R), R.T)`` (``hadamard(n).T`` for the named ones).

    Raises:
        ValueError: an unknown name, a ``key`` where none is used or a missing one, a matrix of
            the wrong shape or one that is not orthogonal (checked on two random probes,
            ‖Rᵀ(R·v)‖ = ‖v‖ to 1e-4 relative in float32, 1e-10 in float64, whenever the values
            are concrete).
        TypeError: non-float ``x``.
    """
    x, xp, backend = _float_array(x, "x")
    ax = _check_axis(axis, max(x.ndim, 1))
    if isinstance(rotation, str):
        if rotation not in ROTATIONS:
            raise ValueError(f"rotation must be one of {ROTATIONS} or an orthogonal matrix, got {rotation!r}")
        if rotation == "hadamard":
            if key is not None:
                raise ValueError("key is only used with rotation='random_hadamard'")
            return fwht(x, axis=ax)
        if key is None:
            raise ValueError("rotation='random_hadamard' needs key= (an int seed, a numpy Generator, a JAX key "
                             "or the ±1 signs)")
        return fwht(x, axis=ax, key=key)
    if key is not None:
        raise ValueError("key is only used with rotation='random_hadamard'")
    n = x.shape[ax]
    R = check_orthogonal(rotation, n, backend, _work(x.dtype))
    y = xp.moveaxis(x, ax, -1).astype(_work(x.dtype))
    y = xp.matmul(y, R, precision="highest") if backend == "jax" else y @ R
    return xp.moveaxis(y, -1, ax).astype(x.dtype)


def check_orthogonal(R, n: int, backend: str, work: str):
    """``R`` as an n×n array of ``work`` (x's array library), checked orthogonal on two random
    probe vectors whenever its values are concrete.

    Raises:
        ValueError: wrong shape or not orthogonal. TypeError: not real numbers.
    """
    xp = namespace(backend)
    Ra = xp.asarray(R) if backend == "jax" else as_numpy_array(R, "rotation")
    if np.dtype(Ra.dtype).kind not in "fiu":
        raise TypeError(f"rotation must be a real matrix, got dtype {Ra.dtype}")
    if tuple(Ra.shape) != (n, n):
        raise ValueError(f"rotation must be an {n}×{n} matrix for an axis of size {n}, got shape {tuple(Ra.shape)}")
    Ra = Ra.astype(work)
    v = np.random.default_rng(0).standard_normal((n, 2)).astype(work)
    v = xp.asarray(v)
    r = Ra.T @ (Ra @ v) if backend == "numpy" else xp.matmul(Ra.T, xp.matmul(Ra, v, precision="highest"),
                                                                 precision="highest")
    tol = 1e-10 if work == "float64" else 1e-4
    err = xp.sqrt(xp.sum((r - v) ** 2, axis=0)) / xp.sqrt(xp.sum(v * v, axis=0))
    if _concrete_all(xp, err <= tol * math.sqrt(max(n, 1) / 64 + 1)) is False:
        raise ValueError("rotation is not orthogonal: ‖Rᵀ(R·v)‖ differs from ‖v‖ (pass an orthogonal matrix, "
                         "e.g. formats.hadamard(n) or formats.random_orthogonal(n, key=...))")
    return Ra


def random_orthogonal(n: int, *, key: Any, dtype: Any = None) -> Any:
    """A Haar-random n×n orthogonal matrix: the Q of a QR factorization of a standard normal
    matrix, its columns multiplied by the signs of R's diagonal (F. Mezzadri, "How to generate
    random matrices from the classical compact groups", Notices AMS 54, 2007). QuaRot
    (arXiv 2404.00456, Table 10 of the appendix) and SpinQuant (arXiv 2405.16406, §3) compare it
    with random Hadamard rotations.

    Args:
        n: the order (positive int).
        key: an int seed or ``numpy.random.Generator`` (NumPy result), or a JAX PRNG key (JAX).
        dtype: float dtype of the result (default float64; JAX's default float for a JAX key).

    Raises:
        ValueError: ``n`` not a positive int, a non-float ``dtype``.
        TypeError: a ``key`` of another kind.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    n = int(n)
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        key = np.random.default_rng(int(key))
    if isinstance(key, np.random.Generator):
        dt = np.dtype(dtype or np.float64)
        if dt.kind != "f":
            raise ValueError(f"dtype must be a float dtype, got {dt}")
        Q, R = np.linalg.qr(key.standard_normal((n, n)))
        return (Q * np.where(np.diag(R) < 0, -1.0, 1.0)).astype(dt)
    if backend_of(key) == "jax":
        import jax
        import jax.numpy as jnp

        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            dt = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
            if dt.kind != "f":
                raise ValueError(f"dtype must be a float dtype, got {dt}")
            Qj, Rj = jnp.linalg.qr(jax.random.normal(key, (n, n), dtype=dt))
            return Qj * jnp.where(jnp.diag(Rj) < 0, -1.0, 1.0).astype(dt)
    raise TypeError(f"key must be an int seed, a numpy.random.Generator or a JAX PRNG key, got {type(key).__name__}")


def smooth_scales(x: Any, weight: Any, *, alpha: float = 0.5, w_axis: int = -1, pow2: bool = False) -> Any:
    """SmoothQuant's per-input-channel smoothing factors s_j = max|X_j|^α / max|W_j|^(1−α)
    (Xiao et al., arXiv 2211.10438, Eq. 4; α = 0.5 is the paper's default for most models).

    Dividing activation channel j by s_j and multiplying the weights of input channel j by it
    (:func:`smooth`) leaves X·W unchanged and moves the activations' outlier channels into the
    weights, which quantize better per output channel.

    Args:
        x: calibration activations (..., K) — or their per-channel absolute maxima, shape (K,).
        weight: the weight matrix, K along ``w_axis`` (``-1`` for PyTorch's (out, in) layout,
            ``0`` for (K, N)).
        alpha: migration strength in [0, 1].
        w_axis: the input-channel axis of ``weight``.
        pow2: round every s_j to the nearest power of two (in log2), so that :func:`smooth`'s
            divisions and products are exact in binary floating point and the fold holds bit
            for bit.

    Returns:
        (K,) array of positive factors in x's array library and working precision (float32,
        float64 for float64 inputs). A channel whose activations or weights are all zero (or
        not finite) gets 1.

    Raises:
        ValueError: ``alpha`` outside [0, 1], mismatched K, a bad ``w_axis``.
        TypeError: non-float inputs.
    """
    x, xp, backend = _float_array(x, "x")
    w, _, _ = _float_array(weight, "weight")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if x.ndim < 1 or w.ndim != 2:
        raise ValueError(f"x must be (..., K) and weight 2-D, got shapes {tuple(x.shape)} and {tuple(w.shape)}")
    wa = _check_axis(w_axis, 2, "w_axis")
    K = x.shape[-1]
    if w.shape[wa] != K:
        raise ValueError(f"weight has {w.shape[wa]} input channels along w_axis={w_axis}, x has K = {K}")
    work = _work(x.dtype)
    ax = xp.abs(x.astype(work)).reshape(-1, K)
    aw = xp.abs(xp.moveaxis(w.astype(work), wa, -1)).reshape(-1, K)
    mx = xp.max(xp.where(xp.isfinite(ax), ax, 0), axis=0) if ax.shape[0] else xp.zeros(K, work)
    mw = xp.max(xp.where(xp.isfinite(aw), aw, 0), axis=0) if aw.shape[0] else xp.zeros(K, work)
    ok = (mx > 0) & (mw > 0)
    one = xp.ones((), work)
    a = xp.asarray(alpha, work)
    s = xp.where(ok, xp.where(ok, mx, one) ** a / xp.where(ok, mw, one) ** (1 - a), one)
    if pow2:
        s = xp.exp2(xp.round(xp.log2(s)))
    return s.astype(work)


def smooth(x: Any, weight: Any, scales: Any, *, w_axis: int = -1) -> tuple[Any, Any]:
    """Fold SmoothQuant factors: (X·diag(s)⁻¹, diag(s)·W) — x's last axis divided by s, the
    input channels of ``weight`` (along ``w_axis``) multiplied by it.

    Args:
        x: activations (..., K). weight: 2-D, K along ``w_axis``. scales: (K,) positive
            factors (:func:`smooth_scales`).

    Returns:
        ``(x_smoothed, weight_smoothed)`` in the inputs' dtypes and array library; their product
        equals x·W up to rounding (exactly, with power-of-two factors).

    Raises:
        ValueError: shapes that do not match, non-positive or non-finite factors (when
            concrete). TypeError: non-float inputs.
    """
    x, xp, backend = _float_array(x, "x")
    w, _, _ = _float_array(weight, "weight")
    if w.ndim != 2:
        raise ValueError(f"weight must be 2-D, got shape {tuple(w.shape)}")
    wa = _check_axis(w_axis, 2, "w_axis")
    K = x.shape[-1] if x.ndim else 0
    if w.shape[wa] != K:
        raise ValueError(f"weight has {w.shape[wa]} input channels along w_axis={w_axis}, x has K = {K}")
    from ..core._static import static_array

    s = static_array(scales, "scales", (K,), backend, "float64" if "float64" in (x.dtype.name, w.dtype.name)
                     and (backend == "numpy" or _x64()) else "float32", layout="x's last axis (K,)")
    xw, ww = _work(x.dtype), _work(w.dtype)
    xs = divide(x.astype(xw), s.astype(xw)).astype(x.dtype)
    sw = s if wa == 1 else s[:, None]
    ws = (w.astype(ww) * sw.astype(ww)).astype(w.dtype)
    return xs, ws


def _x64() -> bool:
    from ..core._backend import float64_available

    return float64_available("jax")
