"""``sweep``: estimate every combination of workloads × hardware × formats into one DataFrame."""

from __future__ import annotations

import itertools
import math
from typing import Any

from ._estimate import estimate, resolve_hardware, resolve_workload

__all__ = ["sweep", "SweepError"]


def _as_list(x, name):
    if x is None:
        return [None]
    if isinstance(x, (str, bytes)) or not hasattr(x, "__iter__"):
        return [x]
    out = list(x)
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


def _label(x) -> str:
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    return str(getattr(x, "name", "") or type(x).__name__)


_LABELS = ("workload", "hardware", "weights", "activations", "kv_cache", "accumulator")


def _labels(workload, hw, weights, activations, kv_cache, accumulator) -> dict:
    return {"workload": _label(workload), "hardware": _label(hw), "weights": _label(weights),
            "activations": _label(activations),
            "kv_cache": _label(kv_cache) or _label(activations),
            "accumulator": _label(accumulator) or "native"}


def _columns() -> list[str]:
    from lowbit import hwmodels

    return [*_LABELS, "cycles", "seconds", "energy_pj",
            *[f"{c}_pj" for c in hwmodels.CATEGORIES], "utilization",
            *[f"{t}_s" for t in hwmodels.TIME_PARTS], "bound", "weights_bytes",
            "kv_cache_bytes", "memory_bytes", "fits", "error"]


class SweepError(RuntimeError):
    """A sweep point failed with an unexpected exception (not an infeasible combination).

    The message names the combination; the original exception is chained (``__cause__``).

    Attributes:
        combination: dict of the point's labels — workload, hardware, weights, activations,
            kv_cache, accumulator.
        completed: pandas DataFrame of the rows that did complete, in product order, with the
            columns of :func:`sweep`'s result (so finished work is not lost).
    """

    def __init__(self, combination: dict, cause: BaseException, completed: Any) -> None:
        self.combination = dict(combination)
        self.completed = completed
        where = ", ".join(f"{k}={v!r}" for k, v in self.combination.items())
        super().__init__(f"sweep point ({where}) failed: {type(cause).__name__}: {cause}; "
                         f"{len(completed)} completed row(s) are in this error's .completed")


def _row(workload, hw, weights, activations, kv_cache, accumulator) -> dict:
    """One sweep row (runs in the executor's workers: plain, picklable arguments).

    A ``ValueError`` of :func:`estimate` (the machine cannot run the formats, the model does
    not fit a wafer) makes a row with its reason in ``error``; any other exception propagates.
    """
    from lowbit import hwmodels

    row = _labels(workload, hw, weights, activations, kv_cache, accumulator)
    try:
        r = estimate(workload, hw, weights=weights, activations=activations,
                     accumulator=accumulator, kv_cache=kv_cache)
    except ValueError as exc:  # an infeasible combination is a row, not the end of the sweep
        row.update({"cycles": math.nan, "seconds": math.nan, "energy_pj": math.nan,
                    **{f"{c}_pj": math.nan for c in hwmodels.CATEGORIES},
                    "utilization": math.nan, **{f"{t}_s": math.nan for t in hwmodels.TIME_PARTS},
                    "bound": "", "weights_bytes": math.nan,
                    "kv_cache_bytes": math.nan, "memory_bytes": math.nan, "fits": None,
                    "error": str(exc)})
        return row
    row["workload"] = r.workload
    row["hardware"] = r.hardware
    row.update({"cycles": r.cycles, "seconds": r.seconds, "energy_pj": r.energy_pj})
    row.update({f"{c}_pj": v for c, v in r.breakdown.items()})
    row.update({"utilization": r.utilization,
                **{f"{t}_s": r.times.get(t, 0.0) for t in hwmodels.TIME_PARTS},
                "bound": r.bound,
                "weights_bytes": r.footprint["weights_bytes"],
                "kv_cache_bytes": r.footprint["kv_cache_bytes"],
                "memory_bytes": r.footprint["total_bytes"], "fits": r.fits, "error": ""})
    return row


def _frame(rows):
    import pandas as pd

    done = [r for r in rows if r is not None]
    return pd.DataFrame(done) if done else pd.DataFrame(columns=_columns())


