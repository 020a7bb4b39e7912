"""simulator.matmul against independent oracles.

Oracles: exact integer matmul and NumPy int32 wrapping arithmetic; plain Python loops that round
after every addition (NumPy float32/float16 scalars — IEEE adders —, gfloat's ``round_float``
for bfloat16 and custom formats); exact ``fractions`` for MX / NVFP4 dot products (OCP MX v1.0
§6.2: Dot = X_A · X_B · Σ P_i Q_i). Operands are quantized with ml_dtypes where it has the
format, so the quantizer under test in ``formats`` is not the only source of operand values.
"""

from __future__ import annotations

import math
from fractions import Fraction

import gfloat
import ml_dtypes
import numpy as np
import pytest
from gfloat.formats import format_info_bfloat16

import lowbit.simulator.emulate._matmul as mm
from lowbit import formats, simulator
from lowbit.simulator import Accumulator

RNG = np.random.default_rng(1234)


def _f32_round(x: Fraction) -> Fraction:
    """Correctly rounded float32 (ties to even) of an exact rational, by neighbour search."""
    c = np.float32(float(x))  # within one float32 ulp of x
    cands = {c, np.nextafter(c, np.float32(np.inf)), np.nextafter(c, np.float32(-np.inf))}
    best = None
    for v in cands:
        if not np.isfinite(v):
            continue
        d = abs(Fraction(float(v)) - x)
        key = (d, int(np.array(v).view(np.uint32)) & 1)  # ties: even significand
        if best is None or key < best[0]:
            best = (key, v)
    return Fraction(float(best[1]))


def _gf_info(exp_bits: int, man_bits: int):
    """gfloat FormatInfo of an IEEE-like binary format (Inf and NaNs in the top exponent)."""
    return gfloat.FormatInfo(
        f"e{exp_bits}m{man_bits}", k=1 + exp_bits + man_bits, precision=man_bits + 1,
        bias=2 ** (exp_bits - 1) - 1, is_signed=True, domain=gfloat.Domain.Extended, has_nz=True,
        num_high_nans=2 ** man_bits - 1, has_subnormals=True, is_twos_complement=False)


# ------------------------------------------------------------------------------ integer GEMM
def test_int8_int32_equals_exact_integer_matmul():
    a = RNG.integers(-128, 128, (7, 300), dtype=np.int8)
    b = RNG.integers(-128, 128, (300, 5), dtype=np.int8)
    out = simulator.matmul(a, b, accumulator="int32")
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, a.astype(np.int64) @ b.astype(np.int64))


def test_int8_int32_wraps_like_int32_hardware():
    # 140 000 products of 127·127 = 2 258 060 000 > 2^31 - 1: overflows int32
    k = 140_000
    a = np.full((2, k), 127, dtype=np.int8)
    a[1, ::3] = -128
    b = np.full((k, 3), 127, dtype=np.int8)
    b[::7, 2] = -128
    out = simulator.matmul(a, b, accumulator="int32")
    # oracle 1: NumPy int32 arithmetic wraps (two's complement)
    prods = (a[:, :, None].astype(np.int32) * b[None, :, :].astype(np.int32))
    wrapped = np.cumsum(prods, axis=1, dtype=np.int32)[:, -1, :]
    np.testing.assert_array_equal(out, wrapped)
    # oracle 2: exact integer sum reduced modulo 2^32 into [-2^31, 2^31)
    exact = a.astype(np.int64) @ b.astype(np.int64)
    assert exact.max() > 2**31 - 1
    np.testing.assert_array_equal(out, (exact + 2**31) % 2**32 - 2**31)


def test_int32_operands_products_need_62_bits():
    """(-2^31)² = 2^62: int32 × int32 products still fit int64; wrap equals exact mod 2^32."""
    a = RNG.integers(-2**31, 2**31, (3, 20)).astype(np.int32)
    b = RNG.integers(-2**31, 2**31, (20, 2)).astype(np.int32)
    a[0, 0] = b[0, 0] = -2**31
    exact = a.astype(object) @ b.astype(object)
    expect = np.vectorize(lambda v: (v + 2**31) % 2**32 - 2**31)(exact).astype(np.int64)
    np.testing.assert_array_equal(simulator.matmul(a, b), expect)
    sat = simulator.matmul(a, b, accumulator=Accumulator("int32", overflow="saturate"))
    for m in range(3):
        for n in range(2):
            s = 0
            for k in range(20):
                s = min(max(s + int(a[m, k]) * int(b[k, n]), -2**31), 2**31 - 1)
            assert sat[m, n] == s


