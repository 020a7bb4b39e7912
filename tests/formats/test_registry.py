"""The registry: every scalar name of the design contract, unique names, lookup errors,
collections computed from the records."""

from __future__ import annotations

import re

import pytest

from lowbit import formats
from lowbit.formats import FloatFormat, IntFormat
from lowbit.formats.core import _registry

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
            assert fmt.bits == int(name.lstrip("uint")) and fmt.signed == name.startswith("int")
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


# ------------------------------------------------------------------------------ unused codes
def _with_values():
    """Registered formats whose ``values`` enumerate (at most 16 bits, not vector codes), plus
    the records with unused codes that are not registered by name."""
    fmts = [f for f in formats.select(lambda f: f.bits <= 16) if f.family != "lattice"]
    return fmts + [IntFormat(4, narrow=True, name="int4_narrow"),
                   formats.ScaledIntFormat(IntFormat(8, narrow=True), "tensor", name="sint8_narrow"),
                   formats.CodebookFormat((-1.0, -0.25, 0.0, 0.5, 1.0), 32, name="cb5")]


WITH_VALUES = _with_values()


def test_unused_codes_known_answers():
    # int4 narrow: ±7, code 0b1000 (−8 in two's complement) unused; MXINT8: ±127 (OCP MX v1.0
    # §5.3.4 with microxcaling's max_norm 1.984375), code 0x80 unused; ternary: 3 levels in 2-bit
    # codes; NestQuant q = 14: coordinates 0..13 in 4-bit codes.
    assert IntFormat(4, narrow=True).unused_codes == (8,)
    assert formats.get("mxint8").unused_codes == (0x80,)
    assert formats.get("ternary_absmean").unused_codes == (3,)
    assert formats.get("nestquant_e8_q14").unused_codes == (14, 15)
    for name in ("int4", "float8_e4m3fn", "posit8", "lns8", "nf4", "mxfp4", "binary_absmean",
                 "nestquant_e8_q16", "luq4"):
        assert formats.get(name).unused_codes == (), name
    v = formats.values(IntFormat(4, narrow=True)).tolist()
    assert v[7] == 7.0 and v[8] != v[8] and v[9] == -7.0  # NaN at code 8


@pytest.mark.parametrize("fmt", WITH_VALUES, ids=[f.name for f in WITH_VALUES])
def test_unused_codes_are_nan_in_values_never_encoded_and_decode_to_nan(fmt):
    """values() listed values a format never produces (narrow int4: −8, MXINT8's element: −128)."""
    import numpy as np

    v = formats.values(fmt)
    unused = np.fromiter(fmt.unused_codes, dtype=np.int64)
    assert v.shape == (1 << fmt.bits,) and np.isnan(v[unused]).all()
    # encode never produces them: the finite values themselves (scaled up for scaled formats),
    # their neighbours and far beyond the range, and random data
    fin = v[np.isfinite(v)]
    rng = np.random.default_rng(0)
    signed = getattr(fmt, "signed", True) is not False
    x = np.concatenate([fin, fin * 1.01, fin * 0.99, fin * 1e3, -fin * 1e3, [0.0],
                        rng.standard_normal(2000) * (np.abs(fin).max() or 1)])
    if not signed:
        x = np.abs(x)
    codes = np.asarray(formats.encode(x, fmt).codes)
    assert not np.isin(codes, unused).any()
    # an unused code decodes to NaN (put into an encoder's own QArray)
    if unused.size:
        q = formats.encode(np.float32([0.5, 1.0, -0.75, 0.25]), fmt)
        c = np.array(q.codes)
        c.flat[1] = unused[0]
        bad = formats.QArray(codes=c, format=q.format, shape=q.shape, scales=q.scales,
                             tensor_scale=q.tensor_scale, axis=q.axis, meta=q.meta)
        d = formats.decode(bad)
        assert np.isnan(d[1]) and not np.isnan(d[[0, 2, 3]]).any()


@pytest.mark.parametrize("name", ["int4_narrow", "mxint8", "ternary_absmean", "nestquant_e8_q14"])
def test_unused_codes_decode_to_nan_on_jax(name):
    """JAX codes are not value-checked when a QArray is built (they may be traced): an unused
    code decodes to NaN there too, as values() documents."""
    import jax.numpy as jnp
    import numpy as np

    fmt = IntFormat(4, narrow=True, name=name) if name == "int4_narrow" else formats.get(name)
    x = np.random.default_rng(0).standard_normal((2, 32)).astype(np.float32)
    q = formats.encode(jnp.asarray(x), fmt)
    c = np.array(q.codes)
    c.flat[3] = next(iter(fmt.unused_codes))
    bad = formats.QArray(codes=jnp.asarray(c), format=fmt, shape=q.shape, scales=q.scales,
                         tensor_scale=q.tensor_scale, axis=q.axis, meta=q.meta)
    d = np.asarray(formats.decode(bad))
    ok = np.asarray(formats.decode(q))
    if fmt.family == "lattice":  # a vector code: the whole block of 8 is no point
        assert np.isnan(d[0, :8]).all() and np.array_equal(d[0, 8:], ok[0, 8:])
    else:
        assert np.isnan(d.flat[3]) and np.isnan(d).sum() == 1
