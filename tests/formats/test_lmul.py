"""L-Mul (arXiv 2410.00907): the paper's known answers, both variants against an exact Fraction
reference written from the formula (every code pair of the 8-, 6- and 4-bit formats), special
values, overflow policies, Numba / NumPy / JAX agreement, broadcasting."""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowbit import formats
from lowbit.formats.numsys._lmul import _resolve_overflow, lmul_codes_xp, lmul_offset


# ------------------------------------------------------------------------- known answers
def test_paper_known_answers_fp32_bits(each_backend):
    # references.md / arXiv 2410.00907: fp32 bit form subtracts 0x3F780000;
    # lmul(1,1) = 1 + 2^-4, lmul(1.5,1.5) = 2.125 (mantissa carry), lmul(5,5) = 25.
    # Through every backend (NumPy vectorized, Numba, JAX eager and jit).
    assert (127 << 23) - (1 << (23 - lmul_offset(23))) == 0x3F780000
    a = np.array([1.0, 1.5, 5.0, -1.5, 0.0], np.float32)
    out = each_backend.run(formats.lmul, a, a, fmt="float32")
    assert out.dtype == np.float32
    assert out.tolist() == [1.0625, 2.125, 25.0, 2.125, 0.0]
    h = np.float32([1.5])
    assert each_backend.run(formats.lmul, h, h, fmt="float32", variant="formula").tolist() == [2.0625]
    # the same identities hold for any m > 4 (l = 4): float64
    big = np.tile(np.array([1.0, 1.5, 5.0]), 300)
    assert each_backend.run(formats.lmul, big, big, fmt="float64")[:3].tolist() == [1.0625, 2.125, 25.0]
    # and on codes (the GEMM emulator's entry): E4M3 (m = 3, l = 3): 1 × 1 = 1 + 2^-3; 1.5 × 1.5:
    # s = 0.5 + 0.5 + 2^-3 ≥ 1 carries: 2 · 1.125 = 2.25. bfloat16 (m = 7, l = 4): as float32.
    for name, want in (("float8_e4m3fn", [1.125, 2.25]), ("bfloat16", [1.0625, 2.125])):
        c = formats.encode(np.float32([1.0, 1.5]), name).codes
        pc = each_backend.run(formats.lmul_codes, c, c, fmt=name)
        assert formats.decode(formats.QArray(codes=pc, format=name, shape=pc.shape), dtype="float64").tolist() \
            == want


def test_offset_exponent():
    # arXiv 2410.00907 Eq. 4: l(m) = m (m ≤ 3), 3 (m = 4), 4 (m > 4).
    assert [lmul_offset(m) for m in (1, 2, 3, 4, 5, 7, 10, 23)] == [1, 2, 3, 3, 4, 4, 4, 4]


# --------------------------------------------------------------------- Fraction reference
@functools.cache
def _split(v: Fraction):
    """v = 2^e · (1 + m), m in [0, 1), exactly."""
    e = v.numerator.bit_length() - v.denominator.bit_length()
    if Fraction(2) ** e > v:
        e -= 1
    if Fraction(2) ** (e + 1) <= v:
        e += 1
    return e, v / Fraction(2) ** e - 1


def _ref_value(vx, vy, fmt, variant):
    """Exact L-Mul of two finite normal values from the written formula, with the documented
    rules: flush subnormal operands and results below the normal range."""
    if vx == 0 or vy == 0 or abs(vx) < fmt.smallest_normal or abs(vy) < fmt.smallest_normal:
        return Fraction(0)
    sign = -1 if (vx < 0) != (vy < 0) else 1
    m = fmt.mantissa_bits

    ex, mx = _split(abs(vx))
    ey, my = _split(abs(vy))
    s = mx + my + Fraction(1, 2 ** lmul_offset(m))
    E = ex + ey
    if variant == "bits":
        # integer addition of the exponent-mantissa fields: floor(s) carries into the exponent
        # (s < 2 for m <= 3; s can reach 2 and beyond for m >= 4 when xm + ym > 2 - 2^-l)
        c = math.floor(s)
        r = (1 + s - c) * Fraction(2) ** (E + c)
    else:
        sig = 1 + s
        if sig >= 2:
            sig /= 2
            E += 1
        k = round(sig * 2 ** m)           # Fraction round: half to even
        if k == 2 ** (m + 1):
            k //= 2
            E += 1
        r = Fraction(k, 2 ** m) * Fraction(2) ** E
    if r < fmt.smallest_normal:
        return Fraction(0)
    return sign * r


