"""Workloads, estimate, Report and the ``lowbit estimate`` CLI."""


import pandas as pd
import pytest

from lowbit import hwmodels, simulator
from lowbit.simulator import workloads
from lowbit.simulator.workloads import Attention, Conv2d, Gemm


def test_registry_names_and_overrides():
    for name in ("llama2-7b-prefill", "llama2-7b-decode", "llama3-8b-prefill", "llama3-8b-decode"):
        assert name in workloads.names()
        w = workloads.get(name)
        assert (w.batch, w.context) == (1, 2048)
    w = workloads.get("llama3-8b-decode", batch=4, context=512)
    assert (w.batch, w.context, w.tokens) == (4, 512, 4)
    assert workloads.get("llama3-8b-prefill", batch=2, context=128).tokens == 256
    with pytest.raises(ValueError, match="llama2-7b-decode"):
        workloads.get("gpt-5-decode")
    with pytest.raises(ValueError, match="batch"):
        workloads.get("llama2-7b-decode", batch=0)


def test_parameter_counts_match_the_models():
    # Published sizes: Llama 2 7B has 6.74e9 parameters, Llama 3 8B 8.03e9 (model cards).
    assert workloads.MODELS["llama2-7b"].parameters == pytest.approx(6.74e9, rel=0.002)
    assert workloads.MODELS["llama3-8b"].parameters == pytest.approx(8.03e9, rel=0.002)
    # Llama 2 70B: 68,976,648,192 parameters in the released checkpoint, of which 80 × 2 × 8192
    # + 8192 are RMSNorm weights (not counted here)
    assert workloads.MODELS["llama2-70b"].parameters == 68_976_648_192 - (80 * 2 + 1) * 8192


def test_decode_macs_are_parameters_plus_attention():
    w = workloads.get("llama2-7b-decode", context=1000)
    c = w.config
    macs = sum(g.macs for g in w.layers())
    attn = 2 * c.layers * c.heads * c.head_dim * 1000  # QK and PV per layer, one query
    weight_macs = c.parameters - c.vocab * c.hidden  # all weights but the embedding table
    assert macs == weight_macs + attn


def test_conv_lowers_by_im2col_and_attention_groups_queries():
    g = Conv2d(2, 3, 64, 224, 224, 7, stride=2, padding=3).layers()[0]
    assert (g.m, g.k, g.n) == (2 * 112 * 112, 3 * 7 * 7, 64)
    # DRAM reads the unique input (2 x 3 x 224 x 224), not the 12x larger im2col matrix
    assert g.a_elements == 2 * 3 * 224 * 224 < g.m * g.k
    strided = Conv2d(1, 1, 1, 10, 10, 1, stride=3).layers()[0]  # 1x1 windows every 3 pixels
    assert strided.a_elements == 4 * 4 == strided.m * strided.k
    qk, pv = Attention(batch=1, heads=32, kv_heads=8, q_len=1, kv_len=100, head_dim=128).layers()
    # the 8 KV-head groups are one batched call per layer
    assert (qk.m, qk.k, qk.n, qk.count, qk.batch) == (4, 128, 100, 1, 8)
    assert (pv.m, pv.k, pv.n) == (4, 100, 128)
    assert qk.b_operand == pv.b_operand == "kv"


def test_report_totals_are_the_sum_of_layers():
    r = simulator.estimate("llama2-7b-decode", "systolic-32x32", weights="int4",
                           activations="float8_e4m3fn")
    assert isinstance(r, simulator.Report)
    assert isinstance(r.layers, pd.DataFrame)
    assert r.layers["cycles"].sum() == pytest.approx(r.cycles)
    assert r.layers["energy_pj"].sum() == pytest.approx(r.energy_pj)
    assert sum(r.breakdown.values()) == pytest.approx(r.energy_pj)
    assert set(hwmodels.CATEGORIES) <= set(r.breakdown)
    assert r.seconds == pytest.approx(r.cycles / 1e9)
    assert 0 < r.utilization <= 1
    assert r.cost.macs == sum(g.macs for g in workloads.get("llama2-7b-decode").layers())


