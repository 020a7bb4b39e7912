"""Logarithmic number system (LNS), power-of-two quantizers and LUQ.

An LNS number is ±2^L with L a fixed-point number with ``frac_bits`` fractional bits. Code layout
(``bits = signed + int_bits + frac_bits``)::

    [sign] [field F: int_bits + frac_bits bits, offset binary]

F = 0 is zero; F ≥ 1 is 2^L with L = (F − bias)/2^frac_bits, bias = 2^(w−1) by default (w =
int_bits + frac_bits), so L covers [−2^(int_bits−1) + 2^−f, 2^(int_bits−1) − 2^−f] symmetrically
and positive codes are ordered like their values. In a signed format the code "sign set, F = 0"
(the would-be −0) is NaN; there is no Inf.

Rounding (``domain`` option):

* ``"log"`` (default): round L = log2|x| on the fixed-point grid — nearest, toward zero, up,
  down, odd, or stochastic with probability frac(L·2^f). Ties cannot occur (a tie would need
  log2|x| to be a dyadic rational off the grid, i.e. x irrational). This is the default because
  it is what an LNS converter does (log2, then round the fixed-point number), it bounds the
  relative error symmetrically, |log2 q − log2 x| ≤ 2^−(f+1), and it keeps multiplication (the
  operation LNS exists for) an exact addition of rounded logs.
* ``"linear"``: nearest *value* (the arithmetic midpoint between neighbours decides, so the
  absolute error is minimal); ``stochastic`` rounds up with probability (|x| − lo)/(hi − lo),
  which is unbiased. Exact ties exist only for frac_bits = 0 (x = 1.5·2^k); ``nearest_even``
  then picks the even field, ``nearest_away`` the larger magnitude.

Both domains compare inputs against exact thresholds: the irrational 2^(j/2^f) are computed to
50 digits with :mod:`decimal` and stored as the smallest float at or above them, so every
deterministic rounding is exact, on NumPy and JAX alike.

Arithmetic on codes: :func:`lns_multiply` / :func:`lns_divide` add / subtract fields (exact,
then saturate); :func:`lns_add` / :func:`lns_subtract` use the Gaussian logarithms
sb(d) = log2(1 + 2^d) and db(d) = log2|1 − 2^d| (d ≤ 0) by one of three methods — ``exact``
(then rounded), ``mitchell`` (Mitchell 1962 piecewise-linear log/antilog) or ``lut`` (a table of
``lut_size`` points with linear interpolation) — and :func:`lns_add_error` reports each method's
maximum error against the exact function.

Values of an LNS format are irrational in general: :func:`formats.values`, ``decode`` and
``quantize`` return the float nearest to 2^L in the output dtype (exact nearest, from the same
50-digit computation).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from ..core import _registry
from ..core._backend import backend_of, code_dtype, namespace, raise_if, straight_through
from ..core._dispatch import register_codec
from ..core._options import check_float_input, make_options, make_random_bits
from ..core._qarray import QArray
from ..core._records import Format, _require_int

__all__ = ["LNSFormat", "LUQFormat", "power_of_two", "lns_multiply", "lns_divide", "lns_add",
           "lns_subtract", "gaussian_log", "lns_add_error", "mitchell_multiply", "LNS_ADD_METHODS"]

#: Methods of :func:`lns_add` / :func:`gaussian_log`.
LNS_ADD_METHODS = ("exact", "mitchell", "lut")


@dataclasses.dataclass(frozen=True)
class LNSFormat(Format):
    """A logarithmic number system: ±2^L, L fixed point with ``int_bits``.``frac_bits``.

    Args:
        int_bits: integer bits of L (its sign included), 1..10.
        frac_bits: fractional bits of L, 0..16 (0 gives a power-of-two format).
        signed: whether a sign bit is present (a signed format has a NaN code, the −0 code).
        bias: offset of the field: L = (F − bias)/2^frac_bits for field F ≥ 1; default
            2^(int_bits + frac_bits − 1) (symmetric range). Must keep 2^L inside float64.
        name: registry name (informational).

    Raises:
        ValueError: naming the field, when out of range.
    """

    int_bits: int
    frac_bits: int
    signed: bool = True
    bias: int = None  # type: ignore[assignment]  # None: the default bias, set in __post_init__
    name: str = dataclasses.field(default="", compare=False)

    family: ClassVar[str] = "lns"

    def __post_init__(self):
        _require_int("int_bits", self.int_bits, 1, 10)
        _require_int("frac_bits", self.frac_bits, 0, 16)
        if not isinstance(self.signed, bool):
            raise ValueError(f"signed must be a bool, got {self.signed!r}")
        w = self.int_bits + self.frac_bits
        if self.bias is None:
            object.__setattr__(self, "bias", 1 << (w - 1))
        _require_int("bias", self.bias, -(1 << 26), 1 << 26)
        if self.log2_max > 1023 or self.log2_min < -1022:
            raise ValueError(
                f"bias={self.bias} puts L outside [-1022, 1023] (float64 range); "
                f"L would span [{float(self.log2_min)}, {float(self.log2_max)}]"
            )

    # ------------------------------------------------------------------ fields
    @property
    def log_bits(self) -> int:
        """Width w of the log field F (int_bits + frac_bits); the total width :attr:`bits` adds
        the sign bit."""
        return self.int_bits + self.frac_bits

    @property
    def bits(self) -> int:
        return int(self.signed) + self.log_bits

    @property
    def num_codes(self) -> int:
        return 1 << self.bits

    @property
    def sign_mask(self) -> int:
        return (1 << self.log_bits) if self.signed else 0

    @property
    def field_max(self) -> int:
        return (1 << self.log_bits) - 1

    @property
    def log2_max(self) -> Fraction:
        """Largest L, (2^w − 1 − bias)/2^f."""
        return Fraction(self.field_max - self.bias, 1 << self.frac_bits)

    @property
    def log2_min(self) -> Fraction:
        """Smallest L of a nonzero value, (1 − bias)/2^f."""
        return Fraction(1 - self.bias, 1 << self.frac_bits)

    @property
    def log2_step(self) -> Fraction:
        """Grid step of L, 2^−frac_bits."""
        return Fraction(1, 1 << self.frac_bits)

    @property
    def max(self) -> float:
        """Largest value 2^log2_max (nearest float64)."""
        return _pow2_float(self.log2_max)

    @property
    def min(self) -> float:
        """Most negative value (−max), or 0 for unsigned formats."""
        return -self.max if self.signed else 0.0

    @property
    def smallest_positive(self) -> float:
        """2^log2_min (nearest float64)."""
        return _pow2_float(self.log2_min)

    @property
    def smallest_normal(self) -> float:
        """LNS has no subnormals: the smallest positive value."""
        return self.smallest_positive

    @property
    def smallest_subnormal(self):
        return None

    @property
    def eps(self) -> float:
        """Relative spacing of neighbouring values, 2^(2^−f) − 1."""
        return _pow2_float(self.log2_step) - 1.0

    @property
    def has_inf(self) -> bool:
        return False

    @property
    def has_nan(self) -> bool:
        return self.signed

    @property
    def has_zero(self) -> bool:
        return True

    @property
    def has_negative_zero(self) -> bool:
        return False

    @property
    def nan_code(self) -> int | None:
        return self.sign_mask if self.signed else None

    @property
    def nan_codes(self) -> tuple[int, ...]:
        return (self.sign_mask,) if self.signed else ()

    @property
    def inf_codes(self) -> tuple[int, ...]:
        return ()

    @property
    def max_code(self) -> int:
        return self.field_max

    def log2_of_code(self, code: int) -> Fraction | float | None:
        """Exact L of ``code`` as a Fraction; None for zero, nan for NaN.

        Raises:
            ValueError: if ``code`` is not in ``[0, 2^bits)``.
        """
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < self.num_codes:
            raise ValueError(f"code must be an int in [0, {self.num_codes}), got {code!r}")
        f = code & self.field_max
        if f == 0:
            return math.nan if code & self.sign_mask else None
        return Fraction(f - self.bias, 1 << self.frac_bits)

    def value_of_code(self, code: int) -> float:
        """Value of ``code``: ±(the float64 nearest to 2^L), 0.0, or nan (irrational in general)."""
        L = self.log2_of_code(code)
        if L is None:
            return 0.0
        if isinstance(L, float):
            return math.nan
        v = _pow2_float(L)
        return -v if code & self.sign_mask else v


def power_of_two(bits: int, max_exponent: int = 0, *, signed: bool = True, name: str = "") -> LNSFormat:
    """A power-of-two (log2) quantizer as an :class:`LNSFormat` with ``frac_bits=0``.

    Values: 0 and ±2^k for k = max_exponent − 2^(e) + 2 … max_exponent, e = bits − signed
    exponent-field bits (the weight sets of shift-add networks such as DeepShift / ShiftAddViT,
    where a multiply becomes a shift).

    Raises:
        ValueError: if ``bits`` leaves no field bit.
    """
    _require_int("bits", bits, 2 if signed else 1, 11)
    e = bits - int(signed)
    return LNSFormat(e, 0, signed=signed, bias=(1 << e) - 1 - max_exponent, name=name)


# --------------------------------------------------------------------- exact constants
_DIGITS = 50


def _pow2_dec(L: Fraction) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _DIGITS
        return Decimal(2) ** (Decimal(L.numerator) / Decimal(L.denominator))


def _pow2_float(L: Fraction) -> float:
    """The float64 nearest 2^L."""
    return _round_dec(_pow2_dec(L), np.dtype(np.float64), "nearest")


_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _round_dec(T: Decimal, dtype: np.dtype, mode: str):
    """T > 0 rounded to ``dtype`` ('nearest' or 'ceil'), exactly, by stepping bit patterns."""
    dtype = np.dtype(dtype)
    ut = _UINT[dtype.itemsize]
    c = np.array(float(T), dtype=np.float64).astype(dtype)
    bits = int(np.array(c).view(ut))

    def val(b):
        return Decimal(float(np.array(b, dtype=ut).view(dtype)))

    while val(bits) < T:
        bits += 1
    while bits > 0 and val(bits - 1) >= T:
        bits -= 1
    if mode == "nearest" and bits > 0:
        hi, lo = val(bits), val(bits - 1)
        if T - lo < hi - T or (T - lo == hi - T and bits % 2 == 1):
            bits -= 1
    return np.array(bits, dtype=ut).view(dtype)[()]


@functools.cache
def _tables(f: int, dtype_name: str):
    """Per fractional-bits tables in ``dtype``: (mant, floor_thr, lognear_thr, linnear_thr).

    mant[r]        nearest float to 2^(r/2^f), r = 0..2^f−1
    floor_thr[j]   ceil(2^(j/2^f)), j = 1..2^f−1     (count ≤ m → floor of log)
    lognear_thr[j] ceil(2^((j+½)/2^f)), j = 0..2^f−1 (count ≤ m → log-nearest)
    linnear_thr[j] ceil((2^(j/2^f) + 2^((j+1)/2^f))/2), j = 0..2^f−1 (count ≤ m → linear-nearest)
    """
    dt = np.dtype(dtype_name)
    N = 1 << f
    with localcontext() as ctx:
        ctx.prec = _DIGITS
        p = [_pow2_dec(Fraction(r, N)) for r in range(N + 1)]
        ln = [_pow2_dec(Fraction(2 * j + 1, 2 * N)) for j in range(N)]
        mid = [(p[j] + p[j + 1]) / 2 for j in range(N)]
    mant = np.array([_round_dec(v, dt, "nearest") for v in p[:N]], dtype=dt)
    floor_thr = np.array([_round_dec(v, dt, "ceil") for v in p[1:N]], dtype=dt)
    lognear = np.array([_round_dec(v, dt, "ceil") for v in ln], dtype=dt)
    linnear = np.array([_round_dec(v, dt, "ceil") for v in mid], dtype=dt)
    for t in (mant, floor_thr, lognear, linnear):
        t.setflags(write=False)
    return mant, floor_thr, lognear, linnear


@functools.cache
def _minpos_consts(fmt: LNSFormat, dtype_name: str):
    """(half-minpos threshold (ceil), whether it is an exact tie point, minpos nearest) in dtype."""
    dt = np.dtype(dtype_name)
    L = fmt.log2_min
    half = _pow2_dec(L - 1)
    return _round_dec(half, dt, "ceil"), L.denominator == 1, _round_dec(_pow2_dec(L), dt, "nearest")


# ----------------------------------------------------------------------------- kernels
def _search(xp, table, v):
    """Number of entries of sorted ``table`` that are ≤ v."""
    if table.size == 0:
        return xp.zeros(v.shape, xp.int32 if xp is not np else np.int64)
    if xp is np:
        return np.searchsorted(table, v, side="right")
    return xp.searchsorted(xp.asarray(table), v, side="right").astype(xp.int32)


def encode_xp(xp, x, fmt: LNSFormat, rounding: str, domain: str, overflow: str, rand):
    """LNS codes of float array ``x``. ``overflow`` is resolved (saturate/nan/error)."""
    from ._posit import _bits_of, _decompose, _work_types

    FT, U, I, MI, BI = _work_types(xp, x)
    W = 64 if MI == 52 else 32
    f = fmt.frac_bits
    xw = x.astype(FT)
    b = _bits_of(xp, xw, U)
    ab = b & U((1 << (W - 1)) - 1)
    inf_bits = ((1 << (W - 1 - MI)) - 1) << MI
    zero = ab == 0
    isnan = ab > U(inf_bits)
    isinf = ab == U(inf_bits)
    neg = ((b >> U(W - 1)) == 1) & ~zero & ~isnan
    fin = ~(isnan | isinf | zero)
    ab = xp.where(fin, ab, U(BI << MI))
    E, frac = _decompose(xp, ab, U, I, MI, BI)
    mm = (frac | U(1 << MI)).astype(FT) * FT(2.0 ** -MI)     # mantissa in [1, 2), exact
    a = xp.ldexp(mm, E.astype(xp.int32)) if xp is np else None  # |x| (NumPy only; see below)
    mant, floor_thr, lognear_thr, linnear_thr = _tables(f, np.dtype(FT).name)
    base = E * (1 << f) + fmt.bias                           # field of 2^E
    r_floor = _search(xp, floor_thr, mm)
    lo = base + r_floor                                      # field of the value just below
    exact = mm == FT(1)
    inexact = ~exact
    if rounding == "stochastic":
        r, R = rand
        if domain == "log":
            p = xp.log2(mm) * FT(1 << f) - r_floor.astype(FT)
        else:
            lo_m = xp.asarray(mant)[r_floor] if xp is not np else mant[r_floor]
            hi_m = xp.where(r_floor + 1 < (1 << f),
                            (xp.asarray(mant) if xp is not np else mant)[xp.minimum(r_floor + 1, (1 << f) - 1)],
                            FT(2))
            p = (mm - lo_m) / (hi_m - lo_m)
        up = inexact & (r.astype(FT) < p * FT(2.0 ** R))
        F = lo + up.astype(lo.dtype)
    elif rounding in ("nearest_even", "nearest_away"):
        if domain == "log":
            F = base + _search(xp, lognear_thr, mm)
        else:
            F = base + _search(xp, linnear_thr, mm)
            if f == 0 and rounding == "nearest_even":  # exact tie at 1.5·2^E: to the even field
                tie = mm == FT(1.5)
                F = xp.where(tie & (F % 2 == 1), F - 1, F)
    elif rounding == "toward_zero":
        F = lo
    elif rounding == "up":
        F = lo + (inexact & ~neg).astype(lo.dtype)
    elif rounding == "down":
        F = lo + (inexact & neg).astype(lo.dtype)
    elif rounding == "odd":
        F = lo + (inexact & (lo % 2 == 0)).astype(lo.dtype)
    else:  # pragma: no cover - validated upstream
        raise ValueError(rounding)

    # Below the smallest positive value the neighbours are 0 and minpos. Log-domain nearest
    # keeps the zero code where field 0 would be (threshold 2^(L_min − step/2)); linear-domain
    # nearest uses minpos/2; stochastic rounding (both domains) gives minpos with probability
    # |x|/minpos (unbiased); directed modes pick the neighbour their direction says.
    if not (domain == "log" and rounding in ("nearest_even", "nearest_away")):
        half_thr, tie_possible, minpos = _minpos_consts(fmt, np.dtype(FT).name)
        below = fin & (lo < 1)
        a_ = a if xp is np else xp.ldexp(mm, E.astype(xp.int32))
        if rounding == "stochastic":
            r, R = rand
            away = r.astype(FT) < (a_ / FT(minpos)) * FT(2.0 ** R)
        elif rounding in ("nearest_even", "nearest_away"):
            if tie_possible:  # minpos/2 is a float: 2a == minpos is a tie (even: 0; away: minpos)
                two_a = a_ * FT(2)
                away = (two_a > FT(minpos)) if rounding == "nearest_even" else (two_a >= FT(minpos))
            else:
                away = a_ >= FT(half_thr)
        elif rounding == "toward_zero":
            away = xp.zeros_like(below)
        elif rounding == "up":
            away = ~neg
        elif rounding == "down":
            away = neg
        else:  # odd: 0 is the even field
            away = xp.ones_like(below)
        F = xp.where(below, away.astype(lo.dtype), F)
    F = xp.where(F < 0, 0, F)

    # ---------------------------------------------------------------- range and specials
    ovf = fin & (F > fmt.field_max)
    if rounding == "toward_zero":
        clamp = ovf
    elif rounding == "up":
        clamp = ovf & neg
    elif rounding == "down":
        clamp = ovf & ~neg
    else:
        clamp = xp.zeros_like(ovf)
    nan_out = isnan
    if overflow == "saturate":
        F = xp.where(ovf | isinf, fmt.field_max, F)
    else:
        F = xp.where(clamp, fmt.field_max, F)
        rest = (ovf & ~clamp) | isinf
        if overflow == "nan":
            nan_out = nan_out | rest
        elif overflow == "error":
            raise_if(xp, rest, OverflowError(f"value out of range of {fmt} (overflow='error'; max {fmt.max})"))
    if not fmt.signed:
        if overflow == "error":
            raise_if(xp, neg & (F != 0), OverflowError(f"negative value for unsigned format {fmt} (overflow='error')"))
            raise_if(xp, isnan, ValueError(f"NaN input but {fmt} has no NaN (overflow='error')"))
        F = xp.where(neg | isnan, 0, F)
        neg = xp.zeros_like(neg)
        nan_out = xp.zeros_like(nan_out)
    F = xp.where(zero | isnan, 0, F)
    UC = xp.uint32
    code = F.astype(UC) | xp.where(neg & (F != 0), UC(fmt.sign_mask), UC(0))
    if fmt.signed:
        code = xp.where(nan_out, UC(fmt.nan_code), code)
    return code.astype(code_dtype(fmt.bits, xp))


def decode_xp(xp, codes, fmt: LNSFormat, dtype):
    """Values of LNS ``codes`` as ``dtype`` (the nearest ``dtype`` value to each 2^L)."""
    dt = np.dtype(dtype) if xp is np else dtype
    name = np.dtype(dt).name if xp is np else xp.dtype(dt).name
    mant = _tables(fmt.frac_bits, name if name in ("float64", "float32", "float16") else "float32")[0]
    c = codes.astype(xp.int64 if xp is np else xp.int32)
    F = c & fmt.field_max
    Lfix = F - fmt.bias
    E = Lfix >> fmt.frac_bits
    r = Lfix & ((1 << fmt.frac_bits) - 1)
    m = (mant if xp is np else xp.asarray(mant))[r]
    if xp is np:
        with np.errstate(over="ignore", under="ignore"):  # beyond dtype's range: ±inf / 0
            v = np.ldexp(m, E.astype(np.int32))
    else:
        v = xp.ldexp(m, E.astype(xp.int32))
    if fmt.signed:
        v = xp.where((c & fmt.sign_mask) != 0, -v, v)
    v = xp.where(F == 0, m.dtype.type(0) if xp is np else xp.zeros((), m.dtype), v)
    if fmt.signed:
        v = xp.where(c == fmt.nan_code, np.nan, v)
    return v.astype(dt)


def default_decode_dtype(fmt: LNSFormat) -> str:
    """float32 when every value is inside float32's normal range, else float64."""
    return "float32" if fmt.log2_max < 128 and fmt.log2_min >= -126 else "float64"


