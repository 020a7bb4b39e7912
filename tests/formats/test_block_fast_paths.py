"""The fast paths of block formats against the vectorized NumPy path (``formats/_block.py``,
itself checked against torchao, gfloat and the exact reference in the other block tests): the
fused Numba loops (``formats/_block_numba.py``) and the branch-free element conversion under
``jax.jit``. Inputs are built to hit every branch: ties at every element midpoint, binade and
overflow boundaries of the block amax, float32 subnormals (mixed with normals, whole blocks of
them, and blocks whose results are subnormal), ±0, ±Inf, NaN, the largest floats, tiny blocks
that clamp the scale, and a partial last block.

Both Numba element conversions are compared: the branch-free one (round to nearest even,
saturate: the default) and the scalar codec kernel used for every other option."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowbit import formats
from lowbit.formats import BlockFormat
from lowbit.formats.block import _block_numba
from lowbit.formats.block._block import _numba_ok
from lowbit.formats.core._options import make_options

F32 = formats.get("float32")
E8M0 = formats.get("float8_e8m0fnu")


def _custom(elem, block_size=32, rule="floor", scale=E8M0):
    return BlockFormat(element=formats.get(elem) if isinstance(elem, str) else elem, scale=scale,
                       block_size=block_size, scale_rule=rule)


NVFP4_1 = dataclasses.replace(formats.get("nvfp4"), tensor_scale=None)
FORMATS = {
    "mxfp4": formats.get("mxfp4"),
    "mxfp8_e4m3": formats.get("mxfp8_e4m3"),
    "mxfp8_e5m2": formats.get("mxfp8_e5m2"),
    "mxfp6_e3m2": formats.get("mxfp6_e3m2"),
    "mxfp6_e2m3": formats.get("mxfp6_e2m3"),
    "mxint8": formats.get("mxint8"),
    "msfp12": formats.get("msfp12"),
    "nvfp4": formats.get("nvfp4"),
    "nvfp4 one-level": NVFP4_1,
    "e4m3fnuz, block 16": _custom("float8_e4m3fnuz", 16),
    "e5m2fnuz, rceil": _custom("float8_e5m2fnuz", 32, "rceil"),
    "p3109(8,3)": _custom(formats.p3109(8, 3), 32),
    "float16 elements, block 24": _custom("float16", 24, "ceil"),
    "bfloat16 elements, even": _custom("bfloat16", 32, "even"),
    "e2m1, whole axis": _custom("float4_e2m1fn", None),
    "e2m1, amax rule, block 8": BlockFormat(element=formats.get("float4_e2m1fn"),
                                            scale=formats.get("float8_e4m3fn"), block_size=8,
                                            scale_rule="amax"),
}
MX_RULES = ["floor", "ceil", "rceil", "even"]
# formats also run through the scalar-kernel element path (one per compiled loop variant: the
# other options below cover it for the rest)
SCALAR_TOO = {"mxfp4", "nvfp4", "mxint8", "float16 elements, block 24", "e2m1, amax rule, block 8"}


def edge_matrix(fmt: BlockFormat, rows: int = 96, seed: int = 0) -> np.ndarray:
    """A (rows, L) float32 matrix, L = 5 blocks + a partial one (or 997 for whole-axis formats),
    of ≥ 2^15 elements so that the Numba path is taken."""
    rng = np.random.default_rng(seed)
    bs = fmt.block_size or 997
    L = 5 * bs + max(bs // 3, 1) if fmt.block_size else bs
    rows = max(rows, -(-(2 ** 15) // L))
    x = rng.standard_normal((rows, L)) * np.exp2(rng.integers(-30, 30, (rows, 1)))
    v = np.asarray(formats.values(fmt.element), np.float64) * 2.0 ** fmt.element_exp
    v = np.unique(np.abs(v[np.isfinite(v)]))
    mids = (v[:-1] + v[1:]) / 2
    top = float(v.max())
    kmax = min(20, 125 - int(np.ceil(np.log2(top))))  # 2·top·2^k stays finite in float32
    k = rng.integers(-20, kmax, rows)
    for r in range(rows):
        kind = r % 16
        s = 2.0 ** int(k[r])
        if kind == 0:  # ties at every element midpoint, the block max at the top element
            t = np.resize(np.concatenate([mids, -mids]), L)
            t[::bs] = top
            x[r] = t * s
        elif kind == 1:  # amax just below / at / above binade and overflow boundaries
            x[r, ::bs] = np.resize([top, np.nextafter(top, 0), top * 1.0625, 2 * top,
                                    np.nextafter(2 * top, 0), top * 1.75], x[r, ::bs].size) * s
        elif kind == 2:  # float32 subnormals mixed with normals
            x[r, ::3] = rng.integers(-(2 ** 23), 2 ** 23, x[r, ::3].size) * 2.0 ** -149
        elif kind == 3:  # whole row subnormal / tiny: the scale clamps at its smallest code
            x[r] = rng.integers(-(2 ** 23), 2 ** 23, L) * 2.0 ** -149
        elif kind == 4:  # tiny normals whose scaled values land in the element subnormals
            x[r] = rng.standard_normal(L) * 2.0 ** -120
        elif kind == 5:  # specials (whole-axis formats: all in the one block)
            sp = bs if fmt.block_size else 5
            x[r, 1] = np.nan
            x[r, sp + 2] = np.inf
            x[r, 2 * sp + 3] = -np.inf
            x[r, 3 * sp:3 * sp + 4] = [0.0, -0.0, 3.0e38, -3.4028235e38]
        elif kind == 6:  # zeros and negative zeros, whole blocks
            x[r] = -0.0
            x[r, ::2] = 0.0
        elif kind == 7:  # the largest finite floats
            x[r] = rng.uniform(-1, 1, L) * 3.4028235e38
        elif kind == 8:  # negative values rounding to −0
            x[r] = -rng.uniform(0, 1, L) * 2.0 ** -40
            x[r, ::bs] = -1.0
    return x.astype(np.float32)


def _both(x, fmt, **kw):
    q, v = formats.encode(x, fmt, **kw), formats.quantize(x, fmt, **kw)
    return q, v


def _assert_same(a, b):
    (q1, v1), (q2, v2) = a, b
    np.testing.assert_array_equal(q1.codes, q2.codes)
    np.testing.assert_array_equal(q1.scales, q2.scales)
    np.testing.assert_array_equal(q1.tensor_scale, q2.tensor_scale)
    np.testing.assert_array_equal(v1.view(np.uint32), v2.view(np.uint32))


def _vectorized(monkeypatch, x, fmt, **kw):
    with monkeypatch.context() as m:
        m.setattr("lowbit.formats.block._block._numba_ok", lambda *a: False)
        return _both(x, fmt, **kw)


@pytest.mark.parametrize("name", list(FORMATS))
def test_numba_equals_vectorized_on_edges(name, monkeypatch):
    fmt = FORMATS[name]
    rules = MX_RULES if fmt.scale_rule != "amax" else ["amax"]
    for rule in rules:
        f = dataclasses.replace(fmt, scale_rule=rule)
        x = edge_matrix(f, seed=len(name) + len(rule))
        assert _numba_ok(x, f, make_options(f))
        ref = _vectorized(monkeypatch, x, f)
        _assert_same(_both(x, f), ref)
        if name in SCALAR_TOO:  # the scalar-kernel path of the same loops
            monkeypatch.setattr(_block_numba, "_FAST", False)
            _assert_same(_both(x, f), ref)
            monkeypatch.setattr(_block_numba, "_FAST", True)


OPTIONS = [{"rounding": "toward_zero"}, {"rounding": "nearest_away"}, {"rounding": "up"},
           {"rounding": "stochastic", "key": 7}, {"flush_subnormals": True}]


@pytest.mark.parametrize("name,kw", [(n, kw) for n in ("mxfp4", "nvfp4") for kw in OPTIONS]
                         + [("mxfp8_e5m2", {"overflow": "inf"}), ("mxfp8_e4m3", {"overflow": "nan"})])
def test_numba_equals_vectorized_other_options(name, kw, monkeypatch):
    fmt = FORMATS[name]
    x = edge_matrix(fmt, seed=3)
    _assert_same(_both(x, fmt, **kw), _vectorized(monkeypatch, x, fmt, **kw))


def test_fast_spec_applies_to_the_defaults_only():
    opts = make_options
    e2m1 = formats.get("float4_e2m1fn")
    assert _block_numba.fast_spec(e2m1, opts(e2m1, overflow="saturate")) == (1, 1, 7, 3, 1)
    assert _block_numba.fast_spec(e2m1, opts(e2m1, overflow="saturate", rounding="toward_zero")) is None
    assert _block_numba.fast_spec(e2m1, opts(e2m1, overflow="saturate", flush_subnormals=True)) is None
    assert _block_numba.fast_spec(formats.get("int8"), opts(formats.get("int8"))) is None
    # fnuz: no code for −0
    fnuz = formats.get("float8_e4m3fnuz")
    assert _block_numba.fast_spec(fnuz, opts(fnuz, overflow="saturate"))[4] == 0


@pytest.mark.parametrize("shape,axis", [((3, 70_000), -1), ((40_000,), 0), ((64, 700), 0),
                                        ((2, 16, 2048), 1)])
def test_row_regrouping_and_axes(shape, axis, monkeypatch):
    """Few long rows are viewed as more rows of whole blocks; results must not depend on it."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    for name in ("mxfp4", "nvfp4"):
        fmt = FORMATS[name]
        for kw in ({}, {"rounding": "stochastic", "key": 2}):
            _assert_same(_both(x, fmt, axis=axis, **kw), _vectorized(monkeypatch, x, fmt, axis=axis, **kw))


@pytest.mark.parametrize("name", list(FORMATS))
def test_jax_equals_numpy_on_edges(name, monkeypatch):
    """Codes, scales, tensor scale and fake-quantized values."""
    fmt = FORMATS[name]
    x = edge_matrix(fmt, rows=48, seed=11)
    qn, vn = _vectorized(monkeypatch, x, fmt)
    qj = jax.jit(lambda v: formats.encode(v, fmt))(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(qj.codes), qn.codes)
    np.testing.assert_array_equal(np.asarray(qj.scales), qn.scales)
    np.testing.assert_array_equal(np.asarray(qj.tensor_scale) if qj.tensor_scale is not None else None,
                                  qn.tensor_scale)
    vj = np.asarray(jax.jit(lambda v: formats.quantize(v, fmt))(jnp.asarray(x)))
    np.testing.assert_array_equal(vj.view(np.uint32), vn.view(np.uint32))
