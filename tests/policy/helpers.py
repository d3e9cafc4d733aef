"""Helpers for policy tests: write a policy, check it, look at its problems."""

from __future__ import annotations

import textwrap
from pathlib import Path

from vmguard.audit.catalog import rule_ids
from vmguard.core.errors import Problem, Severity
from vmguard.policy.loader import Checked, check_policy

HEAD = "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: t}\n"


def write(directory: Path, text: str, name: str = "p.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def check(directory: Path, body: str, *, head: bool = True) -> Checked:
    text = (HEAD + textwrap.dedent(body)) if head else textwrap.dedent(body)
    return check_policy(write(directory, text), rule_ids())


def errors(checked: Checked) -> list[str]:
    return [f"{p.where}: {p.message}" for p in checked.problems if p.severity is Severity.ERROR]


def warnings(checked: Checked) -> list[str]:
    return [f"{p.where}: {p.message}" for p in checked.problems if p.severity is Severity.WARNING]


def located(problem: Problem, text: str) -> str:
    """The text at a problem's position, to check positions point at the right thing."""
    line = text.splitlines()[problem.line - 1]
    return line[problem.col - 1 :]