def _check_domain(domain):
    if domain not in ("log", "linear"):
        raise ValueError(f"domain must be 'log' or 'linear', got {domain!r}")


class _LNSCodec:
    """LNS encode/decode/quantize. Extra option: ``domain='log'`` (default) or ``'linear'``.

    ``flush_subnormals`` has no effect (LNS has no subnormals). Overflow: None → NaN for signed
    formats (they have a NaN code), saturate for unsigned ones; ``saturate``, ``nan``, ``error``
    as for every format. NaN → the NaN code (signed) or +0 (unsigned).
    """

    def _prep(self, x, opts, key, backend, extra):
        domain = extra.pop("domain", "log")
        if extra:
            raise TypeError(f"unexpected option(s) for LNS formats: {', '.join(sorted(extra))} (allowed: domain)")
        _check_domain(domain)
        x = check_float_input(x, backend)
        if opts.rounding == "stochastic":
            rand = (make_random_bits(key, x.shape, backend, opts.random_bits), opts.random_bits)
        else:
            if key is not None:
                raise ValueError("key is only used with rounding='stochastic'")
            rand = None
        return x, rand, domain

    def encode(self, x, fmt, opts, key, backend, **extra):
        x, rand, domain = self._prep(x, opts, key, backend, dict(extra))
        codes = _encode_any(x, fmt, opts.rounding, domain, opts.resolved_overflow(fmt), rand, backend)
        return QArray(codes=codes, format=fmt, shape=x.shape)

    def quantize(self, x, fmt, opts, key, backend, **extra):
        x, rand, domain = self._prep(x, opts, key, backend, dict(extra))
        codes = _encode_any(x, fmt, opts.rounding, domain, opts.resolved_overflow(fmt), rand, backend)
        out_dt = x.dtype.name if x.dtype.name in ("float16", "float32", "float64") else "float32"
        if backend == "jax":
            from ._numsys_jax import jitted

            return straight_through(x, jitted(_decode_jax, (1, 2))(codes, fmt, out_dt).astype(x.dtype))
        return decode_xp(np, codes, fmt, np.dtype(out_dt)).astype(x.dtype)

    def default_dtype(self, fmt):
        """The dtype ``decode`` gives without ``dtype=`` (NumPy)."""
        return default_decode_dtype(fmt)

    def decode(self, q, dtype, backend):
        return _decode_any(q.format, q.codes, dtype, backend)

    def values(self, fmt):
        if fmt.bits > 24:
            raise ValueError(f"values() enumerates at most 2**24 codes; {fmt} has 2**{fmt.bits}")
        return decode_xp(np, np.arange(fmt.num_codes, dtype=np.uint32), fmt, np.float64)