def test_int16_accumulator_saturates_after_each_add():
    a = RNG.integers(-128, 128, (3, 40), dtype=np.int8)
    b = RNG.integers(-128, 128, (40, 4), dtype=np.int8)
    acc = Accumulator("int16", overflow="saturate")
    out = simulator.matmul(a, b, accumulator=acc)
    for m in range(3):
        for n in range(4):
            s = 0
            for k in range(40):
                s = min(max(s + int(a[m, k]) * int(b[k, n]), -32768), 32767)
            assert out[m, n] == s
    wrap = simulator.matmul(a, b, accumulator="int16")
    exact = a.astype(np.int64) @ b.astype(np.int64)
    np.testing.assert_array_equal(wrap, (exact + 2**15) % 2**16 - 2**15)
    assert not np.array_equal(out, wrap)  # the data do overflow int16


def test_int4_operands_from_float_arrays_and_uint8():
    x = RNG.uniform(-9, 9, (4, 16))
    w = RNG.uniform(-9, 9, (16, 3))
    out = simulator.matmul(x, w, a_format="int4", b_format="int4")
    xi = np.clip(np.round(x), -8, 7).astype(np.int64)  # round half even, saturate
    wi = np.clip(np.round(w), -8, 7).astype(np.int64)
    np.testing.assert_array_equal(out, xi @ wi)
    u = RNG.integers(0, 256, (3, 10), dtype=np.uint8)
    v = RNG.integers(-128, 128, (10, 2), dtype=np.int8)
    np.testing.assert_array_equal(simulator.matmul(u, v), u.astype(np.int64) @ v.astype(np.int64))


def test_integer_values_out_of_range_raise():
    with pytest.raises(ValueError, match="range"):
        simulator.matmul(np.array([[200]]), np.array([[1]]), a_format="int8", b_format="int8")


# ------------------------------------------------------------------------- float accumulation
def _fp8(shape, scale=1.0):
    x = (RNG.standard_normal(shape) * scale).astype(np.float32)
    return x.astype(ml_dtypes.float8_e4m3fn).astype(np.float32)


def test_fp8_float32_sequential_equals_python_float32_loop():
    a = _fp8((5, 200), 8.0)
    b = _fp8((200, 4), 8.0)
    out = simulator.matmul(a, b, a_format="float8_e4m3fn", b_format="float8_e4m3fn", accumulator="float32")
    assert out.dtype == np.float32
    for m in range(5):
        for n in range(4):
            acc = np.float32(0)
            for k in range(200):
                acc = np.float32(acc + np.float32(a[m, k]) * np.float32(b[k, n]))
            assert out[m, n].tobytes() == acc.tobytes()


def test_fp8_float16_accumulator_equals_python_float16_loop():
    a = _fp8((3, 150), 4.0)
    b = _fp8((150, 3), 4.0)
    out = simulator.matmul(a, b, a_format="float8_e4m3fn", b_format="float8_e4m3fn", accumulator="float16")
    for m in range(3):
        for n in range(3):
            acc = np.float16(0)
            for k in range(150):
                acc = np.float16(float(acc) + float(a[m, k]) * float(b[k, n]))  # float64 sum is exact
            assert out[m, n] == np.float32(acc)


@pytest.mark.parametrize("rounding, mode", [("nearest_even", gfloat.RoundMode.TiesToEven),
                                            ("toward_zero", gfloat.RoundMode.TowardZero),
                                            ("down", gfloat.RoundMode.TowardNegative)])
