"""The codec's options and input handling: validation errors, special-value rules, overflow
policies, flush_subnormals, stochastic-rounding keys, dtypes and shapes."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from _fmt_helpers import code_adjacent_inputs, encode_np, same_values

from lowbit import formats
from lowbit.formats.scalar._reference import ref_quantize

F8 = "float8_e4m3fn"
X = np.float32([1.1, -2.2, 300.0])


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("x", [np.int32([1, 2]), np.uint8([3]), np.array([True]), np.int64(5),
                               np.array([1 + 2j]), np.array(["a"]), np.array([1.0], dtype=object)],
                         ids=["int32", "uint8", "bool", "int64-scalar", "complex", "str", "object"])
@pytest.mark.parametrize("verb", ["quantize", "encode"])
def test_bad_dtype_raises_type_error(x, verb):
    with pytest.raises(TypeError, match="dtype"):
        getattr(formats, verb)(x, F8)


@pytest.mark.parametrize("opts,name", [
    ({"rounding": "nearest"}, "rounding"),
    ({"rounding": None}, "rounding"),
    ({"overflow": "clip"}, "overflow"),
    ({"overflow": "inf"}, "inf"),          # float8_e4m3fn has no Inf
    ({"random_bits": 0, "rounding": "stochastic", "key": 1}, "random_bits"),
    ({"random_bits": 33, "rounding": "stochastic", "key": 1}, "random_bits"),
    ({"random_bits": True, "rounding": "stochastic", "key": 1}, "random_bits"),
    ({"random_bits": 8}, "random_bits"),  # only with stochastic rounding
    ({"flush_subnormals": 1}, "flush_subnormals"),
    ({"axis": "x"}, "axis"),
    ({"key": 3}, "key"),                   # only with stochastic rounding
    ({"rounding": "stochastic"}, "key"),   # stochastic needs a key
    ({"srbits": np.uint8([1, 2, 3])}, "srbits"),  # only with stochastic rounding
])
def test_bad_option_raises_value_error_naming_it(opts, name):
    for verb in (formats.quantize, formats.encode):
        with pytest.raises(ValueError, match=name):
            verb(X, F8, **opts)


def test_overflow_nan_needs_a_nan():
    with pytest.raises(ValueError, match="nan"):
        formats.quantize(X, "float4_e2m1fn", overflow="nan")
    with pytest.raises(ValueError, match="inf"):
        formats.quantize(X, "int8", overflow="inf")


def test_unknown_format_and_option():
    with pytest.raises(KeyError, match="float8_e4m3fm"):
        formats.quantize(X, "float8_e4m3fm")
    with pytest.raises(TypeError, match="fmt"):
        formats.quantize(X, 8)
    with pytest.raises(TypeError, match="block_size"):
        formats.quantize(X, F8, block_size=32)
    with pytest.raises(TypeError, match="QArray"):
        formats.decode(np.uint8([1, 2]))
    with pytest.raises(ValueError, match="2\\*\\*24"):
        formats.values("int32")


# ------------------------------------------------------------------------ special values
@pytest.mark.parametrize("fmt", formats.select(lambda f: f.family == "float" and f.has_nan
                                               and f.bits <= 16), ids=lambda f: f.name)
def test_nan_maps_to_a_nan_code(fmt):
    codes = formats.encode(np.float32([np.nan, -np.nan]), fmt).codes.tolist()
    assert all(c in fmt.nan_codes for c in codes)
    assert codes[0] == fmt.nan_code
    q = formats.quantize(np.float32([np.nan]), fmt)
    assert np.isnan(q).all()


def test_overflow_policies():
    x = np.float32([1000.0, -1000.0, np.inf, -np.inf, 100.0])
    e5 = "float8_e5m2"
    assert formats.quantize(x * 100, e5).tolist() == [np.inf, -np.inf, np.inf, -np.inf, 10240.0]
    want = [57344.0, -57344.0, 57344.0, -57344.0, 10240.0]
    assert formats.quantize(x * 100, e5, overflow="saturate").tolist() == want
    assert np.isnan(formats.quantize(x * 100, e5, overflow="nan")[:4]).all()
    assert np.isnan(formats.quantize(x, F8)[:4]).all()  # natural for e4m3fn: NaN
    assert formats.quantize(x, "int8").tolist() == [127, -128, 127, -128, 100]
    with pytest.raises(OverflowError, match="overflow"):
        formats.quantize(x, F8, overflow="error")
    with pytest.raises(OverflowError):
        formats.quantize(np.float32([np.inf]), "int8", overflow="error")
    with pytest.raises(OverflowError):
        formats.encode(np.float32([128.0]), "int8", overflow="error")
    # in range: no error, even at the limits (−128 is an int8 value)
    assert formats.quantize(np.float32([-128.0, 127.4]), "int8", overflow="error").tolist() == [-128, 127]
    assert formats.quantize(np.float32([448.0, 460.0]), F8, overflow="error").tolist() == [448.0, 448.0]


def test_e8m0_zero_and_negative_are_out_of_range():
    """E8M0 has no zero and no sign: ±0 and negatives give NaN (as ml_dtypes), the smallest
    value 2^-127 with saturate, OverflowError with error; tiny positives round to 2^-127."""
    fmt = "float8_e8m0fnu"
    x = np.float32([0.0, -0.0, -1.0, 1e-40])
    q = formats.quantize(x, fmt)
    assert np.isnan(q[:3]).all() and q[3] == 2.0**-127
    assert (formats.quantize(x, fmt, overflow="saturate") == 2.0**-127).all()
    for bad in x[:3]:
        with pytest.raises(OverflowError):
            formats.quantize(np.float32([bad]), fmt, overflow="error")


def test_unsigned_int_negative_saturates_to_zero():
    assert formats.quantize(np.float32([-3.0, -0.2, -0.0, 20.0]), "uint4").tolist() == [0, 0, 0, 15]
    with pytest.raises(OverflowError):
        formats.quantize(np.float32([-3.0]), "uint4", overflow="error")


def test_signed_zero():
    x = np.float32([-0.0, -1e-9])
    assert np.signbit(formats.quantize(x, F8)).all()          # e4m3fn has −0
    assert not np.signbit(formats.quantize(x, "float8_e4m3fnuz")).any()  # fnuz: −0 is NaN
    assert formats.encode(x, "float8_e4m3fnuz").codes.tolist() == [0, 0]
    assert formats.encode(x, "int8").codes.tolist() == [0, 0]


# ----------------------------------------------------------------------- flush_subnormals
def _daz(x: np.ndarray) -> np.ndarray:
    tiny = np.finfo(x.dtype).smallest_normal
    return np.where(np.abs(x) < tiny, x * 0, x)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "float4_e2m1fn",
                                  "float8_e8m0fnu", "int4", "p3109_k8p3"])
@pytest.mark.parametrize("rounding", ["nearest_even", "up"])
def test_flush_subnormals_is_daz_then_round_then_ftz(name, dtype, rounding):
    """flush_subnormals = inputs subnormal in their own dtype become ±0 (DAZ), then exact
    rounding (the reference), then results below the smallest normal become ±0 (FTZ)."""
    fmt = formats.p3109(8, 3) if name == "p3109_k8p3" else formats.get(name)
    base = code_adjacent_inputs(fmt, "float64")
    with np.errstate(over="ignore"):
        x = base.astype(dtype)
    x = x[np.isfinite(x)]
    x = np.concatenate([x, np.array([1e-5, -3e-6, 2.0**-140, 2.0**-1070], dtype)])
    got = formats.quantize(x, fmt, rounding=rounding, flush_subnormals=True)
    want = []
    for v in _daz(x).astype(np.float64).tolist():
        r = ref_quantize(v, fmt, rounding)
        if abs(r) < fmt.smallest_normal:  # FTZ keeps the sign where the format has −0
            r = math.copysign(0.0, r) if fmt.family == "float" and fmt.has_negative_zero else 0.0
            if fmt.family == "float" and not fmt.has_zero:
                r = ref_quantize(0.0, fmt, rounding)
        want.append(r)
    with np.errstate(over="ignore"):  # in float16, E8M0's 65536 is Inf
        want = np.array(want).astype(dtype)
    ok = same_values(got, want)
    assert ok.all(), [(float(a), float(b), float(c)) for a, b, c in zip(x[~ok], got[~ok], want[~ok], strict=True)][:6]


# ---------------------------------------------------------------------------- stochastic
def test_stochastic_is_reproducible_for_a_key():
    x = np.linspace(-3, 3, 1001, dtype=np.float32)
    a = formats.quantize(x, F8, rounding="stochastic", key=42)
    b = formats.quantize(x, F8, rounding="stochastic", key=42)
    c = formats.quantize(x, F8, rounding="stochastic", key=43)
    d = formats.quantize(x, F8, rounding="stochastic", key=np.random.default_rng(42))
    assert np.array_equal(a, b) and np.array_equal(a, d) and not np.array_equal(a, c)
    qa = formats.encode(x, F8, rounding="stochastic", key=42)
    assert np.array_equal(formats.decode(qa), a)
    # every result is one of the two neighbours
    lo = formats.quantize(x, F8, rounding="down")
    hi = formats.quantize(x, F8, rounding="up")
    assert np.all((a == lo) | (a == hi))
    for nbits in (1, 8, 32):
        r = formats.quantize(x, F8, rounding="stochastic", key=1, random_bits=nbits)
        assert np.all((r == lo) | (r == hi))


def test_stochastic_one_random_bit():
    """With R = 1 random bit: frac < 1/4 never rounds away, frac > 3/4 always (RNE(2·frac) is
    0 resp. 2), frac in (1/4, 3/4) rounds away iff the bit is 1."""
    x = np.float32([1.0 + 0.1 * 0.125, 1.0 + 0.9 * 0.125] * 500)  # e4m3fn step at 1 is 1/8
    q = formats.quantize(x, F8, rounding="stochastic", key=0, random_bits=1)
    assert (q[0::2] == 1.0).all() and (q[1::2] == 1.125).all()
    q = formats.quantize(np.full(4000, 1.0625 - 0.01, np.float32), F8, rounding="stochastic", key=0,
                         random_bits=1)
    assert 0.4 < np.mean(q == 1.125) < 0.6


# ------------------------------------------------------------------------- dtypes, shapes
@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64],
                         ids=["float16", "bfloat16", "float32", "float64"])
def test_output_dtype_and_values_follow_input(dtype):
    x = (np.random.default_rng(0).standard_normal(500) * 30).astype(dtype)
    for name in (F8, "float4_e2m1fn", "int4", "bfloat16"):
        q = formats.quantize(x, name)
        assert q.dtype == x.dtype and q.shape == x.shape
        assert np.array_equal(q.astype(np.float64), formats.quantize(x.astype(np.float64), name))
        assert np.array_equal(formats.encode(x, name).codes, formats.encode(x.astype(np.float64), name).codes)


def test_shapes_and_layouts():
    a = (np.random.default_rng(1).standard_normal((6, 8)) * 10).astype(np.float32)
    for x in (a, a.T, a[::2, 1::3], a[0, 0], np.float32(2.2), np.zeros((0, 3), np.float32)):
        x = np.asarray(x)
        q = formats.quantize(x, F8)
        assert isinstance(q, np.ndarray) and q.shape == x.shape and q.dtype == np.float32
        assert np.array_equal(q, formats.quantize(x.copy(order="C"), F8))
        e = formats.encode(x, F8)
        assert e.shape == x.shape and np.asarray(e.codes).shape == x.shape
        assert e.codes.dtype == np.uint8
        d = formats.decode(e)
        assert isinstance(d, np.ndarray) and d.shape == x.shape
        assert np.array_equal(d, q)
    assert np.array_equal(formats.quantize([1.1, 2.6], "int4"), [1.0, 3.0])
    assert formats.quantize(2.6, "int4").shape == ()


def test_decode_dtypes():
    assert formats.decode(formats.encode(X, F8)).dtype == np.float32
    assert formats.decode(formats.encode(X, F8), dtype=np.float64).dtype == np.float64
    assert formats.encode(X, "bfloat16").codes.dtype == np.uint16
    q = formats.encode(np.float64([2.0**30 + 1, -(2.0**31)]), "int32")
    assert q.codes.dtype == np.uint32
    assert formats.decode(q).dtype == np.float64  # int32 values are not all float32 numbers
    assert formats.decode(q).tolist() == [2.0**30 + 1, -(2.0**31)]
    q = formats.encode(np.float64([1 / 3]), "float64")
    assert q.codes.dtype == np.uint64 and formats.decode(q).tolist() == [1 / 3]


def test_wide_formats_are_identity_or_ieee_casts():
    """float32 from float64 is NumPy's IEEE cast (RNE, overflow to Inf); float64 is exact."""
    rng = np.random.default_rng(2)
    bits = rng.integers(0, 2**64, size=20000, dtype=np.uint64)
    x = bits.view(np.float64)
    x = x[np.isfinite(x)]
    with np.errstate(over="ignore"):
        want = x.astype(np.float32)
    assert np.array_equal(formats.quantize(x, "float32").astype(np.float32), want)
    assert np.array_equal(formats.encode(x, "float32").codes, want.view(np.uint32))
    assert np.array_equal(formats.encode(x, "float64").codes, x.view(np.uint64))
    assert np.array_equal(encode_np(x, formats.get("float64")), x.view(np.uint64))


