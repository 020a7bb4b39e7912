"""Hypothesis strategies for property tests of code that uses lowbit formats.

Import this module explicitly (``import formats.strategies as fst``); ``import formats`` does not
load it, and it needs `hypothesis <https://hypothesis.readthedocs.io>`_ (a test dependency).

Strategies for a scalar format record (or registered name):

* :func:`codes` — codes of the format (optionally only those of finite values);
* :func:`values` — the values the format holds, as Python floats;
* :func:`stress_floats` — finite floats of an input dtype that stress a format's rounding:
  exact values, ties (midpoints between neighbours), one input-ulp either side of a tie, random
  points between neighbours, subnormals and values below the smallest one, values at, just
  above and far above the largest finite value;
* :func:`float_formats` / :func:`int_formats` — arbitrary valid format records (``ExMy`` with
  every special-value family, integers of any width), for testing code over many formats.

Example::

    from hypothesis import given
    import numpy as np, formats, formats.strategies as fst

    @given(fst.stress_floats("float8_e4m3fn"))
    def test_idempotent(x):
        q = formats.quantize(np.float32(x), "float8_e4m3fn")
        assert formats.quantize(q, "float8_e4m3fn") == q
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from .core._records import SPECIALS, FloatFormat, Format, IntFormat
from .core._registry import resolve

__all__ = ["codes", "values", "stress_floats", "float_formats", "int_formats"]

_DTYPES = ("float16", "float32", "float64")


def _check(fmt: Format | str) -> FloatFormat | IntFormat:
    fmt = resolve(fmt)
    if not isinstance(fmt, (FloatFormat, IntFormat)):
        raise TypeError(f"fmt must be a scalar FloatFormat or IntFormat, got {type(fmt).__name__}")
    return fmt


def _unused_code(fmt) -> int | None:
    """The most negative code of a narrow integer format: it decodes, but encoding never
    produces it (the range is symmetric)."""
    if isinstance(fmt, IntFormat) and fmt.narrow:
        return 1 << (fmt.bits - 1)
    return None


def _is_finite_code(fmt, code: int) -> bool:
    return code not in fmt.nan_codes and code not in fmt.inf_codes and code != _unused_code(fmt)


def codes(fmt: Format | str, *, finite_only: bool = False) -> st.SearchStrategy[int]:
    """Codes of ``fmt`` (ints in ``[0, fmt.num_codes)``).

    Args:
        fmt: a FloatFormat/IntFormat record or a registered name.
        finite_only: only codes of values the format holds: no NaN or Inf codes, and not the
            unused most negative code of a narrow integer format.

    Returns:
        A strategy of Python ints.

    Raises:
        TypeError: if ``fmt`` is not a scalar format.
    """
    fmt = _check(fmt)
    s = st.integers(0, fmt.num_codes - 1)
    if finite_only:
        s = s.filter(lambda c: _is_finite_code(fmt, c))
    return s


def values(fmt: Format | str, *, allow_nan: bool = False,
           allow_infinity: bool = False) -> st.SearchStrategy[float]:
    """Values ``fmt`` holds, as Python floats (exact: every value of a format of at most 64
    bits whose exponent range fits float64 is a float64). The unused most negative code of a
    narrow integer format is left out.

    Args:
        fmt: a FloatFormat/IntFormat record or a registered name.
        allow_nan / allow_infinity: also draw the NaN / ±Inf codes' values.

    Returns:
        A strategy of Python floats (−0.0 included where the format has −0).
    """
    fmt = _check(fmt)

    def ok(c):
        if c == _unused_code(fmt):
            return False
        if c in fmt.nan_codes:
            return allow_nan
        if c in fmt.inf_codes:
            return allow_infinity
        return True

    return st.integers(0, fmt.num_codes - 1).filter(ok).map(lambda c: _as_float(fmt, c))


def _as_float(fmt, code: int) -> float:
    v = fmt.value_of_code(code)
    if isinstance(v, float):
        return v
    f = float(v)
    if f == 0 and getattr(fmt, "signed", False) and code & getattr(fmt, "sign_mask", 0):
        return -0.0
    return f


def _neighbours(fmt, k: int) -> tuple[Fraction, Fraction]:
    """Adjacent non-negative values (lo, hi) of ``fmt``: magnitude step k → k + 1. At the top,
    hi is one more step of the top binade (the first value past the largest finite one)."""
    if isinstance(fmt, IntFormat):
        return Fraction(k), Fraction(k + 1)
    lo = fmt.value_of_code(k)
    if k < fmt.max_code:
        return lo, fmt.value_of_code(k + 1)
    step = lo - fmt.value_of_code(k - 1) if fmt.mantissa_bits > 0 else lo
    return lo, lo + step


def _to_dtype(q: Fraction, dtype: str, direction: int = 0) -> float:
    """``q`` rounded to the nearest ``dtype`` number (then stepped ``direction`` ulps), as a
    Python float (±inf when out of range)."""
    dt = np.dtype(dtype)
    try:
        f = float(q)  # nearest float64 (then nearest dtype: no double rounding for our use)
    except OverflowError:
        return math.inf
    with np.errstate(over="ignore"):
        v = np.array(f, dtype=np.float64).astype(dt)
        if direction:
            v = np.nextafter(v, np.array(math.copysign(math.inf, direction), dt))
    return float(v)


def stress_floats(fmt: Format | str, *, dtype: str = "float32",
                  signed: bool | None = None) -> st.SearchStrategy[float]:
    """Finite floats of ``dtype`` that stress rounding to ``fmt``.

    Draws, with a random sign (when ``signed``): an exact value of the format; the midpoint
    between two neighbours (a tie, when ``dtype`` can hold it); the tie moved one ``dtype`` ulp
    either way; a random point strictly between neighbours; a value in the subnormal range or
    below the smallest positive value; a value at, just above or far above the largest finite
    value (overflow); or any finite float of ``dtype``.

    Args:
        fmt: a FloatFormat/IntFormat record or a registered name.
        dtype: ``float16``, ``float32`` or ``float64``: every drawn float is exactly a number of
            this dtype (returned as a Python float).
        signed: draw negative values too (default: whether ``fmt`` is signed).

    Returns:
        A strategy of finite Python floats.

    Raises:
        ValueError: for an unknown ``dtype``.
    """
    fmt = _check(fmt)
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    if signed is None:
        signed = bool(fmt.signed)
    finfo = np.finfo(dtype)
    top_k = fmt.max if isinstance(fmt, IntFormat) else fmt.max_code
    bottom = Fraction(fmt.value_of_code(0)) if isinstance(fmt, FloatFormat) and not fmt.has_zero else Fraction(0)
    top = Fraction(fmt.max)
    small = Fraction(fmt.smallest_positive)

    steps = st.integers(0, top_k).map(lambda k: _neighbours(fmt, k))

    def tie(pair, d):
        lo, hi = pair
        return _to_dtype((lo + hi) / 2, dtype, d)

    def between(pair, u):
        lo, hi = pair
        return _to_dtype(lo + (hi - lo) * u, dtype)

    fractions_01 = st.fractions(0, 1)
    near_top = st.sampled_from([Fraction(1), Fraction(257, 256), Fraction(9, 8), Fraction(3, 2),
                                Fraction(2), Fraction(1000)])
    magnitude = st.one_of(
        steps.map(lambda p: _to_dtype(p[0], dtype)),                       # exact values
        st.tuples(steps, st.sampled_from([0, 0, -1, 1])).map(lambda t: tie(*t)),  # ties ± 1 ulp
        st.tuples(steps, fractions_01).map(lambda t: between(*t)),          # anywhere between
        fractions_01.map(lambda u: _to_dtype(small * 2 * u, dtype)),        # subnormals, tiny
        st.tuples(near_top, st.sampled_from([0, -1, 1])).map(
            lambda t: _to_dtype(top * t[0], dtype, t[1])),                  # at / past the top
        st.floats(0, float(finfo.max), width=finfo.bits,  # type: ignore[arg-type]  # 16, 32 or 64
                  allow_nan=False, allow_infinity=False),
        st.just(_to_dtype(bottom, dtype)),
    ).filter(math.isfinite)
    if not signed:
        return magnitude
    return st.tuples(magnitude, st.booleans()).map(lambda t: -t[0] if t[1] else t[0])


@st.composite
def float_formats(draw, *, max_bits: int = 16, specials: tuple[str, ...] = SPECIALS) -> FloatFormat:
    """Valid :class:`FloatFormat` records of at most ``max_bits`` bits (any exponent and
    mantissa width, bias, sign, and each special-value family in ``specials``).

    Formats without subnormals are drawn only with ``mantissa_bits == 0`` (E8M0-style), the
    one kind the codecs support.
    """
    if not 2 <= max_bits <= 64:
        raise ValueError(f"max_bits must be in [2, 64], got {max_bits}")
    family = draw(st.sampled_from(list(specials)))
    signed = True if family in ("fnuz", "p3109") else draw(st.booleans())
    e_lo = 2 if family == "ieee" else 1
    e = draw(st.integers(e_lo, min(8, max_bits - int(signed))))
    m = draw(st.integers(0, min(23, max_bits - int(signed) - e)))
    subnormals = True if m > 0 else draw(st.booleans())
    default_bias = 2 ** (e - 1) - 1
    bias = draw(st.one_of(st.just(default_bias), st.integers(default_bias - 2, default_bias + 4)))
    try:
        return FloatFormat(e, m, bias=bias, signed=signed, subnormals=subnormals, specials=family,
                           name=f"e{e}m{m}_{family}{'' if signed else 'u'}_b{bias}")
    except ValueError:  # e.g. no finite normal binade left (tiny fn/ieee formats)
        from hypothesis import reject

        reject()


@st.composite
def int_formats(draw, *, max_bits: int = 16) -> IntFormat:
    """Valid :class:`IntFormat` records of at most ``max_bits`` bits (signed, unsigned, narrow)."""
    if not 1 <= max_bits <= 32:
        raise ValueError(f"max_bits must be in [1, 32], got {max_bits}")
    w = draw(st.integers(1, max_bits))
    signed = draw(st.booleans())
    narrow = signed and w >= 2 and draw(st.booleans())
    return IntFormat(w, signed=signed, narrow=narrow,
                     name=f"{'' if signed else 'u'}int{w}{'_narrow' if narrow else ''}")
