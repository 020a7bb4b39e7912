"""One validator for the numbers of every hardware record, driven by the dataclass fields.

A record calls :func:`check_fields` first thing in ``__post_init__``. Every field whose type
annotation is ``float`` or ``int`` (optionally ``| None``) is a numeric field and must be a finite
real number — never a bool, a string (numeric or not), NaN or ±Inf — ``> 0`` unless the record
lists the field in its ``NON_NEGATIVE`` ClassVar (then ``>= 0``); an ``int`` field must hold an
integer and is stored as a Python ``int``. Because the rule reads the fields, a field added to a
record is validated without anyone remembering to add it to a list. Fields annotated with other
classes (``str``, ``bool``, ``EnergyTable | None``, ``tuple``) are type-checked; fields named
``*_format`` must name a registered format (``accumulator_format`` a scalar one).

Raises TypeError (wrong type) or ValueError (wrong value), each naming the field and what is
allowed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing

import numpy as np

__all__ = ["check_number", "check_positive", "check_fields"]

_REAL = (int, float, np.integer, np.floating)


def _allowed(low, strict, integer, allow_none) -> str:
    if integer:
        what = "an integer" + ("" if low is None else f" >= {math.floor(low) + 1 if strict else math.ceil(low)}")
    else:
        what = "a finite number" + ("" if low is None else f" {'>' if strict else '>='} {low:g}")
    return what + (" or None" if allow_none else "")


def check_number(name: str, v, *, low: float | None = 0.0, strict: bool = True,
                 integer: bool = False, allow_none: bool = False):
    """Validate one numeric parameter and return it as a plain Python number.

    Args:
        name: the parameter's name, used in the message.
        v: the value.
        low: lower bound (None: any finite number); ``strict`` makes it exclusive.
        integer: require an integral value (returned as ``int``).
        allow_none: accept None (returned as is).

    Returns:
        ``v`` as an ``int`` (``integer``), unchanged when it is a Python ``int``/``float``, or
        as a ``float`` (NumPy scalars); None when allowed and given.

    Raises:
        TypeError: ``v`` is not a real number (bools and strings, numeric or not, included).
        ValueError: ``v`` is NaN, ±Inf, not integral when required, or below the bound.
    """
    if v is None and allow_none:
        return None
    allowed = _allowed(low, strict, integer, allow_none)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, _REAL):
        raise TypeError(f"{name} must be {allowed}, got {v!r} ({type(v).__name__})")
    try:
        x = float(v)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        raise ValueError(f"{name} must be {allowed}, got {v!r}")
    if integer and not x.is_integer():
        raise ValueError(f"{name} must be {allowed}, got {v!r}")
    if low is not None and (x < low or (strict and x == low)):
        raise ValueError(f"{name} must be {allowed}, got {v!r}")
    if integer:
        return int(v)
    return v if type(v) in (int, float) else x


def check_positive(name: str, v, *, integer: bool = False, allow_none: bool = False):
    """:func:`check_number` with the bound ``> 0`` (an integer >= 1 when ``integer``)."""
    return check_number(name, v, low=0.0, strict=True, integer=integer, allow_none=allow_none)


@dataclasses.dataclass(frozen=True)
class _Spec:
    name: str
    numeric: bool
    integer: bool = False
    allow_none: bool = False
    classes: tuple = ()


@functools.cache
def field_specs(cls) -> tuple[_Spec, ...]:
    """How each field of the dataclass ``cls`` is checked, read from its type annotations."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        args = typing.get_args(t) if isinstance(t, types.UnionType) or \
            typing.get_origin(t) is typing.Union else (t,)
        allow_none = type(None) in args
        rest = tuple(a for a in args if a is not type(None))
        if rest and all(a in (int, float) for a in rest):
            out.append(_Spec(f.name, True, integer=rest == (int,), allow_none=allow_none))
        elif all(isinstance(a, type) for a in rest):
            out.append(_Spec(f.name, False, allow_none=allow_none, classes=rest))
        else:  # pragma: no cover - an annotation this validator does not understand
            raise AssertionError(f"{cls.__name__}.{f.name}: cannot validate annotation {t!r}")
    return tuple(out)


def check_fields(record) -> None:
    """Validate every field of a frozen dataclass record in place (see the module docstring).

    Numeric fields are normalised (integers to ``int``, NumPy scalars to Python numbers).

    Raises:
        TypeError, ValueError: naming the first bad field and what it allows.
    """
    cls = type(record)
    non_negative = getattr(cls, "NON_NEGATIVE", ())
    for s in field_specs(cls):  # type: ignore[arg-type]  # a class is hashable
        v = getattr(record, s.name)
        if s.numeric:
            new = check_number(s.name, v, low=0.0, strict=s.name not in non_negative,
                               integer=s.integer, allow_none=s.allow_none)
            if new is not v:
                object.__setattr__(record, s.name, new)
            continue
        if v is None and s.allow_none:
            continue
        if s.name.endswith("_format"):
            from ._operand import resolve_accumulator, resolve_format

            if s.name == "accumulator_format":
                resolve_accumulator(v, s.name)
            else:
                resolve_format(v, s.name)
            continue
        if s.classes and not isinstance(v, s.classes):
            names = " or ".join(c.__name__ for c in s.classes) + (" or None" if s.allow_none else "")
            raise TypeError(f"{s.name} must be of type {names}, got {v!r} ({type(v).__name__})")
