"""Products of two formats: the multipliers a dot-product unit may use and the accumulator it
sums into when none is given.

One definition for the two packages that model a dot-product unit: ``simulator.matmul`` (which
emulates it bit for bit) and ``hwmodels`` (which prices it). Both take ``multiplier=`` from
:data:`MULTIPLIERS` and, without an ``accumulator=``, accumulate in
:func:`default_accumulator` — so an estimate describes the machine that the emulation computes.
"""

from __future__ import annotations

from typing import Any, Literal

from .core._records import Format, IntFormat
from .core._registry import UnknownFormatError, get

__all__ = ["MULTIPLIERS", "Multiplier", "default_accumulator"]

#: How a dot-product unit multiplies two operands:
#:
#: ``"exact"`` the exact product of the two values;
#: ``"lmul"``  L-Mul (Luo & Sun, arXiv 2410.00907): the exponent-and-mantissa fields of two
#:             float operands are added as integers (:func:`formats.lmul`);
#: ``"lns"``   the log-domain product of two LNS operands: their log fields are added
#:             (:func:`formats.lns_multiply`).
MULTIPLIERS = ("exact", "lmul", "lns")

Multiplier = Literal["exact", "lmul", "lns"]


def default_accumulator(a_format: Format | str | Any, b_format: Format | str | Any,
                        multiplier: str = "exact") -> Format:
    """The accumulator format of a dot product of ``a_format`` by ``b_format`` operands under
    ``multiplier``, when none is given.

    The rule:

    * ``int32`` when both operands are integer formats (family ``"int"``: :class:`IntFormat`,
      not block, scaled or codebook formats) and the multiplier is exact — integer products summed exactly in a
      32-bit two's-complement register, as integer MAC arrays do (TPU v1: 8-bit operands, 32-bit
      accumulators, Jouppi et al., ISCA 2017, §2; NVIDIA int8 IMMA accumulates in int32);
    * ``float32`` otherwise — the accumulator of tensor-core MMA for FP16/BF16/FP8 inputs and of
      the OCP MX dot product (OCP MX v1.0 §6.2), and of approximate multipliers: L-Mul's products
      are float values (Luo & Sun, arXiv 2410.00907, §3), and LNS × LNS products (log fields
      added) are converted to linear values and summed in float32, a hybrid log-linear MAC (as
      in LNS-Madam, Zhao et al., arXiv 2106.13914). An LNS accumulator (log-domain addition
      through a Gaussian-log table) is available by asking for it explicitly where the model
      supports it (``hwmodels`` cost models); ``simulator.matmul`` accumulates in float and
      integer formats only.

    Args:
        a_format, b_format: format records or registered names (or records of a family defined
            outside ``formats``, which ``hwmodels`` prices: anything with a ``family``).
        multiplier: one of :data:`MULTIPLIERS`.

    Returns:
        The accumulator's format record (``formats.get("int32")`` or ``formats.get("float32")``).

    Raises:
        ValueError: an unknown ``multiplier`` (naming it and the allowed values).
        UnknownFormatError: an unknown format name (a ValueError and a KeyError), naming it.
        TypeError: an argument that is no format (naming it).
    """
    if multiplier not in MULTIPLIERS:
        raise ValueError(f"multiplier must be one of {MULTIPLIERS}, got {multiplier!r}")
    fa, fb = (_family(f, name) for f, name in ((a_format, "a_format"), (b_format, "b_format")))
    if fa == fb == IntFormat.family and multiplier == "exact":
        return get("int32")
    return get("float32")


def _family(fmt, name: str) -> str:
    if isinstance(fmt, str):
        try:
            return get(fmt).family
        except UnknownFormatError as exc:
            raise UnknownFormatError(f"{name}: {exc}") from None
    family = getattr(fmt, "family", None)
    if not isinstance(family, str):
        raise TypeError(f"{name} must be a format record or a registered name, got {type(fmt).__name__}")
    return family
