"""`vmguard log verify`: an intact log passes; an edited, removed or reordered line fails."""

from __future__ import annotations

import json

import pytest

from vmguard.cli import main
from vmguard.core import eventlog as log


@pytest.fixture
def filled_log(event_log, events):
    for i in range(5):
        events.append("audit", run=f"run-{i}", counts={"high": i})
    return event_log


def lines_of(path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def edit(lines: list[bytes]) -> list[bytes]:
    event = json.loads(lines[2])
    event["data"]["counts"]["high"] = 0  # hide findings
    return [*lines[:2], json.dumps(event, sort_keys=True).encode() + b"\n", *lines[3:]]


def remove(lines: list[bytes]) -> list[bytes]:
    return lines[:1] + lines[2:]


def reorder(lines: list[bytes]) -> list[bytes]:
    return [lines[0], lines[2], lines[1], *lines[3:]]


def remove_first(lines: list[bytes]) -> list[bytes]:
    return lines[1:]


def remove_last(lines: list[bytes]) -> list[bytes]:
    return lines[:-1]  # nothing after it carries its hash: the .head file does


def edit_last(lines: list[bytes]) -> list[bytes]:
    event = json.loads(lines[-1])
    event["data"]["run"] = "forged"
    return [*lines[:-1], json.dumps(event, sort_keys=True).encode() + b"\n"]


def test_intact_log_verifies(filled_log, capsys):
    assert main(["log", "verify"]) == 0
    assert "intact (5 events" in capsys.readouterr().out


@pytest.mark.parametrize("tamper", [edit, remove, reorder, remove_first, remove_last, edit_last])
def test_tampering_is_detected(filled_log, capsys, tamper):
    filled_log.write_bytes(b"".join(tamper(lines_of(filled_log))))
    assert main(["log", "verify", "--log", str(filled_log)]) == 1
    captured = capsys.readouterr()
    assert "line " in captured.out and "NOT intact" in captured.err


def test_garbage_line_is_detected(filled_log):
    lines = lines_of(filled_log)
    filled_log.write_bytes(b"".join([*lines[:3], b"not json\n", *lines[3:]]))
    breaks = log.verify(filled_log)
    assert {b.line for b in breaks} == {4, 5}


def test_missing_log_is_exit_3(tmp_path, capsys):
    assert main(["log", "verify", "--log", str(tmp_path / "nope.jsonl")]) == 3
    assert "cannot read log" in capsys.readouterr().err


def test_line_written_before_a_crash_updated_the_head_is_fine(filled_log, events):
    head = log.head_path(filled_log).read_text()
    events.append("audit", run="run-5")
    log.head_path(filled_log).write_text(head)  # as if killed between append and head update
    assert log.verify(filled_log) == []


def test_log_without_head_still_verifies_its_chain(filled_log, events):
    log.head_path(filled_log).unlink()
    assert log.verify(filled_log) == []
    events.append("audit", run="run-5")  # recounts once, then keeps the head
    assert log.head_path(filled_log).read_text().split()[0] == "6"
    filled_log.write_bytes(b"".join(lines_of(filled_log)[:-1]))
    assert log.verify(filled_log)
