"""The event log under logrotate (the shipped snippet, the real tool): the chain holds
across rotated files, an edit in a rotated file is caught, and each event reaches
syslog too."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import socket
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest

from tests.support.require import require_tools
from vmguard.cli import main
from vmguard.core import eventlog
from vmguard.core.eventlog import EventLog
from vmguard.core.logchain import lock_path, rotated_files

ROOT = Path(__file__).parents[2]


@pytest.fixture
def log(tmp_path) -> EventLog:
    require_tools("logrotate")
    folder = tmp_path / "log"
    folder.mkdir(mode=0o750)
    return EventLog(folder / "events.jsonl", syslog=None)


def logrotate(log: EventLog) -> None:
    """One forced rotation with the snippet the package ships, pointed at `log`."""
    snippet = resources.files("vmguard.system").joinpath("files/logrotate").read_text()
    config = log.path.parent.parent / "logrotate.conf"
    config.write_text(snippet.replace("/var/log/vmguard/events.jsonl", str(log.path)))
    config.chmod(0o644)
    state = log.path.parent.parent / "logrotate.state"
    subprocess.run(["logrotate", "-f", "-s", str(state), str(config)], check=True, timeout=60)


def fill(log: EventLog, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        log.append("audit", run=f"run-{i}", counts={"high": i})


def verify(log: EventLog, capsys) -> tuple[int, str]:
    code = main(["log", "verify", "--log", str(log.path)])
    return code, capsys.readouterr().out


def rotated_thrice(log: EventLog) -> None:
    fill(log, 5)
    logrotate(log)
    fill(log, 3, start=5)
    logrotate(log)  # .1 -> .2.gz (delaycompress), a new .1
    fill(log, 2, start=8)
    logrotate(log)
    fill(log, 2, start=10)


def test_rotate_then_verify_passes(log, capsys):
    rotated_thrice(log)
    names = [p.name for p in rotated_files(log.path)]
    assert names == ["events.jsonl.3.gz", "events.jsonl.2.gz", "events.jsonl.1"]
    assert verify(log, capsys) == (
        0,
        f"{log.path}: intact (12 events in 4 files, rotated ones included, hash chain verified)\n",
    )
    first = json.loads(log.path.read_bytes().splitlines()[0])
    newest = (log.path.parent / "events.jsonl.1").read_bytes().splitlines()[-1]
    assert first["prev"] == eventlog.digest(newest)  # the successor starts from its last hash


def test_just_rotated_empty_live_file_verifies(log, capsys):
    fill(log, 4)
    logrotate(log)
    assert log.path.read_bytes() == b""
    assert verify(log, capsys)[0] == 0


def _rewrite(path: Path, index: int, run: str) -> None:
    raw = path.read_bytes()
    packed = path.suffix == ".gz"
    lines = (gzip.decompress(raw) if packed else raw).splitlines(keepends=True)
    event = json.loads(lines[index])
    event["data"]["run"] = run
    lines[index] = json.dumps(event, sort_keys=True).encode() + b"\n"
    data = b"".join(lines)
    path.write_bytes(gzip.compress(data) if packed else data)


@pytest.mark.parametrize(
    "name, index",
    [
        ("events.jsonl.1", 0),  # the next line's prev catches it
        ("events.jsonl.1", -1),  # the live file's first line catches it
        ("events.jsonl.2.gz", 1),  # inside a compressed file
        ("events.jsonl.3.gz", -1),  # the oldest file kept: the next file catches it
    ],
)
def test_an_edit_in_a_rotated_file_is_caught(log, capsys, name, index):
    rotated_thrice(log)
    _rewrite(log.path.parent / name, index, "forged")
    code, out = verify(log, capsys)
    assert code == 1 and "line " in out


def test_a_removed_middle_file_is_caught(log, capsys):
    rotated_thrice(log)
    (log.path.parent / "events.jsonl.2.gz").unlink()
    code, out = verify(log, capsys)
    assert code == 1 and "events.jsonl.1: line 1: does not follow" in out


def test_emptied_live_file_without_rotation_is_caught(log, capsys):
    """Control: an empty live file passes only right after a rotation."""
    fill(log, 4)
    log.path.write_bytes(b"")
    code, out = verify(log, capsys)
    assert code == 1 and "log ends early" in out


def test_removed_tail_of_the_rotated_file_is_caught(log, capsys):
    fill(log, 4)
    logrotate(log)
    rotated = log.path.parent / "events.jsonl.1"
    rotated.write_bytes(b"".join(rotated.read_bytes().splitlines(keepends=True)[:-1]))
    assert verify(log, capsys)[0] == 1


WRITER = """
import sys
import time
from pathlib import Path
from vmguard.core.eventlog import EventLog
log = EventLog(Path(sys.argv[1]), syslog=None)
for i in range(40):
    log.append("vet", writer=sys.argv[2], n=i)