# ----------------------------------------------------- key= and explicit random bits (srbits=)
@pytest.mark.parametrize("bits,exc,match", [
    (np.int32([1, 2, 3]), TypeError, "unsigned"),           # signed integers
    (np.float32([0.1, 0.2, 0.3]), TypeError, "unsigned"),   # floats
    (np.array([True, False, True]), TypeError, "unsigned"),
    ([1, 2, 3], TypeError, "unsigned integer array"),       # not an array
    (np.uint8([1, 2]), ValueError, "broadcast"),             # wrong shape
    (np.uint8([[1], [2]]), ValueError, "broadcast"),          # broadcasts to (2, 3), not (3,)
    (np.uint8([1, 2, 64]), ValueError, "2\\*\\*6"),          # not below 2**random_bits
])
@pytest.mark.parametrize("fmt", [F8, "mxfp4", "posit8", "nf4", "lns8"])
def test_explicit_random_bits_are_validated_naming_srbits(fmt, bits, exc, match):
    for verb in (formats.quantize, formats.encode):
        with pytest.raises(exc, match="srbits") as info:
            verb(X, fmt, rounding="stochastic", srbits=bits, random_bits=6)
        assert info.match(match)


@pytest.mark.parametrize("key", [np.uint32([0, 0, 1]), np.uint8([1, 2, 3]), np.array(7, np.uint32),
                                 "seed", 1.5, True, [1, 2], np.random.default_rng],
                         ids=["uint32-bits", "uint8-bits", "0d-bits", "str", "float", "bool", "list", "function"])
