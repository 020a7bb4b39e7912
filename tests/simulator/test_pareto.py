"""``simulator.pareto`` against a brute-force dominance check, and ``simulator.plot_pareto``:
points labelled with their format pair, no two labels overlapping."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowbit import simulator
from lowbit.simulator.estimation._pareto import LABEL_GID


def _brute(df, x, y, maxi=()):
    sx = -1.0 if x in maxi else 1.0
    sy = -1.0 if y in maxi else 1.0
    keep = []
    for i, r in df.iterrows():
        if np.isnan(r[x]) or np.isnan(r[y]):
            continue
        dominated = any(
            (sx * o[x] <= sx * r[x]) and (sy * o[y] <= sy * r[y])
            and ((sx * o[x] < sx * r[x]) or (sy * o[y] < sy * r[y]))
            for j, o in df.iterrows() if j != i and not (np.isnan(o[x]) or np.isnan(o[y])))
        if not dominated:
            keep.append(i)
    return set(keep)


values = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 3.0, np.nan]), st.floats(-5, 5))


@settings(max_examples=60)
@given(st.lists(st.tuples(values, values), min_size=0, max_size=25),
       st.sampled_from([(), ("a",), ("b",), ("a", "b")]))
def test_pareto_matches_brute_force(points, maxi):
    df = pd.DataFrame(points, columns=["a", "b"], dtype=float)
    got = simulator.pareto(df, "a", "b", maximize=maxi)
    assert set(got.index) == _brute(df, "a", "b", maxi)
    assert list(got["a"] * (-1 if "a" in maxi else 1)) == sorted(got["a"] * (-1 if "a" in maxi else 1))


def test_pareto_by_group_and_ties():
    df = pd.DataFrame({"hw": ["p", "p", "p", "q", "q"], "t": [1, 1, 2, 5, 6],
                       "e": [2, 2, 1, 9, 8]}, index=[10, 11, 12, 13, 14])
    assert set(simulator.pareto(df, "t", "e").index) == {10, 11, 12}  # exact ties are kept
    assert set(simulator.pareto(df, "t", "e", by="hw").index) == {10, 11, 12, 13, 14}


@pytest.mark.parametrize("kw, exc, words", [
    (dict(x="nope", y="e"), ValueError, "no column 'nope'"),
    (dict(x="t", y="t"), ValueError, "different columns"),
    (dict(x="t", y="e", maximize="hw"), ValueError, "maximize must name x"),
    (dict(x="hw", y="e"), ValueError, "must be numeric"),
    (dict(x=1, y="e"), TypeError, "must name columns"),
])
def test_pareto_rejects_bad_arguments(kw, exc, words):
    df = pd.DataFrame({"hw": ["p"], "t": [1.0], "e": [2.0]})
    with pytest.raises(exc, match=words):
        simulator.pareto(df, **kw)
    with pytest.raises(TypeError, match="DataFrame"):
        simulator.pareto([[1, 2]], "t", "e")


def _sweep():
    return simulator.sweep("llama2-7b-decode", ["h100", "tmac", "systolic-128x128"],
                           ["bfloat16", "int8", "mxfp4", "nvfp4", "int4"], ["float8_e4m3fn", "int8"],
                           progress=False)


def _labels(fig):
    from lowbit.simulator.estimation._pareto import _renderer

    ax = fig.axes[0]
    renderer = _renderer(fig)
    from matplotlib.text import Text

    out = []
    for t in ax.texts:
        if t.get_gid() == LABEL_GID:
            t.update_positions(renderer)
            out.append((t.get_text(), t.xy, Text.get_window_extent(t, renderer)))
    return out


def test_plot_pareto_labels_points_with_their_format_pair_without_overlap():
    df = _sweep()
    df["J"] = df["energy_pj"] * 1e-12
    fig = simulator.plot_pareto(df, "seconds", "J")
    labels = _labels(fig)
    assert len(labels) >= len(df) // 2
    pairs = {f"{w} · {a}" for w, a in zip(df["weights"], df["activations"], strict=True)}
    for text, (px, py), _ in labels:
        assert text in pairs
        row = df[(df["seconds"] == px) & (df["J"] == py)]
        assert any(f"{w} · {a}" == text for w, a in zip(row["weights"], row["activations"], strict=True))
    for (_, _, a), (_, _, b) in itertools.combinations(labels, 2):
        assert not (a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1), "labels overlap"
    # every Pareto-optimal point is labelled
    front = simulator.pareto(df, "seconds", "J")
    labelled = {(px, py) for _, (px, py), _ in labels}
    assert all((r.seconds, r.J) in labelled for r in front.itertuples())


def test_plot_pareto_constant_label_columns_go_to_the_title(tmp_path):
    df = _sweep()
    one = df[df["activations"] == "int8"]
    fig = simulator.plot_pareto(one, "seconds", "energy_pj", title="decode", path=tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert fig.axes[0].get_title() == "decode; activations int8"
    assert {t for t, _, _ in _labels(fig)} <= set(one["weights"])
    with pytest.raises(ValueError, match="hue"):
        simulator.plot_pareto(one, "seconds", "energy_pj", hue="colour")


def test_plot_pareto_label_all_false_labels_only_the_front():
    df = _sweep()
    fig = simulator.plot_pareto(df, "seconds", "energy_pj", label_all=False)
    front = simulator.pareto(df, "seconds", "energy_pj")
    assert len(_labels(fig)) == len(front)
