"""Cost arithmetic; presets load through one validating function."""

import dataclasses
import math

import pytest

from lowbit import hwmodels
from lowbit.hwmodels import Cost, presets

EXPECTED_PRESETS = {"tpu-v1", "systolic-128x128", "systolic-32x32", "stripes", "loom",
                    "bitfusion", "bitmod", "tmac", "lut-tensor-core", "cerebras-wse2",
                    "cerebras-wse3", "a100", "h100"}


def test_cost_adds_and_scales():
    a = Cost(cycles=10, seconds=1e-8, breakdown={"mac": 3.0, "sram": 1.0}, macs=40,
             capacity_macs=80, accesses={"x": 2})
    b = Cost(cycles=5, seconds=5e-9, breakdown={"mac": 1.0, "dram": 4.0}, macs=20,
             capacity_macs=20, stall_cycles=2)
    c = a + b
    assert c.cycles == 15 and c.stall_cycles == 2
    assert dict(c.breakdown) == {"mac": 4.0, "sram": 1.0, "dram": 4.0}
    assert c.energy_pj == pytest.approx(9.0)
    assert c.utilization == pytest.approx(60 / 100)
    assert sum([a, b]) == c
    d = a * 3
    assert d.cycles == 30 and d.energy_pj == pytest.approx(12.0) and d.accesses["x"] == 6
    assert d.utilization == pytest.approx(a.utilization)
    assert 2 * a == a * 2
    assert hash(a) == hash(Cost(cycles=10, seconds=1e-8, breakdown={"sram": 1.0, "mac": 3.0},
                                macs=40, capacity_macs=80, accesses={"x": 2}))
    with pytest.raises(ValueError, match="cycles"):
        Cost(cycles=-1)
    with pytest.raises(ValueError, match="breakdown"):
        Cost(breakdown={"mac": math.nan})
    with pytest.raises(ValueError):
        a * -1
    with pytest.raises(TypeError):
        a.breakdown["mac"] = 1.0


def test_preset_names():
    assert EXPECTED_PRESETS <= set(presets.names())
    assert not any(n.startswith(("energy-", "tech-")) for n in presets.names())


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_every_preset_loads_and_runs(name):
    hw = presets.get(name)
    assert dataclasses.is_dataclass(hw) and hash(hw) == hash(presets.get(name))
    c = hw.gemm(8, 256, 256)
    assert c.cycles > 0 and c.seconds > 0 and c.energy_pj > 0
    assert c.energy_pj == pytest.approx(math.fsum(c.breakdown.values()))
    assert 0 < c.utilization <= 1 + 1e-12
    assert set(c.breakdown) <= set(hwmodels.CATEGORIES)


def test_tpu_v1_is_the_paper():
    """Jouppi et al., ISCA 2017: 256x256 int8 MACs, WS, 700 MHz, 24 MiB UB, 34 GB/s, 92 TOPS."""
    t = presets.get("tpu-v1")
    assert (t.rows, t.cols, t.dataflow, t.native_format) == (256, 256, "ws", "int8")
    assert t.clock_hz == 700e6
    assert t.ifmap_sram_bytes == 24 * 2**20
    assert t.dram_bandwidth_bytes_per_cycle * t.clock_hz == pytest.approx(34e9)
    assert 2 * t.peak_macs_per_s == pytest.approx(92e12, rel=0.01)
    assert t.node_nm == 28


def test_wafer_and_gpu_presets_are_the_specs():
    w2, w3 = presets.get("cerebras-wse2"), presets.get("cerebras_wse3")
    assert (w2.cores, w2.sram_bytes, w2.node_nm) == (850_000, 40e9, 7)
    assert (w3.cores, w3.sram_bytes, w3.node_nm) == (900_000, 44e9, 5)
    assert w3.peak_flops_per_s == pytest.approx(125e15, rel=1e-6)
    assert 40e3 < w2.core_sram_bytes < 50e3  # ~48 KB per core
    a100, h100 = presets.get("a100"), presets.get("h100")
    assert a100.bf16_flops_per_s == 312e12 and a100.hbm_bandwidth_bytes_per_s == pytest.approx(2.039e12)
    assert a100.fp8_flops_per_s == 0 and a100.power_w == 400
    assert h100.bf16_flops_per_s == pytest.approx(989.4e12)
    assert h100.fp8_flops_per_s == pytest.approx(1978.9e12)
    assert h100.hbm_bandwidth_bytes_per_s == pytest.approx(3.35e12) and h100.power_w == 700