@pytest.mark.parametrize("fmt", [F8, "mxfp4", "posit8"])
def test_key_takes_no_bits(fmt, key):
    """``key=`` is a seed, a generator or a JAX key: an array is a TypeError naming ``key`` that
    points at ``srbits=`` (an array key was once read as random bits)."""
    with pytest.raises(TypeError, match="key must be") as info:
        formats.quantize(X, fmt, rounding="stochastic", key=key)
    if isinstance(key, np.ndarray):
        assert info.match("srbits")


def test_key_and_srbits_are_exclusive():
    with pytest.raises(ValueError, match="either key= .* or srbits="):
        formats.quantize(X, F8, rounding="stochastic", key=1, srbits=np.uint8([1, 2, 3]))


def test_a_legacy_jax_key_is_a_key_not_bits():
    """``jax.random.PRNGKey(0)`` is a uint32 array of shape (2,): it draws as the typed key of the
    same data does, on JAX inputs — never read as two random words (which broadcast to a (2,)
    input and gave a silent wrong answer)."""
    import jax
    import jax.numpy as jnp

    x = jnp.linspace(-3.0, 3.0, 2, dtype=jnp.float32)  # the shape the two words broadcast to
    legacy = jax.random.PRNGKey(5)
    for verb in (formats.quantize, lambda *a, **k: formats.encode(*a, **k).codes):
        got = verb(x, F8, rounding="stochastic", key=legacy)
        want = verb(x, F8, rounding="stochastic", key=jax.random.wrap_key_data(legacy))
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    y = jnp.linspace(-3.0, 3.0, 4096, dtype=jnp.float32)
    a = formats.quantize(y, F8, rounding="stochastic", key=legacy)
    b = formats.quantize(y, F8, rounding="stochastic", key=jax.random.wrap_key_data(legacy))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    f = jax.jit(lambda v, k: formats.quantize(v, "mxfp4", rounding="stochastic", key=k))
    np.testing.assert_array_equal(np.asarray(f(y, legacy)),
                                  np.asarray(f(y, jax.random.wrap_key_data(legacy))))
    with pytest.raises(TypeError, match="srbits"):
        formats.quantize(y, F8, rounding="stochastic", key=jnp.zeros(4096, jnp.uint32))
    with pytest.raises(ValueError, match="key"):  # a generator draws NumPy bits only
        formats.quantize(y, F8, rounding="stochastic", key=np.random.default_rng(0))


