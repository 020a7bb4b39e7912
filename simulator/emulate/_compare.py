"""``simulator.compare``: error metrics of an emulated result against a float64 reference."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Metrics", "compare", "softmax", "kl_divergence", "flip_rate"]


def as_real_array(x, name: str) -> np.ndarray:
    """``x`` (any array library, a list or a scalar) as a float64 NumPy array.

    Raises:
        TypeError: complex, string, object or datetime values (NumPy would drop an imaginary
            part with only a warning), naming ``name``.
    """
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists, unconvertible objects
        raise TypeError(f"{name} must be an array of real numbers: {exc}") from None
    if a.dtype.kind in "cOUSMm":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    return a.astype(np.float64)


@dataclasses.dataclass(frozen=True)
class Metrics:
    """Error of ``approx`` against ``reference`` (all float64 arithmetic).

    Attributes:
        n: number of elements.
        mse: mean squared error, mean((a − r)²).
        rmse: √mse.
        mean_abs_error: mean |a − r|.
        max_abs_error: max |a − r|.
        max_rel_error: max |a − r| / |r| over elements with r ≠ 0 (0 if none).
        sqnr_db: signal-to-quantization-noise ratio 10·log10(Σ r² / Σ (a − r)²) in dB (+inf
            for an exact result).
        cosine_similarity: Σ a·r / (‖a‖ ‖r‖) (1 when both are all zero, 0 when one is).
        kl_divergence: mean over rows of KL(softmax(reference) ‖ softmax(approx)) in nats,
            when a softmax axis was given (attention scores), else None.
        flip_rate: the fraction of rows (all positions but the arg-max axis, by default the
            last) whose arg-max changes — the "% flips" of the quantization papers' evaluations
            (Dutta et al., "Accuracy is Not All You Need", arXiv 2407.09141): for logits, the
            fraction of tokens whose top-1 prediction changes. None for 0-d inputs or
            ``flip_axis=None``.

    NaN or ±Inf in either input makes every metric NaN (except ``n``).
    """

    n: int
    mse: float
    rmse: float
    mean_abs_error: float
    max_abs_error: float
    max_rel_error: float
    sqnr_db: float
    cosine_similarity: float
    kl_divergence: float | None = None
    flip_rate: float | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def softmax(x, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float64 (−inf entries, e.g. masked, give 0)."""
    x = np.asarray(x, dtype=np.float64)
    mx = np.max(x, axis=axis, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    e = np.exp(x - mx)
    return e / np.sum(e, axis=axis, keepdims=True)


def kl_divergence(p, q, axis: int = -1) -> np.ndarray:
    """KL(p ‖ q) = Σ p (log p − log q) along ``axis`` (nats); terms with p = 0 are 0; q = 0
    where p > 0 gives +inf."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return np.sum(t, axis=axis)


def flip_rate(approx: ArrayLike, reference: ArrayLike, axis: int = -1) -> float:
    """The fraction of rows whose arg-max along ``axis`` differs between ``approx`` and
    ``reference`` (ties: the first maximum, as ``numpy.argmax``).

    Raises:
        ValueError: different shapes, empty inputs, an axis out of range.
    """
    a = as_real_array(approx, "approx")
    r = as_real_array(reference, "reference")
    if a.shape != r.shape or a.size == 0 or a.ndim == 0:
        raise ValueError(f"flip_rate needs two non-empty arrays of one shape with at least 1 dimension, got "
                         f"{a.shape} and {r.shape}")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or not -a.ndim <= axis < a.ndim:
        raise ValueError(f"axis must be an int in [{-a.ndim}, {a.ndim - 1}], got {axis!r}")
    return float(np.mean(np.argmax(a, axis=axis) != np.argmax(r, axis=axis)))


def compare(approx: ArrayLike, reference: ArrayLike, *, kl_axis: int | None = None, logits: bool = True,
            flip_axis: int | None = -1) -> Metrics:
    """Error metrics of ``approx`` against ``reference``.

    Args:
        approx: the emulated result (any array library; converted to float64 NumPy).
        reference: the reference (e.g. the float64 computation), same shape.
        kl_axis: if given, also the KL divergence along this axis (attention: the key axis),
            averaged over the other positions.
        logits: with ``kl_axis``: the inputs are scores and are softmaxed first (True), or are
            already probabilities (False).
        flip_axis: the axis of :attr:`Metrics.flip_rate` (default the last; None: not computed).

    Returns:
        :class:`Metrics`.

    Raises:
        ValueError: if the shapes differ, the inputs are empty, or ``kl_axis`` is out of range.
        TypeError: non-real inputs (complex, strings, objects) or a non-integer ``kl_axis``.
    """
    a = as_real_array(approx, "approx")
    r = as_real_array(reference, "reference")
    if a.shape != r.shape:
        raise ValueError(f"approx and reference must have the same shape, got {a.shape} and {r.shape}")
    if a.size == 0:
        raise ValueError("approx and reference are empty")
    kl = None
    if kl_axis is not None:
        if isinstance(kl_axis, (bool, np.bool_)) or not isinstance(kl_axis, (int, np.integer)):
            raise TypeError(f"kl_axis must be an int or None, got {type(kl_axis).__name__}")
        if not -a.ndim <= kl_axis < a.ndim:
            raise ValueError(f"kl_axis must be in [{-a.ndim}, {a.ndim - 1}] for {a.ndim}-D inputs, got {kl_axis}")
        p = softmax(r, kl_axis) if logits else r
        q = softmax(a, kl_axis) if logits else a
        kl = float(np.mean(kl_divergence(p, q, kl_axis)))
    flips = None
    if flip_axis is not None and a.ndim:
        flips = flip_rate(a, r, flip_axis)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(r))):
        nan = math.nan
        return Metrics(int(a.size), nan, nan, nan, nan, nan, nan, nan, kl if kl is None else nan,
                       flips if flips is None else nan)
    d = a - r
    mse = float(np.mean(d * d))
    sig = float(np.sum(r * r))
    noise = float(np.sum(d * d))
    if noise == 0:
        sqnr = math.inf
    elif sig == 0:
        sqnr = -math.inf
    else:
        sqnr = 10 * math.log10(sig / noise)
    na, nr = float(np.linalg.norm(a)), float(np.linalg.norm(r))
    if na == 0 and nr == 0:
        cos = 1.0
    elif na == 0 or nr == 0:
        cos = 0.0
    else:
        cos = min(max(float(np.sum(a * r) / (na * nr)), -1.0), 1.0)  # clip rounding past ±1
    nz = r != 0
    rel = float(np.max(np.abs(d[nz]) / np.abs(r[nz]))) if np.any(nz) else 0.0
    return Metrics(int(a.size), mse, math.sqrt(mse), float(np.mean(np.abs(d))), float(np.max(np.abs(d))), rel,
                   sqnr, cos, kl, flips)
