"""The mapping-aware memory model (``memory_model=None``): against ZigZag 3.9.1's searched
mappings and SCALE-Sim 3.0.0's traffic, its bounds, and no cliffs.

Fixtures: tests/fixtures/zigzag/golden.csv (ZigZag 3.9.1 LOMA searches on a mirror of the
``systolic-32x32`` preset with lowbit's unit energies; regenerate.py runs ZigZag itself) and
tests/fixtures/scalesim/golden*.csv (SCALE-Sim 3.0.0 runs). Issue 13's targets: DRAM traffic never
below the compulsory bytes and never above SCALE-Sim's; cycles and DRAM bytes at most 1.25× ZigZag's
searched mapping for GEMMs from 128³ to 256×4096×4096 and for GEMVs.
"""

import csv
import dataclasses
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowbit import hwmodels, simulator
from lowbit.hwmodels import SystolicArray, presets

FIX = pathlib.Path(__file__).parents[1] / "fixtures"


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


ZIGZAG = _csv(FIX / "zigzag" / "golden.csv")
SHAPES = sorted({(int(r["m"]), int(r["k"]), int(r["n"])) for r in ZIGZAG})
SCALESIM = _csv(FIX / "scalesim" / "golden.csv") + _csv(FIX / "scalesim" / "golden_memory.csv")


def _zigzag_best(shape, key):
    rows = [r for r in ZIGZAG if (int(r["m"]), int(r["k"]), int(r["n"])) == shape]
    return min(rows, key=lambda r: (float(r[key]), float(r["latency_cycles"])))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_time_objective_against_zigzags_fastest_mapping(shape):
    """Cycles at most 1.25× those of ZigZag's fastest mapping (the fastest of its four
    searches), on the same hardware (the fixture mirrors systolic-32x32 and its energies)."""
    arr = presets.get("systolic-32x32")
    assert arr.mapping_objective == "time"
    c = arr.gemm(*shape)
    best = _zigzag_best(shape, "latency_cycles")
    assert c.cycles <= 1.25 * float(best["latency_cycles"])
    compulsory = float(best["compulsory_dram_bytes"])
    assert compulsory <= c.accesses["dram_bytes"]
    if shape[0] <= 4:  # GEMVs: every operand once, bound by the weight bytes, like ZigZag
        assert c.accesses["dram_bytes"] == compulsory
        assert c.bound == "memory"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_energy_objective_against_zigzags_most_efficient_mapping(shape):
    """DRAM bytes and energy (static power aside: ZigZag has none) at most 1.25× those of
    ZigZag's least-energy mapping."""
    arr = dataclasses.replace(presets.get("systolic-32x32"), mapping_objective="energy")
    c = arr.gemm(*shape)
    best = _zigzag_best(shape, "energy_total_pj")
    assert c.accesses["dram_bytes"] <= 1.25 * float(best["dram_bytes"])
    assert c.energy_pj - c.breakdown["static"] <= 1.25 * float(best["energy_total_pj"])
    assert c.energy_pj <= presets.get("systolic-32x32").gemm(*shape).energy_pj * (1 + 1e-9)


@pytest.mark.parametrize("row", SCALESIM, ids=lambda r: f"{r['rows']}x{r['cols']}-{r['dataflow']}-"
                         f"{r['m']}x{r['k']}x{r['n']}-{r['ifmap_sram_kb']}kB")
def test_traffic_between_compulsory_and_scalesims(row):
    """On SCALE-Sim's own cases (same array, dataflow and buffers, int8 operands; our partial
    sums are int32, SCALE-Sim's 1-byte words)."""
    kb = {x: 1024 * int(row[f"{x}_sram_kb"]) for x in ("ifmap", "filter", "ofmap")}
    arr = SystolicArray(int(row["rows"]), int(row["cols"]), row["dataflow"],
                        ifmap_sram_bytes=kb["ifmap"], filter_sram_bytes=kb["filter"],
                        ofmap_sram_bytes=kb["ofmap"])
    m, k, n = int(row["m"]), int(row["k"]), int(row["n"])
    c = arr.gemm(m, k, n)
    scalesim = (int(row["ifmap_dram_reads"]) + int(row["filter_dram_reads"])
                + int(row["ofmap_dram_writes"]))
    assert m * k + k * n + m * n <= c.accesses["dram_bytes"] <= scalesim


