"""Energy per operation: the Horowitz table, precision scaling, technology scaling, MAC energy.

Sources (each rule says where it comes from; the numbers live in ``hwmodels/data/*.yaml``):

* Table values: M. Horowitz, "Computing's energy problem (and what we can do about it)",
  ISSCC 2014, paper 1.1, energy table for 45 nm at 0.9 V.
* Integer multiplier energy ∝ product of the operand widths: an array multiplier has one
  partial-product cell per bit pair (Weste & Harris, *CMOS VLSI Design*, 4th ed., §11.9).
  The proportionality constant is fitted to the table's 8×8 (0.2 pJ) and 32×32 (3.1 pJ) entries
  and interpolated geometrically in the product between them, so both entries are reproduced.
* Integer adder energy ∝ width (a ripple/prefix adder has one cell per bit): piecewise linear
  through the table's 8/16/32-bit entries, proportional beyond them.
* Floating-point multiplier: significand multiplier ∝ (mantissa+1)² — i.e. the product of the
  two operands' significand widths — plus an exponent adder of the exponent width (the same
  array-multiplier argument); constant fitted to the fp16 (1.1 pJ) and fp32 (3.7 pJ) entries.
* Floating-point adder ∝ significand width (alignment shifter and adder are linear in it): linear
  through the fp16 (0.4 pJ, p = 11) and fp32 (0.9 pJ, p = 24) entries.
* SRAM read per 64 bits vs capacity: log-log interpolation of the 8 KiB / 32 KiB / 1 MiB entries;
  beyond 1 MiB it keeps growing as (capacity / 1 MiB)^α (wire-dominated arrays), α =
  ``sram_capacity_exponent`` = 0.49: a least-squares fit of log E on log capacity to the CACTI
  7.0 points from 1 MiB to 128 MiB at 45 nm in ``tests/fixtures/measurements/sram_energy.csv``
  (itrs-hp and itrs-lstp cells, 16 points; CACTI gives 0.48 and 0.49 for the two families
  separately), anchored on the table's 1 MiB entry. Writes cost as much as reads (the table
  gives reads only).
* SRAM leakage: ``sram_leakage_per_mib_w`` (W per MiB of SRAM), CACTI 7.0 at 45 nm, itrs-hp
  cells: 1.077 W for 1 MiB (``tests/fixtures/measurements/static_power.csv`` row s043) — the
  high-performance cell family; low-standby-power cells leak four orders of magnitude less
  (0.23 mW), so this is an upper bound that machines replace with a measured figure where one
  exists (TPU v1's measured idle power). Rescaled to other nodes by the same energy factor as
  the dynamic entries (an assumption: leakage per bit tracks cell size and supply).
* Technology scaling: Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS
  device performance from 180 nm to 7 nm", Integration 58 (2017) 74–81, energy polynomials;
  5 nm from TSMC's N5 announcement (−30 % power at iso-speed vs N7). DRAM energy is not scaled
  (it is set by the memory interface, not the logic node).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Any, ClassVar

from lowbit.formats import MULTIPLIERS, default_accumulator

from .._loader import register_kind
from .._operand import Operand, operand, resolve_accumulator, resolve_format
from .._validate import check_fields, check_number

__all__ = ["EnergyTable", "TechNode", "TechScaling", "MacEnergy", "mac_energy",
           "energy_table", "tech_scaling", "node_factor"]


def _positive(name, v):
    return check_number(name, v, low=0.0, strict=True)


@dataclasses.dataclass(frozen=True)
class EnergyTable:
    """Energy per operation (pJ) at one technology node and supply voltage.

    Fields are the Horowitz ISSCC 2014 entries; :meth:`at_node` rescales the logic and SRAM
    entries to another node. All methods return pJ.
    """

    node_nm: float
    vdd_v: float
    int8_add_pj: float
    int16_add_pj: float
    int32_add_pj: float
    fp16_add_pj: float
    fp32_add_pj: float
    int8_mult_pj: float
    int32_mult_pj: float
    fp16_mult_pj: float
    fp32_mult_pj: float
    sram_8kib_read_64b_pj: float
    sram_32kib_read_64b_pj: float
    sram_1mib_read_64b_pj: float
    dram_read_64b_pj: float
    sram_capacity_exponent: float = 0.49
    sram_leakage_per_mib_w: float = 1.077
    name: str = dataclasses.field(default="", compare=False)

    UNITLESS: ClassVar[tuple] = ("sram_capacity_exponent",)
    NON_NEGATIVE: ClassVar[tuple] = ("sram_capacity_exponent", "sram_leakage_per_mib_w")

    def __post_init__(self):
        check_fields(self)  # every entry a finite number > 0 (the SRAM growth and leakage >= 0)

    # ---------------------------------------------------------- integer ops
    def int_add(self, width: float) -> float:
        """Energy of a ``width``-bit integer add (linear in width, through the 8/16/32 entries)."""
        _positive("width", width)
        pts = ((8, self.int8_add_pj), (16, self.int16_add_pj), (32, self.int32_add_pj))
        if width <= 8:
            return self.int8_add_pj * width / 8
        if width >= 32:
            return self.int32_add_pj * width / 32
        for (w0, e0), (w1, e1) in itertools.pairwise(pts):
            if width <= w1:
                return e0 + (e1 - e0) * (width - w0) / (w1 - w0)
        raise AssertionError  # pragma: no cover

    def int_mult(self, wa: float, wb: float) -> float:
        """Energy of a ``wa``×``wb``-bit integer multiply (∝ wa·wb)."""
        _positive("wa", wa)
        _positive("wb", wb)
        p = wa * wb
        c8, c32 = self.int8_mult_pj / 64, self.int32_mult_pj / 1024
        return _geo_coef(p, 64, c8, 1024, c32) * p

    # ----------------------------------------------------- floating point
    def fp_mult(self, pa: float, pb: float, exponent_bits: float) -> float:
        """Energy of a float multiply with significand widths ``pa``, ``pb`` (mantissa + 1) and
        an ``exponent_bits``-wide exponent adder (0 for none)."""
        _positive("pa", pa)
        _positive("pb", pb)
        exp = self.int_add(exponent_bits) if exponent_bits > 0 else 0.0
        p = pa * pb
        c16 = (self.fp16_mult_pj - self.int_add(5)) / 121  # fp16: p = 11, 5-bit exponent
        c32 = (self.fp32_mult_pj - self.int_add(8)) / 576  # fp32: p = 24, 8-bit exponent
        return _geo_coef(p, 121, c16, 576, c32) * p + exp

    def fp_add(self, precision: float) -> float:
        """Energy of a float add with significand precision ``precision`` (mantissa + 1)."""
        _positive("precision", precision)
        if precision <= 11:
            return self.fp16_add_pj * precision / 11
        if precision >= 24:
            return self.fp32_add_pj * precision / 24
        return self.fp16_add_pj + (self.fp32_add_pj - self.fp16_add_pj) * (precision - 11) / 13

    # --------------------------------------------------------------- memory
    def sram_access(self, bits: float, sram_bytes: float) -> float:
        """Energy of reading (or writing) ``bits`` bits from an SRAM of ``sram_bytes`` bytes.

        Log-log interpolation of the table's 8 KiB / 32 KiB / 1 MiB entries (extrapolated below
        8 KiB), growing as (sram_bytes / 1 MiB)^``sram_capacity_exponent`` beyond 1 MiB;
        linear in ``bits``.
        """
        bits = check_number("bits", bits, strict=False)
        _positive("sram_bytes", sram_bytes)
        size = float(sram_bytes)
        if size > 2.0**20:
            e64 = self.sram_1mib_read_64b_pj * (size / 2.0**20) ** self.sram_capacity_exponent
            return e64 * bits / 64
        pts = ((2.0**13, self.sram_8kib_read_64b_pj), (2.0**15, self.sram_32kib_read_64b_pj),
               (2.0**20, self.sram_1mib_read_64b_pj))
        if size <= pts[1][0]:
            (s0, e0), (s1, e1) = pts[0], pts[1]
        else:
            (s0, e0), (s1, e1) = pts[1], pts[2]
        slope = math.log(e1 / e0) / math.log(s1 / s0)
        e64 = e0 * (size / s0) ** slope
        return e64 * bits / 64

    def sram_leakage_w(self, sram_bytes: float) -> float:
        """Static (leakage) power of ``sram_bytes`` bytes of SRAM, W (linear in capacity)."""
        sram_bytes = check_number("sram_bytes", sram_bytes, strict=False)
        return self.sram_leakage_per_mib_w * sram_bytes / 2.0**20

    def dram_access(self, bits: float) -> float:
        """Energy of moving ``bits`` bits to or from DRAM."""
        bits = check_number("bits", bits, strict=False)
        return self.dram_read_64b_pj * bits / 64

    # ------------------------------------------------------- technology
    def at_node(self, node_nm: float, vdd_v: float | None = None) -> EnergyTable:
        """This table rescaled to ``node_nm`` (logic and SRAM entries and SRAM leakage; DRAM
        unchanged).

        Args:
            node_nm: target technology node, within the scaling table's range (5–130 nm).
            vdd_v: target supply voltage; default the node's nominal voltage.

        Raises:
            ValueError: if the node is outside the scaling table.
        """
        if node_nm == self.node_nm and vdd_v is None:
            return self
        f = node_factor(node_nm, vdd_v) / node_factor(self.node_nm, self.vdd_v)
        new = {}
        for fld in dataclasses.fields(self):
            v = getattr(self, fld.name)
            if (fld.name.endswith("_pj") and not fld.name.startswith("dram")) \
                    or fld.name == "sram_leakage_per_mib_w":
                v = v * f
            new[fld.name] = v
        new["node_nm"] = node_nm
        new["vdd_v"] = vdd_v if vdd_v is not None else tech_scaling().node(node_nm).vdd_v
        new["name"] = f"{self.name}@{node_nm:g}nm"
        return EnergyTable(**new)


def _geo_coef(p, p0, c0, p1, c1):
    """Coefficient interpolated geometrically in ``p`` between (p0, c0) and (p1, c1), clamped."""
    if p <= p0:
        return c0
    if p >= p1:
        return c1
    t = math.log(p / p0) / math.log(p1 / p0)
    return c0 ** (1 - t) * c1**t


register_kind("energy_table", EnergyTable)


@dataclasses.dataclass(frozen=True)
class TechNode:
    """One row of the technology-scaling table.

    Either ``energy_poly`` (Stillmaker & Baas coefficients (a, b, c): energy factor
    a·V² + b·V + c at supply V) or ``derived_from_nm`` + ``energy_ratio`` (factor = ratio × the
    factor of that node) is given.
    """

    node_nm: float
    vdd_v: float
    energy_poly: tuple | None = None
    derived_from_nm: float | None = None
    energy_ratio: float | None = None

    UNITLESS: ClassVar[tuple] = ("energy_poly", "energy_ratio")

    def __post_init__(self):
        check_fields(self)  # numeric fields finite and > 0, energy_poly a tuple or None
        if (self.energy_poly is None) == (self.derived_from_nm is None):
            raise ValueError("give exactly one of energy_poly or derived_from_nm")
        if self.energy_poly is not None:
            if len(self.energy_poly) != 3:
                raise ValueError(f"energy_poly must have 3 coefficients, got {len(self.energy_poly)}")
            poly = tuple(float(check_number(f"energy_poly[{i}]", x, low=None))
                         for i, x in enumerate(self.energy_poly))
            object.__setattr__(self, "energy_poly", poly)
        else:
            _positive("energy_ratio", self.energy_ratio)


register_kind("tech_node", TechNode)


@dataclasses.dataclass(frozen=True)
class TechScaling:
    """The technology-scaling table (rows of :class:`TechNode`)."""

    nodes: tuple
    name: str = dataclasses.field(default="", compare=False)

    NESTED: ClassVar[dict] = {"nodes": ("tech_node", True)}

    def __post_init__(self):
        check_fields(self)
        if not self.nodes or not all(isinstance(n, TechNode) for n in self.nodes):
            raise TypeError(f"nodes must be a non-empty tuple of TechNode records, got {self.nodes!r}")

    def node(self, node_nm: float) -> TechNode:
        for n in self.nodes:
            if n.node_nm == node_nm:
                return n
        lo, hi = self._bracket(node_nm)
        t = math.log(hi.node_nm / node_nm) / math.log(hi.node_nm / lo.node_nm)
        return TechNode(node_nm, hi.vdd_v + t * (lo.vdd_v - hi.vdd_v), energy_poly=(0, 0, 1))

    def _bracket(self, node_nm):
        nodes = sorted(self.nodes, key=lambda n: n.node_nm)
        if not nodes[0].node_nm <= node_nm <= nodes[-1].node_nm:
            raise ValueError(f"node_nm must be in [{nodes[0].node_nm:g}, {nodes[-1].node_nm:g}] "
                             f"nm (the scaling table's range), got {node_nm!r}")
        for a, b in itertools.pairwise(nodes):
            if a.node_nm <= node_nm <= b.node_nm:
                return a, b
        raise AssertionError  # pragma: no cover

    def factor(self, node_nm: float, vdd_v: float | None = None) -> float:
        """Energy factor of ``node_nm`` at ``vdd_v`` (default nominal), relative units.

        Nodes between table rows are interpolated log-log in the node size (at nominal
        voltage only).
        """
        _positive("node_nm", node_nm)
        row = next((n for n in self.nodes if n.node_nm == node_nm), None)
        if row is None:
            nominal = self.node(node_nm).vdd_v
            # (the nominal voltage itself is allowed: tables rescaled here carry it)
            if vdd_v is not None and not math.isclose(vdd_v, nominal, rel_tol=1e-9):
                raise ValueError(f"vdd_v can only be given for a node in the table; "
                                 f"{node_nm:g} nm is interpolated (its nominal vdd_v is {nominal:g} V)")
            lo, hi = self._bracket(node_nm)
            flo, fhi = self.factor(lo.node_nm), self.factor(hi.node_nm)
            t = math.log(node_nm / lo.node_nm) / math.log(hi.node_nm / lo.node_nm)
            return math.exp(math.log(flo) + t * (math.log(fhi) - math.log(flo)))
        if row.energy_poly is None:
            if vdd_v is not None:
                raise ValueError(f"vdd_v cannot be given for {node_nm:g} nm (scaled from "
                                 f"{row.derived_from_nm:g} nm by a published ratio)")
            return row.energy_ratio * self.factor(row.derived_from_nm)
        v = row.vdd_v if vdd_v is None else vdd_v
        _positive("vdd_v", v)
        a, b, c = row.energy_poly
        f = a * v * v + b * v + c
        if not f > 0:
            raise ValueError(f"vdd_v={v} is outside the fitted range for {node_nm:g} nm")
        return f


register_kind("tech_scaling", TechScaling)


def energy_table(name: str = "horowitz-45nm") -> EnergyTable:
    """A built-in energy table by name (``hwmodels/data/energy-<name>.yaml``).

    Raises:
        ValueError: naming ``energy_table`` and the built-in names, for an unknown name.
    """
    from .._builtin import _load_builtin, check_builtin

    check_builtin("energy_table", "energy-", name)
    return _load_builtin(f"energy-{name}", kind="energy_table")


def tech_scaling(name: str = "stillmaker-baas-2017") -> TechScaling:
    """The built-in technology-scaling table by name (``hwmodels/data/tech-<name>.yaml``).

    Raises:
        ValueError: naming ``tech_scaling`` and the built-in names, for an unknown name.
    """
    from .._builtin import _load_builtin, check_builtin

    check_builtin("tech_scaling", "tech-", name)
    return _load_builtin(f"tech-{name}", kind="tech_scaling")


def node_factor(node_nm: float, vdd_v: float | None = None) -> float:
    """Energy factor of a technology node (relative units; divide two to scale)."""
    return tech_scaling().factor(node_nm, vdd_v)


# --------------------------------------------------------------------------- MAC energy
@dataclasses.dataclass(frozen=True)
class MacEnergy:
    """Energy of one multiply-accumulate in given formats, pJ, split by category.

    ``multiply_pj + accumulate_pj`` is the MAC proper; ``scale_pj`` and ``table_pj`` are per-MAC
    shares of block-scale handling and table lookups; ``a_decode_pj`` / ``b_decode_pj`` are
    paid once per element read of that operand (codebook dequantization).
    """

    multiply_pj: float
    accumulate_pj: float
    scale_pj: float = 0.0
    table_pj: float = 0.0
    a_decode_pj: float = 0.0
    b_decode_pj: float = 0.0

    NON_NEGATIVE: ClassVar[tuple] = ("multiply_pj", "accumulate_pj", "scale_pj", "table_pj",
                                     "a_decode_pj", "b_decode_pj")

    def __post_init__(self):
        check_fields(self)  # every term a finite number >= 0

    @property
    def mac_pj(self) -> float:
        return self.multiply_pj + self.accumulate_pj

    @property
    def total_pj(self) -> float:
        """Per-MAC energy excluding the per-element decode terms."""
        return self.mac_pj + self.scale_pj + self.table_pj


def _multiply(table: EnergyTable, a: Operand, b: Operand, multiplier: str) -> tuple[float, float]:
    """(multiply pJ, table pJ) of one product of an ``a`` and a ``b`` element."""
    if multiplier == "lmul":
        if a.kind != "float" or b.kind != "float":
            raise ValueError("multiplier='lmul' needs floating-point operands (L-Mul adds the "
                             f"exponent-mantissa fields); got {a.kind} and {b.kind}")
        # Luo & Sun, arXiv 2410.00907, §3: one integer addition of the exponent+mantissa fields.
        w = max(a.exponent_bits + a.significand_bits - 1, b.exponent_bits + b.significand_bits - 1)
        return table.int_add(w), 0.0
    if multiplier == "lns" and (a.kind != "lns" or b.kind != "lns"):
        raise ValueError(f"multiplier='lns' needs LNS operands (it adds their log fields); got {a.kind} "
                         f"and {b.kind}")
    if a.kind == "lns" and b.kind == "lns":
        # LNS multiply = add of the log fields (sign by XOR).
        return table.int_add(max(a.bits, b.bits) - 1), 0.0
    extra = 0.0
    if a.kind == "posit" or b.kind == "posit":
        # Posit operands are decoded (regime leading-one detection and shift) and the product
        # re-encoded; modelled as one n-bit add per decode/encode.
        for o in (a, b):
            if o.kind == "posit":
                extra += table.int_add(o.bits)
        extra += table.int_add(max(a.bits, b.bits))
    ea = a.decoded if a.kind == "codebook" else a
    eb = b.decoded if b.kind == "codebook" else b
    if ea.kind == "int" and eb.kind == "int":
        return table.int_mult(ea.significand_bits, eb.significand_bits) + extra, 0.0
    if ea.kind == "lns" or eb.kind == "lns":
        # LNS times a linear value: convert the LNS operand through the 2^x table first.
        lin = next(o for o in (ea, eb) if o.kind == "lns")
        # 2^x of the fractional part of the log: a table of 2^F entries
        t = table.sram_access(lin.bits, max(2**lin.frac_bits, 2) * lin.bits / 8)
        other = eb if lin is ea else ea
        sig = max(lin.bits - 1, 1)
        return table.fp_mult(sig, _sig(other), other.exponent_bits) + extra, t
    return table.fp_mult(_sig(ea), _sig(eb), max(ea.exponent_bits, eb.exponent_bits)) + extra, 0.0


def _sig(o: Operand) -> int:
    """Multiplier input width: significand of a float, magnitude bits of a signed integer."""
    if o.kind == "int":
        return max(o.significand_bits - (1 if o.signed else 0), 1)
    return o.significand_bits


def _accumulate(table: EnergyTable, acc: Operand) -> tuple[float, float]:
    """(add pJ, table pJ) of one accumulation into ``acc``."""
    if acc.kind == "int":
        return table.int_add(acc.bits), 0.0
    if acc.kind == "lns":
        # LNS addition: difference of the logs, a lookup of the Gaussian logarithm
        # sb(d) = log2(1 + 2^d), and an add. sb(d) < 2^-(F+1) (half an ulp) for d < -(F+1), so a
        # direct table over d in [-(F+1), 0] at the format's resolution 2^-F has (F+1)·2^F
        # entries (F = frac_bits; interpolating tables are smaller).
        entries = max((acc.frac_bits + 1) * 2**acc.frac_bits, 2)
        return 2 * table.int_add(acc.bits), table.sram_access(acc.bits, entries * acc.bits / 8)
    if acc.kind == "posit":
        return table.fp_add(acc.significand_bits) + 2 * table.int_add(acc.bits), 0.0
    return table.fp_add(acc.significand_bits), 0.0


def _scale_handling(table: EnergyTable, a: Operand, b: Operand, acc: Operand) -> float:
    """Energy per MAC of block-scale handling.

    Per block of k (and per output element): combine the operands' scales, rescale the block's
    partial sum by the combined scale, and add it into the outer float32 accumulator. A
    power-of-two scale (E8M0) combines by an exponent add and rescales by an exponent add; any
    other scale (E4M3 for NVFP4) needs a float multiply. Amortised over the block size.
    """
    blocks = [o for o in (a, b) if o.is_block]
    if not blocks:
        return 0.0
    bsize = min(o.block_size for o in blocks)
    pow2 = all(o.power_of_two_scale for o in blocks)
    e = 0.0
    if len(blocks) == 2:
        sa, sb = blocks[0].scale, blocks[1].scale
        if pow2:
            e += table.int_add(max(sa.exponent_bits, sb.exponent_bits))
        else:
            e += table.fp_mult(sa.significand_bits, sb.significand_bits,
                               max(sa.exponent_bits, sb.exponent_bits))
    accp = acc.significand_bits if acc.kind == "float" else 24
    if pow2:
        e += table.int_add(8)  # add the (combined) scale exponent to the partial sum's exponent
    else:
        s = blocks[0].scale
        e += table.fp_mult(accp, s.significand_bits, 8)
    e += table.fp_add(24)  # accumulate the rescaled partial sum in float32
    return e / bsize


def _decode(table: EnergyTable, o: Operand) -> float:
    """Per-element decode energy of codebook formats: one table read of the decoded value."""
    if o.kind != "codebook":
        return 0.0
    entries = 2**o.bits
    return table.sram_access(o.decoded.bits, entries * o.decoded.bits / 8)


@functools.lru_cache(maxsize=4096)
def _mac_energy_cached(a, b, acc, multiplier, table):
    oa, ob = operand(a), operand(b)
    oacc = operand(acc)
    mul, t1 = _multiply(table, oa, ob, multiplier)
    add, t2 = _accumulate(table, oacc)
    scale = _scale_handling(table, oa, ob, oacc)
    return MacEnergy(mul, add, scale, t1 + t2, _decode(table, oa), _decode(table, ob))


def mac_energy(a_format: Any, b_format: Any, accumulator: Any = None, *, multiplier: str = "exact",
               table: EnergyTable | None = None, node_nm: float | None = None) -> MacEnergy:
    """Energy of one multiply-accumulate ``acc += a * b`` in the given formats.

    Args:
        a_format, b_format: format records or registered names (any family; block formats
            add per-block scale handling, codebooks add a per-element decode lookup).
        accumulator: accumulator format; None = :func:`formats.default_accumulator` (int32 for
            integer × integer, float32 otherwise: the rule ``simulator.matmul`` uses too).
        multiplier: one of :data:`formats.MULTIPLIERS`: ``"exact"``, ``"lmul"`` (L-Mul, Luo &
            Sun arXiv 2410.00907: the product is one integer add of the exponent+mantissa
            fields) or ``"lns"`` (LNS operands: one add of the log fields).
        table: energy table; default Horowitz 45 nm.
        node_nm: rescale the table to this technology node first.

    Returns:
        :class:`MacEnergy` (pJ).

    Raises:
        ValueError: unknown format name, unknown multiplier, L-Mul on non-float operands, a
            non-scalar accumulator (block, scaled, codebook, lattice formats).
    """
    if multiplier not in MULTIPLIERS:
        raise ValueError(f"multiplier must be one of {MULTIPLIERS}, got {multiplier!r}")
    a = resolve_format(a_format, "a_format")
    b = resolve_format(b_format, "b_format")
    if a is None or b is None:
        raise ValueError("a_format and b_format must be given")
    acc = resolve_accumulator(accumulator, "accumulator")
    if acc is None:
        acc = default_accumulator(a, b, multiplier)
    t = table if table is not None else energy_table()
    if node_nm is not None:
        t = t.at_node(node_nm)
    return _mac_energy_cached(a, b, acc, multiplier, t)
