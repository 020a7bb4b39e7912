"""Differential oracle: ml_dtypes (and NumPy's float16).

Every code of every ≤16-bit format ml_dtypes implements decodes to exactly ml_dtypes' value, and
round-to-nearest-even encoding with the natural overflow policy gives ml_dtypes' codes on
code-adjacent and random inputs. Where ml_dtypes behaves differently by design, the difference
is tested below as documented behaviour (docs/rounding-and-overflow.md):

* integer casts truncate in ml_dtypes; lowbit rounds and saturates. Out of range, ml_dtypes
  before 0.7 wraps modulo 2^bits, from 0.7 on it gives 0;
* ml_dtypes rounds E8M0 ties up (away from zero); lowbit's default is ties-to-even;
* NaN → FP4/FP6 (no NaN code) gives −0 in ml_dtypes, +0 in lowbit.

ml_dtypes 0.7.0 fixed two behaviours that earlier releases had, and lowbit never had: float64
inputs were converted through float32 (rounding twice), and E8M0 sent every float32 subnormal of
the lowest binade to 2^-126. Tests that describe ml_dtypes' behaviour are conditional on the
installed version (``ML_FIXED``); on 0.7 and later the fixed cases are part of the differential
tests, so lowbit is compared with ml_dtypes on them too. Tests about lowbit always assert it
against the exact reference.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from _fmt_helpers import (
    code_adjacent_inputs,
    encode_np,
    exact_values,
    ids,
    mismatches,
    ml_dtype_of,
    ml_dtypes_formats,
    same_values,
)
from packaging.version import Version

from lowbit import formats
from lowbit.formats.scalar._reference import ref_encode

ML_FORMATS = ml_dtypes_formats()
ML_FLOATS = [f for f in ML_FORMATS if f.family == "float"]
ML_INTS = [f for f in ML_FORMATS if f.family == "int"]
#: ml_dtypes 0.7.0 rounds float64 inputs once, rounds E8M0's lowest binade like the others and
#: sends out-of-range integer casts to 0 (release notes of ml_dtypes 0.7.0; checked below).
ML_FIXED = Version(ml_dtypes.__version__) >= Version("0.7.0")


def _raw(dt):
    return np.uint16 if dt.itemsize == 2 else np.uint8


def _ml_codes(x, fmt) -> np.ndarray:
    """ml_dtypes' codes for float array ``x`` (cast, then reinterpret the storage)."""
    dt = ml_dtype_of(fmt)
    with np.errstate(invalid="ignore", over="ignore"):
        raw = x.astype(dt).view(_raw(dt))
    return raw & ((1 << fmt.bits) - 1)  # sub-byte types live in the low bits of a byte


def _ml_values(fmt) -> np.ndarray:
    dt = ml_dtype_of(fmt)
    codes = np.arange(fmt.num_codes, dtype=_raw(dt))
    with np.errstate(invalid="ignore"):
        return codes.view(dt).astype(np.float64)


def test_collection_is_complete():
    """The registry holds every ≤16-bit ml_dtypes type the issue names."""
    want = {"float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
            "float8_e4m3b11fnuz", "float8_e4m3", "float8_e3m4", "float8_e8m0fnu", "float6_e2m3fn",
            "float6_e3m2fn", "float4_e2m1fn", "bfloat16", "float16", "int2", "int4", "uint2",
            "uint4"}
    assert want <= {f.name for f in ML_FORMATS}


# -------------------------------------------------------------------------------- decoding
@pytest.mark.parametrize("fmt", ML_FORMATS, ids=ids(ML_FORMATS))
def test_every_code_decodes_to_ml_dtypes_value(fmt):
    want = _ml_values(fmt)
    for got in (formats.values(fmt),
                formats.decode(formats.QArray(np.arange(fmt.num_codes), fmt, (fmt.num_codes,)),
                               dtype=np.float64),
                exact_values(fmt)):
        assert np.array_equal(np.isnan(got), np.isnan(want)), "NaN sets differ"
        ok = same_values(got, want)  # zeros compared with their sign
        assert ok.all(), mismatches(np.arange(fmt.num_codes), got, want)


@pytest.mark.parametrize("fmt", ML_FLOATS, ids=ids(ML_FLOATS))
def test_special_code_sets_match_ml_dtypes(fmt):
    want = _ml_values(fmt)
    assert sorted(fmt.nan_codes) == np.nonzero(np.isnan(want))[0].tolist()
    assert sorted(fmt.inf_codes) == np.nonzero(np.isinf(want))[0].tolist()
    neg_zero = np.nonzero((want == 0) & np.signbit(want))[0].tolist()
    assert fmt.has_negative_zero == bool(neg_zero)
    info = ml_dtypes.finfo(ml_dtype_of(fmt)) if fmt.name != "float16" else np.finfo(np.float16)
    assert fmt.max == float(info.max)
    assert fmt.smallest_normal == float(info.smallest_normal)
    assert fmt.eps == float(info.eps)
    if fmt.smallest_subnormal is not None:
        assert fmt.smallest_subnormal == float(info.smallest_subnormal)


