"""Helpers shared by the scalar-format tests: format collections (computed from the registry),
code-adjacent inputs, direct calls of the vectorized NumPy kernel, exact comparisons.

Nothing here computes an expected answer with the code under test: expected values come from
``FloatFormat.value_of_code`` (exact Fractions), reference libraries, or the slow reference.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import ml_dtypes
import numpy as np

from lowbit import formats
from lowbit.formats.core._options import make_options
from lowbit.formats.scalar import _minifloat as mf

MODES = ("nearest_even", "nearest_away", "toward_zero", "up", "down", "odd", "stochastic")


# ----------------------------------------------------------------------------- collections
def scalar_formats(max_bits: int = 16) -> list:
    """Registered FloatFormat/IntFormat records of at most ``max_bits`` bits."""
    return formats.select(lambda f: isinstance(f, (formats.FloatFormat, formats.IntFormat))
                          and f.bits <= max_bits)


def ml_dtype_of(fmt):
    """The ml_dtypes (or NumPy, for float16) dtype named like ``fmt``, or None."""
    if fmt.name == "float16":
        return np.dtype(np.float16)
    dt = getattr(ml_dtypes, fmt.name, None)
    return None if dt is None else np.dtype(dt)


def ml_dtypes_formats() -> list:
    """Registered ≤16-bit formats that ml_dtypes (or NumPy) also implements."""
    return [f for f in scalar_formats(16) if ml_dtype_of(f) is not None]


def ids(fmts) -> list[str]:
    return [f.name for f in fmts]


# -------------------------------------------------------------------------- exact values
@functools.cache
def exact_values(fmt) -> np.ndarray:
    """float64 value of every code, from the exact ``value_of_code`` (checked exact)."""
    out = np.empty(fmt.num_codes, np.float64)
    for c in range(fmt.num_codes):
        v = fmt.value_of_code(c)
        if isinstance(v, Fraction):
            f = float(v)
            assert Fraction(f) == v, (fmt, c)
            if f == 0 and fmt.family == "float" and c & fmt.sign_mask:
                f = -0.0
            v = f
        out[c] = v
    out.setflags(write=False)
    return out


def code_adjacent_inputs(fmt, dtype: str = "float32") -> np.ndarray:
    """Every input next to a code of ``fmt`` (both signs, in ``dtype``):

    each finite value, each midpoint between neighbours (ties), both of those moved one
    ``dtype`` ulp either way, the first step past the largest value and its midpoint (and one
    ulp around them), values far beyond, values below the smallest positive one, ±0, ±Inf, NaN
    and the extremes of ``dtype``.
    """
    vals = exact_values(fmt)
    fin = np.unique(np.abs(vals[np.isfinite(vals)]))
    mids = (fin[:-1] + fin[1:]) / 2
    assert np.all((mids > fin[:-1]) & (mids < fin[1:]))  # exact in float64 for ≤16-bit formats
    step = fin[-1] - fin[-2] if len(fin) > 1 else fin[-1]
    if fmt.family == "float" and fmt.mantissa_bits == 0:
        step = fin[-1]  # the next binade
    smallest = fin[fin > 0][0]
    dt = np.finfo(dtype)
    extra = [fin[-1] + step / 2, fin[-1] + step, fin[-1] + 1.5 * step, 2 * fin[-1] + 2 * step,
             1e4 * fin[-1], smallest / 2, smallest / 4, smallest * 0.75, smallest / 1024,
             float(dt.max), float(dt.smallest_subnormal), float(dt.smallest_normal), 1e-30, 1e30]
    with np.errstate(over="ignore"):
        base = np.concatenate([fin, mids, np.array(extra)]).astype(dtype)
        x = np.concatenate([base, np.nextafter(base, np.array(np.inf, dtype)),
                            np.nextafter(base, np.array(-np.inf, dtype))])
    x = np.unique(x[np.isfinite(x)])
    x = np.concatenate([x, -x, np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan], dtype)])
    return x


# ------------------------------------------------------------------- the vectorized kernel
def encode_np(x, fmt, *, rounding="nearest_even", overflow=None, rand=None, flush_subnormals=False):
    """Codes from the vectorized NumPy kernel, whatever the size (the public verbs hand large
    arrays to Numba). ``rand``: (uint32 array, R) random bits for stochastic rounding."""
    opts = make_options(fmt, rounding=rounding, overflow=overflow,
                        random_bits=rand[1] if rand is not None else None,
                        flush_subnormals=flush_subnormals)
    return mf.encode_xp(np, np.ascontiguousarray(x), fmt, opts, rand)


def quantize_np(x, fmt, *, rounding="nearest_even", overflow=None, rand=None, flush_subnormals=False):
    """Values from the vectorized NumPy kernel (see :func:`encode_np`)."""
    opts = make_options(fmt, rounding=rounding, overflow=overflow,
                        random_bits=rand[1] if rand is not None else None,
                        flush_subnormals=flush_subnormals)
    return mf.quantize_xp(np, np.ascontiguousarray(x), fmt, opts, rand)


def random_bits(shape, nbits: int, seed: int) -> np.ndarray:
    """Uniform integers in [0, 2**nbits) as uint32 (what stochastic rounding consumes)."""
    return np.random.default_rng(seed).integers(0, 2**nbits, size=shape, dtype=np.uint32)


# ------------------------------------------------------------------------- comparisons
def same_values(a, b) -> np.ndarray:
    """Elementwise: equal as numbers, NaN matches NaN, and zeros carry the same sign."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return ((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))


def mismatches(x, got, want, n: int = 8) -> str:
    """A short report of the first ``n`` disagreements (for assertion messages)."""
    got, want = np.asarray(got), np.asarray(want)
    bad = np.nonzero(~same_values(got, want) if got.dtype.kind == "f" else got != want)[0]
    rows = [f"x={float(np.asarray(x).ravel()[i])!r}: got {got.ravel()[i]!r}, want {want.ravel()[i]!r}"
            for i in bad[:n]]
    return f"{len(bad)} mismatches: " + "; ".join(rows)
