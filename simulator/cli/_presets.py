"""``lowbit presets``: the hardware presets, and ``presets show NAME``: every field of one, with
its value in SI units, the key and value as written in the preset file, and where the number
comes from (the comment on its line or just above it in the file, else the file's ``source``).

:func:`describe` is also what the documentation's presets table is generated from.
"""

from __future__ import annotations

import dataclasses
import os
import re

from ._display import exact, si

__all__ = ["describe", "preset_path", "list_table", "register", "UNIT_SYMBOLS"]

#: base unit suffix of a record field -> (SI symbol, factor from the field's unit to the symbol's)
UNIT_SYMBOLS = {
    "_bytes_per_cycle": ("B/cycle", None), "_bytes_per_s": ("B/s", 1.0),
    "_bits_per_s": ("bit/s", 1.0), "_flops_per_s": ("FLOP/s", 1.0), "_ops_per_s": ("OP/s", 1.0),
    "_pj_per_bit": ("pJ/bit", None), "_pj_per_byte": ("pJ/B", None), "_per_cycle": ("/cycle", None),
    "_hz": ("Hz", 1.0), "_bytes": ("B", 1.0), "_pj": ("J", 1e-12), "_w": ("W", 1.0), "_s": ("s", 1.0),
    "_nm": ("nm", None), "_v": ("V", 1.0), "_cycles": ("cycles", None), "_bits": ("bits", None),
}

_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:(.*)$")


def preset_path(name: str):
    """The preset file of a built-in preset name, or ``name`` itself when it is a YAML path.

    Raises:
        ValueError: ``name`` is neither (the message lists the presets).
        FileNotFoundError: a ``.yaml`` path that does not exist.
    """
    from importlib import resources

    from lowbit import hwmodels

    if name.endswith((".yaml", ".yml")) or os.sep in name:
        if not os.path.isfile(name):
            raise FileNotFoundError(2, "No such file or directory", name)
        return name
    key = name.strip().lower().replace("_", "-")
    hwmodels.presets.get(key)  # raises ValueError naming the presets
    return resources.files("lowbit.hwmodels.data") / f"{key}.yaml"


def _inline_comment(rest: str) -> str:
    """The ``# comment`` of a YAML value text, outside quotes."""
    quote = None
    for i, ch in enumerate(rest):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or rest[i - 1].isspace()):
            return rest[i + 1:].strip()
    return ""


def _read_comments(text: str):
    """(header comment lines, {top-level key: (value as written, note)}) of a preset file."""
    header: list[str] = []
    keys: dict[str, tuple[str, str]] = {}
    pending: list[str] = []
    seen_key = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            (pending if seen_key else header).append(stripped.lstrip("#").strip())
            continue
        if not stripped:
            if seen_key:
                pending = []
            continue
        m = _KEY.match(line)
        if m is None:  # a nested or continuation line
            continue
        seen_key = True
        key, rest = m.groups()
        note = _inline_comment(rest)
        value = rest.split(" #")[0].strip() if note else rest.strip()
        keys[key] = (value, " ".join([*pending, note]).strip())
        pending = []
    return header, keys


def _unit(field: str):
    for suffix in sorted(UNIT_SYMBOLS, key=len, reverse=True):
        if field.endswith(suffix):
            return UNIT_SYMBOLS[suffix]
    return None


def _value_text(field: str, v) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, str):
        return v
    if dataclasses.is_dataclass(v):
        return getattr(v, "name", "") or type(v).__name__
    if isinstance(v, (tuple, list)):
        return ", ".join(_value_text(field, x) for x in v)
    unit = _unit(field)
    if unit is None:
        return exact(v)
    symbol, factor = unit
    if factor is None:  # a unit without SI prefixes (nm, cycles, per cycle)
        return f"{exact(v) if float(v).is_integer() else format(float(v), '.6g')} {symbol}"
    return si(v * factor, symbol)


def _yaml_key_for(field: str, keys: dict, fields: set) -> str | None:
    """The key of the file that set ``field``: itself, or the same quantity in a scaled unit
    (``clock_mhz`` for ``clock_hz``, ``hbm_mib`` for ``hbm_bytes``, ``hbm_bandwidth_tb_per_s``
    for ``hbm_bandwidth_bytes_per_s``: the same stem, a unit with as many words and the same
    words after its first). None when the file does not set it."""
    if field in keys:
        return field
    for suffix in sorted(UNIT_SYMBOLS, key=len, reverse=True):
        if field.endswith(suffix):
            stem, words = field[: -len(suffix)], suffix.split("_")[1:]
            for k in keys:
                if k in fields or not k.startswith(stem + "_"):
                    continue
                rest = k[len(stem) + 1:].split("_")
                if len(rest) == len(words) and rest[1:] == words[1:]:
                    return k
            return None
    return None


