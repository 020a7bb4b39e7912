"""LUT-GEMM units: multiply low-bit weights by table lookup (LUT-GEMM, T-MAC, LUT Tensor Core).

A b-bit weight matrix is treated as b one-bit planes (T-MAC, Wei et al., arXiv 2407.00088, §3;
LUT-GEMM, Park et al., arXiv 2206.09557, binary-coding quantization). For every activation row
and every group of g consecutive activations along k, a table of the 2^g signed sums
±x_1 ± ... ± x_g is precomputed — 2^(g−1) entries with sign symmetry, the other half being
negations (T-MAC §3.2; LUT Tensor Core, Mo et al., arXiv 2408.06003, §4). Each output then needs,
per group and per bit plane, one lookup indexed by g weight bits and one shift-add into the
accumulator: lookups = m·n·⌈k/g⌉·b, linear in the weight bits b.

Cost terms:

* table build: m·⌈k/g⌉ tables, each 2^g − 1 − g adds (2^(g−1) + g − 2 with sign symmetry, see
  :attr:`LutGemmUnit.build_adds_per_table`) and ``entries`` writes of ``table_entry_bits``-bit
  entries (``table`` energy);
* lookups: reads of one entry from a table of entries × ``table_entry_bits`` bits (``table``);
* accumulation: one add per lookup at the accumulator width (``mac``);
* weights read b bits per element, activations once per table build (``sram``/``dram``);
* block-format weights add the per-block scale handling (``scale``);
* static power × time (``static``).

Compute cycles = table-build adds / ``adds_per_cycle`` + lookups / ``lookups_per_cycle``
(build and lookup phases not overlapped). The GEMM is blocked between DRAM and the on-chip
SRAM (shared by the operands) by the mapping search of :mod:`._mapping`; double-buffered DRAM
transfers overlap compute.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

from .._cost import Cost
from .._loader import register_kind
from .._operand import operand
from ..energy._energy import EnergyTable
from . import _mapping
from ._common import (
    FormatSpec,
    ceil_div,
    check_dims,
    check_fields,
    check_positive,
    extra_args,
    mac_terms,
    mapped_cost,
    resolve_operands,
    scaled_table,
)

__all__ = ["LutGemmUnit"]


@dataclasses.dataclass(frozen=True)
class LutGemmUnit:
    """A table-lookup GEMM engine (CPU-like or accelerator-like by its rates).

    Args:
        lookups_per_cycle: table lookups (with their accumulate) per cycle.
        adds_per_cycle: table-build adds per cycle.
        group_size: g, activations per table (T-MAC: 4).
        sign_symmetry: store 2^(g−1) entries and negate (True) or all 2^g (False).
        table_entry_bits: width of a table entry, bits (T-MAC int8 tables: 8; fp16: 16).
        tile_m, tile_n: outputs in flight (activation rows × weight columns) for SRAM reuse.
        sram_bytes: on-chip buffer / cache capacity, bytes.
        dram_bandwidth_bytes_per_cycle: DRAM bandwidth; None = unlimited.
        clock_hz, node_nm, native_format (activations), weight_format, accumulator_format,
        mapping_objective, static_power_w, energy_table, dram_pj_per_bit: as the other
        machines (static power None: the SRAM's leakage).
    """

    lookups_per_cycle: float
    adds_per_cycle: float
    group_size: int = 4
    sign_symmetry: bool = True
    table_entry_bits: int = 16
    tile_m: int = 1
    tile_n: int = 64
    sram_bytes: float = 2.0**20
    dram_bandwidth_bytes_per_cycle: float | None = None
    clock_hz: float = 1e9
    node_nm: float = 7
    native_format: str = "float16"
    weight_format: str = "int4"
    accumulator_format: str = "int32"
    mapping_objective: str = "time"
    static_power_w: float | None = None
    energy_table: EnergyTable | None = None
    dram_pj_per_bit: float | None = None
    name: str = dataclasses.field(default="", compare=False)

    UNITLESS: ClassVar[tuple] = ("group_size", "sign_symmetry", "table_entry_bits", "tile_m",
                                 "tile_n", "native_format", "weight_format", "accumulator_format",
                                 "mapping_objective")
    NESTED: ClassVar[dict] = {"energy_table": ("energy_table", False)}
    NON_NEGATIVE: ClassVar[tuple] = ("static_power_w",)

    def __post_init__(self):
        check_fields(self)  # every numeric field finite and > 0, every field of its type
        if self.group_size > 16:
            raise ValueError(f"group_size must be <= 16 (tables of 2^g entries), got {self.group_size}")
        _mapping.check_objective(self.mapping_objective)
        scaled_table(self.energy_table, self.node_nm)

    @property
    def static_w(self) -> float:
        """Static power in effect, W (``static_power_w`` or the SRAM's leakage)."""
        if self.static_power_w is not None:
            return float(self.static_power_w)
        return scaled_table(self.energy_table, self.node_nm).sram_leakage_w(self.sram_bytes)

    # ------------------------------------------------------------- tables
    @property
    def table_entries(self) -> int:
        """Entries per table: 2^g, or 2^(g−1) with sign symmetry (g = 4: 16 or 8)."""
        return 2 ** (self.group_size - 1) if self.sign_symmetry else 2**self.group_size

    @property
    def table_bytes(self) -> float:
        """Storage of one table, bytes."""
        return self.table_entries * self.table_entry_bits / 8

    @property
    def build_adds_per_table(self) -> int:
        """Adds to fill one table. Without symmetry the entries are the 2^g subset sums of the
        group: 0 and the g single activations are free, every other entry is one add onto a
        smaller subset's sum (2^g − 1 − g). With symmetry the entries are ±x_1 ± … ± x_g with
        x_1's sign fixed: the first costs g − 1 adds, each next entry flips one sign — one add
        of a doubled activation (2^(g−1) − 1)."""
        g = self.group_size
        if self.sign_symmetry:
            return (g - 1) + (2 ** (g - 1) - 1)
        return 2**g - 1 - g

    def counts(self, m: int, k: int, n: int, weight_bits: int) -> dict:
        """Operation counts: ``tables`` (m·⌈k/g⌉), ``build_adds`` (tables ×
        :attr:`build_adds_per_table`), ``lookups`` (m·n·⌈k/g⌉·bits)."""
        check_dims(m, k, n)
        check_positive("weight_bits", weight_bits, integer=True)
        groups = ceil_div(k, self.group_size)
        tables = m * groups
        return {"tables": tables, "build_adds": tables * self.build_adds_per_table,
                "lookups": m * n * groups * int(weight_bits)}

    def peak_macs_per_cycle(self, weight_bits: int) -> float:
        """MACs per cycle when lookups dominate: each lookup covers g activations of one bit
        plane, so g / bits MACs per lookup."""
        weight_bits = check_positive("weight_bits", weight_bits, integer=True)
        return self.lookups_per_cycle * self.group_size / weight_bits

    # ----------------------------------------------------------------- costs
    @functools.lru_cache(maxsize=1024)
    def _energies(self, a, b, acc):
        t = scaled_table(self.energy_table, self.node_nm)
        me = mac_terms(a, b, acc, t)  # for block-scale handling and decode terms
        oa, ob, oc = operand(a), operand(b), operand(acc)
        if oa.kind == "float" and self.table_entry_bits >= 16:
            build_add = t.fp_add(11)  # float16 table entries
        else:
            build_add = t.int_add(self.table_entry_bits)  # integer (e.g. T-MAC int8) entries
        acc_add = t.fp_add(oc.significand_bits) if oc.kind == "float" else t.int_add(oc.bits)
        return dict(
            me=me, oa=oa, ob=ob,
            build_add=build_add,
            entry_rw=t.sram_access(self.table_entry_bits, self.table_bytes),
            acc_add=acc_add,
            a_rd=t.sram_access(oa.storage_bits, self.sram_bytes),
            b_rd=t.sram_access(ob.storage_bits, self.sram_bytes),
            c_rw=t.sram_access(oc.bits, self.sram_bytes),
            bit_sram=t.sram_access(1, self.sram_bytes), oc_bits=oc.bits,
            dram_bit=self.dram_pj_per_bit if self.dram_pj_per_bit is not None else t.dram_access(1),
            static_w=self.static_w,
        )

    def gemm(self, m: int, k: int, n: int, *, a_format: FormatSpec = None, b_format: FormatSpec = None,
             accumulator: FormatSpec = None, batch: int = 1, a_elements: int | None = None) -> Cost:
        """Cost of (m×k)@(k×n), ``a`` activations, ``b`` the low-bit weights (b bit planes).

        Args:
            m, k, n: GEMM dimensions, ints >= 1.
            a_format, b_format, accumulator: formats (None: the native ones).
            batch: independent GEMMs of this shape (the cost of one, times ``batch``).
            a_elements: distinct elements of ``a`` in memory; None = m·k.

        Returns:
            :class:`Cost`; ``table`` energy = table builds + lookups, ``mac`` = accumulation;
            per-operand accesses, compute and DRAM times, the chosen mapping.
        """
        check_dims(m, k, n)
        batch, a_elems = extra_args(m, k, batch, a_elements)
        a, b, acc = resolve_operands(a_format, b_format, accumulator, self.native_format,
                                     self.weight_format, self.accumulator_format)
        one = _cached(self, m, k, n, a, b, acc, a_elems)
        return one if batch == 1 else one * batch

    def _sram_counts(self, m, k, n, tm, tk, tn):
        b_reads = k * n * ceil_div(m, self.tile_m)
        c_writes = m * n * ceil_div(k, tk)
        return {"a_sram_reads": m * k, "b_sram_reads": b_reads, "c_sram_writes": c_writes,
                "c_sram_reads": c_writes - m * n}

    def _cost(self, m, k, n, a, b, acc, a_elems) -> Cost:
        e = self._energies(a, b, acc)
        oa, ob = e["oa"], e["ob"]
        c = self.counts(m, k, n, ob.bits)
        compute = float(math.ceil(c["build_adds"] / self.adds_per_cycle)
                        + math.ceil(c["lookups"] / self.lookups_per_cycle))
        macs = float(m * k * n)
        me = e["me"]

        def sram(M, K, N, tm, tk, tn):
            s = self._sram_counts(M, K, N, tm, tk, tn)
            return (s["a_sram_reads"] * e["a_rd"] + s["b_sram_reads"] * e["b_rd"]
                    + (s["c_sram_writes"] + s["c_sram_reads"]) * e["c_rw"])

        def parts(tm, tk, tn):
            s = self._sram_counts(m, k, n, tm, tk, tn)
            s.update(tables=c["tables"], table_build_adds=c["build_adds"], lookups=c["lookups"])
            return {"mac": c["lookups"] * e["acc_add"],
                    "table": (c["build_adds"] * e["build_add"]
                              + c["tables"] * self.table_entries * e["entry_rw"]
                              + c["lookups"] * e["entry_rw"] + s["b_sram_reads"] * me.b_decode_pj),
                    "scale": macs * me.scale_pj}, s

        return mapped_cost(
            self, m, k, n, ea=oa.storage_bits / 8, eb=ob.storage_bits / 8,
            ep=e["oc_bits"] / 8, eo=oa.storage_bits / 8, a_elems=a_elems,
            caps=(self.sram_bytes,) * 3, shared=True,
            units=(min(self.tile_m, m), min(self.group_size, k), min(self.tile_n, n)),
            lows=(1, 1, 1), compute=lambda M, K, N, tm, tk, tn: compute + 0.0 * tm,
            sram_fn=sram, parts_fn=parts, fill_pj_per_bit=(e["bit_sram"],) * 3,
            dram_pj_per_bit=e["dram_bit"], static_w=e["static_w"],
            peak_rate=self.peak_macs_per_cycle(ob.bits))

    def roofline_cycles(self, m: int, k: int, n: int, *, a_format: FormatSpec = None, b_format: FormatSpec = None,
                        accumulator: FormatSpec = None) -> float:
        """max(lookups / lookups_per_cycle, compulsory DRAM bytes / bandwidth)."""
        check_dims(m, k, n)
        a, b, _ = resolve_operands(a_format, b_format, accumulator, self.native_format,
                                   self.weight_format, self.accumulator_format)
        oa, ob = operand(a), operand(b)
        compute = self.counts(m, k, n, ob.bits)["lookups"] / self.lookups_per_cycle
        if self.dram_bandwidth_bytes_per_cycle is None:
            return compute
        bytes_ = (m * k * oa.storage_bits + k * n * ob.storage_bits + m * n * oa.storage_bits) / 8
        return max(compute, bytes_ / self.dram_bandwidth_bytes_per_cycle)


@functools.lru_cache(maxsize=1 << 16)
def _cached(unit: LutGemmUnit, m, k, n, a, b, acc, a_elems) -> Cost:
    return unit._cost(m, k, n, a, b, acc, a_elems)


register_kind("lutgemm", LutGemmUnit)
