"""docs/policy-reference.md, generated from the policy JSON Schema (the one truth about
which keys exist) and the defaults the policy model fills in (`policy show --resolved`).

Regenerate with `python -m vmguard.cli.reference`; tests/cli/test_reference.py checks
that the committed page matches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

Schema = dict[str, Any]
HEAD = """\
# Policy key reference

Generated from vmguard/policy/schema/policy.schema.json by `python -m vmguard.cli.reference`:
do not edit by hand. Defaults are what `vmguard policy show --resolved` fills in for a key
a policy (and its bases) leave out. See README.md for what each section is for.

| key | value | default | note |
|---|---|---|---|
"""


def policy_schema() -> Schema:
    text = resources.files("vmguard.policy").joinpath("schema/policy.schema.json").read_text()
    return json.loads(text)


def _resolve(node: Schema, root: Schema) -> Schema:
    while "$ref" in node:
        node = {
            **root["$defs"][node["$ref"].rsplit("/", 1)[1]],
            **{k: v for k, v in node.items() if k != "$ref"},
        }
    return node


def _bounds(node: Schema) -> str:
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        return f" {low}..{high}"
    return f" >= {low}" if low is not None else f" <= {high}" if high is not None else ""


def describe(node: Schema, root: Schema) -> str:
    """A schema node as a short phrase: `a` or `b`, integer >= 1, list of ..."""
    node = _resolve(node, root)
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return " or ".join(f"`{v}`" for v in node["enum"])
    for key in ("oneOf", "anyOf"):
        if key in node:
            return " or ".join(describe(option, root) for option in node[key])
    kind = node.get("type", "any")
    if kind == "array":
        return f"list of {describe(node.get('items', {}), root)}"
    if kind == "object":
        return "mapping"
    if "pattern" in node:
        return f"{kind} matching `{node['pattern']}`"
    return f"{kind}{_bounds(node)}"


def _default(defaults: Any, path: list[str]) -> str:
    for part in path:
        if not isinstance(defaults, dict) or part not in defaults:
            return ""
        defaults = defaults[part]
    if isinstance(defaults, dict):
        return ""
    return f"`{json.dumps(defaults)}`"


def _rows(node: Schema, root: Schema, path: list[str], defaults: Any) -> Iterator[str]:
    node = _resolve(node, root)
    required = set(node.get("required", ()))
    for name, child in node.get("properties", {}).items():
        child = _resolve(child, root)
        key = [*path, name]
        note = child.get("x-hint", "") + (" (required)" if name in required else "")
        cell = describe(child, root).replace("|", "\\|")
        yield f"| `{'.'.join(key)}` | {cell} | {_default(defaults, key)} | {note.replace('|', '/')} |"
        items = _resolve(child.get("items", {}), root) if child.get("type") == "array" else {}
        for sub in (child, items):
            if sub.get("properties"):
                suffix = "[]" if sub is items else ""
                yield from _rows(sub, root, [*key[:-1], key[-1] + suffix], defaults if not suffix else {})


def policy_reference(schema: Schema, defaults: dict[str, Any]) -> str:
    """The Markdown reference page: one row per key, nested keys dotted, list items `[]`."""
    return HEAD + "\n".join(_rows(schema, schema, [], defaults)) + "\n"