def _encode_jax(x, fmt, rounding, domain, overflow, r, R):
    import jax.numpy as jnp

    return encode_xp(jnp, x, fmt, rounding, domain, overflow, None if r is None else (r, R))


def _decode_jax(codes, fmt, dtype_name):
    import jax.numpy as jnp

    return decode_xp(jnp, codes, fmt, jnp.dtype(dtype_name))


def _encode_any(x, fmt, rounding, domain, overflow, rand, backend):
    if backend == "jax" and overflow != "error":
        from ._numsys_jax import jitted

        r, R = rand if rand is not None else (None, 0)
        return jitted(_encode_jax, (1, 2, 3, 4, 6))(x, fmt, rounding, domain, overflow, r, R)
    return encode_xp(namespace(backend), x, fmt, rounding, domain, overflow, rand)


def _decode_any(fmt, codes, dtype, backend):
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        from ._numsys_jax import jitted

        dt = np.dtype(dtype or default_decode_dtype(fmt)).name
        if dt == "float64" and not jax.config.jax_enable_x64:
            dt = "float32"
        return jitted(_decode_jax, (1, 2))(jnp.asarray(codes), fmt, dt)
    return decode_xp(np, np.asarray(codes), fmt, np.dtype(dtype or default_decode_dtype(fmt)))


