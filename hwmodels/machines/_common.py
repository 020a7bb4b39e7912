"""Helpers shared by the machine records: operand resolution, scaled energy tables, the cost of
a mapped GEMM."""

from __future__ import annotations

import functools
from typing import Any, TypeAlias

import numpy as np

from .._cost import Cost
from .._operand import operand, resolve_accumulator, resolve_format
from .._validate import check_fields, check_number, check_positive  # noqa: F401  (re-exported)
from ..energy._energy import EnergyTable, MacEnergy, default_accumulator, energy_table, mac_energy
from . import _mapping

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


def extra_args(m, k, batch, a_elements):
    """Validated (batch, a_elements) of a ``gemm`` call: ``batch`` independent GEMMs (an int
    >= 1), ``a_elements`` distinct elements of ``a`` in memory (an int >= 1; None = m·k)."""
    batch = check_number("batch", batch, low=1, strict=False, integer=True)
    if a_elements is None:
        return batch, m * k
    return batch, check_number("a_elements", a_elements, low=1, strict=False, integer=True)


def bandwidths(machine):
    """None, one DRAM bandwidth, or an (a, b, c) triple of per-interface bandwidths (bytes per
    cycle) of a machine record."""
    fn = getattr(machine, "_bandwidths", None)
    return fn() if fn is not None else machine.dram_bandwidth_bytes_per_cycle


def mapped_cost(machine, m, k, n, *, ea, eb, ep, eo, a_elems, caps, shared, units, lows,
                compute, sram_fn, parts_fn, fill_pj_per_bit, dram_pj_per_bit, static_w,
                peak_rate) -> Cost:
    """The :class:`Cost` of one GEMM on a machine with on-chip buffers behind a DRAM, with the
    mapping found by :func:`_mapping.search`.

    Args:
        machine: the record (``clock_hz``, ``mapping_objective``, its DRAM bandwidth(s)).
        ea, eb, ep, eo: bytes per element of a, b, a partial sum, an output.
        a_elems: distinct elements of a in DRAM.
        caps, shared, units, lows, compute, sram_fn: as :func:`_mapping.search`.
        parts_fn(tm, tk, tn) -> (dict of the machine's own energy parts, pJ — ``mac``,
            ``scale``, ``table``... —, dict of its SRAM access counts).
        fill_pj_per_bit: (a, b, c) energy of writing a bit from DRAM into each buffer, pJ.
        dram_pj_per_bit: DRAM energy per bit. static_w: static power, W.
        peak_rate: MACs per cycle at peak (for utilization).
    """
    res = _mapping.search(
        m, k, n, ea=ea, eb=eb, ep=ep, eo=eo, a_elems=a_elems, caps=caps, shared=shared,
        units=units, lows=lows, compute_fn=compute, sram_fn=sram_fn, bw=bandwidths(machine),
        clock_hz=machine.clock_hz, e_dram_byte=8 * dram_pj_per_bit,
        e_fill_byte=tuple(8 * x for x in fill_pj_per_bit), static_w=static_w,
        objective=machine.mapping_objective)
    cycles = float(res["cycles"][0])
    comp = float(res["compute"][0])
    tm, tk, tn = int(res["tm"][0]), int(res["tk"][0]), int(res["tn"][0])
    parts, counts = parts_fn(tm, tk, tn)
    a_d, b_d, c_d = float(res["a_dram"][0]), float(res["b_dram"][0]), float(res["c_dram"][0])
    seconds = cycles / machine.clock_hz
    breakdown = dict(parts)
    breakdown["sram"] = float(res["sram_pj"][0]) + float(res["fill_pj"][0])
    breakdown["dram"] = float(res["dram_pj"][0])
    breakdown["static"] = static_w * seconds * 1e12
    accesses = {key: float(v) for key, v in counts.items()}
    accesses.update(a_dram_bytes=a_d, b_dram_bytes=b_d, c_dram_bytes=c_d,
                    c_spill_bytes=float(res["c_spill"][0]), dram_bytes=a_d + b_d + c_d)
    times = {"compute": comp / machine.clock_hz,
             "dram": float(res["dram_cycles"][0]) / machine.clock_hz}
    return Cost._trusted(cycles, seconds, breakdown, float(m * k * n), float(peak_rate) * cycles,
                         cycles - comp, accesses, times,
                         _mapping.mapping_of(res, 0, machine.mapping_objective))
