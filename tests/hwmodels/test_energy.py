"""Energy model: the Horowitz table, precision and technology scaling, MAC energy per family."""

import itertools
import math
import pathlib

import pytest

from lowbit import formats, hwmodels
from lowbit.hwmodels import mac_energy

T = hwmodels.energy_table()

# Horowitz, ISSCC 2014, paper 1.1, energy table (45 nm, 0.9 V), pJ.
HOROWITZ = {
    "int8_add": 0.03, "int16_add": 0.05, "int32_add": 0.1, "fp16_add": 0.4, "fp32_add": 0.9,
    "int8_mult": 0.2, "int32_mult": 3.1, "fp16_mult": 1.1, "fp32_mult": 3.7,
}


@pytest.mark.parametrize("op, pj", HOROWITZ.items())
def test_table_entries(op, pj):
    assert getattr(T, f"{op}_pj") == pj


def test_rules_reproduce_the_table():
    assert T.int_add(8) == pytest.approx(0.03)
    assert T.int_add(16) == pytest.approx(0.05)
    assert T.int_add(32) == pytest.approx(0.1)
    assert T.int_mult(8, 8) == pytest.approx(0.2)
    assert T.int_mult(32, 32) == pytest.approx(3.1)
    # fp16: 11-bit significands, 5-bit exponent; fp32: 24-bit significands, 8-bit exponent
    assert T.fp_mult(11, 11, 5) == pytest.approx(1.1)
    assert T.fp_mult(24, 24, 8) == pytest.approx(3.7)
    assert T.fp_add(11) == pytest.approx(0.4)
    assert T.fp_add(24) == pytest.approx(0.9)
    # SRAM per 64 bits: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ; DRAM 1.3-2.6 nJ (low end taken)
    assert T.sram_access(64, 8 * 1024) == pytest.approx(10)
    assert T.sram_access(64, 32 * 1024) == pytest.approx(20)
    assert T.sram_access(64, 1024 * 1024) == pytest.approx(100)
    assert 1300 <= T.dram_access(64) <= 2600


def test_mac_energy_of_table_formats():
    # int8 x int8 into int32: 0.2 + 0.1; fp32 x fp32 into fp32: 3.7 + 0.9 (the table's sums)
    assert mac_energy("int8", "int8").mac_pj == pytest.approx(0.3)
    assert mac_energy("float32", "float32", "float32").mac_pj == pytest.approx(4.6)
    assert mac_energy("float16", "float16", "float16").mac_pj == pytest.approx(1.5)


def test_precision_scaling_rules():
    # integer multiply ∝ product of widths (exactly, below the 8x8 anchor)
    assert T.int_mult(4, 4) == pytest.approx(0.2 * 16 / 64)
    assert T.int_mult(2, 8) == pytest.approx(0.2 * 16 / 64)
    assert T.int_mult(4, 8) == pytest.approx(T.int_mult(8, 4))
    # adder ∝ width
    assert T.int_add(4) == pytest.approx(0.03 / 2)
    assert T.int_add(64) == pytest.approx(0.2)
    # float multiply: significand product term ∝ (m+1)^2, plus an exponent adder
    e4m3 = T.fp_mult(4, 4, 4)
    coef16 = (1.1 - T.int_add(5)) / 121
    assert e4m3 == pytest.approx(coef16 * 16 + T.int_add(4))
    widths = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
    for a, b in itertools.pairwise(widths):
        assert T.int_mult(a, a) < T.int_mult(b, b)
        assert T.int_add(a) < T.int_add(b)
        assert T.fp_add(a) < T.fp_add(b)


def test_lmul_savings_known_answers():
    """L-Mul (Luo & Sun, arXiv 2410.00907): one integer add of width exponent+mantissa.

    With the Horowitz numbers the paper uses: elementwise 1 − 0.1/3.7 ≈ 97.3 %, dot product
    1 − (0.1 + 0.9)/(3.7 + 0.9) ≈ 78.3 % (the paper rounds to 95 % and 80 %).
    """
    exact = mac_energy("float32", "float32", "float32")
    lmul = mac_energy("float32", "float32", "float32", multiplier="lmul")
    elementwise = 1 - lmul.multiply_pj / exact.multiply_pj
    dot = 1 - lmul.mac_pj / exact.mac_pj
    assert elementwise == pytest.approx(1 - 0.1 / 3.7, abs=0.005)
    assert dot == pytest.approx(1 - (0.1 + 0.9) / (3.7 + 0.9), abs=0.005)
    # the L-Mul product is an integer add of exponent+mantissa bits (8 + 23 for fp32)
    assert lmul.multiply_pj == pytest.approx(T.int_add(31))
    bf = mac_energy("bfloat16", "bfloat16", "float32", multiplier="lmul")
    assert bf.multiply_pj == pytest.approx(T.int_add(15))


