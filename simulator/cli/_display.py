"""How the command line writes numbers: exact values and SI units, one helper each.

* :func:`exact` writes a binary floating-point value exactly: a short decimal when the value has
  one (``448``, ``0.001953125``), else ``m×2^e`` with an odd integer ``m`` (``2^-149``,
  ``3×2^-149``, ``16777215×2^104``) — never a rounded decimal.
* :func:`si` writes a measured quantity with the SI prefix that fits its magnitude
  (``1.302 ms``, ``45.1 µJ``, ``3.2 mJ``, ``13.5 GB``), four significant digits.

Every ``lowbit`` command (``formats``, ``quantize``, ``estimate``, ``sweep``, ``presets``,
``workloads``, ``bench``) and the documentation tables use these two.
"""

from __future__ import annotations

import math
import numbers
from decimal import Decimal

__all__ = ["exact", "si", "SI_PREFIXES"]

#: SI prefixes from pico to peta (power of 1000 -> prefix)
SI_PREFIXES = {-5: "f", -4: "p", -3: "n", -2: "µ", -1: "m", 0: "", 1: "k", 2: "M", 3: "G", 4: "T", 5: "P"}

#: powers of two 2^k written as decimals for k in this range (2^-9 = 0.001953125, 2^16 = 65536);
#: outside it as 2^k
POW2_DECIMAL_RANGE = (-9, 16)

#: longest plain decimal :func:`exact` writes before switching to m×2^e
MAX_DECIMAL_CHARS = 20


def exact(v, *, max_decimal: int = MAX_DECIMAL_CHARS) -> str:
    """The exact value of ``v`` (an int or a binary float) as text.

    Args:
        v: an int, a float (NumPy scalars included), or None.
        max_decimal: the longest plain decimal (characters, sign excluded) to write; a longer
            one is written as ``m×2^e``.

    Returns:
        ``"448"``, ``"-0.001953125"``, ``"2^-14"``, ``"2^-149"``, ``"3×2^-149"``, ``"inf"``, ``"-inf"``,
        ``"nan"``, ``"-0"``; ``""`` for None. Integers are written in full.

    Raises:
        TypeError: ``v`` is not a real number.
    """
    if v is None:
        return ""
    if isinstance(v, (bool, str, bytes)):
        raise TypeError(f"exact() takes a real number, got {type(v).__name__}")
    if isinstance(v, numbers.Integral):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"exact() takes a real number, got {type(v).__name__}") from None
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    sign = "-" if f < 0 else ""
    m, e = abs(f).as_integer_ratio()  # m / e with e a power of two
    k = -(e.bit_length() - 1)
    while m % 2 == 0:
        m //= 2
        k += 1
    if m == 1 and not POW2_DECIMAL_RANGE[0] <= k <= POW2_DECIMAL_RANGE[1]:
        return f"{sign}2^{k}"
    text = format(Decimal(abs(f)), "f")  # exact: every binary float has a finite decimal expansion
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if len(text) <= max_decimal:
        return sign + text
    return f"{sign}2^{k}" if m == 1 else f"{sign}{m}×2^{k}"


def si(value, unit: str, *, digits: int = 4) -> str:
    """``value`` in ``unit`` with the SI prefix that suits its magnitude.

    Args:
        value: a real number in the base unit (seconds, joules, bytes, ...).
        unit: the base unit's symbol (``"s"``, ``"J"``, ``"B"``, ``"W"``, ``"op/s"``, ...).
        digits: significant digits (default 4).

    Returns:
        For example ``si(0.001302, "s") == "1.302 ms"``, ``si(4.51e-5, "J") == "45.1 µJ"``,
        ``si(0, "J") == "0 J"``; NaN and infinities as ``"nan J"``, ``"inf J"``.

    Raises:
        TypeError: ``value`` is not a real number.
    """
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"si() takes a real number, got {type(value).__name__}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"si() takes a real number, got {type(value).__name__}") from None
    if not math.isfinite(v) or v == 0:
        return f"{exact(v)} {unit}"
    p = math.floor(math.log10(abs(v)) / 3)
    p = max(min(p, max(SI_PREFIXES)), min(SI_PREFIXES))
    scaled = v / 1000.0 ** p
    text = f"{scaled:.{digits}g}"
    if abs(float(text)) >= 1000 and p < max(SI_PREFIXES):  # 999.96 rounds to 1000: next prefix
        p += 1
        text = f"{v / 1000.0 ** p:.{digits}g}"
    if "e" in text:  # beyond the prefixes: plain scientific notation
        return f"{v:.{digits}g} {unit}"
    return f"{text} {SI_PREFIXES[p]}{unit}"
