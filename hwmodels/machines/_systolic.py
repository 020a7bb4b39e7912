"""Systolic array: a mapping-aware memory model, or SCALE-Sim 3.0.0's, and energy.

A GEMM (m×k)@(k×n) (``a`` = activations = SCALE-Sim's ifmap, ``b`` = weights = its filter)
maps onto an R×C array per dataflow as SCALE-Sim 3.0.0 maps it
(``scalesim/compute/systolic_compute_{os,ws,is}.py``): spatial dimensions S_R, S_C and temporal
dimension T

=========  =====  =====  ===
dataflow   S_R    S_C    T
=========  =====  =====  ===
``os``     m      n      k
``ws``     k      n      m
``is``     k      m      n
=========  =====  =====  ===

in ⌈S_R/R⌉·⌈S_C/C⌉ folds. Two memory models (``memory_model``):

* ``None`` (default) — **mapped**: the GEMM is blocked into on-chip tiles chosen, with the loop
  order, to minimise time (or energy) under the three buffers' capacities and double buffering
  (:mod:`._mapping`); DRAM traffic per operand follows from the mapping, partial sums stay in
  the output (accumulator) buffer whenever the tiling allows and spill at accumulator width when
  they must. Folds are **pipelined** (``fold_model="pipelined"``): the next fold's stationary
  operand loads while the current one computes, as TPU v1 double-buffers its weights (Jouppi et
  al., ISCA 2017, §2: the weight FIFO and the double-buffered weight tiles of the matrix unit),
  so a fold takes max(T_tile, R) cycles and the fill/drain is paid once per layer; DRAM
  transfers overlap compute (time = max(compute, DRAM) plus the first tiles' load, for
  double-buffered operands). A memory-bound GEMV is then bound by its bytes, so fewer weight bits
  decode faster.
* ``"scalesim"`` — **SCALE-Sim 3.0.0's own counts** (:mod:`._scalesim`): compute cycles
  folds × fold − 1 (fold R + C + T − 2 for OS, 2R + C + T − 2 for WS/IS), DRAM reads per
  operand by its window rules (CALC mode when no bandwidth is given; USER mode with the given
  bandwidths per interface, with its stall cycles), ofmap writes once per row fold. Words are
  one element of each operand (SCALE-Sim's 1-byte word for int8 operands).

``fold_model`` ``"scalesim"`` or ``"paper"`` (Samajdar et al., ISPASS 2020, §III: τ = 2R + C +
T − 2 per fold for every dataflow) charges every fold's fill and drain serially in either
memory model; ``None`` picks ``"pipelined"`` for the mapped model and ``"scalesim"`` for
SCALE-Sim's.
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
from . import _mapping, _scalesim
from ._common import (
    DATAFLOWS,
    FormatSpec,
    IntLike,
    ceil_div,
    check_dims,
    check_fields,
    extra_args,
    mac_terms,
    mapped_cost,
    resolve_operands,
    scaled_table,
)

__all__ = ["SystolicArray", "FOLD_MODELS", "MEMORY_MODELS"]

FOLD_MODELS = ("pipelined", "scalesim", "paper")
_CHUNK = 1024  # shapes per vectorised mapping search (keeps the candidate arrays in cache)
MEMORY_MODELS = (None, "scalesim")


def _spatial(dataflow, m, k, n):
    if dataflow == "os":
        return m, n, k
    if dataflow == "ws":
        return k, n, m
    return k, m, n


@dataclasses.dataclass(frozen=True)
class SystolicArray:
    """A rows × cols systolic array of MAC processing elements with three on-chip buffers.

    Args:
        rows, cols: PE array height and width (SCALE-Sim ``ArrayHeight``, ``ArrayWidth``).
        dataflow: ``"os"`` (output-), ``"ws"`` (weight-) or ``"is"`` (input-stationary).
        ifmap_sram_bytes, filter_sram_bytes, ofmap_sram_bytes: buffer capacities, bytes (the
            ofmap buffer holds partial sums at accumulator width: the accumulators).
        dram_bandwidth_bytes_per_cycle: DRAM bandwidth; None (default) = unlimited, no stalls
            (with ``memory_model="scalesim"``: SCALE-Sim's CALC mode, which never stalls).
        a_dram_bandwidth_bytes_per_cycle, b_dram_bandwidth_bytes_per_cycle,
        c_dram_bandwidth_bytes_per_cycle: separate DRAM interfaces for the activations, the
            weights and the outputs (SCALE-Sim's ifmap, filter and ofmap interfaces); None =
            all traffic shares ``dram_bandwidth_bytes_per_cycle``.
        clock_hz: clock frequency, Hz.
        node_nm: technology node of the energy model, nm.
        native_format: operand format when ``a_format``/``b_format`` are None.
        accumulator_format: accumulator for integer operands when ``accumulator`` is None.
        memory_model: None (mapped: tiles and loop order searched) or ``"scalesim"``
            (SCALE-Sim 3.0.0's DRAM counts and stalls).
        fold_model: ``"pipelined"``, ``"scalesim"`` or ``"paper"`` (see the module docstring);
            None = ``"pipelined"`` for the mapped model, ``"scalesim"`` for SCALE-Sim's.
        mapping_objective: what the mapped model minimises: ``"time"`` (then energy) or
            ``"energy"``.
        static_power_w: static (leakage) power, W; None = the energy table's SRAM leakage for
            the three buffers (``EnergyTable.sram_leakage_w``).
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
    a_dram_bandwidth_bytes_per_cycle: float | None = None
    b_dram_bandwidth_bytes_per_cycle: float | None = None
    c_dram_bandwidth_bytes_per_cycle: float | None = None
    clock_hz: float = 1e9
    node_nm: float = 45
    native_format: str = "int8"
    accumulator_format: str = "int32"
    memory_model: str | None = None
    fold_model: str | None = None
    mapping_objective: str = "time"
    static_power_w: float | None = None
    energy_table: EnergyTable | None = None
    dram_pj_per_bit: float | None = None
    name: str = dataclasses.field(default="", compare=False)

    UNITLESS: ClassVar[tuple] = ("rows", "cols", "dataflow", "native_format",
                                 "accumulator_format", "memory_model", "fold_model",
                                 "mapping_objective")
    NESTED: ClassVar[dict] = {"energy_table": ("energy_table", False)}
    NON_NEGATIVE: ClassVar[tuple] = ("static_power_w",)

    def __post_init__(self):
        check_fields(self)  # every numeric field finite and > 0, every field of its type
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {self.dataflow!r}")
        if self.memory_model not in MEMORY_MODELS:
            raise ValueError(f"memory_model must be one of {MEMORY_MODELS}, got {self.memory_model!r}")
        if self.fold_model is not None and self.fold_model not in FOLD_MODELS:
            raise ValueError(f"fold_model must be one of {FOLD_MODELS} or None, got {self.fold_model!r}")
        _mapping.check_objective(self.mapping_objective)
        scaled_table(self.energy_table, self.node_nm)  # node in range

    # ----------------------------------------------------------------- peaks
    @property
    def peak_macs_per_cycle(self) -> int:
        """MACs per cycle with every PE busy (rows × cols)."""
        return self.rows * self.cols

    @property
    def peak_macs_per_s(self) -> float:
        return self.peak_macs_per_cycle * self.clock_hz

    @property
    def folds_model(self) -> str:
        """The fold model in effect (``fold_model``, or the memory model's default)."""
        if self.fold_model is not None:
            return self.fold_model
        return "scalesim" if self.memory_model == "scalesim" else "pipelined"

    @property
    def static_w(self) -> float:
        """Static power in effect, W (``static_power_w`` or the buffers' SRAM leakage)."""
        if self.static_power_w is not None:
            return float(self.static_power_w)
        t = scaled_table(self.energy_table, self.node_nm)
        return t.sram_leakage_w(self.ifmap_sram_bytes + self.filter_sram_bytes
                                + self.ofmap_sram_bytes)

    def _bandwidths(self):
        """None, one bandwidth, or an (a, b, c) triple, bytes/cycle."""
        per = (self.a_dram_bandwidth_bytes_per_cycle, self.b_dram_bandwidth_bytes_per_cycle,
               self.c_dram_bandwidth_bytes_per_cycle)
        if all(x is None for x in per):
            return self.dram_bandwidth_bytes_per_cycle
        if self.dram_bandwidth_bytes_per_cycle is None and any(x is None for x in per):
            raise ValueError("give all three of a_/b_/c_dram_bandwidth_bytes_per_cycle, or "
                             "dram_bandwidth_bytes_per_cycle for the interfaces left None")
        return tuple(x if x is not None else self.dram_bandwidth_bytes_per_cycle for x in per)

    # --------------------------------------------------------------- mapping
    def _mapping(self, m, k, n):
        return _spatial(self.dataflow, m, k, n)

    def folds(self, m: IntLike, k: IntLike, n: IntLike) -> IntLike:
        """Number of folds ⌈S_R/R⌉·⌈S_C/C⌉ (ints or integer arrays)."""
        sr, sc, _ = self._mapping(m, k, n)
        return ceil_div(sr, self.rows) * ceil_div(sc, self.cols)

    def _fold_cycles(self, folds, t_full, tiles, t_last):
        """Compute cycles of ``folds`` spatial folds, each run once per temporal tile: ``tiles``
        tiles of ``t_full`` and the last of ``t_last`` (arrays or ints)."""
        R, C = self.rows, self.cols
        fm = self.folds_model
        if fm == "pipelined":
            runs = (tiles - 1) * np.maximum(t_full, R) + np.maximum(t_last, R)
            return folds * runs + (2 * R + C - 2)
        extra = (R + C - 2) if (fm == "scalesim" and self.dataflow == "os") else (2 * R + C - 2)
        total = folds * ((tiles - 1) * (t_full + extra) + (t_last + extra))
        if fm == "paper":
            return total
        if R == C == 1 and self.dataflow == "os":
            # SCALE-Sim's count would be folds·T − 1, one cycle under the MAC bound (and 0 for a
            # 1×1×1 GEMM, where SCALE-Sim 3.0.0 divides by zero): report the bound instead.
            return total
        return total - 1

    def gemm_cycles(self, m: IntLike, k: IntLike, n: IntLike) -> IntLike:
        """Compute cycles (no stalls) of (m×k)@(k×n) streamed whole through the array (no
        on-chip tiling); vectorised over integer arrays.

        With ``fold_model="scalesim"`` this equals SCALE-Sim 3.0.0's "Total Cycles" − "Stall
        Cycles"; with ``"pipelined"`` a fold takes max(T, R) and the fill/drain (2R + C − 2) is
        paid once. :meth:`gemm` reports the cycles of the mapping it chose.
        """
        check_dims(m, k, n, arrays=True)
        sr, sc, t = self._mapping(m, k, n)
        folds = ceil_div(sr, self.rows) * ceil_div(sc, self.cols)
        out = self._fold_cycles(folds, t, 1, t)
        return out if isinstance(out, np.ndarray) else int(out)

    def mapping_efficiency(self, m: IntLike, k: IntLike, n: IntLike) -> Any:
        """Mean over folds of the fraction of PEs mapped (SCALE-Sim's "Mapping Efficiency")."""
        sr, sc, _ = self._mapping(m, k, n)
        R, C = self.rows, self.cols
        return (sr / (R * ceil_div(sr, R))) * (sc / (C * ceil_div(sc, C)))

    def sram_accesses(self, m: IntLike, k: IntLike, n: IntLike) -> dict:
        """Element accesses with the operands streamed whole (SCALE-Sim's counts):
        ``a_sram_reads``, ``b_sram_reads`` (= SCALE-Sim's ifmap/filter reads), ``c_sram_writes``
        (once per row fold) and ``c_sram_reads`` (partial sums read back)."""
        return self._sram_counts(m, k, n, m, k, n)

    def _sram_counts(self, m, k, n, tm, tk, tn) -> dict:
        """SRAM element accesses for on-chip tiles tm×tk×tn (equal to the dims: untiled)."""
        R, C = self.rows, self.cols
        if self.dataflow == "os":
            a = ceil_div(n, C) * m * k
            b = ceil_div(m, R) * k * n
            cw = m * n * ceil_div(k, tk)
        elif self.dataflow == "ws":
            a = ceil_div(n, C) * m * k
            b = k * n * ceil_div(m, tm)
            cw = m * n * ceil_div(k, R)
        else:
            a = m * k * ceil_div(n, tn)
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
            dram_bit=dram_bit, static_w=self.static_w,
        )

    def _units(self):
        R, C = self.rows, self.cols
        if self.dataflow == "ws":      # k on rows, n on columns, m streams
            return (1, R, C), (R, R, C)
        if self.dataflow == "os":      # m on rows, n on columns, k streams
            return (R, 1, C), (R, R, C)
        return (C, R, 1), (C, R, R)    # is: k on rows, m on columns, n streams

    def _search_args(self, e):
        R, C, df = self.rows, self.cols, self.dataflow

        def compute(M, K, N, tm, tk, tn):
            sr, sc, t = _spatial(df, M, K, N)
            _, _, tt = _spatial(df, tm, tk, tn)
            folds = np.ceil(sr / R) * np.ceil(sc / C)
            tiles = np.ceil(t / tt)
            return self._fold_cycles(folds, tt, tiles, t - (tiles - 1) * tt)

        def sram(M, K, N, tm, tk, tn):
            acc = self._sram_counts(M, K, N, tm, tk, tn)
            return (acc["a_sram_reads"] * e["a_rd"] + acc["b_sram_reads"] * e["b_rd"]
                    + (acc["c_sram_writes"] + acc["c_sram_reads"]) * e["c_rw"])

        units, lows = self._units()
        return dict(ea=e["a_bits"] / 8.0, eb=e["b_bits"] / 8.0, ep=e["c_bits"] / 8.0,
                    eo=e["a_bits"] / 8.0,
                    caps=(self.ifmap_sram_bytes, self.filter_sram_bytes, self.ofmap_sram_bytes),
                    shared=False, units=units, lows=lows, compute=compute, sram_fn=sram)

    def _mapped_cost(self, m, k, n, a, b, acc, a_elems) -> Cost:
        e = self._energies(a, b, acc)
        me = e["me"]
        macs = float(m * k * n)

        def parts(tm, tk, tn):
            counts = self._sram_counts(m, k, n, tm, tk, tn)
            return {"mac": macs * me.mac_pj, "scale": macs * me.scale_pj,
                    "table": (macs * me.table_pj + counts["a_sram_reads"] * me.a_decode_pj
                              + counts["b_sram_reads"] * me.b_decode_pj)}, counts

        return mapped_cost(self, m, k, n, a_elems=a_elems, parts_fn=parts,
                           fill_pj_per_bit=(e["a_bit_sram"], e["b_bit_sram"], e["c_bit_sram"]),
                           dram_pj_per_bit=e["dram_bit"], static_w=e["static_w"],
                           peak_rate=self.peak_macs_per_cycle, **self._search_args(e))

    # -------------------------------------------------- SCALE-Sim compatibility
    def _words(self, nbytes, bits):
        return max(int(nbytes * 8 // bits), 1)

    def _scalesim_cost(self, m, k, n, a, b, acc, a_elems) -> Cost:
        e = self._energies(a, b, acc)
        R, C, df = self.rows, self.cols, self.dataflow
        wa, wb, wc = e["a_bits"], e["b_bits"], e["a_bits"]  # word = one element; ofmap in a's
        words = (self._words(self.ifmap_sram_bytes, wa), self._words(self.filter_sram_bytes, wb),
                 self._words(self.ofmap_sram_bytes, wc))
        compute = self.gemm_cycles(m, k, n)
        bw = self._bandwidths()
        if bw is None:  # CALC: never stalls (ifmap/filter 10 and ofmap C words/cycle)
            ra, rb = _scalesim.calc_reads(R, C, df, m, k, n, words[0], words[1])
            writes = _scalesim.ofmap_writes(R, C, df, m, k, n)
            stall = 0
            bws = (10.0 * wa / 8, 10.0 * wb / 8, C * wc / 8)
        else:
            bws = bw if isinstance(bw, tuple) else (bw, bw, bw)
            w_bw = tuple(max(int(x * 8 // bits), 1) for x, bits in zip(bws, (wa, wb, wc), strict=True))
            _, stall, (ra, rb, writes) = _scalesim.user_cycles(R, C, df, m, k, n, words, w_bw)
        if a_elems != m * k:  # a convolution: the unique input, read as often as the GEMM's
            ra = ra * a_elems / (m * k)
        cycles = float(compute + stall)
        a_d, b_d, c_d = ra * wa / 8, rb * wb / 8, writes * wc / 8
        counts = self.sram_accesses(m, k, n)
        seconds = cycles / self.clock_hz
        macs = float(m * k * n)
        me = e["me"]
        breakdown = {
            "mac": macs * me.mac_pj,
            "sram": (counts["a_sram_reads"] * e["a_rd"] + counts["b_sram_reads"] * e["b_rd"]
                     + (counts["c_sram_writes"] + counts["c_sram_reads"]) * e["c_rw"]
                     + 8 * (a_d * e["a_bit_sram"] + b_d * e["b_bit_sram"] + c_d * e["c_bit_sram"])),
            "dram": (a_d + b_d + c_d) * 8 * e["dram_bit"], "scale": macs * me.scale_pj,
            "table": (macs * me.table_pj + counts["a_sram_reads"] * me.a_decode_pj
                      + counts["b_sram_reads"] * me.b_decode_pj),
            "static": e["static_w"] * seconds * 1e12,
        }
        accesses = {k_: float(v) for k_, v in counts.items()}
        accesses.update(a_dram_bytes=float(a_d), b_dram_bytes=float(b_d), c_dram_bytes=float(c_d),
                        a_dram_reads=float(ra), b_dram_reads=float(rb), c_dram_writes=float(writes),
                        dram_bytes=float(a_d + b_d + c_d))
        dram_cycles = max(a_d / bws[0], b_d / bws[1], c_d / bws[2])
        times = {"compute": compute / self.clock_hz, "dram": dram_cycles / self.clock_hz}
        return Cost._trusted(cycles, seconds, breakdown, macs,
                             float(self.peak_macs_per_cycle) * cycles, float(stall), accesses,
                             times, None)

    # ------------------------------------------------------------ public API
    def gemm(self, m: int, k: int, n: int, *, a_format: FormatSpec = None, b_format: FormatSpec = None,
             accumulator: FormatSpec = None, batch: int = 1, a_elements: int | None = None) -> Cost:
        """Cost of (m×k)@(k×n) with ``a`` = activations (m×k), ``b`` = weights (k×n).

        Args:
            m, k, n: GEMM dimensions, ints >= 1.
            a_format, b_format: format records or registered names; None = ``native_format``.
            accumulator: accumulator format; None = ``accumulator_format`` for integer operands,
                float32 otherwise.
            batch: independent GEMMs of this shape (the cost of one, times ``batch``).
            a_elements: distinct elements of ``a`` in memory (a convolution's input before
                im2col), which DRAM traffic counts; None = m·k.

        Returns:
            :class:`Cost`: cycles (compute + stalls), seconds, energy breakdown (``mac``,
            ``sram``, ``dram``, ``scale``, ``table``, ``static``), utilization =
            MACs / (R·C·cycles), accesses per operand and level (``a_dram_bytes``,
            ``b_dram_bytes``, ``c_dram_bytes``, ``a_sram_reads``, ...), ``times`` (compute and
            DRAM seconds), ``bound`` and, for the mapped model, the chosen ``mapping``.

        Raises:
            ValueError: bad dimensions or unknown format names.
            TypeError: a dimension that is not an int (arrays: :meth:`gemm_batch`).
        """
        check_dims(m, k, n)
        batch, a_elems = extra_args(m, k, batch, a_elements)
        a, b, acc = resolve_operands(a_format, b_format, accumulator, self.native_format,
                                     self.native_format, self.accumulator_format)
        one = _cached_cost(self, m, k, n, a, b, acc, a_elems)
        return one if batch == 1 else one * batch

    def gemm_batch(self, m: IntLike, k: IntLike, n: IntLike, *, a_format: FormatSpec = None,
                   b_format: FormatSpec = None, accumulator: FormatSpec = None) -> dict:
        """Vectorised :meth:`gemm` over integer arrays of shapes.

        Returns:
            dict of NumPy arrays: ``cycles``, ``stall_cycles``, ``seconds``, ``energy_pj``,
            ``utilization``, ``<category>_pj``, ``compute_s``, ``dram_s``, ``a_dram_bytes``,
            ``b_dram_bytes``, ``c_dram_bytes`` and ``bound`` (``"memory"``/``"compute"``) —
            elementwise equal to :meth:`gemm`.
        """
        m, k, n = (np.asarray(x, dtype=np.int64) for x in (m, k, n))
        check_dims(m, k, n, arrays=True)
        m, k, n = np.broadcast_arrays(m, k, n)
        a, b, acc = resolve_operands(a_format, b_format, accumulator, self.native_format,
                                     self.native_format, self.accumulator_format)
        if self.memory_model == "scalesim":
            costs = [_cached_cost(self, int(x), int(y), int(z), a, b, acc, int(x) * int(y))
                     for x, y, z in zip(m.ravel(), k.ravel(), n.ravel(), strict=True)]
            return _stack_costs(costs, m.shape)
        e = self._energies(a, b, acc)
        shape = m.shape
        mf, kf, nf = (x.ravel().astype(np.float64) for x in (m, k, n))
        args = self._search_args(e)
        compute, sram = args.pop("compute"), args.pop("sram_fn")
        parts = []
        for s in range(0, mf.size, _CHUNK):  # chunks that stay in cache
            sl = slice(s, s + _CHUNK)
            parts.append(_mapping.search(
                mf[sl], kf[sl], nf[sl], a_elems=mf[sl] * kf[sl], compute_fn=compute,
                sram_fn=sram, bw=self._bandwidths(), clock_hz=self.clock_hz,
                e_dram_byte=8 * e["dram_bit"],
                e_fill_byte=(8 * e["a_bit_sram"], 8 * e["b_bit_sram"], 8 * e["c_bit_sram"]),
                static_w=e["static_w"], objective=self.mapping_objective, **args))
        res = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else \
            {key: np.zeros(0) for key in ("cycles", "compute", "tm", "tk", "tn", "sram_pj",
                                          "fill_pj", "dram_pj", "dram_cycles", "a_dram",
                                          "b_dram", "c_dram")}
        cycles = res["cycles"]
        seconds = cycles / self.clock_hz
        macs = mf * kf * nf
        me = e["me"]
        counts = self._sram_counts(mf, kf, nf, res["tm"], res["tk"], res["tn"])
        out = {"cycles": cycles, "stall_cycles": cycles - res["compute"], "seconds": seconds}
        parts = {
            "mac": macs * me.mac_pj, "sram": res["sram_pj"] + res["fill_pj"],
            "dram": res["dram_pj"], "scale": macs * me.scale_pj,
            "table": (macs * me.table_pj + counts["a_sram_reads"] * me.a_decode_pj
                      + counts["b_sram_reads"] * me.b_decode_pj),
            "static": e["static_w"] * seconds * 1e12,
        }
        energy = 0.0
        for c, v in parts.items():
            out[f"{c}_pj"] = v
            energy = energy + v
        out["energy_pj"] = energy
        out["utilization"] = macs / (self.peak_macs_per_cycle * cycles)
        out["compute_s"] = res["compute"] / self.clock_hz
        out["dram_s"] = res["dram_cycles"] / self.clock_hz
        out["a_dram_bytes"], out["b_dram_bytes"], out["c_dram_bytes"] = (
            res["a_dram"], res["b_dram"], res["c_dram"])
        out["bound"] = np.where(out["dram_s"] > out["compute_s"], "memory", "compute")
        return {k_: v.reshape(shape) for k_, v in out.items()}

    def roofline_cycles(self, m: int, k: int, n: int, *, a_format: FormatSpec = None,
                        b_format: FormatSpec = None, accumulator: FormatSpec = None) -> float:
        """Lower bound on cycles: max(MACs / (R·C), compulsory DRAM bytes / bandwidth).

        Compulsory traffic reads each operand once and writes the output once (in the
        activation format); with separate interfaces, the busiest one's bytes.
        """
        check_dims(m, k, n)
        a, b, acc = resolve_operands(a_format, b_format, accumulator, self.native_format,
                                     self.native_format, self.accumulator_format)
        compute = m * k * n / self.peak_macs_per_cycle
        bw = self._bandwidths()
        if bw is None:
            return compute
        oa, ob = operand(a), operand(b)
        per = (m * k * oa.storage_bits / 8, k * n * ob.storage_bits / 8, m * n * oa.storage_bits / 8)
        if isinstance(bw, tuple):
            return max(compute, *(x / y for x, y in zip(per, bw, strict=True)))
        return max(compute, sum(per) / bw)


@functools.lru_cache(maxsize=1 << 16)
def _cached_cost(arr: SystolicArray, m, k, n, a, b, acc, a_elems) -> Cost:
    """One GEMM's cost, cached per (machine, shape, formats)."""
    if arr.memory_model == "scalesim":
        return arr._scalesim_cost(m, k, n, a, b, acc, a_elems)
    return arr._mapped_cost(m, k, n, a, b, acc, a_elems)


def _stack_costs(costs, shape) -> dict:
    out = {}
    for key in ("cycles", "stall_cycles", "seconds", "energy_pj", "utilization"):
        out[key] = np.array([getattr(c, key) for c in costs], dtype=np.float64).reshape(shape)
    for cat in ("mac", "sram", "dram", "scale", "table", "static"):
        out[f"{cat}_pj"] = np.array([c.breakdown.get(cat, 0.0) for c in costs]).reshape(shape)
    out["compute_s"] = np.array([c.times.get("compute", 0.0) for c in costs]).reshape(shape)
    out["dram_s"] = np.array([c.times.get("dram", 0.0) for c in costs]).reshape(shape)
    for x in "abc":
        out[f"{x}_dram_bytes"] = np.array([c.accesses[f"{x}_dram_bytes"] for c in costs]).reshape(shape)
    out["bound"] = np.array([c.bound for c in costs]).reshape(shape)
    return out



register_kind("systolic", SystolicArray)
