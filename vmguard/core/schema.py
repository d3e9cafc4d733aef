"""JSON Schema validation whose errors point at the YAML line and say how to fix them.

jsonschema's own messages are written for programmers ("Additional properties are not
allowed"); admins get `file:line:col: spec.devices: unknown key 'clipbaord' (did you mean
'clipboard'?)`. Schemas carry an `x-hint` next to a constraint to say what is expected.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from vmguard.core.errors import Problem
from vmguard.core.yamlsource import Document, Path_

_TYPE_NAMES = {
    "object": "a mapping (key: value)",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}


def shipped_schema(schema_name: str) -> dict[str, Any]:
    text = resources.files("vmguard.policy").joinpath("schema", schema_name).read_text()
    return json.loads(text)


@cache
def validator(schema_name: str) -> Draft202012Validator:
    # The shipped schemas are checked against the meta-schema by a test
    # (tests/policy/test_schema.py), not at every run: that check cost about 0.2 s of
    # CPU per command, more than vetting a thousand small files.
    return Draft202012Validator(shipped_schema(schema_name))


def dotted(path: Path_) -> str:
    """("spec", "network", "egress", 0, "to") -> "spec.network.egress[0].to"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "nothing (null)"
    names = {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _choices(values: list[Any]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


def _with_hint(message: str, schema: dict[str, Any]) -> str:
    hint = schema.get("x-hint")
    return f"{message} ({hint})" if hint else message


def _message(err: ValidationError) -> str:
    value, schema, kind = err.instance, err.schema, err.validator
    if kind == "enum" and isinstance(value, bool):
        return (
            f"YAML reads yes/no/on/off as true/false; write one of {_choices(schema['enum'])} "
            "(quote it if it must be a word)"
        )
    if kind == "enum":
        message = f"{value!r} is not allowed (use {_choices(schema['enum'])})"
        return f"{message}; {schema['x-hint']}" if "x-hint" in schema else message
    if kind == "const":
        return _with_hint(f"{value!r} is not allowed", schema)
    if kind == "type":
        wanted = _TYPE_NAMES.get(str(schema["type"]), str(schema["type"]))
        return _with_hint(f"expected {wanted}, got {_type_name(value)}", schema)
    if kind in ("minItems", "minLength"):
        return _with_hint("must not be empty", schema) if not value else _with_hint("is too short", schema)
    if kind in ("minimum", "maximum", "exclusiveMinimum"):
        return _with_hint(f"{value} is out of range", schema)
    return _with_hint(f"{value!r} is not valid", schema)


def _unknown_keys(doc: Document, err: ValidationError) -> list[Problem]:
    allowed = sorted(err.schema.get("properties", {}))
    problems = []
    for key in sorted(set(err.instance) - set(allowed)):
        path = (*err.absolute_path, key)
        near = difflib.get_close_matches(key, allowed, n=1)
        fix = f"did you mean '{near[0]}'?" if near else f"allowed: {', '.join(allowed)}"
        pos = doc.pos(path, key=True)
        where = dotted(tuple(err.absolute_path)) or "(top level)"
        problems.append(Problem(pos.file, pos.line, pos.col, where, f"unknown key '{key}' ({fix})"))
    return problems


def _missing_keys(doc: Document, err: ValidationError) -> list[Problem]:
    pos = doc.pos(tuple(err.absolute_path))
    where = dotted(tuple(err.absolute_path)) or "(top level)"
    missing = [k for k in err.schema["required"] if k not in err.instance]
    return [Problem(pos.file, pos.line, pos.col, where, f"missing required key '{k}'") for k in missing]


def _problems(doc: Document, err: ValidationError) -> list[Problem]:
    if err.validator == "additionalProperties":
        return _unknown_keys(doc, err)
    if err.validator == "required":
        return _missing_keys(doc, err)
    path = tuple(err.absolute_path)
    pos = doc.pos(path)
    return [Problem(pos.file, pos.line, pos.col, dotted(path), _message(err))]


def _bad_paths(err: ValidationError) -> list[Path_]:
    """What to cut so the rest of the document can still be checked."""
    path = tuple(err.absolute_path)
    if err.validator == "additionalProperties":
        return [(*path, k) for k in set(err.instance) - set(err.schema.get("properties", {}))]
    return [path]


def _within(path: Path_, ancestor: Path_) -> bool:
    return path[: len(ancestor)] == ancestor


def _shift(table: dict[Path_, Any], parent: Path_, index: int) -> None:
    """Renumber positions after list item parent[index] is removed."""
    n = len(parent)
    for path in sorted(table):
        if len(path) > n and path[:n] == parent and isinstance(path[n], int) and path[n] >= index:
            pos = table.pop(path)
            if path[n] > index:
                table[(*parent, path[n] - 1, *path[n + 1 :])] = pos


def _cut(doc: Document, path: Path_) -> None:
    parent: Any = doc.data
    for part in path[:-1]:
        parent = parent[part]
    if isinstance(parent, list):
        del parent[path[-1]]
        for table in (doc.values, doc.keys):
            _shift(table, path[:-1], path[-1])  # type: ignore[arg-type]
    else:
        parent.pop(path[-1], None)


def schema_problems(doc: Document, schema_name: str) -> list[Problem]:
    """Every schema violation in `doc`, located and explained, in file order.

    Invalid parts are cut out of `doc` so later checks can still run on the rest; when
    nothing usable is left (the top level itself is wrong), doc.data becomes None.
    """
    if not isinstance(doc.data, dict):
        doc.data = None
        return [Problem(doc.file, 1, 1, "", "expected a mapping at the top level")]
    problems: list[Problem] = []
    cut: set[Path_] = set()
    for round_ in range(8):  # cutting rarely reveals new errors; bound it anyway
        errors = list(validator(schema_name).iter_errors(doc.data))
        if not errors:
            break
        for err in errors:
            # After a cut, a container may look empty or incomplete: that was reported
            # already, as the reason for the cut.
            if round_ == 0 or not any(_within(c, tuple(err.absolute_path)) for c in cut):
                problems.extend(p for p in _problems(doc, err) if p not in problems)
        paths = {p for err in errors for p in _bad_paths(err)}
        cut |= paths
        if () in paths:
            doc.data = None
            break
        for path in sorted(paths, reverse=True):  # deepest and last items first
            _cut(doc, path)
    return sorted(problems, key=lambda p: (p.line, p.col, p.where))