def test_lmul_needs_floats():
    with pytest.raises(ValueError, match="lmul"):
        mac_energy("int8", "int8", multiplier="lmul")
    with pytest.raises(ValueError, match="multiplier"):
        mac_energy("int8", "int8", multiplier="booth")


def test_unknown_format_names_the_parameter():
    with pytest.raises(ValueError, match="b_format"):
        mac_energy("int8", "not_a_format")


def test_fp8_costs_more_than_int8_per_mac():
    # van Baalen et al. (arXiv 2303.17951): FP8 MACs are less efficient than INT8 (50-180 %
    # more area/energy); here fp32 accumulation vs int32 makes FP8 costlier.
    fp8 = mac_energy("float8_e4m3fn", "float8_e4m3fn").mac_pj
    int8 = mac_energy("int8", "int8").mac_pj
    assert fp8 > 1.5 * int8


def test_integer_mac_monotone_in_width():
    prev = 0
    for w in (1, 2, 3, 4, 6, 8, 12, 16):
        e = mac_energy(f"int{w}", f"int{w}", "int32").mac_pj
        assert e > prev
        prev = e


def test_block_formats_add_scale_handling_amortised_over_the_block():
    """A block format = element MAC + per-block scale handling / block size."""
    el = formats.get("float4_e2m1fn")
    e8m0 = formats.get("float8_e8m0fnu")
    Blk = formats.BlockFormat  # noqa: N806
    b32, b16 = Blk(el, e8m0, 32), Blk(el, e8m0, 16)
    plain = mac_energy(el, el, "float32")
    m32 = mac_energy(b32, b32, "float32")
    m16 = mac_energy(b16, b16, "float32")
    assert m32.mac_pj == pytest.approx(plain.mac_pj)
    assert m32.scale_pj > 0
    assert m16.scale_pj == pytest.approx(2 * m32.scale_pj)
    # power-of-two scales: exponent adds only, cheaper than an E4M3 (NVFP4-like) scale
    nv = Blk(el, formats.get("float8_e4m3fn"), 16)
    assert mac_energy(nv, nv, "float32").scale_pj > m16.scale_pj
    from lowbit.hwmodels._operand import operand

    assert operand(b32).storage_bits == pytest.approx(4.25)  # OCP MX v1.0: MXFP4 4.25 bits


def test_registered_block_and_codebook_formats():
    from lowbit.hwmodels._operand import operand

    # true bits per element: OCP MX v1.0 (MXFP4 4.25, MXFP8 8.25); NVFP4 4.5 (+ one FP32 per
    # tensor); NF4 with one FP32 absmax per 64 (QLoRA's blocksize): 4.5
    assert operand(formats.get("mxfp4")).storage_bits == pytest.approx(4.25)
    assert operand(formats.get("mxfp8_e4m3")).storage_bits == pytest.approx(8.25)
    assert operand(formats.get("nvfp4")).storage_bits == pytest.approx(4.5)
    mx = mac_energy("mxfp4", "mxfp4", "float32")
    nv = mac_energy("nvfp4", "nvfp4", "float32")
    assert mx.multiply_pj == pytest.approx(mac_energy("float4_e2m1fn", "float4_e2m1fn").multiply_pj)
    assert 0 < mx.scale_pj < nv.scale_pj  # E8M0 exponent adds over 32 vs E4M3 multiplies over 16
    nf4 = mac_energy("float16", "nf4", "float32")
    assert nf4.b_decode_pj > 0 and nf4.scale_pj > 0  # table decode + per-block absmax scale
    assert nf4.multiply_pj == pytest.approx(T.fp_mult(11, 11, 5))  # decoded to float16
    # ternary weights (BitNet b1.58): a sign select, far cheaper than an int8 multiply
    assert mac_energy("int8", "ternary_absmean").multiply_pj < 0.5 * T.int_mult(8, 8)


