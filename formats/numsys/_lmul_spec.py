"""Constants of L-Mul (Luo & Sun, arXiv 2410.00907) per format, shared by the array kernel in
``_lmul`` and the Numba kernel in ``_lmul_numba`` (which ``_lmul`` imports lazily: both import
this module, neither the other)."""

from __future__ import annotations

import functools

from ..core._records import FloatFormat

__all__ = ["lmul_offset", "lmul_spec"]


def lmul_offset(mantissa_bits: int) -> int:
    """l(m) of arXiv 2410.00907 (Eq. 4): m for m ≤ 3, 3 for m = 4, 4 for m > 4."""
    m = mantissa_bits
    return m if m <= 3 else 3 if m == 4 else 4


@functools.cache
def lmul_spec(fmt: FloatFormat) -> dict:
    """The integer constants of L-Mul on codes of ``fmt``, shared by the array kernel
    (``_lmul.lmul_codes_xp``) and the Numba kernel (``_lmul_numba``)."""
    m = fmt.mantissa_bits
    ell = lmul_offset(m)
    top = (1 << fmt.exponent_bits) - 1
    return dict(
        m=m, bias=fmt.bias, off=1 << (m - ell),
        C=(fmt.bias << m) - (1 << (m - ell)),                 # the paper's constant (0x3F780000 for fp32)
        mmask=(1 << m) - 1, magmask=fmt.magnitude_mask, sign=fmt.sign_mask, top=top,
        maxmag=fmt.max_code & fmt.magnitude_mask, specials=fmt.specials,
        negzero=fmt.has_negative_zero, nan_code=-1 if fmt.nan_code is None else fmt.nan_code,
        pinf=fmt.inf_codes[0] if fmt.inf_codes else -1, ninf=fmt.inf_codes[1] if fmt.inf_codes else -1,
        bits=fmt.bits,
    )
