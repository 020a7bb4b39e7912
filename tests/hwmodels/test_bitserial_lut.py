"""Bit-serial arrays (Stripes, Loom, Bit Fusion, BitMoD) and LUT-GEMM units: the papers'
throughput ratios and table sizes, and the roofline bound."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lowbit import hwmodels
from lowbit.hwmodels import BitSerialArray, LutGemmUnit

BIG = (64, 4096, 4096)  # large enough that ceil() rounding is negligible


def _cycles(arr, pa, pw, shape=BIG):
    return arr.gemm(*shape, a_format=f"int{pa}", b_format=f"int{pw}").cycles


@pytest.mark.parametrize("p", [1, 2, 4, 5, 8, 11, 16])
def test_stripes_speedup_is_16_over_p(p):
    """Judd et al., MICRO 2016: activation-serial, ideal speedup 16/p over 16-bit bit-parallel."""
    arr = BitSerialArray("stripes", units=256)
    assert _cycles(arr, 16, 16) / _cycles(arr, p, 16) == pytest.approx(16 / p, rel=1e-6)
    assert _cycles(arr, p, 4) == _cycles(arr, p, 16)  # weights are bit-parallel


@pytest.mark.parametrize("pa, pw", [(16, 16), (8, 8), (4, 8), (8, 2), (3, 5), (1, 1)])
def test_loom_conv_time_is_pa_pw_over_256(pa, pw):
    """Sharify et al., arXiv 1706.07853: conv time ∝ p_a·p_w/256 of the 16-bit baseline."""
    arr = BitSerialArray("loom", units=256)
    assert _cycles(arr, pa, pw) / _cycles(arr, 16, 16) == pytest.approx(pa * pw / 256, rel=1e-6)


@pytest.mark.parametrize("pw", [1, 4, 8, 16])
def test_loom_fully_connected_time_is_pw_over_16(pw):
    arr = BitSerialArray("loom", units=256)
    gemv = (1, 4096, 4096)
    ratio = _cycles(arr, 8, pw, gemv) / _cycles(arr, 8, 16, gemv)
    assert ratio == pytest.approx(pw / 16, rel=1e-6)


@pytest.mark.parametrize("pa, pw", [(8, 8), (4, 4), (2, 2), (1, 1), (2, 8), (3, 3), (5, 2),
                                    (6, 7), (4, 1)])
def test_bitfusion_factor(pa, pw):
    """Sharma et al., ISCA 2018: ⌊8/max(p_a,2)⌋·⌊8/max(p_w,2)⌋ MACs per fusion unit per cycle."""
    arr = BitSerialArray("bitfusion", units=512)
    want = (8 // max(pa, 2)) * (8 // max(pw, 2))
    assert arr.macs_per_cycle(pa, pw) == 512 * want
    assert _cycles(arr, 8, 8) / _cycles(arr, pa, pw) == pytest.approx(want, rel=1e-6)


def test_bitfusion_wider_than_8_bits_fuses_in_time():
    arr = BitSerialArray("bitfusion", units=512)
    assert _cycles(arr, 16, 8) == pytest.approx(2 * _cycles(arr, 8, 8), rel=1e-6)
    assert _cycles(arr, 16, 16) == pytest.approx(4 * _cycles(arr, 8, 8), rel=1e-6)


def test_bitmod_is_weight_serial_and_pays_per_group_dequantization():
    arr = BitSerialArray("bitmod", units=256, native_format="float16",
                         accumulator_format="float32", group_size=128)
    c3 = arr.gemm(*BIG, a_format="float16", b_format="int3")
    c4 = arr.gemm(*BIG, a_format="float16", b_format="int4")
    c8 = arr.gemm(*BIG, a_format="float16", b_format="int8")
    assert c8.cycles / c4.cycles == pytest.approx(2, rel=1e-6)
    assert c4.cycles / c3.cycles == pytest.approx(4 / 3, rel=1e-6)
    assert c4.breakdown["scale"] > 0
    g64 = BitSerialArray("bitmod", units=256, group_size=64)
    assert g64.gemm(*BIG, a_format="float16", b_format="int4").breakdown["scale"] == \
        pytest.approx(2 * c4.breakdown["scale"])


@given(mode=st.sampled_from(["stripes", "loom", "bitfusion", "bitmod"]),
       m=st.integers(1, 512), k=st.integers(1, 2048), n=st.integers(1, 2048),
       pa=st.integers(1, 16), pw=st.integers(1, 16),
       bw=st.one_of(st.none(), st.floats(1, 256)))
def test_bitserial_never_beats_its_roofline(mode, m, k, n, pa, pw, bw):
    arr = BitSerialArray(mode, units=128, dram_bandwidth_bytes_per_cycle=bw)
    kw = dict(a_format=f"int{pa}", b_format=f"int{pw}")
    c = arr.gemm(m, k, n, **kw)
    assert c.cycles >= arr.roofline_cycles(m, k, n, **kw) * (1 - 1e-12)
    assert 0 < c.utilization <= 1 + 1e-12


def test_bitserial_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        BitSerialArray("serial", units=4)


# ------------------------------------------------------------------ LUT-GEMM
def test_tmac_table_sizes():
    """T-MAC (arXiv 2407.00088): g = 4 → 2^4 = 16 entries, 8 with sign symmetry."""
    assert LutGemmUnit(64, 64, group_size=4, sign_symmetry=False).table_entries == 16
    assert LutGemmUnit(64, 64, group_size=4, sign_symmetry=True).table_entries == 8
    assert hwmodels.presets.get("tmac").table_entries == 8
    # LUT-GEMM (arXiv 2206.09557): μ = 8 → 2^8 = 256 partial sums per table
    assert LutGemmUnit(64, 64, group_size=8, sign_symmetry=False).table_entries == 256


def test_lut_cost_is_linear_in_weight_bits():
    u = LutGemmUnit(256, 128, tile_m=1)
    m, k, n = 1, 4096, 4096
    c1 = u.gemm(m, k, n, a_format="int8", b_format="int1")
    lookups = {b: u.gemm(m, k, n, a_format="int8", b_format=f"int{b}").accesses["lookups"]
               for b in range(1, 9)}
    for b, v in lookups.items():
        assert v == b * lookups[1] == m * n * math.ceil(k / 4) * b
    # lookup+accumulate energy grows linearly: equal increments per extra bit
    e = [u.gemm(m, k, n, a_format="int8", b_format=f"int{b}").breakdown["mac"] for b in (1, 2, 3, 4)]
    assert e[1] - e[0] == pytest.approx(e[2] - e[1]) == pytest.approx(e[3] - e[2])
    assert c1.accesses["tables"] == m * math.ceil(k / 4)
    # symmetric g = 4 tables: 3 adds for the first entry, one per each of the other 7
    assert c1.accesses["table_build_adds"] == m * math.ceil(k / 4) * (3 + 7)
    full = LutGemmUnit(256, 128, sign_symmetry=False)
    assert full.gemm(m, k, n, a_format="int8", b_format="int1").accesses["table_build_adds"] == \
        m * math.ceil(k / 4) * (16 - 1 - 4)  # subset sums: 0 and singletons are free


def test_lut_table_build_is_amortised_over_weight_columns():
    u = LutGemmUnit(256, 128)
    narrow = u.gemm(1, 4096, 16, a_format="int8", b_format="int2")
    wide = u.gemm(1, 4096, 4096, a_format="int8", b_format="int2")
    assert narrow.accesses["table_build_adds"] == wide.accesses["table_build_adds"]
    assert wide.breakdown["table"] / wide.macs < narrow.breakdown["table"] / narrow.macs


@given(m=st.integers(1, 256), k=st.integers(1, 4096), n=st.integers(1, 4096),
       b=st.integers(1, 8), bw=st.one_of(st.none(), st.floats(1, 512)),
       sym=st.booleans())
def test_lut_never_beats_its_roofline(m, k, n, b, bw, sym):
    u = LutGemmUnit(256, 128, sign_symmetry=sym, dram_bandwidth_bytes_per_cycle=bw)
    kw = dict(a_format="int8", b_format=f"int{b}")
    c = u.gemm(m, k, n, **kw)
    assert c.cycles >= u.roofline_cycles(m, k, n, **kw) * (1 - 1e-12)


def test_lut_presets_cpu_and_accelerator():
    cpu, acc = hwmodels.presets.get("tmac"), hwmodels.presets.get("lut-tensor-core")
    kw = dict(a_format="int8", b_format="int4")
    assert acc.gemm(2048, 4096, 4096, **kw).seconds < cpu.gemm(2048, 4096, 4096, **kw).seconds
