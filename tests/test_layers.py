"""The layers stay clean: no import circle (function-local imports included), facts and
drivers do not depend on the policy, nothing low imports the audit or apply."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "vmguard"


def _module(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports(source: str, known: set[str]) -> set[str]:
    """Every vmguard module a source imports, anywhere in it (local imports too)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vmguard"):
            found |= {
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            }
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("vmguard")}
    return found & known


def _graph(sources: dict[str, str]) -> dict[str, set[str]]:
    known = set(sources)
    return {name: _imports(text, known) - {name} for name, text in sources.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    return cycles


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return _graph({_module(p): p.read_text() for p in ROOT.rglob("*.py")})


def test_no_import_circle(graph) -> None:
    assert _cycles(graph) == []


def test_a_circle_is_caught() -> None:
    """Control: a factory importing its drivers, which import the factory's module."""
    sources = {
        "vmguard.a": "def f():\n    from vmguard.b import x\n",
        "vmguard.b": "from vmguard.a import f\n",
    }
    assert _cycles(_graph(sources)) == [["vmguard.a", "vmguard.b", "vmguard.a"]]


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("vmguard.facts", "vmguard.policy"),
        ("vmguard.drivers", "vmguard.policy"),
        ("vmguard.core", "vmguard.policy"),
        ("vmguard.policy", "vmguard.audit"),
        ("vmguard.inventory", "vmguard.audit"),
        ("vmguard.checks", "vmguard.enforce"),
        ("vmguard.policy", "vmguard.checks"),
    ],
)
def test_low_layers_do_not_import_high_ones(graph, low: str, high: str) -> None:
    wrong = {
        m: sorted(d for d in deps if d.startswith(high)) for m, deps in graph.items() if m.startswith(low)
    }
    assert {m: deps for m, deps in wrong.items() if deps} == {}


def _class_names(sources: dict[str, str]) -> dict[str, list[str]]:
    """Class name -> the modules that define a class of that name (top level)."""
    found: dict[str, list[str]] = {}
    for module, text in sources.items():
        for node in ast.parse(text).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found.setdefault(node.name, []).append(module)
    return found


def test_one_meaning_per_class_name() -> None:
    names = _class_names({_module(p): p.read_text() for p in ROOT.rglob("*.py")})
    assert {name: mods for name, mods in names.items() if len(mods) > 1} == {}
    twice = _class_names({"vmguard.a": "class Plan: ...", "vmguard.b": "class Plan: ..."})  # control
    assert twice == {"Plan": ["vmguard.a", "vmguard.b"]}