register_codec(LNSFormat, _LNSCodec())


# ------------------------------------------------------------------------------ LUQ
@dataclasses.dataclass(frozen=True)
class LUQFormat(Format):
    """Logarithmic Unbiased Quantization (Chmiel et al., arXiv 2112.10769, §4).

    A radix-2 format with a sign bit and ``exponent_bits`` exponent bits and no mantissa (the
    paper's 4-bit format: 1 sign + 3 exponent bits), scaled per tensor so that the largest level
    is max|x|: levels α·2^k, k = 0 … 2^e − 2, with α = max|x| / 2^(2^e − 2), plus 0. With
    ``rounding='stochastic'`` (LUQ proper) values below α are pruned stochastically to 0 or α
    and values between two levels are rounded stochastically in the linear domain — both
    unbiased, E[q(x)] = x. Other roundings give the deterministic (biased) linear-domain nearest.

    Encoded as a :class:`QArray` whose ``codes`` are codes of :attr:`element` and whose
    ``tensor_scale`` is α (float32, shape ()).

    Args:
        exponent_bits: 1..7 (default 3: the 4-bit LUQ format).
        name: registry name.
    """

    exponent_bits: int = 3
    name: str = dataclasses.field(default="", compare=False)

    family: ClassVar[str] = "luq"

    def __post_init__(self):
        _require_int("exponent_bits", self.exponent_bits, 1, 7)

    @property
    def element(self) -> LNSFormat:
        """Element format: fields 1 … 2^e − 1 are 2^0 … 2^(2^e − 2) (times α)."""
        return LNSFormat(self.exponent_bits, 0, signed=True, bias=1)

    @property
    def bits(self) -> int:
        return 1 + self.exponent_bits

    @property
    def levels(self) -> int:
        """Number of nonzero magnitudes, 2^e − 1."""
        return (1 << self.exponent_bits) - 1

    @property
    def dynamic_range(self) -> float:
        """max / smallest nonzero magnitude, 2^(2^e − 2)."""
        return float(2 ** (self.levels - 1))

    @property
    def has_inf(self) -> bool:
        return False

    @property
    def has_nan(self) -> bool:
        return False


