"""Helpers shared by the machine records: operand resolution, scaled energy tables, traffic."""

from __future__ import annotations

import functools
from typing import Any, TypeAlias

import numpy as np

from .._operand import operand, resolve_accumulator, resolve_format
from .._validate import check_fields, check_number, check_positive  # noqa: F401  (re-exported)
from ..energy._energy import EnergyTable, MacEnergy, default_accumulator, energy_table, mac_energy

DATAFLOWS = ("os", "ws", "is")

#: What the ``a_format``/``b_format``/``accumulator`` arguments of a machine take: a format
#: record (``formats`` or another family's with ``bits``), a registered name, or None (native).
FormatSpec: TypeAlias = Any
#: A GEMM dimension: an int, or an integer array for the vectorised entry points.
IntLike: TypeAlias = "int | np.ndarray"


def check_dims(m, k, n, *, arrays: bool = False):
    """Validate GEMM dimensions: ints >= 1, or also integer arrays (all >= 1) when ``arrays``
    (the vectorised entry points); otherwise an array is a TypeError naming the dimension."""
    if type(m) is int and type(k) is int and type(n) is int and m >= 1 and k >= 1 and n >= 1:
        return
    for name, v in (("m", m), ("k", k), ("n", n)):
        if isinstance(v, np.ndarray) and not arrays:
            raise TypeError(f"{name} must be an int >= 1, got an array (use a vectorised entry "
                            "point such as SystolicArray.gemm_batch, or one call per shape)")
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in "iu":
                raise TypeError(f"{name} must be an integer array, got dtype {v.dtype}")
            if v.size and v.min() < 1:
                raise ValueError(f"{name} must be >= 1")
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an int >= 1, got {type(v).__name__}")
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")


@functools.lru_cache(maxsize=256)
def scaled_table(table: EnergyTable | None, node_nm: float) -> EnergyTable:
    """``table`` (default Horowitz 45 nm) rescaled to ``node_nm``."""
    t = table if table is not None else energy_table()
    return t.at_node(node_nm)


def resolve_operands(a_format, b_format, accumulator, native_a, native_b, native_acc):
    """(a, b, acc) records: the given formats or the machine's native ones (see
    :func:`_resolve_operands`; cached for hashable arguments)."""
    try:
        return _resolve_cached(a_format, b_format, accumulator, native_a, native_b, native_acc)
    except TypeError:  # an unhashable argument: resolve uncached (raises the right error)
        return _resolve_operands(a_format, b_format, accumulator, native_a, native_b, native_acc)


def _resolve_operands(a_format, b_format, accumulator, native_a, native_b, native_acc):
    """(a, b, acc) records: the given formats or the machine's native ones.

    The native accumulator is used when both operands are integers (or when it is itself a
    float); otherwise the default accumulator for the operand kinds (float32).
    """
    a = resolve_format(a_format, "a_format")
    b = resolve_format(b_format, "b_format")
    acc = resolve_accumulator(accumulator, "accumulator")
    if a is None:
        a = resolve_format(native_a, "native format")
    if b is None:
        b = resolve_format(native_b, "native format")
    if acc is None:
        oa, ob = operand(a), operand(b)
        nat = resolve_format(native_acc, "native accumulator") if native_acc else None
        if nat is not None and (operand(nat).kind == "float" or
                                (oa.kind == "int" and ob.kind == "int" and not oa.is_block
                                 and not ob.is_block)):
            acc = nat
        else:
            acc = default_accumulator(a, b)
    return a, b, acc


_resolve_cached = functools.lru_cache(maxsize=4096)(_resolve_operands)


@functools.lru_cache(maxsize=4096)
def mac_terms(a, b, acc, table: EnergyTable, multiplier: str = "exact") -> MacEnergy:
    return mac_energy(a, b, acc, multiplier=multiplier, table=table)


def ceil_div(x, y):
    """Ceiling division for ints or integer arrays."""
    return -(-x // y)


def dram_traffic_bytes(elements, passes, bits, buffer_bytes):
    """DRAM bytes for an operand of ``elements`` that the compute streams ``passes`` times:
    fetched once if it fits in its buffer, else once per pass (first-order reuse model)."""
    once = elements * bits / 8.0
    return np.where(once <= buffer_bytes, once, once * passes) if isinstance(once, np.ndarray) \
        else (once if once <= buffer_bytes else once * passes)