_VALS: dict = {}


def _value(fmt, c):
    key = (fmt, c)
    if key not in _VALS:
        _VALS[key] = fmt.value_of_code(c)
    return _VALS[key]


_CODE_OF: dict = {}


def _code_of(fmt, r: Fraction) -> int:
    """Code of the exactly representable value r (independent lookup over every code for
    formats of ≤ 16 bits; the IEEE bit pattern for float32)."""
    if fmt.bits > 16:
        assert fmt == formats.get("float32")
        code = int(np.array(float(r), np.float32).view(np.uint32))
    else:
        if fmt not in _CODE_OF:
            table = {}
            for c in range(fmt.num_codes):
                v = fmt.value_of_code(c)
                if not isinstance(v, float):
                    table.setdefault((v, c >= fmt.sign_mask > 0), c)
            _CODE_OF[fmt] = table
        code = _CODE_OF[fmt][(r, r < 0)]
    assert fmt.value_of_code(code) == r
    return code


def _ref_code(cx, cy, fmt, variant, overflow):
    vx, vy = _value(fmt, cx), _value(fmt, cy)
    neg = bool((cx ^ cy) & fmt.sign_mask)
    nan = fmt.nan_code
    if isinstance(vx, float) and math.isnan(vx) or isinstance(vy, float) and math.isnan(vy):
        return nan
    inf_x = isinstance(vx, float) and math.isinf(vx)
    inf_y = isinstance(vy, float) and math.isinf(vy)
    if inf_x or inf_y:
        other = vy if inf_x else vx
        if not (inf_x and inf_y) and (other == 0 or abs(other) < fmt.smallest_normal):
            return nan
        return fmt.inf_codes[1 if neg else 0]
    r = _ref_value(vx, vy, fmt, variant)
    if r == 0:
        return fmt.sign_mask if neg and fmt.has_negative_zero else 0
    if abs(r) > fmt.max:
        if overflow == "saturate":
            r = Fraction(fmt.max) * (-1 if r < 0 else 1)
        elif overflow == "inf":
            return fmt.inf_codes[1 if r < 0 else 0]
        else:
            return nan
    return _code_of(fmt, r)


EIGHT_BIT = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3b11fnuz",
             "float8_e4m3", "float8_e3m4"]
SMALL = ["float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn"]


def _check_pairs(fmt, cx, cy, variant, overflow):
    got = formats.lmul_codes(cx, cy, fmt, variant=variant, overflow=overflow)
    ov = _resolve_overflow(fmt, overflow)
    bad = []
    for a, b, g in zip(np.broadcast_to(cx, got.shape).ravel().tolist(),
                       np.broadcast_to(cy, got.shape).ravel().tolist(), got.ravel().tolist(), strict=True):
        r = _ref_code(a, b, fmt, variant, ov)
        if g != r:
            bad.append((hex(a), hex(b), hex(g), hex(r)))
    assert not bad, bad[:5]


@pytest.mark.parametrize("name", SMALL + ["p3109_k8p4"])
@pytest.mark.parametrize("variant", ["bits", "formula"])
def test_every_pair_small_formats(name, variant):
    fmt = formats.p3109(8, 4) if name == "p3109_k8p4" else formats.get(name)
    n = fmt.num_codes
    step = 1 if n <= 64 else 3
    codes = np.arange(0, n, step, dtype=np.uint8)
    _check_pairs(fmt, codes[:, None], codes[None, :], variant, None)


