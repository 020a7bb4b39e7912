"""Posits: every code against SoftPosit and an independent exact decoder written from the Posit
Standard 2022; encoding (RNE on the bit string, saturation, NaR) against SoftPosit and against
an exact reference rounder; NumPy vs JAX; properties."""

from __future__ import annotations

import bisect
import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import softposit as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from lowbit import formats
from lowbit.formats import PositFormat


# ------------------------------------------------------------------ independent reference
def ref_decode(code: int, n: int, es: int):
    """Posit Standard 2022 §3 definition, written independently of formats._posit:
    x = (1 − 3s + f) · 2^((1 − 2s)·(4r + e + s))  — generalised to useed = 2^(2^es) as
    ((1 − 3s) + f) · 2^((1 − 2s)(2^es · r + e + s)), read on the raw (not negated) bits."""
    if code == 0:
        return Fraction(0)
    if code == 1 << (n - 1):
        return None  # NaR
    bits = format(code, f"0{n}b")
    s = int(bits[0])
    body = bits[1:]
    r0 = body[0]
    run = len(body) - len(body.lstrip(r0))
    r = run - 1 if r0 == "1" else -run
    rest = body[run + 1:]
    e_bits = (rest + "0" * es)[:es]
    e = int(e_bits, 2) if es else 0
    frac_bits = rest[es:]
    f = Fraction(int(frac_bits, 2), 1 << len(frac_bits)) if frac_bits else Fraction(0)
    return ((1 - 3 * s) + f) * Fraction(2) ** ((1 - 2 * s) * ((1 << es) * r + e + s))


def softposit_value(code: int, n: int, es: int) -> float:
    if (n, es) == (8, 0):
        t = sp.posit8_t()
        t.v = code
        return sp.convertP8ToDouble(t)
    if (n, es) == (16, 1):
        t = sp.posit16_t()
        t.v = code
        return sp.convertP16ToDouble(t)
    raise AssertionError


def softposit_encode(x: float, n: int, es: int) -> int:
    if (n, es) == (8, 0):
        return sp.convertDoubleToP8(x).v
    if (n, es) == (16, 1):
        return sp.convertDoubleToP16(x).v
    if (n, es) == (32, 2):
        return sp.convertDoubleToP32(x).v
    if es == 2:  # SoftPosit's posit_2 family: es = 2, n bits left-aligned in 32
        return sp.convertDoubleToPX2(x, n).v >> (32 - n)
    raise AssertionError


# ------------------------------------------------------------------------- known answers
@pytest.mark.parametrize("name,n,maxpos_exp", [("posit8", 8, 24), ("posit16", 16, 56), ("posit32", 32, 120)])
def test_standard_posits_known_answers(name, n, maxpos_exp, each_backend):
    # Posit Standard 2022 §3: es = 2; maxpos = 2^(4(n-2)), minpos = 2^-(4(n-2)); NaR = 100...0.
    f = formats.get(name)
    assert (f.bits, f.es) == (n, 2)
    assert f.max == 2.0 ** maxpos_exp and f.minpos == 2.0 ** -maxpos_exp and f.min == -f.max
    assert f.nar_code == 1 << (n - 1) and f.has_nan and not f.has_inf
    q = each_backend.encode(np.array([1.0, -1.0, 0.0, np.nan, np.inf, 1e300, 1e-300]), f)
    assert q.codes.tolist() == [1 << (n - 2), (1 << n) - (1 << (n - 2)), 0, 1 << (n - 1), 1 << (n - 1),
                                (1 << (n - 1)) - 1, 1]


def test_eps_at_one():
    # posit8 (es=2): 1 = 0x40, next 0x41 = 1 + 2^-3 (3 fraction bits after 2 regime + 2 exp bits).
    assert formats.get("posit8").eps == 0.125
    assert formats.get("posit16").eps == 2.0 ** -11
    assert PositFormat(2, 0).eps is None


# ----------------------------------------------------------------- every code: SoftPosit
@pytest.mark.parametrize("n,es", [(8, 0), (16, 1)])
def test_every_code_equals_softposit(n, es):
    vals = formats.values(PositFormat(n, es))
    ref = np.array([softposit_value(c, n, es) for c in range(1 << n)])
    nar = 1 << (n - 1)
    assert np.isnan(vals[nar]) and np.isinf(ref[nar])  # SoftPosit prints NaR as inf
    mask = np.arange(1 << n) != nar
    np.testing.assert_array_equal(vals[mask], ref[mask])


@pytest.mark.parametrize("n,es", [(8, 0), (8, 1), (8, 2), (8, 3), (6, 1), (3, 0), (2, 0)])
def test_every_code_equals_standard_definition(n, es, each_backend):
    f = PositFormat(n, es)
    codes = np.arange(1 << n, dtype=np.uint8)
    vals = each_backend.decode(formats.QArray(codes=codes, format=f, shape=codes.shape), dtype="float64")
    for c in range(1 << n):
        r = ref_decode(c, n, es)
        if r is None:
            assert math.isnan(vals[c]) and math.isnan(f.value_of_code(c))
        else:
            assert vals[c] == float(r), (c, vals[c], r)
            assert f.value_of_code(c) == r