def describe(name: str) -> dict:
    """Every field of a preset with its value, how the file wrote it, and its source.

    Args:
        name: a built-in preset name (``"tpu-v1"``) or a path to a preset YAML file.

    Returns:
        A dict: ``name``, ``kind`` (the record class), ``source`` (the file's ``source`` key),
        ``header`` (the comment lines that open the file: its citations), ``notes`` (the file's
        ``notes`` key) and ``fields``: a list of dicts, one per record field in declaration
        order, with ``field``, ``value`` (the record's value), ``text`` (in SI units),
        ``given`` (``"clock_mhz: 700"`` as written in the file, or ``"default"``) and ``note``
        (the comment on the key's line or the lines just above it; empty when none).

    Raises:
        ValueError: an unknown preset (the message lists them) or an invalid file.
        FileNotFoundError: a path that does not exist.
    """
    from lowbit import hwmodels

    path = preset_path(name)
    text = path.read_text(encoding="utf-8") if hasattr(path, "read_text") else open(path, encoding="utf-8").read()
    if isinstance(path, str):
        record = hwmodels.presets.load(path)
    else:
        record = hwmodels.presets.get(name.strip().lower().replace("_", "-"))
    header, keys = _read_comments(text)
    import yaml

    data = yaml.safe_load(text) or {}
    names = {f.name for f in dataclasses.fields(record)}
    rows = []
    for f in dataclasses.fields(record):
        if f.name == "name":
            continue
        v = getattr(record, f.name)
        key = _yaml_key_for(f.name, keys, names)
        if key is None:
            given, note = "default", ""
        else:
            given, note = f"{key}: {keys[key][0]}", keys[key][1]
        rows.append({"field": f.name, "value": v, "text": _value_text(f.name, v), "given": given,
                     "note": note})
    return {"name": getattr(record, "name", "") or str(name), "kind": type(record).__name__,
            "source": str(data.get("source", "")), "notes": str(data.get("notes", "") or ""),
            "header": header, "fields": rows}


def _peak(machine):
    """Achieved operations per second of the machine's native 4096³ GEMM (its cost model)."""
    try:
        c = machine.gemm(4096, 4096, 4096)
    except (ValueError, TypeError):
        return ""
    return si(2 * 4096**3 / c.seconds, "OP/s") if c.seconds > 0 else ""


def list_table():
    """One row per preset: name, kind, clock, node, native 4096³ GEMM rate, source."""
    import pandas as pd

    from lowbit import hwmodels

    rows = []
    for n in hwmodels.presets.names():
        m = hwmodels.presets.get(n)
        d = describe(n)
        clock = getattr(m, "clock_hz", None)
        node = getattr(m, "node_nm", None)
        rows.append({"name": n, "kind": d["kind"],
                     "clock": si(clock, "Hz") if clock else "",
                     "node": f"{exact(node)} nm" if node else "",
                     "GEMM 4096³ (native)": _peak(m), "source": d["source"]})
    return pd.DataFrame(rows)


def register(sub) -> None:
    p = sub.add_parser(
        "presets", help="list hardware presets, or `presets show NAME` with every field and its source",
        description="Without arguments: every hardware preset (name, kind, clock, node, the rate "
                    "its cost model gives a native 4096³ GEMM, source). `presets show NAME` (or a "
                    "preset YAML path): every field with its value, the key as written in the "
                    "file, and the source of the number.")
    p.add_argument("action", nargs="?", choices=["show"], help="show one preset in full")
    p.add_argument("name", nargs="?", help="preset name or YAML path (with `show`)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    import pandas as pd

    if args.action == "show":
        if not args.name:
            raise ValueError("`lowbit presets show` needs a preset NAME (see `lowbit presets`)")
        show(args.name)
        return 0
    if args.name:
        raise ValueError(f"unexpected argument {args.name!r}; did you mean `lowbit presets show {args.name}`?")
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_columns", 20,
                           "display.max_colwidth", 90):
        print(list_table().to_string(index=False))
    print("\n`lowbit presets show NAME` lists every field with its source.")
    return 0


def show(name: str) -> None:
    """Print :func:`describe` of ``name``."""
    d = describe(name)
    print(f"{d['name']} ({d['kind']})")
    if d["source"]:
        print(f"source: {d['source']}")
    for line in d["header"]:
        print(f"  # {line}")
    if d["notes"]:
        print(f"notes: {d['notes']}")
    print()
    fw = max(len(r["field"]) for r in d["fields"])
    vw = max(len(r["text"]) for r in d["fields"])
    gw = max(len(r["given"]) for r in d["fields"])
    print(f"{'field':{fw}s}  {'value':{vw}s}  {'in the file':{gw}s}  source")
    for r in d["fields"]:
        src = r["note"] or ("the file's source (above)" if r["given"] != "default"
                            else "lowbit's default for the record")
        print(f"{r['field']:{fw}s}  {r['text']:{vw}s}  {r['given']:{gw}s}  {src}")