@pytest.mark.slow
@pytest.mark.parametrize("name,step", [("float8_e4m3fn", 1), ("float8_e5m2", 2)])
@pytest.mark.parametrize("variant", ["bits", "formula"])
def test_every_pair_fp8(name, step, variant):
    fmt = formats.get(name)
    codes = np.arange(0, 256, step, dtype=np.uint8)
    _check_pairs(fmt, codes[:, None], codes[None, :], variant, "saturate")


@pytest.mark.parametrize("name", EIGHT_BIT + ["bfloat16", "float16", "float32"])
@pytest.mark.parametrize("variant", ["bits", "formula"])
def test_random_pairs(name, variant):
    fmt = formats.get(name)
    rng = np.random.default_rng(abs(hash((name, variant))) % 2**32)
    ct = np.uint8 if fmt.bits == 8 else np.uint16 if fmt.bits == 16 else np.uint32
    # half uniform over codes (specials, subnormals), half products of moderate values
    cx = rng.integers(0, fmt.num_codes, 400, dtype=np.uint64).astype(ct)
    cy = rng.integers(0, fmt.num_codes, 400, dtype=np.uint64).astype(ct)
    vx = formats.encode(rng.standard_normal(400) * 4, fmt).codes.astype(ct)
    vy = formats.encode(rng.standard_normal(400) * 4, fmt).codes.astype(ct)
    _check_pairs(fmt, np.concatenate([cx, vx]), np.concatenate([cy, vy]), variant, None)
    _check_pairs(fmt, np.concatenate([cx, vx]), np.concatenate([cy, vy]), variant, "saturate")


# ----------------------------------------------------------------------- special values
def test_specials_and_policies():
    f = "float8_e5m2"   # has Inf
    x = np.array([np.inf, np.inf, -np.inf, np.nan, 2.0 ** -15, 2.0 ** 15, -2.0 ** -10], np.float32)
    y = np.array([2.0, 0.0, 3.0, 1.0, 4.0, 2.0 ** 15, 2.0 ** -10], np.float32)
    out = formats.lmul(x, y, f)
    assert out[0] == np.inf and math.isnan(out[1]) and out[2] == -np.inf and math.isnan(out[3])
    assert out[4] == 0                       # subnormal operand flushed
    assert out[5] == np.inf                  # 2^30 overflows: natural policy → Inf
    assert out[6] == 0 and math.copysign(1, out[6]) == -1   # underflow keeps the sign (−0)
    assert formats.lmul(x[5:6], y[5:6], f, overflow="saturate")[0] == 57344.0
    assert math.isnan(formats.lmul(x[5:6], y[5:6], f, overflow="nan")[0])
    with pytest.raises(OverflowError):
        formats.lmul(x[5:6], y[5:6], f, overflow="error")
    # e4m3fn: no Inf, natural overflow NaN; fnuz: no −0
    assert math.isnan(formats.lmul(np.float32(400), np.float32(2), "float8_e4m3fn"))
    z = formats.lmul(np.float32(-1.0), np.float32(0.0), "float8_e4m3fnuz")
    assert z.shape == () and math.copysign(1, float(z)) == 1
    with pytest.raises(ValueError, match="variant"):
        formats.lmul(x, y, f, variant="exact")
    with pytest.raises(ValueError, match="signed"):
        formats.lmul(x, y, "float8_e8m0fnu")
    with pytest.raises(TypeError, match="FloatFormat"):
        formats.lmul(x, y, "posit8")


def test_bits_ge_formula_and_equal_without_carry():
    # documented: equal when xm + ym + 2^-l < 1; otherwise bits exceeds formula by 2^e(s − 1)
    f = formats.get("bfloat16")
    codes = np.arange(0x3F80, 0x4000, dtype=np.uint16)   # [1, 2): every mantissa
    a, b = codes[:, None], codes[None, :]
    vb = formats.lmul(formats.QArray(codes=a, format=f, shape=a.shape),
                      formats.QArray(codes=b, format=f, shape=b.shape), f, variant="bits")
    vf = formats.lmul(formats.QArray(codes=a, format=f, shape=a.shape),
                      formats.QArray(codes=b, format=f, shape=b.shape), f, variant="formula")
    m = (codes.astype(np.int64) & 0x7F)
    s = m[:, None] + m[None, :] + (1 << (7 - 4))          # in units of 2^-7
    carry = s >= 128
    np.testing.assert_array_equal(vb[~carry], vf[~carry])
    assert np.all(vb[carry] >= vf[carry]) and np.any(vb[carry] > vf[carry])


