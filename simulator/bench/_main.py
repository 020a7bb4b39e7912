"""``lowbit bench``: speed side by side with the reference libraries, reported as ratios.

Each suite is a module with ``run(scale: float, progress=None) -> list[dict]``; a row has at
least ``suite``, ``case``, ``impl`` and ``seconds`` (median of repeats), and may carry
``ns_per_element``, ratio columns (seconds over another row of the same case measured in the
same run: ``x_copy``, ``speedup_vs_ml_dtypes``, ...) and ``note``. ``scale`` < 1 shrinks the
problem sizes (the test suite runs every suite at a tiny scale to prove it runs; timings are
never asserted).

Reference libraries (ml_dtypes, gfloat, JAX, torch/torchao, SCALE-Sim) are optional: a suite
asks for one with :func:`peer`; when it is not installed, its rows are skipped and the run says
so once (``lowbit bench`` works in a base install). A suite reports each case to ``progress``
(a :class:`Progress`) as soon as it is measured, so the command prints as it goes.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import numbers
import sys
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


#: pip package of each optional peer module (for the "not installed" note)
PEER_PACKAGES = {"ml_dtypes": "ml_dtypes", "gfloat": "gfloat", "jax": "jax", "torch": "torch",
                 "torchao": "torchao", "scalesim": "scalesim"}


def peer(module: str):
    """The reference library ``module`` if it is installed, else None (its rows are skipped).

    A library that is installed but fails to import (a broken install) raises as usual.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != module.split(".")[0]:
            raise
        return None


def missing_peers() -> list[str]:
    """The optional reference libraries that are not installed (found without importing them)."""
    def absent(m):
        try:
            return importlib.util.find_spec(m) is None
        except (ImportError, ValueError):  # an import hook that refuses the module
            return True

    return [m for m in PEER_PACKAGES if absent(m)]


class Progress:
    """Receives a suite's progress; the default does nothing. ``lowbit bench`` prints."""

    def case(self, suite: str, case: str) -> None:
        """A case starts (its measurements follow)."""

    def rows(self, rows: list[dict]) -> None:
        """A case's rows, measured (ratio columns filled in)."""

    def skip(self, suite: str, impl: str, reason: str) -> None:
        """An implementation is skipped (a reference library is not installed)."""


class _Printer(Progress):
    """Prints each case as a small aligned table as soon as it is measured."""

    def __init__(self, out=None):
        self.out = out if out is not None else sys.stdout
        self.skipped: set = set()
        self.pending: list[str] = []  # skip notes of the running case, printed after its rows

    def _print(self, text=""):
        print(text, file=self.out, flush=True)

    def case(self, suite, case):
        self._print(f"[{suite}] {case} ...")

    def rows(self, rows):
        from ..cli._display import si

        lines = []
        for r in rows:
            cells = [f"  {r['impl']:34s}", f"{si(r['seconds'], 's') if _finite(r.get('seconds')) else '—':>10s}"]
            if _finite(r.get("ns_per_element")):
                cells.append(f"{r['ns_per_element']:9.3g} ns/elem")
            ratios = [f"{_RATIO_NAMES.get(k, k)} {v:.3g}" for k, v in r.items()
                      if k in _RATIO_NAMES or k.startswith(("x_", "speedup_vs_")) if _finite(v)]
            if ratios:
                cells.append("  " + ", ".join(ratios))
            if r.get("note"):
                cells.append(f"  ({r['note']})")
            lines.append(" ".join(cells))
        lines += self.pending
        self.pending = []
        if lines:
            self._print("\n".join(lines))

    def skip(self, suite, impl, reason):
        key = (suite, impl, reason)
        if key not in self.skipped:  # once per suite
            self.skipped.add(key)
            self.pending.append(f"  {impl:34s} skipped: {reason}")


#: ratio columns and how the printout names them
_RATIO_NAMES = {"ratio": "ratio", "x_copy": "× copy", "x_blas": "× BLAS", "x_numpy": "× numpy",
                "x_jax_astype": "× jax astype",
                "speedup_vs_ml_dtypes": "speedup vs ml_dtypes", "speedup_vs_torchao": "speedup vs torchao"}


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def not_installed(module: str) -> str:
    """The note of a skipped peer."""
    return f"{module} is not installed (pip install {PEER_PACKAGES.get(module, module)})"


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


def run(suites=None, scale: float = 1.0, *, progress: Progress | None = None):
    """Run the named suites (default all available); return a pandas DataFrame.

    Args:
        suites: a suite name or names (see :data:`SUITES`); ``None`` or empty: every available suite.
        scale: problem-size multiplier, a positive finite number (< 1 shrinks the problems).
        progress: a :class:`Progress` told about each case as it is measured (default: none).

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
    progress = progress if progress is not None else Progress()
    rows = []
    for n in names:
        rows.extend(avail[n].run(scale, progress=progress))
    return pd.DataFrame(rows)


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help="speed against the reference libraries (ratios)",
        description="Time lowbit side by side with ml_dtypes, gfloat, JAX, torchao and BLAS in one "
                    "run and report ratios. Each case prints as soon as it is measured; reference "
                    "libraries that are not installed are skipped with a note.")
    p.add_argument("suites", nargs="*", help=f"suites to run (default all): {', '.join(SUITES)}")
    p.add_argument("--scale", type=_scale_arg, default=1.0,
                   help="problem-size multiplier, a positive number (default 1)")
    p.add_argument("--csv", help="also write the table to this CSV file")
    p.set_defaults(func=_main)


def _main(args) -> int:
    names = args.suites or list(available_suites())
    for n in names:  # every name checked before anything runs or prints
        if n not in available_suites():
            raise ValueError(f"suite must be one of {sorted(available_suites())}, got {n!r}")
    missing = missing_peers()
    print(f"lowbit bench: suites {', '.join(names)} at scale {args.scale:g}; times are medians, "
          "ratios compare rows of the same case measured in this run", flush=True)
    if missing:
        print(f"not installed, skipped: {', '.join(missing)} (pip install \"lowbit[test]\" installs "
              "the reference libraries)", flush=True)
    df = run(names, args.scale, progress=_Printer())
    if args.csv:
        df.to_csv(args.csv, index=False)
        print(f"\ntable saved to {args.csv}")
    return 0
