"""The built-in data files (``hwmodels/data/*.yaml``): their names, and loading them through the
validating loader (``_loader``). Below ``presets`` (machines) and ``energy`` (tables), which both
read built-in files: neither imports the other for it.
"""

from __future__ import annotations

import functools
import os
from importlib import resources

from ._loader import load_file

__all__ = ["check_builtin"]

#: file-name prefixes of the built-in tables that presets reference by name
_TABLE_PREFIXES = {"energy_table": "energy-", "tech_scaling": "tech-"}


def _data_dir():
    return resources.files("lowbit.hwmodels.data")


def _resolve(kind: str, ref: str):
    """Resolve a nested reference: a built-in table name or a path to a YAML file."""
    if ref.endswith((".yaml", ".yml")) or os.sep in ref:
        return load_file(ref, kind=kind, resolve=_resolve)
    prefix = _TABLE_PREFIXES.get(kind)
    if prefix is None:
        raise ValueError(f"cannot resolve {ref!r} as a {kind}")
    check_builtin(kind, prefix, ref)
    return _load_builtin(f"{prefix}{ref}", kind=kind)


@functools.cache
def _builtin_names(prefix: str) -> tuple[str, ...]:
    """Names of the built-in data files ``<prefix><name>.yaml``, sorted."""
    return tuple(sorted(r.name[len(prefix):-len(".yaml")] for r in _data_dir().iterdir()
                        if r.name.startswith(prefix) and r.name.endswith(".yaml")))


def check_builtin(param: str, prefix: str, name) -> None:
    """Raise naming ``param`` unless ``name`` is a built-in table ``<prefix><name>.yaml``.

    Raises:
        TypeError: ``name`` is not a str.
        ValueError: ``name`` is not built in (the message lists the names that are).
    """
    if not isinstance(name, str):
        raise TypeError(f"{param} must be a str naming a built-in table, got {type(name).__name__}")
    allowed = _builtin_names(prefix)
    if name not in allowed:
        raise ValueError(f"unknown {param} {name!r}; built-in names: {', '.join(allowed)} "
                         "(or give a path to a .yaml file)")


@functools.cache
def _load_builtin(stem: str, kind: str | None = None):
    res = _data_dir() / f"{stem}.yaml"
    if not res.is_file():
        raise FileNotFoundError(stem)
    with resources.as_file(res) as path:
        return load_file(path, kind=kind, resolve=_resolve)
