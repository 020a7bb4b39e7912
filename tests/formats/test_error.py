"""error_stats / error_table (known answers on hand-checked inputs) and the plotting helpers
(headless, Agg)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

from lowbit import formats

matplotlib.use("Agg")


def test_exact_input_has_no_error():
    x = np.array([0.5, -1.0, 448.0, 0.0], np.float32)
    st = formats.error_stats(x, "float8_e4m3fn")
    assert st.mse == 0 and st.sqnr_db == math.inf and st.max_abs_error == 0 and st.max_rel_error == 0
    assert st.frac_clipped == 0 and st.frac_flushed == 0 and st.count == 4


def test_saturation_and_flush_known_answers():
    # E4M3 (OFP8 v1.0): max 448, smallest subnormal 2^-9; 1000 saturates (552 off), 1e-6 flushes
    x = np.array([1000.0, 1.0, 1e-6], np.float32)
    st = formats.error_stats(x, "float8_e4m3fn", overflow="saturate")
    xe = x.astype(np.float64)
    err = np.array([448.0, 1.0, 0.0]) - xe
    assert st.frac_clipped == pytest.approx(1 / 3) and st.frac_flushed == pytest.approx(1 / 3)
    assert st.mse == pytest.approx(np.mean(err ** 2), rel=1e-12)
    assert st.max_abs_error == 552.0 and st.max_rel_error == pytest.approx(1.0)
    assert st.sqnr_db == pytest.approx(10 * math.log10(np.sum(xe ** 2) / np.sum(err ** 2)), rel=1e-12)
    # natural overflow of E4M3 is NaN: counted as clipped, infinite error
    st = formats.error_stats(x, "float8_e4m3fn")
    assert st.frac_clipped == pytest.approx(1 / 3) and st.mse == math.inf and st.sqnr_db == -math.inf


def test_block_clipping_depends_on_the_scale_rule():
    # MXFP4 block with amax 7: FLOOR scale 1 → 7 saturates to 6 (one clipped element);
    # RCEIL scale 2 → nothing clips (references.md example)
    import dataclasses

    x = np.zeros(32, np.float32)
    x[0], x[1] = 7.0, 1.0
    assert formats.error_stats(x, "mxfp4").frac_clipped == pytest.approx(1 / 32)
    rceil = dataclasses.replace(formats.get("mxfp4"), scale_rule="rceil")
    assert formats.error_stats(x, rceil).frac_clipped == 0
    # NF4's absmax scale puts the block maximum on the level ±1: nothing clips
    y = np.linspace(-3, 5, 100).astype(np.float32)
    assert formats.error_stats(y, formats.get("nf4")).frac_clipped == 0
    # an asymmetric INT4 grid with a rounded zero point tops out at (15 − 6)·8/15 = 4.8 < 5
    st = formats.error_stats(y, formats.ScaledIntFormat(formats.get("uint4"), symmetric=False))
    assert st.frac_clipped == pytest.approx(np.mean(y > np.float32(9) * (np.float32(8) / np.float32(15))))


def test_nonfinite_inputs_are_excluded_and_validation():
    st = formats.error_stats(np.array([np.nan, 1.0, np.inf], np.float32), "bfloat16")
    assert st.count == 1 and st.mse == 0
    with pytest.raises(ValueError, match="finite"):
        formats.error_stats(np.array([np.nan], np.float32), "bfloat16")


def test_error_table():
    x = np.random.default_rng(0).standard_normal(4096).astype(np.float32)
    df = formats.error_table(x, ["mxfp8_e4m3", "mxfp4", "nvfp4", "nf4", "int8"])
    assert list(df["format"]) == ["mxfp8_e4m3", "mxfp4", "nvfp4", "nf4", "int8"]
    sq = dict(zip(df["format"], df["sqnr_db"], strict=True))
    # more bits, less noise; NVFP4's finer E4M3 scales over 16 values beat MXFP4's E8M0 over 32
    assert sq["mxfp8_e4m3"] > sq["nvfp4"] + 5 and sq["nvfp4"] > sq["mxfp4"]
    assert set(df.columns) >= {"mse", "sqnr_db", "max_abs_error", "max_rel_error", "frac_clipped", "frac_flushed"}


def test_plotting_helpers():
    from lowbit.formats import plotting

    x = np.random.default_rng(1).standard_normal(2000).astype(np.float32)
    fig = plotting.plot_error_analysis(x, "mxfp4")
    assert len(fig.axes) == 2 and "mxfp4" in fig._suptitle.get_text()
    ax = plotting.plot_value_grid(["float8_e4m3fn", "mxfp4", "nf4", "posit8"] if "posit8" in formats.names()
                                  else ["float8_e4m3fn", "mxfp4", "nf4"])
    assert [t.get_text() for t in ax.get_yticklabels()][:3] == ["float8_e4m3fn", "mxfp4", "nf4"]
    ax = plotting.plot_error_histogram(x, "nvfp4", relative=True, bins=20)
    assert ax.get_xlabel() == "relative error"
    import matplotlib.pyplot as plt

    plt.close("all")