# -------------------------------------------------------------------------------- encoding
def _rne_inputs(fmt, seed):
    rng = np.random.default_rng(seed)
    scale = float(fmt.max)
    rand = np.concatenate([rng.standard_normal(4000) * s for s in (scale / 4, 1.0, fmt.smallest_positive * 4)])
    x = np.concatenate([code_adjacent_inputs(fmt, "float32"), rand.astype(np.float32)])
    if not fmt.has_nan:
        x = x[~np.isnan(x)]  # documented disagreement, tested below
    return x


@pytest.mark.parametrize("path", ["numpy", "public"])
@pytest.mark.parametrize("fmt", [f for f in ML_FLOATS if f.name != "float8_e8m0fnu"],
                         ids=ids([f for f in ML_FLOATS if f.name != "float8_e8m0fnu"]))
def test_encode_nearest_even_matches_ml_dtypes(fmt, path):
    x = _rne_inputs(fmt, 1)
    got = encode_np(x, fmt) if path == "numpy" else formats.encode(x, fmt).codes
    want = _ml_codes(x, fmt)
    assert np.array_equal(got, want), mismatches(x, got, want)


def _e8m0_quirk(x):
    """Inputs on which ml_dtypes before 0.7 differs from the exact reference: strictly between
    2^-127 and 2^-126 (float32 subnormals), see below. None on 0.7 and later."""
    if ML_FIXED:
        return np.zeros(np.shape(x), bool)
    return (np.abs(x) > 2.0**-127) & (np.abs(x) < 2.0**-126)


def test_encode_e8m0_matches_ml_dtypes_with_ties_away():
    """ml_dtypes rounds E8M0 ties up (away from zero): equal to lowbit's ``nearest_away``
    on every input, negative, zero and NaN included (all → the NaN code 0xFF); before ml_dtypes
    0.7, except the float32 subnormals of the lowest binade (tested below)."""
    fmt = formats.get("float8_e8m0fnu")
    x = _rne_inputs(fmt, 2)
    x = x[~_e8m0_quirk(x)]
    got = encode_np(x, fmt, rounding="nearest_away")
    want = _ml_codes(x, fmt)
    assert np.array_equal(got, want), mismatches(x, got, want)


def test_e8m0_ties_documented_disagreement():
    """3 = 1.5·2 lies halfway between 2 (code 128, even) and 4 (code 129): ml_dtypes gives 4,
    lowbit's nearest_even gives 2 (as gfloat, tested in test_codec_gfloat.py)."""
    fmt = formats.get("float8_e8m0fnu")
    x = np.float32([3.0, 0.75, 1.5 * 2.0**-100])
    assert _ml_codes(x, fmt).tolist() == [129, 127, 28]
    assert formats.encode(x, fmt).codes.tolist() == [128, 126, 28]
    assert formats.encode(x, fmt, rounding="nearest_away").codes.tolist() == [129, 127, 28]


def test_e8m0_lowest_binade():
    """lowbit rounds the float32 subnormals between 2^-127 and 2^-126 like every other binade,
    as the exact reference does (1.3 · 2^-127 is nearer 2^-127, code 0). ml_dtypes before 0.7
    sent all of them to 2^-126 (code 1); 0.7 agrees with the reference."""
    fmt = formats.get("float8_e8m0fnu")
    x = np.float32([1.0001, 1.3, 1.49, 1.6]) * np.float32(2.0**-127)
    for rounding in ("nearest_even", "nearest_away"):
        want = [ref_encode(float(v), fmt, rounding) for v in x]
        assert want == [0, 0, 0, 1]
        assert encode_np(x, fmt, rounding=rounding).tolist() == want
        assert formats.encode(x, fmt, rounding=rounding).codes.tolist() == want
    assert _ml_codes(x, fmt).tolist() == ([0, 0, 0, 1] if ML_FIXED else [1, 1, 1, 1])


