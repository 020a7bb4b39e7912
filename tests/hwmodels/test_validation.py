"""Hardware records reject bad numbers in every numeric field; accumulators are scalar formats;
YAML presets reject duplicate keys and unknown table names.

The numeric fields are read from each record's dataclass fields and type annotations, so a field
added later is covered without editing this file.
"""

import dataclasses
import math
import typing

import numpy as np
import pytest

from lowbit import formats, hwmodels
from lowbit.hwmodels import presets
from lowbit.hwmodels._loader import KINDS
from lowbit.hwmodels.energy._energy import tech_scaling


def _records():
    """Every dataclass record hwmodels exports or registers as a preset kind."""
    out = {c for c in vars(hwmodels).values() if isinstance(c, type) and dataclasses.is_dataclass(c)}
    out |= set(KINDS.values())
    return sorted(out, key=lambda c: c.__name__)


#: a valid instance of each record class (a new class must be added here: the test fails until)
SAMPLES = {
    "SystolicArray": lambda: presets.get("tpu-v1"),
    "BitSerialArray": lambda: presets.get("stripes"),
    "LutGemmUnit": lambda: presets.get("tmac"),
    "WaferMesh": lambda: presets.get("cerebras-wse2"),
    "GPU": lambda: presets.get("h100"),
    "EnergyTable": lambda: hwmodels.energy_table(),
    "TechNode": lambda: next(n for n in tech_scaling().nodes if n.derived_from_nm is not None),
    "TechScaling": lambda: tech_scaling(),
    "MacEnergy": lambda: hwmodels.MacEnergy(0.2, 0.03),
    "Cost": lambda: hwmodels.Cost(cycles=1, seconds=1e-9, macs=1, capacity_macs=1),
    "Mapping": lambda: hwmodels.Mapping("mnk", 128, 32, 128, ("a", "c"), ("a", "b", "c")),
}


def _numeric_fields(cls):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        args = typing.get_args(hints[f.name]) or (hints[f.name],)
        kinds = [a for a in args if a is not type(None)]
        if kinds and all(a in (int, float) for a in kinds):
            yield f.name


def _cases():
    for cls in _records():
        for name in _numeric_fields(cls):
            yield pytest.param(cls, name, id=f"{cls.__name__}.{name}")


#: never a valid value of a numeric field
BAD = [math.nan, math.inf, -math.inf, np.float64("nan"), np.float32("inf"), True, False,
       np.bool_(True), "1", "2.5", "nan", b"1", -1, [1.0]]


def test_every_record_has_a_sample_and_numeric_fields():
    names = {c.__name__ for c in _records()}
    assert names == set(SAMPLES), "add a valid sample of each new record class to SAMPLES"
    assert {"fp8_flops_per_s", "fp4_flops_per_s", "int8_ops_per_s", "int4_ops_per_s",
            "hbm_bytes"} <= set(_numeric_fields(hwmodels.GPU))
    assert "message_overhead_cycles" in set(_numeric_fields(hwmodels.WaferMesh))


@pytest.mark.parametrize("cls, name", list(_cases()))
def test_numeric_field_rejects_nan_inf_bools_and_strings(cls, name):
    rec = SAMPLES[cls.__name__]()
    assert isinstance(rec, cls)
    for bad in BAD:
        with pytest.raises((ValueError, TypeError), match=rf"\b{name}\b.* must be"):
            dataclasses.replace(rec, **{name: bad})


@pytest.mark.parametrize("cls, name", list(_cases()))
def test_numeric_field_keeps_a_valid_value(cls, name):
    """The check is not a blanket refusal: a (larger) finite number is accepted, as a number."""
    rec = SAMPLES[cls.__name__]()
    v = getattr(rec, name)
    new = (v or 1) * 2
    if cls.__name__ == "WaferMesh" and name == "reduce_tree_arity":
        new = rec.routing_paths_per_core  # bounded by the routing limit
    if name == "node_nm" and cls.__name__ != "TechNode":
        new = 7.0  # inside the technology-scaling table
    if name.startswith("achieved_"):
        new = v / 2  # a fraction of the peak, at most 1
    if name == "static_power_w" and cls.__name__ in ("GPU", "WaferMesh"):
        new = rec.power_w / 2  # at most the board power
    out = dataclasses.replace(rec, **{name: new})
    assert getattr(out, name) == new


