"""JAX backend of the block, scaled-integer and codebook families: identical codes to NumPy
(including float32 subnormals, which XLA's CPU backend flushes in arithmetic — the block codec
works on bit patterns), QArray through ``jax.jit``, and a straight-through gradient."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowbit import formats

BLOCK = [f.name for f in formats.select(family="block")]


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 70)) * np.exp2(rng.integers(-140, 120, size=(6, 1)))
    x[0, :4] = [np.nan, 1.0, -2.0, 0.0]
    x[1, 40] = -np.inf
    x[2, :35] = 0.0
    return x.astype(np.float32)


def same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def check_same(x, fmt, axis):
    qn = formats.encode(x, fmt, axis=axis)
    qj = jax.jit(lambda v: formats.encode(v, fmt, axis=axis))(jnp.asarray(x))
    same(qn.codes, qj.codes)
    same(qn.scales, qj.scales)
    assert qj.axis == qn.axis and qj.shape == qn.shape
    dj = jax.jit(formats.decode)(qj)
    np.testing.assert_array_equal(formats.decode(qn), np.asarray(dj))


@pytest.mark.parametrize("name", BLOCK)
def test_block_numpy_and_jax_identical(name):
    check_same(data(), formats.get(name), 1)


@pytest.mark.parametrize("rule", ["ceil", "rceil", "even"])
def test_block_rules_numpy_and_jax_identical(rule):
    check_same(data(4), dataclasses.replace(formats.get("mxfp6_e3m2"), scale_rule=rule), 0)


def test_qarray_through_jit():
    x = jnp.asarray(data(1))
    fmt = formats.get("nvfp4")
    enc = jax.jit(lambda v: formats.encode(v, fmt))
    q = enc(x)
    assert isinstance(q, formats.QArray) and q.format == fmt and q.axis == 1
    qn = formats.encode(np.asarray(x), fmt)
    same(q.codes, qn.codes)
    same(q.scales, qn.scales)
    same(q.tensor_scale, qn.tensor_scale)
    dec = jax.jit(formats.decode)
    np.testing.assert_array_equal(np.asarray(dec(q)), formats.decode(qn))
    # a QArray as a jit argument and result, static parts preserved
    ident = jax.jit(lambda q: q)
    q2 = ident(q)
    assert q2.format == fmt and q2.shape == q.shape and q2.meta == q.meta


def test_quantize_under_jit_and_vmap():
    x = jnp.asarray(data(2))
    f = jax.jit(lambda v: formats.quantize(v, "mxfp4", axis=0))
    np.testing.assert_array_equal(np.asarray(f(x)), formats.quantize(np.asarray(x), "mxfp4", axis=0))
    rows = jax.vmap(lambda r: formats.quantize(r, "mxfp8_e4m3"))(x)
    np.testing.assert_array_equal(np.asarray(rows), formats.quantize(np.asarray(x), "mxfp8_e4m3"))


def test_straight_through_gradient():
    x = jnp.linspace(-3.0, 3.0, 64)
    for name in ("mxfp4", "nvfp4"):
        g = jax.jit(jax.grad(lambda v: jnp.sum(formats.quantize(v, name) * 2.0)))(x)
        np.testing.assert_array_equal(np.asarray(g), np.full(64, 2.0, np.float32))


def test_stochastic_with_jax_key():
    x = jnp.full((4, 32), 0.3, jnp.float32).at[:, 0].set(1.0)
    k = jax.random.key(0)
    f = jax.jit(lambda v, k: formats.quantize(v, "mxfp4", rounding="stochastic", key=k))
    a = f(x, k)
    b = f(x, k)
    same(a, b)
    assert set(np.unique(np.asarray(a)[:, 1:])) <= {0.25, 0.375}


def test_scaled_and_codebook_numpy_and_jax_identical():
    # float arithmetic (x / scale) here: XLA flushes float32 subnormals, so keep to normal data
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((6, 70)) * np.exp2(rng.integers(-60, 60, size=(6, 1)))).astype(np.float32)
    x[2, :35] = 0.0
    fmts = [
        formats.ScaledIntFormat(formats.get("int8"), "group", 16),
        formats.ScaledIntFormat(formats.get("uint4"), "channel", symmetric=False, scale=formats.get("bfloat16")),
        formats.ScaledIntFormat(formats.get("int4"), "group", 32, scale=formats.get("uint8")),
        formats.ScaledIntFormat(formats.get("int8"), "tensor", scale=formats.get("float8_e8m0fnu")),
        formats.get("nf4"),
    ]
    for fmt in fmts:
        qn = formats.encode(x, fmt, axis=1)
        qj = jax.jit(lambda v: formats.encode(v, fmt, axis=1))(jnp.asarray(x))
        same(qn.codes, qj.codes)
        jax.tree_util.tree_map(same, qn.scales, qj.scales)
        np.testing.assert_array_equal(formats.decode(qn), np.asarray(jax.jit(formats.decode)(qj)))
        f = jax.jit(lambda v: formats.quantize(v, fmt, axis=1))
        np.testing.assert_array_equal(np.asarray(f(jnp.asarray(x))), formats.decode(qn))


@pytest.mark.parametrize("name", ["mxfp4", "nvfp4", "nf4"])
def test_eager_calls_are_compiled_and_equal_numpy(name):
    """Eager (un-jitted) encode and quantize on JAX arrays run one compiled function per format,
    options and shape (as the scalar codec), with NumPy's results."""
    from lowbit.formats.block import _block_jax

    x = data(7)[[0, 1, 3, 4, 5], :64]
    before = _block_jax._encode_jit._cache_size(), _block_jax._quantize_jit._cache_size()
    q = formats.encode(jnp.asarray(x), name)
    v = formats.quantize(jnp.asarray(x), name)
    assert _block_jax._encode_jit._cache_size() == before[0] + 1
    assert _block_jax._quantize_jit._cache_size() == before[1] + 1
    qn = formats.encode(x, name)
    same(q.codes, qn.codes)
    same(q.scales, qn.scales)
    np.testing.assert_array_equal(np.asarray(v), formats.quantize(x, name))


def test_nf4_codes_equal_numpy_for_subnormal_blocks():
    """absmax codebooks scale each block by an exact power of two before dividing, so XLA's
    flushing of float32 subnormals does not change codes or scales (decoded values can: see
    docs/formats/block-formats.md, Codebooks)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 128)).astype(np.float32)
    x[0] *= np.float32(2.0 ** -140)  # whole blocks of subnormals
    x[1, ::2] *= np.float32(2.0 ** -120)  # subnormals next to a small normal amax
    x[1, 1::2] *= np.float32(2.0 ** -125)
    q = jax.jit(lambda v: formats.encode(v, "nf4"))(jnp.asarray(x))
    qn = formats.encode(x, "nf4")
    same(q.codes, qn.codes)
    same(q.scales, qn.scales)
