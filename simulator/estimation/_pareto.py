"""``pareto``: the non-dominated rows of a table (a sweep), and ``plot_pareto``: a scatter plot
whose points are labelled with their format pair, labels placed so that none overlaps another.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["pareto", "plot_pareto", "LABEL_GID"]

#: ``gid`` of the text artists :func:`plot_pareto` adds as point labels (to find them again)
LABEL_GID = "lowbit-pareto-label"


def _columns(df, names, param):
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"{param} must name columns (str), got {type(n).__name__}")
        if n not in df.columns:
            raise ValueError(f"{param}: no column {n!r}; columns: {', '.join(map(str, df.columns))}")


def pareto(df: pd.DataFrame, x: str, y: str, *, maximize: str | Sequence[str] = (),
           by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """The Pareto-optimal rows of ``df``: those no other row beats in both ``x`` and ``y``.

    A row is dominated when another row is at least as good in both columns and strictly better
    in one ("good" is smaller, unless the column is in ``maximize``). Rows with NaN in ``x`` or
    ``y`` (for example infeasible sweep points) are never on the front. Rows that tie exactly
    are all kept.

    Args:
        df: a pandas DataFrame, e.g. the result of :func:`simulator.sweep` (joined with an error
            measure).
        x, y: the two columns to trade off (numbers).
        maximize: a column name or names among ``x``, ``y`` where larger is better (e.g. an
            SQNR in dB); by default both are minimised (seconds, energy, error).
        by: a column name or names: one front per group (e.g. per ``"hardware"``).

    Returns:
        The Pareto-optimal rows (a DataFrame with ``df``'s columns and index), sorted by ``x``
        (and by the ``by`` columns first when given).

    Raises:
        TypeError: ``df`` is not a DataFrame, or a column name is not a str.
        ValueError: a named column does not exist, ``x`` equals ``y``, a ``maximize`` entry is
            neither ``x`` nor ``y``, or ``x``/``y`` is not numeric.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    _columns(df, (x, y), "x, y")
    if x == y:
        raise ValueError(f"x and y must be different columns, both are {x!r}")
    maxi = (maximize,) if isinstance(maximize, str) else tuple(maximize)
    _columns(df, maxi, "maximize")
    bad = [m for m in maxi if m not in (x, y)]
    if bad:
        raise ValueError(f"maximize must name x ({x!r}) or y ({y!r}), got {bad[0]!r}")
    groups = () if by is None else (by,) if isinstance(by, str) else tuple(by)
    _columns(df, groups, "by")
    for c in (x, y):
        if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]):
            raise ValueError(f"column {c!r} must be numeric, got dtype {df[c].dtype}")
    if groups:
        parts = [pareto(g, x, y, maximize=maxi) for _, g in df.groupby(list(groups), sort=True)]
        return pd.concat(parts) if parts else df.iloc[:0]
    xs = df[x].to_numpy(dtype=np.float64) * (-1.0 if x in maxi else 1.0)
    ys = df[y].to_numpy(dtype=np.float64) * (-1.0 if y in maxi else 1.0)
    ok = np.flatnonzero(~(np.isnan(xs) | np.isnan(ys)))
    order = ok[np.lexsort((ys[ok], xs[ok]))]
    keep, best_y, best_x = [], math.inf, None
    for i in order:  # sorted by x, then y: a row is dominated only by rows before it
        if ys[i] < best_y:
            best_y, best_x = ys[i], xs[i]
            keep.append(i)
        elif ys[i] == best_y and xs[i] == best_x:  # an exact tie with the row that set best_y
            keep.append(i)
    return df.iloc[keep]


def _default_hue(df):
    if "hardware" in df.columns and df["hardware"].nunique() > 1:
        return "hardware"
    return None


