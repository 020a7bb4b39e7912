"""The public verbs ``quantize``, ``encode``, ``decode``, ``values`` and the family dispatch.

Dispatch happens once, on the record's class: each format family registers a codec object
(:class:`Codec`) with :func:`register_codec`. The backend follows the argument: NumPy in →
NumPy out, JAX in → JAX out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._backend import backend_of
from ._dispatch import codec_for as _codec_for
from ._dispatch import register_codec
from ._modes import Overflow, Rounding
from ._options import (
    check_float_input,
    check_key,
    check_random_bits,
    explicit_bits_width,
    make_options,
)
from ._qarray import QArray
from ._records import Format
from ._registry import resolve

__all__ = ["quantize", "encode", "decode", "values", "decode_dtype", "register_codec", "DECODE_DTYPES"]


def _prepare(x, fmt, rounding, overflow, axis, key, srbits, random_bits, flush_subnormals):
    """What every verb does first, for every family: resolve the format, check the input (lists
    and scalars become arrays, non-native byte order becomes native), validate the options, the
    key and the explicit random bits. Returns (x, fmt, opts, key, backend, the dtype to give
    results back in or None); ``key`` is what the families draw from: None, a seed, a generator,
    a typed JAX key, or the validated ``srbits`` (uint32, broadcast to x's shape)."""
    fmt = resolve(fmt)
    backend = backend_of(x)
    back = None
    if isinstance(x, np.ndarray) and not x.dtype.isnative:
        back = x.dtype
    x = check_float_input(x, backend)
    key = check_key(key)
    if srbits is not None:
        if rounding != "stochastic":
            raise ValueError(f"srbits is only used with rounding='stochastic', got rounding={rounding!r}")
        if key is not None:
            raise ValueError("pass either key= (a seed, generator or JAX key to draw random bits from) or "
                             "srbits= (the random bits themselves), not both")
        if random_bits is None and hasattr(srbits, "dtype"):
            random_bits = explicit_bits_width(srbits)
    opts = make_options(fmt, rounding=rounding, overflow=overflow, axis=axis, random_bits=random_bits,
                        flush_subnormals=flush_subnormals)
    if srbits is not None:
        key = check_random_bits(srbits, x.shape, backend, opts.random_bits)
    return x, fmt, opts, key, backend, back


def _with_scale(extra: dict, scale, zero_point) -> dict:
    """``scale=`` / ``zero_point=`` go to the family's codec with its other options (only when
    given, so families without scales keep rejecting them by name)."""
    if scale is not None:
        extra["scale"] = scale
    if zero_point is not None:
        extra["zero_point"] = zero_point
    return extra


def quantize(x: Any, fmt: Format | str, *, rounding: Rounding = "nearest_even", overflow: Overflow | None = None,
             axis: int = -1, key: Any = None, srbits: Any = None, random_bits: int | None = None,
             flush_subnormals: bool = False, scale: Any = None, zero_point: Any = None, **extra: Any) -> Any:
    """The values ``fmt`` holds nearest to ``x`` under the rounding mode: fake quantization.

    Args:
        x: float16/bfloat16/float32/float64 array (NumPy, or JAX for the JAX path), a Python
            float or a (nested) list of floats (these become float64 NumPy arrays). Any byte
            order: a non-native NumPy array (``'>f4'`` on a little-endian machine) is read
            correctly and the result has its dtype, byte order included.
        fmt: a format record or a registered name (``formats.names()``).
        rounding: one of ``nearest_even`` (default), ``nearest_away``, ``toward_zero``, ``up``,
            ``down``, ``odd`` (round to odd: inexact results get an odd code), ``stochastic``.
        overflow: ``saturate``, ``inf``, ``nan``, ``error`` or None for the format's natural
            behaviour (Inf if it has Inf, else NaN if it has NaN, else saturate). Overflow is
            decided after rounding, as IEEE 754 does; directed roundings carry finite overflows
            to ±max where IEEE says so (toward_zero always, up for negatives, down for
            positives). ``error`` raises OverflowError.
        axis: blocking axis for block formats (ignored by scalar formats).
        key: where ``stochastic`` rounding draws its ``random_bits`` uniform bits per element
            from: an int seed (a NumPy integer scalar included), a ``numpy.random.Generator``
            (NumPy inputs) or a JAX PRNG key — ``jax.random.key(seed)`` or the legacy
            ``jax.random.PRNGKey(seed)`` (JAX inputs; an int seed works there too). Never an
            array of bits: those go to ``srbits``.
        srbits: the random bits themselves, instead of ``key``: an unsigned integer array (NumPy
            or JAX) broadcastable to ``x``, one integer per element, below
            ``2**random_bits``, used as they are — named and defined as in gfloat's
            ``round_ndarray(fi, x, RoundMode.Stochastic, srbits=..., srnumbits=...)``, whose
            results the same bits reproduce for float formats. Block, scaled and codebook
            formats use the integer of each element of ``x`` for that element.
        random_bits: random bits per element for ``stochastic`` (1..32; gfloat's
            ``srnumbits``); default 32 for drawn bits, the dtype's width for ``srbits`` (uint8:
            8, uint16: 16, uint32/64: 32).
        flush_subnormals: treat subnormal inputs as zero and flush subnormal results to zero,
            like hardware without subnormal support.
        scale: static scales instead of the ones the format would compute from ``x`` — what
            :func:`formats.calibrate` returns, positive and finite, in the layout of the format:
            scalar formats (float, int) take any array broadcastable to ``x`` and give
            ``scale · Q(x / scale)``; a ``ScaledIntFormat`` the shape of its scale codes
            (``()``, ``(shape[axis],)`` or ``(*other_dims, n_groups)``); a ``BlockFormat`` or
            ``CodebookFormat`` one value per block, ``(*other_dims, n_blocks)`` (powers of two
            for the power-of-two scale rules; NVFP4's are relative to its tensor scale). The
            values are stored in the format's scale format as the format stores its own.
        zero_point: static integer zero points with ``scale`` (asymmetric ``ScaledIntFormat``,
            same shape as its scales; unsigned ``IntFormat``: broadcastable to ``x``, giving
            ``scale · (Q(x / scale + zero_point) − zero_point)``).
        **extra: family-specific options (documented by the family).

    Returns:
        Array of the same shape, dtype and array library as ``x``.

    Special values: NaN → NaN where the format has one; otherwise ``overflow='error'`` raises
    ValueError and any other policy gives +0. ±Inf follows the overflow policy. Negative values
    in unsigned formats are out of range (NaN where the format has NaN and the policy is not
    ``saturate``, else the smallest value).

    Raises:
        ValueError: a bad option (the message names it and the allowed values), ``srbits`` of
            the wrong shape or range or beside ``key`` or without ``rounding='stochastic'``
            (naming ``srbits``).
        TypeError: an unsupported input dtype; a ``key`` that is no seed, generator or JAX key
            (an array of bits, naming ``key`` and ``srbits``); ``srbits`` that are not unsigned
            integers.
        OverflowError: an out-of-range value with ``overflow='error'``.
    """
    x, fmt, opts, key, backend, back = _prepare(x, fmt, rounding, overflow, axis, key, srbits, random_bits,
                                                flush_subnormals)
    out = _codec_for(fmt).quantize(x, fmt, opts, key, backend, **_with_scale(extra, scale, zero_point))
    if backend == "jax":
        return out
    out = np.asarray(out)  # a 0-d array, not a NumPy scalar, for 0-d inputs
    return out if back is None else out.astype(back)


def encode(x: Any, fmt: Format | str, *, rounding: Rounding = "nearest_even", overflow: Overflow | None = None,
           axis: int = -1, key: Any = None, srbits: Any = None, random_bits: int | None = None,
           flush_subnormals: bool = False, scale: Any = None, zero_point: Any = None, **extra: Any) -> QArray:
    """Encode ``x`` to codes of ``fmt``; same inputs and options as :func:`quantize`.

    ``scale=`` / ``zero_point=`` need a format whose QArray stores scales (block, scaled-integer,
    codebook): a scalar format's QArray holds codes only (TypeError; use :func:`quantize`).

    Returns:
        :class:`QArray` whose ``codes`` are unsigned integers (native byte order), one per
        element.
    """
    x, fmt, opts, key, backend, _ = _prepare(x, fmt, rounding, overflow, axis, key, srbits, random_bits,
                                             flush_subnormals)
    return _codec_for(fmt).encode(x, fmt, opts, key, backend, **_with_scale(extra, scale, zero_point))


#: Output dtypes of :func:`decode`.
DECODE_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _decode_dtype(dtype):
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DECODE_DTYPES:
        raise ValueError(f"dtype must be None or a float dtype, one of {DECODE_DTYPES}, got {dtype!r}")
    return dt


def decode(q: QArray, dtype: Any = None) -> Any:
    """Values of a :class:`QArray`, as an array of ``dtype`` in the QArray's array library.

    Args:
        q: the encoded array.
        dtype: output float dtype — float16, bfloat16 (ml_dtypes / JAX), float32 or float64,
            as a dtype, type or name; default float32 when every value of the format is
            exactly a float32, else float64 (float32 for JAX without x64). Values are rounded
            to it correctly (nearest even; beyond its range ±Inf, as an IEEE conversion).

    Raises:
        TypeError: if ``q`` is not a QArray.
        ValueError: if ``dtype`` is not one of the float dtypes above (an integer, complex or
            object dtype would silently truncate values).
    """
    if not isinstance(q, QArray):
        raise TypeError(f"q must be a QArray, got {type(q).__name__}")
    dt = _decode_dtype(dtype)
    backend = backend_of(q.codes)
    codec = _codec_for(q.format)
    if dt is None:
        out = codec.decode(q, None, backend)
        return out if backend == "jax" else np.asarray(out)
    if dt.name in ("float16", "bfloat16"):
        # decode wide, then round once (decoding in the narrow dtype would round twice)
        wide = "float64"
        if backend == "jax":
            import jax

            wide = "float64" if jax.config.read("jax_enable_x64") else "float32"
        v = codec.decode(q, wide, backend)
        out = quantize(v, dt.name, overflow="inf")
    else:
        out = codec.decode(q, dt.newbyteorder("=").name, backend)
    if backend == "jax":
        return out.astype(dt)
    return np.asarray(out).astype(dt, copy=False)


def decode_dtype(fmt: Format | str) -> str:
    """The dtype :func:`decode` gives a QArray of ``fmt`` when no ``dtype`` is asked for (NumPy;
    JAX without x64 uses float32 where this says float64): ``"float32"`` when every value of the
    format is exactly a float32, else ``"float64"``.

    Args:
        fmt: a format record or a registered name, of a family whose default dtype is a
            property of the format: scalar (:class:`FloatFormat`, :class:`IntFormat`), posit or
            LNS.

    Raises:
        ValueError: for families whose default follows the encoded data instead (block, scaled,
            codebook and lattice formats decode to the dtype they were encoded from).
    """
    fmt = resolve(fmt)
    fn = getattr(_codec_for(fmt), "default_dtype", None)
    if fn is None:
        raise ValueError(f"fmt: {fmt} has no fixed default decode dtype (formats of its family decode "
                         "to the dtype they were encoded from)")
    return fn(fmt)


def values(fmt: Format | str) -> np.ndarray:
    """The value of every code of ``fmt``, indexed by code (NumPy float64 array).

    Unused codes — codes of the format's width that encoding never produces, listed by the
    record's ``unused_codes`` (the most negative code of a symmetric ``narrow`` integer format,
    the codes of a codebook beyond its levels, ...) — hold NaN, and :func:`decode` gives NaN
    for them. Formats whose values are not all float64 numbers give the nearest float64
    (LNS), or ±Inf / ±0 beyond float64's range (P3109 formats with k − p ≥ 11).

    Raises:
        ValueError: for formats with more than 2**24 codes, and for vector codes (lattices).
    """
    fmt = resolve(fmt)
    v = _codec_for(fmt).values(fmt)
    unused = getattr(fmt, "unused_codes", ())
    if len(unused):
        v = np.array(v, dtype=np.float64)
        v[np.fromiter(unused, dtype=np.int64)] = np.nan
    return v