def test_partial_sums_stay_in_the_accumulators_or_spill_at_their_width():
    """Partial sums stay in the output buffer whenever a tiling allows; when none does, they
    spill at accumulator width (written out and read back), the last write at output width."""
    roomy = SystolicArray(8, 8, "ws", ofmap_sram_bytes=2**20)
    c = roomy.gemm(64, 4096, 64)
    assert c.accesses["c_spill_bytes"] == 0 and "c" in c.mapping.resident
    assert c.accesses["c_dram_bytes"] == 64 * 64  # int8 outputs, once
    # an accumulator buffer of one array tile of int32 partial sums, tiny operand buffers
    tight = SystolicArray(8, 8, "ws", ifmap_sram_bytes=1024, filter_sram_bytes=1024,
                          ofmap_sram_bytes=8 * 8 * 4)
    t = tight.gemm(64, 4096, 64)
    spill = t.accesses["c_spill_bytes"]
    assert spill > 0 and spill % (4 * 64 * 64) == 0  # whole spills of m·n int32 partial sums
    assert t.accesses["c_dram_bytes"] == 64 * 64 + 2 * spill


def test_stripes_example_of_the_issue():
    """Issue 13: Stripes, 256×4096×4096 with 16-bit operands: one tiling of its 36 MiB reads
    every operand once (37.8 MB) and is compute-bound."""
    c = presets.get("stripes").gemm(256, 4096, 4096)
    compulsory = (256 * 4096 + 4096 * 4096 + 256 * 4096) * 2
    assert c.accesses["dram_bytes"] == compulsory == pytest.approx(37.75e6, rel=1e-3)
    assert c.bound == "compute"


def test_tpu_v1_utilization_grows_with_the_batch():
    """Issue 13: utilization fell from 12 % to 2.5 % as the batch grew from 200 to 1000
    (partial sums spilled). Jouppi et al. (ISCA 2017, Table 3) measure MLP0 at batch 200 using
    12.5 % of the peak MACs."""
    tpu = presets.get("tpu-v1")
    u = [tpu.gemm(m, 2048, 2048).utilization for m in (200, 400, 600, 800, 1000)]
    assert all(b >= a for a, b in zip(u, u[1:], strict=False))
    assert 0.08 < u[0] < 0.2


def test_four_bit_weights_decode_faster_than_int8_on_the_systolic_array():
    """The README's first command: weights stream from DRAM at 64 B/cycle while the next fold's
    weights load during the current fold, so a decode step is bound by its weight bytes."""
    kw = dict(activations="float8_e4m3fn")
    i8 = simulator.estimate("llama2-7b-decode", "systolic-128x128", weights="int8", **kw)
    fp4 = simulator.estimate("llama2-7b-decode", "systolic-128x128", weights="mxfp4", **kw)
    i4 = simulator.estimate("llama2-7b-decode", "systolic-128x128", weights="int4", **kw)
    assert i8.bound == "memory" and i8.times["dram"] > i8.times["compute"]
    assert fp4.seconds < 0.6 * i8.seconds
    assert i4.seconds <= fp4.seconds
    # the bytes explain it: ~4.25 / 8 of the weight traffic
    w = lambda r: r.layers.loc[r.layers.b_operand == "weight", "b_dram_bytes"].sum()  # noqa: E731
    assert w(fp4) / w(i8) == pytest.approx(4.25 / 8, rel=0.01)
    text = str(fp4)
    assert "bound" in text and "dram" in text and "weights" in text


def test_mapping_record_and_objectives():
    arr = presets.get("systolic-32x32")
    c = arr.gemm(1024, 1024, 1024)
    mp = c.mapping
    assert isinstance(mp, hwmodels.Mapping)
    assert sorted(mp.order) == ["k", "m", "n"] and mp.objective == "time"
    assert 1 <= mp.tile_m <= 1024 and mp.tile_k % 32 == 0 and mp.tile_n % 32 == 0
    assert "order" in str(mp)
    e = dataclasses.replace(arr, mapping_objective="energy").gemm(1024, 1024, 1024)
    assert e.energy_pj <= c.energy_pj and e.accesses["dram_bytes"] <= c.accesses["dram_bytes"]
    assert c.cycles <= e.cycles * 1.01
    assert (c * 3).mapping == mp and (c + c).mapping is None