def sweep(workloads: Any, hardware: Any, weights: Any, activations: Any, *, kv_cache: Any = None,
          accumulator: Any = None, executor: Any = None, progress: bool = True) -> Any:
    """Estimate every combination of workloads × hardware × weight × activation (× KV cache ×
    accumulator) formats.

    Args:
        workloads: a workload (name or record) or a list of them.
        hardware: a machine (record or preset name) or a list.
        weights, activations: a format (record or name) or a list of formats.
        kv_cache: KV-cache format(s); None = the activation format.
        accumulator: accumulator format(s), scalar formats only; None = each machine's native
            choice.
        executor: any ``concurrent.futures.Executor`` (``ThreadPoolExecutor``,
            ``ProcessPoolExecutor``, or a Dask cluster's via ``distributed.Client(...)
            .get_executor()``); None runs in this process.
        progress: show a tqdm progress bar.

    Returns:
        pandas DataFrame, one row per combination in product order: the labels, cycles,
        seconds, energy_pj, ``<category>_pj``, utilization, the time each resource was busy
        (``<part>_s`` for every part of ``hwmodels.TIME_PARTS``) and ``bound`` (``memory`` or
        ``compute``), footprint bytes, ``fits`` (the
        footprint fits the machine's memory: True, False, or None when the machine states no
        capacity — see :class:`Report`), and ``error`` (empty, or why the combination is
        infeasible — its numbers are then NaN).

    Failures: an infeasible combination — :func:`estimate` raises ``ValueError`` (the machine
    cannot run the formats, the model does not fit a wafer) — is a row with its reason in
    ``error``, and the sweep goes on. Any other exception at a point stops the sweep: points
    not yet started are cancelled, and a :class:`SweepError` is raised that names the point's
    combination, chains the original exception and carries the rows that completed as a
    DataFrame in its ``completed`` attribute.

    Raises:
        ValueError, TypeError: unknown names or bad arguments (checked before anything runs).
        SweepError: a point failed with an unexpected exception (see above).
    """
    from tqdm.auto import tqdm

    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool, got {type(progress).__name__}")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError("executor must be a concurrent.futures.Executor (with .submit) or None, "
                        f"got {type(executor).__name__}")
    wls = [resolve_workload(w) for w in _as_list(workloads, "workloads")]
    hws = [resolve_hardware(h) for h in _as_list(hardware, "hardware")]
    from lowbit.hwmodels import resolve_accumulator, resolve_format

    ws = [resolve_format(f, "weights") for f in _as_list(weights, "weights")]
    acts = [resolve_format(f, "activations") for f in _as_list(activations, "activations")]
    kvs = [resolve_format(f, "kv_cache") for f in _as_list(kv_cache, "kv_cache")]
    accs = [resolve_accumulator(f, "accumulator") for f in _as_list(accumulator, "accumulator")]
    if any(x is None for x in ws) or any(x is None for x in acts):
        raise ValueError("weights and activations formats must be given")
    combos = list(itertools.product(wls, hws, ws, acts, kvs, accs))
    rows: list = [None] * len(combos)
    bar = tqdm(total=len(combos), desc="sweep", disable=not progress, leave=False)
    failed = None  # (index, exception) of the first unexpected failure
    try:
        if executor is None:
            for i, c in enumerate(combos):
                try:
                    rows[i] = _row(*c)
                except Exception as exc:  # noqa: BLE001  (re-raised below, with its point)
                    failed = (i, exc)
                    break
                bar.update(1)
        else:
            from concurrent.futures import as_completed

            futures = {executor.submit(_row, *c): i for i, c in enumerate(combos)}
            for fut in as_completed(futures):
                if fut.cancelled():
                    continue
                exc = fut.exception()
                if exc is None:
                    rows[futures[fut]] = fut.result()
                    bar.update(1)
                elif failed is None or futures[fut] < failed[0]:
                    if failed is None:  # stop: cancel what has not started
                        for other in futures:
                            other.cancel()
                    failed = (futures[fut], exc)
    finally:
        bar.close()
    if failed is not None:
        i, exc = failed
        raise SweepError(_labels(*combos[i]), exc, _frame(rows)) from exc
    return _frame(rows)
