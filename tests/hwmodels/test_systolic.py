"""SystolicArray: SCALE-Sim 3.0.0's compute cycles and SRAM counts (golden cases, with
``memory_model="scalesim"``), the pipelined fold model of the mapped memory model, and the
roofline bound of both.

The golden cases in tests/fixtures/scalesim/golden.csv were produced by running SCALE-Sim 3.0.0
itself (tests/fixtures/scalesim/regenerate.py, in its own virtual environment); SCALE-Sim is not
imported here. DRAM traffic and stalls against SCALE-Sim: test_scalesim_compat.py; the mapped
model against ZigZag and its bounds: test_mapping.py.
"""

import csv
import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lowbit import hwmodels
from lowbit.hwmodels import SystolicArray

GOLDEN = pathlib.Path(__file__).parents[1] / "fixtures" / "scalesim" / "golden.csv"


def _cases():
    with open(GOLDEN, newline="") as f:
        return list(csv.DictReader(f))


CASES = _cases()


def test_golden_covers_the_space():
    arrays = {(int(c["rows"]), int(c["cols"])) for c in CASES}
    assert {"os", "ws", "is"} == {c["dataflow"] for c in CASES}
    assert any(r != c for r, c in arrays) and any(r == c for r, c in arrays)
    assert len(CASES) >= 200


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['rows']}x{c['cols']}-{c['dataflow']}-"
                         f"{c['m']}x{c['k']}x{c['n']}")
def test_compute_cycles_equal_scalesim(case):
    arr = SystolicArray(int(case["rows"]), int(case["cols"]), case["dataflow"],
                        memory_model="scalesim")
    m, k, n = int(case["m"]), int(case["k"]), int(case["n"])
    cost = arr.gemm(m, k, n)
    assert cost.cycles == int(case["total_cycles"]) - int(case["stall_cycles"])
    assert cost.stall_cycles == 0
    # mapping efficiency and SRAM read counts as SCALE-Sim reports them
    assert 100 * arr.mapping_efficiency(m, k, n) == pytest.approx(
        float(case["mapping_efficiency_pct"]), rel=1e-9)
    assert cost.accesses["a_sram_reads"] == int(case["ifmap_sram_reads"])
    assert cost.accesses["b_sram_reads"] == int(case["filter_sram_reads"])


def test_vectorised_cycles_equal_scalesim():
    by_arr = {}
    for c in CASES:
        by_arr.setdefault((int(c["rows"]), int(c["cols"]), c["dataflow"]), []).append(c)
    for (r, c_, df), cs in by_arr.items():
        m, k, n = (np.array([int(c[x]) for c in cs]) for x in ("m", "k", "n"))
        want = np.array([int(c["compute_cycles"]) for c in cs])
        got = SystolicArray(r, c_, df, fold_model="scalesim").gemm_cycles(m, k, n)
        np.testing.assert_array_equal(got, want)
        got = SystolicArray(r, c_, df, memory_model="scalesim").gemm_cycles(m, k, n)
        np.testing.assert_array_equal(got, want)


