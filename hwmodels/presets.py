"""Machine presets: named, validated data files (``hwmodels/data/<name>.yaml``).

``get(name)`` returns the machine record of a built-in preset; ``names()`` lists them; ``load``
reads a user file (or mapping) of any kind — a machine, an energy table — through the same
validating loader. Preset files use unit-suffixed keys; an unknown key or a key without its unit
is a ``ValueError`` naming the file and key (see ``hwmodels/_loader.py``).

Example::

    >>> import hwmodels
    >>> tpu = hwmodels.presets.get("tpu-v1")
    >>> tpu.rows, tpu.cols, tpu.clock_hz
    (256, 256, 700000000.0)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

from ._builtin import _data_dir, _load_builtin, _resolve
from ._loader import KINDS, load_file, load_mapping
from .energy import _energy  # noqa: F401  (registers the table kinds)
from .machines import _bitserial, _gpu, _lutgemm, _systolic, _wafer  # noqa: F401  (register kinds)

__all__ = ["get", "names", "load", "MACHINE_KINDS"]

#: preset kinds that are machines (the others are energy and technology tables)
MACHINE_KINDS = ("systolic", "bitserial", "lutgemm", "wafer", "gpu")

_NON_MACHINE_PREFIXES = ("energy-", "tech-")


@functools.cache
def names() -> list[str]:
    """Names of the built-in machine presets, sorted."""
    out = []
    for res in _data_dir().iterdir():
        n = res.name
        if n.endswith(".yaml") and not n.startswith(_NON_MACHINE_PREFIXES):
            out.append(n[: -len(".yaml")])
    return sorted(out)


def get(name: str) -> Any:
    """The machine record of the built-in preset ``name``.

    Args:
        name: one of :func:`names` (``"tpu-v1"``, ``"systolic-128x128"``, ``"a100"``, ...);
            underscores are accepted for dashes (``"cerebras_wse2"``).

    Returns:
        A frozen machine record (``SystolicArray``, ``BitSerialArray``, ``LutGemmUnit``,
        ``WaferMesh`` or ``GPU``).

    Raises:
        TypeError: if ``name`` is not a str.
        ValueError: if ``name`` is not a preset (the message lists them).
    """
    if not isinstance(name, str):
        raise TypeError(f"preset name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key not in names():
        import difflib

        close = difflib.get_close_matches(key, names(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown hardware preset {name!r}; presets: {', '.join(names())}.{hint}")
    rec = _load_builtin(key)
    if type(rec).__name__ not in {KINDS[k].__name__ for k in MACHINE_KINDS}:
        raise ValueError(f"{name!r} is not a machine preset")  # pragma: no cover
    return rec


def load(source: str | os.PathLike | Mapping) -> Any:
    """Load a preset of any kind from a YAML file path or a mapping, with validation.

    Args:
        source: path to a ``.yaml`` file, or a mapping with the same keys (``kind`` required).

    Returns:
        The record (a machine, an ``EnergyTable``, ...).

    Raises:
        ValueError: unknown kind or key, a key without its unit, a missing required key.
        FileNotFoundError: if the file does not exist.
    """
    if isinstance(source, Mapping):
        return load_mapping(source, resolve=_resolve)
    if isinstance(source, (str, os.PathLike)):
        return load_file(source, resolve=_resolve)
    raise TypeError(f"source must be a path or a mapping, got {type(source).__name__}")
