"""Adversarial inputs over every public verb of the three packages.

The promise: any input a user can pass gives either the right answer or a ``TypeError`` /
``ValueError`` whose message names the parameter — never another exception type from deep
inside (AttributeError, IndexError, ZeroDivisionError, numpy's own errors), never a silent
float64 upcast, never a mutated input. New verbs inherit the net by being added to the tables
below (``VERBS``), which ``test_every_public_callable_is_covered`` keeps complete: every public
callable of ``formats``, ``hwmodels`` and ``simulator`` must appear in a table or in
``NOT_VERBS`` with the reason.

Each verb is described by a working call (``good``) and, per parameter, the bad values to put
in its place; the test replaces one argument at a time. Odd but valid inputs (Python lists and
scalars, 0-d, empty, read-only, non-contiguous, big-endian arrays) must give the same answer as
the canonical input.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lowbit import formats, hwmodels, simulator

# ------------------------------------------------------------------------- bad values
NOT_ARRAYS = {"None": None, "str": "1.0", "dict": {"a": 1}, "object array": np.array([object()]),
              "complex array": np.array([1 + 2j]), "nested ragged list": [[1.0], [1.0, 2.0]]}
NOT_FORMATS = {"unknown name": "float7_e9", "int": 8, "None-like": float("nan"), "list": ["int8"],
               "a QArray": "QARRAY"}
NOT_INTS = {"zero": 0, "negative": -3, "fraction": 1.5, "nan": math.nan, "inf": math.inf,
            "bool": True, "numeric str": "4", "None": None, "array": np.array([4, 4])}
NOT_CHOICES = {"unknown": "bogus", "int": 3, "None": None}


def x32(n=64, seed=0):
    return (np.random.default_rng(seed).standard_normal(n) * 3).astype(np.float32)


@dataclasses.dataclass
class Verb:
    """A public callable: ``call(**kwargs)`` runs it, ``good`` are working arguments, ``bad``
    maps a parameter name to {label: bad value}."""

    name: str
    call: Callable[..., Any]
    good: dict
    bad: dict


def _qarray():
    return formats.encode(x32(), "float8_e4m3fn")


def _verbs() -> list[Verb]:
    fmt_bad = dict(NOT_FORMATS)
    v: list[Verb] = []
    for verb in ("quantize", "encode"):
        fn = getattr(formats, verb)
        v.append(Verb(f"formats.{verb}", lambda fn=fn, **k: fn(k.pop("x"), k.pop("fmt"), **k),
                      {"x": x32(), "fmt": "mxfp4", "rounding": "nearest_even", "axis": -1},
                      {"x": NOT_ARRAYS, "fmt": fmt_bad, "rounding": NOT_CHOICES,
                       "overflow": {"unknown": "bogus", "int": 3},
                       "axis": {"out of range": 5, "str": "0", "fraction": 0.5}}))
    v.append(Verb("formats.decode", lambda **k: formats.decode(k.pop("q"), **k),
                  {"q": _qarray(), "dtype": np.float32},
                  {"q": {"array": x32(), "None": None, "str": "q"},
                   "dtype": {"int": np.int32, "complex": np.complex64, "object": object,
                             "unknown str": "float7"}}))
    v.append(Verb("formats.values", lambda **k: formats.values(k["fmt"]), {"fmt": "int4"},
                  {"fmt": {k: b for k, b in fmt_bad.items() if k != "a QArray"}}))
    v.append(Verb("formats.get", lambda **k: formats.get(k["spec"]), {"spec": "nvfp4"},
                  {"spec": {"unknown name": "float7_e9", "int": 8, "None": None, "list": ["int8"]}}))
    v.append(Verb("formats.p3109", lambda **k: formats.p3109(k["k"], k["p"]), {"k": 8, "p": 3},
                  {"k": {"too wide": 17, "fraction": 8.5, "bool": True, "str": "8"},
                   "p": {"zero": 0, "too wide": 9, "fraction": 2.5, "str": "3"}}))
    qa, qb = formats.encode(np.abs(x32(8)), "lns8"), formats.encode(np.abs(x32(8, 1)), "lns8")
    for op in ("lns_multiply", "lns_divide", "lns_add", "lns_subtract"):
        fn = getattr(formats, op)
        v.append(Verb(f"formats.{op}", lambda fn=fn, **k: fn(k.pop("a"), k.pop("b"), **k),
                      {"a": qa, "b": qb},
                      {"a": {"float array": x32(8), "None": None, "not lns": _qarray()},
                       "b": {"other shape": formats.encode(np.ones(3), "lns8"),
                             "other format": formats.encode(np.ones(8), "lns16")},
                       "overflow": {"unknown": "bogus", "int": 3}}))
    v.append(Verb("formats.lmul", lambda **k: formats.lmul(k["a"], k["b"], k["fmt"]),
                  {"a": x32(8), "b": x32(8, 1), "fmt": "bfloat16"},
                  {"a": NOT_ARRAYS, "fmt": {"unknown name": "float7_e9", "not float": "int8"}}))
    v.append(Verb("formats.pack_codes", lambda **k: formats.pack_codes(k["codes"], k["bits"]),
                  {"codes": np.arange(16, dtype=np.uint8), "bits": 4},
                  {"codes": {"float": x32(16), "negative": np.array([-1, 2]), "None": None},
                   "bits": NOT_INTS}))
    v.append(Verb("formats.error_stats", lambda **k: formats.error_stats(k["x"], k["fmt"]),
                  {"x": x32(), "fmt": "int8"}, {"x": NOT_ARRAYS, "fmt": fmt_bad}))
    m16 = np.random.default_rng(4).standard_normal((4, 16)).astype(np.float32)
    v.append(Verb("formats.hadamard", lambda **k: formats.hadamard(k.pop("n"), **k), {"n": 16},
                  {"n": {**NOT_INTS, "no Hadamard of this size": 6, "unsupported base": 2 * 107}}))
    v.append(Verb("formats.hadamard_factors", lambda **k: formats.hadamard_factors(k["n"]), {"n": 11008},
                  {"n": {**NOT_INTS, "no Hadamard of this size": 6}}))
    v.append(Verb("formats.fwht", lambda **k: formats.fwht(k.pop("x"), **k), {"x": m16, "axis": -1},
                  {"x": {**NOT_ARRAYS, "length 6": np.ones((2, 6), np.float32)},
                   "axis": {"out of range": 5, "str": "0", "fraction": 0.5}}))
    v.append(Verb("formats.rotate", lambda **k: formats.rotate(k.pop("x"), k.pop("rotation"), **k),
                  {"x": m16, "rotation": "hadamard"},
                  {"x": NOT_ARRAYS,
                   "rotation": {"unknown": "bogus", "not orthogonal": np.ones((16, 16)),
                                "wrong size": np.eye(8), "int": 3}}))
    v.append(Verb("formats.random_orthogonal", lambda **k: formats.random_orthogonal(k.pop("n"), **k),
                  {"n": 8, "key": 0}, {"n": NOT_INTS, "key": {"str": "seed", "float": 0.5}}))
    w16 = np.random.default_rng(5).standard_normal((8, 16)).astype(np.float32)
    v.append(Verb("formats.smooth_scales", lambda **k: formats.smooth_scales(k.pop("x"), k.pop("weight"), **k),
                  {"x": m16, "weight": w16, "alpha": 0.5},
                  {"x": NOT_ARRAYS, "weight": {"wrong shape": np.ones((8, 5)), **NOT_ARRAYS},
                   "alpha": {"above 1": 1.5, "nan": math.nan, "str": "0.5"}}))
    v.append(Verb("formats.smooth", lambda **k: formats.smooth(k.pop("x"), k.pop("weight"), k.pop("scales"), **k),
                  {"x": m16, "weight": w16, "scales": np.ones(16, np.float32)},
                  {"x": NOT_ARRAYS, "weight": {"wrong shape": np.ones((8, 5))},
                   "scales": {"wrong length": np.ones(5), "zero": np.zeros(16), "negative": -np.ones(16),
                              **NOT_ARRAYS}}))
    v.append(Verb("formats.calibrate", lambda **k: formats.calibrate(k.pop("x"), k.pop("fmt"), **k),
                  {"x": m16, "fmt": "mxfp4", "method": "absmax"},
                  {"x": NOT_ARRAYS, "fmt": fmt_bad, "method": NOT_CHOICES,
                   "axis": {"out of range": 5, "str": "0"}}))
    v.append(Verb("formats.make_options", lambda **k: formats.make_options(k.pop("fmt"), **k),
                  {"fmt": "float8_e4m3fn", "rounding": "nearest_even"},
                  {"fmt": {k: b for k, b in fmt_bad.items() if k != "a QArray"}, "rounding": NOT_CHOICES,
                   "overflow": {"unknown": "bogus", "int": 3}, "random_bits": {"zero": 0, "too many": 99}}))
    v.append(Verb("formats.decode_dtype", lambda **k: formats.decode_dtype(k["fmt"]), {"fmt": "int4"},
                  {"fmt": {k: b for k, b in fmt_bad.items() if k != "a QArray"}}))
    v.append(Verb("formats.default_accumulator",
                  lambda **k: formats.default_accumulator(k.pop("a_format"), k.pop("b_format"), **k),
                  {"a_format": "int8", "b_format": "int4", "multiplier": "exact"},
                  {"a_format": {"unknown name": "float7_e9", "int": 8}, "b_format": {"unknown name": "float7_e9"},
                   "multiplier": NOT_CHOICES}))
    # ---------------------------------------------------------------- hwmodels
    v.append(Verb("hwmodels.resolve_format", lambda **k: hwmodels.resolve_format(k["fmt"], "w"),
                  {"fmt": "nvfp4"}, {"fmt": {"unknown name": "float7_e9", "int": 8}}))
    v.append(Verb("hwmodels.resolve_accumulator", lambda **k: hwmodels.resolve_accumulator(k["accumulator"]),
                  {"accumulator": "float32"},
                  {"accumulator": {"block format": "mxfp4", "unknown name": "float7_e9", "int": 3}}))
    for preset in hwmodels.presets.names():
        machine = hwmodels.presets.get(preset)
        if not hasattr(machine, "gemm"):
            continue
        v.append(Verb(f"hwmodels {preset}.gemm",
                      lambda machine=machine, **k: machine.gemm(k.pop("m"), k.pop("k"), k.pop("n"), **k),
                      {"m": 4, "k": 64, "n": 32},
                      {"m": NOT_INTS, "k": NOT_INTS, "n": NOT_INTS,
                       "a_format": {"unknown name": "float7_e9", "int": 8},
                       "b_format": {"unknown name": "float7_e9", "int": 8},
                       "accumulator": {"block format": "mxfp4", "unknown name": "float7_e9"}}))
    v.append(Verb("hwmodels.presets.get", lambda **k: hwmodels.presets.get(k["name"]),
                  {"name": "tpu-v1"}, {"name": {"unknown": "tpu-v9", "int": 3, "None": None}}))
    v.append(Verb("hwmodels.SystolicArray", lambda **k: hwmodels.SystolicArray(**k),
                  {"rows": 8, "cols": 8},
                  {"rows": NOT_INTS, "cols": NOT_INTS, "dataflow": NOT_CHOICES,
                   "clock_hz": {"nan": math.nan, "negative": -1.0, "str": "1e9", "bool": True}}))
    # ---------------------------------------------------------------- simulator
    a = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    b = np.random.default_rng(2).standard_normal((64, 8)).astype(np.float32)
    v.append(Verb("simulator.matmul", lambda **k: simulator.matmul(k.pop("a"), k.pop("b"), **k),
                  {"a": a, "b": b, "a_format": "float8_e4m3fn", "b_format": "mxfp4",
                   "accumulator": "float32"},
                  {"a": NOT_ARRAYS, "b": {"wrong shape": np.ones((3, 8), np.float32), **NOT_ARRAYS},
                   "a_format": fmt_bad, "b_format": fmt_bad,
                   "accumulator": {"block format": "mxfp4", "unknown name": "float7_e9", "int": 3}}))
    v.append(Verb("simulator.estimate",
                  lambda **k: simulator.estimate(k.pop("workload"), k.pop("hw"), **k),
                  {"workload": "llama2-7b-decode", "hw": "h100", "weights": "nvfp4",
                   "activations": "float8_e4m3fn"},
                  {"workload": {"unknown": "llama9-decode", "int": 3, "None": None},
                   "hw": {"unknown": "tpu-v9", "int": 3, "None": None},
                   "weights": {"unknown name": "float7_e9", "int": 8},
                   "activations": {"unknown name": "float7_e9", "int": 8},
                   "accumulator": {"block format": "mxfp4"}}))
    w = np.random.default_rng(3).standard_normal((8, 64)).astype(np.float32)
    v.append(Verb("simulator.layers.Linear",
                  lambda **k: simulator.layers.Linear(k.pop("weight"), **k)(a),
                  {"weight": w, "x_format": "float8_e4m3fn", "w_format": "float8_e4m3fn"},
                  {"weight": NOT_ARRAYS, "x_format": fmt_bad, "w_format": fmt_bad}))
    v.append(Verb("simulator.compare", lambda **k: simulator.compare(k.pop("approx"), k.pop("reference"), **k),
                  {"approx": a, "reference": a * 1.01},
                  {"approx": {"wrong shape": a[:2], **NOT_ARRAYS},
                   "reference": {"wrong shape": a[:, :3], **NOT_ARRAYS},
                   "kl_axis": {"out of range": 7, "str": "1"}}))
    import pandas as pd

    df = pd.DataFrame({"seconds": [1.0, 2.0, 0.5], "energy_pj": [3.0, 1.0, 4.0], "hw": ["a", "a", "b"]})
    v.append(Verb("simulator.pareto", lambda **k: simulator.pareto(k.pop("df"), k.pop("x"), k.pop("y"), **k),
                  {"df": df, "x": "seconds", "y": "energy_pj"},
                  {"df": {"None": None, "array": np.ones((3, 2))},
                   "x": {"missing column": "joules", "int": 3},
                   "y": {"missing column": "joules", "None": None},
                   "maximize": {"not x or y": "hw"}, "by": {"missing column": "nope"}}))
    return v


VERBS = _verbs()
CASES = [pytest.param(verb, param, label, value, id=f"{verb.name}:{param}={label}")
         for verb in VERBS for param, bad in verb.bad.items() for label, value in bad.items()]

# Public callables that are not verbs over user data, with the reason.
NOT_VERBS = {
    "formats.register_codec": "extension hook for new format families",
    "formats.select": "registry query (filters the registered records)",
    "formats.names": "registry listing, no arguments",
}


def test_every_verb_runs_with_good_arguments():
    for verb in VERBS:
        verb.call(**dict(verb.good))


@pytest.mark.parametrize("verb, param, label, value", CASES)
def test_bad_argument_raises_a_clear_error(verb, param, label, value):
    kwargs = dict(verb.good)
    kwargs[param] = _qarray() if isinstance(value, str) and value == "QARRAY" else value
    with pytest.raises((TypeError, ValueError)) as info:
        verb.call(**kwargs)
    msg = str(info.value)
    named = {param, *ALSO_NAMED.get(param, ())}
    assert any(n in msg for n in named), f"{verb.name}: the error does not name {param!r}: {msg!r}"


#: Words that name a parameter as clearly as its own name does.
ALSO_NAMED = {"spec": ("format",), "fmt": ("format",), "hw": ("hardware",), "name": ("preset",),
              "workload": ("workload",)}


# ----------------------------------------------------------- odd but valid array inputs
def _odd_variants(x: np.ndarray):
    """(label, odd input, the canonical input it must behave like)."""
    ro = x.copy()
    ro.setflags(write=False)
    wide = np.repeat(x, 2)
    yield "list", x.tolist(), x.astype(np.float64)
    yield "read-only", ro, x
    yield "non-contiguous", wide[::2], x
    yield "big-endian", x.astype(x.dtype.newbyteorder(">")), x
    yield "0-d", np.float32(x[0]).reshape(()), x[:1].reshape(())
    yield "python float", float(x[0]), np.float64(x[0]).reshape(())
    yield "empty", x[:0], x[:0]


@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "int4", "mxfp4", "nvfp4", "posit8", "lns8", "nf4"])
@pytest.mark.parametrize("verb", ["quantize", "encode"])
def test_odd_inputs_behave_like_canonical_ones(verb, fmt):
    x = x32(64)
    fn = getattr(formats, verb)
    for label, odd, canon in _odd_variants(x):
        before = np.array(odd, copy=True) if isinstance(odd, np.ndarray) else None
        got, want = fn(odd, fmt), fn(canon, fmt)
        if verb == "encode":
            got, want = formats.decode(got, dtype=np.float64), formats.decode(want, dtype=np.float64)
        assert np.shape(got) == np.shape(want), (label, np.shape(got))
        np.testing.assert_array_equal(np.asarray(got, np.float64), np.asarray(want, np.float64),
                                      err_msg=label)
        if isinstance(odd, np.ndarray):
            np.testing.assert_array_equal(odd, before, err_msg=f"{label}: input mutated")
            if verb == "quantize":
                assert np.asarray(got).dtype == odd.dtype, (label, np.asarray(got).dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_no_silent_float64_upcast(dtype):
    x = x32(256).astype(dtype)
    for fmt in ("float8_e4m3fn", "mxfp4", "nvfp4", "int8", "posit16", "lns16", "nf4"):
        assert formats.quantize(x, fmt).dtype == dtype, fmt
    a = np.ones((2, 32), dtype)
    y = simulator.matmul(a, a.T, a_format="float8_e4m3fn", b_format="float8_e4m3fn")
    assert y.dtype in (np.float32, np.float64)  # documented: float32 accumulators give float32


# ------------------------------------------------------------------------ completeness
def _public_callables():
    out = []
    for pkg_name, pkg in (("formats", formats), ("hwmodels", hwmodels), ("simulator", simulator)):
        for name in pkg.__all__:
            obj = getattr(pkg, name)
            if inspect.isfunction(obj):
                out.append(f"{pkg_name}.{name}")
    return out


#: Public functions covered by tests elsewhere with their own adversarial cases, and where.
ELSEWHERE = {
    "formats.unpack_codes": "tests/formats/test_packing.py",
    "formats.pack_trits": "tests/formats/test_packing.py",
    "formats.unpack_trits": "tests/formats/test_packing.py",
    "formats.to_ml_dtypes": "tests/formats/test_interop.py",
    "formats.from_ml_dtypes": "tests/formats/test_interop.py",
    "formats.power_of_two": "tests/formats/test_lns.py (a record builder)",
    "formats.lns_add_error": "tests/formats/test_lns.py",
    "formats.gaussian_log": "tests/formats/test_lns.py",
    "formats.mitchell_multiply": "tests/formats/test_lns.py",
    "formats.lmul_codes": "tests/formats/test_lmul.py",
    "formats.block_scales": "tests/formats/test_block.py",
    "formats.bfp": "tests/formats/test_block.py (a record builder)",
    "formats.dynamic_fixed_point": "tests/formats/test_block.py (a record builder)",
    "formats.dyadic": "tests/formats/test_scaled.py",
    "formats.requantize": "tests/formats/test_scaled.py",
    "formats.zero_points": "tests/formats/test_scaled.py",
    "formats.error_table": "tests/formats/test_error.py",
    "hwmodels.mac_energy": "tests/hwmodels/test_energy.py",
    "hwmodels.energy_table": "tests/hwmodels/test_energy.py",
    "hwmodels.node_factor": "tests/hwmodels/test_energy.py",
    "simulator.sweep": "tests/simulator/test_sweep.py",
    "simulator.plot_pareto": "tests/simulator/test_pareto.py (pareto's checks plus plotting options)",
    "simulator.quantize_multiplier": "tests/simulator/test_matmul_requant.py",
    "simulator.requantize": "tests/simulator/test_matmul_requant.py",
    "simulator.int_gemm": "tests/simulator/test_matmul_requant.py",
    "simulator.lut_gemm": "tests/simulator/test_lutgemm_model.py",
    "simulator.lut_gemm_bcq": "tests/simulator/test_lutgemm_model.py",
    "simulator.lut_gemm_codebook": "tests/simulator/test_lutgemm_model.py",
    "simulator.lut_gemm_counts": "tests/simulator/test_lutgemm_model.py",
    "simulator.bitserial_matmul": "tests/simulator/test_bitserial_model.py",
    "simulator.bitserial_counts": "tests/simulator/test_bitserial_model.py",
}


def test_every_public_callable_is_covered():
    covered = {v.name for v in VERBS} | set(NOT_VERBS) | set(ELSEWHERE)
    missing = [n for n in _public_callables() if n not in covered]
    assert not missing, ("public functions with no adversarial coverage (add a Verb, or list "
                         f"them in ELSEWHERE / NOT_VERBS with the reason): {missing}")
