"""The JAX backend of simulator.matmul gives the NumPy backend's bits (JAX in float32, x64 off).

Also: the JAX path works under the caller's ``jax.jit`` and ``jax.vmap``, and XLA's flushing of
float32 subnormals does not leak into results (products below 2^-126 take the float64 path).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowbit import formats, simulator
from lowbit.simulator import Accumulator

RNG = np.random.default_rng(7)


def _same_bits(x, y):
    x, y = np.asarray(x), np.asarray(y)
    assert x.dtype == y.dtype and x.shape == y.shape
    nan = np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
    np.testing.assert_array_equal(nan, np.isnan(y) if y.dtype.kind == "f" else nan)
    xv, yv = np.where(nan, 0, x), np.where(nan, 0, y)
    np.testing.assert_array_equal(xv.view(f"u{x.itemsize}"), yv.view(f"u{y.itemsize}"))


def _both(a, b, **kw):
    ref = simulator.matmul(a, b, **kw)
    out = simulator.matmul(jnp.asarray(a), jnp.asarray(b), **kw)
    assert isinstance(out, jax.Array)
    _same_bits(ref, out)
    return ref


FP8 = dict(a_format="float8_e4m3fn", b_format="float8_e4m3fn")
CASES = {
    "fp8-fp32-native": dict(FP8),
    "fp8-bf16": dict(FP8, accumulator="bfloat16"),
    "fp8-fp16-pairwise": dict(FP8, accumulator="float16", order="pairwise"),
    "fp8-two-level": dict(FP8, accumulator="float32", k_chunk=8,
                          chunk_accumulator=simulator.FP8_TENSOR_CORE_ACCUMULATOR),
    "fp8-systolic": dict(FP8, accumulator="bfloat16", order="systolic", k_chunk=5),
    "e5m2-fp32-up": dict(a_format="float8_e5m2", b_format="float8_e5m2",
                         accumulator=Accumulator("float32", rounding="up")),
    "bf16-fp32": dict(a_format="bfloat16", b_format="bfloat16"),
    "fp4-e5m6-odd": dict(a_format="float4_e2m1fn", b_format="float4_e2m1fn",
                         accumulator=Accumulator(formats.FloatFormat(5, 6), rounding="odd")),
    "fp6-fp16-sat": dict(a_format="float6_e3m2fn", b_format="float6_e2m3fn",
                         accumulator=Accumulator("float16", overflow="saturate")),
    "mxfp8": dict(a_format="mxfp8_e4m3", b_format="mxfp8_e4m3"),
    "mxfp4-bf16-pairwise": dict(a_format="mxfp4", b_format="mxfp4", accumulator="bfloat16", order="pairwise"),
    "mxint8-chunk": dict(a_format="mxint8", b_format="mxint8", k_chunk=32, chunk_accumulator="bfloat16"),
    "mx-elementwise": dict(a_format="mxfp6_e3m2", b_format="mxfp6_e3m2", block_reduce="accumulator"),
    "nvfp4": dict(a_format="nvfp4", b_format="nvfp4"),
    "lmul-bf16": dict(a_format="bfloat16", b_format="bfloat16", multiplier="lmul"),
    "lmul-fp8-formula": dict(FP8, multiplier="lmul", lmul_variant="formula", accumulator="float16"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_jax_equals_numpy(name):
    a = (RNG.standard_normal((5, 40)) * 3).astype(np.float32)
    b = (RNG.standard_normal((40, 4)) * 3).astype(np.float32)
    _both(a, b, **CASES[name])


@pytest.mark.parametrize("acc", ["int32", "int16", Accumulator("int16", overflow="saturate"), "uint32"])
def test_jax_equals_numpy_integer(acc):
    a = RNG.integers(-128, 128, (4, 70), dtype=np.int8)
    b = RNG.integers(-128, 128, (70, 3), dtype=np.int8)
    if acc == "uint32":
        a = np.abs(a.astype(np.int16)).astype(np.uint8)
        b = np.abs(b.astype(np.int16)).astype(np.uint8)
    _both(a, b, accumulator=acc)
    _both(a, b, accumulator=acc, k_chunk=16, chunk_accumulator="int16")


def test_float32_subnormal_results_survive_xla_flush_to_zero():
    a = np.array([[1e-30, 3e-31, -2e-30]], dtype=np.float32)
    b = np.array([[1e-10], [7e-10], [1e-11]], dtype=np.float32)
    out = _both(a, b, a_format="float32", b_format="float32")
    assert 0 < abs(out[0, 0]) < np.finfo(np.float32).tiny  # a float32 subnormal


def test_lns_multiplier_jax_equals_numpy():
    a = RNG.standard_normal((3, 12))
    b = RNG.standard_normal((12, 2))
    kw = dict(a_format="lns8", b_format="lns8", multiplier="lns", accumulator="bfloat16")
    ref = simulator.matmul(a.astype(np.float32), b.astype(np.float32), **kw)
    _same_bits(ref, simulator.matmul(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), **kw))


@pytest.mark.parametrize("a_format", ["float8_e4m3fn", "pot4"])
def test_power_of_two_weights_jax_equals_numpy(a_format):
    a = RNG.standard_normal((3, 40)).astype(np.float32) * 0.5
    b = RNG.uniform(-1, 1, (40, 2)).astype(np.float32)  # inside pot4's range (max 1)
    out = _both(a, b, a_format=a_format, b_format="pot4", accumulator="bfloat16")
    assert np.all(np.isfinite(out)) and np.any(out != 0)


def test_jax_under_jit_and_vmap_and_qarrays():
    a = RNG.standard_normal((4, 64)).astype(np.float32)
    b = RNG.standard_normal((64, 3)).astype(np.float32)
    kw = dict(FP8, accumulator="bfloat16")
    ref = simulator.matmul(a, b, **kw)
    f = jax.jit(lambda x, y: simulator.matmul(x, y, **kw))
    _same_bits(ref, f(jnp.asarray(a), jnp.asarray(b)))
    g = jax.vmap(lambda x: simulator.matmul(x, jnp.asarray(b), **kw))
    _same_bits(ref, g(jnp.asarray(a)[:, None, :])[:, 0, :])
    # (jitted: eager block encoding dispatches op by op, which is slow)
    qa = jax.jit(lambda x: formats.encode(x, "mxfp8_e4m3", axis=-1))(jnp.asarray(a))
    qb = jax.jit(lambda x: formats.encode(x, "mxfp8_e4m3", axis=0))(jnp.asarray(b))
    _same_bits(simulator.matmul(a, b, a_format="mxfp8_e4m3", b_format="mxfp8_e4m3"), simulator.matmul(qa, qb))
    assert not jax.config.jax_enable_x64  # the backend's x64 scope does not leak


def test_jax_refuses_inexact_products():
    a = jnp.ones((2, 3), jnp.float32)
    with pytest.raises(ValueError, match="not exact in float64"):
        simulator.matmul(a, a.T, a_format="float32", b_format=formats.FloatFormat(11, 40))
