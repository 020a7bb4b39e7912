"""Systolic array: SCALE-Sim-exact compute cycles, first-order memory traffic, energy.

Mapping of a GEMM (m×k)@(k×n) (``a`` = activations = SCALE-Sim's ifmap, ``b`` = weights =
SCALE-Sim's filter) onto an R×C array, per dataflow, as SCALE-Sim 3.0.0 does
(``scalesim/compute/systolic_compute_{os,ws,is}.py``): the spatial dimensions S_R, S_C and the
temporal dimension T are

=========  =====  =====  ===
dataflow   S_R    S_C    T
=========  =====  =====  ===
``os``     m      n      k
``ws``     k      n      m
``is``     k      m      n
=========  =====  =====  ===

and the work runs in ⌈S_R/R⌉·⌈S_C/C⌉ folds. Fold length (cycles):

* SCALE-Sim 3.0.0 code (default, ``fold_model="scalesim"``): OS R + C + T − 2 (operands skewed
  in, outputs drained), WS/IS 2R + C + T − 2 (plus R cycles to load the stationary operand);
  SCALE-Sim reports ``folds × fold − 1`` compute cycles ("Total Cycles" − "Stall Cycles" of
  COMPUTE_REPORT.csv), and so does this model — checked case by case against SCALE-Sim runs in
  ``tests/fixtures/scalesim/golden.csv``. (Exception: a 1×1 output-stationary array, where that
  count falls one cycle under the MAC bound — SCALE-Sim divides by zero on a 1×1×1 GEMM there —
  reports folds·T.)
* SCALE-Sim paper (``fold_model="paper"``; Samajdar et al., "A Systematic Methodology for
  Characterizing Scalability of DNN Accelerators using SCALE-Sim", ISPASS 2020, §III, and
  arXiv 1811.02883): τ = 2R + C + T − 2 per fold for every dataflow, ``folds × τ`` in all.
  The two differ for OS, whose fold the code counts R cycles shorter.

SRAM accesses (elements) equal SCALE-Sim's ifmap/filter read counts; outputs are written once
per row fold (partial sums for WS/IS, read back to accumulate). DRAM traffic and stalls are a
first-order model (SCALE-Sim's own DRAM model is trace-driven): an operand that fits in its
buffer is fetched once, otherwise once per pass; with ``dram_bandwidth_bytes_per_cycle`` set,
double-buffered transfers overlap compute and ``stall = max(0, dram_bytes / bw − compute)``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import numpy as np

from .._cost import Cost
from .._loader import register_kind
from .._operand import operand
from ..energy._energy import EnergyTable
from ._common import (
    DATAFLOWS,
    FormatSpec,
    IntLike,
    ceil_div,
    check_dims,
    check_fields,
    dram_traffic_bytes,
    mac_terms,
    resolve_operands,
    scaled_table,
)

__all__ = ["SystolicArray", "FOLD_MODELS"]

FOLD_MODELS = ("scalesim", "paper")


def _where(cond, x, y):
    return np.where(cond, x, y) if isinstance(cond, np.ndarray) else (x if cond else y)


def _maximum(x, y):
    return np.maximum(x, y) if isinstance(y, np.ndarray) else max(x, y)


@dataclasses.dataclass(frozen=True)
class SystolicArray:
    """A rows × cols systolic array of MAC processing elements.

    Args:
        rows, cols: PE array height and width (SCALE-Sim ``ArrayHeight``, ``ArrayWidth``).
        dataflow: ``"os"`` (output-), ``"ws"`` (weight-) or ``"is"`` (input-stationary).
        ifmap_sram_bytes, filter_sram_bytes, ofmap_sram_bytes: buffer capacities, bytes.
        dram_bandwidth_bytes_per_cycle: DRAM bandwidth; None (default) = unlimited, no stalls.
        clock_hz: clock frequency, Hz.
        node_nm: technology node of the energy model, nm.
        native_format: operand format when ``a_format``/``b_format`` are None.
        accumulator_format: accumulator for integer operands when ``accumulator`` is None.
        fold_model: ``"scalesim"`` (SCALE-Sim 3.0.0's counts, default) or ``"paper"``.
        energy_table: per-operation energy table (default Horowitz 45 nm), rescaled to node_nm.
        dram_pj_per_bit: DRAM energy per bit; None = the energy table's DRAM entry.
        name: preset name (informational).

    The PEs are assumed to implement the requested formats at one MAC per cycle (the formats
    change the energy and the memory traffic, not the cycles); use :class:`BitSerialArray` for
    precision-scalable throughput.

    Raises:
        ValueError: naming the field, for a bad value.
    """

    rows: int
    cols: int
    dataflow: str = "ws"
    ifmap_sram_bytes: float = 2.0**20
    filter_sram_bytes: float = 2.0**20
    ofmap_sram_bytes: float = 2.0**20
    dram_bandwidth_bytes_per_cycle: float | None = None
    clock_hz: float = 1e9
    node_nm: float = 45
    native_format: str = "int8"
    accumulator_format: str = "int32"
    fold_model: str = "scalesim"
    energy_table: EnergyTable | None = None
    dram_pj_per_bit: float | None = None
    name: str = dataclasses.field(default="", compare=False)

    UNITLESS: ClassVar[tuple] = ("rows", "cols", "dataflow", "native_format",
                                 "accumulator_format", "fold_model")
    NESTED: ClassVar[dict] = {"energy_table": ("energy_table", False)}

    def __post_init__(self):
        check_fields(self)  # every numeric field finite and > 0, every field of its type
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {self.dataflow!r}")
        if self.fold_model not in FOLD_MODELS:
            raise ValueError(f"fold_model must be one of {FOLD_MODELS}, got {self.fold_model!r}")
        scaled_table(self.energy_table, self.node_nm)  # node in range

    # ----------------------------------------------------------------- peaks
    @property
    def peak_macs_per_cycle(self) -> int:
        """MACs per cycle with every PE busy (rows × cols)."""
        return self.rows * self.cols

    @property
    def peak_macs_per_s(self) -> float:
        return self.peak_macs_per_cycle * self.clock_hz

    # --------------------------------------------------------------- mapping
    def _mapping(self, m, k, n):
        if self.dataflow == "os":
            return m, n, k
        if self.dataflow == "ws":
            return k, n, m
        return k, m, n

    def folds(self, m: IntLike, k: IntLike, n: IntLike) -> IntLike:
        """Number of folds ⌈S_R/R⌉·⌈S_C/C⌉ (ints or integer arrays)."""
        sr, sc, _ = self._mapping(m, k, n)
        return ceil_div(sr, self.rows) * ceil_div(sc, self.cols)

    def gemm_cycles(self, m: IntLike, k: IntLike, n: IntLike) -> IntLike:
        """Compute cycles (no stalls) of (m×k)@(k×n); vectorised over integer arrays.

        Equals SCALE-Sim 3.0.0's "Total Cycles" − "Stall Cycles" with ``fold_model="scalesim"``.
        """
        check_dims(m, k, n, arrays=True)
        sr, sc, t = self._mapping(m, k, n)
        R, C = self.rows, self.cols
        folds = ceil_div(sr, R) * ceil_div(sc, C)
        if self.fold_model == "paper":
            return folds * (2 * R + C + t - 2)
        fold = (R + C + t - 2) if self.dataflow == "os" else (2 * R + C + t - 2)
        if R == C == 1 and self.dataflow == "os":
            # SCALE-Sim's count would be folds·T − 1, one cycle under the MAC bound (and 0 for
            # a 1×1×1 GEMM, where SCALE-Sim 3.0.0 divides by zero): report the bound instead.
            return folds * fold
        return folds * fold - 1

    def mapping_efficiency(self, m: IntLike, k: IntLike, n: IntLike) -> Any:
        """Mean over folds of the fraction of PEs mapped (SCALE-Sim's "Mapping Efficiency")."""
        sr, sc, _ = self._mapping(m, k, n)
        R, C = self.rows, self.cols
        return (sr / (R * ceil_div(sr, R))) * (sc / (C * ceil_div(sc, C)))

    def sram_accesses(self, m: IntLike, k: IntLike, n: IntLike) -> dict:
        """Element accesses: ``a_sram_reads``, ``b_sram_reads`` (= SCALE-Sim's ifmap/filter
        reads), ``c_sram_writes`` (once per row fold) and ``c_sram_reads`` (partial sums read
        back)."""
        R, C = self.rows, self.cols
        if self.dataflow == "os":
            a = ceil_div(n, C) * m * k
            b = ceil_div(m, R) * k * n
            cw = m * n
        elif self.dataflow == "ws":
            a = ceil_div(n, C) * m * k
            b = k * n
            cw = m * n * ceil_div(k, R)
        else:
            a = m * k
            b = ceil_div(m, C) * k * n
            cw = m * n * ceil_div(k, R)
        return {"a_sram_reads": a, "b_sram_reads": b, "c_sram_writes": cw,
                "c_sram_reads": cw - m * n}

    # ----------------------------------------------------------------- costs
    @functools.lru_cache(maxsize=1024)
    def _energies(self, a, b, acc):
        t = scaled_table(self.energy_table, self.node_nm)
        me = mac_terms(a, b, acc, t)
        oa, ob, oc = operand(a), operand(b), operand(acc)
        dram_bit = self.dram_pj_per_bit if self.dram_pj_per_bit is not None else t.dram_access(1)
        return dict(
            me=me, a_bits=oa.storage_bits, b_bits=ob.storage_bits, c_bits=oc.bits,
            a_rd=t.sram_access(oa.storage_bits, self.ifmap_sram_bytes),
            b_rd=t.sram_access(ob.storage_bits, self.filter_sram_bytes),
            c_rw=t.sram_access(oc.bits, self.ofmap_sram_bytes),
            a_bit_sram=t.sram_access(1, self.ifmap_sram_bytes),
            b_bit_sram=t.sram_access(1, self.filter_sram_bytes),
            c_bit_sram=t.sram_access(1, self.ofmap_sram_bytes),
            dram_bit=dram_bit,
        )

    def _terms(self, m, k, n, a, b, acc):
        """Every cost term, for ints or integer arrays (one code path for both)."""
        e = self._energies(a, b, acc)
        compute = self.gemm_cycles(m, k, n)
        acc_ = self.sram_accesses(m, k, n)
        macs = m * k * n
        R, C = self.rows, self.cols
        # passes over each operand (how many times the array streams it)
        a_pass = acc_["a_sram_reads"] // (m * k)
        b_pass = acc_["b_sram_reads"] // (k * n)
        a_dram = dram_traffic_bytes(m * k, a_pass, e["a_bits"], self.ifmap_sram_bytes)
        b_dram = dram_traffic_bytes(k * n, b_pass, e["b_bits"], self.filter_sram_bytes)
        # outputs leave in the activation format; partial sums spill when they do not fit
        psum_bytes = m * n * e["c_bits"] / 8.0
        extra_folds = ceil_div(k, R) - 1 if self.dataflow != "os" else 0 * m
        spill = _where(psum_bytes > self.ofmap_sram_bytes, 2.0 * psum_bytes * extra_folds, 0.0)
        c_dram = m * n * e["a_bits"] / 8.0 + spill
        dram_bytes = a_dram + b_dram + c_dram
        if self.dram_bandwidth_bytes_per_cycle is None:
            stall = 0 * compute
        else:
            stall = _maximum(0.0, dram_bytes / self.dram_bandwidth_bytes_per_cycle - compute)
        cycles = compute + stall
        me = e["me"]
        mac_pj = macs * me.mac_pj
        scale_pj = macs * me.scale_pj
        table_pj = (macs * me.table_pj + acc_["a_sram_reads"] * me.a_decode_pj
                    + acc_["b_sram_reads"] * me.b_decode_pj)
        sram_pj = (acc_["a_sram_reads"] * e["a_rd"] + acc_["b_sram_reads"] * e["b_rd"]
                   + (acc_["c_sram_writes"] + acc_["c_sram_reads"]) * e["c_rw"]
                   # DRAM fills written into the buffers
                   + a_dram * 8 * e["a_bit_sram"] + b_dram * 8 * e["b_bit_sram"])
        dram_pj = dram_bytes * 8 * e["dram_bit"]
        return dict(cycles=cycles, stall=stall, compute=compute, macs=macs,
                    capacity=R * C * cycles, mac=mac_pj, sram=sram_pj, dram=dram_pj,
                    scale=scale_pj, table=table_pj, a_dram=a_dram, b_dram=b_dram,
                    c_dram=c_dram, accesses=acc_)

    def gemm(self, m: int, k: int, n: int, *, a_format: FormatSpec = None, b_format: FormatSpec = None,
             accumulator: FormatSpec = None) -> Cost:
        """Cost of (m×k)@(k×n) with ``a`` = activations (m×k), ``b`` = weights (k×n).

        Args:
            m, k, n: GEMM dimensions, ints >= 1.
            a_format, b_format: format records or registered names; None = ``native_format``.
            accumulator: accumulator format; None = ``accumulator_format`` for integer operands,
                float32 otherwise.

        Returns:
            :class:`Cost`: cycles (compute + stalls), seconds, energy breakdown (``mac``,
            ``sram``, ``dram``, ``scale``, ``table``), utilization = MACs / (R·C·cycles),
            access counts.

        Raises:
            ValueError: bad dimensions or unknown format names.
            TypeError: a dimension that is not an int (arrays: :meth:`gemm_batch`).
        """
        check_dims(m, k, n)
        a, b, acc = resolve_operands(a_format, b_format, accumulator, self.native_format,
                                     self.native_format, self.accumulator_format)
        t = self._terms(m, k, n, a, b, acc)
        accesses = {k_: float(v) for k_, v in t["accesses"].items()}
        accesses["a_dram_bytes"] = float(t["a_dram"])
        accesses["b_dram_bytes"] = float(t["b_dram"])
        accesses["c_dram_bytes"] = float(t["c_dram"])
        cycles = float(t["cycles"])
        return Cost._trusted(
            cycles, cycles / self.clock_hz,
            {"mac": float(t["mac"]), "sram": float(t["sram"]), "dram": float(t["dram"]),
             "scale": float(t["scale"]), "table": float(t["table"])},
            float(t["macs"]), float(t["capacity"]), float(t["stall"]), accesses)

    def gemm_batch(self, m: IntLike, k: IntLike, n: IntLike, *, a_format: FormatSpec = None,
                   b_format: FormatSpec = None,
                   accumulator: FormatSpec = None) -> dict:
        """Vectorised :meth:`gemm` over integer arrays of shapes.

        Returns:
            dict of NumPy arrays: ``cycles``, ``stall_cycles``, ``seconds``, ``energy_pj``,
            ``utilization`` and ``<category>_pj`` — elementwise equal to :meth:`gemm`.
        """
        m, k, n = (np.asarray(x, dtype=np.int64) for x in (m, k, n))
        a, b, acc = resolve_operands(a_format, b_format, accumulator, self.native_format,
                                     self.native_format, self.accumulator_format)
        t = self._terms(m, k, n, a, b, acc)
        cycles = np.asarray(t["cycles"], dtype=np.float64)
        out = {"cycles": cycles, "stall_cycles": np.asarray(t["stall"], dtype=np.float64),
               "seconds": cycles / self.clock_hz}
        energy = 0.0
        for c in ("mac", "sram", "dram", "scale", "table"):
            out[f"{c}_pj"] = np.asarray(t[c], dtype=np.float64) * np.ones_like(cycles)
            energy = energy + out[f"{c}_pj"]
        out["energy_pj"] = energy
        out["utilization"] = t["macs"] / t["capacity"]
        return out

    def roofline_cycles(self, m: int, k: int, n: int, *, a_format: FormatSpec = None, b_format: FormatSpec = None,
                        accumulator: FormatSpec = None) -> float:
        """Lower bound on cycles: max(MACs / (R·C), compulsory DRAM bytes / bandwidth).

        Compulsory traffic reads each operand once and writes the output once.
        """
        check_dims(m, k, n)
        a, b, acc = resolve_operands(a_format, b_format, accumulator, self.native_format,
                                     self.native_format, self.accumulator_format)
        compute = m * k * n / self.peak_macs_per_cycle
        if self.dram_bandwidth_bytes_per_cycle is None:
            return compute
        oa, ob = operand(a), operand(b)
        bytes_ = (m * k * oa.storage_bits + k * n * ob.storage_bits + m * n * oa.storage_bits) / 8
        return max(compute, bytes_ / self.dram_bandwidth_bytes_per_cycle)


register_kind("systolic", SystolicArray)