def test_unknown_preset():
    with pytest.raises(ValueError, match="tpu-v1"):
        presets.get("tpu-v9")
    with pytest.raises(TypeError):
        presets.get(3)


def _tpu_yaml(tmp_path, extra=""):
    p = tmp_path / "mine.yaml"
    p.write_text("kind: systolic\nrows: 64\ncols: 32\ndataflow: os\nclock_mhz: 500\n"
                 "ifmap_sram_kib: 128\n" + extra)
    return p


def test_user_preset_file_with_scaled_units(tmp_path):
    hw = presets.load(_tpu_yaml(tmp_path))
    assert isinstance(hw, hwmodels.SystolicArray)
    assert (hw.rows, hw.cols, hw.dataflow) == (64, 32, "os")
    assert hw.clock_hz == 500e6 and hw.ifmap_sram_bytes == 128 * 1024


def test_unknown_key_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown key 'colour'.*allowed keys"):
        presets.load(_tpu_yaml(tmp_path, "colour: blue\n"))


def test_missing_unit_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="'clock' has no unit.*clock_hz"):
        presets.load({"kind": "systolic", "rows": 4, "cols": 4, "clock": 1e9})
    with pytest.raises(ValueError, match="'ofmap_sram' has no unit"):
        presets.load(_tpu_yaml(tmp_path, "ofmap_sram: 1024\n"))


def test_bad_values_are_errors():
    with pytest.raises(ValueError, match="kind"):
        presets.load({"kind": "toaster"})
    with pytest.raises(ValueError, match="missing required key.*cols"):
        presets.load({"kind": "systolic", "rows": 4})
    with pytest.raises(ValueError, match="clock_mhz must be a number"):
        presets.load({"kind": "systolic", "rows": 4, "cols": 4, "clock_mhz": "fast"})
    with pytest.raises(ValueError, match="dataflow"):
        presets.load({"kind": "systolic", "rows": 4, "cols": 4, "dataflow": "xs"})
    with pytest.raises(ValueError, match="rows"):
        presets.load({"kind": "systolic", "rows": 0, "cols": 4})


def test_energy_table_override(tmp_path):
    """A user energy table (a preset file of kind energy_table) changes a machine's energy."""
    src = hwmodels.energy_table()
    vals = {f.name: getattr(src, f.name) for f in dataclasses.fields(src) if f.name != "name"}
    vals["int8_mult_pj"] = 0.4  # twice Horowitz
    p = tmp_path / "table.yaml"
    p.write_text("kind: energy_table\n" + "".join(f"{k}: {v}\n" for k, v in vals.items()))
    table = presets.load(p)
    assert table.int8_mult_pj == 0.4
    base = hwmodels.SystolicArray(8, 8, node_nm=45)
    mine = dataclasses.replace(base, energy_table=table)
    e0 = base.gemm(16, 16, 16).breakdown["mac"]
    e1 = mine.gemm(16, 16, 16).breakdown["mac"]
    assert e1 == pytest.approx(e0 * (0.4 + 0.1) / (0.2 + 0.1))
    # by path inside a machine preset
    hw = presets.load({"kind": "systolic", "rows": 8, "cols": 8, "energy_table": str(p)})
    assert hw.energy_table == table


def test_every_machine_field_has_a_unit_or_is_declared_unitless():
    from lowbit.hwmodels._loader import KINDS, UNIT_SUFFIXES, _split_unit

    for kind in presets.MACHINE_KINDS:
        cls = KINDS[kind]
        for f in dataclasses.fields(cls):
            if f.name in getattr(cls, "UNITLESS", ()) or f.name in getattr(cls, "NESTED", {}) \
                    or f.name == "name":
                continue
            split = _split_unit(f.name)
            assert split is not None and UNIT_SUFFIXES[split[1]][1] == 1.0, f"{cls.__name__}.{f.name}"


def test_hwmodels_imports_neither_simulator_nor_jax_nor_numba():
    import subprocess
    import sys

    code = ("import sys, hwmodels; hwmodels.presets.get('tpu-v1').gemm(4, 4, 4);"
            "bad = [m for m in ('simulator', 'jax', 'numba') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