def test_bfloat16_accumulator_equals_gfloat_loop(rounding, mode):
    a = _fp8((3, 64), 2.0)
    b = _fp8((64, 2), 2.0)
    acc = Accumulator("bfloat16", rounding=rounding)
    out = simulator.matmul(a, b, a_format="float8_e4m3fn", b_format="float8_e4m3fn", accumulator=acc)
    for m in range(3):
        for n in range(2):
            s = 0.0
            for k in range(64):
                s = gfloat.round_float(format_info_bfloat16, s + float(a[m, k]) * float(b[k, n]), mode)
            assert out[m, n] == s


def test_two_level_accumulation_deepgemm_pattern():
    """Chunks of 128 accumulated in a 22-bit float (e8m13, truncating), promoted to float32."""
    a = _fp8((2, 512), 16.0)
    b = _fp8((512, 3), 16.0)
    inner = simulator.FP8_TENSOR_CORE_ACCUMULATOR
    out = simulator.matmul(a, b, a_format="float8_e4m3fn", b_format="float8_e4m3fn", accumulator="float32",
                           k_chunk=128, chunk_accumulator=inner)
    fi = _gf_info(8, 13)
    for m in range(2):
        for n in range(3):
            total = np.float32(0)
            for c0 in range(0, 512, 128):
                s = 0.0
                for k in range(c0, c0 + 128):
                    s = gfloat.round_float(fi, s + float(a[m, k]) * float(b[k, n]), gfloat.RoundMode.TowardZero)
                total = np.float32(float(total) + s)  # float32 + (14-bit) value: exact in float64
            assert out[m, n] == total
    single = simulator.matmul(a, b, a_format="float8_e4m3fn", b_format="float8_e4m3fn", accumulator=inner)
    assert not np.array_equal(single, out)


def test_pairwise_order_equals_recursive_float16_tree():
    a = _fp8((2, 37), 4.0)
    b = _fp8((37, 2), 4.0)
    out = simulator.matmul(a, b, a_format="float8_e4m3fn", b_format="float8_e4m3fn", accumulator="float16",
                           order="pairwise")

    def tree(xs):
        while len(xs) > 1:
            nxt = [float(np.float16(xs[i] + xs[i + 1])) for i in range(0, len(xs) - 1, 2)]
            xs = nxt + ([xs[-1]] if len(xs) % 2 else [])
        return float(np.float16(xs[0]))

    for m in range(2):
        for n in range(2):
            prods = [float(a[m, k]) * float(b[k, n]) for k in range(37)]
            assert out[m, n] == tree(prods)


def test_systolic_equals_sequential_in_column_passes():
    a = _fp8((3, 100), 8.0)
    b = _fp8((100, 2), 8.0)
    kw = dict(a_format="float8_e4m3fn", b_format="float8_e4m3fn", accumulator="float16")
    sys_ = simulator.matmul(a, b, order="systolic", k_chunk=16, **kw)
    np.testing.assert_array_equal(sys_, simulator.matmul(a, b, k_chunk=16, **kw))
    np.testing.assert_array_equal(simulator.matmul(a, b, order="systolic", **kw), simulator.matmul(a, b, **kw))


def test_init_is_the_starting_accumulator():
    a = _fp8((2, 8))
    b = _fp8((8, 2))
    c = np.array([[1.5, -2.0], [1000.0, 0.25]], dtype=np.float32)
    out = simulator.matmul(a, b, a_format="float8_e4m3fn", b_format="float8_e4m3fn", init=c)
    for m in range(2):
        for n in range(2):
            acc = np.float32(c[m, n])
            for k in range(8):
                acc = np.float32(acc + a[m, k] * b[k, n])
            assert out[m, n] == acc
    ai = np.array([[100, 100]], dtype=np.int8)
    bi = np.array([[100], [100]], dtype=np.int8)
    np.testing.assert_array_equal(simulator.matmul(ai, bi, init=[[2**31 - 20000]]), [[2**31 - 20000 + 20000 - 2**32]])