def test_operand_summaries_dispatch_on_the_record_class():
    """hwmodels reads records by their class (issue 12, item 4): LNS and posit records get
    their own rules; a Format subclass without a rule is an integer of its width; anything that
    is not a formats.Format is a TypeError naming the parameter."""
    import dataclasses

    from lowbit.hwmodels._operand import operand

    lns = formats.LNSFormat(4, 3)
    e = mac_energy(lns, lns)  # LNS x LNS: an add of the log fields; accumulates in float32
    assert e.multiply_pj == pytest.approx(T.int_add(lns.bits - 1))  # (formats.default_accumulator)
    assert e.accumulate_pj == pytest.approx(T.fp_add(24)) and e.table_pj == 0
    assert mac_energy(lns, lns, lns).table_pj > 0  # an LNS accumulator, asked for: add + table
    p = formats.PositFormat(8, 2)
    assert mac_energy(p, p, "float32").mac_pj > \
        mac_energy("float8_e4m3fn", "float8_e4m3fn", "float32").mac_pj
    assert operand(p).kind == "posit" and operand(lns).kind == "lns"

    @dataclasses.dataclass(frozen=True)
    class Mine(formats.Format):  # a user's own family, no cost rule yet
        width: int = 6
        family = "mine"

        @property
        def bits(self):
            return self.width

    o = operand(Mine())
    assert (o.kind, o.bits, o.storage_bits) == ("int", 6, 6.0)
    assert mac_energy(Mine(), Mine()).multiply_pj == pytest.approx(T.int_mult(6, 6))

    @dataclasses.dataclass(frozen=True)
    class DuckLNS:  # quacks like an LNS record, but is not a format record
        int_bits: int = 4
        frac_bits: int = 3
        name: str = "lns8"
        family = "lns"
        bits = 8

    with pytest.raises(TypeError, match="a_format must be a format record"):
        mac_energy(DuckLNS(), "int8")
    with pytest.raises(TypeError, match="formats.Format"):
        operand(DuckLNS())


def test_technology_scaling():
    f45 = hwmodels.node_factor(45)
    ratios = {n: hwmodels.node_factor(n) / f45 for n in (28, 16, 7, 5)}
    assert 1 > ratios[28] > ratios[16] > ratios[7] > ratios[5] > 0
    # Stillmaker & Baas polynomial at 7 nm / 0.7 V over 45 nm / 0.9 V
    f7 = 0.1776 * 0.7**2 - 0.09097 * 0.7 + 0.02447
    f45_ = 1.103 * 0.9**2 - 0.362 * 0.9 + 0.2767
    assert ratios[7] == pytest.approx(f7 / f45_)
    assert ratios[5] == pytest.approx(0.7 * ratios[7])  # TSMC N5: -30 % power vs N7
    t7 = T.at_node(7)
    assert t7.int8_mult_pj == pytest.approx(0.2 * ratios[7])
    assert t7.dram_read_64b_pj == T.dram_read_64b_pj  # DRAM is not logic-scaled
    assert mac_energy("int8", "int8", node_nm=7).mac_pj == pytest.approx(0.3 * ratios[7])
    with pytest.raises(ValueError, match="node_nm"):
        T.at_node(2)


def test_interpolated_node_tables_rescale_again():
    """A table rescaled to a node between rows carries that node's nominal (interpolated)
    voltage; rescaling it again divides by the same factor (other voltages there raise)."""
    t28 = T.at_node(28)
    assert t28.at_node(45).int8_mult_pj == pytest.approx(T.int8_mult_pj)
    assert t28.at_node(7).int8_mult_pj == pytest.approx(T.at_node(7).int8_mult_pj)
    with pytest.raises(ValueError, match="nominal vdd_v"):
        hwmodels.node_factor(28, t28.vdd_v + 0.05)