def test_footprint_by_true_bits_per_element():
    w = workloads.get("llama2-7b-decode")
    kw = dict(activations="float8_e4m3fn")
    r8 = simulator.estimate(w, "a100", weights="int8", **kw)
    r4 = simulator.estimate(w, "a100", weights="int4", kv_cache="float16", **kw)
    assert r8.footprint["weights_bytes"] == pytest.approx(w.config.parameters)
    assert r4.footprint["weights_bytes"] == pytest.approx(w.config.parameters / 2)
    kv = 2 * 32 * 2048 * 32 * 128  # layers, context, kv heads, head dim (Llama 2 7B)
    assert r4.footprint["kv_cache_bytes"] == pytest.approx(kv * 2)
    assert r8.footprint["kv_cache_bytes"] == pytest.approx(kv * 1)


def test_block_format_footprint_includes_scales():
    r = simulator.estimate("llama2-7b-decode", "h100", weights="mxfp4", activations="float8_e4m3fn")
    assert r.footprint["weights_bytes"] == pytest.approx(6.74e9 * 4.25 / 8, rel=0.002)


def test_gpu_decode_is_memory_bound_and_prefill_compute_bound():
    kw = dict(weights="float16", activations="float16")
    d = simulator.estimate("llama2-7b-decode", "a100", **kw)
    p = simulator.estimate("llama2-7b-prefill", "a100", **kw)
    lin = ~d.layers["kind"].str.startswith("attn")
    assert (d.layers.loc[lin, "bound"] == "memory").all()
    proj = lin & (d.layers["kind"] != "lm_head")  # the LM head sees the last token only
    assert (p.layers.loc[proj, "bound"] == "compute").all()
    # decode reads every weight once: HBM time ≈ weight bytes / achieved HBM bandwidth, plus a
    # fixed overhead per kernel (calibrated: test_gpu_calibration.py)
    gpu = hwmodels.presets.get("a100")
    hbm = d.footprint["weights_bytes"] / (2.039e12 * gpu.achieved_bandwidth_fraction)
    assert d.times["dram"] == pytest.approx(hbm, rel=0.1)
    kernels = d.layers["count"].sum()
    assert d.seconds == pytest.approx(hbm + kernels * gpu.kernel_overhead_s, rel=0.1)


def test_reports_add_and_scale():
    kw = dict(weights="int8", activations="int8")
    p = simulator.estimate("llama2-7b-prefill", "tpu-v1", **kw)
    d = simulator.estimate("llama2-7b-decode", "tpu-v1", **kw)
    total = p + d * 10
    assert total.cycles == pytest.approx(p.cycles + 10 * d.cycles)
    assert total.energy_pj == pytest.approx(p.energy_pj + 10 * d.energy_pj)
    assert len(total.layers) == len(p.layers) + len(d.layers)
    assert total.layers["energy_pj"].sum() == pytest.approx(total.energy_pj)
    assert total.footprint["weights_bytes"] == p.footprint["weights_bytes"]


def test_estimate_on_single_gemm_and_machine_record():
    arr = hwmodels.SystolicArray(16, 16, "os")
    r = simulator.estimate(Gemm(64, 64, 64, name="g"), arr, weights="int8", activations="int8")
    assert r.cycles == arr.gemm(64, 64, 64).cycles
    r2 = simulator.estimate([Gemm(64, 64, 64), Gemm(32, 64, 64)], arr, weights="int8",
                            activations="int8")
    assert r2.cycles == arr.gemm(64, 64, 64).cycles + arr.gemm(32, 64, 64).cycles


def test_every_machine_kind_runs_an_llm():
    for hw in ("tpu-v1", "stripes", "bitfusion", "bitmod", "tmac", "lut-tensor-core",
               "cerebras-wse2", "h100"):
        r = simulator.estimate("llama3-8b-decode", hw, weights="int4", activations="int8")
        assert r.energy_pj > 0 and r.seconds > 0, hw


def test_wafer_capacity_is_checked():
    with pytest.raises(ValueError, match="do not fit"):
        simulator.estimate(workloads.get("llama2-7b-decode", batch=64, context=4096),
                           "cerebras-wse2", weights="float16", activations="float16")


