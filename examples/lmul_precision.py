"""L-Mul's precision claim (Luo & Sun, arXiv 2410.00907, §3.3 / Fig. 3): multiplying with L-Mul
and a 4-bit mantissa is about as precise as rounding to float8_e4m3, and L-Mul with a 3-bit
mantissa beats float8_e5m2.

Over the same random operands (standard normal, float32) this script measures the mean
relative error against the exact product x·y of

* L-Mul with a 3- and a 4-bit mantissa (operands rounded to E8M3 / E8M4 — an 8-bit exponent,
  so that only the mantissa matters — then ``formats.lmul``, both variants),
* rounding the exact product x·y to float8_e4m3fn and float8_e5m2 (one rounding, RNE),
* a full FP8 multiply (operands and product rounded) for reference,

prints a table and saves ``lmul_precision.png`` (matplotlib, Agg) in the working directory.

Run: ``python examples/lmul_precision.py``  (a few seconds).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lowbit import formats  # noqa: E402

N = 200_000
E8M3 = formats.FloatFormat(8, 3, name="e8m3")   # 3-bit mantissa, float32's exponent range
E8M4 = formats.FloatFormat(8, 4, name="e8m4")   # 4-bit mantissa


def rel_err(approx, exact):
    return np.abs(approx.astype(np.float64) / exact - 1.0)


def main():
    rng = np.random.default_rng(2410_00907 % 2**32)
    x = rng.standard_normal(N).astype(np.float32)
    y = rng.standard_normal(N).astype(np.float32)
    exact = x.astype(np.float64) * y.astype(np.float64)
    keep = exact != 0
    x, y, exact = x[keep], y[keep], exact[keep]

    rows, errs, only = [], {}, {}

    def add(method, mantissa_bits, approx, note):
        e = rel_err(approx, exact)
        errs[method] = e
        rows.append({"method": method, "mantissa bits": mantissa_bits, "mean rel. error %": 100 * e.mean(),
                     "median %": 100 * np.median(e), "max %": 100 * e.max(), "note": note})

    for fmt in (E8M3, E8M4):
        m = fmt.mantissa_bits
        qx, qy = formats.encode(x, fmt), formats.encode(y, fmt)
        exact_rounded_ops = formats.decode(qx, "float64") * formats.decode(qy, "float64")
        for variant in ("bits", "formula"):
            approx = formats.lmul(qx, qy, fmt, variant=variant)
            add(f"L-Mul {variant}, {m}-bit mantissa", m, approx, f"operands rounded to E8M{m}")
            only[f"{variant}, m={m}"] = 100 * rel_err(approx, exact_rounded_ops).mean()
        add(f"exact multiply, {m}-bit operands", m, formats.quantize(exact_rounded_ops, fmt),
            f"operands and product rounded to E8M{m}")
    for name in ("float8_e4m3fn", "float8_e5m2"):
        fmt = formats.get(name)
        add(f"round(x·y) to {name}", fmt.mantissa_bits,
            formats.quantize(exact, name, overflow="saturate"), "one rounding of the exact product")
        fx = formats.quantize(x, name, overflow="saturate").astype(np.float64)
        fy = formats.quantize(y, name, overflow="saturate").astype(np.float64)
        add(f"{name} multiply", fmt.mantissa_bits, formats.quantize(fx * fy, name, overflow="saturate"),
            "operands and product rounded")

    table = pd.DataFrame(rows).set_index("method")
    with pd.option_context("display.width", 140, "display.max_columns", 10):
        print(f"Relative error against the exact product, {len(exact):,} random normal operand pairs\n")
        print(table.round(3).to_string())

    print("\nL-Mul's own approximation error (against the exact product of the rounded operands), "
          "mean %: " + ", ".join(f"{k} {v:.2f}" for k, v in only.items()))

    m = table["mean rel. error %"]
    print("\nThe paper's claims (arXiv 2410.00907 §3.3), on these operands:")
    for lm, fp8 in (("L-Mul bits, 4-bit mantissa", "float8_e4m3fn"), ("L-Mul bits, 3-bit mantissa", "float8_e5m2")):
        for base in (f"round(x·y) to {fp8}", f"{fp8} multiply"):
            verdict = "L-Mul is more precise" if m[lm] < m[base] else "L-Mul is less precise"
            print(f"  {lm:28s} {m[lm]:5.2f}%  vs  {base:28s} {m[base]:5.2f}%  -> {verdict}")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    order = ["L-Mul bits, 3-bit mantissa", "L-Mul bits, 4-bit mantissa", "L-Mul formula, 4-bit mantissa",
             "round(x·y) to float8_e4m3fn", "round(x·y) to float8_e5m2", "float8_e4m3fn multiply",
             "float8_e5m2 multiply"]
    m[order].plot.barh(ax=ax1, color=["C0", "C0", "C0", "C1", "C1", "C2", "C2"])
    ax1.invert_yaxis()
    ax1.set_xlabel("mean relative error (%)")
    ax1.set_title("L-Mul vs FP8 rounding, same operands")
    bins = np.linspace(0, 0.15, 61)
    for k in ("L-Mul bits, 3-bit mantissa", "L-Mul bits, 4-bit mantissa", "round(x·y) to float8_e4m3fn",
              "round(x·y) to float8_e5m2"):
        ax2.hist(errs[k], bins=bins, histtype="step", density=True, label=k)
    ax2.set_xlabel("relative error")
    ax2.set_ylabel("density")
    ax2.set_title("distribution of the relative error")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig("lmul_precision.png", dpi=120)
    print("\nsaved lmul_precision.png")
    return table


if __name__ == "__main__":
    main()
