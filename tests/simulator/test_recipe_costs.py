"""What a quantization recipe costs in ``simulator.estimate`` (issue 14, item 6): online rotations
(vector unit or GEMM), outlier GEMMs and their index traffic, low-rank GEMMs, dynamic-scale
reductions, and a footprint with every byte of metadata. Known answers are computed here from
the machine records' datasheet fields and the machines' own ``.gemm`` costs."""

from __future__ import annotations

import math

import pytest

from lowbit import formats, hwmodels, simulator
from lowbit.simulator import workloads

R = simulator.Recipe
H100 = hwmodels.presets.get("h100")
SA = hwmodels.presets.get("systolic-128x128")


def one(m, k, n, name):
    return workloads.Gemm(m, k, n, name=name)


def rows_of(report, kind):
    return report.layers[report.layers["kind"] == kind]


def test_no_recipe_changes_nothing_and_an_empty_recipe_counts_scales():
    wl = workloads.get("llama2-7b-decode")
    base = simulator.estimate(wl, "h100", weights="nvfp4", activations="nvfp4")
    assert "metadata_bytes" not in base.footprint
    r = simulator.estimate(wl, "h100", weights="nvfp4", activations="nvfp4", recipe=R())
    assert set(r.layers["kind"]) == set(base.layers["kind"]) | {"scales"}
    # NVFP4 weights: one float32 tensor scale per weight matrix (7 per block × 32 blocks + lm_head)
    n_mats = sum(g.count for g in wl.layers() if g.b_operand == "weight")
    assert n_mats == 7 * 32 + 1
    assert r.footprint["scale_bytes"] == 4 * n_mats
    assert r.footprint["total_bytes"] == base.footprint["total_bytes"] + 4 * n_mats
    assert r.seconds >= base.seconds and r.energy_pj > base.energy_pj


def test_online_hadamard_on_a_vector_unit():
    """H100: the butterflies run on the CUDA cores (67 TFLOP/s FP32, datasheet), the
    activations read and written once in 16 bits at 3.35 TB/s; 11008 = 172·64 adds a
    (rows·64 × 172 × 172) GEMM for the base matrix."""
    for k in (4096, 11008):
        m, p2 = formats.hadamard_factors(k)
        r = simulator.estimate(one(16, k, 4096, "down_proj"), H100, weights="int8", activations="int8",
                               recipe=R(rotation="hadamard", online=("down_proj",)))
        rot = rows_of(r, "rotation")
        assert len(rot) == 1
        ops = 16 * k * (math.log2(p2) + 1)
        seconds = max(ops / 67e12, 4 * 16 * k / 3.35e12)
        if m > 1:
            seconds += H100.gemm(16 * p2, m, m, a_format="int8", b_format="int8").seconds
        assert rot["seconds"].iloc[0] == pytest.approx(seconds, rel=1e-12)


def test_online_hadamard_without_a_vector_unit_is_two_gemms():
    k = 11008
    m, p2 = formats.hadamard_factors(k)
    r = simulator.estimate(one(8, k, 4096, "down_proj"), SA, weights="int8", activations="int8",
                           recipe=R(rotation="random_hadamard", online=("down_proj",)))
    want = (SA.gemm(8 * m, p2, p2, a_format="int8", b_format="int8")
            + SA.gemm(8 * p2, m, m, a_format="int8", b_format="int8"))
    rot = rows_of(r, "rotation")
    assert rot["seconds"].iloc[0] == pytest.approx(want.seconds, rel=1e-12)
    assert rot["energy_pj"].iloc[0] == pytest.approx(want.energy_pj, rel=1e-12)
    assert r.footprint["rotation_bytes"] == k / 8  # the random signs, one bit each
    with pytest.raises(ValueError, match="no vector unit"):
        simulator.estimate(one(8, k, 64, "down_proj"), SA, weights="int8", activations="int8",
                           recipe=R(rotation="hadamard", online=("down_proj",), rotation_unit="vector"))


def test_rotation_of_an_unsupported_size_is_refused():
    with pytest.raises(ValueError, match="no Hadamard matrix"):
        simulator.estimate(one(8, 92, 64, "down_proj"), SA, weights="int8", activations="int8",
                           recipe=R(rotation="hadamard", online=("down_proj",)))


def test_quarot_online_rotations_on_llama():
    wl = workloads.get("llama2-7b-decode")
    r = simulator.estimate(wl, "h100", weights="int8", activations="int8", recipe=R(rotation="hadamard"))
    assert sorted(rows_of(r, "rotation")["name"]) == ["attn.qk.rotation", "down_proj.rotation", "o_proj.rotation"]
    base = simulator.estimate(wl, "h100", weights="int8", activations="int8", recipe=R())
    assert 1.0 < r.seconds / base.seconds < 1.05  # decode is memory-bound: a small overhead


