"""``lowbit bench``: speed side by side with the reference libraries, reported as ratios.

Each suite is a module with ``run(scale: float) -> list[dict]``; a row has at least
``suite``, ``case``, ``impl`` and ``seconds`` (median of repeats), and may carry
``ns_per_element``, ``ratio`` (seconds / the case's baseline) and ``note``. ``scale`` < 1
shrinks the problem sizes (the test suite runs every suite at a tiny scale to prove it runs;
timings are never asserted).
"""

from __future__ import annotations

import importlib
import math
import numbers
import time
from typing import Any

#: suite name -> module
SUITES = {
    "formats": "lowbit.simulator.bench._formats",   # scalar fake-quantization (issue: format core)
    "blocks": "lowbit.simulator.bench._blocks",     # MX / NVFP4 quantization
    "gemm": "lowbit.simulator.bench._gemm",         # bit-exact GEMM emulation
    "hw": "lowbit.simulator.bench._hw",             # cost-model evaluations per second
    "thresholds": "lowbit.simulator.bench._thresholds",  # formats.backend.NUMBA_THRESHOLDS
}


def timeit(fn, *, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]


def available_suites() -> dict:
    out = {}
    for name, mod in SUITES.items():
        try:
            out[name] = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    return out


def check_scale(scale: Any) -> float:
    """``scale`` as a float, if it is a positive finite number.

    Raises:
        TypeError: ``scale`` is not a real number (booleans included).
        ValueError: ``scale`` is not finite or not positive.
    """
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"scale must be a positive number, got {type(scale).__name__}")
    if not (math.isfinite(scale) and float(scale) > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    return float(scale)


def _scale_arg(text: str) -> float:
    """argparse ``type=`` of ``--scale``: :func:`check_scale` of the number."""
    import argparse

    try:
        return check_scale(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}") from None


def run(suites=None, scale: float = 1.0):
    """Run the named suites (default all available); return a pandas DataFrame.

    Args:
        suites: a suite name or names (see :data:`SUITES`); ``None`` or empty: every available suite.
        scale: problem-size multiplier, a positive finite number (< 1 shrinks the problems).

    Returns:
        pandas DataFrame, one row per (suite, case, impl).

    Raises:
        ValueError: an unknown suite name, or a bad ``scale``.
        TypeError: ``scale`` is not a number.
    """
    import pandas as pd

    scale = check_scale(scale)
    avail = available_suites()
    names = list(avail) if not suites else [suites] if isinstance(suites, str) else list(suites)
    for n in names:  # all names checked before any suite runs
        if n not in avail:
            raise ValueError(f"suite must be one of {sorted(avail)}, got {n!r}")
    rows = []
    for n in names:
        rows.extend(avail[n].run(scale))
    return pd.DataFrame(rows)


def register(sub) -> None:
    p = sub.add_parser("bench", help="speed against the reference libraries (ratios)")
    p.add_argument("suites", nargs="*", help=f"suites to run (default all): {', '.join(SUITES)}")
    p.add_argument("--scale", type=_scale_arg, default=1.0,
                   help="problem-size multiplier, a positive number (default 1)")
    p.add_argument("--csv", help="also write the table to this CSV file")
    p.set_defaults(func=_main)


def _main(args) -> int:
    import pandas as pd

    df = run(args.suites or None, args.scale)
    with pd.option_context("display.max_rows", None, "display.width", 160, "display.max_columns", 20):
        print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.csv:
        df.to_csv(args.csv, index=False)
    return 0