def test_paper_fold_model():
    """SCALE-Sim paper (ISPASS 2020): τ = 2R + C + T − 2 per fold, for every dataflow; the code's
    OS fold is R cycles shorter (and the code reports folds·τ − 1)."""
    R, C = 8, 4
    for df, (sr, sc, t) in {"os": (20, 10, 7), "ws": (7, 10, 20), "is": (7, 20, 10)}.items():
        m, k, n = {"os": (20, 7, 10), "ws": (20, 7, 10), "is": (20, 7, 10)}[df]
        folds = -(-sr // R) * -(-sc // C)
        paper = SystolicArray(R, C, df, memory_model="scalesim", fold_model="paper")
        code = SystolicArray(R, C, df, memory_model="scalesim")
        assert paper.gemm(m, k, n).cycles == folds * (2 * R + C + t - 2)
        assert code.gemm(m, k, n).cycles == \
            folds * ((R + C + t - 2) if df == "os" else (2 * R + C + t - 2)) - 1
        assert code.folds_model == "scalesim"
    with pytest.raises(ValueError, match="fold_model"):
        SystolicArray(4, 4, fold_model="book")
    with pytest.raises(ValueError, match="memory_model"):
        SystolicArray(4, 4, memory_model="zigzag")


def test_pipelined_folds_pay_the_fill_once_and_hide_weight_loads():
    """The mapped model's default: the next fold's stationary operand loads while the current
    fold computes (TPU v1's double-buffered weights), so a fold takes max(T, R) cycles and the
    fill/drain 2R + C - 2 is paid once."""
    R, C = 16, 8
    arr = SystolicArray(R, C, "ws")
    assert arr.folds_model == "pipelined"
    for m, k, n in ((1, 64, 64), (7, 64, 64), (16, 64, 64), (100, 33, 17)):
        folds = -(-k // R) * -(-n // C)
        assert arr.gemm_cycles(m, k, n) == folds * max(m, R) + 2 * R + C - 2
    serial = SystolicArray(R, C, "ws", fold_model="scalesim")
    assert arr.gemm_cycles(1, 64, 64) < serial.gemm_cycles(1, 64, 64)
    # a GEMV: every fold is bound by its R-cycle weight load, not by one row of activations
    assert arr.gemm(1, 4096, 4096).compute_cycles == (4096 // R) * (4096 // C) * R + 2 * R + C - 2


dims = st.integers(1, 3000)


@given(m=dims, k=dims, n=dims, rows=st.integers(1, 256), cols=st.integers(1, 256),
       df=st.sampled_from(["os", "ws", "is"]), bw=st.one_of(st.none(), st.floats(0.5, 512)),
       fold_model=st.sampled_from([None, "pipelined", "scalesim", "paper"]),
       kib=st.sampled_from([8, 64, 1024]))
def test_never_beats_its_roofline(m, k, n, rows, cols, df, bw, fold_model, kib):
    arr = SystolicArray(rows, cols, df, dram_bandwidth_bytes_per_cycle=bw, fold_model=fold_model,
                        ifmap_sram_bytes=kib * 1024, filter_sram_bytes=kib * 1024,
                        ofmap_sram_bytes=kib * 1024)
    cost = arr.gemm(m, k, n)
    assert cost.cycles >= arr.roofline_cycles(m, k, n) * (1 - 1e-12)
    assert 0 < cost.utilization <= 1 + 1e-12
    assert cost.macs == m * k * n
    assert cost.energy_pj == pytest.approx(sum(cost.breakdown.values()))
    assert cost.cycles >= cost.compute_cycles > 0


def test_single_pe_output_stationary_reports_the_mac_bound():
    # SCALE-Sim's folds·(R + C + T − 2) − 1 would be 1·5 − 1 = 4 cycles for 5 MACs on one PE
    # (and 0 cycles for one MAC: SCALE-Sim 3.0.0 raises ZeroDivisionError there).
    pe = SystolicArray(1, 1, "os", memory_model="scalesim")
    assert pe.gemm(1, 5, 1).cycles == 5
    assert pe.gemm(1, 1, 1).cycles == 1
    assert SystolicArray(1, 1, "os", memory_model="scalesim",
                         fold_model="paper").gemm(1, 5, 1).cycles == 6


def test_reaches_its_roofline_when_mapping_is_perfect():
    arr = SystolicArray(16, 16, "os", memory_model="scalesim")
    m, k, n = 16 * 8, 100_000, 16 * 8  # long temporal dimension: fill/drain amortised
    assert arr.gemm(m, k, n).cycles == pytest.approx(arr.roofline_cycles(m, k, n), rel=1e-3)
    arr = SystolicArray(16, 16, "os")
    m, k, n = 16 * 8, 100_000, 16 * 8  # long temporal dimension: fill/drain amortised
    assert arr.gemm(m, k, n).cycles == pytest.approx(arr.roofline_cycles(m, k, n), rel=1e-3)


def test_stalls_when_dram_bandwidth_is_short():
    fast = SystolicArray(32, 32, "ws", dram_bandwidth_bytes_per_cycle=1e6)
    slow = SystolicArray(32, 32, "ws", dram_bandwidth_bytes_per_cycle=1.0)
    m, k, n = 1, 4096, 4096  # GEMV: 16 MiB of int8 weights
    f, s = fast.gemm(m, k, n), slow.gemm(m, k, n)
    assert f.bound == "compute" and s.bound == "memory"
    assert s.stall_cycles > 0
    dram = s.accesses["b_dram_bytes"] + s.accesses["a_dram_bytes"] + s.accesses["c_dram_bytes"]
    assert dram == k * n + k + n  # every operand once
    # bound by 1 B/cycle: the transfers overlap compute, only the first tiles' load does not
    assert dram <= s.cycles <= dram * 1.001
    assert s.times["dram"] == pytest.approx(dram / 1e9)
    assert s.compute_cycles == pytest.approx(f.compute_cycles, rel=1e-3)


def test_energy_is_macs_times_mac_energy_plus_accesses():
    arr = SystolicArray(8, 8, "os", node_nm=45, static_power_w=0.5)
    c = arr.gemm(64, 64, 64, a_format="int8", b_format="int8")
    assert c.breakdown["mac"] == pytest.approx(64**3 * (0.2 + 0.1))  # Horowitz int8 mult + int32 add
    c4 = arr.gemm(64, 64, 64, a_format="int4", b_format="int4")
    assert c4.breakdown["sram"] < c.breakdown["sram"] and c4.breakdown["dram"] < c.breakdown["dram"]
    assert c4.cycles == c.cycles  # PEs run the given formats at one MAC per cycle
    assert c.breakdown["static"] == pytest.approx(0.5 * c.seconds * 1e12)
    # default static power: the three buffers' SRAM leakage (CACTI itrs-hp, 1.077 W/MiB at 45 nm)
    dflt = SystolicArray(8, 8, "os", ifmap_sram_bytes=2**20, filter_sram_bytes=2**20,
                         ofmap_sram_bytes=2**20)
    assert dflt.static_w == pytest.approx(3 * 1.077)


@pytest.mark.parametrize("memory_model", [None, "scalesim"])
def test_batch_equals_scalar(memory_model):
    import dataclasses

    arr = dataclasses.replace(hwmodels.presets.get("systolic-32x32"), memory_model=memory_model,
                              dram_bandwidth_bytes_per_cycle=None if memory_model else 16)
    rng = np.random.default_rng(1)
    m, k, n = (rng.integers(1, 3000 if memory_model is None else 300, 40) for _ in range(3))
    out = arr.gemm_batch(m, k, n, a_format="float8_e4m3fn", b_format="int4")
    for i in range(40):
        c = arr.gemm(int(m[i]), int(k[i]), int(n[i]), a_format="float8_e4m3fn", b_format="int4")
        assert out["cycles"][i] == c.cycles
        assert out["energy_pj"][i] == pytest.approx(c.energy_pj)
        assert out["utilization"][i] == pytest.approx(c.utilization)
        assert out["bound"][i] == c.bound
        assert out["b_dram_bytes"][i] == pytest.approx(c.accesses["b_dram_bytes"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="dataflow"):
        SystolicArray(4, 4, "rs")
    with pytest.raises(ValueError, match="rows"):
        SystolicArray(0, 4)
    arr = SystolicArray(4, 4)
    with pytest.raises(ValueError, match="m"):
        arr.gemm(0, 1, 1)
    with pytest.raises(TypeError):
        arr.gemm(1.5, 1, 1)
    with pytest.raises(ValueError, match="a_format"):
        arr.gemm(1, 1, 1, a_format="int99")
    with pytest.raises(ValueError, match="batch"):
        arr.gemm(1, 1, 1, batch=0)
    with pytest.raises(ValueError, match="a_elements must be an integer"):
        arr.gemm(1, 1, 1, a_elements=1.5)
    with pytest.raises(TypeError, match="a_elements"):
        arr.gemm(1, 1, 1, a_elements="8")
    with pytest.raises(ValueError, match="mapping_objective"):
        SystolicArray(4, 4, mapping_objective="area")
    with pytest.raises(ValueError, match="dram_bandwidth"):
        SystolicArray(4, 4, a_dram_bandwidth_bytes_per_cycle=4).gemm(8, 8, 8)
