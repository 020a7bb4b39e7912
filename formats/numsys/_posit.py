"""Posits (Posit Standard 2022, and the classic ``es`` variants of Gustafson & Yonemoto 2017).

An n-bit posit with ``es`` exponent bits is read, after taking the two's complement of negative
codes, as sign · regime · exponent · fraction:

* the regime is a run of r identical bits ended by the opposite bit (or by the end of the
  word); a run of ones gives k = r − 1, a run of zeros k = −r;
* the next ``es`` bits are the exponent e (bits cut off by the end of the word are 0);
* the remaining bits are the fraction f (hidden bit 1);
* value = (−1)^s · 2^(k·2^es + e) · (1 + f).

Code 0 is zero and code 100…0 is NaR ("not a real"). Posit Standard 2022 (§3) fixes es = 2 for
every width: maxpos = 2^(4(n−2)), minpos = 2^(−4(n−2)).

Rounding (§4 of the standard) is round-to-nearest-even *on the bit string*: the real number's
unbounded posit bit pattern is cut after n bits, the next bit is the round bit and the rest the
sticky bit. Where exponent bits are cut off, the midpoint between two neighbours is therefore
their geometric, not arithmetic, mean. Nonzero reals never round to 0 or NaR: below minpos they
give minpos, above maxpos they give maxpos (saturation).
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import ClassVar

import numpy as np

from ..core import _registry
from ..core._backend import bitcast, code_dtype, namespace, raise_if, straight_through
from ..core._dispatch import register_codec
from ..core._options import check_float_input, make_random_bits
from ..core._qarray import QArray
from ..core._records import Format, _require_int
from ..scalar import _minifloat as mf

__all__ = ["PositFormat"]


@dataclasses.dataclass(frozen=True)
class PositFormat(Format):
    """An n-bit posit with ``es`` exponent bits.

    Args:
        bits: width n, 2..32.
        es: exponent field width, 0..5 (the 2022 standard uses 2 for every width; SoftPosit's
            classic posit8 uses 0 and posit16 uses 1).
        name: registry name (informational).

    Raises:
        ValueError: naming the field, when out of range.
    """

    bits: int
    es: int = 2
    name: str = dataclasses.field(default="", compare=False)

    family: ClassVar[str] = "posit"

    def __post_init__(self):
        _require_int("bits", self.bits, 2, 32)
        _require_int("es", self.es, 0, 5)  # maxpos ≤ 2^(32·30) = 2^960: inside float64

    # ------------------------------------------------------------------ fields
    @property
    def num_codes(self) -> int:
        return 1 << self.bits

    @property
    def useed(self) -> int:
        """2^(2^es): the factor one regime step is worth."""
        return 1 << (1 << self.es)

    @property
    def max_scale(self) -> int:
        """log2(maxpos) = 2^es · (n − 2)."""
        return (1 << self.es) * (self.bits - 2)

    @property
    def max(self) -> float:
        """maxpos = useed^(n−2) (posit8/16/32 of the 2022 standard: 2^24, 2^56, 2^120)."""
        return math.ldexp(1.0, self.max_scale)

    @property
    def min(self) -> float:
        """−maxpos."""
        return -self.max

    @property
    def minpos(self) -> float:
        """Smallest positive posit, 1/maxpos."""
        return math.ldexp(1.0, -self.max_scale)

    @property
    def smallest_positive(self) -> float:
        return self.minpos

    @property
    def smallest_normal(self) -> float:
        """Posits have no subnormals: the smallest positive value, minpos."""
        return self.minpos

    @property
    def smallest_subnormal(self):
        return None

    @property
    def fraction_bits_at_one(self) -> int:
        """Fraction bits of the posits in [1, 2): max(n − 3 − es, 0)."""
        return max(self.bits - 3 - self.es, 0)

    @property
    def eps(self) -> float | None:
        """Distance from 1 to the next larger posit (None for n = 2, where 1 is maxpos)."""
        if self.bits == 2:  # 1 is maxpos: nothing above it
            return None
        nxt = self.value_of_code((1 << (self.bits - 2)) + 1)
        return float(nxt - 1)

    @property
    def has_inf(self) -> bool:
        return False

    @property
    def has_nan(self) -> bool:
        """NaR plays the role of NaN."""
        return True

    @property
    def has_zero(self) -> bool:
        return True

    @property
    def has_negative_zero(self) -> bool:
        return False

    @property
    def signed(self) -> bool:
        return True

    @property
    def nar_code(self) -> int:
        return 1 << (self.bits - 1)

    @property
    def nan_code(self) -> int:
        return self.nar_code

    @property
    def nan_codes(self) -> tuple[int, ...]:
        return (self.nar_code,)

    @property
    def inf_codes(self) -> tuple[int, ...]:
        return ()

    @property
    def max_code(self) -> int:
        return (1 << (self.bits - 1)) - 1

    # ------------------------------------------------------------ exact values
    def value_of_code(self, code: int) -> Fraction | float:
        """Exact value of ``code`` as a Fraction (NaR → nan), decoded bit by bit.

        Raises:
            ValueError: if ``code`` is not in ``[0, 2^n)``.
        """
        n = self.bits
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < (1 << n):
            raise ValueError(f"code must be an int in [0, {1 << n}), got {code!r}")
        if code == 0:
            return Fraction(0)
        if code == self.nar_code:
            return math.nan
        neg = code >> (n - 1)
        if neg:
            code = (-code) % (1 << n)
        bits = [(code >> i) & 1 for i in range(n - 2, -1, -1)]  # after the sign, MSB first
        first = bits[0]
        run = 0
        while run < len(bits) and bits[run] == first:
            run += 1
        k = run - 1 if first else -run
        rest = bits[run + 1:]
        e = 0
        for i in range(self.es):
            e = 2 * e + (rest[i] if i < len(rest) else 0)
        frac_bits = rest[self.es:]
        f = Fraction(0)
        for i, b in enumerate(frac_bits):
            f += Fraction(b, 1 << (i + 1))
        v = Fraction(2) ** (k * (1 << self.es) + e) * (1 + f)
        return -v if neg else v


# ----------------------------------------------------------------------------- kernels
def _bit_length(xp, v):
    """Bit length of unsigned integers v (0 → 0), exact."""
    if xp is np:
        _, e = np.frexp(v.astype(np.float64))  # exact: v < 2^53
        return e.astype(np.int64)
    from jax import lax

    w = 64 if v.dtype == xp.uint64 else 32
    return (w - lax.clz(v)).astype(xp.int32)


def _work_types(xp, x):
    """(float dtype, unsigned dtype, signed dtype, mantissa bits, exponent bias) for ``x``."""
    if xp is np or x.dtype == xp.float64:
        return xp.float64, xp.uint64, xp.int64, 52, 1023
    return xp.float32, xp.uint32, xp.int32, 23, 127


def _bits_of(xp, x, U):
    return bitcast(x, U)


def _decompose(xp, b, U, I, MI, BI):
    """For IEEE bits ``b`` of a finite nonzero |x|: |x| = 2^E · (1 + frac/2^MI), subnormals
    normalised. Works on the bits only (XLA may flush subnormal floats in arithmetic)."""
    W = 64 if MI == 52 else 32
    ebits = ((b >> U(MI)) & U((1 << (W - 1 - MI)) - 1)).astype(I)
    frac = b & U((1 << MI) - 1)
    sub = ebits == 0
    bl = _bit_length(xp, xp.maximum(frac, U(1))).astype(I)  # 1..MI for subnormals
    sh = xp.clip(MI + 1 - bl, 0, MI).astype(U)
    frac = xp.where(sub, (frac << sh) & U((1 << MI) - 1), frac)
    E = xp.where(sub, bl - BI - MI, ebits - BI)
    return E, frac


def _pattern_value(xp, pat, fmt, FT, U, I):
    """Values (in FT) of non-negative posit magnitude patterns ``pat`` (n−1 bits, nonzero)."""
    n, es = fmt.bits, fmt.es
    w = n - 1
    first = (pat >> U(w - 1)) & U(1)
    mask = U((1 << w) - 1)
    inv = xp.where(first == 1, (~pat) & mask, pat)
    run = w - _bit_length(xp, inv).astype(I)          # leading identical bits within w
    k = xp.where(first == 1, run - 1, -run)
    rl = xp.minimum(run + 1, w)
    rem = (w - rl).astype(I)                          # bits after the regime
    low = pat & ((U(1) << rem.astype(U)) - U(1))
    # exponent: top es bits of `low` (cut-off bits are 0)
    if es:
        sh_e = rem - es
        e = xp.where(sh_e >= 0, low >> xp.clip(sh_e, 0, 63).astype(U),
                     low << xp.clip(-sh_e, 0, 63).astype(U)).astype(I)
        fb = xp.maximum(sh_e, 0)
    else:
        e = xp.zeros_like(k)
        fb = rem
    fmask = (U(1) << fb.astype(U)) - U(1)
    f = low & fmask
    sig = (f | (U(1) << fb.astype(U))).astype(FT)     # (1 + f/2^fb) · 2^fb, exact (< 2^31)
    scale = k * (1 << es) + e - fb
    return xp.ldexp(sig, scale.astype(xp.int32))


def decode_xp(xp, codes, fmt, dtype):
    """Values of posit ``codes`` as ``dtype`` (exact in float64 for every width ≤ 32)."""
    n = fmt.bits
    if xp is np:
        FT, U, I = np.float64, np.uint64, np.int64
    else:
        FT = xp.float64 if xp.dtype(dtype) == xp.float64 else xp.float32
        U, I = (xp.uint64, xp.int64) if FT == xp.float64 else (xp.uint32, xp.int32)
    c = codes.astype(U)
    full = U((1 << n) - 1)
    neg = (c >> U(n - 1)) & U(1)
    mag = xp.where(neg == 1, (U(0) - c) & full, c)
    safe = xp.where((mag == 0) | (c == U(fmt.nar_code)), U(1), mag)
    v = _pattern_value(xp, safe, fmt, FT, U, I)
    v = xp.where(neg == 1, -v, v)
    v = xp.where(c == 0, FT(0), v)
    v = xp.where(c == U(fmt.nar_code), FT(np.nan), v)
    return v.astype(dtype)


def encode_xp(xp, x, fmt, rounding, overflow, rand):
    """Posit codes (uint8/16/32) of float array ``x`` under ``rounding`` and ``overflow``.

    ``overflow``: 'standard' (saturate finite, NaR for ±Inf), 'saturate' (±Inf too),
    'nan' (|x| > maxpos → NaR), 'error'.
    """
    n, es = fmt.bits, fmt.es
    FT, U, I, MI, BI = _work_types(xp, x)
    W = 64 if MI == 52 else 32
    xw = x.astype(FT)
    b = _bits_of(xp, xw, U)
    ab = b & U((1 << (W - 1)) - 1)
    inf_bits = ((1 << (W - 1 - MI)) - 1) << MI
    zero = ab == 0
    isnan = ab > U(inf_bits)
    isinf = ab == U(inf_bits)
    neg = ((b >> U(W - 1)) == 1) & ~zero
    finite_nz = ~(isnan | isinf | zero)
    ab = xp.where(finite_nz, ab, U(BI << MI))  # 1.0 where not finite nonzero
    E, frac = _decompose(xp, ab, U, I, MI, BI)
    k = E >> es                                      # floor(E / 2^es)
    e = (E & ((1 << es) - 1)).astype(U)
    big = k >= n - 2                                 # |x| >= maxpos
    tiny = k < -(n - 2)                              # |x| < minpos
    kc = xp.clip(k, -(n - 2), n - 3)
    rl = xp.where(kc >= 0, kc + 2, 1 - kc)           # regime length incl. terminator, <= n-1
    regime = xp.where(kc >= 0, ((U(1) << xp.clip(kc + 1, 0, n).astype(U)) - U(1)) << U(1), U(1))
    avail = (n - 1 - rl).astype(I)                   # pattern bits left after the regime
    L = es + MI
    body = (e << U(MI)) | frac                       # exponent then fraction, L bits
    s = L - avail                                    # bits of body dropped
    sc = xp.clip(s, 1, L).astype(U)
    kept_r = body >> sc
    guard = ((body >> (sc - U(1))) & U(1)) == 1
    sticky = (body & ((U(1) << (sc - U(1))) - U(1))) != 0
    kept_l = body << xp.clip(-s, 0, 31).astype(U)
    kept = xp.where(s > 0, kept_r, kept_l)
    guard = guard & (s > 0)
    sticky = sticky & (s > 0)
    pat = (regime << avail.astype(U)) | kept
    inexact = guard | sticky
    odd = (pat & U(1)) == 1
    if rounding != "stochastic":
        inc = mf.round_increment(xp, rounding, guard, sticky, odd, neg)
    else:
        r, R = rand
        lo = _pattern_value(xp, xp.maximum(pat, U(1)), fmt, FT, U, I)
        hi = _pattern_value(xp, xp.minimum(pat + U(1), U((1 << (n - 1)) - 1)), fmt, FT, U, I)
        a_safe = xp.where(finite_nz, xp.abs(xw), FT(1))
        p = xp.where(hi > lo, (a_safe - lo) / xp.where(hi > lo, hi - lo, FT(1)), FT(0))
        inc = inexact & (r.astype(FT) < p * FT(2.0 ** R))
    maxpat = U((1 << (n - 1)) - 1)
    pat = xp.minimum(pat + inc.astype(U), maxpat)
    pat = xp.where(big, maxpat, pat)
    pat = xp.where(tiny, U(1), pat)

    over = finite_nz & big & ~((k == n - 2) & (e == 0) & (frac == 0))  # strictly above maxpos
    nar = isnan
    if overflow == "standard":
        nar = nar | isinf
    elif overflow == "saturate":
        pat = xp.where(isinf, maxpat, pat)
    elif overflow == "nan":
        nar = nar | isinf | over
    elif overflow == "error":
        raise_if(xp, isinf | over, OverflowError(f"value out of range of {fmt} (overflow='error'; maxpos {fmt.max})"))
        nar = nar | isinf
    else:  # pragma: no cover
        raise ValueError(overflow)
    pat = xp.where(zero | isnan, U(0), pat)
    if overflow != "saturate":
        pat = xp.where(isinf, U(0), pat)
    full = U((1 << n) - 1)
    code = xp.where(neg, (U(0) - pat) & full, pat)
    code = xp.where(nar, U(fmt.nar_code), code)
    return code.astype(code_dtype(n, xp))


def default_decode_dtype(fmt) -> str:
    """float32 when every posit value is exactly a float32 (fraction ≤ 23 bits, range ≤ 2^±126)."""
    return "float32" if fmt.fraction_bits_at_one <= 23 and fmt.max_scale <= 126 else "float64"


# ------------------------------------------------------------------------------- codec
_TABLES: dict = {}


def _table(fmt, dtype: str) -> np.ndarray:
    key = (fmt, dtype)
    t = _TABLES.get(key)
    if t is None:
        codes = np.arange(1 << fmt.bits, dtype=np.uint32)
        t = decode_xp(np, codes, fmt, np.dtype(dtype))
        t.setflags(write=False)
        _TABLES[key] = t
    return t


def _encode_jax(x, fmt, rounding, overflow, r, R):
    import jax.numpy as jnp

    return encode_xp(jnp, x, fmt, rounding, overflow, None if r is None else (r, R))


def _decode_jax(codes, fmt, dtype_name):
    import jax.numpy as jnp

    return decode_xp(jnp, codes, fmt, jnp.dtype(dtype_name))


def _policy(opts) -> str:
    return "standard" if opts.overflow is None else opts.overflow


class _PositCodec:
    """Posit encode/decode/quantize on NumPy and JAX arrays.

    Options: every rounding mode; ``nearest_even`` is the standard's. The bit-string modes
    (nearest_even, nearest_away, toward_zero, up, down, odd) round the unbounded bit pattern;
    ``stochastic`` rounds up with probability proportional to the *value* distance to the lower
    neighbour (unbiased). No mode rounds a nonzero real to 0 or NaR. ``overflow``: None (the
    standard: saturate finite values, NaR for ±Inf), ``saturate`` (±Inf → ±maxpos too), ``nan``
    (|x| > maxpos → NaR), ``error`` (OverflowError). ``flush_subnormals`` has no effect (posits
    have no subnormals). NaN → NaR always.
    """

    def _prep(self, x, opts, key, backend, extra):
        if extra:
            raise TypeError(f"unexpected option(s) for posit formats: {', '.join(sorted(extra))}")
        x = check_float_input(x, backend)
        if opts.rounding == "stochastic":
            rand = (make_random_bits(key, x.shape, backend, opts.random_bits), opts.random_bits)
        else:
            if key is not None:
                raise ValueError("key is only used with rounding='stochastic'")
            rand = None
        return x, rand

    def _codes(self, x, fmt, opts, rand, backend):
        if backend == "jax" and _policy(opts) != "error":
            from ._numsys_jax import jitted

            r, R = rand if rand is not None else (None, 0)
            return jitted(_encode_jax, (1, 2, 3, 5))(x, fmt, opts.rounding, _policy(opts), r, R)
        return encode_xp(namespace(backend), x, fmt, opts.rounding, _policy(opts), rand)

    def encode(self, x, fmt, opts, key, backend, **extra):
        x, rand = self._prep(x, opts, key, backend, extra)
        codes = self._codes(x, fmt, opts, rand, backend)
        return QArray(codes=codes, format=fmt, shape=x.shape)

    def quantize(self, x, fmt, opts, key, backend, **extra):
        x, rand = self._prep(x, opts, key, backend, extra)
        codes = self._codes(x, fmt, opts, rand, backend)
        if backend == "jax":
            import jax.numpy as jnp

            from ._numsys_jax import jitted

            wdt = "float64" if x.dtype == jnp.float64 else "float32"
            return straight_through(x, jitted(_decode_jax, (1, 2))(codes, fmt, wdt).astype(x.dtype))
        v = _table(fmt, "float64")[codes] if fmt.bits <= 16 else decode_xp(np, codes, fmt, np.float64)
        with np.errstate(over="ignore"):  # a posit beyond x's dtype (float16: > 65504) becomes ±inf
            return v.astype(x.dtype)

    def default_dtype(self, fmt):
        """The dtype ``decode`` gives without ``dtype=`` (NumPy)."""
        return default_decode_dtype(fmt)

    def decode(self, q, dtype, backend):
        fmt = q.format
        if backend == "jax":
            import jax
            import jax.numpy as jnp

            from ._numsys_jax import jitted

            dt = dtype or default_decode_dtype(fmt)
            if dt == "float64" and not jax.config.jax_enable_x64:
                dt = "float32"
            return jitted(_decode_jax, (1, 2))(jnp.asarray(q.codes), fmt, jnp.dtype(dt).name)
        dt = np.dtype(dtype or default_decode_dtype(fmt))
        codes = np.asarray(q.codes)
        v = _table(fmt, "float64")[codes] if fmt.bits <= 16 else decode_xp(np, codes, fmt, np.float64)
        with np.errstate(over="ignore"):
            return v.astype(dt)

    def values(self, fmt):
        if fmt.bits > 24:
            raise ValueError(f"values() enumerates at most 2**24 codes; {fmt} has 2**{fmt.bits}")
        return decode_xp(np, np.arange(1 << fmt.bits, dtype=np.uint32), fmt, np.float64)


register_codec(PositFormat, _PositCodec())


def _posit_formats():
    # Posit Standard 2022, §3: es = 2 for every precision n.
    yield PositFormat(8, 2, name="posit8")
    yield PositFormat(16, 2, name="posit16")
    yield PositFormat(32, 2, name="posit32")
    # Classic es values (Gustafson & Yonemoto 2017; SoftPosit's posit8_t / posit16_t).
    yield PositFormat(8, 0, name="posit8_es0")
    yield PositFormat(8, 1, name="posit8_es1")
    yield PositFormat(16, 1, name="posit16_es1")
    yield PositFormat(32, 3, name="posit32_es3")


_registry.register(_posit_formats)
