"""Read a YAML file into plain data plus the source position of every key and value.

Policies and inventories are security configuration written by hand, so this reader is
strict where PyYAML is lenient: duplicate keys are errors (the last one would silently
win), aliases are refused (no billion-laughs expansion, and a policy has `extends` for
reuse), only the YAML core types are accepted, files must be UTF-8 and small.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vmguard.core.errors import Problem

MAX_BYTES = 1024 * 1024  # a policy is a page or two; anything near this is an accident
MAX_DEPTH = 32  # policies nest about 6 levels
Path_ = tuple[str | int, ...]  # a location inside the document: ("spec", "network", "mode")

_CORE_TAGS = {"tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


@dataclass(frozen=True)
class Pos:
    file: str
    line: int  # 1-based
    col: int  # 1-based


@dataclass
class Document:
    """Plain data (dicts, lists, str, int, float, bool, None) and where each part came from."""

    file: str
    data: Any
    values: dict[Path_, Pos] = field(default_factory=dict)  # where each value starts
    keys: dict[Path_, Pos] = field(default_factory=dict)  # where each mapping key starts

    def pos(self, path: Path_, *, key: bool = False) -> Pos:
        """Position of `path` (its key if asked and known), else of its nearest parent."""
        table = self.keys if key else self.values
        while path not in table and path not in self.values and path:
            path = path[:-1]
        return table.get(path) or self.values.get(path) or Pos(self.file, 1, 1)


class SourceError(Exception):
    """Raised with the problems that stopped a file from being read at all."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


class Lines:
    """Maps a character offset to (line, col) counting only "\\n" as a line break.

    YAML also breaks lines at "\\r", NEL and U+2028; editors and `sed -n Np` do not, so
    positions computed by PyYAML would drift from what the admin sees.
    """

    def __init__(self, text: str) -> None:
        self.starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def at(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, index)
        return line, index - self.starts[line - 1] + 1


def _problem(file: str, line: int, col: int, message: str) -> SourceError:
    return SourceError([Problem(file, line, col, "", message)])


def read_text(path: Path, display: str) -> str:
    """The file's text, refusing unreadable, oversized and non-UTF-8 files."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as err:
        raise _problem(display, 0, 0, f"cannot read file: {err.strerror}") from err
    if len(raw) > MAX_BYTES:
        raise _problem(display, 0, 0, f"file is larger than {MAX_BYTES // 1024} KiB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise _problem(display, line, col, "not UTF-8 text (save the file as UTF-8)") from err


def parse(text: str, display: str) -> Document:
    """Parse YAML text into a Document; YAML mistakes become located problems."""
    lines = Lines(text)
    try:
        _prescan(text, display, lines)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = lines.at(mark.index) if mark else (1, 1)
        raise _problem(display, line, col, f"YAML syntax: {err.problem or err.context}") from err
    except yaml.YAMLError as err:  # e.g. a reader error on a control character
        raise _problem(display, 1, 1, f"YAML: {err}") from err
    doc = Document(display, None)
    if node is not None:
        doc.data = _Builder(doc, lines).build(node, ())
    return doc


def _prescan(text: str, display: str, lines: Lines) -> None:
    """Refuse aliases and absurd nesting at the event level, before building anything."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise _problem(
                display,
                *lines.at(event.start_mark.index),
                "YAML aliases (*name) are not allowed; use `extends`",
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _problem(
                    display,
                    *lines.at(event.start_mark.index),
                    f"YAML nesting is deeper than {MAX_DEPTH} levels",
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load(path: Path, display: str | None = None) -> Document:
    display = display or str(path)
    return parse(read_text(path, display), display)


class _Builder:
    """Turns a composed node tree into plain data, refusing what a policy must not hold."""

    def __init__(self, doc: Document, lines: Lines) -> None:
        self.doc, self.lines = doc, lines
        self.scalars = SafeConstructor()

    def _at(self, node: Node) -> Pos:
        return Pos(self.doc.file, *self.lines.at(node.start_mark.index))

    def _fail(self, node: Node, message: str) -> SourceError:
        pos = self._at(node)
        return _problem(pos.file, pos.line, pos.col, message)

    def build(self, node: Node, path: Path_) -> Any:
        self.doc.values[path] = self._at(node)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise self._fail(node, f"unsupported YAML tag {node.tag}")
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _mapping(self, node: MappingNode, path: Path_) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            raise self._fail(node, f"unsupported YAML tag {node.tag}")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            if key in out:
                first = self.doc.keys[(*path, key)]
                raise self._fail(key_node, f"duplicate key '{key}' (first at line {first.line})")
            self.doc.keys[(*path, key)] = self._at(key_node)
            out[key] = self.build(value_node, (*path, key))
        return out

    def _key(self, node: Node) -> str:
        if not isinstance(node, ScalarNode) or node.tag == "tag:yaml.org,2002:merge":
            raise self._fail(node, "mapping keys must be plain words (no merge keys `<<`)")
        value = self._scalar(node)
        return value if isinstance(value, str) else str(value)

    def _scalar(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode) or node.tag not in _CORE_TAGS:
            raise self._fail(node, f"unsupported YAML tag {node.tag}")
        try:
            value = self.scalars.construct_object(node)
        except (ConstructorError, ValueError) as err:
            raise self._fail(node, f"bad value: {err}") from err
        # Dates stay text so JSON Schema sees what the user wrote (waiver expiry dates).
        if isinstance(value, dt.date | dt.datetime):
            return node.value
        return value
