"""Sub-byte packing: round trips, the documented layout, sizes and errors."""

from __future__ import annotations

import numpy as np
import pytest

from lowbit import formats
from lowbit.formats import pack_codes, pack_trits, unpack_codes, unpack_trits


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 19, 24, 32, 64])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 100])
def test_round_trip(bits, count):
    rng = np.random.default_rng(bits * 1000 + count)
    codes = rng.integers(0, 2**bits, size=count, dtype=np.uint64)
    packed = pack_codes(codes, bits)
    assert packed.dtype == np.uint8 and packed.size == -(-count * bits // 8)
    out = unpack_codes(packed, bits, count)
    assert out.tolist() == codes.tolist()
    want_dtype = np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32 if bits <= 32 else np.uint64
    assert out.dtype == want_dtype


def test_layout():
    # two 4-bit codes per byte, low nibble first; the last byte zero-padded
    assert pack_codes([0x1, 0x2, 0x3], 4).tolist() == [0x21, 0x03]
    # four 6-bit codes in three bytes: a | b << 6 | c << 12 | d << 18, little endian
    v = 1 | 2 << 6 | 3 << 12 | 4 << 18
    assert pack_codes([1, 2, 3, 4], 6).tolist() == [v & 0xFF, v >> 8 & 0xFF, v >> 16]
    assert pack_codes([0, 1, 0, 0], 6).tolist() == [0x40, 0x00, 0x00]
    assert pack_codes([1, 2, 3, 4, 5], 6).size == 4
    # eight 1-bit codes per byte, first code in bit 0; four 2-bit codes per byte
    assert pack_codes([1, 0, 0, 0, 0, 0, 0, 1, 1], 1).tolist() == [0x81, 0x01]
    assert pack_codes([1, 2, 3, 0], 2).tolist() == [1 | 2 << 2 | 3 << 4]
    # whole-byte widths are little-endian
    assert pack_codes([0x1234], 16).tolist() == [0x34, 0x12]
    assert pack_codes(np.uint8([7, 8]), 8).tolist() == [7, 8]


def test_errors():
    with pytest.raises(ValueError, match="fit"):
        pack_codes([16], 4)
    for bits in (0, 65, True, 4.0):
        with pytest.raises(ValueError, match="bits"):
            pack_codes([1], bits)
    with pytest.raises(ValueError, match="integer"):
        pack_codes(np.float32([1.0]), 4)
    with pytest.raises(ValueError, match="bytes"):
        unpack_codes(np.uint8([1]), 4, 3)


@pytest.mark.parametrize("name,count,nbytes", [
    ("float4_e2m1fn", 5, 3), ("float6_e3m2fn", 4, 3), ("float6_e2m3fn", 5, 4),
    ("float8_e4m3fn", 7, 7), ("int2", 9, 3), ("int1", 17, 3), ("bfloat16", 3, 6), ("int4", 0, 0),
])
def test_qarray_pack_and_nbytes(name, count, nbytes):
    x = (np.random.default_rng(count).standard_normal(count) * 3).astype(np.float32)
    q = formats.encode(x, name)
    packed = q.pack()
    assert q.nbytes == nbytes == packed.size
    assert unpack_codes(packed, q.format.bits, count).tolist() == np.asarray(q.codes).ravel().tolist()


def test_qarray_pack_is_row_major():
    x = np.float32([[1, 2, 3], [4, 6, 0.5]])
    q = formats.encode(x, "float4_e2m1fn")
    assert q.pack().tolist() == pack_codes(q.codes.ravel(), 4).tolist()
    assert q.pack().tolist() == [0x2 | 0x4 << 4, 0x5 | 0x6 << 4, 0x7 | 0x1 << 4]


def test_trit_layout_and_round_trip():
    # five trits per byte, base 3, the first trit least significant; the last byte zero-padded
    assert pack_trits([0, 1, 2, 2, 1]).tolist() == [0 + 1 * 3 + 2 * 9 + 2 * 27 + 1 * 81]
    assert pack_trits([2] * 5 + [1]).tolist() == [242, 1]
    assert pack_trits(np.uint8([])).tolist() == []
    for count in (0, 1, 4, 5, 6, 99, 100):
        t = np.random.default_rng(count).integers(0, 3, size=count, dtype=np.uint8)
        p = pack_trits(t)
        assert p.dtype == np.uint8 and p.size == -(-count // 5)
        assert unpack_trits(p, count).tolist() == t.tolist()


def test_trit_errors():
    with pytest.raises(ValueError, match="ternary"):
        pack_trits([0, 3])
    with pytest.raises(ValueError, match="integer"):
        pack_trits(np.float32([1.0]))
    with pytest.raises(ValueError, match="242"):
        unpack_trits(np.uint8([243]), 5)
    with pytest.raises(ValueError, match="bytes"):
        unpack_trits(np.uint8([1]), 6)


def test_bad_counts_and_negative_codes_name_the_parameter():
    # a negative count returned no codes, a float count raised a bare TypeError
    for bad in (-3, 2.5, True, "4"):
        with pytest.raises(ValueError, match="count"):
            unpack_codes(np.uint8([1, 2]), 4, bad)
        with pytest.raises(ValueError, match="count"):
            unpack_trits(np.uint8([1, 2]), bad)
    with pytest.raises(ValueError, match="codes"):
        pack_codes(np.int8([-1]), 4)
    with pytest.raises(ValueError, match="codes"):
        pack_codes(np.uint8([16]), 4)
