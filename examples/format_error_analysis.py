"""Error analysis of block, scaled and codebook formats on a weight-like tensor.

A Student-t(4) "weight matrix" with a few large outliers (as LLM weights have) is quantized to
FP8, MXFP8, MXFP6, MXFP4 (FLOOR and RCEIL scale rules), NVFP4 (one and two scale levels), NF4,
INT4 with a float16 scale per group of 32, and BitNet's ternary format. The script

* prints ``formats.error_table`` — MSE, SQNR, max abs/rel error, clipped and flushed fractions —
  next to the storage cost in bits per element (scales included),
* saves ``format_error_analysis.png``: the value grids of the element formats
  (``formats.plotting.plot_value_grid``) and the error histograms of the 4-bit formats
  (``formats.plotting.plot_error_histogram``), and
* saves ``mxfp4_error_analysis.png`` (``formats.plotting.plot_error_analysis``).

Run: ``python examples/format_error_analysis.py`` (a few seconds, headless).
"""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lowbit import formats  # noqa: E402
from lowbit.formats import plotting  # noqa: E402


def weights(seed=0, shape=(512, 1024)):
    rng = np.random.default_rng(seed)
    w = rng.standard_t(df=4, size=shape) * 0.02
    rows = rng.integers(0, shape[0], 8)  # a few outlier weights, 50x the typical size
    w[rows, rng.integers(0, shape[1], 8)] *= 50
    return w.astype(np.float32)


def main():
    w = weights()
    mxfp4 = formats.get("mxfp4")
    nvfp4 = formats.get("nvfp4")
    candidates = {
        "float8_e4m3fn": "float8_e4m3fn",
        "mxfp8_e4m3": "mxfp8_e4m3",
        "mxfp6_e2m3": "mxfp6_e2m3",
        "mxfp4 (floor)": mxfp4,
        "mxfp4 (rceil)": dataclasses.replace(mxfp4, scale_rule="rceil"),
        "nvfp4 (two-level)": nvfp4,
        "nvfp4 (one-level)": dataclasses.replace(nvfp4, tensor_scale=None),
        "nf4": "nf4",
        "int4, fp16 scale / 32": formats.ScaledIntFormat(formats.get("int4"), "group", 32,
                                                         scale=formats.get("float16"), name="int4_g32"),
        "ternary (BitNet b1.58)": "ternary_absmean",
    }
    rows = []
    for label, f in candidates.items():
        st = formats.error_stats(w, f)
        fmt = formats.get(f) if isinstance(f, str) else f
        rows.append({"format": label, "bits/element": fmt.bits_per_element, **{
            k: v for k, v in st.as_dict().items() if k not in ("format", "count")}})
    table = pd.DataFrame(rows).set_index("format")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round({"bits/element": 3, "mse": 9, "sqnr_db": 2, "max_abs_error": 5,
                           "max_rel_error": 3, "frac_clipped": 5, "frac_flushed": 4}))

    fig, axes = plt.subplots(1, 3, figsize=(16, 4), gridspec_kw={"width_ratios": [1.3, 1, 1]},
                             layout="constrained")
    plotting.plot_value_grid(["float4_e2m1fn", "float6_e2m3fn", "nf4", "int4"], axes[0])
    axes[0].set_title("value grids (scale 1)")
    bins = np.linspace(-0.02, 0.02, 161)
    for f in ("mxfp4", "nvfp4"):
        plotting.plot_error_histogram(w, f, axes[1], bins=bins)
    for f in ("nf4",):
        plotting.plot_error_histogram(w, f, axes[2], bins=bins)
    plotting.plot_error_histogram(w, candidates["int4, fp16 scale / 32"], axes[2], bins=bins)
    for ax in axes[1:]:
        ax.set_yscale("log")
    fig.savefig("format_error_analysis.png", dpi=100)
    fig = plotting.plot_error_analysis(w, "mxfp4")
    fig.savefig("mxfp4_error_analysis.png", dpi=100)
    plt.close("all")
    print("saved format_error_analysis.png and mxfp4_error_analysis.png")
    return table


if __name__ == "__main__":
    main()
