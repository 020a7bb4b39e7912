"""Input kinds every verb accepts, for every format family: non-native byte order (NumPy, Numba,
block, scaled, codebook, posit, LNS, lattice, L-Mul paths), Python lists and scalars, 0-d arrays,
and the output dtypes of ``decode`` (float only, correctly rounded).

Expected values come from the same verbs on native-order float arrays (tested against the
reference libraries elsewhere) or, for the decode dtypes, from exact values rounded by hand."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from _fmt_helpers import same_values
from gfloat import RoundMode, round_ndarray
from gfloat import formats as gff

from lowbit import formats
from lowbit.formats.backend import NUMBA_THRESHOLDS


def _representatives():
    """The first registered format of every family, plus the variants with their own code
    paths (two-level NVFP4, MXINT8, wide posits/LNS, LUQ, ternary, unsigned, scaled integers)."""
    seen, reps = set(), []
    for f in formats.select():
        if f.family not in seen:
            seen.add(f.family)
            reps.append(f)
    for n in ("nvfp4", "mxint8", "msfp12", "float8_e8m0fnu", "float16", "bfloat16", "int4", "uint8",
              "posit16", "lns16", "pot4", "luq4", "ternary_absmean", "nestquant_e8_q14"):
        if formats.get(n) not in reps:
            reps.append(formats.get(n))
    S = formats.ScaledIntFormat
    reps += [S(formats.get("int8"), "tensor", name="sint8_tensor"),
             S(formats.get("int8"), "channel", name="sint8_channel"),
             S(formats.get("uint4"), "group", 32, symmetric=False, name="uint4_g32_asym"),
             S(formats.get("int4"), "group", 32, scale=formats.get("uint8"), name="int4_g32_2level")]
    return reps


REPS = _representatives()
IDS = [f.name for f in REPS]
BIG = (64, 640)  # 40960 elements: above the codec's Numba threshold (and L-Mul's for 2 operands)
assert BIG[0] * BIG[1] >= NUMBA_THRESHOLDS["codec"]


def _data(shape, dtype, seed=0, fmt=None):
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    if fmt is not None and getattr(fmt, "signed", True) is False:
        x = np.abs(x)  # unsigned formats: negative inputs are out of range (tested elsewhere)
    return x.astype(dtype)


# ------------------------------------------------------------------------------ byte order
@pytest.mark.parametrize("shape", [(4, 40), BIG], ids=["small", "numba"])
@pytest.mark.parametrize("dtype", [">f2", ">f4", ">f8"])
@pytest.mark.parametrize("fmt", REPS, ids=IDS)
def test_non_native_byte_order_gives_the_native_results(fmt, dtype, shape):
    """quantize(np.array([1., 2., 3.], '>f4'), 'float8_e4m3fn') returned [0, 0, 0]: every path
    read the big-endian bytes as native ones."""
    x = _data(shape, dtype, fmt=fmt)
    xn = x.astype(x.dtype.newbyteorder("="))
    assert not x.dtype.isnative and np.array_equal(x, xn)
    got = formats.quantize(x, fmt)
    want = formats.quantize(xn, fmt)
    assert got.dtype == x.dtype  # the input's dtype, byte order included
    assert same_values(got, want).all()
    q, qn = formats.encode(x, fmt), formats.encode(xn, fmt)
    assert np.array_equal(q.codes, qn.codes) and q.codes.dtype.isnative
    assert same_values(formats.decode(q), formats.decode(qn)).all()


def test_the_issue_example():
    got = formats.quantize(np.array([1.0, 2.0, 3.0], ">f4"), "float8_e4m3fn")
    assert got.tolist() == [1.0, 2.0, 3.0] and got.dtype == np.dtype(">f4")


@pytest.mark.parametrize("fmt", ["float16", "bfloat16", "posit16", "lns16", "float8_e4m3fn", "int8"])
def test_non_native_codes_decode_like_native_codes(fmt):
    fmt = formats.get(fmt)
    x = _data(1000, np.float32, 3)
    q = formats.encode(x, fmt)
    for order in (">", "<"):
        c = q.codes.astype(np.dtype(f"{order}u2"))
        qb = formats.QArray(codes=c, format=fmt, shape=q.shape)
        assert qb.codes.dtype.isnative and np.array_equal(qb.codes, q.codes)
        assert same_values(formats.decode(qb), formats.decode(q)).all()


def test_non_native_block_scale_codes():
    x = _data((3, 64), np.float32, 4)
    q = formats.encode(x, "mxfp4")
    qb = formats.QArray(codes=q.codes.astype(">u2"), format=q.format, shape=q.shape,
                        scales=q.scales.astype(">u2"), axis=q.axis, meta=q.meta)
    assert same_values(formats.decode(qb), formats.decode(q)).all()


@pytest.mark.parametrize("n", [10, 70000], ids=["numpy", "numba"])
def test_lmul_non_native_codes_and_inputs(n):
    a = np.linspace(-3, 3, n)
    b = np.linspace(0.5, 2, n)
    for fmt in ("bfloat16", "float8_e4m3fn"):
        ca, cb = formats.encode(a, fmt).codes, formats.encode(b, fmt).codes
        want = formats.lmul_codes(ca, cb, fmt)
        got = formats.lmul_codes(ca.astype(">u2"), cb.astype(">u2"), fmt)
        assert np.array_equal(got, want)
        vw = formats.lmul(a.astype(np.float32), b.astype(np.float32), fmt)
        vg = formats.lmul(a.astype(">f4"), b.astype(">f4"), fmt)
        assert same_values(vg, vw).all()


def test_lmul_codes_out_of_range_are_rejected():
    with pytest.raises(ValueError, match="ca"):
        formats.lmul_codes(np.uint16([300]), np.uint16([1]), "float8_e4m3fn")
    with pytest.raises(TypeError, match="cb"):
        formats.lmul_codes(np.uint8([1]), np.float32([1]), "float8_e4m3fn")


def test_decode_to_a_non_native_dtype():
    q = formats.encode(np.float32([1.5, -2.0]), "float8_e4m3fn")
    out = formats.decode(q, dtype=">f4")
    assert out.dtype == np.dtype(">f4") and out.tolist() == [1.5, -2.0]


# ------------------------------------------------------------------------ lists and scalars
LIST = [1.0, 2.5, -3.0, 0.1, 0.2, 0.3, 0.4, 0.5]


@pytest.mark.parametrize("fmt", REPS, ids=IDS)
def test_lists_python_floats_and_0d_arrays(fmt):
    """Lists and Python floats become float64 arrays, for every family (LUQ and the nested
    lattice formats raised AttributeError); a 0-d input is one element (one block)."""
    lst = [abs(v) for v in LIST] if getattr(fmt, "signed", True) is False else LIST
    arr = np.array(lst)
    for verb in ("quantize", "encode"):
        got = getattr(formats, verb)(lst, fmt)
        want = getattr(formats, verb)(arr, fmt)
        if verb == "quantize":
            assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (8,)
            assert same_values(got, want).all()
        else:
            assert got.shape == (8,) and np.array_equal(np.asarray(got.codes), np.asarray(want.codes))
            assert same_values(formats.decode(got), formats.decode(want)).all()
    one = formats.quantize(np.array([lst[1]]), fmt)
    one_dec = formats.decode(formats.encode(np.array([lst[1]]), fmt))
    for scalar in (lst[1], np.array(lst[1]), np.float64(lst[1])):
        got = formats.quantize(scalar, fmt)
        assert isinstance(got, np.ndarray) and got.shape == () and same_values(got, one[0])
        q = formats.encode(scalar, fmt)
        dec = formats.decode(q)
        assert q.shape == () and isinstance(dec, np.ndarray) and same_values(dec, one_dec[0])
    if fmt.family == "lattice":
        with pytest.raises(ValueError, match="vector"):
            formats.values(fmt)
    else:
        v = formats.values(fmt)
        assert isinstance(v, np.ndarray) and v.dtype == np.float64


# --------------------------------------------------------------------------- decode dtypes
@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.uint8, bool, np.complex64, object, "U4",
                                   "int16", "datetime64[s]", "not-a-dtype"])
@pytest.mark.parametrize("fmt", ["mxfp4", "float8_e4m3fn", "posit8", "lns8", "nf4", "luq4",
                                 "nestquant_e8_q16"])
def test_decode_rejects_non_float_dtypes(fmt, dtype):
    """decode(q, dtype=int32) of MXFP4's 0.5 gave 0 (a silent cast)."""
    q = formats.encode(np.float32([0.5, 1.0, -3.0, 0.25, 2.0, 6.0, 0.0, 1.5]), fmt)
    with pytest.raises(ValueError, match="dtype"):
        formats.decode(q, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64, "float32",
                                   "bfloat16"])
