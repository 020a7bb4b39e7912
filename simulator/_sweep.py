"""``sweep``: estimate every combination of workloads × hardware × formats into one DataFrame."""

from __future__ import annotations

import itertools
import math

from ._estimate import estimate, resolve_hardware, resolve_workload

__all__ = ["sweep"]


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


def _row(workload, hw, weights, activations, kv_cache, accumulator) -> dict:
    """One sweep row (runs in the executor's workers: plain, picklable arguments)."""
    import hwmodels

    row = {"workload": _label(workload), "hardware": _label(hw), "weights": _label(weights),
           "activations": _label(activations),
           "kv_cache": _label(kv_cache) or _label(activations),
           "accumulator": _label(accumulator) or "native"}
    try:
        r = estimate(workload, hw, weights=weights, activations=activations,
                     accumulator=accumulator, kv_cache=kv_cache)
    except ValueError as exc:  # an infeasible combination is a row, not the end of the sweep
        row.update({"cycles": math.nan, "seconds": math.nan, "energy_pj": math.nan,
                    **{f"{c}_pj": math.nan for c in hwmodels.CATEGORIES},
                    "utilization": math.nan, "weights_bytes": math.nan,
                    "kv_cache_bytes": math.nan, "memory_bytes": math.nan, "error": str(exc)})
        return row
    row["workload"] = r.workload
    row["hardware"] = r.hardware
    row.update({"cycles": r.cycles, "seconds": r.seconds, "energy_pj": r.energy_pj})
    row.update({f"{c}_pj": v for c, v in r.breakdown.items()})
    row.update({"utilization": r.utilization,
                "weights_bytes": r.footprint["weights_bytes"],
                "kv_cache_bytes": r.footprint["kv_cache_bytes"],
                "memory_bytes": r.footprint["total_bytes"], "error": ""})
    return row


def sweep(workloads, hardware, weights, activations, *, kv_cache=None, accumulator=None,
          executor=None, progress: bool = True):
    """Estimate every combination of workloads × hardware × weight × activation (× KV cache ×
    accumulator) formats.

    Args:
        workloads: a workload (name or record) or a list of them.
        hardware: a machine (record or preset name) or a list.
        weights, activations: a format (record or name) or a list of formats.
        kv_cache: KV-cache format(s); None = the activation format.
        accumulator: accumulator format(s); None = each machine's native choice.
        executor: any ``concurrent.futures.Executor`` (``ThreadPoolExecutor``,
            ``ProcessPoolExecutor``, or a Dask cluster's via ``distributed.Client(...)
            .get_executor()``); None runs in this process.
        progress: show a tqdm progress bar.

    Returns:
        pandas DataFrame, one row per combination in product order: the labels, cycles,
        seconds, energy_pj, ``<category>_pj``, utilization, footprint bytes, and ``error``
        (empty, or why the combination is infeasible — its numbers are then NaN).

    Raises:
        ValueError, TypeError: unknown names or bad arguments (checked before anything runs).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    wls = [resolve_workload(w) for w in _as_list(workloads, "workloads")]
    hws = [resolve_hardware(h) for h in _as_list(hardware, "hardware")]
    from hwmodels._operand import resolve_format

    ws = [resolve_format(f, "weights") for f in _as_list(weights, "weights")]
    acts = [resolve_format(f, "activations") for f in _as_list(activations, "activations")]
    kvs = [resolve_format(f, "kv_cache") for f in _as_list(kv_cache, "kv_cache")]
    accs = [resolve_format(f, "accumulator") for f in _as_list(accumulator, "accumulator")]
    if any(x is None for x in ws) or any(x is None for x in acts):
        raise ValueError("weights and activations formats must be given")
    combos = list(itertools.product(wls, hws, ws, acts, kvs, accs))
    bar = tqdm(total=len(combos), desc="sweep", disable=not progress, leave=False)
    try:
        if executor is None:
            rows = []
            for c in combos:
                rows.append(_row(*c))
                bar.update(1)
        else:
            from concurrent.futures import as_completed

            futures = {executor.submit(_row, *c): i for i, c in enumerate(combos)}
            rows = [None] * len(combos)
            for fut in as_completed(futures):
                rows[futures[fut]] = fut.result()
                bar.update(1)
    finally:
        bar.close()
    return pd.DataFrame(rows)