@pytest.mark.parametrize("acc, a, b, expect", [
    # float32: (2^40 + 2^17) - (2^16 - 2^-20) is just above the float32 midpoint 2^40 + 2^16;
    # float64 rounding first would land on the midpoint and ties-to-even would give 2^40.
    ("float32", [2.0**20, -(2.0**8) * (1 + 2.0**-18)], [2.0**20 * (1 + 2.0**-23), 2.0**8 * (1 - 2.0**-18)],
     2.0**40 + 2.0**17),
    # bfloat16: (2^8 + 2) - (1 - 2^-46) is just above the bfloat16 midpoint 2^8 + 1.
    ("bfloat16", [2.0**8, -(1 + 2.0**-23)], [1 + 2.0**-7, 1 - 2.0**-23], 2.0**8 + 2),
])
def test_no_double_rounding(acc, a, b, expect):
    """Each addition rounds the exact sum once (round-to-odd in float64, then to the format)."""
    a = np.array([a], dtype=np.float32)
    b = np.array(b, dtype=np.float32)[:, None]
    exact = Fraction(float(a[0, 0])) * Fraction(float(b[0, 0]))
    assert exact == Fraction(float(a[0, 0]) * float(b[0, 0]))  # the first product is exact in float32
    out = simulator.matmul(a, b, a_format="float32", b_format="float32", accumulator=acc)
    assert out[0, 0] == expect
    with formats.backend.numba_policy("always"):  # the compiled kernel of the NumPy backend
        assert simulator.matmul(a, b, a_format="float32", b_format="float32", accumulator=acc)[0, 0] == expect
    import jax.numpy as jnp

    assert float(simulator.matmul(jnp.asarray(a), jnp.asarray(b), a_format="float32", b_format="float32",
                                  accumulator=acc)[0, 0]) == expect


def test_float64_operands_fall_back_to_exact_reference():
    """float64 × float64 products need 106 bits: the exact (fractions) path is used."""
    a = RNG.standard_normal((2, 6))
    b = RNG.standard_normal((6, 2))
    out = simulator.matmul(a, b, a_format="float64", b_format="float64", accumulator="float32")
    for m in range(2):
        for n in range(2):
            s = Fraction(0)
            for k in range(6):
                s = _f32_round(s + Fraction(float(a[m, k])) * Fraction(float(b[k, n])))
            assert Fraction(float(out[m, n])) == s


def test_1d_operands_promote_like_numpy():
    x = _fp8((16,))
    w = _fp8((16, 3))
    out = simulator.matmul(x, w, a_format="float8_e4m3fn", b_format="float8_e4m3fn")
    assert out.shape == (3,)
    assert simulator.matmul(x, x, a_format="float8_e4m3fn", b_format="float8_e4m3fn").shape == ()


def test_batched_operands_broadcast():
    a = _fp8((2, 3, 5, 8))
    b = _fp8((3, 8, 4))
    out = simulator.matmul(a, b, a_format="float8_e4m3fn", b_format="float8_e4m3fn")
    assert out.shape == (2, 3, 5, 4)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(
                out[i, j], simulator.matmul(a[i, j], b[j], a_format="float8_e4m3fn", b_format="float8_e4m3fn"))


# ----------------------------------------------------------------------------- special values
def test_nan_and_overflow_follow_the_accumulator():
    a = np.array([[448.0, 448.0, 1.0]], dtype=np.float32)
    b = np.array([[448.0], [448.0], [np.nan]], dtype=np.float32)
    out = simulator.matmul(a, b, a_format="float8_e4m3fn", b_format="float8_e4m3fn")
    assert np.isnan(out[0, 0])
    big = np.array([[448.0] * 4], dtype=np.float32)
    w = np.array([[448.0]] * 4, dtype=np.float32)
    # 4 · 200704 = 802816 > max float16 (65504): Inf by default, 65504 when saturating
    assert np.isinf(simulator.matmul(big, w, a_format="float8_e4m3fn", b_format="float8_e4m3fn",
                                     accumulator="float16")[0, 0])
    sat = simulator.matmul(big, w, a_format="float8_e4m3fn", b_format="float8_e4m3fn",
                           accumulator=Accumulator("float16", overflow="saturate"))
    assert sat[0, 0] == 65504.0


