"""Format records: validation (ValueError naming the field), frozen/hashable, and every derived
property checked against the exact value table of the format (``value_of_code``, itself checked
against ml_dtypes and gfloat in the codec tests)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from _fmt_helpers import exact_values, ids, scalar_formats

from lowbit import formats
from lowbit.formats import FloatFormat, IntFormat

FLOATS = [f for f in scalar_formats(16) if f.family == "float"] + [
    formats.p3109(8, 3), formats.p3109(8, 1), formats.p3109(5, 2),
    FloatFormat(4, 3, signed=False, specials="ieee", name="ufloat8_e4m3"),
    FloatFormat(3, 0, signed=False, subnormals=False, specials="fn", name="float3_e3m0fnu"),
    FloatFormat(4, 2, bias=-3, specials="none", name="float7_e4m2_bias-3"),
]
INTS = [f for f in scalar_formats(16) if f.family == "int"] + [IntFormat(8, narrow=True, name="int8n")]


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs,field", [
    ({"exponent_bits": 0, "mantissa_bits": 3}, "exponent_bits"),
    ({"exponent_bits": 17, "mantissa_bits": 3}, "exponent_bits"),
    ({"exponent_bits": 4.0, "mantissa_bits": 3}, "exponent_bits"),
    ({"exponent_bits": True, "mantissa_bits": 3}, "exponent_bits"),
    ({"exponent_bits": 4, "mantissa_bits": -1}, "mantissa_bits"),
    ({"exponent_bits": 4, "mantissa_bits": 53}, "mantissa_bits"),
    ({"exponent_bits": 4, "mantissa_bits": "3"}, "mantissa_bits"),
    ({"exponent_bits": 4, "mantissa_bits": 3, "bias": 7.5}, "bias"),
    ({"exponent_bits": 4, "mantissa_bits": 3, "bias": 10**6}, "bias"),
    ({"exponent_bits": 4, "mantissa_bits": 3, "signed": 1}, "signed"),
    ({"exponent_bits": 4, "mantissa_bits": 3, "subnormals": "no"}, "subnormals"),
    ({"exponent_bits": 4, "mantissa_bits": 3, "specials": "ocp"}, "specials"),
    ({"exponent_bits": 4, "mantissa_bits": 3, "specials": "fnuz", "signed": False}, "specials"),
    ({"exponent_bits": 1, "mantissa_bits": 3, "specials": "ieee"}, "exponent_bits"),
    ({"exponent_bits": 1, "mantissa_bits": 0, "specials": "fn"}, "exponent_bits"),
    ({"exponent_bits": 5, "mantissa_bits": 0, "specials": "ieee"}, "mantissa_bits"),
    ({"exponent_bits": 3, "mantissa_bits": 0, "specials": "fnuz", "subnormals": False}, "subnormals"),
    # ranges beyond float64's are allowed only when they contain 1 (wide P3109 formats)
    ({"exponent_bits": 11, "mantissa_bits": 3, "bias": 3000}, "bias"),
    ({"exponent_bits": 11, "mantissa_bits": 52, "bias": -1000}, "bias"),
    ({"exponent_bits": 16, "mantissa_bits": 3, "bias": 2**16 + 1}, "bias"),
])
def test_float_format_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        FloatFormat(**kwargs)


@pytest.mark.parametrize("kwargs,field", [
    ({"bits": 0}, "bits"), ({"bits": 33}, "bits"), ({"bits": 8.0}, "bits"),
    ({"bits": True}, "bits"), ({"bits": 8, "signed": "yes"}, "signed"),
    ({"bits": 8, "narrow": 1}, "narrow"), ({"bits": 8, "signed": False, "narrow": True}, "narrow"),
    ({"bits": 1, "narrow": True}, "narrow"),
])
def test_int_format_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        IntFormat(**kwargs)


@pytest.mark.parametrize("k,p,kw,field", [
    (1, 1, {}, "k"), (17, 4, {}, "k"), ("8", 3, {}, "k"), (8, 0, {}, "p"), (8, 8, {}, "p"),
    (8, 2.0, {}, "p"), (8, 9, {"signed": False}, "p"), (8, 0, {"signed": False}, "p"),
    (8, 3, {"signed": 1}, "signed"), (8, 3, {"domain": "real"}, "domain"),
    (8, 3, {"domain": None}, "domain"),
])
def test_p3109_validation(k, p, kw, field):
    with pytest.raises(ValueError, match=field):
        formats.p3109(k, p, **kw)


def test_value_of_code_validation():
    f = formats.get("float8_e4m3fn")
    for bad in (-1, 256, 1.0, True):
        with pytest.raises(ValueError, match="code"):
            f.value_of_code(bad)
    with pytest.raises(ValueError, match="code"):
        formats.get("int4").value_of_code(16)


# ------------------------------------------------------------------------ frozen, hashable
@pytest.mark.parametrize("fmt", FLOATS[:3] + INTS[:2], ids=ids(FLOATS[:3] + INTS[:2]))
def test_frozen_and_hashable(fmt):
    field = dataclasses.fields(fmt)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(fmt, field, 3)
    assert {fmt: 1}[fmt] == 1
    twin = dataclasses.replace(fmt, name="another name")
    assert twin == fmt and hash(twin) == hash(fmt)  # the name is informational
    assert str(fmt) == fmt.name


def test_equal_fields_equal_records():
    assert FloatFormat(4, 3, specials="fn") == formats.get("float8_e4m3fn")
    assert FloatFormat(4, 3, specials="fn") != formats.get("float8_e4m3")
    assert FloatFormat(5, 10).bias == 15 and FloatFormat(8, 7).bias == 127
    assert IntFormat(8) == formats.get("int8") and IntFormat(8, narrow=True) != formats.get("int8")


# ----------------------------------------------------------------- properties vs the table
@pytest.mark.parametrize("fmt", FLOATS, ids=ids(FLOATS))
def test_float_properties_match_value_table(fmt):
    v = exact_values(fmt)
    codes = np.arange(fmt.num_codes)
    fin = np.isfinite(v)
    pos = v[fin & (v > 0)]
    assert fmt.bits == int(fmt.signed) + fmt.exponent_bits + fmt.mantissa_bits
    assert fmt.num_codes == 2**fmt.bits == v.size
    assert fmt.precision == fmt.mantissa_bits + 1
    assert fmt.max == v[fin].max() and fmt.max == v[fmt.max_code]
    assert fmt.min == v[fin].min()
    assert fmt.smallest_positive == pos.min()
    assert fmt.has_zero == bool((v == 0).any())
    if fmt.mantissa_bits > 0 and fmt.subnormals:
        # subnormals: the positive values below 2^emin are the multiples of 2^(emin - m)
        assert fmt.smallest_normal == 2.0**fmt.emin
        sub = pos[pos < fmt.smallest_normal]
        assert fmt.smallest_subnormal == sub.min()
        assert np.array_equal(np.sort(sub), np.arange(1, 2**fmt.mantissa_bits) * sub.min())
    else:
        assert fmt.smallest_subnormal is None and fmt.smallest_normal == pos.min()
    if 1.0 in v:
        above = v[fin & (v > 1.0)]
        assert fmt.eps == above.min() - 1.0
    assert fmt.eps == 2.0**-fmt.mantissa_bits
    assert tuple(fmt.nan_codes) == tuple(codes[np.isnan(v)])
    assert len(fmt.nan_codes) == int(np.isnan(v).sum())
    assert set(fmt.inf_codes) == set(codes[np.isinf(v)].tolist())
    if fmt.inf_codes:
        assert v[fmt.inf_codes[0]] == math.inf
        if fmt.signed:
            assert v[fmt.inf_codes[1]] == -math.inf
    assert fmt.has_inf == bool(np.isinf(v).any())
    assert fmt.has_nan == bool(np.isnan(v).any())
    assert fmt.has_negative_zero == bool(((v == 0) & np.signbit(v)).any())
    if fmt.has_nan:
        assert fmt.nan_code in fmt.nan_codes
    else:
        assert fmt.nan_code is None
    assert fmt.sign_mask == (2 ** (fmt.bits - 1) if fmt.signed else 0)
    assert fmt.magnitude_mask == 2 ** (fmt.exponent_bits + fmt.mantissa_bits) - 1
    assert fmt.bits_per_element == fmt.bits
    assert fmt.resolution == 10.0 ** -math.floor(fmt.mantissa_bits * math.log10(2))


@pytest.mark.parametrize("fmt", INTS, ids=ids(INTS))
def test_int_properties_match_value_table(fmt):
    v = exact_values(fmt)
    w = fmt.bits
    assert fmt.bits == w and fmt.num_codes == 2**w
    unused = list(fmt.unused_codes)
    assert unused == ([2 ** (w - 1)] if fmt.narrow else [])  # −2^(w−1) of a symmetric format
    assert np.isnan(v[unused]).all()
    v = np.delete(v, unused)
    assert fmt.max == v.max() == (2 ** (w - 1) - 1 if fmt.signed else 2**w - 1)
    if fmt.signed:
        assert v.min() == (-(2 ** (w - 1)) + 1 if fmt.narrow else -(2 ** (w - 1)))  # two's complement
        assert fmt.min == v.min()
    else:
        assert fmt.min == 0 == v.min()
    assert sorted(v.tolist()) == list(range(int(v.min()), int(v.max()) + 1))
    assert fmt.eps == 1 and fmt.smallest_normal == 1 and fmt.smallest_positive == 1
    assert fmt.smallest_subnormal is None and fmt.bias == 0
    assert not (fmt.has_inf or fmt.has_nan or fmt.has_negative_zero)
    assert fmt.nan_codes == () and fmt.inf_codes == () and fmt.nan_code is None


def test_narrow_int_never_encodes_the_most_negative_code():
    fmt = IntFormat(8, narrow=True, name="int8n")
    q = formats.encode(np.float32([-1000.0, -128.0, -127.6, 127.0]), fmt)
    assert q.codes.tolist() == [0x81, 0x81, 0x81, 127]
    assert formats.quantize(np.float32([-128.0]), fmt).tolist() == [-127.0]
    # the unused code is no value: NaN everywhere (value_of_code, values, decode, Numba)
    assert math.isnan(fmt.value_of_code(0x80)) and fmt.unused_codes == (0x80,)
    assert np.isnan(formats.values(fmt)[0x80]) and formats.values(fmt)[0x81] == -127
    got = formats.decode(formats.QArray(codes=np.uint8([0x80, 0x81, 1]), format=fmt, shape=(3,)))
    assert np.isnan(got[0]) and got[1:].tolist() == [-127.0, 1.0]
    from lowbit.formats import numba as fnb

    assert math.isnan(fnb.decode_scalar(0x80, fnb.decode_params(fmt)))
    assert fnb.decode_scalar(0x81, fnb.decode_params(fmt)) == -127.0


def test_code_set_behaves_like_a_tuple():
    nan = formats.get("float16").nan_codes
    assert len(nan) == 2 * 1023 and 0x7E00 in nan and 0x7C00 not in nan and 0xFE00 in nan
    assert list(nan)[:2] == [0x7C01, 0x7C02] and nan[0] == 0x7C01
    assert hash(nan) == hash(formats.get("float16").nan_codes)
    big = formats.get("float32").nan_codes
    assert 0x7FC00000 in big and len(big) == 2 * (2**23 - 1)


# ------------------------------------------------------------------ the declared contract
def _record_classes():
    out, todo = set(), [formats.Format]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in out:
                out.add(sub)
                todo.append(sub)
    return sorted(out, key=lambda c: c.__name__)


RECORD_CLASSES = _record_classes()
PROTOCOL = ("name", "family", "bits", "bits_per_element", "max", "min", "smallest_normal",
            "smallest_subnormal", "eps", "has_inf", "has_nan", "unused_codes")


def test_every_family_has_a_record_class_here():
    names = {c.__name__ for c in RECORD_CLASSES}
    assert {"FloatFormat", "IntFormat", "BlockFormat", "ScaledIntFormat", "CodebookFormat", "PositFormat",
            "LNSFormat", "LUQFormat", "NestedLatticeFormat"} <= names
    families = {f.family for f in map(formats.get, formats.names())}
    assert families <= {c.family for c in RECORD_CLASSES}


@pytest.mark.parametrize("name", formats.names())
def test_every_registered_format_satisfies_the_protocol(name):
    fmt = formats.get(name)
    assert isinstance(fmt, formats.NumberFormat)
    for attr in PROTOCOL:
        getattr(fmt, attr)  # defined (None where the family does not fix it)
    assert isinstance(fmt.bits, int) and not isinstance(fmt.bits, bool) and fmt.bits >= 1
    assert fmt.bits_per_element >= fmt.bits or fmt.family in ("codebook", "lattice")
    assert fmt.min_normal == fmt.smallest_normal  # the documented alias
    for old in ("width", "nbits"):  # one name for the total width on every record
        assert not hasattr(fmt, old), f"{name} has .{old}: the width is .bits"
    for attr in ("max", "smallest_normal", "smallest_subnormal", "eps"):
        v = getattr(fmt, attr)
        assert v is None or (isinstance(v, int | float) and v >= 0), (attr, v)


@pytest.mark.parametrize("cls", RECORD_CLASSES, ids=lambda c: c.__name__)
def test_every_record_class_satisfies_the_protocol(cls):
    """Also the classes with no registered format: the protocol is checked on a class's own
    attributes (properties and dataclass fields), so a new family cannot leave one out."""
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    for attr in PROTOCOL:
        assert attr in fields or hasattr(cls, attr), f"{cls.__name__} lacks {attr}"
    assert "width" not in fields and "nbits" not in fields and not hasattr(cls, "nbits")


def test_the_protocol_rejects_what_is_no_format():
    assert not isinstance(object(), formats.NumberFormat)
    assert not isinstance(np.finfo(np.float32), formats.NumberFormat)  # no unused_codes, family

    @dataclasses.dataclass(frozen=True)
    class Duck:  # the protocol is structural: a record of another library can satisfy it
        name: str = "duck"
        family: str = "float"
        bits: int = 8
        bits_per_element: float = 8.0
        max: float = 1.0
        min: float = -1.0
        smallest_normal: float = 0.5
        smallest_subnormal: None = None
        eps: float = 0.5
        has_inf: bool = False
        has_nan: bool = False
        unused_codes: tuple = ()

    assert isinstance(Duck(), formats.NumberFormat)


def test_width_fields_are_bits():
    assert formats.IntFormat(bits=6).bits == 6 and formats.get("int8").bits == 8
    assert formats.PositFormat(bits=16, es=1).bits == 16
    assert formats.get("lns8").log_bits == 7  # the log field; bits adds the sign
    with pytest.raises(TypeError):
        formats.IntFormat(width=8)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        formats.PositFormat(nbits=8)  # type: ignore[call-arg]
