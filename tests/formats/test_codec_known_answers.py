"""Known answers from the format specifications (each row cites its source).

Sources:
  [OFP8]  OCP 8-bit Floating Point Specification (OFP8), Revision 1.0, 2023-06-20, Table 1
          ("E4M3 and E5M2 encoding details").
  [MX]    OCP Microscaling Formats (MX) Specification v1.0, 2023-09: §5.3.2 FP6 (E2M3, E3M2)
          table, §5.3.3 FP4 (E2M1) table, §5.4.1 E8M0 scale table.
  [MLD]   ml_dtypes README, "float8_* types" (LLVM APFloat semantics Float8E4M3FNUZ,
          Float8E5M2FNUZ, Float8E4M3B11FNUZ, Float8E4M3, Float8E3M4).
  [754]   IEEE 754-2019 Table 3.5 (binary16); bfloat16: Google TPU bfloat16 (binary32 with a
          7-bit trailing significand).
  [P3109] IEEE SA P3109 Interim Report (2024), binary8p3 / binary8p4 tables.

Every answer that a codec computes (values of codes, conversions) runs through every backend —
NumPy vectorized, Numba regardless of size, JAX eager and ``jax.jit`` — with the ``each_backend``
fixture of ``tests/conftest.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from lowbit import formats

# name: (max, smallest_normal, smallest_subnormal, max_subnormal or None, bias, source)
TABLE = {
    "float8_e4m3fn": (448.0, 2.0**-6, 2.0**-9, 0.875 * 2.0**-6, 7, "OFP8 Table 1"),
    "float8_e5m2": (57344.0, 2.0**-14, 2.0**-16, 0.75 * 2.0**-14, 15, "OFP8 Table 1"),
    "float6_e2m3fn": (7.5, 1.0, 0.125, 0.875, 1, "MX §5.3.2"),
    "float6_e3m2fn": (28.0, 0.25, 0.0625, 0.1875, 3, "MX §5.3.2"),
    "float4_e2m1fn": (6.0, 1.0, 0.5, 0.5, 1, "MX §5.3.3"),
    "float8_e4m3fnuz": (240.0, 2.0**-7, 2.0**-10, None, 8, "MLD"),
    "float8_e5m2fnuz": (57344.0, 2.0**-15, 2.0**-17, None, 16, "MLD"),
    "float8_e4m3b11fnuz": (30.0, 2.0**-10, 2.0**-13, None, 11, "MLD"),
    "float8_e4m3": (240.0, 2.0**-6, 2.0**-9, None, 7, "MLD"),
    "float8_e3m4": (15.5, 0.25, 2.0**-6, None, 3, "MLD"),
    "float16": (65504.0, 2.0**-14, 2.0**-24, None, 15, "754 Table 3.5"),
    "bfloat16": ((2 - 2.0**-7) * 2.0**127, 2.0**-126, 2.0**-133, None, 127, "bfloat16"),
}


def _all_values(backend, fmt):
    """The value of every code of ``fmt``, decoded on ``backend`` (float64)."""
    return backend.decode_codes(np.arange(fmt.num_codes), fmt, dtype="float64")


@pytest.mark.parametrize("name", list(TABLE))
def test_range_table(name, each_backend):
    mx, mn, sub, maxsub, bias, _source = TABLE[name]
    fmt = formats.get(name)
    assert fmt.max == mx and fmt.min == -mx
    assert fmt.smallest_normal == mn
    assert fmt.smallest_subnormal == sub
    assert fmt.bias == bias
    vals = _all_values(each_backend, fmt)
    assert np.nanmax(vals[np.isfinite(vals)]) == mx
    assert np.min(vals[vals > 0]) == sub
    if maxsub is not None:
        assert np.max(vals[(vals > 0) & (vals < mn)]) == maxsub


def test_ofp8_special_encodings():
    # OFP8 Table 1: E4M3 NaN S.1111.111 (no Inf); E5M2 Inf S.11111.00, NaN S.11111.{01,10,11}
    e4m3, e5m2 = formats.get("float8_e4m3fn"), formats.get("float8_e5m2")
    assert tuple(e4m3.nan_codes) == (0x7F, 0xFF) and e4m3.inf_codes == () and not e4m3.has_inf
    assert tuple(e5m2.nan_codes) == (0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF)
    assert e5m2.inf_codes == (0x7C, 0xFC)
    # max normal S.1111.110 and S.11110.11; both have −0 (S.0000.000 with S = 1)
    assert e4m3.max_code == 0x7E and e5m2.max_code == 0x7B
    assert e4m3.has_negative_zero and e5m2.has_negative_zero


def test_mx_fp4_value_table(each_backend):
    # MX §5.3.3: E2M1 magnitudes by code 0..7
    want = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    vals = _all_values(each_backend, formats.get("float4_e2m1fn"))
    np.testing.assert_array_equal(vals, formats.values("float4_e2m1fn"))
    assert vals[:8].tolist() == want
    assert vals[8:].tolist() == [-v for v in want]
    assert np.signbit(vals[8])


def test_mx_e8m0_scale(each_backend):
    # MX §5.4.1: E8M0 bias 127, 2^-127 (0x00) .. 2^127 (0xFE), NaN 0xFF, no sign, zero or Inf
    fmt = formats.get("float8_e8m0fnu")
    vals = _all_values(each_backend, fmt)
    assert vals[0] == 2.0**-127 and vals[127] == 1.0 and vals[0xFE] == 2.0**127
    assert np.isnan(vals[0xFF]) and tuple(fmt.nan_codes) == (0xFF,)
    assert not fmt.signed and not fmt.has_zero and not fmt.has_inf and fmt.bits == 8
    assert fmt.max == 2.0**127 and fmt.smallest_normal == 2.0**-127 and fmt.smallest_subnormal is None


def test_fnuz_encodings():
    # MLD: the fnuz types have a single NaN at 0x80 (the −0 code) and no −0, no Inf
    for name in ("float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3b11fnuz"):
        fmt = formats.get(name)
        assert tuple(fmt.nan_codes) == (0x80,) and not fmt.has_negative_zero and not fmt.has_inf


def test_p3109_binary8(each_backend):
    # P3109 interim report: binary8p3 max 49152, min subnormal 2^-17; binary8p4 max 224,
    # min subnormal 2^-10; NaN 0x80, +Inf 0x7F, −Inf 0xFF, no −0
    for p, mx, sub in ((3, 49152.0, 2.0**-17), (4, 224.0, 2.0**-10)):
        fmt = formats.p3109(8, p)
        assert fmt.max == mx and fmt.smallest_subnormal == sub
        assert tuple(fmt.nan_codes) == (0x80,) and fmt.inf_codes == (0x7F, 0xFF)
        assert not fmt.has_negative_zero
        v = each_backend.decode_codes([0x7E, 0x01, 0x80, 0x7F, 0xFF], fmt, dtype="float64")
        assert v[:2].tolist() == [mx, sub] and np.isnan(v[2]) and v[3:].tolist() == [np.inf, -np.inf]


# ------------------------------------------------------------------- conversion answers
# (input, format, options, expected value). The rule each row follows is cited.
CONVERSIONS = [
    # OFP8 §"Conversion": overflow without saturation gives NaN (E4M3) / Inf (E5M2);
    # 464 is the tie between 448 (mantissa 110, even) and 480: RNE keeps 448.
    (464.0, "float8_e4m3fn", {}, 448.0),
    (465.0, "float8_e4m3fn", {}, np.nan),
    (1e6, "float8_e4m3fn", {"overflow": "saturate"}, 448.0),
    (-1e6, "float8_e4m3fn", {"overflow": "saturate"}, -448.0),
    (61440.0, "float8_e5m2", {}, np.inf),        # tie 57344/65536 → even (Inf code 0x7C)
    (61439.0, "float8_e5m2", {}, 57344.0),
    (1e6, "float8_e5m2", {"overflow": "saturate"}, 57344.0),
    # MX §6.3: conversion of elements is RNE with saturation to ±max (FP4: 7 → 6)
    (7.0, "float4_e2m1fn", {}, 6.0),
    (2.5, "float4_e2m1fn", {}, 2.0),             # tie 2/3 → even mantissa (2.0)
    (0.25, "float4_e2m1fn", {}, 0.0),            # tie 0/0.5 → even (0)
    (0.26, "float4_e2m1fn", {}, 0.5),
    (5.0, "float4_e2m1fn", {}, 4.0),             # tie 4/6 → even (4.0)
    (5.0, "float4_e2m1fn", {"rounding": "nearest_away"}, 6.0),
    (2.0**-10, "float8_e4m3fn", {}, 0.0),        # tie 0/2^-9 → 0
    (3 * 2.0**-10, "float8_e4m3fn", {}, 2.0**-8),  # tie 2^-9/2^-8 → even (2^-8)
    # IEEE 754 directed rounding: overflow toward zero / away from the direction → ±max
    (1e6, "float16", {"rounding": "toward_zero"}, 65504.0),
    (-1e6, "float16", {"rounding": "up"}, -65504.0),
    (1e6, "float16", {"rounding": "up"}, np.inf),
    (1e6, "float16", {"rounding": "down"}, 65504.0),
    (1.0 + 2.0**-11, "float16", {}, 1.0),        # tie → even
    (1.0 + 3 * 2.0**-11, "float16", {}, 1.0 + 2.0**-9),
]


@pytest.mark.parametrize("x,name,opts,want", CONVERSIONS,
                         ids=[f"{n}-{x}-{'-'.join(map(str, o.values()))}" for x, n, o, _ in CONVERSIONS])
def test_conversion_answers(x, name, opts, want, each_backend):
    for dtype in (np.float32, np.float64):
        got = each_backend.quantize(np.array([x], dtype), name, **opts)[0]
        assert got.dtype == dtype
        if np.isnan(want):
            assert np.isnan(got)
        else:
            assert got == want
