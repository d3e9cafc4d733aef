"""What `vmguard audit` reads back from its report folder: history lines it did not
write are skipped (drift is best effort), a planted link or FIFO is refused."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tests.support.hang import no_hang
from vmguard.audit.result import Drift
from vmguard.audit.run import run_audit
from vmguard.core.errors import AuditError
from vmguard.demo.lab import DomainSpec
from vmguard.inventory.loader import load_inventory

COUNTS = {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}
NOT_RUNS = [
    "{}",
    "[1]",
    '{"run": "x", "counts": {}, "findings": []}',  # a severity missing: the chart sums them
    json.dumps({"run": "x", "counts": {**COUNTS, "high": True}, "findings": []}),
    json.dumps({"run": "x", "counts": COUNTS, "findings": {"a": 1}}),
    json.dumps({"run": "x", "counts": COUNTS, "findings": [["r", "s"]]}),
    json.dumps({"run": "x", "counts": COUNTS, "findings": [], "incomplete": "yes"}),
    "[" * 100_000 + "]" * 100_000,  # deeper than json.loads can recurse
    '{"run": "torn',
]


def test_history_lines_that_are_not_runs_are_skipped(lab, tmp_path, events) -> None:
    out = tmp_path / "out"
    lab.write_domains([DomainSpec("vm1", clipboard=True, display_listen="127.0.0.1", display_password="pw")])
    first = run_audit(load_inventory(lab.inventory), out, events=events)
    assert first.result.outcomes
    with open(out / "history.jsonl", "a") as fh:
        fh.write("".join(line + "\n" for line in NOT_RUNS))
    second = run_audit(load_inventory(lab.inventory), out, events=events)
    # drift still comes from the one real line: the same findings are open, not new
    assert {o.drift for o in second.result.outcomes} == {Drift.OPEN}
    lines = (out / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["run"] for line in lines] == [first.run_dir.name, second.run_dir.name]


@pytest.fixture
def deadline() -> Iterator[None]:
    with no_hang():
        yield


@pytest.mark.parametrize("name", ["history.jsonl", ".lock"])
@pytest.mark.parametrize("kind", ["symlink", "fifo"])
@pytest.mark.usefixtures("deadline")
def test_a_planted_link_or_fifo_is_refused_not_followed(lab, tmp_path, events, name, kind) -> None:
    out = tmp_path / "out"
    out.mkdir()
    precious = tmp_path / "precious"
    precious.write_text('{"run": "secret"}\n')
    if kind == "symlink":
        (out / name).symlink_to(precious)
    else:
        os.mkfifo(out / name)
    with pytest.raises(AuditError, match="symlink" if kind == "symlink" else "not a regular file"):
        run_audit(load_inventory(lab.inventory), out, events=events)
    assert precious.read_text() == '{"run": "secret"}\n'
    assert sorted(p.name for p in out.iterdir()) == sorted({name, ".lock"})


def test_a_failed_run_leaves_no_staging_folder(lab, tmp_path, events) -> None:
    """The run's reports cannot be written (a format's render fails): nothing is left."""
    out = tmp_path / "out"

    def broken(*_args: object, **_kwargs: object) -> object:
        raise AuditError("the hypervisor went away")

    with pytest.raises(AuditError, match="went away"):
        run_audit(load_inventory(lab.inventory), out, events=events, opener=broken)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]