@pytest.mark.slow
@pytest.mark.parametrize("n,es", [(16, 2), (16, 1)])
def test_every_16bit_code_equals_standard_definition(n, es):
    vals = formats.values(PositFormat(n, es))
    ref = np.array([np.nan if (r := ref_decode(c, n, es)) is None else float(r) for c in range(1 << n)])
    np.testing.assert_array_equal(vals, ref)


def test_decode_posit32_codes():
    f = formats.get("posit32")
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 1 << 32, 3000, dtype=np.uint64).astype(np.uint32)
    v = formats.decode(formats.QArray(codes=codes, format=f, shape=codes.shape))
    assert v.dtype == np.float64
    for c, x in zip(codes.tolist(), v.tolist(), strict=True):
        r = ref_decode(c, 32, 2)
        assert (math.isnan(x) if r is None else x == float(r))


# ----------------------------------------------------------------------------- encoding
def _edge_inputs(n, es):
    """Exact posits, the midpoints between neighbours ((n+1)-bit posits ending in 1), and the
    floats on either side of both."""
    finer = formats.values(PositFormat(n + 1, es))
    x = finer[np.isfinite(finer)]
    x = np.concatenate([x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -1e300, 5e-324]])
    return x


def _random_inputs(seed, count=20000, spread=60):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(count) * np.exp2(rng.uniform(-spread, spread, count))


@pytest.mark.parametrize("n,es", [(8, 0), (16, 1), (32, 2), (8, 2), (16, 2), (12, 2)])
def test_encode_equals_softposit(n, es):
    f = PositFormat(n, es)
    x = np.concatenate([_random_inputs(n), _edge_inputs(n, es) if n <= 16 else []])
    if n > 16:
        x = np.concatenate([x, [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -1e300, 1.0, -1.0]])
    got = formats.encode(x, f).codes
    ref = np.array([softposit_encode(float(v), n, es) for v in x])
    bad = np.nonzero(got != ref)[0]
    assert bad.size == 0, [(x[i], hex(got[i]), hex(ref[i])) for i in bad[:5]]


def _ref_round(x: float, n: int, es: int) -> int:
    """Standard §4 rounding, independent of the implementation: saturate to minpos/maxpos; else
    the two neighbours u < x < w and the (n+1)-bit midpoint m with u's bits followed by 1 decide,
    ties to the even code."""
    if math.isnan(x) or math.isinf(x):
        return 1 << (n - 1)
    if x == 0:
        return 0
    neg = x < 0
    a = Fraction(abs(x))
    pos = _pos_table(n, es)
    vals = [v for v, _ in pos]
    if a >= vals[-1]:
        c = pos[-1][1]
    elif a <= vals[0]:
        c = pos[0][1]
    else:
        i = bisect.bisect_left(vals, a)
        if vals[i] == a:
            c = pos[i][1]
        else:
            (_u, cu), (_w, cw) = pos[i - 1], pos[i]
            m = ref_decode((cu << 1) | 1, n + 1, es)
            c = cu if a < m else cw if a > m else (cu if cu % 2 == 0 else cw)
    return ((1 << n) - c) % (1 << n) if neg else c


_POS: dict = {}


def _pos_table(n, es):
    if (n, es) not in _POS:
        _POS[(n, es)] = [(ref_decode(c, n, es), c) for c in range(1, 1 << (n - 1))]
    return _POS[(n, es)]


@pytest.mark.parametrize("n,es", [(8, 2), (8, 0), (6, 1), (10, 3)])
def test_encode_equals_exact_reference(n, es):
    f = PositFormat(n, es)
    x = np.concatenate([_edge_inputs(n, es), _random_inputs(7, 3000, 40)])
    got = formats.encode(x, f).codes.tolist()
    ref = [_ref_round(float(v), n, es) for v in x]
    assert got == ref


def test_float32_and_narrow_inputs():
    f = formats.get("posit16")
    x64 = _random_inputs(3, 5000, 12)
    for dt in (np.float32, np.float16):
        x = x64.astype(dt)
        np.testing.assert_array_equal(formats.encode(x, f).codes, formats.encode(x.astype(np.float64), f).codes)


