"""QArray is validated where it is built: format, shape, codes (integer dtype, range of the
format's width, layout for the shape), scales and tensor scale per family — with errors that
name the field. Every encoder's output passes the checks (rebuilt field by field, it decodes
the same)."""

from __future__ import annotations

import numpy as np
import pytest
from _fmt_helpers import same_values

from lowbit import formats
from lowbit.formats import QArray

F8 = formats.get("float8_e4m3fn")


# ------------------------------------------------------------------------- scalar formats
def test_code_out_of_range_is_a_value_error_naming_codes():
    """Code 300 of an 8-bit format raised a bare IndexError at decode; −1 decoded to NaN."""
    for bad in (np.uint16([1, 300]), np.int64([-1, 3]), [0, 256]):
        with pytest.raises(ValueError, match="codes"):
            QArray(codes=bad, format=F8, shape=(2,))
    with pytest.raises(ValueError, match="codes"):
        QArray(codes=np.uint32([1 << 16]), format="float16", shape=(1,))
    with pytest.raises(ValueError, match="codes"):
        QArray(codes=np.uint8([16]), format="float4_e2m1fn", shape=(1,))


@pytest.mark.parametrize("codes", [np.float32([1, 2]), np.array([True, False]), np.complex64([1, 2]),
                                   np.array(["a", "b"]), np.array([1, 2], dtype=object)])
def test_non_integer_codes_are_a_type_error_naming_codes(codes):
    with pytest.raises(TypeError, match="codes"):
        QArray(codes=codes, format=F8, shape=(2,))


def test_codes_shape_must_match_shape():
    """A codes/shape mismatch decoded to the wrong shape."""
    with pytest.raises(ValueError, match="codes"):
        QArray(codes=np.uint8([1, 2, 3]), format=F8, shape=(4,))
    with pytest.raises(ValueError, match="codes"):
        QArray(codes=np.uint8([[1, 2], [3, 4]]), format=F8, shape=(4,))


@pytest.mark.parametrize("shape,exc", [((2.0,), TypeError), ((-1,), ValueError), ("ab", TypeError),
                                       (None, TypeError)])
def test_bad_shape_names_shape(shape, exc):
    with pytest.raises(exc, match="shape"):
        QArray(codes=np.uint8([1, 2]), format=F8, shape=shape)


def test_format_must_be_a_record_or_a_name():
    with pytest.raises(TypeError, match="format"):
        QArray(codes=np.uint8([1]), format=3, shape=(1,))
    with pytest.raises(KeyError, match="float8_e4m3fm"):
        QArray(codes=np.uint8([1]), format="float8_e4m3fm", shape=(1,))
    q = QArray(codes=np.uint8([0x38]), format="float8_e4m3fn", shape=(1,))
    assert q.format == F8 and formats.decode(q).tolist() == [1.0]


def test_scalar_formats_have_no_scales():
    with pytest.raises(ValueError, match="scales"):
        QArray(codes=np.uint8([1]), format=F8, shape=(1,), scales=np.uint8([1]))
    with pytest.raises(ValueError, match="tensor_scale"):
        QArray(codes=np.uint8([1]), format="posit8", shape=(1,), tensor_scale=np.float32(1))


def test_signed_and_list_codes_become_unsigned_codes():
    q = QArray(codes=[0x38, 0xB8], format=F8, shape=(2,))
    assert q.codes.dtype == np.uint8 and formats.decode(q).tolist() == [1.0, -1.0]
    q = QArray(codes=np.int16([0x38]), format=F8, shape=(1,))
    assert q.codes.dtype == np.uint8
    big = QArray(codes=np.uint32([0x38]), format=F8, shape=(1,))  # a wider unsigned dtype stays
    assert big.codes.dtype == np.uint32 and formats.decode(big).tolist() == [1.0]


# -------------------------------------------------------------------------- block layouts
def _mx():
    x = np.random.default_rng(0).standard_normal((3, 70)).astype(np.float32)
    return x, formats.encode(x, "mxfp4")


def _rebuild(q, **kw):
    f = dict(codes=q.codes, format=q.format, shape=q.shape, scales=q.scales, tensor_scale=q.tensor_scale,
             axis=q.axis, meta=q.meta)
    f.update(kw)
    return QArray(**f)


