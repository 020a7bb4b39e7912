"""The JAX path (float32, x64 off) is bit-identical to the NumPy path, under jit and vmap, and
``quantize`` has a straight-through gradient.

Eager JAX runs on every rounding mode and every ≤16-bit registered format, on all its
code-adjacent inputs (≤8-bit formats) or on 16384 of them (the bottom and top binades and a
fixed random sample of the rest); one input size for all, so compiled primitives are reused.
One jitted program per format checks jit on a selection of formats (a compile costs ~1 s).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from _fmt_helpers import MODES, code_adjacent_inputs, encode_np, ids, quantize_np, random_bits, scalar_formats

from lowbit import formats
from lowbit.formats.core._options import make_options
from lowbit.formats.scalar import _minifloat as mf

ALL = scalar_formats(16) + [formats.p3109(8, 3), formats.p3109(8, 1),
                            formats.FloatFormat(8, 1, specials="none", name="float10_e8m1")]
JIT = [formats.get(n) for n in ("float8_e4m3fn", "float8_e8m0fnu", "float4_e2m1fn", "bfloat16", "int4")]
R = 7  # random bits for the stochastic comparisons


@pytest.fixture(autouse=True)
def _x64_off():
    with jax.enable_x64(False):
        yield


SIZE = 1 << 14


def _padded(x, fmt=None):
    """x (sampled down to SIZE elements if longer) padded with zeros to SIZE, and the true
    length."""
    if x.size > SIZE:
        a = np.abs(x.astype(np.float64))
        mags = np.unique(np.abs(x[np.isfinite(x)]).astype(np.float64))
        edge = (a <= mags[400]) | (a >= mags[-400]) | ~np.isfinite(a)
        rest = np.nonzero(~edge)[0]
        pick = np.random.default_rng(0).choice(rest, SIZE - int(edge.sum()), replace=False)
        x = x[np.sort(np.concatenate([np.nonzero(edge)[0], pick]))]
    n = x.size
    return np.concatenate([x, np.zeros(SIZE - n, x.dtype)]), n


def _bits(a):
    return np.asarray(a).view(np.uint32)


@pytest.mark.parametrize("fmt", ALL, ids=ids(ALL))
def test_eager_jax_equals_numpy(fmt):
    x, n = _padded(code_adjacent_inputs(fmt, "float32"))
    xj = jnp.asarray(x)
    for mode in MODES:
        r = random_bits(x.shape, R, 0) if mode == "stochastic" else None
        opts = make_options(fmt, rounding=mode, random_bits=R if r is not None else None)
        rand_j = (jnp.asarray(r), R) if r is not None else None
        rand_n = (r, R) if r is not None else None
        got = np.asarray(mf.encode_xp(jnp, xj, fmt, opts, rand_j))[:n]
        want = encode_np(x, fmt, rounding=mode, rand=rand_n)[:n]
        assert np.array_equal(got, want), (fmt.name, mode, np.nonzero(got != want)[0][:5])
        got = _bits(mf.quantize_xp(jnp, xj, fmt, opts, rand_j))[:n]
        want = _bits(quantize_np(x, fmt, rounding=mode, rand=rand_n))[:n]
        assert np.array_equal(got, want), (fmt.name, mode, "quantize")


@pytest.mark.parametrize("fmt", JIT, ids=ids(JIT))
def test_jit_equals_numpy(fmt):
    x, n = _padded(code_adjacent_inputs(fmt, "float32"))
    r = random_bits(x.shape, R, 1)

    @jax.jit
    def all_modes(xx, rr):
        out = []
        for mode in MODES:
            opts = make_options(fmt, rounding=mode, random_bits=R if mode == "stochastic" else None)
            rand = (rr, R) if mode == "stochastic" else None
            out.append((mf.encode_xp(jnp, xx, fmt, opts, rand), mf.quantize_xp(jnp, xx, fmt, opts, rand)))
        return out

    results = all_modes(jnp.asarray(x), jnp.asarray(r))
    for mode, (codes, q) in zip(MODES, results, strict=True):
        rand = (r, R) if mode == "stochastic" else None
        assert np.array_equal(np.asarray(codes)[:n], encode_np(x, fmt, rounding=mode, rand=rand)[:n]), mode
        assert np.array_equal(_bits(q)[:n], _bits(quantize_np(x, fmt, rounding=mode, rand=rand))[:n]), mode


def test_public_api_follows_the_array():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 33)).astype(np.float32) * 50)
    xn = np.asarray(x)
    for fmt in ("float8_e4m3fn", "float4_e2m1fn", "int8", "float8_e5m2"):
        q = formats.quantize(x, fmt)
        assert isinstance(q, jax.Array) and q.dtype == jnp.float32 and q.shape == x.shape
        assert np.array_equal(np.asarray(q), formats.quantize(xn, fmt))
        e = formats.encode(x, fmt)
        assert isinstance(e.codes, jax.Array) and e.shape == x.shape
        assert np.array_equal(np.asarray(e.codes), formats.encode(xn, fmt).codes)
        d = formats.decode(e)
        assert isinstance(d, jax.Array) and np.array_equal(np.asarray(d), np.asarray(q))
    for dt in (jnp.bfloat16, jnp.float16):
        q = formats.quantize(x.astype(dt), "float8_e4m3fn")
        assert q.dtype == dt
        assert np.array_equal(np.asarray(q.astype(jnp.float32)),
                              formats.quantize(np.asarray(x.astype(dt)).astype(np.float32), "float8_e4m3fn"))


def test_jit_and_vmap_of_the_public_api():
    fmt = formats.get("float8_e4m3fn")
    x = jnp.asarray(np.random.default_rng(1).standard_normal((5, 64)).astype(np.float32) * 100)
    want = formats.quantize(np.asarray(x), fmt)
    assert np.array_equal(np.asarray(jax.jit(lambda v: formats.quantize(v, fmt))(x)), want)
    assert np.array_equal(np.asarray(jax.vmap(lambda row: formats.quantize(row, fmt))(x)), want)
    codes = jax.vmap(lambda row: formats.encode(row, fmt).codes)(x)
    assert np.array_equal(np.asarray(codes), formats.encode(np.asarray(x), fmt).codes)
    # a QArray is a pytree: it passes through jit; records are static (hashable) arguments
    q = jax.jit(lambda v: formats.encode(v, fmt))(x)
    assert isinstance(q, formats.QArray) and q.format == fmt
    assert np.array_equal(np.asarray(formats.decode(q)), want)
    f = jax.jit(lambda v, f_: formats.quantize(v, f_, rounding="toward_zero"), static_argnums=1)
    assert np.array_equal(np.asarray(f(x, fmt)), formats.quantize(np.asarray(x), fmt, rounding="toward_zero"))


def test_stochastic_keys():
    x = jnp.linspace(-3.0, 3.0, 999, dtype=jnp.float32)
    key = jax.random.key(3)
    a = formats.quantize(x, "float8_e4m3fn", rounding="stochastic", key=key)
    b = jax.jit(lambda v, k: formats.quantize(v, "float8_e4m3fn", rounding="stochastic", key=k))(x, key)
    c = formats.quantize(x, "float8_e4m3fn", rounding="stochastic", key=jax.random.key(4))
    d = formats.quantize(x, "float8_e4m3fn", rounding="stochastic", key=3)  # int seed
    assert np.array_equal(np.asarray(a), np.asarray(b)) and np.array_equal(np.asarray(a), np.asarray(d))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    lo = np.asarray(formats.quantize(x, "float8_e4m3fn", rounding="down"))
    hi = np.asarray(formats.quantize(x, "float8_e4m3fn", rounding="up"))
    assert np.all((np.asarray(a) == lo) | (np.asarray(a) == hi))
    rows = jax.vmap(lambda k: formats.quantize(x, "float4_e2m1fn", rounding="stochastic", key=k))(
        jax.random.split(key, 3))
    assert rows.shape == (3, 999) and not np.array_equal(np.asarray(rows[0]), np.asarray(rows[1]))


def test_straight_through_gradient():
    x = jnp.asarray(np.float32([0.3, -1.7, 1000.0, 2.49, 0.0]))
    for fmt in ("float8_e4m3fn", "float4_e2m1fn", "int4"):
        g = jax.grad(lambda v: jnp.sum(formats.quantize(v, fmt) * jnp.arange(1.0, 6.0)))(x)
        assert np.array_equal(np.asarray(g), np.arange(1.0, 6.0, dtype=np.float32))
        g = jax.jit(jax.grad(lambda v: jnp.sum(formats.quantize(v, fmt, rounding="stochastic",
                                                                 key=jax.random.key(0)))))(x)
        assert np.array_equal(np.asarray(g), np.ones(5, np.float32))
    _, t = jax.jvp(lambda v: formats.quantize(v, "float8_e5m2"), (x,), (jnp.full(5, 2.0, jnp.float32),))
    assert np.array_equal(np.asarray(t), np.full(5, 2.0, np.float32))


def test_errors():
    with pytest.raises(TypeError, match="int32"):
        formats.quantize(jnp.arange(3), "float8_e4m3fn")
    with pytest.raises(OverflowError):
        formats.quantize(jnp.float32([1e6]), "float8_e4m3fn", overflow="error")
    assert np.asarray(formats.quantize(jnp.float32([1.0]), "float8_e4m3fn", overflow="error")).tolist() == [1.0]
    with pytest.raises(ValueError, match="jit"):
        jax.jit(lambda v: formats.quantize(v, "float8_e4m3fn", overflow="error"))(jnp.float32([1.0]))
    with pytest.raises(ValueError, match="x64"):
        formats.encode(jnp.float32([1.0]), "float64")


def test_ml_dtypes_bfloat16_numpy_and_jax_agree():
    x = np.random.default_rng(2).standard_normal(300).astype(ml_dtypes.bfloat16)
    a = formats.quantize(x, "float4_e2m1fn")
    b = formats.quantize(jnp.asarray(x), "float4_e2m1fn")
    assert a.dtype == ml_dtypes.bfloat16 and b.dtype == jnp.bfloat16
    assert np.array_equal(np.asarray(b).astype(np.float32), a.astype(np.float32))


def test_flush_subnormals_and_float16_inputs():
    x = np.concatenate([np.float16([2.0**-20, -(2.0**-24), 2.0**-14, 65504.0, -65504.0]),
                        np.linspace(-3, 3, 50).astype(np.float16)])
    for fmt in ("float8_e4m3fn", "bfloat16", "float32", "float8_e8m0fnu"):
        for flush in (False, True):
            for rounding in ("nearest_even", "up"):
                a = formats.quantize(x, fmt, rounding=rounding, flush_subnormals=flush)
                b = formats.quantize(jnp.asarray(x), fmt, rounding=rounding, flush_subnormals=flush)
                assert b.dtype == jnp.float16
                assert np.array_equal(np.asarray(b).view(np.uint16), a.view(np.uint16)), (fmt, flush)


def test_float64_inputs_with_x64():
    """This test says otherwise: with x64 on, float64 JAX inputs match the NumPy float64 path."""
    with jax.enable_x64(True):
        for name in ("float8_e4m3fn", "int32", "float32"):
            fmt = formats.get(name)
            x = (code_adjacent_inputs(fmt, "float64") if fmt.bits <= 16
                 else np.random.default_rng(0).standard_normal(4000) * 1e9)
            for mode in ("nearest_even", "odd"):
                got = formats.encode(jnp.asarray(x), fmt, rounding=mode)
                assert np.array_equal(np.asarray(got.codes), encode_np(x, fmt, rounding=mode)), (name, mode)
                q = formats.quantize(jnp.asarray(x), fmt, rounding=mode)
                assert q.dtype == jnp.float64
                assert np.array_equal(np.asarray(q).view(np.uint64),
                                      quantize_np(x, fmt, rounding=mode).view(np.uint64))
