"""The command JSON schemas shipped in vmguard/cli/schema/, for the tests that validate a
command's real output against them (tests/cli/test_json_everywhere.py and each area's)."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema

from vmguard.cli.output import schema_id


def schema(kind: str) -> dict:
    text = resources.files("vmguard.cli").joinpath(f"schema/{kind}-v1.json").read_text()
    return json.loads(text)


def validate(kind: str, out: str) -> dict:
    """One command's JSON output, checked: it names its schema and validates against it."""
    doc = json.loads(out)
    assert doc["schema"] == schema_id(kind)
    jsonschema.validate(doc, schema(kind), cls=jsonschema.Draft202012Validator)
    return doc
