"""Quantization error analysis: :func:`error_stats` and :func:`error_table`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .core._codec import decode, encode, quantize
from .core._options import check_float_input
from .core._qarray import QArray
from .core._records import FloatFormat, Format, IntFormat
from .core._registry import resolve

__all__ = ["ErrorStats", "error_stats", "error_table"]


@dataclasses.dataclass(frozen=True)
class ErrorStats:
    """Error of quantizing an array to a format (all over the finite input elements).

    Attributes:
        format: name (or repr) of the format.
        count: number of finite input elements.
        mse: mean squared error, mean((q − x)²) (inf when a finite input became non-finite).
        sqnr_db: signal-to-quantization-noise ratio 10·log10(Σx² / Σ(q − x)²) in dB; +inf for
            no error, −inf for an all-zero input with error.
        max_abs_error: max |q − x|.
        max_rel_error: max |q − x| / |x| over x ≠ 0 (0 if there is none).
        frac_clipped: fraction of inputs outside the range the format (its block, with its
            scale) can represent — saturated, or overflowed to Inf/NaN.
        frac_flushed: fraction of inputs that are non-zero but quantize to zero.
    """

    format: str
    count: int
    mse: float
    sqnr_db: float
    max_abs_error: float
    max_rel_error: float
    frac_clipped: float
    frac_flushed: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _limits(x, fmt, opts):
    """(upper, lower) representable limits per element (float64 arrays), or None if unknown."""
    from .block._block import BlockFormat
    from .block._codebook import CodebookFormat
    from .block._scaled import ScaledIntFormat

    if isinstance(fmt, FloatFormat):
        return np.full(x.shape, float(fmt.max)), np.full(x.shape, float(fmt.min))
    if isinstance(fmt, IntFormat):
        return np.full(x.shape, float(fmt.max)), np.full(x.shape, float(fmt.min))
    if isinstance(fmt, (BlockFormat, ScaledIntFormat, CodebookFormat)):
        q = encode(x, fmt, **opts)
        codes = np.asarray(q.codes)
        if isinstance(fmt, BlockFormat):
            e = fmt.element
            top = e.max_code if isinstance(e, FloatFormat) else e.max
            bot = (top | e.sign_mask) if isinstance(e, FloatFormat) else (e.min + (1 << e.bits))
        elif isinstance(fmt, ScaledIntFormat):
            e = fmt.element
            top, bot = e.max, (e.min + (1 << e.bits)) % (1 << e.bits)
        else:
            top, bot = len(fmt.levels) - 1, 0
        out = []
        for c in (top, bot):
            qc = QArray(codes=np.full(codes.shape, c, dtype=codes.dtype), format=q.format, shape=q.shape,
                        scales=q.scales, tensor_scale=q.tensor_scale, axis=q.axis, meta=q.meta)
            out.append(np.asarray(decode(qc, dtype=np.float64), dtype=np.float64))
        return out[0], out[1]
    mx = getattr(fmt, "max", None)
    if mx is None:
        return None
    mn = getattr(fmt, "min", -float(mx))
    return np.full(x.shape, float(mx)), np.full(x.shape, float(mn))


def error_stats(x: ArrayLike, fmt: Format | str, **opts: Any) -> ErrorStats:
    """Quantize ``x`` to ``fmt`` and measure the error.

    Args:
        x: float array (NumPy or JAX; JAX arrays are copied to NumPy).
        fmt: a format record or registered name.
        **opts: options of :func:`formats.quantize` (rounding, overflow, axis, key, ...).

    Returns:
        :class:`ErrorStats` (float64 arithmetic). Non-finite inputs are excluded; a finite input
        that quantizes to ±Inf/NaN counts as clipped and makes ``mse``/``max_abs_error`` inf.

    Raises:
        ValueError: if ``x`` holds no finite element, or for bad options.
    """
    fmt = resolve(fmt)
    xa = check_float_input(x, "numpy") if not hasattr(x, "dtype") else np.asarray(x)
    q = np.asarray(quantize(xa, fmt, **opts), dtype=np.float64)
    xd = xa.astype(np.float64)
    fin = np.isfinite(xd)
    n = int(fin.sum())
    if n == 0:
        raise ValueError("x must hold at least one finite element")
    xf, qf = xd[fin], q[fin]
    bad = ~np.isfinite(qf)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(bad, np.inf, qf - xf)
        ae = np.abs(err)
        mse = float(np.mean(ae * ae))
        sig = float(np.sum(xf * xf))
        noise = float(np.sum(ae * ae))
    if noise == 0:
        sqnr = math.inf
    elif sig == 0:
        sqnr = -math.inf
    else:
        sqnr = 10.0 * math.log10(sig / noise) if math.isfinite(noise) else -math.inf
    nz = xf != 0
    max_rel = float(np.max(ae[nz] / np.abs(xf[nz]))) if nz.any() else 0.0
    flushed = int(np.sum(nz & (qf == 0)))
    lim = _limits(xa, fmt, opts)
    if lim is None:
        clipped = int(bad.sum())
    else:
        up, lo = lim
        upf, lof = up[fin], lo[fin]
        clipped = int(np.sum(bad | (xf > upf) | (xf < lof)))
    return ErrorStats(format=str(fmt), count=n, mse=mse, sqnr_db=sqnr, max_abs_error=float(ae.max()),
                      max_rel_error=max_rel, frac_clipped=clipped / n, frac_flushed=flushed / n)


def error_table(x: ArrayLike, fmts: Iterable[Format | str], **opts: Any) -> Any:
    """:func:`error_stats` of ``x`` for each format in ``fmts``, as a pandas DataFrame (one row
    per format, columns as :class:`ErrorStats`)."""
    import pandas as pd

    return pd.DataFrame([error_stats(x, f, **opts).as_dict() for f in fmts])
