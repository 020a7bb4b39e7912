"""``CITATION.cff``: valid Citation File Format 1.2.0 (checked offline against the format's JSON
schema), and in agreement with the package it cites."""

from __future__ import annotations

import json
import pathlib
import tomllib

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "fixtures" / "cff" / "schema-1.2.0.json"


def _cff():
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_citation_is_valid_cff_1_2():
    schema = json.loads(SCHEMA.read_text())
    cff = _cff()
    jsonschema.validate(cff, schema)
    assert cff["cff-version"] == "1.2.0"
    # the validator rejects what the format rejects
    bad = dict(cff)
    del bad["authors"]
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError as exc:
        assert "authors" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a CITATION.cff without authors validated")


def test_citation_agrees_with_the_package():
    from lowbit import __version__

    cff = _cff()
    assert cff["version"] == __version__
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff.get("repository-code") == project.get("urls", {}).get("Repository")
    lic = project["license"]
    assert cff["license"] == (lic["text"] if isinstance(lic, dict) else lic)
    assert "CITATION.cff" in (ROOT / "README.md").read_text()