class _LUQCodec:
    """LUQ: per-tensor scale α from max|x|, element = sign + exponent in the linear domain."""

    def _check(self, opts, extra):
        if extra:
            raise TypeError(f"unexpected option(s) for LUQ formats: {', '.join(sorted(extra))}")
        if opts.rounding not in ("stochastic", "nearest_even", "nearest_away", "toward_zero"):
            raise ValueError(
                "rounding for LUQ must be 'stochastic' (LUQ proper), 'nearest_even', 'nearest_away' "
                f"or 'toward_zero', got {opts.rounding!r}"
            )
        if opts.overflow not in (None, "saturate"):
            raise ValueError("overflow for LUQ must be None or 'saturate' (the scale covers max|x|), "
                             f"got {opts.overflow!r}")

    def encode(self, x, fmt, opts, key, backend, **extra):
        self._check(opts, extra)
        x = check_float_input(x, backend)
        xp = namespace(backend)
        xw = x.astype(xp.float32) if x.dtype.name in ("float16", "bfloat16") else x
        if backend == "numpy" and not np.all(np.isfinite(xw)):
            raise ValueError("LUQ needs finite inputs (its scale is max|x|)")
        amax = xp.max(xp.abs(xw)) if xw.size else xw.dtype.type(0)
        alpha = xp.where(amax > 0, amax * (2.0 ** -(fmt.levels - 1)), 1.0).astype(xw.dtype)
        # x · (1/α), not x / α: XLA turns division by a scalar into this multiplication anyway,
        # so both backends compute the same y (max|y| may round to 2^(2^e−2)·(1 ± ε): saturated).
        y = xw * (xw.dtype.type(1) / alpha if xp is np else 1 / alpha)
        el = fmt.element
        eopts = make_options(el, rounding=opts.rounding, overflow="saturate",
                             random_bits=opts.random_bits if opts.rounding == "stochastic" else None)
        rand = None
        if opts.rounding == "stochastic":
            rand = (make_random_bits(key, x.shape, backend, opts.random_bits), opts.random_bits)
        elif key is not None:
            raise ValueError("key is only used with rounding='stochastic'")
        codes = _encode_any(y, el, eopts.rounding, "linear", "saturate", rand, backend)
        return QArray(codes=codes, format=fmt, shape=x.shape, tensor_scale=alpha.astype(xp.float32))

    def validate(self, q):
        """QArray layout of LUQ: one element code per element, the float α as ``tensor_scale``."""
        from ..core._qarray import check_float_scalar, check_shape_of

        check_shape_of("codes", q.codes, q.shape, q.format)
        check_float_scalar("tensor_scale", q.tensor_scale)
        if q.scales is not None:
            raise ValueError(f"scales must be None for {q.format} (its scale is tensor_scale)")

    def decode(self, q, dtype, backend):
        el = q.format.element
        v = _decode_any(el, q.codes, dtype or "float32", backend)
        return (v * q.tensor_scale.astype(v.dtype)).astype(v.dtype)

    def quantize(self, x, fmt, opts, key, backend, **extra):
        q = self.encode(x, fmt, opts, key, backend, **extra)
        dt = x.dtype if np.dtype(x.dtype).name in ("float32", "float64") else "float32"
        out = self.decode(q, dt, backend).astype(x.dtype)
        if backend == "jax":
            return straight_through(x, out)
        return out

    def values(self, fmt):
        """Values of every element code relative to α = 1."""
        return decode_xp(np, np.arange(1 << fmt.bits, dtype=np.uint32), fmt.element, np.float64)


register_codec(LUQFormat, _LUQCodec())