MACHINES = ["systolic-32x32", "systolic-128x128", "tpu-v1", "stripes", "loom", "bitfusion",
            "bitmod", "tmac", "lut-tensor-core", "cerebras-wse2", "a100", "h100", "rtx4090"]


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(MACHINES), m=st.integers(1, 2048),
       k=st.sampled_from([128, 512, 2048, 4096, 11008]),
       n=st.sampled_from([128, 512, 2048, 4096, 11008]))
def test_no_cliffs_in_m(name, m, k, n):
    """Time is non-decreasing in m and at most about doubles when m doubles, on every machine
    (within the mapping search's 1 % time tolerance and its discrete tiles: 2 %)."""
    hw = presets.get(name)
    kw = dict(a_format="float16", b_format="float16") if name in ("cerebras-wse2", "a100", "h100",
                                                                  "rtx4090") else {}
    t = lambda mm: hw.gemm(mm, k, n, **kw).seconds  # noqa: E731
    t1, t2, t3 = t(m), t(m + 1), t(2 * m)
    assert t2 >= t1 * 0.98
    assert t3 <= 2.25 * t1


def test_wafer_takes_the_better_algorithm():
    """Issue 13: WaferMesh took 45× longer at m = 2 than at m = 1 (GEMV → GEMM); grouped-query
    attention (m = 4) made Llama-3-8B decode slower than Llama-2-13B's."""
    w = presets.get("cerebras-wse2")
    kw = dict(a_format="float16", b_format="float16")
    c1, c2 = w.gemm(1, 4096, 4096, **kw), w.gemm(2, 4096, 4096, **kw)
    assert c1.cycles <= c2.cycles <= 2 * c1.cycles
    r8 = simulator.estimate("llama3-8b-decode", w, weights="float16", activations="float16")
    r13 = simulator.estimate("llama2-13b-decode", w, weights="float16", activations="float16")
    assert r8.seconds < r13.seconds


def test_loom_meets_both_published_rules_without_a_cliff():
    """Loom (Sharify et al., arXiv 1706.07853): fully-connected (m = 1) ∝ p_w/16, conv ∝
    p_a·p_w/256; between them, time non-decreasing in m (a 2-row GEMM used to take half the
    time of a 1-row one)."""
    loom = hwmodels.BitSerialArray("loom", units=256)
    kw = dict(a_format="int4", b_format="int8")
    cyc = [loom.gemm(m, 4096, 4096, **kw).compute_cycles for m in (1, 2, 3, 4, 8, 16)]
    assert all(b >= a for a, b in zip(cyc, cyc[1:], strict=False))
    assert loom.macs_per_cycle(4, 8, m=1) == 256 * 16 / 8
    assert loom.macs_per_cycle(4, 8, m=64) == 256 * 256 / 32


def test_convolutions_read_their_unique_input():
    """Issue 13 item 8: DRAM traffic counts the convolution's input, not the im2col matrix."""
    conv = simulator.workloads.Conv2d(1, 64, 64, 56, 56, 3, padding=1)
    r = simulator.estimate(conv, "systolic-32x32", weights="int8", activations="int8")
    g = conv.layers()[0]
    assert g.a_elements == 64 * 56 * 56
    assert r.layers["a_dram_bytes"].iloc[0] < g.m * g.k  # 9x fewer than im2col at most
    arr = presets.get("systolic-32x32")
    full = arr.gemm(g.m, g.k, g.n)
    assert r.layers["a_dram_bytes"].iloc[0] < full.accesses["a_dram_bytes"]


def test_report_layers_expose_times_and_bound():
    r = simulator.estimate("llama2-7b-prefill", "tpu-v1", weights="int8", activations="int8")
    for col in ("compute_s", "dram_s", "bound", "a_dram_bytes", "b_dram_bytes", "mapping"):
        assert col in r.layers.columns, col
    row = r.layers.iloc[0]
    assert row["bound"] == ("memory" if row["dram_s"] > row["compute_s"] else "compute")
    assert r.times["compute"] == pytest.approx(r.layers["compute_s"].sum())
    assert "bound" in r.summary()["quantity"].tolist()