# ------------------------------------------------------------------------------ MX and NVFP4
def _block_values(q):
    """Element values (with the implied integer scale) and scale values of a block QArray."""
    fmt = q.format
    ev = formats.values(fmt.element)[np.asarray(q.codes)] * 2.0 ** fmt.element_exp
    sv = formats.values(fmt.scale)[np.asarray(q.scales)]
    return ev, sv


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4", "mxint8"])
def test_mx_dot_product_equals_exact_rational(name):
    K = 64
    a = (RNG.standard_normal((3, K)) * np.exp2(RNG.integers(-6, 6, (3, K)))).astype(np.float32)
    b = (RNG.standard_normal((K, 2)) * np.exp2(RNG.integers(-6, 6, (K, 2)))).astype(np.float32)
    qa = formats.encode(a, name, axis=-1)
    qb = formats.encode(b, name, axis=0)
    ea, sa = _block_values(qa)  # (3, 2, 32), (3, 2)
    eb, sb = _block_values(qb)  # (2, 2, 32), (2, 2)
    out64 = simulator.matmul(qa, qb, accumulator="float64")
    out32 = simulator.matmul(qa, qb, accumulator="float32")
    for m in range(3):
        for n in range(2):
            terms = []
            for j in range(2):
                dot = sum(Fraction(float(ea[m, j, i])) * Fraction(float(eb[n, j, i])) for i in range(32))
                terms.append(Fraction(float(sa[m, j])) * Fraction(float(sb[n, j])) * dot)
            # float64: RN(RN(t0) + t1); t0 is exact in float64, Fraction.__float__ rounds correctly
            assert out64[m, n] == float(Fraction(float(terms[0])) + terms[1])
            assert Fraction(float(out32[m, n])) == _f32_round(_f32_round(terms[0]) + terms[1])


def test_nvfp4_dot_product_with_tensor_scales():
    K = 48
    a = RNG.standard_normal((2, K)).astype(np.float32) * 3
    b = RNG.standard_normal((K, 2)).astype(np.float32) / 5
    qa = formats.encode(a, "nvfp4", axis=-1)
    qb = formats.encode(b, "nvfp4", axis=0)
    ea, sa = _block_values(qa)
    eb, sb = _block_values(qb)
    ta = Fraction(float(np.asarray(qa.tensor_scale).reshape(())))
    tb = Fraction(float(np.asarray(qb.tensor_scale).reshape(())))
    out = simulator.matmul(a, b, a_format="nvfp4", b_format="nvfp4")
    for m in range(2):
        for n in range(2):
            acc = Fraction(0)
            for j in range(3):
                dot = sum(Fraction(float(ea[m, j, i])) * Fraction(float(eb[n, j, i])) for i in range(16))
                acc = _f32_round(acc + Fraction(float(sa[m, j])) * Fraction(float(sb[n, j])) * dot)
            expect = _f32_round(acc * _f32_round(ta * tb))
            assert Fraction(float(out[m, n])) == expect
    # and, up to float32 rounding, the product of the decoded operands
    deq = formats.decode(qa, np.float64) @ formats.decode(qb, np.float64)
    np.testing.assert_allclose(out, deq, rtol=1e-5, atol=1e-6)


def test_block_reduce_accumulator_adds_scaled_products_one_by_one():
    a = RNG.standard_normal((2, 64)).astype(np.float32)
    b = RNG.standard_normal((64, 2)).astype(np.float32)
    qa = formats.encode(a, "mxfp8_e4m3", axis=-1)
    qb = formats.encode(b, "mxfp8_e4m3", axis=0)
    ea, sa = _block_values(qa)
    eb, sb = _block_values(qb)
    out = simulator.matmul(qa, qb, block_reduce="accumulator", accumulator="float16")
    for m in range(2):
        for n in range(2):
            acc = np.float16(0)
            for k in range(64):
                j, i = divmod(k, 32)
                p = float(ea[m, j, i]) * float(sa[m, j]) * float(eb[n, j, i]) * float(sb[n, j])
                acc = np.float16(float(acc) + p)
            assert out[m, n] == acc


