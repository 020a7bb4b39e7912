"""Wafer-scale mesh (Cerebras WSE-2/3) with WaferLLM's PLMR device model.

WaferLLM (He et al., arXiv 2502.04563, OSDI 2025, §2-§3) characterises a wafer-scale device by
PLMR: massive **P**arallelism (≈10^6 cores), non-uniform memory-access **L**atency (a message
takes time proportional to its hop distance on the 2D mesh), constrained local **M**emory (tens
of KB of SRAM per core, no shared memory) and limited **R**outing (a core's router holds few
routing paths). The record carries one parameter per letter: ``cores``, ``hop_latency_cycles``
(+ ``message_overhead_cycles``), ``sram_bytes`` (per core = sram_bytes / cores) and
``routing_paths_per_core``, plus clock and link bandwidth.

The mesh is modelled as the largest square P_max × P_max grid of its cores (WSE-2: 922² ≈ 850k;
the physical fabric is not square). A GEMM uses a P × P sub-grid, P chosen to minimise time
subject to the tiles fitting each core's SRAM.

* **MeshGEMM** (prefill, m > 1), WaferLLM §4.1: each core holds an (m/P × k/P) tile of A and a
  (k/P × n/P) tile of B; P steps, each a local tile GEMM and a shift of the A and B tiles.
  MeshGEMM's interleaved placement keeps every shift within 2 hops (Cannon's algorithm needs a
  P-hop wrap-around), so a step costs max(tile MACs / MAC rate, tile bytes / link bandwidth +
  2·hop latency + message overhead).
* **MeshGEMV** (decode), WaferLLM §4.2: B tiled over P × P cores; the input vector
  slice is pipelined along each column (P hops); each core does its (k/P × n/P) products; the
  partial results are reduced along k with a K-ary tree allreduce (``reduce_tree_arity``) in
  ⌈log_K P⌉ phases of K hops each — bounded by the routing limit (a phase needs K routing
  paths, so K ≤ routing_paths_per_core). m rows are processed together.

Every GEMM takes the faster of the two algorithms (each with its best grid), so time is
non-decreasing in m with no jump where one algorithm hands over to the other (grouped-query
attention's m = 4 rows run as a GEMV when that is faster).

Capacity: :meth:`check_capacity` raises when weights + KV cache exceed the wafer SRAM.
Energy: MACs at the wafer's node, local SRAM reads (per-core SRAM size class), network bytes ×
hops × ``hop_energy_pj_per_byte``, static power × time (``static``); board power × time bounds
the total from below (``overhead``), as for the GPU model, which is how WaferLLM compares
energy. Times: ``compute`` (the cores' MACs) and ``network`` (shifts, broadcasts, reductions).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import numpy as np

from .._cost import Cost
from .._loader import register_kind
from .._operand import operand
from ..energy._energy import EnergyTable
from ._common import (
    FormatSpec,
    check_dims,
    check_fields,
    check_number,
    extra_args,
    mac_terms,
    resolve_operands,
    scaled_table,
)

__all__ = ["WaferMesh"]


@dataclasses.dataclass(frozen=True)
class WaferMesh:
    """A wafer-scale 2D mesh of small cores with local SRAM (PLMR parameters).

    Args:
        cores: number of compute cores (P of PLMR).
        sram_bytes: total on-wafer SRAM, bytes (M of PLMR: per core = sram_bytes / cores).
        clock_hz: core clock, Hz.
        core_macs_per_cycle: 16-bit MACs per core per cycle.
        hop_latency_cycles: latency per mesh hop, cycles (L of PLMR).
        message_overhead_cycles: fixed cost of sending/receiving one message, cycles.
        link_bytes_per_cycle: bandwidth of one mesh link per direction, bytes/cycle.
        routing_paths_per_core: routing paths ("colors") a router holds (R of PLMR).
        reduce_tree_arity: K of MeshGEMV's K-tree allreduce.
        power_w: system power, W (bounds energy below). node_nm: process node, nm.
        hop_energy_pj_per_byte: energy to move one byte one hop, pJ.
        static_power_w: static power, W; None = 25 % of ``power_w`` (the assumption of the GPU
            model: a K80 die's measured idle/busy power, Jouppi et al., ISCA 2017, Table 2).
        native_format, accumulator_format, energy_table: as the other machines.
    """

    cores: int
    sram_bytes: float
    clock_hz: float
    core_macs_per_cycle: float
    hop_latency_cycles: float
    message_overhead_cycles: float
    link_bytes_per_cycle: float
    routing_paths_per_core: int
    power_w: float
    node_nm: float
    reduce_tree_arity: int = 2
    # assumption: ~0.1 pJ/bit/mm of on-chip wire (an order-of-magnitude figure widely quoted
    # from W. J. Dally's talks) × ~0.25 mm core pitch (WSE-2: 46,225 mm² / 850,000 cores)
    hop_energy_pj_per_byte: float = 0.2
    static_power_w: float | None = None
    native_format: str = "float16"
    accumulator_format: str = "float32"
    energy_table: EnergyTable | None = None
    name: str = dataclasses.field(default="", compare=False)

    UNITLESS: ClassVar[tuple] = ("cores", "routing_paths_per_core", "reduce_tree_arity",
                                 "native_format", "accumulator_format")
    NESTED: ClassVar[dict] = {"energy_table": ("energy_table", False)}
    NON_NEGATIVE: ClassVar[tuple] = ("message_overhead_cycles", "static_power_w")

    def __post_init__(self):
        check_fields(self)  # numeric fields finite and > 0 (NON_NEGATIVE: >= 0), types checked
        if self.reduce_tree_arity < 2 or self.reduce_tree_arity > self.routing_paths_per_core:
            raise ValueError(f"reduce_tree_arity must be in [2, routing_paths_per_core="
                             f"{self.routing_paths_per_core}], got {self.reduce_tree_arity}")
        scaled_table(self.energy_table, self.node_nm)

    # ---------------------------------------------------------------- PLMR
    @property
    def mesh_side(self) -> int:
        """Side of the largest square grid of cores."""
        return math.isqrt(self.cores)

    @property
    def core_sram_bytes(self) -> float:
        """SRAM per core, bytes."""
        return self.sram_bytes / self.cores

    @property
    def memory_capacity_bytes(self) -> float:
        """Memory a workload must fit: the on-wafer SRAM (no off-chip memory), bytes."""
        return self.sram_bytes

    @property
    def peak_macs_per_cycle(self) -> float:
        return self.cores * self.core_macs_per_cycle

    @property
    def static_w(self) -> float:
        """Static power in effect, W."""
        return 0.25 * self.power_w if self.static_power_w is None else float(self.static_power_w)

    @property
    def peak_flops_per_s(self) -> float:
        return 2 * self.peak_macs_per_cycle * self.clock_hz

    def check_capacity(self, nbytes: float, what: str = "weights + KV cache") -> None:
        """Raise ValueError if ``nbytes`` do not fit the wafer's SRAM (or are not a finite number
        >= 0)."""
        nbytes = check_number("nbytes", nbytes, strict=False)
        if nbytes > self.sram_bytes:
            raise ValueError(f"{what} ({nbytes / 1e9:.2f} GB) do not fit the wafer SRAM "
                             f"({self.sram_bytes / 1e9:.2f} GB)")

    # ---------------------------------------------------------- algorithms
    def _grid_candidates(self, side=None):
        return np.arange(1, (side or self.mesh_side) + 1, dtype=np.float64)

    def _meshgemm(self, m, k, n, ab, bb, cb, side=None):
        """(cycles, P, network byte-hops) of MeshGEMM, minimised over the grid side P."""
        P = self._grid_candidates(side)
        mt, kt, nt = np.ceil(m / P), np.ceil(k / P), np.ceil(n / P)
        a_tile, b_tile, c_tile = mt * kt * ab, kt * nt * bb, mt * nt * cb
        fits = 2 * (a_tile + b_tile) + c_tile <= self.core_sram_bytes  # double-buffered shifts
        comp = mt * kt * nt / self.core_macs_per_cycle
        comm = ((a_tile + b_tile) / self.link_bytes_per_cycle + 2 * self.hop_latency_cycles
                + self.message_overhead_cycles)
        steps = np.where(P > 1, P, 1.0)
        cycles = steps * np.maximum(comp, np.where(P > 1, comm, 0.0))
        cycles = np.where(fits, cycles, np.inf)
        i = int(np.argmin(cycles))
        if not np.isfinite(cycles[i]):
            return None
        p = P[i]
        byte_hops = (p * p) * (p - 1) * (a_tile[i] + b_tile[i]) * 2  # ≤ 2 hops per shift
        comm_i = float(comm[i]) if p > 1 else 0.0
        return float(cycles[i]), int(p), float(byte_hops), float(steps[i] * comp[i]), \
            float(steps[i] * comm_i)

    def _meshgemv(self, m, k, n, ab, bb, cb, side=None):
        """(cycles, P, network byte-hops) of MeshGEMV (m rows processed together)."""
        P = self._grid_candidates(side)
        kt, nt = np.ceil(k / P), np.ceil(n / P)
        b_tile = kt * nt * bb
        fits = b_tile + m * (kt * ab + nt * cb) <= self.core_sram_bytes
        comp = m * kt * nt / self.core_macs_per_cycle
        L, O, bw = self.hop_latency_cycles, self.message_overhead_cycles, self.link_bytes_per_cycle
        bcast = np.where(P > 1, (P - 1) * L + O + m * kt * ab / bw, 0.0)
        K = self.reduce_tree_arity
        phases = np.ceil(np.log(np.maximum(P, 1)) / math.log(K) - 1e-12)
        reduce = phases * (K * L + O + m * nt * cb / bw)
        cycles = np.where(fits, comp + bcast + reduce, np.inf)
        i = int(np.argmin(cycles))
        if not np.isfinite(cycles[i]):
            return None
        p = P[i]
        byte_hops = p * p * (m * kt[i] * ab + phases[i] * K * m * nt[i] * cb)
        return float(cycles[i]), int(p), float(byte_hops), float(comp[i]), \
            float(bcast[i] + reduce[i])

    @functools.lru_cache(maxsize=256)
    def _energies(self, a, b, acc):
        t = scaled_table(self.energy_table, self.node_nm)
        oa, ob, oc = operand(a), operand(b), operand(acc)
        return dict(me=mac_terms(a, b, acc, t), oa=oa, ob=ob, oc=oc,
                    a_rd=t.sram_access(oa.storage_bits, self.core_sram_bytes),
                    b_rd=t.sram_access(ob.storage_bits, self.core_sram_bytes),
                    c_rw=t.sram_access(oc.bits, self.core_sram_bytes))

    def gemm(self, m: int, k: int, n: int, *, a_format: FormatSpec = None, b_format: FormatSpec = None,
             accumulator: FormatSpec = None, batch: int = 1, a_elements: int | None = None) -> Cost:
        """Cost of (m×k)@(k×n): the faster of MeshGEMV and MeshGEMM for this shape.

        Args:
            m, k, n: GEMM dimensions, ints >= 1.
            a_format, b_format, accumulator: formats (None: the native ones).
            batch: independent GEMMs of this shape (the heads of an attention layer), run side
                by side on disjoint square sub-meshes (side ⌊√cores / ⌈√batch⌉⌋): the time of
                one on its sub-mesh, the energy of all.
            a_elements: accepted for a uniform interface; a wafer holds its operands in SRAM,
                so it changes nothing but the capacity check.

        Returns:
            :class:`Cost` with ``mac``, ``sram``, ``network``, ``static`` and ``overhead``
            energy; ``times`` ``compute`` and ``network``; accesses include ``grid_side`` (P),
            ``network_byte_hops`` and ``algorithm`` (0 MeshGEMV, 1 MeshGEMM).

        Raises:
            ValueError: if the operands do not fit the SRAM on any grid.
        """
        check_dims(m, k, n)
        batch, a_elems = extra_args(m, k, batch, a_elements)
        a, b, acc = resolve_operands(a_format, b_format, accumulator, self.native_format,
                                     self.native_format, self.accumulator_format)
        return _cached(self, m, k, n, a, b, acc, a_elems, batch)

    def _cost(self, m, k, n, a, b, acc, a_elems, batch=1) -> Cost:
        e = self._energies(a, b, acc)
        ab, bb, cb = e["oa"].storage_bits / 8, e["ob"].storage_bits / 8, e["oc"].bits / 8
        self.check_capacity(batch * (min(a_elems, m * k) * ab + k * n * bb + m * n * cb),
                            "GEMM operands")
        side = max(1, self.mesh_side // math.ceil(math.sqrt(batch)))
        runs = [(r, tag) for r, tag in ((self._meshgemv(m, k, n, ab, bb, cb, side), 0.0),
                                         (self._meshgemm(m, k, n, ab, bb, cb, side), 1.0))
                if r is not None]
        if not runs:
            raise ValueError(f"GEMM {m}x{k}x{n} tiles do not fit {self.core_sram_bytes:.0f} B "
                             "of SRAM per core on any grid")
        (cycles, p, byte_hops, comp, net), algo = min(runs, key=lambda r: r[0][0])
        cycles = max(cycles, 1.0)
        seconds = cycles / self.clock_hz
        macs = m * k * n * batch
        byte_hops *= batch
        me = e["me"]
        parts = {
            "mac": macs * me.mac_pj,
            "scale": macs * me.scale_pj,
            "table": macs * me.table_pj + macs * (me.a_decode_pj + me.b_decode_pj),
            # operands read from local SRAM per MAC; partial sums read+written once per step
            "sram": macs * (e["a_rd"] + e["b_rd"]) + 2 * m * n * p * batch * e["c_rw"],
            "network": byte_hops * self.hop_energy_pj_per_byte,
            "static": self.static_w * seconds * 1e12,
        }
        dynamic = sum(parts.values())
        parts["overhead"] = max(0.0, self.power_w * seconds * 1e12 - dynamic)
        times = {"compute": comp / self.clock_hz, "network": net / self.clock_hz}
        return Cost._trusted(float(cycles), seconds, parts, float(macs),
                             float(self.peak_macs_per_cycle * cycles), max(0.0, cycles - comp),
                             {"grid_side": float(p), "network_byte_hops": byte_hops,
                              "algorithm": algo}, times, None)

    def roofline_cycles(self, m: int, k: int, n: int, *, a_format: FormatSpec = None, b_format: FormatSpec = None,
                        accumulator: FormatSpec = None) -> float:
        """Compute roof of the whole wafer: MACs / (cores × MACs per core per cycle)."""
        check_dims(m, k, n)
        return m * k * n / self.peak_macs_per_cycle


@functools.lru_cache(maxsize=1 << 14)
def _cached(w: WaferMesh, m, k, n, a, b, acc, a_elems, batch) -> Cost:
    return w._cost(m, k, n, a, b, acc, a_elems, batch)


register_kind("wafer", WaferMesh)