def test_sparse_outliers_cost_and_footprint():
    k = n = 4096
    r = simulator.estimate(one(4, k, n, "q_proj"), H100, weights="int4", activations="bfloat16",
                           recipe=R(outliers="sparse", outlier_fraction=0.01))
    nnz = math.floor(0.01 * k * n)
    stored = (nnz * (16 + 16) + (n + 1) * 32) / 8  # fp16 value + 16-bit index, CSR row pointers
    assert r.footprint["outlier_bytes"] == stored
    out = rows_of(r, "outliers")
    # streamed every call: at least the bytes over the bandwidth; 2·m·nnz FLOPs on the CUDA cores
    assert out["seconds"].iloc[0] == pytest.approx(max(2 * 4 * nnz / 67e12, stored / 3.35e12), rel=1e-12)
    # without a vector unit: a GEMM of the compacted columns plus the same traffic
    rs = simulator.estimate(one(4, k, n, "q_proj"), SA, weights="int4", activations="bfloat16",
                            recipe=R(outliers="sparse", outlier_fraction=0.01))
    g = SA.gemm(4, math.ceil(nnz / n), n, a_format="float16", b_format="float16")
    assert rows_of(rs, "outliers")["seconds"].iloc[0] >= g.seconds


def test_int8_outlier_gemm_and_its_indices():
    k, n = 4096, 4096
    rec = R(outliers="int8", outlier_fraction=6 / 4096)  # LLM.int8(): a handful of feature dimensions
    r = simulator.estimate(one(32, k, n, "q_proj"), SA, weights="int8", activations="int8", recipe=rec)
    g = SA.gemm(32, 6, n, a_format="float16", b_format="float16")
    out = rows_of(r, "outliers")
    assert out["seconds"].iloc[0] >= g.seconds
    # the gather of the 6 columns (float16) of 32 rows and their 6 indices (16 bits) from DRAM
    gather = (32 * 6 * 16 + 6 * 16) / 8
    assert SA.dram_pj_per_bit is None  # the preset's DRAM energy is the energy table's (Horowitz)
    per_byte = hwmodels.energy_table().dram_access(64) / 8
    assert out["dram_pj"].iloc[0] == pytest.approx(g.breakdown["dram"] + gather * per_byte, rel=1e-12)


def test_low_rank_gemms_and_factors():
    k, n, r_ = 4096, 11008, 64
    r = simulator.estimate(one(16, k, n, "up_proj"), H100, weights="int4", activations="int8",
                           recipe=R(low_rank=r_, low_rank_format="bfloat16"))
    want = (H100.gemm(16, k, r_, a_format="bfloat16", b_format="bfloat16")
            + H100.gemm(16, r_, n, a_format="bfloat16", b_format="bfloat16"))
    lr = rows_of(r, "low_rank")
    assert lr["seconds"].iloc[0] == pytest.approx(want.seconds, rel=1e-12)
    assert r.footprint["low_rank_bytes"] == (k + n) * r_ * 2


def test_static_activation_scales_need_no_reduction_but_are_stored():
    wl = one(16, 4096, 4096, "q_proj")
    dyn = simulator.estimate(wl, H100, weights="int8", activations="int8", recipe=R())
    sta = simulator.estimate(wl, H100, weights="int8", activations="int8", recipe=R(activation_scales="static"))
    assert len(rows_of(dyn, "scales")) == 1 and len(rows_of(sta, "scales")) == 0
    assert sta.footprint["scale_bytes"] == 4
    # block formats compute their block scales at run time whatever the recipe says
    blk = simulator.estimate(wl, H100, weights="mxfp4", activations="mxfp4", recipe=R(activation_scales="static"))
    assert len(rows_of(blk, "scales")) == 1
    # the reduction: |x| and max per element plus one scale per block of 32
    sc = rows_of(blk, "scales")
    assert sc["seconds"].iloc[0] == pytest.approx((2 * 16 * 4096 + 16 * 128) / 67e12, rel=1e-12)
    # without a vector unit the reduction costs energy, not time
    s2 = simulator.estimate(wl, SA, weights="mxfp4", activations="mxfp4", recipe=R())
    assert rows_of(s2, "scales")["seconds"].iloc[0] == 0 and rows_of(s2, "scales")["scale_pj"].iloc[0] > 0


def test_reports_with_metadata_add():
    a = simulator.estimate("llama2-7b-prefill", "h100", weights="nvfp4", activations="nvfp4",
                           recipe=R(rotation="hadamard"))
    b = simulator.estimate("llama2-7b-decode", "h100", weights="nvfp4", activations="nvfp4")
    s = a + b
    assert s.footprint["total_bytes"] == pytest.approx(
        s.footprint["weights_bytes"] + s.footprint["kv_cache_bytes"] + s.footprint["activations_bytes"]
        + s.footprint["metadata_bytes"])
    assert s.seconds == pytest.approx(a.seconds + b.seconds)


def test_bad_recipes():
    with pytest.raises(ValueError, match="rotation must be"):
        R(rotation="givens")
    with pytest.raises(ValueError, match="outliers must be"):
        R(outliers="gptq")
    with pytest.raises(ValueError, match="outlier_fraction"):
        R(outliers="sparse", outlier_fraction=2)
    with pytest.raises(ValueError, match="low_rank"):
        R(low_rank=-1)
    with pytest.raises(ValueError, match="activation_scales"):
        R(activation_scales="sometimes")
    with pytest.raises(ValueError, match="rotation_unit"):
        R(rotation_unit="tpu")
    with pytest.raises(ValueError, match="online"):
        R(online="down_proj")
    with pytest.raises(ValueError, match="low_rank_format"):
        R(low_rank_format="float7")
    with pytest.raises(TypeError, match="recipe must be"):
        simulator.estimate(one(4, 64, 64, "x"), SA, weights="int8", activations="int8", recipe={"rotation": "x"})