def test_mx_operand_with_scalar_operand():
    a = RNG.standard_normal((2, 40)).astype(np.float32)
    w = _fp8((40, 3))
    qa = formats.encode(a, "mxfp8_e4m3", axis=-1)
    ea, sa = _block_values(qa)
    out = simulator.matmul(qa, w, b_format="float8_e4m3fn", accumulator="float64")
    for m in range(2):
        for n in range(3):
            t = [Fraction(float(sa[m, j])) * sum(Fraction(float(ea[m, j, i])) * Fraction(float(w[32 * j + i, n]))
                                                 for i in range(min(32, 40 - 32 * j))) for j in range(2)]
            assert out[m, n] == float(Fraction(float(t[0])) + t[1])



@pytest.mark.parametrize("spread", [0, 200])
def test_bfloat16_activations_with_mx_weights(spread, monkeypatch):
    """bfloat16 × MXFP4 block dot products are exact in float64 for real data (not for every
    bfloat16, whose range spans 2^±127): the float kernels run, no fractions fallback; a row
    spread over 2^±100 is not, and then the exact reference must give the same rule."""
    K = 64
    a = RNG.standard_normal((3, K)).astype(np.float32)
    if spread:  # within one block: 2^-100 next to 2^100
        a[0, ::2] *= np.float32(2.0 ** -100)
        a[0, 1::2] *= np.float32(2.0 ** 100)
    b = RNG.standard_normal((K, 2)).astype(np.float32)
    ab = formats.quantize(a, "bfloat16").astype(np.float64)
    qb = formats.encode(b, "mxfp4", axis=0)
    eb, sb = _block_values(qb)
    if not spread:
        def no_reference(*args, **kw):
            raise AssertionError("took the fractions reference")
        monkeypatch.setattr(mm, "_matmul_reference", no_reference)
    out = simulator.matmul(a, b, a_format="bfloat16", b_format="mxfp4")
    for m in range(3):
        for n in range(2):
            acc = Fraction(0)
            for j in range(2):
                dot = sum(Fraction(float(ab[m, 32 * j + i])) * Fraction(float(eb[n, j, i])) for i in range(32))
                acc = _f32_round(acc + Fraction(float(sb[n, j])) * dot)
            assert Fraction(float(out[m, n])) == acc

def test_block_qarray_must_be_blocked_along_k():
    a = RNG.standard_normal((4, 64)).astype(np.float32)
    with pytest.raises(ValueError, match="blocked along"):
        simulator.matmul(formats.encode(a, "mxfp8_e4m3", axis=0), np.ones((64, 2), np.float32))
    with pytest.raises(ValueError, match="multiple of the block size"):
        simulator.matmul(a, a.T, a_format="mxfp8_e4m3", b_format="mxfp8_e4m3", k_chunk=48)


# ------------------------------------------------------------------- power-of-two and LNS operands
#: power-of-two formats of the registry (LNS with no fractional bits: values 0 and ±2^k)
POT_FORMATS = [n for n in formats.names()
               if getattr(formats.get(n), "family", None) == "lns" and formats.get(n).frac_bits == 0]
LNS_FRAC_FORMATS = [n for n in formats.names()
                    if getattr(formats.get(n), "family", None) == "lns" and formats.get(n).frac_bits > 0]


def _pot_grid(shape, kmin, kmax, zeros=0.1):
    """Signed powers of two 2^k, k uniform in [kmin, kmax], and some zeros (no quantizer used)."""
    k = RNG.integers(kmin, kmax + 1, shape)
    v = RNG.choice([-1.0, 1.0], shape) * np.exp2(k)
    return np.where(RNG.random(shape) < zeros, 0.0, v)


def test_pot_registry_is_not_empty():
    assert "pot4" in POT_FORMATS and LNS_FRAC_FORMATS