def test_encode_float64_inputs_match_where_ml_dtypes_rounds_once():
    """float16 (NumPy) rounds float64 directly; for ml_dtypes float64 inputs that are float32
    numbers give the same codes as float32 inputs."""
    f16 = formats.get("float16")
    x = code_adjacent_inputs(f16, "float64")
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).view(np.uint16)
    got = encode_np(x, f16)
    assert np.array_equal(got, want), mismatches(x, got, want)
    for fmt in ML_FLOATS:
        x = _rne_inputs(fmt, 3).astype(np.float64)
        if fmt.name == "float8_e8m0fnu":
            x = x[~_e8m0_quirk(x)]
        rounding = "nearest_away" if fmt.name == "float8_e8m0fnu" else "nearest_even"
        got, want = encode_np(x, fmt, rounding=rounding), _ml_codes(x, fmt)
        assert np.array_equal(got, want), (fmt.name, mismatches(x, got, want))


def test_float64_rounds_once():
    """Just below the tie 432 = (416 + 448)/2 of float8_e4m3fn, the float64 input 432 − 2^-44
    is nearer 416: lowbit rounds once, to 416, as the exact reference does. ml_dtypes before 0.7
    rounded to float32 first (432, a tie) and then to even, 448; 0.7 rounds once."""
    fmt = formats.get("float8_e4m3fn")
    x = np.nextafter(np.float64(432.0), 0.0)
    assert float(formats.quantize(np.float64([x]), fmt)[0]) == 416.0
    assert ref_encode(float(x), fmt) == formats.encode(np.float64([x]), fmt).codes[0] == 0x7D
    assert float(x.astype(ml_dtypes.float8_e4m3fn)) == (416.0 if ML_FIXED else 448.0)


@pytest.mark.parametrize("fmt", ML_FLOATS, ids=ids(ML_FLOATS))
def test_encode_float64_ties_match_ml_dtypes(fmt):
    """ml_dtypes ≥ 0.7 rounds float64 inputs once: every float64 input one float64 ulp either
    side of a tie or a code (where float32 would round it onto the tie) gives lowbit's codes.
    Before 0.7 ml_dtypes gave lowbit's codes of the input rounded to float32 first."""
    x = code_adjacent_inputs(fmt, "float64")
    if not fmt.has_nan:
        x = x[~np.isnan(x)]
    x = x[~_e8m0_quirk(x)] if fmt.name == "float8_e8m0fnu" else x
    rounding = "nearest_away" if fmt.name == "float8_e8m0fnu" else "nearest_even"
    with np.errstate(over="ignore"):
        lowbit_in = x if ML_FIXED else x.astype(np.float32)
    got, want = encode_np(lowbit_in, fmt, rounding=rounding), _ml_codes(x, fmt)
    assert np.array_equal(got, want), mismatches(x, got, want)


NO_NAN = [f for f in ML_FLOATS if not f.has_nan]


@pytest.mark.parametrize("fmt", NO_NAN, ids=ids(NO_NAN))
def test_nan_into_format_without_nan_documented_disagreement(fmt):
    """ml_dtypes encodes NaN into FP4/FP6 as −0 (the sign-bit code; −NaN as +0); lowbit's
    documented rule is +0 (code 0) for both, and overflow='error' raises ValueError."""
    x = np.float32([np.nan, -np.nan])
    assert _ml_codes(x, fmt).tolist() == [fmt.sign_mask, 0]
    assert formats.encode(x, fmt).codes.tolist() == [0, 0]
    q = formats.quantize(x, fmt)
    assert np.all(q == 0) and not np.any(np.signbit(q))
    with pytest.raises(ValueError, match="NaN"):
        formats.encode(x, fmt, overflow="error")


# ------------------------------------------------------------------------------- integers
@pytest.mark.parametrize("fmt", ML_INTS, ids=ids(ML_INTS))
def test_int_toward_zero_matches_ml_dtypes_in_range(fmt):
    """ml_dtypes integer casts truncate: equal to lowbit's toward_zero on in-range inputs."""
    x = code_adjacent_inputs(fmt, "float32")
    x = x[np.isfinite(x) & (x > fmt.min - 1) & (x < fmt.max + 1)]
    got = encode_np(x, fmt, rounding="toward_zero")
    want = _ml_codes(x, fmt)
    assert np.array_equal(got, want), mismatches(x, got, want)


def test_int_cast_documented_disagreement():
    """lowbit int4: 2.7 → 3 (RNE), ±9 → 7 and −8 (saturates). ml_dtypes truncates (2.7 → 2);
    out of range it wrapped before 0.7 (9 → −7, −9 → 7) and gives 0 from 0.7 on (with NumPy's
    'invalid value' warning)."""
    x = np.float32([2.7, 9.0, -9.0])
    assert formats.quantize(x, "int4").tolist() == [3.0, 7.0, -8.0]
    with np.errstate(invalid="ignore"):
        ml = x.astype(ml_dtypes.int4).astype(int).tolist()
    assert ml == ([2, 0, 0] if ML_FIXED else [2, -7, 7])