def test_workload_shapes_that_do_not_divide_are_errors():
    from lowbit.simulator.workloads import TransformerConfig

    kw = dict(layers=1, intermediate=64, vocab=100)
    with pytest.raises(ValueError, match=r"hidden \(100\) must be a multiple of heads \(3\)"):
        TransformerConfig("x", hidden=100, heads=3, kv_heads=3, **kw)  # head_dim 33 silently
    assert TransformerConfig("x", hidden=100, heads=3, kv_heads=3, head_dim=32, **kw).head_dim == 32
    with pytest.raises(ValueError, match=r"heads \(4\) must be a multiple of kv_heads \(3\)"):
        TransformerConfig("x", hidden=64, heads=4, kv_heads=3, **kw)
    with pytest.raises(ValueError, match="hidden must be an int"):
        TransformerConfig("x", hidden="64", heads=4, kv_heads=4, **kw)
    with pytest.raises(ValueError, match=r"kernel_w \(5\) must be at most width"):
        Conv2d(1, 1, 1, height=8, width=3, kernel_h=3, kernel_w=5)


def test_gpu_footprint_that_exceeds_hbm_does_not_fit():
    """Llama 2 70B in float16 (138 GB of weights) does not fit one A100 80 GB; Llama 2 7B
    (13.5 GB of weights + 68.7 GB of KV cache at batch 64) does, just."""
    a100 = hwmodels.presets.get("a100")
    assert a100.hbm_bytes == 81920 * 2**20  # nvidia-smi's total for A100-SXM4-80GB
    big = simulator.estimate(workloads.get("llama2-70b-decode", batch=64), a100,
                             weights="float16", activations="float16")
    assert big.footprint["weights_bytes"] == 68_975_329_280 * 2
    assert big.capacity_bytes == a100.hbm_bytes and big.fits is False
    assert big.seconds > 0  # still estimated, as if the memory were there
    assert "does NOT fit" in big.summary()["value"].iloc[-1]
    small = simulator.estimate(workloads.get("llama2-7b-decode", batch=64), a100,
                               weights="float16", activations="float16")
    assert small.footprint["total_bytes"] == pytest.approx(82.2e9, rel=1e-3)
    assert small.fits is True
    assert simulator.estimate("llama2-7b-decode", a100, weights="float16",
                              activations="float16").fits is True


def test_fits_compares_the_whole_footprint_with_the_capacity():
    import dataclasses

    r = simulator.estimate("llama2-7b-decode", "h100", weights="int8", activations="int8")
    total = r.footprint["total_bytes"]
    assert r.footprint["activations_bytes"] > 0
    exact = dataclasses.replace(hwmodels.presets.get("h100"), hbm_bytes=total)
    assert simulator.estimate("llama2-7b-decode", exact, weights="int8",
                              activations="int8").fits is True
    short = dataclasses.replace(exact, hbm_bytes=total - 1)
    assert simulator.estimate("llama2-7b-decode", short, weights="int8",
                              activations="int8").fits is False
    # a sum of reports on the same machine keeps its capacity; footprints take the larger part
    both = (simulator.estimate("llama2-7b-prefill", short, weights="int8", activations="int8")
            + simulator.estimate("llama2-7b-decode", short, weights="int8", activations="int8"))
    assert both.capacity_bytes == total - 1 and both.fits is False


def test_fits_on_machines_without_and_with_a_stated_capacity():
    r = simulator.estimate("llama2-70b-decode", "tpu-v1", weights="int8", activations="int8")
    assert r.capacity_bytes is None and r.fits is None  # DRAM capacity not modelled
    assert "capacity" not in set(r.summary()["quantity"])
    w = simulator.estimate("llama2-7b-decode", "cerebras-wse2", weights="int8",
                           activations="int8")
    assert w.capacity_bytes == 40e9 and w.fits is True


@pytest.mark.parametrize("acc", ["mxfp4", "nvfp4", "nf4", "mxint8"])
def test_estimate_rejects_a_non_scalar_accumulator(acc):
    for hw in ("tpu-v1", "a100", "tmac"):
        with pytest.raises(ValueError, match="accumulator must be a scalar format"):
            simulator.estimate("llama2-7b-decode", hw, weights="int4", activations="int8",
                               accumulator=acc)


