"""Bench suite "thresholds": where the Numba kernels overtake the NumPy vectorized code.

One case per entry of ``formats.backend.NUMBA_THRESHOLDS`` (the table cites these cases). Each
is timed on both sides at a quarter of, at, and at four times the threshold (``scale`` < 1
shrinks the sizes), with ``formats.backend.numba_policy`` forcing the side:

* ``codec``: ``formats.quantize`` of float32 values to float8_e4m3fn — vectorized vs Numba;
* ``lmul``: ``formats.lmul`` of bfloat16 operands — vectorized vs Numba;
* ``specialize``: ``formats.encode`` of float32 values to bfloat16 — Numba's generic loop vs
  the loop compiled for the format (compilation excluded: warm-up calls);
* ``gemm``: ``simulator.matmul`` of float8_e4m3fn operands with a bfloat16 accumulator (an n×n×n
  GEMM, work n³) — the vectorized loop over K vs the compiled kernel.

``ratio`` is the seconds of the second side over the first: below 1 the kernel the threshold
switches to is faster. A threshold is right when the ratio crosses 1 near it.
"""

from __future__ import annotations

import numpy as np

from ._main import Progress, timeit

#: kernel (a key of NUMBA_THRESHOLDS) → the case that measures it
CASES = {
    "codec": "codec: quantize float32 to float8_e4m3fn",
    "lmul": "lmul: bfloat16 products",
    "specialize": "specialize: encode float32 to bfloat16",
    "gemm": "gemm: float8_e4m3fn operands, bfloat16 accumulator",
}


def _sides(kernel, n, rng):
    """(label of side 1, fn 1, label of side 2, fn 2) timing ``kernel`` at size ``n``."""
    from lowbit import formats, simulator
    from lowbit.formats.backend import numba_policy

    def under(policy, fn, **kw):
        def run():
            with numba_policy(policy, **kw):
                return fn()
        return run

    if kernel == "codec":
        x = (rng.standard_normal(n) * 4).astype(np.float32)
        fn = lambda: formats.quantize(x, "float8_e4m3fn")  # noqa: E731
        return "numpy vectorized", under("never", fn), "numba", under("always", fn)
    if kernel == "lmul":
        a = rng.standard_normal(n).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)
        fn = lambda: formats.lmul(a, b, "bfloat16")  # noqa: E731
        return "numpy vectorized", under("never", fn), "numba", under("always", fn)
    if kernel == "specialize":
        x = rng.standard_normal(n).astype(np.float32)
        fn = lambda: formats.encode(x, "bfloat16")  # noqa: E731
        return ("numba generic loop", under("always", fn, thresholds={"specialize": 1 << 62}),
                "numba specialized loop", under("always", fn, thresholds={"specialize": 0}))
    m = max(int(round(n ** (1 / 3))), 2)
    a = rng.standard_normal((m, m)).astype(np.float32)
    b = rng.standard_normal((m, m)).astype(np.float32)
    kw = dict(a_format="float8_e4m3fn", b_format="float8_e4m3fn", accumulator="bfloat16")
    fn = lambda: simulator.matmul(a, b, **kw)  # noqa: E731
    return "numpy vectorized", under("never", fn), "numba", under("always", fn)


def run(scale: float = 1.0, progress: Progress | None = None) -> list[dict]:
    from lowbit.formats.backend import NUMBA_THRESHOLDS

    progress = progress or Progress()
    rng = np.random.default_rng(0)
    reps = 7 if scale >= 1 else 1
    rows = []
    for kernel, case in CASES.items():
        thr = NUMBA_THRESHOLDS[kernel]
        for factor in (0.25, 1, 4):
            n = max(int(thr * factor * min(scale, 1.0)), 8)
            progress.case("thresholds", f"{case} n={n}")
            l1, f1, l2, f2 = _sides(kernel, n, rng)
            t1 = timeit(f1, repeats=reps, warmup=2)
            t2 = timeit(f2, repeats=reps, warmup=2)
            label = f"{case} n={n}"
            note = f"threshold {thr}" + (" (work n = m^3, m x m x m GEMM)" if kernel == "gemm" else "")
            rows.append(dict(suite="thresholds", case=label, impl=l1, seconds=t1, ratio=1.0, note=note))
            rows.append(dict(suite="thresholds", case=label, impl=l2, seconds=t2, ratio=t2 / t1, note=note))
            progress.rows(rows[-2:])
    return rows
