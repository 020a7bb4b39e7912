"""The Numba paths (generic loop, specialized loop, rounding-table loop, user scalar API) are
bit-identical to the vectorized NumPy kernel, which the oracle tests tie to ml_dtypes, gfloat
and the exact reference."""

import numba
import numpy as np
import pytest

from lowbit import formats
from lowbit.formats import numba as fnb
from lowbit.formats.backend import NUMBA_THRESHOLDS
from lowbit.formats.core._options import make_options
from lowbit.formats.scalar import _minifloat as mf
from lowbit.formats.scalar import _numba_kernels as nk

DETERMINISTIC = ("nearest_even", "nearest_away", "toward_zero", "up", "down", "odd")
SCALAR = [f for f in formats.select(family="float") + formats.select(family="int") if f.bits <= 16]


def _bits(a):
    return np.asarray(a).view(f"u{np.asarray(a).dtype.itemsize}")


def _stress(n, dtype=np.float32, seed=0):
    """Random signs, exponents over the whole float32 range, random low bits, plus specials."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    x = raw.view(np.float32).copy()
    x[np.isnan(x)] = np.nan  # quiet NaNs: casting signalling NaNs warns
    x = x.astype(dtype)
    x[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3e38, -3e38]
    return x


def _table_eligible(f):
    s = mf.spec_for(f, "float32")
    return s.m <= nk.LUT_MAX_M and not s.need_sub


@pytest.mark.parametrize("fmt", [f for f in SCALAR if _table_eligible(f)],
                         ids=lambda f: f.name)
@pytest.mark.parametrize("flush", [False, True])
def test_rounding_table_equals_kernel(fmt, flush):
    x = _stress(1 << 16)
    for rounding in DETERMINISTIC:
        for overflow in (None, "saturate"):
            opts = make_options(fmt, rounding=rounding, overflow=overflow, flush_subnormals=flush)
            assert nk._lut_for("quantize", fmt, opts, mf.spec_for(fmt, "float32")) is not None
            np.testing.assert_array_equal(_bits(nk.quantize_array(x, fmt, opts)),
                                          _bits(mf.quantize_xp(np, x, fmt, opts)))
            np.testing.assert_array_equal(nk.encode_array(x, fmt, opts), mf.encode_xp(np, x, fmt, opts))


@pytest.mark.parametrize("name", ["float8_e4m3fn", "bfloat16", "int8", "uint16", "float32", "tf32"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_generic_loop_equals_kernel(name, dtype):
    fmt = formats.get(name)
    x = _stress(1 << 15, dtype, seed=1)
    rng = np.random.default_rng(2)
    for rounding in DETERMINISTIC + ("stochastic",):
        opts = make_options(fmt, rounding=rounding)
        rand = (rng.integers(0, 2**32, x.shape, dtype=np.uint32), 32) if rounding == "stochastic" else None
        np.testing.assert_array_equal(_bits(nk.quantize_array(x, fmt, opts, rand)),
                                      _bits(mf.quantize_xp(np, x, fmt, opts, rand)))
        np.testing.assert_array_equal(nk.encode_array(x, fmt, opts, rand), mf.encode_xp(np, x, fmt, opts, rand))


def test_specialized_loop_equals_kernel():
    n = NUMBA_THRESHOLDS["specialize"]
    x = _stress(n, seed=3)
    fmt = formats.get("float8_e5m2")
    opts = make_options(fmt, rounding="stochastic", random_bits=7)
    rand = (np.random.default_rng(4).integers(0, 2**7, n, dtype=np.uint32), 7)
    np.testing.assert_array_equal(_bits(nk.quantize_array(x, fmt, opts, rand)),
                                  _bits(mf.quantize_xp(np, x, fmt, opts, rand)))


def test_public_quantize_uses_numba_above_threshold():
    fmt = formats.get("float16")
    x = _stress(NUMBA_THRESHOLDS["codec"] + 5, seed=5)
    big = formats.quantize(x, fmt)
    small = np.concatenate([formats.quantize(c, fmt) for c in np.array_split(x, 8)])
    np.testing.assert_array_equal(_bits(big), _bits(small))


def test_float16_flush_on_numba_path():
    x = np.float16([6e-5, -3e-6, 1.0, 2.0**-14] * 10000)
    q = formats.quantize(x, "float8_e5m2", flush_subnormals=True)
    # float16 subnormals (|x| < 2^-14) are flushed; 2^-14 itself is normal in both formats
    np.testing.assert_array_equal(q[:4].astype(np.float32), np.float32([0.0, -0.0, 1.0, 2.0**-14]))


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float4_e2m1fn", "bfloat16", "int4", "float8_e8m0fnu"])
def test_scalar_api_inside_user_njit(name):
    fmt = formats.get(name)
    P = fnb.params(name, rounding="nearest_even")
    D = fnb.decode_params(name)

    @numba.njit
    def user_code(xs, P, D):
        q = np.empty_like(xs)
        c = np.empty(xs.size, np.int64)
        d = np.empty_like(xs)
        for i in range(xs.size):
            q[i] = fnb.quantize_scalar(xs[i], P)
            c[i] = fnb.encode_scalar(xs[i], P)
            d[i] = fnb.decode_scalar(c[i], D)
        return q, c, d

    x = np.concatenate([_stress(4000, np.float64, seed=6), [5e-324, -2.5, 7.0, 1e300]])
    q, c, d = user_code(x, P, D)
    np.testing.assert_array_equal(_bits(q), _bits(formats.quantize(x, fmt)))
    np.testing.assert_array_equal(c, np.asarray(formats.encode(x, fmt).codes).astype(np.int64))
    np.testing.assert_array_equal(_bits(d), _bits(formats.decode(formats.encode(x, fmt), dtype=np.float64)))


def test_scalar_api_rejects_bad_input():
    with pytest.raises(ValueError, match="overflow"):
        fnb.params("float8_e4m3fn", overflow="error")
    with pytest.raises(ValueError, match="rounding"):
        fnb.params("float8_e4m3fn", rounding="nearest")
