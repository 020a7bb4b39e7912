"""Matplotlib helpers: a format's value grid and the error histogram of a tensor.

matplotlib is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .core._codec import quantize, values
from .core._records import Format
from .core._registry import resolve

__all__ = ["plot_value_grid", "plot_error_histogram", "plot_error_analysis"]


def _label(fmt) -> str:
    """The format's name, or a short description for an unnamed record."""
    return getattr(fmt, "name", "") or type(fmt).__name__


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


def plot_value_grid(fmts: Format | str | list | tuple, ax: Any = None, *, positive_only: bool = True,
                    max_points: int = 4096, **kwargs: Any) -> Any:
    """Plot the finite values of one or more formats (element values of block formats, levels of
    codebooks: scale 1) as ticks on a symmetric-log axis, one row per format.

    Args:
        fmts: a format record or name, or a list of them.
        ax: matplotlib Axes to draw on (default: a new figure).
        positive_only: show only the values >= 0.
        max_points: formats with more distinct values are subsampled evenly.
        **kwargs: passed to ``Axes.vlines``.

    Returns:
        The Axes.

    Raises:
        ValueError: for formats with more than 2**24 codes (as :func:`formats.values`).
    """
    if isinstance(fmts, (list, tuple)):
        fl = [resolve(f) for f in fmts]
    else:
        fl = [resolve(fmts)]
    ax = _axes(ax)
    kwargs.setdefault("linewidth", 0.8)
    lin = None
    top = 0.0
    for row, fmt in enumerate(fl):
        v = np.asarray(values(fmt), dtype=np.float64)
        v = np.unique(v[np.isfinite(v)])
        if positive_only:
            v = v[v >= 0]
        if v.size > max_points:
            v = v[np.linspace(0, v.size - 1, max_points).astype(int)]
        ax.vlines(v, row - 0.35, row + 0.35, **kwargs)
        pos = v[v > 0]
        if pos.size:
            lin = float(pos.min()) if lin is None else min(lin, float(pos.min()))
            top = max(top, float(pos.max()))
    ax.set_yticks(range(len(fl)))
    ax.set_yticklabels([_label(f) for f in fl])
    ax.set_xscale("symlog", linthresh=lin or 1.0)
    if positive_only:
        ax.set_xlim(left=0, right=top * 1.25 if top else None)
    ax.set_xlabel("representable value (scale 1)")
    ax.set_title("value grid")
    return ax


def plot_error_histogram(x: ArrayLike, fmt: Format | str, ax: Any = None, *, bins: int = 100, relative: bool = False,
                         **opts: Any) -> Any:
    """Histogram of the quantization error q(x) − x (or (q(x) − x)/|x| with ``relative``) of
    the finite elements of ``x``.

    Args:
        x: float array.
        fmt: a format record or name.
        ax: Axes to draw on (default: a new figure).
        bins: number of bins.
        relative: plot the relative error (over x ≠ 0).
        **opts: options of :func:`formats.quantize`.

    Returns:
        The Axes.
    """
    fmt = resolve(fmt)
    ax = _axes(ax)
    xa = np.asarray(x)
    q = np.asarray(quantize(xa, fmt, **opts), dtype=np.float64)
    xd = xa.astype(np.float64)
    ok = np.isfinite(xd) & np.isfinite(q)
    err = (q - xd)[ok]
    if relative:
        nz = xd[ok] != 0
        err = err[nz] / np.abs(xd[ok][nz])
    ax.hist(err, bins=bins, histtype="stepfilled", alpha=0.6, label=_label(fmt))
    ax.set_xlabel("relative error" if relative else "error q(x) − x")
    ax.set_ylabel("count")
    ax.set_title("error histogram")
    ax.legend()
    return ax


def plot_error_analysis(x: ArrayLike, fmt: Format | str, *, bins: int = 100, **opts: Any) -> Any:
    """A two-panel figure: the value grid of ``fmt`` and the error histogram of ``x`` (log
    counts), titled with :func:`formats.error_stats` (SQNR, clipped and flushed fractions).

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    from ._error import error_stats

    fmt = resolve(fmt)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.5), layout="constrained")
    plot_value_grid(fmt, a1)
    plot_error_histogram(x, fmt, a2, bins=bins, **opts)
    a2.set_yscale("log")
    st = error_stats(x, fmt, **opts)
    fig.suptitle(f"{_label(fmt)}: SQNR {st.sqnr_db:.1f} dB, clipped {st.frac_clipped:.2%}, "
                 f"flushed {st.frac_flushed:.2%}")
    return fig
