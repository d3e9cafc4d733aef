"""Property-based: whatever the bytes, the loaders return located problems, never crash."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vmguard.core.errors import InventoryError, PolicyError
from vmguard.inventory.loader import check_inventory, load_inventory
from vmguard.policy.loader import check_policy, load_policy

EXAMPLES = Path(__file__).parents[2] / "policy"
BATCH = (EXAMPLES / "batch.yaml").read_text()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        ["disabled", "host-only", "nat", "20GiB", "{vm}", "192.0.2.1/24", "6000-6010", "read-write"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def _workdir() -> Path:
    work = Path(tempfile.mkdtemp(prefix="vmg-fuzz-"))
    shutil.copy(EXAMPLES / "base.yaml", work / "base.yaml")
    return work


def _assert_located(result, path: Path) -> None:
    lines = path.read_bytes().split(b"\n")
    for problem in result.problems:
        assert problem.message and "Traceback" not in problem.message
        if problem.file == str(path) and problem.line:
            assert 1 <= problem.line <= len(lines), problem
            assert 1 <= problem.col <= len(lines[problem.line - 1]) + 1, problem


def _check(raw: bytes) -> None:
    work = _workdir()
    try:
        path = work / "p.yaml"
        path.write_bytes(raw)
        result = check_policy(path)
        _assert_located(result, path)
        try:
            load_policy(path)
        except PolicyError as err:
            assert err.problems
    finally:
        shutil.rmtree(work)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(raw):
    _check(raw)


@FUZZ
@given(st.text(max_size=400))
def test_random_text(text):
    _check(text.encode())


@FUZZ
@given(values)
def test_random_structures_as_yaml(data):
    _check(yaml.safe_dump(data).encode())


@FUZZ
@example(1050, 10, "\r")  # YAML breaks lines at CR; editors do not: positions must not drift
@given(st.integers(0, len(BATCH)), st.integers(0, 40), st.text(max_size=10))
def test_mutated_example(start, length, insert):
    _check((BATCH[:start] + insert + BATCH[start + length :]).encode())


def _paths(data, path=()):
    yield path
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, (*path, i))


BATCH_PATHS = [p for p in _paths(yaml.safe_load(BATCH)) if p]


@FUZZ
@given(st.sampled_from(BATCH_PATHS), values)
def test_example_with_one_value_replaced(path, value):
    data = yaml.safe_load(BATCH)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    _check(yaml.safe_dump(data).encode())


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2000), st.integers(0, 30), st.text(max_size=8))
def test_mutated_inventory(start, length, insert):
    work = _workdir()
    try:
        for name in ("batch.yaml", "build.yaml", "dev.yaml"):
            shutil.copy(EXAMPLES / name, work / name)
        text = (EXAMPLES / "inventory.example.yaml").read_text()
        path = work / "inv.yaml"
        path.write_text(text[:start] + insert + text[start + length :])
        _assert_located(check_inventory(path), path)
        try:
            load_inventory(path)
        except InventoryError as err:
            assert err.problems
    finally:
        shutil.rmtree(work)
