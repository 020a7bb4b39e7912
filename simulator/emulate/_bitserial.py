"""Functional model of bit-serial GEMM: bit-plane decomposition and shift-add accumulation.

An integer operand of p bits is the weighted sum of its bit planes: unsigned
x = Σ_i 2^i x_i, two's complement x = −2^(p−1) x_(p−1) + Σ_(i<p−1) 2^i x_i, with x_i ∈ {0, 1}.
A bit-serial engine processes one plane per step and shifts-and-adds the plane results:

* ``serial="a"`` (activations serial, weights parallel — Stripes, Judd et al. MICRO 2016):
  y = Σ_i w_i (A_i @ B), p_a plane steps, time ∝ p_a;
* ``serial="b"``: the same with the weights' planes (e.g. weight-serial engines);
* ``serial="both"`` (both serial — Loom, Sharma et al. arXiv 1706.07853; bit-level products
  as in Bit Fusion's bit bricks): y = Σ_i Σ_j w_i w_j (A_i @ B_j), p_a·p_b plane steps of
  AND + popcount.

The result equals the integer GEMM exactly (int64, or wrapped into an integer accumulator: the
shift-add of two's-complement hardware wraps, and wrapping commutes with every step). The model
counts what it does (:class:`BitSerialCounts`; :func:`bitserial_counts` from shapes alone):
cycles = plane steps × ⌈(multiply-adds per plane step) / lanes⌉.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np

from lowbit.formats import IntFormat, QArray, get

__all__ = ["BitSerialCounts", "BitSerialResult", "bitserial_matmul", "bitserial_counts", "SERIAL_MODES"]

SERIAL_MODES = ("a", "b", "both")


@dataclasses.dataclass(frozen=True)
class BitSerialCounts:
    """Operations of one bit-serial GEMM (m×k @ k×n). Plain integers.

    Attributes:
        m, k, n: GEMM shape. a_bits, b_bits: operand precisions. serial: which side is serial.
        plane_ops: bit-plane GEMM steps (p_a, p_b or p_a·p_b).
        bit_macs: one-bit-by-operand multiply-adds (plane_ops · m·k·n): AND gates / selects.
        plane_adds: additions inside the plane GEMMs (plane_ops · m·n·(k − 1)).
        shift_adds: shift-and-add of a plane result into the accumulator (plane_ops · m·n).
        zero_planes: plane steps whose serial plane(s) hold no set bit (skippable, as in
            Pragmatic's zero-bit skipping; data dependent, 0 from :func:`bitserial_counts`).
        lanes: parallel one-bit MAC lanes assumed for ``cycles`` (None: one plane step per cycle).
        cycles: plane_ops × ⌈m·k·n / lanes⌉ (or plane_ops when lanes is None).
    """

    m: int
    k: int
    n: int
    a_bits: int
    b_bits: int
    serial: str
    plane_ops: int
    bit_macs: int
    plane_adds: int
    shift_adds: int
    zero_planes: int
    lanes: int | None
    cycles: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class BitSerialResult(NamedTuple):
    """(output, counts) of a bit-serial GEMM."""

    output: np.ndarray
    counts: BitSerialCounts


def _int_operand(v, fmt, name):
    if isinstance(v, QArray):
        f = v.format
        if not isinstance(f, IntFormat):
            raise ValueError(f"{name} must be a QArray of an IntFormat, got {f}")
        c = np.asarray(v.codes).astype(np.int64).reshape(v.shape)
        vals = np.where(c >= (1 << (f.bits - 1)), c - (1 << f.bits), c) if f.signed else c
        return vals, f
    f = get(fmt)
    if not isinstance(f, IntFormat):
        raise ValueError(f"{name}_format must be an IntFormat, got {f}")
    x = np.asarray(v)
    if x.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integers (values of {f}), got dtype {x.dtype}")
    x = x.astype(np.int64)
    if x.size and (x.min() < f.min or x.max() > f.max):
        raise ValueError(f"{name} holds values outside {f} [{f.min}, {f.max}]")
    return x, f


def bit_planes(x, fmt: IntFormat):
    """Planes (p, ...) in {0, 1} of the codes of ``x`` and their weights (±2^i)."""
    codes = x & ((1 << fmt.bits) - 1)
    planes = np.stack([(codes >> i) & 1 for i in range(fmt.bits)])
    weights = [(-(1 << i) if (fmt.signed and i == fmt.bits - 1) else (1 << i)) for i in range(fmt.bits)]
    return planes, weights


def _exact_gemm(a, b):
    """Exact integer GEMM of small integers (float64 BLAS when every partial sum < 2^53)."""
    bound = (int(np.abs(a).max(initial=0)) * int(np.abs(b).max(initial=0)) * max(a.shape[-1], 1))
    if bound < 2**53:
        return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


def bitserial_matmul(a: Any, b: Any, *, a_format: IntFormat | str = "int8", b_format: IntFormat | str = "int8",
                     serial: str = "a", accumulator: IntFormat | str | None = None,
                     lanes: int | None = None) -> BitSerialResult:
    """a @ b on a bit-serial datapath: plane by plane, with shift-add accumulation.

    Args:
        a: (M, K) integer values of ``a_format`` (activations), or a QArray of an IntFormat.
        b: (K, N) integer values of ``b_format`` (weights), or a QArray of an IntFormat.
        a_format, b_format: :class:`formats.IntFormat` records or names (precision p = width;
            Stripes-style per-layer precision is a narrower format, e.g. ``"int5"``).
        serial: ``"a"``, ``"b"`` or ``"both"`` (see the module documentation).
        accumulator: None (exact int64) or an IntFormat / name: the shift-add accumulator wraps
            to it (two's complement).
        lanes: one-bit MAC lanes working in parallel, for ``counts.cycles``.

    Returns:
        :class:`BitSerialResult`: output (M, N) int64 — equal to the integer GEMM a @ b (wrapped
        to ``accumulator`` when given) — and :class:`BitSerialCounts`.

    Raises:
        ValueError / TypeError: bad formats, shapes, values or options.
    """
    if serial not in SERIAL_MODES:
        raise ValueError(f"serial must be one of {SERIAL_MODES}, got {serial!r}")
    if lanes is not None and (isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1):
        raise ValueError(f"lanes must be a positive int or None, got {lanes!r}")
    av, fa = _int_operand(a, a_format, "a")
    bv, fb = _int_operand(b, b_format, "b")
    if av.ndim != 2 or bv.ndim != 2 or av.shape[1] != bv.shape[0]:
        raise ValueError(f"a must be (M, K) and b (K, N); got {av.shape} and {bv.shape}")
    M, K = av.shape
    N = bv.shape[1]
    acc_fmt = None if accumulator is None else get(accumulator)
    if acc_fmt is not None and not isinstance(acc_fmt, IntFormat):
        raise ValueError(f"accumulator must be an IntFormat or None, got {acc_fmt}")

    def wrap(v):
        if acc_fmt is None:
            return v
        w = acc_fmt.bits
        if acc_fmt.signed:
            return ((v + (1 << (w - 1))) & ((1 << w) - 1)) - (1 << (w - 1))
        return v & ((1 << w) - 1)

    out = np.zeros((M, N), dtype=np.int64)
    zero = 0
    plane_ops = 0
    if serial in ("a", "both"):
        pa, wa = bit_planes(av, fa)
    if serial in ("b", "both"):
        pb, wb = bit_planes(bv, fb)
    if serial == "a":
        for i in range(fa.bits):
            zero += int(not pa[i].any())
            out = wrap(out + wa[i] * _exact_gemm(pa[i], bv))
            plane_ops += 1
    elif serial == "b":
        for j in range(fb.bits):
            zero += int(not pb[j].any())
            out = wrap(out + wb[j] * _exact_gemm(av, pb[j]))
            plane_ops += 1
    else:
        for i in range(fa.bits):
            for j in range(fb.bits):
                zero += int(not (pa[i].any() and pb[j].any()))
                out = wrap(out + (wa[i] * wb[j]) * _exact_gemm(pa[i], pb[j]))  # AND + popcount
                plane_ops += 1
    counts = _counts(M, K, N, fa.bits, fb.bits, serial, lanes, zero)
    assert counts.plane_ops == plane_ops
    return BitSerialResult(out, counts)


def _counts(m, k, n, a_bits, b_bits, serial, lanes, zero_planes) -> BitSerialCounts:
    plane_ops = {"a": a_bits, "b": b_bits, "both": a_bits * b_bits}[serial]
    macs = m * k * n
    cycles = plane_ops if lanes is None else plane_ops * math.ceil(macs / lanes)
    return BitSerialCounts(m=m, k=k, n=n, a_bits=a_bits, b_bits=b_bits, serial=serial, plane_ops=plane_ops,
                           bit_macs=plane_ops * macs, plane_adds=plane_ops * m * n * max(k - 1, 0),
                           shift_adds=plane_ops * m * n, zero_planes=zero_planes, lanes=lanes, cycles=cycles)


def bitserial_counts(m: int, k: int, n: int, *, a_bits: int, b_bits: int, serial: str = "a",
                     lanes: int | None = None) -> BitSerialCounts:
    """The counts of :func:`bitserial_matmul` from the shapes alone (``zero_planes`` = 0).

    Raises:
        ValueError: non-positive sizes, bad ``serial`` or ``lanes``.
    """
    for name, v in (("m", m), ("k", k), ("n", n), ("a_bits", a_bits), ("b_bits", b_bits)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if serial not in SERIAL_MODES:
        raise ValueError(f"serial must be one of {SERIAL_MODES}, got {serial!r}")
    if lanes is not None and (isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1):
        raise ValueError(f"lanes must be a positive int or None, got {lanes!r}")
    return _counts(m, k, n, a_bits, b_bits, serial, lanes, 0)