# ------------------------------------------------------------------------ arithmetic
def _check_pair(a, b):
    if not isinstance(a, QArray) or not isinstance(b, QArray):
        raise TypeError("a and b must be QArrays of an LNSFormat (from formats.encode)")
    if not isinstance(a.format, LNSFormat) or a.format != b.format:
        raise ValueError(f"a and b must share one LNSFormat, got {a.format} and {b.format}")
    return a.format


def _check_overflow(fmt, overflow):
    allowed = ("saturate", "nan", "error") if fmt.signed else ("saturate", "error")
    if overflow not in allowed:
        raise ValueError(f"overflow must be one of {allowed} for {fmt}, got {overflow!r}")


def _fields(xp, codes, fmt):
    c = codes.astype(xp.int64 if xp is np else xp.int32)
    F = c & fmt.field_max
    s = (c & fmt.sign_mask) != 0 if fmt.signed else xp.zeros(c.shape, bool)
    nan = (F == 0) & s if fmt.signed else xp.zeros(c.shape, bool)
    return F, s & ~nan, nan


def _assemble(xp, fmt, F, sign, nan, overflow):
    ovf = F > fmt.field_max
    if overflow == "saturate":
        F = xp.where(ovf, fmt.field_max, F)
    elif overflow == "nan":
        nan = nan | ovf
    else:
        raise_if(xp, ovf & ~nan, OverflowError(f"LNS result out of range of {fmt} (overflow='error')"))
    F = xp.where(F < 1, 0, F)          # underflow to zero
    F = xp.where(ovf & nan, 0, F)
    UC = xp.uint32
    code = F.astype(UC) | xp.where(sign & (F != 0), UC(fmt.sign_mask), UC(0))
    if fmt.signed:
        code = xp.where(nan, UC(fmt.nan_code), code)
    return code.astype(code_dtype(fmt.bits, xp))


def _backend2(a, b):
    return backend_of(a.codes, b.codes)


def lns_multiply(a: QArray, b: QArray, *, overflow: str = "saturate") -> QArray:
    """Product of two LNS arrays: L = La + Lb exactly (field addition), sign by XOR.

    Args:
        a, b: QArrays of the same :class:`LNSFormat` (broadcastable shapes).
        overflow: ``saturate`` (default), ``nan`` (signed formats) or ``error``.

    Returns:
        QArray of the product. A zero operand gives 0; NaN propagates; a result below the
        smallest positive value underflows to 0.

    Raises:
        TypeError / ValueError: for operands that are not QArrays of one LNS format or a bad
        ``overflow``; OverflowError with ``overflow='error'``.
    """
    return _muldiv(a, b, overflow, +1)


def lns_divide(a: QArray, b: QArray, *, overflow: str = "saturate") -> QArray:
    """Quotient a / b: L = La − Lb exactly (field subtraction), sign by XOR.

    x / 0 (x ≠ 0) overflows (so ``saturate`` gives ±max); 0 / 0 is NaN (signed formats) and
    raises ValueError for unsigned formats. Other rules as :func:`lns_multiply`.
    """
    return _muldiv(a, b, overflow, -1)


def _muldiv(a, b, overflow, sgn):
    fmt = _check_pair(a, b)
    _check_overflow(fmt, overflow)
    if not fmt.signed and sgn < 0:
        zz = (np.asarray(a.codes) == 0) & (np.asarray(b.codes) == 0) if _backend2(a, b) == "numpy" else False
        if np.any(zz):
            raise ValueError("0/0 in an unsigned LNS format (no NaN code)")
    codes = _run(_muldiv_codes, a, b, (fmt, overflow, sgn))
    return QArray(codes=codes, format=fmt, shape=np.broadcast_shapes(a.shape, b.shape))


def _run(kernel, a, b, static):
    """kernel(xp, ca, cb, *static) on NumPy, or jitted on JAX (eagerly with overflow='error')."""
    if _backend2(a, b) == "jax":
        import jax.numpy as jnp

        ca, cb = jnp.asarray(a.codes), jnp.asarray(b.codes)
        if "error" in static:
            return kernel(jnp, ca, cb, *static)
        from ._numsys_jax import jitted

        return jitted(_jax_kernel, tuple(range(2, 3 + len(static))))(ca, cb, kernel, *static)
    return kernel(np, np.asarray(a.codes), np.asarray(b.codes), *static)


def _jax_kernel(ca, cb, kernel, *static):
    import jax.numpy as jnp

    return kernel(jnp, ca, cb, *static)


def _muldiv_codes(xp, ca, cb, fmt, overflow, sgn):
    Fa, sa, na = _fields(xp, ca, fmt)
    Fb, sb_, nb = _fields(xp, cb, fmt)
    za, zb = (Fa == 0) & ~na, (Fb == 0) & ~nb
    nan = na | nb
    if sgn > 0:
        F = xp.where(za | zb, 0, Fa + Fb - fmt.bias)
    else:
        nan = nan | (za & zb)
        F = xp.where(za, 0, xp.where(zb, fmt.field_max + 1, Fa - Fb + fmt.bias))
    return _assemble(xp, fmt, F, sa ^ sb_, nan, overflow)


# ---------------------------------------------------------------- Gaussian logarithms
def _check_method(method, lut_size):
    if method not in LNS_ADD_METHODS:
        raise ValueError(f"method must be one of {LNS_ADD_METHODS}, got {method!r}")
    if isinstance(lut_size, bool) or not isinstance(lut_size, int) or not 2 <= lut_size <= 1 << 20:
        raise ValueError(f"lut_size must be an int in [2, 2**20], got {lut_size!r}")


def _mitchell_exp2(d):
    """Mitchell's antilogarithm: 2^d ≈ 2^⌊d⌋ · (1 + d − ⌊d⌋)."""
    k = np.floor(d)
    return np.ldexp(1.0 + (d - k), k.astype(np.int64))


def _mitchell_log2(z):
    """Mitchell's logarithm: log2 z ≈ k + (z/2^k − 1), k = ⌊log2 z⌋ (z > 0)."""
    m, e = np.frexp(z)             # z = m · 2^e, m in [0.5, 1)
    return (e - 1) + (2 * m - 1)


def _essential_zero(frac_bits: int) -> float:
    """|d| beyond which |sb(d)| and |db(d)| are below 2^−(f+3) (they round to 0)."""
    return float(frac_bits + 4)


