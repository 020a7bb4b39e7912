"""The registry: every scalar name of the design contract, unique names, lookup errors,
collections computed from the records."""

from __future__ import annotations

import re

import pytest

import formats
from formats import FloatFormat, IntFormat
from formats import _registry

SCALAR_NAMES = (
    ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3b11fnuz",
     "float8_e4m3", "float8_e3m4", "float8_e8m0fnu", "float6_e2m3fn", "float6_e3m2fn",
     "float4_e2m1fn", "bfloat16", "float16", "float32", "float64", "tf32"]
    + [f"int{w}" for w in range(1, 33)] + [f"uint{w}" for w in range(1, 33)]
)


def test_every_scalar_name_is_registered():
    names = formats.names()
    assert len(names) == len(set(names)), "duplicate names"
    missing = set(SCALAR_NAMES) - set(names)
    assert not missing


@pytest.mark.parametrize("name", SCALAR_NAMES)
def test_get_returns_the_named_record(name):
    fmt = formats.get(name)
    assert fmt.name == name and str(fmt) == name
    assert isinstance(fmt, (FloatFormat, IntFormat))
    assert formats.get(name) is fmt  # one canonical record per name


def test_record_fields_follow_the_names():
    for name in SCALAR_NAMES:
        fmt = formats.get(name)
        if name.startswith(("int", "uint")):
            assert fmt.width == int(name.lstrip("uint")) and fmt.signed == name.startswith("int")
            continue
        parsed = re.fullmatch(r"float(\d+)_e(\d+)m(\d+)(b\d+)?(fn|fnu|fnuz)?", name)
        if parsed:  # float8_e4m3fn: 8 bits, exponent 4, mantissa 3
            bits, e, m = map(int, parsed.groups()[:3])
            assert (fmt.bits, fmt.exponent_bits, fmt.mantissa_bits) == (bits, e, m)
            if parsed.group(4):
                assert fmt.bias == int(parsed.group(4)[1:])
        suffix = name.split("_")[-1]
        if suffix.endswith("fnuz"):
            assert fmt.specials == "fnuz"
        elif suffix.endswith("fnu"):
            assert fmt.specials == "fn" and not fmt.signed
        elif suffix.endswith("fn"):
            assert fmt.specials in ("fn", "none") and not fmt.has_inf
        else:
            assert fmt.specials == "ieee"
    tf32 = formats.get("tf32")
    assert (tf32.exponent_bits, tf32.mantissa_bits, tf32.bits) == (8, 10, 19)


def test_unknown_names():
    with pytest.raises(KeyError, match="did you mean.*float8_e4m3fn"):
        formats.get("float8_e4m3f")
    with pytest.raises(KeyError, match="names"):
        formats.get("no_such_format")
    with pytest.raises(TypeError, match="str"):
        formats.get(8)


def test_select_computes_collections():
    fp8 = formats.select(lambda f: f.bits == 8, family="float")
    assert {f.name for f in fp8} >= {"float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
                                     "float8_e5m2fnuz", "float8_e4m3b11fnuz", "float8_e4m3",
                                     "float8_e3m4", "float8_e8m0fnu"}
    assert all(isinstance(f, FloatFormat) and f.bits == 8 for f in fp8)
    no_inf = formats.select(lambda f: not f.has_inf, family="float")
    assert "float8_e5m2" not in {f.name for f in no_inf} and "float8_e4m3fn" in {f.name for f in no_inf}
    ints = formats.select(family="int")
    assert len([f for f in ints if f.name in SCALAR_NAMES]) == 64
    order = formats.names()
    assert [f.name for f in fp8] == [n for n in order if n in {f.name for f in fp8}]


def test_p3109_constructor():
    fmt = formats.p3109(8, 3)
    # P3109 interim report: K − P exponent bits, P − 1 trailing bits, bias 2^(K−P−1)
    assert (fmt.exponent_bits, fmt.mantissa_bits, fmt.bias) == (5, 2, 16)
    assert fmt.specials == "p3109" and fmt.name == "p3109_k8p3"
    assert formats.p3109(8, 3) == fmt and hash(formats.p3109(8, 3)) == hash(fmt)


def test_duplicate_names_are_rejected(monkeypatch):
    monkeypatch.setattr(_registry, "_BUILDERS", list(_registry._BUILDERS))
    monkeypatch.setattr(_registry, "_ALIASES", dict(_registry._ALIASES))
    monkeypatch.setattr(_registry, "_REGISTRY", None)
    _registry.register(lambda: [IntFormat(8, name="int8")])
    with pytest.raises(ValueError, match="duplicate.*int8"):
        formats.names()
    monkeypatch.setattr(_registry, "_BUILDERS", _registry._BUILDERS[:-1])
    monkeypatch.setattr(_registry, "_REGISTRY", None)
    _registry.register(lambda: [], aliases={"f8": "no_such_format"})
    with pytest.raises(ValueError, match="alias"):
        formats.names()
