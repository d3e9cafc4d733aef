"""Load a policy file: read, validate, resolve `extends`, build the model, check it.

load_policy(path) -> Policy            raises PolicyError with every problem found
check_policy(path) -> Checked          the policy (if usable) plus errors and warnings
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from vmguard.core.errors import PolicyError, Problem, Severity
from vmguard.core.schema import schema_problems
from vmguard.core.yamlsource import Document, SourceError, load
from vmguard.policy.build import Builder
from vmguard.policy.merge import merge
from vmguard.policy.model import Policy
from vmguard.policy.semantic import semantic_problems

SCHEMA = "policy.schema.json"
MAX_CHAIN = 16  # extends depth; deeper is surely a mistake


@dataclass(frozen=True)
class Checked:
    policy: Policy | None  # None when errors prevent building the model
    problems: tuple[Problem, ...]
    document: Document | None = None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


def _display(path: Path) -> str:
    return os.path.normpath(str(path))


def _read(path: Path, chain: tuple[Path, ...], problems: list[Problem]) -> Document | None:
    """One file of the chain, schema-checked, with its base merged under it."""
    try:
        doc = load(path, _display(path))
    except SourceError as err:
        problems.extend(err.problems)
        return None
    if isinstance(doc.data, dict) and doc.data.get("kind") == "Inventory":
        pos = doc.pos(("kind",))
        problems.append(
            Problem(
                pos.file,
                pos.line,
                pos.col,
                "kind",
                "this is an inventory, not a policy (check it with `vmguard inventory check`)",
            )
        )
        return None
    problems.extend(schema_problems(doc, SCHEMA))
    if doc.data is None or not isinstance(doc.data.get("extends"), str):
        return None if doc.data is None else doc
    base = _base(doc, path, chain, problems)
    return None if base is None else merge(base, doc)


def _base(doc: Document, path: Path, chain: tuple[Path, ...], problems: list[Problem]) -> Document | None:
    target = path.parent / doc.data["extends"]
    pos = doc.pos(("extends",))
    real = Path(os.path.realpath(target))
    if real in chain:
        names = " -> ".join(_display(p) for p in (*chain, real))
        problems.append(Problem(pos.file, pos.line, pos.col, "extends", f"cycle: {names}"))
        return None
    if len(chain) >= MAX_CHAIN:
        problems.append(Problem(pos.file, pos.line, pos.col, "extends", "extends chain too deep"))
        return None
    if not target.is_file():
        problems.append(
            Problem(
                pos.file, pos.line, pos.col, "extends", f"base policy '{_display(target)}' does not exist"
            )
        )
        return None
    return _read(target, (*chain, real), problems)


def check_policy(path: str | Path, known_rules: Collection[str] | None = None) -> Checked:
    """Every problem of a policy file (and of the files it extends), errors and warnings.

    known_rules: the catalog's rule ids, which waivers must name; the caller passes them
    (the catalog belongs to the audit, above the policy). None: waiver ids go unchecked.
    """
    path = Path(path)
    problems: list[Problem] = []
    doc = _read(path, (Path(os.path.realpath(path)),), problems)
    if doc is None:
        return Checked(None, tuple(problems))
    builder = Builder(doc)
    policy = builder.policy()
    later = builder.problems + semantic_problems(policy, doc) + _unknown_rules(policy, doc, known_rules)
    problems += [p for p in later if not _echoes(p, problems)]
    problems.sort(key=lambda p: (p.file != _display(path), p.file, p.line, p.col))
    usable = not any(p.severity is Severity.ERROR for p in problems)
    return Checked(policy if usable else None, tuple(problems), doc)


def _echoes(later: Problem, earlier: list[Problem]) -> bool:
    """Whether a later problem only echoes an earlier one.

    A value cut for being invalid falls back to its default, and a later check may then
    complain about that default (same spot), or about the container the bad part was cut
    from (an ancestor path). One problem per mistake is enough.
    """
    for p in earlier:
        if (p.file, p.line, p.col) == (later.file, later.line, later.col):
            return True
        if (
            later.where
            and p.where.startswith(later.where)
            and p.where[len(later.where) :][:1] in ("", ".", "[")
        ):
            return True
    return False


def _unknown_rules(policy: Policy, doc: Document, ids: Collection[str] | None) -> list[Problem]:
    if not policy.waivers or ids is None:
        return []
    out = []
    for i, waiver in enumerate(policy.waivers):
        if waiver.rule not in ids:
            pos = doc.pos(("spec", "waivers", i, "rule"))
            out.append(
                Problem(
                    pos.file,
                    pos.line,
                    pos.col,
                    f"spec.waivers[{i}].rule",
                    f"unknown rule '{waiver.rule}' (see `vmguard rules list`)",
                )
            )
    return out


def load_policy(path: str | Path, known_rules: Collection[str] | None = None) -> Policy:
    """The resolved policy, or PolicyError listing every error (warnings are dropped)."""
    checked = check_policy(path, known_rules)
    if checked.policy is None:
        raise PolicyError(list(checked.errors))
    return checked.policy
