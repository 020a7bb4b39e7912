"""Bit-serial and bit-fusion arrays: throughput that scales with operand precision.

One record, four modes (the throughput rule is the only thing the mode changes):

* ``"stripes"`` — activation-serial (Judd et al., "Stripes: Bit-serial deep neural network
  computing", MICRO 2016, §3): time ∝ activation precision p_a; with the same weight bandwidth
  as a 16-bit bit-parallel baseline, the ideal speedup is 16/p_a.
  MACs/cycle = units × baseline_bits / p_a.
* ``"loom"`` — both operands serial (Sharify et al., "Loom: Exploiting weight and activation
  precisions to accelerate convolutional neural networks", arXiv 1706.07853, §1/§3): convolutional
  layers ∝ p_a·p_w/256, fully-connected layers (no weight reuse, here m = 1) ∝ p_w/16.
  Between the two, a GEMM of m rows reuses each weight m times, and the activation-serial
  speedup 16/p_a needs 16/p_a rows to fill (our interpolation, which meets both published rules
  and keeps time non-decreasing in m): MACs/cycle = units × (16/p_w) × min(m, 16/p_a).
* ``"bitfusion"`` — fusion of 2-bit BitBricks (Sharma et al., "Bit Fusion: Bit-level dynamically
  composable architecture for accelerating deep neural networks", ISCA 2018, §3): a fusion unit
  does ⌊8/max(p_a,2)⌋·⌊8/max(p_w,2)⌋ MACs per cycle for p ≤ 8 (one 8×8 MAC per cycle);
  operands wider than 8 bits take ⌈p/8⌉ cycles per operand (temporal fusion).
* ``"bitmod"`` — weight-serial with per-group mixed data types (Chen et al., "BitMoD:
  Bit-serial mixture-of-datatype LLM acceleration", HPCA 2025, arXiv 2411.11745): FP16/INT8
  activations bit-parallel, weights processed one bit per cycle, a per-group (default 128)
  dequantization of partial sums. MACs/cycle = units × baseline_bits / p_w.

``units`` is the number of baseline-precision MACs the array completes per cycle (the
bit-parallel-equivalent width). Precision p of a format is its element width (``bits``).
Energy per MAC follows the precision-scaled MAC energy of the formats (the bit products done are
the same p_a·p_w whether serial or parallel); BitMoD adds the per-group dequantization as
``scale`` energy. Memory: the array computes ``tile_m`` × ``tile_n`` outputs at a time and
reads its operands from one on-chip SRAM (each activation once per column tile, each weight once
per row tile); the GEMM is blocked between DRAM and that SRAM by the mapping search of the
systolic array (:mod:`._mapping`), the SRAM shared by the three operands. DRAM transfers of
double-buffered tiles overlap compute. Static power: ``static_power_w`` or the SRAM's leakage.
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

__all__ = ["BitSerialArray", "BITSERIAL_MODES"]

BITSERIAL_MODES = ("stripes", "loom", "bitfusion", "bitmod")


def bitfusion_factor(p: int) -> float:
    """MACs per fusion unit per cycle contributed by one operand of ``p`` bits (Bit Fusion)."""
    if p <= 8:
        return float(8 // max(p, 2))
    return 1.0 / math.ceil(p / 8)


@dataclasses.dataclass(frozen=True)
class BitSerialArray:
    """Precision-scalable array (see module docstring for the four modes).

    Args:
        mode: ``"stripes"``, ``"loom"``, ``"bitfusion"`` or ``"bitmod"``.
        units: baseline-precision MACs per cycle.
        baseline_bits: precision of the bit-parallel baseline (16 for Stripes/Loom/BitMoD; Bit
            Fusion's rule is fixed to 8-bit fusion units and ignores it).
        tile_m, tile_n: outputs computed concurrently (activation rows × weight columns), for the
            SRAM reuse model.
        sram_bytes: on-chip buffer capacity, bytes.
        dram_bandwidth_bytes_per_cycle: DRAM bandwidth; None = unlimited.
        clock_hz: clock, Hz. node_nm: technology node, nm.
        native_format: operand format when none is given; accumulator_format likewise.
        group_size: BitMoD weight group (per-group data type and scale), elements.
        mapping_objective: ``"time"`` or ``"energy"`` (as :class:`SystolicArray`).
        static_power_w: static power, W; None = the SRAM's leakage (energy table).
        energy_table, dram_pj_per_bit: as :class:`SystolicArray`.
    """

    mode: str
    units: int
    baseline_bits: int = 16
    tile_m: int = 16
    tile_n: int = 16
    sram_bytes: float = 2.0**21
    dram_bandwidth_bytes_per_cycle: float | None = None
    clock_hz: float = 1e9
    node_nm: float = 65
    native_format: str = "int16"
    accumulator_format: str = "int32"
    group_size: int = 128
    mapping_objective: str = "time"
    static_power_w: float | None = None
    energy_table: EnergyTable | None = None
    dram_pj_per_bit: float | None = None
    name: str = dataclasses.field(default="", compare=False)

    UNITLESS: ClassVar[tuple] = ("mode", "units", "baseline_bits", "tile_m", "tile_n",
                                 "native_format", "accumulator_format", "group_size",
                                 "mapping_objective")
    NESTED: ClassVar[dict] = {"energy_table": ("energy_table", False)}
    NON_NEGATIVE: ClassVar[tuple] = ("static_power_w",)

    def __post_init__(self):
        check_fields(self)  # every numeric field finite and > 0, every field of its type
        if self.mode not in BITSERIAL_MODES:
            raise ValueError(f"mode must be one of {BITSERIAL_MODES}, got {self.mode!r}")
        _mapping.check_objective(self.mapping_objective)
        scaled_table(self.energy_table, self.node_nm)

    @property
    def static_w(self) -> float:
        """Static power in effect, W (``static_power_w`` or the SRAM's leakage)."""
        if self.static_power_w is not None:
            return float(self.static_power_w)
        return scaled_table(self.energy_table, self.node_nm).sram_leakage_w(self.sram_bytes)

    # ------------------------------------------------------------ throughput
    def macs_per_cycle(self, a_bits: int, b_bits: int, *, m: int = 1 << 30) -> float:
        """Peak MACs per cycle for ``a_bits``-bit activations and ``b_bits``-bit weights.

        ``m`` (activation rows) matters for Loom only: its fully-connected rule at m = 1, its
        convolutional rule from m ≥ baseline_bits / a_bits rows on, linear in m between.
        """
        check_positive("a_bits", a_bits, integer=True)
        check_positive("b_bits", b_bits, integer=True)
        u, base = self.units, self.baseline_bits
        if self.mode == "stripes":
            return u * base / a_bits
        if self.mode == "loom":
            return u * base / b_bits * min(m, base / a_bits)
        if self.mode == "bitfusion":
            return u * bitfusion_factor(a_bits) * bitfusion_factor(b_bits)
        return u * base / b_bits  # bitmod: weight-serial

    @property
    def peak_macs_per_cycle(self) -> float:
        """MACs per cycle at the baseline precision (``units``)."""
        return float(self.units)

    # ----------------------------------------------------------------- costs
    @functools.lru_cache(maxsize=1024)
    def _energies(self, a, b, acc):
        t = scaled_table(self.energy_table, self.node_nm)
        me = mac_terms(a, b, acc, t)
        oa, ob, oc = operand(a), operand(b), operand(acc)
        extra_scale = 0.0
        if self.mode == "bitmod" and not ob.is_block:
            # BitMoD's bit-serial dequantization unit rescales each group's partial sum once:
            # one multiply by the group scale (fp16) and one float32 accumulate, per group.
            extra_scale = (t.fp_mult(11, 11, 5) + t.fp_add(24)) / self.group_size
        bit = t.sram_access(1, self.sram_bytes)
        return dict(me=me, oa=oa, ob=ob, oc=oc, extra_scale=extra_scale,
                    a_rd=t.sram_access(oa.storage_bits, self.sram_bytes),
                    b_rd=t.sram_access(ob.storage_bits, self.sram_bytes),
                    c_rw=t.sram_access(oc.bits, self.sram_bytes), bit_sram=bit,
                    dram_bit=self.dram_pj_per_bit if self.dram_pj_per_bit is not None
                    else t.dram_access(1), static_w=self.static_w)

    def _sram_counts(self, m, k, n, tm, tk, tn):
        a_reads = m * k * ceil_div(n, self.tile_n)
        b_reads = k * n * ceil_div(m, self.tile_m)
        c_writes = m * n * ceil_div(k, tk)
        return {"a_sram_reads": a_reads, "b_sram_reads": b_reads, "c_sram_writes": c_writes,
                "c_sram_reads": c_writes - m * n}

    def gemm(self, m: int, k: int, n: int, *, a_format: FormatSpec = None, b_format: FormatSpec = None,
             accumulator: FormatSpec = None, batch: int = 1, a_elements: int | None = None) -> Cost:
        """Cost of (m×k)@(k×n) (``a`` activations, ``b`` weights); see the class docstring.

        Args:
            m, k, n: GEMM dimensions, ints >= 1.
            a_format, b_format, accumulator: formats (None: the native ones).
            batch: independent GEMMs of this shape (the cost of one, times ``batch``).
            a_elements: distinct elements of ``a`` in memory (a convolution's input); None = m·k.

        Returns:
            :class:`Cost` with ``mac``, ``sram``, ``dram``, ``scale``, ``table``, ``static``
            energy, per-operand accesses, compute and DRAM times and the chosen mapping;
            utilization is relative to the peak at the *given* precisions.
        """
        check_dims(m, k, n)
        batch, a_elems = extra_args(m, k, batch, a_elements)
        a, b, acc = resolve_operands(a_format, b_format, accumulator, self.native_format,
                                     self.native_format, self.accumulator_format)
        one = _cached(self, m, k, n, a, b, acc, a_elems)
        return one if batch == 1 else one * batch

    def _cost(self, m, k, n, a, b, acc, a_elems) -> Cost:
        e = self._energies(a, b, acc)
        oa, ob, oc = e["oa"], e["ob"], e["oc"]
        rate = self.macs_per_cycle(oa.bits, ob.bits, m=m)
        compute = float(math.ceil(m * k * n / rate))
        me = e["me"]
        macs = float(m * k * n)

        def sram(M, K, N, tm, tk, tn):
            c = self._sram_counts(M, K, N, tm, tk, tn)
            return (c["a_sram_reads"] * e["a_rd"] + c["b_sram_reads"] * e["b_rd"]
                    + (c["c_sram_writes"] + c["c_sram_reads"]) * e["c_rw"])

        def parts(tm, tk, tn):
            c = self._sram_counts(m, k, n, tm, tk, tn)
            return {"mac": macs * me.mac_pj, "scale": macs * (me.scale_pj + e["extra_scale"]),
                    "table": (macs * me.table_pj + c["a_sram_reads"] * me.a_decode_pj
                              + c["b_sram_reads"] * me.b_decode_pj)}, c

        return mapped_cost(
            self, m, k, n, ea=oa.storage_bits / 8, eb=ob.storage_bits / 8, ep=oc.bits / 8,
            eo=oa.storage_bits / 8, a_elems=a_elems, caps=(self.sram_bytes,) * 3, shared=True,
            units=(min(self.tile_m, m), 1, min(self.tile_n, n)), lows=(1, 1, 1),
            compute=lambda M, K, N, tm, tk, tn: compute + 0.0 * tm, sram_fn=sram,
            parts_fn=parts, fill_pj_per_bit=(e["bit_sram"],) * 3, dram_pj_per_bit=e["dram_bit"],
            static_w=e["static_w"], peak_rate=rate)

    def roofline_cycles(self, m: int, k: int, n: int, *, a_format: FormatSpec = None, b_format: FormatSpec = None,
                        accumulator: FormatSpec = None) -> float:
        """max(MACs / peak rate at these precisions, compulsory DRAM bytes / bandwidth)."""
        check_dims(m, k, n)
        a, b, _ = resolve_operands(a_format, b_format, accumulator, self.native_format,
                                   self.native_format, self.accumulator_format)
        oa, ob = operand(a), operand(b)
        compute = m * k * n / self.macs_per_cycle(oa.bits, ob.bits, m=m)
        if self.dram_bandwidth_bytes_per_cycle is None:
            return compute
        bytes_ = (m * k * oa.storage_bits + k * n * ob.storage_bits + m * n * oa.storage_bits) / 8
        return max(compute, bytes_ / self.dram_bandwidth_bytes_per_cycle)


@functools.lru_cache(maxsize=1 << 16)
def _cached(arr: BitSerialArray, m, k, n, a, b, acc, a_elems) -> Cost:
    return arr._cost(m, k, n, a, b, acc, a_elems)


register_kind("bitserial", BitSerialArray)
