"""decode: every code of every ≤16-bit scalar format gives the same bits on NumPy and JAX
(subnormal float32 results included, which XLA's CPU arithmetic would flush), and the exact
reference value; wide formats on random codes. No warnings for Inf/NaN codes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowbit import formats

SCALAR = [f for f in formats.select(family="float") + formats.select(family="int")]


def _codes(fmt, n=50_000):
    if fmt.bits <= 16:
        return np.arange(fmt.num_codes, dtype=np.uint16 if fmt.bits > 8 else np.uint8)
    rng = np.random.default_rng(fmt.bits)
    hi = 2**fmt.bits
    dt = np.uint32 if fmt.bits <= 32 else np.uint64
    return rng.integers(0, hi, n, dtype=np.uint64).astype(dt)


@pytest.mark.parametrize("fmt", [f for f in SCALAR if f.bits <= 32], ids=lambda f: f.name)
def test_jax_decode_equals_numpy(fmt):
    codes = _codes(fmt)
    q = formats.QArray(codes=codes, format=fmt, shape=codes.shape)
    ref = np.asarray(formats.decode(q))
    if ref.dtype == np.float64:  # JAX without x64 must refuse rather than round
        with pytest.raises(ValueError, match="jax_enable_x64"):
            formats.decode(formats.QArray(codes=jnp.asarray(codes), format=fmt, shape=codes.shape))
        return
    got = np.asarray(jax.jit(formats.decode)(formats.QArray(codes=jnp.asarray(codes), format=fmt,
                                                            shape=codes.shape)))
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    fin = ~np.isnan(ref)
    np.testing.assert_array_equal(got[fin].view(np.uint32), ref[fin].view(np.uint32))


@pytest.mark.parametrize("fmt", [f for f in SCALAR if f.bits <= 16], ids=lambda f: f.name)
def test_numpy_decode_equals_exact_reference(fmt):
    codes = _codes(fmt)
    got = np.asarray(formats.decode(formats.QArray(codes=codes, format=fmt, shape=codes.shape), dtype=np.float64))
    step = 1 if fmt.bits <= 12 else 7  # every code up to 12 bits, every 7th above
    for c in range(0, fmt.num_codes, step):
        v = fmt.value_of_code(c)
        if isinstance(v, float) and np.isnan(v):
            assert np.isnan(got[c]), c
        else:
            assert got[c] == v, c
            negative_zero = v == 0 and fmt.has_negative_zero and bool(c & fmt.sign_mask)
            assert np.signbit(got[c]) == (v < 0 or negative_zero), c


def test_float32_subnormal_and_e8m0_smallest_on_jax():
    f32 = formats.get("float32")
    q = formats.QArray(codes=jnp.asarray(np.uint32([1, 0x007FFFFF, 0x80000001])), format=f32, shape=(3,))
    got = np.asarray(formats.decode(q))
    np.testing.assert_array_equal(got, np.float32([2.0**-149, (1 - 2.0**-23) * 2.0**-126, -(2.0**-149)]))
    e8 = formats.get("float8_e8m0fnu")  # OCP MX v1.0 Table 6: E8M0 code 0 is 2^-127
    got = np.asarray(formats.decode(formats.QArray(codes=jnp.asarray(np.uint8([0, 127, 254])), format=e8, shape=(3,))))
    np.testing.assert_array_equal(got, np.float32([2.0**-127, 1.0, 2.0**127]))
