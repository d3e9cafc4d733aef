"""core/quickschema.py answers as jsonschema does, or not at all (None).

Its True skips jsonschema for a policy or inventory: a wrong True would let an invalid
document through, so every answer it gives is compared with jsonschema's on the shipped
examples and on thousands of seeded mutations of them (values of every type, enum
members and near misses, bounds, patterns, unknown and missing keys).
"""

from __future__ import annotations

import copy
import datetime
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
import yaml

from vmguard.core import quickschema
from vmguard.core.schema import shipped_schema

EXAMPLES = Path(__file__).parents[2] / "policy"
DOCS = {
    "policy.schema.json": ["base.yaml", "dev.yaml", "build.yaml", "batch.yaml"],
    "inventory.schema.json": ["inventory.example.yaml"],
}
ROUNDS = 1500


def _leaves(schema: object) -> list:
    """Every enum member, const and bound in the schema, and a value beside each bound."""
    found: list = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("enum",):
                found.extend(value)
            elif key == "const":
                found.append(value)
            elif key in ("minimum", "maximum", "exclusiveMinimum", "minLength", "minItems"):
                found.extend([value - 1, value, value + 1])
            else:
                found.extend(_leaves(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_leaves(value))
    return found


def _value(rng: random.Random, pool: list) -> object:
    pick = rng.randrange(12)
    if pick < 4:
        return copy.deepcopy(rng.choice(pool))
    plain = [None, True, False, 0, 1, -1, 65535, 65536, 2**40, 1.0, 1.5, "", "x", "yes", "on"]
    odd = [datetime.date(2026, 1, 1), [], {}, ["a", "a"], ["a", "b"], {"a": 1}, {1: "a"}, "ÿ" * 3]
    if pick < 9:
        return rng.choice(plain)
    if pick < 11:
        return copy.deepcopy(rng.choice(odd))
    return str(rng.choice(pool)) + rng.choice(["", " ", "x", "/", "0"])


def _nodes(doc: object, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(_nodes(value, (*path, key)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.extend(_nodes(value, (*path, i)))
    return out


def _mutate(rng: random.Random, doc: dict, pool: list, keys: list[str]) -> dict:
    doc = copy.deepcopy(doc)
    for _ in range(rng.choice([1, 1, 2, 3])):
        path = rng.choice(_nodes(doc)[1:])
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = rng.randrange(5)
        if action == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == 1 and isinstance(parent, dict):
            parent[rng.choice(keys)] = _value(rng, pool)
        elif action == 2 and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
        else:
            parent[path[-1]] = _value(rng, pool)
    return doc


def _keys(schema: object) -> list[str]:
    if isinstance(schema, dict):
        own = list(schema.get("properties", {}))
        return own + [k for v in schema.values() for k in _keys(v)]
    if isinstance(schema, list):
        return [k for v in schema for k in _keys(v)]
    return []


@pytest.mark.parametrize("schema_name", sorted(DOCS))
def test_every_answer_is_jsonschemas(schema_name):
    schema = shipped_schema(schema_name)
    reference = jsonschema.Draft202012Validator(schema)
    docs = [yaml.safe_load((EXAMPLES / name).read_text()) for name in DOCS[schema_name]]
    pool, keys = _leaves(schema) + [v for d in docs for v in _leaves_of_doc(d)], _keys(schema) + ["bogus"]
    rng = random.Random(13)
    answers: Counter = Counter()
    for doc in docs:
        assert quickschema.is_valid(schema, doc) is True, "a shipped example takes the fast path"
    for round_ in range(ROUNDS):
        doc = _mutate(rng, rng.choice(docs), pool, keys)
        quick = quickschema.is_valid(schema, doc)
        answers[quick] += 1
        if quick is not None:
            assert quick == reference.is_valid(doc), (round_, doc)
    # Control: both answers are given often enough for the comparison to mean something.
    assert answers[True] > ROUNDS // 20 and answers[False] > ROUNDS // 5, answers


def _leaves_of_doc(doc: object) -> list:
    if isinstance(doc, dict):
        return [v for x in doc.values() for v in _leaves_of_doc(x)]
    if isinstance(doc, list):
        return [v for x in doc for v in _leaves_of_doc(x)]
    return [doc]


@pytest.mark.parametrize(
    ("schema", "instance", "expected"),
    [
        ({"type": "integer"}, True, False),  # bool is not an integer
        ({"enum": [1]}, True, False),  # True is not 1 in JSON Schema
        ({"enum": ["1"]}, 1, False),
        ({"type": "integer"}, 1.0, None),  # floats: not judged
        ({"type": "string"}, datetime.date(2026, 1, 1), None),  # a YAML date
        ({"type": "object"}, {1: "a"}, None),
        ({"format": "ipv4"}, "x", None),  # unknown keyword
        ({"properties": {"a": {"$id": "x", "type": "string"}}}, {"a": "b"}, None),
        ({"$ref": "#/$defs/a", "$defs": {"a": {"type": "string"}}}, "x", True),
        ({"$ref": "#/$defs/a", "$defs": {"a": {"type": "string"}}}, 1, False),
        ({"oneOf": [{"type": "string"}, {"pattern": "^a"}]}, "ab", False),  # both match
        ({"oneOf": [{"type": "string"}, {"pattern": "^a"}]}, "b", True),
        ({"uniqueItems": True}, ["a", "a"], False),
        ({"uniqueItems": True}, [1, True], None),
        ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}, False),
    ],
)
def test_edges(schema, instance, expected):
    assert quickschema.is_valid(schema, instance) is expected
    if expected is not None:
        assert jsonschema.Draft202012Validator(schema).is_valid(instance) is expected


_PROBE = """
import sys
from vmguard.policy.loader import check_policy
checked = check_policy(sys.argv[1])
print(len(checked.errors), "jsonschema" in sys.modules, "yara" in sys.modules)
"""


@pytest.mark.parametrize(("text", "expected"), [("", "0 False False"), ("  bogus: 1\n", "1 True False")])
def test_a_valid_policy_is_loaded_without_jsonschema(tmp_path, text, expected):
    """The start cost of every command: jsonschema (and YARA) are not imported for a plainly
    valid policy; the control, an unknown key, does import jsonschema to word it."""
    policy = tmp_path / "p.yaml"
    policy.write_text((EXAMPLES / "base.yaml").read_text().replace("spec:\n", "spec:\n" + text, 1))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    run = subprocess.run([sys.executable, "-c", _PROBE, str(policy)], env=env, capture_output=True, text=True)
    assert run.stdout.split()[-3:] == expected.split(), run.stderr