"""


def test_rotation_while_writers_append_keeps_the_chain(log, capsys):
    for _round in range(3):
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, str(log.path), str(w)], cwd=ROOT)
            for w in range(3)
        ]
        for _ in range(4):
            logrotate(log)
        assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    code, out = verify(log, capsys)
    assert code == 0, out
    assert "(360 events in" in out


def test_rapid_move_and_create_while_writers_append_keeps_the_chain(log, capsys):
    """logrotate's move + create, as fast as it goes, while three writers append: two
    writers must never hold the moved and the new file at once (CI caught one fork)."""
    fill(log, 1)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(log.path), str(w)], cwd=ROOT) for w in range(3)
    ]
    moved = 0
    while any(w.poll() is None for w in writers):
        os.rename(log.path, log.path.with_name(f"events.jsonl-{moved:05d}"))
        log.path.touch()
        moved += 1
    assert [w.returncode for w in writers] == [0, 0, 0]
    code, out = verify(log, capsys)
    assert code == 0, out
    assert f"(121 events in {moved + 1} files" in out


def test_each_event_reaches_syslog(tmp_path):
    address = str(tmp_path / "syslog.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        server.settimeout(5)
        log = EventLog(tmp_path / "events.jsonl", syslog=address)
        log.append("apply", vm="gleam-batch-01\x1b[2J", changed=3)
        message = server.recv(65536).decode()
    line = (tmp_path / "events.jsonl").read_bytes()
    assert message.startswith("<29>vmguard[")  # daemon.notice
    assert "apply " in message and f"hash={eventlog.digest(line)}" in message
    assert "\x1b" not in message and "\\u001b[2J" in message  # JSON-escaped, never raw


def test_no_syslog_socket_still_logs(tmp_path):
    log = EventLog(tmp_path / "events.jsonl", syslog=str(tmp_path / "absent.sock"))
    log.append("audit", run="x")
    assert eventlog.verify(log.path) == []


ONE = """
import sys
import time
from pathlib import Path
from vmguard.core.eventlog import EventLog
EventLog(Path(sys.argv[1]), syslog=None).append("vet", writer=sys.argv[2])
"""


def _blocked_on(path: Path, timeout: float = 60) -> None:
    """Wait until some process waits for a lock on `path`'s inode (/proc/locks '->')."""
    inode = f":{path.stat().st_ino} "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines()):
            return
        time.sleep(0.05)
    raise AssertionError("the writer never waited for the lock")


def test_a_writer_waiting_across_a_rotation_does_not_fork_the_chain(log, capsys):
    """W1 waits for the lock while another appender holds it; logrotate moves the file;
    then W1 gets the lock. W1 must append to the new file, chained to the moved file's
    last event, and W2 after it (not two events chained to the same predecessor)."""
    fill(log, 3)
    held = os.open(lock_path(log.path), os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # as another appender in the middle of its append
        first = subprocess.Popen([sys.executable, "-c", ONE, str(log.path), "w1"], cwd=ROOT)
        _blocked_on(lock_path(log.path))
        logrotate(log)
    finally:
        os.close(held)
    assert first.wait(timeout=60) == 0
    second = subprocess.run([sys.executable, "-c", ONE, str(log.path), "w2"], cwd=ROOT, timeout=60)
    assert second.returncode == 0
    writers = [json.loads(line)["data"]["writer"] for line in log.path.read_bytes().splitlines()]
    assert writers == ["w1", "w2"]
    assert verify(log, capsys)[0] == 0


def test_the_log_is_passed_in_not_looked_up(tmp_path, monkeypatch):
    """vmguard.vet(events=...) logs to the log it is handed, whatever $VMGUARD_LOG says."""
    from vmguard import vet
    from vmguard.policy.loader import load_policy

    elsewhere = tmp_path / "env-events.jsonl"
    monkeypatch.setenv("VMGUARD_LOG", str(elsewhere))
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "a.txt").write_text("alpha\n")
    (tmp_path / "policy.yaml").write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: t}\nspec:\n  quarantine:\n"
        "    allow_types: [text/plain]\n"
    )
    handed = EventLog(tmp_path / "handed.jsonl", syslog=None)
    vet(tmp_path / "q", load_policy(tmp_path / "policy.yaml"), tmp_path / "pub", events=handed)
    assert [json.loads(line)["kind"] for line in handed.path.read_bytes().splitlines()] == ["vet"]
    assert not elsewhere.exists()