def gaussian_log(d: ArrayLike, kind: str, *, method: str = "exact", frac_bits: int = 8,
                 lut_size: int = 64) -> np.ndarray:
    """The Gaussian logarithm sb(d) = log2(1 + 2^d) or db(d) = log2(1 − 2^d), d ≤ 0, by a method.

    Args:
        d: NumPy float array of differences L_small − L_large (≤ 0), in log2 units.
        kind: ``"sb"`` (same signs: addition) or ``"db"`` (opposite signs: subtraction).
        method: ``exact`` (float64 evaluation), ``mitchell`` (Mitchell's piecewise-linear
            antilog 2^d ≈ 2^⌊d⌋(1 + frac d) and log log2(1 + y) ≈ y, log2 z ≈ k + z/2^k − 1) or
            ``lut`` (``lut_size`` uniformly spaced samples of the exact function on
            [−(frac_bits + 4), 0], linear interpolation, 0 beyond; for db the sample at d = 0,
            where db = −∞, is replaced by db(−2^−frac_bits), the nearest reachable d).
        frac_bits: fractional bits of the LNS (sets the LUT's range and its d = 0 substitute).
        lut_size: number of table entries for ``lut``.

    Returns:
        float64 NumPy array (unrounded). db(0) = −inf for every method.

    Raises:
        ValueError: bad ``kind``, ``method``, ``lut_size`` or positive ``d``.
    """
    _check_method(method, lut_size)
    if kind not in ("sb", "db"):
        raise ValueError(f"kind must be 'sb' or 'db', got {kind!r}")
    d = np.asarray(d, dtype=np.float64)
    if np.any(d > 0):
        raise ValueError("d must be <= 0 (the smaller operand's L minus the larger's)")
    with np.errstate(divide="ignore"):
        if method == "exact":
            out = _sb(d) if kind == "sb" else _db(d)
        elif method == "mitchell":
            y = _mitchell_exp2(d)
            if kind == "sb":
                out = y                                  # log2(1 + y) ≈ y, y in (0, 1]
            else:
                z = 1.0 - y
                out = np.where(z > 0, _mitchell_log2(np.where(z > 0, z, 1.0)), -np.inf)
        else:
            D = _essential_zero(frac_bits)
            nodes = np.linspace(-D, 0.0, lut_size)
            if kind == "sb":
                vals = _sb(nodes)
            else:
                vals = _db(np.minimum(nodes, -(2.0 ** -frac_bits)))
            out = np.where(d < -D, 0.0, np.interp(d, nodes, vals))
            if kind == "db":
                out = np.where(d == 0, -np.inf, out)
    return out


def _sb(d):
    return np.log1p(np.exp2(d)) / math.log(2)


def _db(d):
    with np.errstate(divide="ignore"):
        return np.log1p(-np.exp2(d)) / math.log(2)


@functools.cache
def _delta_tables(fmt: LNSFormat, method: str, lut_size: int):
    """Field increments for j = 0..jmax grid steps of difference: (sb_delta, db_delta, jmax).

    delta = round(g(−j/2^f) · 2^f) with g the method's sb / db; db_delta[0] is unused (x − x = 0).
    """
    f = fmt.frac_bits
    jmax = min(fmt.field_max, int(_essential_zero(f) * (1 << f)) + 1)
    j = np.arange(jmax + 1)
    d = -j / float(1 << f)
    sbv = gaussian_log(d, "sb", method=method, frac_bits=f, lut_size=lut_size)
    dbv = gaussian_log(d, "db", method=method, frac_bits=f, lut_size=lut_size)
    sbd = np.rint(sbv * (1 << f)).astype(np.int64)
    dbd = np.rint(np.where(np.isfinite(dbv), dbv, 0.0) * (1 << f)).astype(np.int64)
    dbd = np.maximum(dbd, -(fmt.field_max + 1))
    for t in (sbd, dbd):
        t.setflags(write=False)
    return sbd, dbd, jmax


def lns_add(a: QArray, b: QArray, *, method: str = "exact", lut_size: int = 64,
            overflow: str = "saturate") -> QArray:
    """Sum of two LNS arrays through the Gaussian logarithms, rounded to the format's grid.

    With |a| ≥ |b| and d = Lb − La ≤ 0: same signs give L = La + sb(d), opposite signs
    L = La + db(d) with the sign of a (x − x = +0). sb/db by ``method`` (see
    :func:`gaussian_log`), then rounded to the nearest multiple of 2^−frac_bits — the way an
    LNS adder does it, with a table indexed by the field difference.

    Args:
        a, b: QArrays of one :class:`LNSFormat` (broadcastable shapes).
        method: ``exact`` (exact then rounded: error ≤ ½ ulp of L), ``mitchell`` or ``lut``.
        lut_size: table entries for ``lut``.
        overflow: ``saturate`` (default), ``nan`` (signed formats) or ``error``.

    Returns:
        QArray of the sum. Zero operands return the other operand; NaN propagates; results
        below the smallest positive value underflow to 0.

    Raises:
        TypeError / ValueError: bad operands or options; OverflowError with ``overflow='error'``.
    """
    return _addsub(a, b, method, lut_size, overflow, False)


def lns_subtract(a: QArray, b: QArray, *, method: str = "exact", lut_size: int = 64,
                 overflow: str = "saturate") -> QArray:
    """a − b: :func:`lns_add` with b's sign flipped (same options and rules)."""
    return _addsub(a, b, method, lut_size, overflow, True)


def _addsub(a, b, method, lut_size, overflow, negate_b):
    fmt = _check_pair(a, b)
    _check_overflow(fmt, overflow)
    _check_method(method, lut_size)
    if negate_b and not fmt.signed:
        raise ValueError(f"subtraction needs a signed LNS format, {fmt} is unsigned")
    codes = _run(_addsub_codes, a, b, (fmt, method, lut_size, overflow, negate_b))
    return QArray(codes=codes, format=fmt, shape=np.broadcast_shapes(a.shape, b.shape))