@pytest.mark.parametrize("name", formats.names())
def test_every_registered_format_has_a_cost(name):
    """Every format of the registry gets a positive, finite MAC energy and a systolic cost."""
    e = mac_energy(name, name)
    assert 0 < e.mac_pj < math.inf and e.scale_pj >= 0 and e.table_pj >= 0
    mixed = mac_energy("float8_e4m3fn", name)
    assert 0 < mixed.mac_pj < math.inf
    c = hwmodels.SystolicArray(8, 8).gemm(8, 64, 8, a_format=name, b_format=name)
    assert 0 < c.energy_pj < math.inf


def test_lns_accumulation_uses_a_gaussian_log_table():
    if "lns8" not in formats.names():
        return  # LNS formats are built by another issue
    f = formats.get("lns8")  # F = frac_bits: table of (F+1)·2^F entries
    e = mac_energy(f, f, f)  # an LNS accumulator (the default is float32: formats.default_accumulator)
    entries = (f.frac_bits + 1) * 2**f.frac_bits
    assert e.multiply_pj == pytest.approx(T.int_add(f.bits - 1))
    assert e.table_pj == pytest.approx(T.sram_access(f.bits, entries * f.bits / 8))


# ----------------------------------------------------------------- SRAM size and leakage
MEAS = pathlib.Path(__file__).parents[1] / "fixtures" / "measurements"


def _sram_points():
    import csv

    with open(MEAS / "sram_energy.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_sram_growth_exponent_is_the_cacti_fit():
    """The table's exponent beyond 1 MiB is the least-squares fit of log E on log capacity to
    the CACTI 7.0 points from 1 MiB to 128 MiB (both cell families) — recomputed here from the
    fixture, so the preset cannot drift from its source."""
    import numpy as np

    pts = [r for r in _sram_points() if "CACTI" in r["source"] and int(r["capacity_bytes"]) >= 2**20]
    assert len(pts) == 16
    x = np.log([float(r["capacity_bytes"]) for r in pts])
    y = np.log([float(r["energy_pj"]) for r in pts])
    alpha = np.polyfit(x, y, 1)[0]
    assert T.sram_capacity_exponent == pytest.approx(alpha, abs=0.005)


def test_sram_energy_keeps_growing_past_1_mib():
    """Issue 13: per-access energy stopped growing at 1 MiB (100 pJ per 64 bits up to 40 MB).
    Now it follows CACTI's growth: within 25 % of CACTI's own ratio to its 1 MiB point, from 2
    to 128 MiB, for both cell families; and it is still the table's 100 pJ at 1 MiB."""
    assert T.sram_access(64, 2**20) == pytest.approx(100.0)
    assert T.sram_access(64, 40e6) > 5 * T.sram_access(64, 2**20)
    for fam in ("itrs-hp", "itrs-lstp"):
        pts = {int(r["capacity_bytes"]): float(r["energy_pj"]) for r in _sram_points()
               if fam in r["source"]}
        for cap, e in pts.items():
            if cap > 2**20:
                ours = T.sram_access(64, cap) / T.sram_access(64, 2**20)
                assert ours == pytest.approx(e / pts[2**20], rel=0.25), (fam, cap)
    sizes = [2.0**i for i in range(10, 28)]
    es = [T.sram_access(64, s) for s in sizes]
    assert all(b > a for a, b in zip(es, es[1:], strict=False))  # monotone, no plateau


def test_static_power_from_sram_leakage_or_a_measurement():
    """Every machine has a ``static`` breakdown entry: a measured figure where the preset has
    one (TPU v1's 28 W idle die, Jouppi et al., Table 2), else SRAM leakage (CACTI itrs-hp,
    1.077 W/MiB at 45 nm, rescaled to the node) or, for GPUs and wafers, 25 % of board power."""
    tpu = hwmodels.presets.get("tpu-v1")
    assert tpu.static_w == 28
    c = tpu.gemm(256, 4096, 4096)
    assert c.breakdown["static"] == pytest.approx(28 * c.seconds * 1e12)
    assert T.sram_leakage_per_mib_w == 1.077
    assert T.at_node(7).sram_leakage_per_mib_w == pytest.approx(
        1.077 * hwmodels.node_factor(7) / hwmodels.node_factor(45))
    for name in hwmodels.presets.names():
        c = hwmodels.presets.get(name).gemm(8, 256, 256)
        assert c.breakdown.get("static", 0) > 0, name
        assert c.energy_pj == pytest.approx(math.fsum(c.breakdown.values()))