def test_mapping_record_rejects_bad_values():
    with pytest.raises(ValueError, match="order must be a permutation"):
        hwmodels.Mapping("mmk", 1, 1, 1)
    with pytest.raises(ValueError, match="resident"):
        hwmodels.Mapping("mnk", 1, 1, 1, resident=("d",))
    with pytest.raises(ValueError, match="objective"):
        hwmodels.Mapping("mnk", 1, 1, 1, objective="area")
    with pytest.raises(ValueError, match="tile_k must be an integer >= 1"):
        hwmodels.Mapping("mnk", 1, 0, 1)


def test_numpy_scalars_become_python_numbers():
    arr = hwmodels.SystolicArray(np.int64(8), np.int32(4), clock_hz=np.float32(5e8))
    assert type(arr.rows) is int and type(arr.cols) is int and type(arr.clock_hz) is float
    assert arr.rows == 8 and arr.clock_hz == 5e8
    with pytest.raises(ValueError, match="rows must be an integer >= 1"):
        hwmodels.SystolicArray(8.5, 4)


def test_zero_is_allowed_exactly_where_documented():
    h100 = presets.get("h100")
    assert dataclasses.replace(h100, fp4_flops_per_s=0).fp4_flops_per_s == 0  # unsupported
    with pytest.raises(ValueError, match="bf16_flops_per_s must be a finite number > 0"):
        dataclasses.replace(h100, bf16_flops_per_s=0)
    with pytest.raises(ValueError, match="fp8_flops_per_s must be a finite number >= 0"):
        dataclasses.replace(h100, fp8_flops_per_s=-1)
    wse = presets.get("cerebras-wse2")
    assert dataclasses.replace(wse, message_overhead_cycles=0).message_overhead_cycles == 0


def test_non_numeric_fields_are_type_checked():
    with pytest.raises(TypeError, match="energy_table must be of type EnergyTable or None"):
        dataclasses.replace(presets.get("h100"), energy_table="horowitz-45nm")
    with pytest.raises(TypeError, match="sign_symmetry"):
        dataclasses.replace(presets.get("tmac"), sign_symmetry=1)
    with pytest.raises(ValueError, match="native_format"):
        hwmodels.SystolicArray(4, 4, native_format="int77")
    with pytest.raises(TypeError, match="energy_poly"):
        dataclasses.replace(tech_scaling().nodes[0], energy_poly=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"energy_poly\[1\]"):
        dataclasses.replace(tech_scaling().nodes[0], energy_poly=(1.0, math.nan, 3.0))
    with pytest.raises(TypeError, match="nodes"):
        dataclasses.replace(tech_scaling(), nodes=(1, 2))


def test_method_arguments_reject_nan():
    t = hwmodels.energy_table()
    with pytest.raises(ValueError, match="bits"):
        t.sram_access(math.nan, 2**15)
    with pytest.raises(ValueError, match="bits"):
        t.dram_access(math.inf)
    with pytest.raises(ValueError, match="nbytes"):
        presets.get("cerebras-wse2").check_capacity(math.nan)
    with pytest.raises(ValueError, match="weight_bits must be an integer >= 1"):
        presets.get("tmac").peak_macs_per_cycle(0)  # was a ZeroDivisionError
    with pytest.raises(TypeError, match="accesses|'x'"):
        hwmodels.Cost(accesses={"x": None})
    with pytest.raises(ValueError, match=r"accesses\['x'\]"):
        hwmodels.Cost(accesses={"x": math.nan})


# ------------------------------------------------------------------- accumulator
NON_SCALAR = ["mxfp4", "mxint8", "nvfp4", "bfp16", "nf4", "ternary_absmean", "nestquant_e8_q16",
              "luq4", formats.ScaledIntFormat()]


@pytest.mark.parametrize("preset", ["tpu-v1", "stripes", "tmac", "cerebras-wse2", "a100"])
@pytest.mark.parametrize("acc", NON_SCALAR, ids=str)
def test_gemm_rejects_a_non_scalar_accumulator(preset, acc):
    hw = presets.get(preset)
    with pytest.raises(ValueError, match="accumulator must be a scalar format"):
        hw.gemm(2, 64, 64, a_format="int8", b_format="int8", accumulator=acc)
    with pytest.raises(ValueError, match="accumulator_format must be a scalar format"):
        dataclasses.replace(hw, accumulator_format=acc) if hasattr(hw, "accumulator_format") \
            else hwmodels.SystolicArray(4, 4, accumulator_format=acc)