@pytest.mark.parametrize("fmt", ["mxfp4", "float8_e4m3fn", "posit8", "nf4", "int8", "ternary_absmean"])
def test_decode_float_dtypes(fmt, dtype):
    x = np.float32([0.5, 1.0, -3.0, 0.25, 2.0, 6.0, 0.0, 1.5])
    q = formats.encode(x, fmt)
    got = formats.decode(q, dtype=dtype)
    assert got.dtype == np.dtype(dtype)
    exact = formats.decode(q, dtype=np.float64)
    # the exact values rounded once to the dtype, by gfloat
    fi = {"float16": gff.format_info_binary16, "bfloat16": gff.format_info_bfloat16,
          "float32": gff.format_info_binary32, "float64": None}[np.dtype(dtype).name]
    want = exact if fi is None else round_ndarray(fi, exact, RoundMode.TiesToEven)
    assert same_values(got.astype(np.float64), want).all()


def test_decode_rounds_once_to_narrow_dtypes():
    """Known answers: values just above a midpoint of the narrow dtype round up; rounding
    through float32 first would land on the midpoint and round to even (down)."""
    f64 = formats.get("float64")
    v = 1 + 2.0**-8 + 2.0**-40  # bfloat16 (7 mantissa bits): midpoint 1 + 2^-8, then above
    h = 1 + 2.0**-11 + 2.0**-40  # float16 (10 mantissa bits): midpoint 1 + 2^-11, then above
    q = formats.encode(np.array([v, -v, h]), f64)
    bf = formats.decode(q, dtype=ml_dtypes.bfloat16).astype(np.float64)
    assert bf.tolist()[:2] == [1 + 2.0**-7, -(1 + 2.0**-7)]
    assert formats.decode(q, dtype=np.float16).astype(np.float64)[2] == 1 + 2.0**-10
    # overflow of the narrow dtype: ±Inf, as an IEEE conversion
    big = formats.encode(np.array([1e6, -1e6]), f64)
    assert formats.decode(big, dtype=np.float16).tolist() == [math.inf, -math.inf]