def _addsub_codes(xp, ca, cb, fmt, method, lut_size, overflow, negate_b):
    sbd, dbd, jmax = _delta_tables(fmt, method, lut_size)
    if xp is not np:
        sbd, dbd = xp.asarray(sbd, xp.int32), xp.asarray(dbd, xp.int32)
    Fa, sa, na = _fields(xp, ca, fmt)
    Fb, sb_, nb = _fields(xp, cb, fmt)
    if negate_b:
        sb_ = sb_ ^ (Fb != 0)
    Fa, Fb = xp.broadcast_arrays(Fa, Fb)
    sa, sb_ = xp.broadcast_arrays(sa, sb_)
    swap = Fb > Fa
    Fx, Fy = xp.where(swap, Fb, Fa), xp.where(swap, Fa, Fb)
    sx, sy = xp.where(swap, sb_, sa), xp.where(swap, sa, sb_)
    j = Fx - Fy
    jc = xp.minimum(j, jmax)
    same = sx == sy
    delta = xp.where(same, sbd[jc], dbd[jc])
    delta = xp.where(j > jmax, 0, delta)
    F = Fx + delta
    F = xp.where(~same & (j == 0), 0, F)       # x − x = +0
    F = xp.where(Fy == 0, Fx, F)               # x + 0 = x
    sign = xp.where(F == 0, False, sx)
    return _assemble(xp, fmt, F, sign, na | nb, overflow)


def lns_add_error(fmt: Format | str, *, method: str = "exact", lut_size: int = 64) -> dict:
    """Maximum error of an LNS add/subtract method against the exact Gaussian logarithms.

    Every reachable difference d = −j·2^−f (j = 1 … where sb, db round to 0; j = 0 for sb) is
    evaluated: the method's rounded increment against the exact, unrounded sb(d) / db(d).

    Args:
        fmt: an :class:`LNSFormat` or registered name.
        method: ``exact``, ``mitchell`` or ``lut``.
        lut_size: table entries for ``lut``.

    Returns:
        dict with ``sb_max_abs_log2`` / ``db_max_abs_log2`` (max |error| of L in log2 units),
        ``sb_max_ulp`` / ``db_max_ulp`` (the same in units of 2^−frac_bits), and
        ``add_max_rel`` / ``sub_max_rel`` (max |relative error| of the sum's value,
        max |2^err − 1|).

    Raises:
        ValueError: if ``fmt`` is not an LNS format or the method/lut_size is bad.
    """
    fmt = _registry.resolve(fmt)
    if not isinstance(fmt, LNSFormat):
        raise ValueError(f"fmt must be an LNSFormat, got {fmt}")
    _check_method(method, lut_size)
    sbd, dbd, jmax = _delta_tables(fmt, method, lut_size)
    f = fmt.frac_bits
    j = np.arange(jmax + 1)
    d = -j / float(1 << f)
    ex_sb = _sb(d)
    ex_db = _db(d[1:])
    e_sb = np.abs(sbd / float(1 << f) - ex_sb)
    e_db = np.abs(dbd[1:] / float(1 << f) - ex_db)
    r_sb = np.abs(np.exp2(sbd / float(1 << f) - ex_sb) - 1)
    r_db = np.abs(np.exp2(dbd[1:] / float(1 << f) - ex_db) - 1)
    return {
        "format": fmt.name or repr(fmt), "method": method,
        "lut_size": lut_size if method == "lut" else None,
        "sb_max_abs_log2": float(e_sb.max()), "db_max_abs_log2": float(e_db.max()) if e_db.size else 0.0,
        "sb_max_ulp": float(e_sb.max() * (1 << f)), "db_max_ulp": float(e_db.max() * (1 << f)) if e_db.size else 0.0,
        "add_max_rel": float(r_sb.max()), "sub_max_rel": float(r_db.max()) if r_db.size else 0.0,
    }


def mitchell_multiply(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Mitchell's (1962) logarithmic multiplication of float arrays (NumPy).

    |a| = 2^ka(1 + x), |b| = 2^kb(1 + y) with x, y in [0, 1): log2 ≈ k + x (Mitchell's
    logarithm), the logs are added and the antilog taken the same way:
    2^(ka+kb)·(1 + x + y) if x + y < 1, else 2^(ka+kb+1)·(x + y). The result is never above the
    exact product; the largest relative error is −1/9 ≈ −11.1 %, at x = y = ½ (Mitchell 1962).

    Args:
        a, b: float arrays (broadcastable).

    Returns:
        float64 array of approximate products (sign by XOR; 0 if either is 0; non-finite
        operands give the exact IEEE product: inf or nan).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ma, ea = np.frexp(np.abs(a))
    mb, eb = np.frexp(np.abs(b))
    x, y = 2 * ma - 1, 2 * mb - 1
    s = x + y
    k = (ea - 1) + (eb - 1)
    mag = np.where(s < 1, np.ldexp(1 + s, k), np.ldexp(s, k + 1))
    out = np.where(np.signbit(a) ^ np.signbit(b), -mag, mag)
    out = np.where((a == 0) | (b == 0), 0.0, out)
    fin = np.isfinite(a) & np.isfinite(b)
    return np.where(fin, out, a * b)


# ------------------------------------------------------------------------- registry
def _lns_formats():
    # Named LNS presets (this project's choice of widths; the layout is the one documented above).
    yield LNSFormat(4, 3, name="lns8")         # 8 bits: L in ±7.875, step 1/8
    yield LNSFormat(6, 9, name="lns16")        # 16 bits: L in ±(32 − 2^-9), step 1/512
    # Power-of-two quantizers (DeepShift / ShiftAddViT-style weights ±2^-k, plus 0).
    yield power_of_two(4, 0, name="pot4")      # 0, ±2^-6 … ±2^0
    yield power_of_two(5, 0, name="pot5")      # 0, ±2^-14 … ±2^0
    yield power_of_two(8, 0, name="pot8")      # 0, ±2^-126 … ±2^0
    # LUQ (arXiv 2112.10769 §4): 1 sign + 3 exponent bits, scale from max|x|.
    yield LUQFormat(3, name="luq4")


_registry.register(_lns_formats)