def test_explicit_random_bits_are_the_randomness():
    """Every family uses the given bits as they are: the same bits, the same result; bits
    broadcast; all-zero bits never round a value away from its lower neighbour by chance
    (r = 0: away only when RNE(frac · 2^R) reaches 2^R), all-ones bits round away any fraction
    of at least 2^-(R+1)."""
    x = np.float32([1.01, 1.06, 1.11, -1.01, -1.06, -1.11])  # float8_e4m3fn: between 1 and 1.125
    R = 8
    zeros, ones = np.zeros(6, np.uint8), np.full(6, 255, np.uint8)
    lo = formats.quantize(x, F8, rounding="stochastic", srbits=zeros, random_bits=R)
    hi = formats.quantize(x, F8, rounding="stochastic", srbits=ones, random_bits=R)
    assert lo.tolist() == formats.quantize(x, F8, rounding="toward_zero").tolist()
    assert np.abs(hi).tolist() == [1.125] * 6
    # a 0-d array is bits for every element
    assert formats.quantize(x, F8, rounding="stochastic", srbits=np.array(255, np.uint8),
                            random_bits=R).tolist() == hi.tolist()
    for fmt in ("mxfp4", "nvfp4", "posit8", "lns8", "nf4", "ternary_absmean", "luq4",
                formats.ScaledIntFormat(formats.get("int4"), "group", 32)):
        y = np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)
        b = np.random.default_rng(2).integers(0, 256, (2, 64), dtype=np.uint8)
        a1 = formats.quantize(y, fmt, rounding="stochastic", srbits=b)
        a2 = formats.quantize(y.copy(), fmt, rounding="stochastic", srbits=b.copy())
        assert np.array_equal(a1, a2)
        # the bits of one element decide that element only: changing one bit changes at most it
        b2 = b.copy()
        b2[0, 5] ^= 0x80
        a3 = formats.quantize(y, fmt, rounding="stochastic", srbits=b2)
        changed = np.argwhere(a3 != a1).tolist()
        assert changed in ([], [[0, 5]]), (fmt, changed)


