"""Wafer-scale mesh (PLMR, MeshGEMM/MeshGEMV, capacity) and the GPU roofline (calibrated:
test_gpu_calibration.py)."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lowbit import hwmodels
from lowbit.hwmodels import WaferMesh

A100 = hwmodels.presets.get("a100")
H100 = hwmodels.presets.get("h100")
WSE2 = hwmodels.presets.get("cerebras-wse2")


# --------------------------------------------------------------------- GPU
PEAK_A100 = dataclasses.replace(A100, achieved_compute_fraction=1.0,
                                achieved_bandwidth_fraction=1.0, kernel_overhead_s=0.0)


def test_prefill_is_compute_bound_and_decode_memory_bound():
    fp16 = dict(a_format="float16", b_format="float16")
    prefill = PEAK_A100.gemm(2048, 4096, 4096, **fp16)
    decode = PEAK_A100.gemm(1, 4096, 4096, **fp16)
    assert prefill.seconds == pytest.approx(2 * 2048 * 4096 * 4096 / 312e12)
    assert decode.seconds == pytest.approx((4096 * 4096 + 2 * 4096) * 2 / 2.039e12)
    assert prefill.bound == "compute" and decode.bound == "memory"
    assert prefill.utilization == pytest.approx(1.0)
    assert decode.utilization < 0.01
    # calibrated: achieved fractions of both peaks and one kernel overhead
    cal = A100.gemm(2048, 4096, 4096, **fp16)
    assert cal.seconds == pytest.approx(prefill.seconds / A100.achieved_compute_fraction
                                        + A100.kernel_overhead_s)
    assert cal.times["overhead"] == A100.kernel_overhead_s


@given(m=st.integers(1, 8192), k=st.integers(1, 8192), n=st.integers(1, 8192),
       gpu=st.sampled_from([A100, H100]),
       fmt=st.sampled_from(["float16", "bfloat16", "int8", "float32"]))
def test_gpu_time_is_its_roofline(m, k, n, gpu, fmt):
    c = gpu.gemm(m, k, n, a_format=fmt, b_format=fmt)
    _, _, peak = gpu.compute_precision(hwmodels._operand.resolve_format(fmt, "x"),
                                       hwmodels._operand.resolve_format(fmt, "x"))
    bits = hwmodels._operand.operand(hwmodels._operand.resolve_format(fmt, "x")).bits
    bytes_ = (m * k + k * n + m * n) * bits / 8
    roof = max(2 * m * k * n / peak, bytes_ / gpu.hbm_bandwidth_bytes_per_s)
    assert gpu.roofline_seconds(m, k, n, a_format=fmt, b_format=fmt) == pytest.approx(roof)
    assert c.seconds == pytest.approx(
        max(2 * m * k * n / (peak * gpu.achieved_compute_fraction),
            bytes_ / (gpu.hbm_bandwidth_bytes_per_s * gpu.achieved_bandwidth_fraction))
        + gpu.kernel_overhead_s)
    assert c.seconds >= roof  # never beats the peak roofline
    assert c.energy_pj >= gpu.power_w * c.seconds * 1e12 * (1 - 1e-9)  # board power bounds energy
    assert 0 < c.utilization <= 1 + 1e-12


def test_gpu_precision_selection():
    from lowbit import formats

    g = lambda n: formats.get(n)  # noqa: E731
    assert H100.compute_precision(g("float8_e4m3fn"), g("float8_e4m3fn"))[0] == "fp8_flops_per_s"
    assert H100.compute_precision(g("float8_e4m3fn"), g("int4"))[0] == "fp8_flops_per_s"
    assert H100.compute_precision(g("float8_e5m2"), g("float8_e4m3fn"))[0] != "fp8_flops_per_s"
    assert A100.compute_precision(g("float8_e4m3fn"), g("float8_e4m3fn"))[0] in (
        "fp16_flops_per_s", "bf16_flops_per_s")  # no FP8 tensor cores on A100
    assert A100.compute_precision(g("int4"), g("int4"))[0] == "int4_ops_per_s"
    assert H100.compute_precision(g("int4"), g("int4"))[0] == "int8_ops_per_s"
    assert A100.compute_precision(g("int8"), g("int4"))[0] == "int8_ops_per_s"
    with pytest.raises(ValueError, match="precision"):
        A100.compute_precision(g("float64"), g("float64"))


def test_low_bit_weights_speed_up_decode_by_their_bytes():
    fp16 = PEAK_A100.gemm(1, 8192, 8192, a_format="float16", b_format="float16")
    int4 = PEAK_A100.gemm(1, 8192, 8192, a_format="float16", b_format="int4")
    assert fp16.times["dram"] / int4.times["dram"] == pytest.approx(4.0, rel=0.01)
    # the int4 weights are dequantized on the CUDA cores: faster, but less than 4x
    assert 2.0 < fp16.seconds / int4.seconds < 4.0


# ------------------------------------------------------------------- wafer
def test_plmr_parameters_of_the_presets():
    w3 = hwmodels.presets.get("cerebras-wse3")
    assert WSE2.mesh_side**2 <= WSE2.cores < (WSE2.mesh_side + 1) ** 2
    assert WSE2.hop_latency_cycles > 0 and WSE2.routing_paths_per_core >= WSE2.reduce_tree_arity
    assert w3.peak_flops_per_s > WSE2.peak_flops_per_s


def test_capacity_check():
    WSE2.check_capacity(39e9)
    with pytest.raises(ValueError, match="do not fit"):
        WSE2.check_capacity(41e9)
    with pytest.raises(ValueError, match="do not fit"):
        WSE2.gemm(1, 200_000, 200_000, a_format="float16", b_format="float16")  # 80 GB


def test_gemv_against_a100_reproduces_the_published_order_of_magnitude():
    """WaferLLM (arXiv 2502.04563): MeshGEMV on WSE-2 is 606× faster than an A100 GEMV and
    16× (OSDI) / 22× (arXiv v2) more energy-efficient. Our models agree to an order of
    magnitude for a 32K × 32K fp16 GEMV (the A100 at its roofline)."""
    s = 32768
    kw = dict(a_format="float16", b_format="float16")
    w, a = WSE2.gemm(1, s, s, **kw), A100.gemm(1, s, s, **kw)
    speedup, energy_gain = a.seconds / w.seconds, a.energy_pj / w.energy_pj
    assert 606 / 10 <= speedup <= 606 * 10
    assert 16 / 10 <= energy_gain <= 22 * 10


def test_gemv_reduction_uses_a_k_tree():
    import dataclasses

    k2 = WSE2
    k4 = dataclasses.replace(WSE2, reduce_tree_arity=4)
    kw = dict(a_format="float16", b_format="float16")
    assert k2.gemm(1, 8192, 8192, **kw).cycles != k4.gemm(1, 8192, 8192, **kw).cycles
    with pytest.raises(ValueError, match="reduce_tree_arity"):
        dataclasses.replace(WSE2, reduce_tree_arity=64)  # more than the 24 routing paths


@given(m=st.integers(1, 4096), k=st.integers(1, 16384), n=st.integers(1, 16384))
def test_wafer_never_beats_its_roofline(m, k, n):
    c = WSE2.gemm(m, k, n, a_format="float16", b_format="float16")
    assert c.cycles >= WSE2.roofline_cycles(m, k, n) * (1 - 1e-12)
    assert 0 < c.utilization <= 1 + 1e-12
    assert c.energy_pj >= WSE2.power_w * c.seconds * 1e12 * (1 - 1e-9)


def test_meshgemm_tiles_must_fit_core_memory():
    tiny = WaferMesh(cores=16, sram_bytes=16 * 1024, clock_hz=1e9, core_macs_per_cycle=1,
                     hop_latency_cycles=1, message_overhead_cycles=0, link_bytes_per_cycle=4,
                     routing_paths_per_core=4, power_w=1, node_nm=7)
    tiny.gemm(8, 16, 16, a_format="int8", b_format="int8")
    with pytest.raises(ValueError, match="fit"):
        tiny.gemm(64, 64, 64, a_format="int8", b_format="int8")
