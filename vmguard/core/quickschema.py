"""A fast "is this document valid?" for the shipped schemas, without importing jsonschema.

Importing jsonschema (with referencing, attrs and the format libraries it pulls in) cost
every command that reads a policy about 70 ms of CPU, a fifth of the fixed cost of a
`vmguard vet`. Almost every policy is valid, and then jsonschema only confirms it. This
module answers that one question for the keywords the shipped schemas use, exactly as
jsonschema's Draft 2020-12 validator does (`tests/policy/test_quickschema.py` compares
them on thousands of mutated documents). It answers True or False only where it is
sure: a schema keyword it does not know, a float, a key that is not text or a value of
another type (a YAML date) makes it answer None, and the caller asks jsonschema. When
the answer is not True, jsonschema runs anyway and words the problems (core/schema.py).
"""

from __future__ import annotations

import re
from typing import Any

# Keywords that only describe: jsonschema does not check them either (no format checker).
_NOTES = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "x-hint", "default"})
_TYPES = {
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) is int,  # floats are never judged here
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
}


class _Unsure(Exception):
    """Outside what this module decides exactly: jsonschema must answer."""


def is_valid(schema: dict[str, Any], instance: Any) -> bool | None:
    """True/False as jsonschema's Draft202012Validator(schema).is_valid(instance) would
    answer, or None where this module cannot be sure."""
    try:
        return _valid(schema, schema, instance)
    except _Unsure:
        return None


def _valid(root: dict[str, Any], schema: Any, value: Any) -> bool:
    if schema is True or schema is False:
        return schema
    if type(schema) is not dict:
        raise _Unsure
    _check_plain(value)
    return all(_keyword(root, schema, key, arg, value) for key, arg in schema.items())


def _check_plain(value: Any) -> None:
    """Only JSON's own values, without floats (integer-valued floats count as integers in
    jsonschema, and 1 == 1.0 in its enums: not worth judging here)."""
    if value is None or type(value) in (bool, int, str, list):
        return
    if type(value) is not dict or any(type(k) is not str for k in value):
        raise _Unsure


def _keyword(root: dict[str, Any], schema: dict[str, Any], key: str, arg: Any, value: Any) -> bool:
    if key == "$id" and schema is not root:
        raise _Unsure  # a new base for the $refs below it
    if key in _NOTES:
        return True
    check = _CHECKS.get(key)
    if check is None:
        raise _Unsure
    return check(root, schema, arg, value)


def _type(root, schema, arg, value) -> bool:  # noqa: ANN001
    names = arg if type(arg) is list else [arg]
    if any(name not in _TYPES for name in names):
        raise _Unsure
    return any(_TYPES[name](value) for name in names)


def _equal(a: Any, b: Any) -> bool:
    """jsonschema's `equal` on plain scalars: True and 1 differ, text equals only text."""
    if type(a) in (list, dict) or type(b) in (list, dict) or type(a) is float or type(b) is float:
        raise _Unsure
    return type(a) is type(b) and a == b if bool in (type(a), type(b)) else a == b


def _enum(root, schema, arg, value) -> bool:  # noqa: ANN001
    return any(_equal(each, value) for each in arg)


def _const(root, schema, arg, value) -> bool:  # noqa: ANN001
    return _equal(arg, value)


def _ref(root, schema, arg, value) -> bool:  # noqa: ANN001
    if type(arg) is not str or not arg.startswith("#/$defs/") or "/" in arg[8:] or "~" in arg:
        raise _Unsure
    target = root.get("$defs", {}).get(arg[8:])
    if target is None:
        raise _Unsure
    return _valid(root, target, value)


def _properties(root, schema, arg, value) -> bool:  # noqa: ANN001
    if type(value) is not dict:
        return True
    return all(_valid(root, arg[key], item) for key, item in value.items() if key in arg)


def _additional(root, schema, arg, value) -> bool:  # noqa: ANN001
    if type(value) is not dict:
        return True
    if "patternProperties" in schema:
        raise _Unsure
    known = schema.get("properties", {})
    return all(_valid(root, arg, item) for key, item in value.items() if key not in known)


def _items(root, schema, arg, value) -> bool:  # noqa: ANN001
    if "prefixItems" in schema:
        raise _Unsure
    return type(value) is not list or all(_valid(root, arg, item) for item in value)


def _unique(root, schema, arg, value) -> bool:  # noqa: ANN001
    if not arg or type(value) is not list:
        return True
    if any(type(item) is not str for item in value):
        raise _Unsure
    return len(set(value)) == len(value)


def _one_of(root, schema, arg, value) -> bool:  # noqa: ANN001
    return sum(_valid(root, each, value) for each in arg) == 1


def _required(root, schema, arg, value) -> bool:  # noqa: ANN001
    return type(value) is not dict or all(key in value for key in arg)


def _pattern(root, schema, arg, value) -> bool:  # noqa: ANN001
    return type(value) is not str or re.search(arg, value) is not None


def _number(test):  # noqa: ANN001, ANN202 - a bound check, only on numbers (not bools)
    def check(root, schema, arg, value) -> bool:  # noqa: ANN001
        if type(arg) is not int:
            raise _Unsure
        return type(value) is not int or test(value, arg)

    return check


def _length(kind: type, test):  # noqa: ANN001, ANN202 - a length check, only on `kind`
    def check(root, schema, arg, value) -> bool:  # noqa: ANN001
        return type(value) is not kind or test(len(value), arg)

    return check


def _ge(a: int, b: int) -> bool:
    return a >= b


def _le(a: int, b: int) -> bool:
    return a <= b


def _gt(a: int, b: int) -> bool:
    return a > b


_CHECKS = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "$ref": _ref,
    "properties": _properties,
    "additionalProperties": _additional,
    "items": _items,
    "uniqueItems": _unique,
    "oneOf": _one_of,
    "required": _required,
    "pattern": _pattern,
    "minimum": _number(_ge),
    "maximum": _number(_le),
    "exclusiveMinimum": _number(_gt),
    "minLength": _length(str, _ge),
    "maxLength": _length(str, _le),
    "minItems": _length(list, _ge),
    "maxItems": _length(list, _le),
    "minProperties": _length(dict, _ge),
    "maxProperties": _length(dict, _le),
}
