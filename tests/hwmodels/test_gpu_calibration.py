"""GPU model calibrated to published measurements (tests/fixtures/measurements/gpu_llm.csv).

The fit itself is tests/fixtures/measurements/calibrate_gpu.py (scipy.optimize); its constants
live in the GPU presets. Here: the presets hold what the fit gives, the fitted rows are within
±20 % and the held-out rows within ±35 % (issue 13's targets), dequantization is on the time path,
and codebook weights estimate.
"""

import dataclasses
import importlib.util
import pathlib

import pytest

from lowbit import hwmodels, simulator

SCRIPT = pathlib.Path(__file__).parents[1] / "fixtures" / "measurements" / "calibrate_gpu.py"


@pytest.fixture(scope="module")
def cal():
    spec = importlib.util.spec_from_file_location("calibrate_gpu", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def fitted(cal):
    return cal.fit()


def test_presets_hold_the_fit(cal, fitted):
    """The constants are data in the presets, written by the script — and what it fits now."""
    assert set(fitted) == {"a100", "h100", "rtx4090", "l40s", "b200", "t4"}
    for name, (eta_c, eta_m, t0) in fitted.items():
        g = hwmodels.presets.get(name)
        assert g.achieved_compute_fraction == pytest.approx(eta_c, rel=1e-9), name
        assert g.achieved_bandwidth_fraction == pytest.approx(eta_m, rel=1e-9), name
        assert g.kernel_overhead_s == pytest.approx(t0, rel=1e-6), name


def test_fit_and_held_out_rows_are_disjoint_and_cover_every_gpu(cal):
    fit = set(cal._fit_rows())
    assert not fit & set(cal.HELD_OUT) and not fit & set(cal.EXCLUDED)
    assert not set(cal.HELD_OUT) & set(cal.EXCLUDED)
    rows = cal.rows()
    assert {rows[r]["preset"] for r in cal.HELD_OUT} >= {"a100", "rtx4090", "l40s"}
    assert len(cal.HELD_OUT) >= 15


def test_fitted_rows_within_20_percent_held_out_within_35(cal):
    table = cal.table()  # with the presets' own constants
    fit = [r for r in table if r["set"] == "fit"]
    held = [r for r in table if r["set"] == "held out"]
    assert len(fit) >= 20 and len(held) >= 15
    bad_fit = [(r["row"], round(r["ratio"], 3)) for r in fit if not 0.8 <= r["ratio"] <= 1.2]
    bad_held = [(r["row"], round(r["ratio"], 3)) for r in held if not 0.65 <= r["ratio"] <= 1.35]
    assert not bad_fit, bad_fit
    assert not bad_held, bad_held


def test_uncalibrated_roofline_misses_the_published_latency(cal):
    """The issue's finding, kept as a check that the calibration is what closes the gap: the
    peak roofline predicts NVIDIA's Llama-2-7B A100 latency (g001) at ~0.6×."""
    fn, _ = cal.predictor(cal.rows()["g001"])
    peak = fn((1.0, 1.0, 0.0))
    assert 0.5 < peak / 234.0 < 0.75
    assert 0.8 < fn(cal.fit()["a100"]) / 234.0 < 1.2


def test_w4a16_dequantizes_on_cuda_cores():
    """W4A16: int4 weights converted to fp16 on the CUDA cores before the fp16 tensor cores —
    on the compute time, once per 128-row tile of the output."""
    a100 = hwmodels.presets.get("a100")
    fp16 = a100.gemm(2048, 4096, 4096, a_format="float16", b_format="float16")
    w4 = a100.gemm(2048, 4096, 4096, a_format="float16", b_format="int4")
    assert fp16.accesses["dequantized_elements"] == 0
    assert w4.accesses["dequantized_elements"] == 4096 * 4096 * (2048 // 128)
    extra = (w4.accesses["dequantized_elements"] * a100.dequant_ops_per_element
             / (a100.fp32_flops_per_s / 2 * a100.achieved_compute_fraction))
    assert w4.times["compute"] == pytest.approx(fp16.times["compute"] + extra)
    # decode stays memory-bound and 4-bit weights move ~4x fewer bytes
    d16 = a100.gemm(1, 8192, 8192, a_format="float16", b_format="float16")
    d4 = a100.gemm(1, 8192, 8192, a_format="float16", b_format="int4")
    assert d16.bound == "memory"
    assert d16.times["dram"] / d4.times["dram"] == pytest.approx(4.0, rel=0.01)


@pytest.mark.parametrize("gpu", ["a100", "h100", "rtx4090", "b200"])
@pytest.mark.parametrize("weights", ["nf4", "mxfp4", "nvfp4", "int4"])
def test_weight_only_formats_estimate(gpu, weights):
    """NF4 and other codebook / block formats estimate instead of raising (their entries or
    elements are what the tensor cores multiply)."""
    r = simulator.estimate("llama2-7b-decode", gpu, weights=weights, activations="float16")
    fp16 = simulator.estimate("llama2-7b-decode", gpu, weights="float16", activations="float16")
    assert r.seconds < fp16.seconds
    assert r.layers["b_dram_bytes"].sum() < 0.35 * fp16.layers["b_dram_bytes"].sum()


def test_blackwell_scales_mx_blocks_natively():
    b200, h100 = hwmodels.presets.get("b200"), hwmodels.presets.get("h100")
    kw = dict(a_format="float16", b_format="mxfp4")
    assert b200.gemm(512, 4096, 4096, **kw).accesses["dequantized_elements"] == 0
    assert h100.gemm(512, 4096, 4096, **kw).accesses["dequantized_elements"] > 0


def test_kernel_overhead_once_per_batched_call():
    g = hwmodels.presets.get("h100")
    one = g.gemm(4, 128, 2048, a_format="float16", b_format="float16")
    many = g.gemm(4, 128, 2048, a_format="float16", b_format="float16", batch=32)
    assert many.seconds == pytest.approx(32 * (one.seconds - g.kernel_overhead_s)
                                         + g.kernel_overhead_s)
    assert many.macs == 32 * one.macs


def test_gddr_presets_use_a_gddr_energy():
    """GDDR6/6X energy per bit (Micron's comparison table), not the HBM2 default."""
    assert hwmodels.presets.get("l40s").hbm_pj_per_bit == 7.5
    assert hwmodels.presets.get("t4").hbm_pj_per_bit == 7.5
    assert hwmodels.presets.get("rtx4090").hbm_pj_per_bit == 7.25
    assert hwmodels.presets.get("a100").hbm_pj_per_bit == 3.9


def test_calibration_fields_are_validated():
    g = hwmodels.presets.get("a100")
    with pytest.raises(ValueError, match="achieved_bandwidth_fraction must be in"):
        dataclasses.replace(g, achieved_bandwidth_fraction=1.5)
    with pytest.raises(ValueError, match="kernel_overhead_s"):
        dataclasses.replace(g, kernel_overhead_s=-1e-6)
    with pytest.raises(ValueError, match="static_power_w must be at most"):
        dataclasses.replace(g, static_power_w=1e4)
