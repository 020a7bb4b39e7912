"""The hardware cost models' operation counts against simulator's functional models (written
independently: simulator.lut_gemm_counts / bitserial_counts count what lut_gemm and
bitserial_matmul actually do)."""

import pytest

from lowbit import hwmodels, simulator


@pytest.mark.parametrize("g", [2, 3, 4, 5])
@pytest.mark.parametrize("sym", [True, False])
@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_lut_counts_agree_with_the_functional_lut_gemm(g, sym, bits):
    m, k, n = 3, 37, 11
    unit = hwmodels.LutGemmUnit(64, 64, group_size=g, sign_symmetry=sym)
    ours = unit.counts(m, k, n, bits)
    theirs = simulator.lut_gemm_counts(m, k, n, bits=bits, group_size=g, sign_symmetry=sym)
    assert ours["tables"] == theirs.tables
    assert ours["lookups"] == theirs.lookups
    assert unit.table_entries == theirs.entries_per_table
    assert ours["build_adds"] == theirs.table_adds


@pytest.mark.parametrize("pa, pw", [(16, 16), (8, 8), (4, 8), (2, 3), (1, 16)])
def test_bitserial_time_ratios_agree_with_plane_counts(pa, pw):
    """Stripes (activation-serial) time ∝ activation planes; Loom (both serial) ∝ plane pairs
    (its convolutional rule, which holds from 16/p_a activation rows on)."""
    shape = (16, 512, 512)
    stripes = hwmodels.BitSerialArray("stripes", units=64)
    loom = hwmodels.BitSerialArray("loom", units=64)
    ref = lambda serial, a, b: simulator.bitserial_counts(*shape, a_bits=a, b_bits=b,  # noqa: E731
                                                          serial=serial).plane_ops
    kw = lambda a, b: dict(a_format=f"int{a}", b_format=f"int{b}")  # noqa: E731
    assert stripes.gemm(*shape, **kw(pa, pw)).cycles / stripes.gemm(*shape, **kw(16, 16)).cycles \
        == pytest.approx(ref("a", pa, pw) / ref("a", 16, 16))
    assert loom.gemm(*shape, **kw(pa, pw)).cycles / loom.gemm(*shape, **kw(16, 16)).cycles \
        == pytest.approx(ref("both", pa, pw) / ref("both", 16, 16))