def test_bad_arguments():
    with pytest.raises(ValueError, match="weights"):
        simulator.estimate("llama2-7b-decode", "a100", weights="mxfp99", activations="int8")
    with pytest.raises(ValueError, match="preset"):
        simulator.estimate("llama2-7b-decode", "a200", weights="int8", activations="int8")
    with pytest.raises(TypeError):
        simulator.estimate(42, "a100", weights="int8", activations="int8")


def test_plot(tmp_path):
    r = simulator.estimate("llama2-7b-decode", "systolic-128x128", weights="int4",
                           activations="float8_e4m3fn")
    fig = r.plot(tmp_path / "e.png")
    assert (tmp_path / "e.png").stat().st_size > 1000
    assert len(fig.axes[0].patches) >= 10


# ------------------------------------------------------------------------ CLI
def _cli(args, capsys):
    from lowbit.simulator.cli._main import main

    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_estimate(tmp_path, capsys):
    png = tmp_path / "energy.png"
    rc, out, err = _cli(["estimate", "--workload", "llama2-7b-decode", "--hw", "systolic-128x128",
                         "--weights", "int4", "--activations", "float8_e4m3fn",
                         "--plot", str(png)], capsys)
    assert rc == 0, err
    assert "llama2-7b-decode" in out and "systolic-128x128" in out
    for word in ("energy", "dram", "sram", "mac", "down_proj", "GB"):
        assert word in out
    assert png.stat().st_size > 1000


def test_cli_estimate_main_job_command(tmp_path, capsys):
    """The README's main-job command."""
    png = tmp_path / "energy.png"
    args = ["estimate", "--workload", "llama2-7b-decode", "--hw", "systolic-128x128",
            "--weights", "mxfp4", "--activations", "float8_e4m3fn", "--plot", str(png)]
    rc, out, err = _cli(args, capsys)
    assert rc == 0, err
    assert "mxfp4" in out and "scale" in out  # block-scale handling shows in the breakdown
    assert png.stat().st_size > 1000
    # MXFP4 weights are 4.25 bits: 6.74e9 × 4.25 / 8 ≈ 3.58 GB
    assert "3.58 GB" in out


def test_cli_unknown_format_is_a_clear_error(capsys):
    rc, out, err = _cli(["estimate", "--workload", "llama2-7b-decode", "--hw", "systolic-128x128",
                         "--weights", "mxfp9", "--activations", "float8_e4m3fn"], capsys)
    assert rc == 2 and "weights: unknown format 'mxfp9'" in err and out == ""


def test_cli_estimate_errors(capsys):
    rc, _, err = _cli(["estimate", "--workload", "llama2-7b-decode", "--hw", "nope",
                       "--weights", "int4", "--activations", "int8"], capsys)
    assert rc == 2 and "unknown hardware preset 'nope'" in err
    rc, _, err = _cli(["estimate", "--workload", "llama9", "--hw", "a100",
                       "--weights", "int4", "--activations", "int8"], capsys)
    assert rc == 2 and "unknown workload" in err
    rc, _, err = _cli(["estimate", "--workload", "llama2-7b-decode", "--hw", "a100",
                       "--weights", "int4", "--activations", "int8", "--batch", "0"], capsys)
    assert rc == 2 and "--batch" in err


def test_cli_warns_when_the_footprint_does_not_fit(capsys):
    args = ["estimate", "--hw", "a100", "--weights", "float16", "--activations", "float16",
            "--batch", "64"]
    rc, out, err = _cli(args + ["--workload", "llama2-70b-decode"], capsys)
    assert rc == 0
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lowbit estimate: warning: the footprint")
    assert "does not fit the 85.9 GB of a100" in lines[0]
    assert "does NOT fit" in out
    rc, out, err = _cli(args + ["--workload", "llama2-7b-decode"], capsys)
    assert rc == 0 and err == "" and "(fits)" in out


def test_cli_layers_and_csv(tmp_path, capsys):
    csv = tmp_path / "l.csv"
    rc, out, _ = _cli(["estimate", "--workload", "llama3-8b-prefill", "--hw", "h100",
                       "--weights", "float8_e4m3fn", "--activations", "float8_e4m3fn",
                       "--context", "512", "--layers", "--csv", str(csv)], capsys)
    assert rc == 0
    df = pd.read_csv(csv)
    assert len(df) == 10 and "energy_pj" in df.columns
    assert "lm_head" in out