@pytest.mark.parametrize("acc", ["int32", "float32", "bfloat16", "posit16", "lns16"])
def test_scalar_accumulators_still_work(acc):
    c = presets.get("tpu-v1").gemm(2, 64, 64, a_format="int8", b_format="int8", accumulator=acc)
    assert c.energy_pj > 0


def test_mac_energy_rejects_a_non_scalar_accumulator():
    with pytest.raises(ValueError, match="accumulator must be a scalar format"):
        hwmodels.mac_energy("int8", "int8", "mxfp4")


# ------------------------------------------------------------------------ YAML
def test_duplicate_key_is_an_error_naming_file_and_key(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("kind: systolic\nrows: 64\ncols: 32\nrows: 128\n")
    with pytest.raises(ValueError, match=r"dup\.yaml: duplicate key 'rows' \(line 4\)"):
        presets.load(p)


def test_duplicate_key_in_a_nested_mapping(tmp_path):
    src = hwmodels.energy_table()
    vals = {f.name: getattr(src, f.name) for f in dataclasses.fields(src) if f.name != "name"}
    body = "".join(f"  {k}: {v}\n" for k, v in vals.items())
    p = tmp_path / "nested.yaml"
    p.write_text("kind: systolic\nrows: 4\ncols: 4\nenergy_table:\n" + body + "  int8_add_pj: 9\n")
    with pytest.raises(ValueError, match=r"nested\.yaml: duplicate key 'int8_add_pj'"):
        presets.load(p)
    p.write_text("kind: systolic\nrows: 4\ncols: 4\nenergy_table:\n" + body)
    assert presets.load(p).energy_table == src  # the same file without the repeat loads


def test_unknown_energy_table_name(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("kind: systolic\nrows: 4\ncols: 4\nenergy_table: horowitz-7nm\n")
    with pytest.raises(ValueError, match=r"mine\.yaml: energy_table: unknown energy_table "
                                         r"'horowitz-7nm'; built-in names: horowitz-45nm"):
        presets.load(p)
    with pytest.raises(ValueError, match="energy_table: no such file"):
        presets.load({"kind": "systolic", "rows": 4, "cols": 4,
                      "energy_table": str(tmp_path / "missing.yaml")})
    with pytest.raises(ValueError, match="unknown energy_table 'x'.*horowitz-45nm"):
        hwmodels.energy_table("x")
    with pytest.raises(TypeError, match="energy_table"):
        hwmodels.energy_table(["x"])


def test_yaml_nan_and_string_values_are_errors(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("kind: systolic\ncols: 4\nrows: '64'\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: rows must be an integer >= 1, got '64'"):
        presets.load(p)
    p.write_text("kind: systolic\nrows: 4\ncols: 4\nclock_hz: .nan\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: clock_hz must be a finite number > 0"):
        presets.load(p)
    p.write_text("kind: gpu\nfp32_tflops_per_s: 19.5\ntf32_tflops_per_s: 156\n"
                 "fp16_tflops_per_s: 312\nbf16_tflops_per_s: 312\nhbm_bandwidth_tb_per_s: 2\n"
                 "power_w: 400\nclock_mhz: 1410\nnode_nm: 7\nfp8_tflops_per_s: .inf\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: fp8_flops_per_s must be a finite number >= 0"):
        presets.load(p)


@pytest.mark.parametrize("preset", ["tpu-v1", "stripes", "tmac", "cerebras-wse2", "a100"])
def test_gemm_of_an_array_is_a_type_error_naming_the_dimension(preset):
    hw = presets.get(preset)
    with pytest.raises(TypeError, match="k must be an int >= 1, got an array"):
        hw.gemm(2, np.array([64, 128]), 64)


def test_kind_that_is_not_a_name():
    with pytest.raises(ValueError, match=r"kind must be one of .*got \['systolic'\]"):
        presets.load({"kind": ["systolic"], "rows": 4, "cols": 4})
