"""Dense sub-byte packing of codes.

Layout: codes are laid end to end as a little-endian bit stream: code i occupies bits
[i·w, (i+1)·w) of the stream, and stream bit j is bit (j mod 8) of byte j // 8. So two 4-bit
codes per byte go low nibble first, and four 6-bit codes fill three bytes. The final byte is
zero-padded.

Ternary codes (0, 1, 2: three-level codebooks) pack five per byte (3^5 = 243 ≤ 256, 1.6 bits
per code): byte j = t[5j] + 3·t[5j+1] + 9·t[5j+2] + 27·t[5j+3] + 81·t[5j+4] (base 3, first
trit least significant), the last byte padded with zero trits.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._backend import code_dtype

__all__ = ["pack_codes", "unpack_codes", "pack_trits", "unpack_trits", "pack_format_codes"]


def _check_width(bits):
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 64:
        raise ValueError(f"bits must be an int in [1, 64], got {bits!r}")


def pack_codes(codes: ArrayLike, bits: int) -> np.ndarray:
    """Pack unsigned ``codes`` (any integer array, flattened) of width ``bits`` into uint8.

    Returns:
        uint8 array of ``ceil(len(codes) * bits / 8)`` bytes.

    Raises:
        ValueError: if ``bits`` is not in [1, 64] or a code does not fit in ``bits``.
    """
    _check_width(bits)
    codes = np.asarray(codes).ravel()
    if codes.dtype.kind not in "ui":
        raise ValueError(f"codes must be an integer array, got dtype {codes.dtype}")
    c = codes.astype(np.uint64)
    if codes.dtype.kind == "i" and codes.size and int(codes.min()) < 0:
        raise ValueError(f"codes must be non-negative, got {int(codes.min())}")
    if c.size and (bits < 64 and int(c.max()) >> bits):
        raise ValueError(f"codes: a code does not fit in bits={bits} (got {int(c.max())})")
    if bits in (8, 16, 32, 64):
        return c.astype(f"<u{bits // 8}").view(np.uint8).copy()
    return _pack_generic(c, bits)


def _pack_generic(c: np.ndarray, bits: int) -> np.ndarray:
    shifts = np.arange(bits, dtype=np.uint64)
    stream = ((c[:, None] >> shifts[None, :]) & np.uint64(1)).astype(np.uint8).ravel()
    pad = (-stream.size) % 8
    if pad:
        stream = np.concatenate([stream, np.zeros(pad, np.uint8)])
    return np.packbits(stream, bitorder="little")


def unpack_codes(data: ArrayLike, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: ``count`` codes of width ``bits`` from bytes ``data``.

    Returns:
        the smallest unsigned dtype holding ``bits`` (uint8/16/32/64).

    Raises:
        ValueError: if ``count`` is not a non-negative int or ``data`` is too short.
    """
    _check_width(bits)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    data = np.asarray(data, dtype=np.uint8).ravel()
    need = -(-count * bits // 8)
    if data.size < need:
        raise ValueError(f"data holds {data.size} bytes, {need} needed for {count} codes of {bits} bits")
    out_dtype = code_dtype(bits)
    if bits in (8, 16, 32, 64):
        return data[:need].view(f"<u{bits // 8}").astype(out_dtype)
    stream = np.unpackbits(data[:need], bitorder="little")[: count * bits].reshape(count, bits)
    weights = (np.uint64(1) << np.arange(bits, dtype=np.uint64))
    return (stream.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64).astype(out_dtype)


_POW3 = np.array([1, 3, 9, 27, 81], dtype=np.uint8)


def pack_trits(codes: ArrayLike) -> np.ndarray:
    """Pack ternary ``codes`` (integers 0, 1, 2; flattened) five per byte, base 3.

    Returns:
        uint8 array of ``ceil(len(codes) / 5)`` bytes.

    Raises:
        ValueError: if ``codes`` is not an integer array or holds a value above 2.
    """
    c = np.asarray(codes).ravel()
    if c.dtype.kind not in "ui":
        raise ValueError(f"codes must be an integer array, got dtype {c.dtype}")
    if c.size and (int(c.max()) > 2 or int(c.min()) < 0):
        raise ValueError("ternary codes must be 0, 1 or 2")
    pad = (-c.size) % 5
    t = np.concatenate([c.astype(np.uint8), np.zeros(pad, np.uint8)]).reshape(-1, 5)
    return (t * _POW3).sum(axis=1, dtype=np.uint8)


def unpack_trits(data: ArrayLike, count: int) -> np.ndarray:
    """Inverse of :func:`pack_trits`: ``count`` ternary codes (uint8) from bytes ``data``.

    Raises:
        ValueError: if ``count`` is not a non-negative int, or ``data`` is too short or holds a
            byte above 242.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    data = np.asarray(data, dtype=np.uint8).ravel()
    need = -(-count // 5)
    if data.size < need:
        raise ValueError(f"data holds {data.size} bytes, {need} needed for {count} ternary codes")
    d = data[:need]
    if d.size and int(d.max()) > 242:
        raise ValueError("a byte above 242 (3^5 - 1) is not five packed trits")
    return ((d[:, None] // _POW3[None, :]) % 3).astype(np.uint8).ravel()[:count]


def pack_format_codes(codes, fmt) -> np.ndarray:
    """The element codes of format ``fmt`` packed as :meth:`QArray.pack` stores them: five
    trits per byte for three-level codebooks (``fmt.code_bits == 1.6``), else
    :func:`pack_codes` at ``fmt.bits``."""
    if getattr(fmt, "code_bits", None) == 1.6:
        return pack_trits(codes)
    return pack_codes(codes, fmt.bits)