def plot_pareto(df: pd.DataFrame, x: str, y: str, *, label: str | Sequence[str] = ("weights", "activations"),
                hue: str | None = "auto", maximize: str | Sequence[str] = (), ax: Any = None,
                path: str | os.PathLike | None = None, title: str | None = None, logx: bool | None = None,
                logy: bool | None = None, label_all: bool = True) -> Any:
    """Scatter ``y`` against ``x``, mark the Pareto front, and label the points with their
    format pair — no two labels overlap.

    Labels are placed greedily, Pareto-optimal points first: each tries eight positions around
    its point at two distances and takes the first that overlaps no label placed before it and
    no marker; a point with no free position stays unlabelled (the front is labelled first, so
    it loses labels last). Columns of ``label`` that hold one value for every row are not
    repeated on each point: they go into the title.

    Args:
        df: a DataFrame (a sweep, possibly joined with error measures).
        x, y: the columns to plot; the front minimises both unless named in ``maximize``.
        label: the column or columns whose values label each point (default the format pair,
            ``("weights", "activations")``); columns missing from ``df`` are ignored.
        hue: a column to colour the points by, None for one colour, or ``"auto"`` (default):
            ``"hardware"`` when it has several values.
        maximize: as in :func:`pareto`.
        ax: a matplotlib Axes to draw into; None makes a new Figure (no pyplot state).
        path: save the figure there (PNG, SVG, PDF by extension).
        title: the axes title; the label columns that hold one value are appended to it.
        logx, logy: log axes; None (default): log when the values are positive and span more
            than two decades.
        label_all: label every point that has room (default); False labels only the front.

    Returns:
        The matplotlib Figure.

    Raises:
        TypeError, ValueError: as :func:`pareto`; ``hue`` or ``label`` names a column that does
            not exist.
    """
    import numpy as np

    front = pareto(df, x, y, maximize=maximize)  # validates df, x, y, maximize
    labels = [label] if isinstance(label, str) else list(label)
    labels = [c for c in labels if c in df.columns]
    if hue == "auto":
        hue = _default_hue(df)
    if hue is not None:
        _columns(df, (hue,), "hue")
    data = df[df[[x, y]].notna().all(axis=1)]
    varying = [c for c in labels if data[c].nunique() > 1]
    constant = [c for c in labels if c not in varying and len(data)]
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8.5, 5.5))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    groups = [(None, data)] if hue is None else list(data.groupby(hue, sort=False))
    for key, g in groups:
        ax.scatter(g[x], g[y], s=28, alpha=0.8, label=None if key is None else str(key), zorder=2)
    fr = front.sort_values(x)
    ax.plot(fr[x], fr[y], "k--", lw=1, zorder=1)
    ax.scatter(fr[x], fr[y], s=110, facecolors="none", edgecolors="k", lw=1.2, zorder=3,
               label="Pareto front")

    def _log(col, flag):
        if flag is not None:
            return flag
        v = data[col].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        return bool(v.size and (v > 0).all() and v.max() / v.min() > 100)

    if _log(x, logx):
        ax.set_xscale("log")
    if _log(y, logy):
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(True, which="both", alpha=0.3)
    if constant:  # a label column with one value for every point: said once, in the title
        same = ", ".join(f"{c} {data[c].iloc[0]}" for c in constant)
        title = f"{title}; {same}" if title else same
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    if varying:
        on_front = data.index.isin(front.index)
        order = [i for i in range(len(data)) if on_front[i]]
        if label_all:
            order += [i for i in range(len(data)) if not on_front[i]]
        text = data[varying].astype(str).agg(" · ".join, axis=1).to_numpy()
        xs, ys = data[x].to_numpy(), data[y].to_numpy()
        _place_labels(ax, [(text[i], xs[i], ys[i]) for i in order])
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


#: label offsets tried around a point, in points: (dx, dy, horizontal, vertical alignment)
_OFFSETS = [(6, 4, "left", "bottom"), (6, -4, "left", "top"), (-6, 4, "right", "bottom"),
            (-6, -4, "right", "top"), (0, 8, "center", "bottom"), (0, -8, "center", "top"),
            (9, 0, "left", "center"), (-9, 0, "right", "center")]


def _renderer(fig):
    canvas = fig.canvas
    if not hasattr(canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
    return canvas.get_renderer()


def _place_labels(ax, items, *, fontsize: float = 7.0) -> int:
    """Add the labels ``(text, x, y)`` in order where each overlaps nothing placed before it.

    Returns the number of labels placed.
    """
    from matplotlib.text import Text

    fig = ax.figure
    fig.tight_layout()  # the final layout, so that the boxes measured here stay valid
    renderer = _renderer(fig)
    trans = ax.transData
    # markers are obstacles too: a box of the marker's size around every point
    pts = [trans.transform((px, py)) for _, px, py in items]
    r = 4.0 * fig.dpi / 72.0
    taken = [(px - r, py - r, px + r, py + r) for px, py in pts]
    legend = ax.get_legend()
    if legend is not None:  # the legend is an obstacle too
        lb = legend.get_window_extent(renderer)
        taken.append((lb.x0, lb.y0, lb.x1, lb.y1))
    axbox = ax.get_window_extent(renderer)
    placed = 0
    for (text, px, py), _ in zip(items, pts, strict=True):
        for scale in (1.0, 2.2):
            for dx, dy, ha, va in _OFFSETS:
                far = scale > 1  # away from its point: a leader line says whose label it is
                t = ax.annotate(text, (px, py), xytext=(dx * scale, dy * scale),
                                textcoords="offset points", ha=ha, va=va, fontsize=fontsize,
                                gid=LABEL_GID, zorder=4,
                                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.7),
                                arrowprops=dict(arrowstyle="-", lw=0.5, color="0.4", shrinkA=0,
                                                shrinkB=2) if far else None)
                t.update_positions(renderer)
                bb = Text.get_window_extent(t, renderer)  # the text alone, not its leader line
                box = (bb.x0, bb.y0, bb.x1, bb.y1)
                inside = (bb.x0 >= axbox.x0 and bb.x1 <= axbox.x1 and bb.y0 >= axbox.y0
                          and bb.y1 <= axbox.y1)
                if inside and not any(_overlap(box, o) for o in taken):
                    taken.append(box)
                    placed += 1
                    break
                t.remove()
            else:
                continue
            break
    return placed


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
