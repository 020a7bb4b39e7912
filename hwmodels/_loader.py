"""The one function that turns a preset data file (YAML) into a record, with validation.

Preset files use unit-suffixed keys (``clock_hz``, ``sram_bytes``, ``dram_bandwidth_bytes_per_s``).
For readability a key may use a scaled unit of the same quantity (``clock_mhz: 700``,
``unified_buffer_mib: 24``, ``hbm_bandwidth_tb_per_s: 2.0``); the loader converts it to the
record's base unit. Every record kind declares which of its fields are unit-free (``rows``,
``dataflow``...). An unknown key, a key without its unit, a non-numeric value for a unit key or a
missing required field raises ``ValueError`` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["register_kind", "load_mapping", "load_file", "KINDS", "UNIT_SUFFIXES"]

#: scaled unit suffix -> (base unit suffix, factor). Base units are the suffixes of record fields.
UNIT_SUFFIXES: dict[str, tuple[str, float]] = {}


def _units(base: str, scaled: dict[str, float]) -> None:
    UNIT_SUFFIXES[base] = (base, 1.0)
    for s, f in scaled.items():
        UNIT_SUFFIXES[s] = (base, f)


_units("_hz", {"_khz": 1e3, "_mhz": 1e6, "_ghz": 1e9})
_units("_bytes", {"_kb": 1e3, "_mb": 1e6, "_gb": 1e9, "_tb": 1e12,
                  "_kib": 2.0**10, "_mib": 2.0**20, "_gib": 2.0**30})
_units("_bytes_per_s", {"_gb_per_s": 1e9, "_tb_per_s": 1e12, "_pb_per_s": 1e15})
_units("_bits_per_s", {"_gbit_per_s": 1e9, "_tbit_per_s": 1e12, "_pbit_per_s": 1e15})
_units("_bytes_per_cycle", {})
_units("_flops_per_s", {"_tflops_per_s": 1e12, "_pflops_per_s": 1e15})
_units("_ops_per_s", {"_tops_per_s": 1e12})
_units("_pj", {"_fj": 1e-3, "_nj": 1e3})
_units("_pj_per_bit", {})
_units("_pj_per_byte", {})
_units("_w", {"_kw": 1e3})
_units("_nm", {})
_units("_v", {})
_units("_s", {"_ms": 1e-3, "_us": 1e-6, "_ns": 1e-9})
_units("_cycles", {})
_units("_bits", {})
_units("_per_cycle", {})  # counts per cycle: macs_per_cycle, lookups_per_cycle, ...

#: Keys every file may carry that are not record fields.
META_KEYS = ("kind", "name", "source", "notes")

#: kind name -> record class
KINDS: dict[str, type] = {}


def register_kind(kind: str, cls: type) -> type:
    """Register a record class as a preset ``kind``.

    The class is a dataclass; ClassVars ``UNITLESS`` (field names allowed without a unit suffix)
    and ``NESTED`` (field -> (kind, is_list)) describe its schema. Every other field must end in
    a base unit suffix of :data:`UNIT_SUFFIXES` (checked here, so a record cannot drift from the
    house rule).
    """
    unitless = set(getattr(cls, "UNITLESS", ()))
    nested = dict(getattr(cls, "NESTED", {}))
    for f in dataclasses.fields(cls):
        if f.name in unitless or f.name in nested or f.name == "name":
            continue
        if _split_unit(f.name) is None or UNIT_SUFFIXES[_split_unit(f.name)[1]][1] != 1.0:
            raise AssertionError(f"{cls.__name__}.{f.name}: field without a base unit suffix")
    KINDS[kind] = cls
    return cls


def _split_unit(key: str):
    """(stem, suffix) for the longest known unit suffix of ``key``, or None."""
    best = None
    for suf in UNIT_SUFFIXES:
        if key.endswith(suf) and len(key) > len(suf):
            if best is None or len(suf) > len(best):
                best = suf
    return None if best is None else (key[: -len(best)], best)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def load_mapping(data: Mapping, *, origin: str = "<mapping>", kind: str | None = None,
                 resolve=None):
    """Build a record from a mapping of preset keys.

    Args:
        data: the parsed file (keys as in the module docstring).
        origin: where the mapping came from, for error messages.
        kind: the expected kind; when None, ``data["kind"]`` is required.
        resolve: ``resolve(kind, name) -> record`` used for nested fields given by name (for
            example ``energy_table: horowitz-45nm``).

    Returns:
        The record.

    Raises:
        ValueError: unknown kind or key, missing unit, bad value, missing required field.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{origin}: a preset must be a mapping of keys to values, got {type(data).__name__}")
    k = data.get("kind", kind)
    if not isinstance(k, str):
        raise ValueError(f"{origin}: kind must be one of {sorted(KINDS)}, got {k!r}")
    if kind is not None and k != kind:
        raise ValueError(f"{origin}: kind must be {kind!r}, got {k!r}")
    if k not in KINDS:
        raise ValueError(f"{origin}: kind must be one of {sorted(KINDS)}, got {k!r}")
    cls = KINDS[k]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unitless = set(getattr(cls, "UNITLESS", ()))
    nested = dict(getattr(cls, "NESTED", {}))
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ValueError(f"{origin}: keys must be strings, got {key!r}")
        if key in META_KEYS:
            if key == "name" and "name" in fields:
                kwargs["name"] = str(value)
            continue
        if key in nested:
            sub_kind, is_list = nested[key]
            kwargs[key] = _load_nested(value, sub_kind, is_list, f"{origin}: {key}", resolve)
            continue
        if key in unitless:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
            continue
        split = _split_unit(key)
        if split is not None:
            stem, suf = split
            base, factor = UNIT_SUFFIXES[suf]
            target = stem + base
            if target in fields and target not in unitless:
                if not _is_number(value):
                    raise ValueError(
                        f"{origin}: {key} must be a number (in {suf[1:]}), got {value!r}")
                if target in kwargs:
                    raise ValueError(f"{origin}: {target} given twice (as {key})")
                kwargs[target] = value * factor if factor != 1.0 else value
                continue
        # not a field: say whether a unit is missing or the key is unknown
        with_unit = [f for f in fields if f.startswith(key + "_") and _split_unit(f) == (key, f[len(key):])]
        if with_unit:
            f = with_unit[0]
            base = f[len(key):]
            alts = [s for s, (b, _) in UNIT_SUFFIXES.items() if b == base]
            raise ValueError(
                f"{origin}: key {key!r} has no unit; write {f!r} "
                f"(or {key}{{{', '.join(a for a in alts if a != base)}}})" if len(alts) > 1 else
                f"{origin}: key {key!r} has no unit; write {f!r}")
        allowed = sorted(set(fields) - {"name"} | set(META_KEYS))
        raise ValueError(f"{origin}: unknown key {key!r} for kind {k!r}; allowed keys: {', '.join(allowed)}")
    missing = [
        f.name for f in fields.values()
        if f.name not in kwargs and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(f"{origin}: missing required key(s) for kind {k!r}: {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{origin}: {exc}") from exc


def _load_nested(value, sub_kind, is_list, origin, resolve):
    if is_list:
        if not isinstance(value, list):
            raise ValueError(f"{origin} must be a list of mappings, got {type(value).__name__}")
        return tuple(load_mapping(v, origin=f"{origin}[{i}]", kind=sub_kind, resolve=resolve)
                     for i, v in enumerate(value))
    if isinstance(value, str):
        if resolve is None:
            raise ValueError(f"{origin}: cannot resolve {value!r} here")
        try:
            return resolve(sub_kind, value)
        except FileNotFoundError as exc:
            raise ValueError(f"{origin}: no such file {value!r}") from exc
        except ValueError as exc:
            raise ValueError(f"{origin}: {exc}") from exc
    if isinstance(value, Mapping):
        return load_mapping(value, origin=origin, kind=sub_kind, resolve=resolve)
    cls = KINDS.get(sub_kind)
    if cls is not None and isinstance(value, cls):
        return value
    raise ValueError(f"{origin} must be a name or a mapping, got {type(value).__name__}")


@functools.cache
def _yaml_loader():
    """A ``yaml.SafeLoader`` whose mappings refuse a repeated key (PyYAML keeps the last)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = set()
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        dup = key in seen
                    except TypeError:  # unhashable: SafeLoader says so below
                        continue
                    if dup:
                        raise _DuplicateKey(key, key_node.start_mark.line + 1)
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


class _DuplicateKey(Exception):
    def __init__(self, key, line):
        super().__init__(key, line)
        self.key, self.line = key, line


def load_file(path: str | os.PathLike, *, kind: str | None = None, resolve=None):
    """Read a YAML preset file and build its record (see :func:`load_mapping`).

    Raises:
        ValueError: as :func:`load_mapping`; when the file is not valid YAML; when a mapping
            repeats a key (naming the file, the key and its line).
        FileNotFoundError: when ``path`` does not exist.
    """
    import yaml

    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.load(f, Loader=_yaml_loader())  # noqa: S506  (a SafeLoader subclass)
        except _DuplicateKey as exc:
            raise ValueError(f"{os.fspath(path)}: duplicate key {exc.key!r} (line {exc.line}); "
                             "each key may appear once in a mapping") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"{os.fspath(path)}: not valid YAML: {exc}") from exc
    return load_mapping(data, origin=os.path.basename(os.fspath(path)), kind=kind, resolve=resolve)