# ------------------------------------------------------------------ one table of mode IDs
def test_mode_ids_are_one_read_only_table():
    assert list(formats.ROUNDING_IDS) == list(formats.ROUNDINGS)
    assert list(formats.OVERFLOW_IDS) == [o for o in formats.OVERFLOWS if o is not None]
    assert list(formats.SPECIAL_IDS) == list(formats.SPECIALS)
    assert list(formats.SCALE_RULE_IDS) == list(formats.SCALE_RULES)
    import typing

    from lowbit.formats.core._modes import Overflow, Rounding  # the type hints of the verbs

    assert typing.get_args(Rounding) == formats.ROUNDINGS
    assert typing.get_args(Overflow) == formats.OVERFLOWS[1:]
    for table in (formats.ROUNDING_IDS, formats.OVERFLOW_IDS, formats.SPECIAL_IDS, formats.SCALE_RULE_IDS):
        assert sorted(table.values()) == list(range(len(table)))
        with pytest.raises(TypeError):
            table["new"] = 99  # type: ignore[index]


def _literal_mode_tables(path):
    """Dict literals in ``path`` that map two or more mode names to int constants."""
    import ast

    names = set(formats.ROUNDINGS) | {o for o in formats.OVERFLOWS if o} | set(formats.SPECIALS) \
        | set(formats.SCALE_RULES)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict) and len(node.keys) >= 2 and all(
                isinstance(k, ast.Constant) and k.value in names for k in node.keys) and all(
                isinstance(v, ast.Constant) and type(v.value) is int for v in node.values):
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_no_kernel_numbers_modes_itself(tmp_path):
    """Every kernel (scalar, block, L-Mul, the GEMM accumulator) takes its mode IDs from the one
    table: no other module writes a name → int table of rounding, overflow, special-value or
    scale-rule modes."""
    import pathlib

    root = pathlib.Path(formats.__file__).resolve().parents[1]
    bad = [hit for pkg in ("formats", "simulator", "hwmodels") for p in sorted((root / pkg).rglob("*.py"))
           for hit in _literal_mode_tables(p)]
    assert not bad, bad
    # positive control: the scan finds such a table
    probe = tmp_path / "probe.py"
    probe.write_text('T = {"saturate": 0, "inf": 1}\n')
    assert _literal_mode_tables(probe)


def test_gemm_kernel_reads_the_shared_ids():
    """simulator.matmul's compiled accumulation kernel and the vectorized path agree on every
    overflow policy and rounding mode (their IDs come from formats' table, whose overflow order
    is the reverse of the kernel's old private one)."""
    from lowbit import simulator
    from lowbit.formats.backend import numba_policy

    a = np.array([[60000.0, 60000.0, -1.0, 3.0]], np.float32)
    b = np.array([[1.0], [1.0], [1.0], [2.0 ** -12]], np.float32)
    for overflow in (None, "saturate", "inf", "nan"):
        for rounding in ("nearest_even", "toward_zero", "up", "down", "odd", "nearest_away"):
            acc = simulator.Accumulator("float16", rounding=rounding, overflow=overflow)
            with numba_policy("always"):
                fast = simulator.matmul(a, b, accumulator=acc)
            with numba_policy("never"):
                vec = simulator.matmul(a, b, accumulator=acc)
            ref = simulator.matmul(a, b, accumulator=acc, backend="reference")
            assert same_values(fast, ref).all() and same_values(vec, ref).all(), (overflow, rounding, fast, ref)