# ------------------------------------------------------------------------------ backends
@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float6_e3m2fn"])
def test_numba_numpy_jax_agree_on_every_pair(name):
    f = formats.get(name)
    n = f.num_codes
    a = np.arange(n, dtype=np.uint8)[:, None]
    b = np.arange(n, dtype=np.uint8)[None, :]
    for variant in ("bits", "formula"):
        ov = _resolve_overflow(f, None)
        ref = lmul_codes_xp(np, a, b, f, variant, ov)
        from lowbit.formats.numsys._lmul_numba import lmul_codes_numba

        np.testing.assert_array_equal(lmul_codes_numba(a, b, f, variant, ov), ref)
        jx = jax.jit(lambda x, y: formats.lmul_codes(x, y, f, variant=variant))(jnp.asarray(a), jnp.asarray(b))
        np.testing.assert_array_equal(np.asarray(jx), ref)


def test_large_broadcast_uses_numba_and_matches_numpy():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((64, 32)).astype(np.float32)
    B = rng.standard_normal((32, 48)).astype(np.float32)
    for name in ("float8_e4m3fn", "bfloat16", "float32"):
        big = formats.lmul(A[:, :, None], B[None, :, :], name)           # 98304 ≥ threshold
        assert big.shape == (64, 32, 48) and big.dtype == np.float32
        small = np.stack([formats.lmul(A[i, :, None], B, name) for i in range(64)])
        np.testing.assert_array_equal(big, small)
        qa, qb = formats.encode(A[:, :, None], name), formats.encode(B[None, :, :], name)
        ja = formats.QArray(codes=jnp.asarray(qa.codes), format=qa.format, shape=qa.shape)
        jb = formats.QArray(codes=jnp.asarray(qb.codes), format=qb.format, shape=qb.shape)
        np.testing.assert_array_equal(np.asarray(formats.lmul(ja, jb, name)), big)


def test_vmap():
    x = jnp.asarray(np.linspace(0.5, 4, 12, dtype=np.float32).reshape(3, 4))
    v = jax.jit(jax.vmap(lambda r: formats.lmul(r, r, "bfloat16")))(x)
    np.testing.assert_array_equal(np.asarray(v), formats.lmul(np.asarray(x), np.asarray(x), "bfloat16"))


# ---------------------------------------------------------------------------- properties
normal = st.floats(1e-3, 1e3)


@settings(max_examples=150, deadline=None)
@given(x=normal, y=normal, sx=st.booleans(), sy=st.booleans(),
       name=st.sampled_from(["float8_e4m3fn", "bfloat16", "float16", "float32"]),
       variant=st.sampled_from(["bits", "formula"]))
def test_symmetric_sign_xor_and_bounded_error(x, y, sx, sy, name, variant):
    a = np.float32(-x if sx else x)
    b = np.float32(-y if sy else y)
    q = formats.encode(np.array([a, b]), name, overflow="saturate")
    qr = formats.QArray(codes=q.codes[::-1].copy(), format=q.format, shape=q.shape)
    p = formats.lmul(q, qr, name, variant=variant, overflow="saturate")
    assert p[0] == p[1]                                         # commutative
    qa, qb = formats.decode(q, dtype="float64")
    exact = float(qa) * float(qb)
    f = formats.get(name)
    normal_ops = min(abs(qa), abs(qb)) >= f.smallest_normal      # subnormal operands are flushed
    if normal_ops and abs(exact) < f.max / 2 and abs(exact) > 4 * f.smallest_normal:
        assert np.sign(p[0]) == np.sign(exact)
        # |error| of the mantissa approximation: at most 1/4 relative (xm·ym − 2^-l over (1+xm)(1+ym))
        assert abs(p[0] / exact - 1) <= 0.25
