"""What the ``lowbit`` commands print: exact values, SI units, block scales, the bound of an
estimate, every field of a preset or workload with its source, and ``sweep``'s table, CSV and
plot."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lowbit import formats
from lowbit.simulator.cli._display import exact, si
from lowbit.simulator.cli._main import main


def _out(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    assert rc == 0, out.err
    return out.out


def _parse_exact(text: str) -> Fraction:
    """The value of exact()'s text, computed independently (decimal, 2^k or m×2^k)."""
    sign = -1 if text.startswith("-") else 1
    t = text.lstrip("-")
    m = re.fullmatch(r"(?:(\d+)×)?2\^(-?\d+)", t)
    if m:
        return sign * Fraction(int(m.group(1) or 1)) * Fraction(2) ** int(m.group(2))
    return sign * Fraction(t)


@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_exact_is_exact(v):
    text = exact(v)
    assert _parse_exact(text) == Fraction(v)
    if v == 0:
        assert text == ("-0" if math.copysign(1, v) < 0 else "0")


@pytest.mark.parametrize("v, text", [
    (448.0, "448"), (2.0**-9, "0.001953125"), (2.0**-149, "2^-149"), (3 * 2.0**-149, "3×2^-149"),
    (float(np.finfo(np.float32).max), "16777215×2^104"),  # (2 - 2^-23)·2^127, IEEE 754 binary32
    (-0.0, "-0"), (math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan"), (np.int8(-3), "-3"),
    (2.0**-14, "2^-14"), (57344.0, "57344"),
])
def test_exact_known_answers(v, text):
    assert exact(v) == text


@pytest.mark.parametrize("v, unit, text", [
    (0.001302, "s", "1.302 ms"), (4.51e-5, "J", "45.1 µJ"), (3.2e-3, "J", "3.2 mJ"),
    (13.5e9, "B", "13.5 GB"), (0, "J", "0 J"), (7e8, "Hz", "700 MHz"), (999.96, "s", "1 ks"),
    (2.5, "W", "2.5 W"), (1.5e-13, "s", "150 fs"),
])
def test_si_prefix_by_magnitude(v, unit, text):
    assert si(v, unit) == text


def test_si_and_exact_reject_non_numbers():
    for f in (si, exact):
        with pytest.raises(TypeError):
            f(True, "s") if f is si else f(True)
        with pytest.raises(TypeError):
            f("1", "s") if f is si else f("1")


# ----------------------------------------------------------------------------- formats
def test_formats_show_lists_every_code_in_hex_with_its_exact_value(capsys):
    out = _out(["formats", "show", "float4_e2m1fn"], capsys)
    cells = dict(re.findall(r"0x([0-9a-f]) (\S+)", out))
    # OCP MX v1.0 §5.3.3: the E2M1 magnitudes are 0, 0.5, 1, 1.5, 2, 3, 4, 6; bit 3 is the sign
    mags = ["0", "0.5", "1", "1.5", "2", "3", "4", "6"]
    assert [cells[f"{c:x}"] for c in range(8)] == mags
    assert [cells[f"{c:x}"] for c in range(8, 16)] == ["-" + m for m in mags]


def test_formats_show_8_bit_values_are_exact_against_ml_dtypes(capsys):
    import ml_dtypes

    out = _out(["formats", "show", "float8_e5m2"], capsys)
    cells = dict(re.findall(r"0x([0-9a-f]{2}) (\S+)", out))
    assert len(cells) == 256
    ref = np.arange(256, dtype=np.uint8).view(ml_dtypes.float8_e5m2).astype(np.float64)
    for code, v in enumerate(ref):
        text = cells[f"{code:02x}"]
        if np.isnan(v):
            assert text in ("nan", "-nan")
        elif np.isinf(v):
            assert text == ("inf" if v > 0 else "-inf")
        else:
            assert _parse_exact(text) == Fraction(float(v)), (code, text)


def test_formats_show_float32_is_exact(capsys):
    out = _out(["formats", "show", "float32"], capsys)
    assert re.search(r"^\s+max\s+16777215×2\^104 ", out, flags=re.M)
    assert re.search(r"^\s+smallest_subnormal\s+2\^-149$", out, flags=re.M)
    assert re.search(r"^\s+inf_codes\s+0x7f800000, 0xff800000$", out, flags=re.M)
    assert re.search(r"^\s+num_codes\s+4294967296$", out, flags=re.M)  # a count, not a code


def test_quantize_prints_block_scales(capsys):
    out = _out(["quantize", "-f", "mxfp4", "1.1", "300", "1e-3", "-7.5"], capsys)
    # OCP MX v1.0 §6.3: X = 2^(floor(log2 amax) - emax_elem) = 2^(8 - 2) = 64; E8M0 code 127 + 6
    assert re.search(r"^\s+0\s+0–3\s+0x85\s+64$", out, flags=re.M)
    rows = [ln.split() for ln in out.splitlines()[1:5]]
    assert [r[1] for r in rows] == ["0", "256", "0", "-0"]  # 300/64 → 4 (×64), the rest flush
    assert all(r[-1] == "0" for r in rows)  # every value in block 0


def test_quantize_prints_nvfp4_tensor_scale(capsys):
    out = _out(["quantize", "-f", "nvfp4", "1.1", "300", "1e-3"], capsys)
    assert "scales (float8_e4m3fn)" in out and "tensor scale:" in out
    q = formats.encode(np.float64([1.1, 300, 1e-3]), "nvfp4")
    ts = float(np.asarray(q.tensor_scale).ravel()[0])
    assert f"tensor scale: {exact(ts)}" in out


# ------------------------------------------------------------------------------ estimate
def test_estimate_explains_a_memory_bound_decode(capsys):
    out = _out(["estimate", "--workload", "llama2-7b-decode", "--hw", "h100", "--weights", "nvfp4",
                "--activations", "float8_e4m3fn"], capsys)
    assert re.search(r"^time\s+\d[\d.]* (µs|ms|s)$", out, flags=re.M)
    assert re.search(r"^energy\s+\d[\d.]* (mJ|J)$", out, flags=re.M)
    assert "0.001272" not in out  # no fixed-unit seconds
    m = re.search(r"^bound: (memory|compute)\. (\d+)% of the time", out, flags=re.M)
    assert m
    from lowbit import simulator

    r = simulator.estimate("llama2-7b-decode", "h100", weights="nvfp4", activations="float8_e4m3fn")
    share = r.layers.groupby("bound")["seconds"].sum() / r.layers["seconds"].sum()
    assert m.group(1) == share.idxmax()
    assert int(m.group(2)) == round(100 * share.max())
    assert ("Fewer bits per weight" in out) == (m.group(1) == "memory")


def test_estimate_explains_a_compute_bound_layer(capsys):
    out = _out(["estimate", "--workload", "llama2-7b-prefill", "--hw", "h100", "--weights", "int8",
                "--activations", "int8", "--context", "4096"], capsys)
    m = re.search(r"^bound: (memory|compute)\.", out, flags=re.M)
    assert m
    if m.group(1) == "compute":
        assert "More MACs per cycle" in out


# ------------------------------------------------------------------- presets, workloads
def test_presets_show_every_field_with_its_source(capsys):
    import dataclasses

    from lowbit import hwmodels

    out = _out(["presets", "show", "tpu-v1"], capsys)
    rec = hwmodels.presets.get("tpu-v1")
    for f in dataclasses.fields(rec):
        if f.name != "name":
            assert re.search(rf"^{f.name}\s", out, flags=re.M), f.name
    # tpu-v1.yaml: clock_mhz: 700 (Jouppi et al., Table 2); ifmap_sram_mib: 24  # Unified Buffer
    assert re.search(r"^clock_hz\s+700 MHz\s+clock_mhz: 700\s", out, flags=re.M)
    assert re.search(r"^ifmap_sram_bytes\s+.*ifmap_sram_mib: 24\s+Unified Buffer$", out, flags=re.M)
    # a field the file leaves out shows the record's default, marked as such
    default = next(f.default for f in dataclasses.fields(hwmodels.SystolicArray) if f.name == "fold_model")
    assert re.search(rf"^fold_model\s+{default}\s+default\s", out, flags=re.M | re.I)
    assert "Jouppi" in out


def test_presets_list_has_every_preset(capsys):
    from lowbit import hwmodels

    out = _out(["presets"], capsys)
    for n in hwmodels.presets.names():
        assert re.search(rf"^\s*{re.escape(n)}\s", out, flags=re.M), n


def test_workloads_show_fields_sources_and_gemms(capsys):
    out = _out(["workloads", "show", "llama2-7b-decode", "--batch", "4"], capsys)
    # meta-llama/Llama-2-7b-hf config.json: hidden 4096, 32 layers, intermediate 11008
    assert re.search(r"^hidden\s+4096\s+meta-llama/Llama-2-7b-hf config.json$", out, flags=re.M)
    assert re.search(r"^intermediate\s+11008\s", out, flags=re.M)
    assert re.search(r"^batch\s+4\s", out, flags=re.M)
    assert re.search(r"^\s*gate_proj\s+gate_proj\s+4\s+4096\s+11008\s+32\s+weight", out, flags=re.M)
    assert _out(["workloads"], capsys).count("llama") >= 8


# ------------------------------------------------------------------------------- sweep
def test_sweep_command_table_csv_plot(tmp_path, capsys):
    from lowbit import simulator

    csv, png = tmp_path / "s.csv", tmp_path / "s.png"
    out = _out(["sweep", "--workload", "llama2-7b-decode", "--hw", "h100", "tmac", "--weights",
                "int4", "int8", "--activations", "float8_e4m3fn", "--no-progress",
                "--csv", str(csv), "--plot", str(png)], capsys)
    df = pd.read_csv(csv)
    assert len(df) == 4 and png.stat().st_size > 10_000
    ref = simulator.sweep("llama2-7b-decode", ["h100", "tmac"], ["int4", "int8"], "float8_e4m3fn",
                          progress=False)
    np.testing.assert_allclose(df["energy_pj"], ref["energy_pj"])
    front = simulator.pareto(ref, "seconds", "energy_pj")
    marked = [ln for ln in out.splitlines() if ln.lstrip().startswith("* ")]
    assert len(marked) == len(front)
    assert re.search(r"4 combinations, \d+ on the Pareto front", out)
