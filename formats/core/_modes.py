"""The one table of mode names and their integer IDs, used by every kernel.

Compiled kernels (Numba) and parameter tuples carry modes as small integers. Every such kernel
— the scalar codec, the block loops, the L-Mul kernel, the GEMM emulator's accumulation kernel —
takes its IDs from here, so that ``ROUNDING_IDS["up"]`` means the same thing everywhere. An ID
is the position of the name in its tuple; the tuples only ever grow at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

__all__ = ["Rounding", "Overflow", "ROUNDINGS", "OVERFLOWS", "SPECIALS", "SCALE_RULES", "ROUNDING_IDS", "OVERFLOW_IDS",
           "SPECIAL_IDS", "SCALE_RULE_IDS"]

#: Rounding modes accepted by every codec.
ROUNDINGS = ("nearest_even", "nearest_away", "toward_zero", "up", "down", "odd", "stochastic")

#: The names of :data:`ROUNDINGS`, for type hints.
Rounding = Literal["nearest_even", "nearest_away", "toward_zero", "up", "down", "odd", "stochastic"]

#: Overflow policies; ``None`` means the format's natural behaviour (resolved before a kernel
#: runs, so it has no ID).
OVERFLOWS = (None, "saturate", "inf", "nan", "error")

#: The names of :data:`OVERFLOWS` (but None), for type hints.
Overflow = Literal["saturate", "inf", "nan", "error"]

#: Special-value families of :class:`formats.FloatFormat` (``specials`` field).
#:
#: ``"ieee"``  the top exponent field holds ±Inf (mantissa 0) and NaNs (mantissa ≠ 0), as IEEE 754.
#: ``"fn"``    finite: no Inf; the all-ones magnitude code (S.111…1) is NaN (OCP E4M3, E8M0).
#: ``"fnuz"``  finite, unsigned zero: no Inf, no −0; the −0 code (1000…0) is the single NaN.
#: ``"p3109"`` IEEE P3109, extended-real domain. Signed: the −0 code is the single NaN and the
#:             top magnitude code of each sign is ±Inf. Unsigned: the top code (all ones) is the
#:             NaN and the code below it +Inf. (P3109's finite domain is ``"fnuz"`` when signed,
#:             ``"fn"`` when unsigned: see :func:`formats.p3109`.)
#: ``"none"``  every code is a finite number (OCP FP6/FP4).
SPECIALS = ("ieee", "fn", "fnuz", "p3109", "none")

#: Scale rules of :class:`formats.BlockFormat` (``scale_rule`` field).
#:
#: ``"floor"``  X = 2^(floor(log2 amax) − emax_elem): OCP MX v1.0 §6.3 (the spec's rule).
#: ``"ceil"``   X = 2^(ceil(log2 amax) − emax_elem)                   (torchao ``CEIL``).
#: ``"rceil"``  X = 2^ceil(log2(amax / max_elem)): no element ever saturates; NVIDIA cuBLAS
#:              ``cvt.rp.satfinite.ue8m0`` / torchao ``RCEIL``.
#: ``"even"``   amax is first rounded to the element's precision (ties away, on the bit pattern,
#:              as torchao ``EVEN``), then ``floor``.
#: ``"amax"``   X = amax / max_elem (÷ tensor scale) rounded to the scale format (nearest even)
#:              and clamped to [scale.smallest_normal, scale.max]: the NVFP4 recipe (NVIDIA,
#:              torchao ``nvfp4_quantize``).
SCALE_RULES = ("floor", "ceil", "rceil", "even", "amax")


def _ids(names) -> Mapping[str, int]:
    return MappingProxyType({n: i for i, n in enumerate(n for n in names if n is not None)})


#: Integer ID of each rounding mode in compiled kernels: nearest_even 0, nearest_away 1,
#: toward_zero 2, up 3, down 4, odd 5, stochastic 6.
ROUNDING_IDS: Mapping[str, int] = _ids(ROUNDINGS)

#: Integer ID of each (resolved) overflow policy in compiled kernels: saturate 0, inf 1, nan 2,
#: error 3.
OVERFLOW_IDS: Mapping[str, int] = _ids(OVERFLOWS)

#: Integer ID of each special-value family in compiled kernels: ieee 0, fn 1, fnuz 2, p3109 3,
#: none 4.
SPECIAL_IDS: Mapping[str, int] = _ids(SPECIALS)

#: Integer ID of each block scale rule in compiled kernels: floor 0, ceil 1, rceil 2, even 3,
#: amax 4.
SCALE_RULE_IDS: Mapping[str, int] = _ids(SCALE_RULES)