def test_block_layout_is_checked():
    x, q = _mx()
    assert q.codes.shape == (3, 3, 32)
    with pytest.raises(ValueError, match="codes"):
        _rebuild(q, codes=q.codes[:, :2])
    with pytest.raises(ValueError, match="codes"):
        _rebuild(q, shape=(3, 100))  # 4 blocks of 32 would be needed
    with pytest.raises(ValueError, match="codes"):
        _rebuild(q, codes=q.codes.astype(np.uint16) + 16)  # 4-bit element codes
    with pytest.raises(ValueError, match="scales"):
        _rebuild(q, scales=None)
    with pytest.raises(ValueError, match="scales"):
        _rebuild(q, scales=q.scales[:, :2])
    with pytest.raises(ValueError, match="scales"):
        _rebuild(q, scales=q.scales.astype(np.uint16) + 256)
    with pytest.raises(TypeError, match="scales"):
        _rebuild(q, scales=q.scales.astype(np.float32))
    with pytest.raises(ValueError, match="axis"):
        _rebuild(q, axis=2)
    with pytest.raises(ValueError, match="tensor_scale"):
        _rebuild(q, tensor_scale=np.float32(1))
    assert _rebuild(q, axis=-1).axis == 1  # normalised
    nv = formats.encode(x, "nvfp4")
    with pytest.raises(ValueError, match="tensor_scale"):
        _rebuild(nv, tensor_scale=None)
    with pytest.raises(TypeError, match="tensor_scale"):
        _rebuild(nv, tensor_scale=np.int32(1))


def test_scaled_int_and_codebook_layouts_are_checked():
    x = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    f = formats.ScaledIntFormat(formats.get("int4"), "group", 32, symmetric=False)
    q = formats.encode(x, f)
    with pytest.raises(ValueError, match="scales"):
        _rebuild(q, scales=q.scales[0])
    with pytest.raises(ValueError, match=r"scales\[1\]"):
        _rebuild(q, scales=(q.scales[0], None))
    with pytest.raises(ValueError, match=r"scales\[1\]"):
        _rebuild(q, scales=(q.scales[0], q.scales[1].astype(np.uint8) + 16))
    ch = formats.encode(x, formats.ScaledIntFormat(formats.get("int8"), "channel"), axis=0)
    with pytest.raises(ValueError, match=r"scales\[0\]"):
        _rebuild(ch, scales=(ch.scales[0][:3], None))
    cb = formats.encode(x, "nf4")
    with pytest.raises(ValueError, match="scales"):
        _rebuild(cb, scales=None)
    with pytest.raises(ValueError, match="codes"):
        _rebuild(cb, codes=cb.codes.astype(np.uint8) + 16)
    t = formats.encode(x, "ternary_absmean")
    with pytest.raises(ValueError, match="codes"):
        _rebuild(t, codes=np.full(t.codes.shape, 4, np.uint8))  # beyond the 2-bit codes
    with pytest.raises(ValueError, match="scales"):
        _rebuild(t, scales=np.zeros(2, np.uint32))


def test_luq_and_lattice_layouts_are_checked():
    x = np.random.default_rng(2).standard_normal((2, 16)).astype(np.float32)
    q = formats.encode(x, "luq4")
    with pytest.raises(ValueError, match="tensor_scale"):
        _rebuild(q, tensor_scale=None)
    lat = formats.encode(x, "nestquant_e8_q14")
    assert lat.codes.shape == (2, 2, 8)
    with pytest.raises(ValueError, match="codes"):
        _rebuild(lat, codes=lat.codes[:, :1])
    with pytest.raises(ValueError, match="codes"):
        _rebuild(lat, codes=np.full(lat.codes.shape, 16, np.uint8))  # 4-bit codes
    with pytest.raises(ValueError, match="scales"):
        _rebuild(lat, scales=np.full(lat.scales.shape, 4, np.uint8))  # 4 betas: indices 0..3
    with pytest.raises(ValueError, match="tensor_scale"):
        _rebuild(lat, tensor_scale=np.ones(3, np.float32))


# ----------------------------------------------------------- every encoder's output passes
def _all_formats():
    fmts = [f for f in formats.select() if f.family not in ("int",) or f.bits in (1, 4, 8, 32)]
    S = formats.ScaledIntFormat
    fmts += [S(formats.get("int8"), "channel", name="sint8_channel"),
             S(formats.get("uint4"), "group", 32, symmetric=False, name="uint4_g32"),
             S(formats.get("int4"), "group", 32, scale=formats.get("uint8"), name="int4_g32_2level"),
             S(formats.get("int8"), "tensor", scale=formats.get("float8_e8m0fnu"), name="sint8_e8m0")]
    return fmts


ALL = _all_formats()


@pytest.mark.parametrize("fmt", ALL, ids=[f.name for f in ALL])
def test_every_encoder_output_is_a_valid_qarray(fmt):
    x = np.random.default_rng(3).standard_normal((3, 40)) * 2
    if getattr(fmt, "signed", True) is False:
        x = np.abs(x)
    for xx, axis in ((x.astype(np.float32), -1), (x, 0), (np.float64(1.5), -1)):
        q = formats.encode(xx, fmt, axis=axis)
        r = _rebuild(q)
        assert same_values(formats.decode(r), formats.decode(q)).all()