# ---------------------------------------------------------------------- options / policies
def test_overflow_policies():
    f = formats.get("posit8")
    x = np.array([1e30, -1e30, np.inf, -np.inf, np.nan])
    assert formats.encode(x, f).codes.tolist() == [0x7F, 0x81, 0x80, 0x80, 0x80]
    assert formats.encode(x, f, overflow="saturate").codes.tolist() == [0x7F, 0x81, 0x7F, 0x81, 0x80]
    assert formats.encode(x, f, overflow="nan").codes.tolist() == [0x80] * 5
    # exactly maxpos is not an overflow
    assert formats.encode(np.array([2.0 ** 24]), f, overflow="error").codes.tolist() == [0x7F]
    with pytest.raises(OverflowError):
        formats.encode(np.array([2.0 ** 25]), f, overflow="error")
    with pytest.raises(ValueError, match="overflow"):
        formats.encode(x, f, overflow="inf")
    with pytest.raises(TypeError, match="unexpected"):
        formats.quantize(x, f, domain="log")


def test_never_rounds_to_zero_or_nar():
    f = PositFormat(8, 0)
    tiny = np.array([1e-300, -1e-300, 2.0 ** -7 * 0.99])
    for r in ("nearest_even", "toward_zero", "down", "up", "odd", "nearest_away"):
        q = formats.quantize(tiny, f, rounding=r)
        assert np.all(np.abs(q) == f.minpos), r


def test_directed_roundings_bracket_the_input():
    f = formats.get("posit16")
    x = _random_inputs(11, 5000, 30)
    x = x[(np.abs(x) > f.minpos) & (np.abs(x) < f.max)]
    up = formats.quantize(x, f, rounding="up")
    down = formats.quantize(x, f, rounding="down")
    tz = formats.quantize(x, f, rounding="toward_zero")
    assert np.all(down <= x) and np.all(up >= x)
    assert np.all(np.abs(tz) <= np.abs(x))
    odd = formats.encode(x, f, rounding="odd").codes
    exact = formats.quantize(x, f) == x
    assert np.all((odd[~exact] & 1) == 1)


def test_stochastic_rounding_is_unbiased_in_value():
    f = PositFormat(8, 2)
    x = np.full(200000, 3.3)  # between 3.25 and 3.5 (posit8 es=2: 3 fraction bits in [2, 4))
    q = formats.quantize(x, f, rounding="stochastic", key=1)
    assert set(np.unique(q).tolist()) == {3.25, 3.5}
    # P(3.5) = 0.2; standard error of the mean 0.25·sqrt(0.16/2e5) ≈ 2.2e-4
    assert abs(q.mean() - 3.3) < 3e-3


# ---------------------------------------------------------------------------- NumPy / JAX
@pytest.mark.parametrize("name", ["posit8", "posit16", "posit32", "posit8_es0", "posit16_es1"])
def test_jax_matches_numpy(name):
    f = formats.get(name)
    x = _random_inputs(5, 20000, 30).astype(np.float32)
    x[:5] = [0.0, -0.0, np.inf, -np.nan, np.float32(3e-39)]
    cn = formats.encode(x, f).codes
    cj = jax.jit(lambda v: formats.encode(v, f).codes)(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(cj), cn)
    qn = formats.quantize(x, f)
    qj = jax.jit(lambda v: formats.quantize(v, f))(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(qj), qn)
    dn = formats.decode(formats.encode(x, f)).astype(np.float32)
    dj = formats.decode(formats.encode(jnp.asarray(x), f))
    np.testing.assert_array_equal(np.asarray(dj), dn)


def test_jax_vmap_and_gradient():
    f = formats.get("posit8")
    x = jnp.asarray(np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4))
    v = jax.vmap(lambda r: formats.quantize(r, f))(x)
    np.testing.assert_array_equal(np.asarray(v), formats.quantize(np.asarray(x), f))
    g = jax.grad(lambda r: formats.quantize(r, f).sum())(x)
    np.testing.assert_array_equal(np.asarray(g), np.ones((3, 4), np.float32))


# ---------------------------------------------------------------------------- properties
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=200, deadline=None)
@given(x=finite, y=finite, es=st.integers(0, 3), n=st.sampled_from([6, 8, 16, 32]))
def test_monotone_and_sign_symmetric(x, y, es, n):
    f = PositFormat(n, es)
    qx, qy = formats.quantize(np.array([x, y]), f)
    if x <= y:
        assert qx <= qy
    assert formats.quantize(np.array([-x]), f)[0] == -qx
    assert formats.quantize(np.array([qx]), f)[0] == qx  # idempotent


@pytest.mark.parametrize("n,es", [(8, 2), (16, 1), (8, 0)])
def test_round_trip_every_code(n, es):
    f = PositFormat(n, es)
    codes = np.arange(1 << n, dtype=np.uint16 if n > 8 else np.uint8)
    vals = formats.decode(formats.QArray(codes=codes, format=f, shape=codes.shape), dtype="float64")
    back = formats.encode(vals, f).codes
    np.testing.assert_array_equal(back, codes)


def test_bad_records():
    with pytest.raises(ValueError, match="bits"):
        PositFormat(1, 0)
    with pytest.raises(ValueError, match="es"):
        PositFormat(8, 6)
    assert {f.name for f in formats.select(family="posit")} >= {"posit8", "posit16", "posit32"}