def test_pot4_weights_equal_python_float32_loop():
    """pot4 = 0 and ±2^k, k = -6..0 (formats.power_of_two(4)): weights on that grid are taken
    as they are; fp8 × 2^k is exact in float32, so an IEEE float32 loop is the oracle."""
    a = _fp8((4, 96), 4.0)
    w = _pot_grid((96, 3), -6, 0)
    out = simulator.matmul(a, w, a_format="float8_e4m3fn", b_format="pot4", accumulator="float32")
    assert out.dtype == np.float32
    for m in range(4):
        for n in range(3):
            acc = np.float32(0)
            for k in range(96):
                acc = np.float32(acc + np.float32(a[m, k]) * np.float32(w[k, n]))
            assert out[m, n].tobytes() == acc.tobytes()
    q = formats.encode(w, "pot4")  # the QArray path gives the same bits
    np.testing.assert_array_equal(simulator.matmul(a, q, a_format="float8_e4m3fn"), out)


@pytest.mark.parametrize("name", POT_FORMATS)
@pytest.mark.parametrize("a_format", ["float8_e4m3fn", "int8", "bfloat16"])
def test_pot_weights_equal_exact_fractions(name, a_format):
    """Off-grid weights quantized to each power-of-two format; the sum of exact products,
    rounded to float32 after every addition in exact rational arithmetic, is the oracle (and
    the fractions reference backend agrees)."""
    fmt = formats.get(name)
    a = RNG.uniform(-100, 100, (3, 40)) if a_format == "int8" else RNG.standard_normal((3, 40)) * 3
    w = RNG.uniform(-fmt.max, fmt.max, (40, 2))
    wq = formats.quantize(w, fmt)
    assert np.all(np.isfinite(wq))
    mant, _ = np.frexp(wq[wq != 0])
    assert np.all(np.abs(mant) == 0.5)  # the quantized weights are powers of two
    aq = formats.quantize(a, a_format)
    out = simulator.matmul(a, w, a_format=a_format, b_format=name, accumulator="float32")
    for m in range(3):
        for n in range(2):
            s = Fraction(0)
            for k in range(40):
                s = _f32_round(s + Fraction(float(aq[m, k])) * Fraction(float(wq[k, n])))
            assert Fraction(float(out[m, n])) == s
    ref = simulator.matmul(a, w, a_format=a_format, b_format=name, accumulator="float32", backend="reference")
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("name", POT_FORMATS)
def test_pot_exact_products_equal_the_lns_multiplier(name):
    """Two mechanisms agree: multiplier='exact' on power-of-two values and multiplier='lns'
    (addition of the log fields) give the same products while those stay inside the format."""
    fmt = formats.get(name)
    lo, hi = int(fmt.log2_min), int(fmt.log2_max)
    kmin, kmax = -((-lo) // 2), hi // 2  # exponents whose pairwise sums stay in [lo, hi]
    assert kmin < kmax
    a = _pot_grid((3, 24), kmin, kmax)
    b = _pot_grid((24, 2), kmin, kmax)
    kw = dict(a_format=name, b_format=name, accumulator="float32")
    exact = simulator.matmul(a, b, **kw)
    np.testing.assert_array_equal(exact, simulator.matmul(a, b, multiplier="lns", **kw))
    assert np.any(exact != 0)


@pytest.mark.parametrize("name", LNS_FRAC_FORMATS)
@pytest.mark.parametrize("role", ["a", "b"])
def test_lns_with_fraction_bits_needs_the_lns_multiplier(name, role):
    a, b = _fp8((2, 8)), _fp8((8, 2))
    kw = {"a_format": "float8_e4m3fn", "b_format": "float8_e4m3fn", f"{role}_format": name}
    with pytest.raises(ValueError, match=rf"{role}_format={name} is an LNS format.*multiplier='lns'"):
        simulator.matmul(a, b, **kw)
    out = simulator.matmul(a, b, a_format=name, b_format=name, multiplier="lns")  # the supported way
    assert out.shape == (2, 2) and np.all(np.isfinite(out))


@pytest.mark.parametrize("name", ["posit8", "nestquant_e8_q16", "luq4"])
def test_unsupported_operand_family_is_a_clear_error(name):
    with pytest.raises(ValueError, match=r"b_format must be a FloatFormat, an IntFormat, a power-of-two "
                                         r"LNSFormat .* or a block format"):
        simulator.matmul(_fp8((2, 8)), _fp8((8, 2)), a_format="float8_e4m3fn", b_format=name)


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("kw, match", [
    (dict(order="tree"), "order must be one of"),
    (dict(multiplier="approx"), "multiplier must be one of"),
    (dict(block_reduce="fast"), "block_reduce must be one of"),
    (dict(backend="torch"), "backend must be one of"),
    (dict(k_chunk=0), "k_chunk must be a positive int"),
    (dict(chunk_accumulator="float16"), "chunk_accumulator needs k_chunk"),
    (dict(accumulator="int32"), "integer accumulator"),
    (dict(lmul_variant="fast"), "lmul_variant must be one of"),
    (dict(init=np.ones(7)), r"init of shape \(7,\) does not broadcast to the output shape \(2, 2\)"),
    (dict(init=np.ones((3, 2, 2))), r"init of shape \(3, 2, 2\) does not broadcast"),
    (dict(accumulator="mxfp4"), "accumulator: format must be a FloatFormat or IntFormat"),
])
def test_bad_parameters_raise(kw, match):
    a = _fp8((2, 4))
    with pytest.raises(ValueError, match=match):
        simulator.matmul(a, a.T, a_format="float8_e4m3fn", b_format="float8_e4m3fn", **kw)
    with pytest.raises(ValueError, match=match):  # the exact reference checks the same
        simulator.matmul(a, a.T, **{"a_format": "float8_e4m3fn", "b_format": "float8_e4m3fn",
                                    "backend": "reference", **kw})


@pytest.mark.parametrize("kw, exc, match", [
    (dict(a_format="float9"), KeyError, "a_format: .*unknown format 'float9'"),
    (dict(b_format="float9"), KeyError, "b_format: .*unknown format 'float9'"),
    (dict(accumulator="float9"), KeyError, "accumulator: .*unknown format 'float9'"),
    (dict(k_chunk=2, chunk_accumulator="float9"), KeyError, "chunk_accumulator: .*unknown format"),
    (dict(b_format=3), TypeError, "b_format must be a format record or a registered name"),
    (dict(init=np.ones((2, 2)) * 1j), TypeError, "init must be a real number"),
])
def test_bad_parameters_are_named(kw, exc, match):
    a = _fp8((2, 4))
    with pytest.raises(exc, match=match):
        simulator.matmul(a, a.T, **{"a_format": "float8_e4m3fn", "b_format": "float8_e4m3fn", **kw})


@pytest.mark.parametrize("bad", [np.ones((2, 4)) * (1 + 1j), np.array([["a"] * 4] * 2), np.ones((2, 4), dtype=object)])
def test_non_real_operands_are_type_errors(bad):
    with pytest.raises(TypeError, match="a must be a real"):
        simulator.matmul(bad, np.ones((4, 2)), a_format="float8_e4m3fn", b_format="float8_e4m3fn")
    with pytest.raises(TypeError, match="b must be a real"):
        simulator.matmul(np.ones((2, 4)), bad.T, a_format="float8_e4m3fn", b_format="float8_e4m3fn")


def test_accumulator_record_validation():
    with pytest.raises(ValueError, match="overflow for an integer accumulator"):
        Accumulator("int32", overflow="inf")
    with pytest.raises(ValueError, match="overflow for a float accumulator"):
        Accumulator("float32", overflow="wrap")
    with pytest.raises(ValueError, match="precision"):
        Accumulator(formats.FloatFormat(11, 51))
    with pytest.raises(ValueError, match="float64"):
        Accumulator("float64", rounding="toward_zero")
    with pytest.raises(ValueError, match="rounding must be one of"):
        Accumulator("float32", rounding="stochastic")
    with pytest.raises(ValueError, match="rounding is only used"):
        Accumulator("int32", rounding="toward_zero")
    with pytest.raises(TypeError):
        simulator.matmul(np.ones((1, 1)), np.ones((1, 1)), accumulator=32)
    with pytest.raises(ValueError, match="inner dimensions"):
        simulator.matmul(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32))
    assert hash(Accumulator("float32")) == hash(Accumulator(formats.get("float32")))
    assert math.isfinite(hash(simulator.FP8_TENSOR_CORE_ACCUMULATOR))
