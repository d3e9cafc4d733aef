"""Helpers for tests/ops/test_attack_independent_ops.py: the CLI run here or in a child
(a hang or a crash is a finding), logrotate with the shipped snippet, appenders as real
processes, `vmguard system install` under a root folder."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tests.support.require import require_tools
from vmguard.cli import main
from vmguard.core.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]
CLI = "import sys; from vmguard.cli import main; sys.exit(main(sys.argv[1:]))"


@dataclass(frozen=True)
class Verdict:
    code: int
    out: str
    err: str


def run(argv: list[str], child: bool = False, memory: int | None = None, timeout: float = 20) -> Verdict:
    """The CLI here, or in a child (a hang past `timeout` raises TimeoutExpired; `memory`
    caps its address space). An exception here comes back as a traceback on err."""
    if child or memory is not None:
        return run_in_child(argv, memory, timeout)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except Exception:  # noqa: BLE001 - a crash is a finding, reported as the CLI would show it
            code = 1
            err.write(traceback.format_exc())
    return Verdict(code, out.getvalue(), err.getvalue())


def run_in_child(argv: list[str], memory: int | None, timeout: float) -> Verdict:
    def cap() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    done = subprocess.run(
        [sys.executable, "-c", CLI, *argv],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, preexec_fn=cap,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    return Verdict(done.returncode, done.stdout, done.stderr)


def verify(path: Path, child: bool = False, memory: int | None = None) -> Verdict:
    return run(["log", "verify", "--log", str(path)], child, memory)


def install(root: Path, child: bool = False, timeout: float = 20) -> Verdict:
    return run(["system", "install", "--root", str(root)], child, timeout=timeout)


def head(log: EventLog) -> Path:
    return log.path.with_name(log.path.name + ".head")


def logrotate(log: EventLog) -> None:
    """One forced rotation with the snippet the package ships, pointed at `log`."""
    require_tools("logrotate")
    snippet = resources.files("vmguard.system").joinpath("files/logrotate").read_text()
    config = log.path.parent.parent / "logrotate.conf"
    config.write_text(snippet.replace("/var/log/vmguard/events.jsonl", str(log.path)))
    config.chmod(0o644)
    state = log.path.parent.parent / "logrotate.state"
    subprocess.run(["logrotate", "-f", "-s", str(state), str(config)], check=True, timeout=60)


def chained_line(previous: bytes, **data: object) -> bytes:
    """A line as an appender writes one, chained to `previous` (what anyone can compute)."""
    event = {
        "data": data,
        "kind": "vet",
        "prev": hashlib.sha256(previous).hexdigest(),
        "time": "2026-12-05T07:00:00+00:00",
    }
    return json.dumps(event, sort_keys=True).encode() + b"\n"


WRITER = """
import sys
import time
from pathlib import Path
from vmguard.core.eventlog import EventLog
log = EventLog(Path(sys.argv[1]), syslog=None)
print("ready", flush=True)
for i in range(int(sys.argv[3])):
    log.append("vet", writer=sys.argv[2], n=i, pad="p" * (i * 37 % 3000))
"""


def writers(log: EventLog, count: int, events: int) -> list[subprocess.Popen[bytes]]:
    started = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(log.path), str(w), str(events)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for w in range(count)
    ]
    for w in started:
        assert w.stdout is not None and w.stdout.readline() == b"ready\n"
    return started


HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""

APPEND = """
import sys
import time
from pathlib import Path
from vmguard.core.eventlog import EventLog
EventLog(Path(sys.argv[1]), syslog=None).append("vet", writer="root")
"""


@contextmanager
def reachable_folder() -> Iterator[Path]:
    """A log folder that already exists 0755 (made by hand or a package) under a folder
    every user can reach (pytest's tmp_path is 0700: nobody could not get there)."""
    with tempfile.TemporaryDirectory(prefix="attackj-ops-") as top:
        os.chmod(top, 0o755)  # noqa: S103 - every user must reach it: that is the attack
        folder = Path(top) / "log"
        folder.mkdir()
        folder.chmod(0o755)
        yield folder


def hold_as_nobody(folder: Path) -> subprocess.Popen[str]:
    """User nobody (no groups) takes the lock appenders take on the log's folder."""
    require_tools("setpriv")
    holder = subprocess.Popen(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            HOLD,
            str(folder),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    holder.stdout.readline()
    return holder


def append_in_child(log: Path, timeout: float) -> int:
    done = subprocess.run(
        [sys.executable, "-c", APPEND, str(log)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=timeout, capture_output=True,
    )  # fmt: skip
    return done.returncode


def plant(path: Path, kind: str, target: Path) -> None:
    path.unlink(missing_ok=True)
    if kind == "symlink":
        path.symlink_to(target)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        os.link(target, path)


def kill_round(log: EventLog, rnd: random.Random) -> None:
    """Two appenders SIGKILLed at a random moment, then one more append in this process."""
    started = writers(log, 2, 10**6)
    time.sleep(rnd.uniform(0, 0.03))
    for w in started:
        w.send_signal(signal.SIGKILL)
        w.wait()
        assert w.stdout is not None
        w.stdout.close()
    log.append("vet", writer="after-kill")


def intact_chain(lines: list[bytes]) -> bool:
    """The chain as anyone can check it: each line's prev is the hash of the line before."""
    return all(
        json.loads(b)["prev"] == hashlib.sha256(a.rstrip(b"\n")).hexdigest()
        for a, b in zip(lines, lines[1:], strict=False)
    )


def rotate_while(busy: Callable[[], bool], log: EventLog) -> int:
    rotations = 0
    while busy() and rotations < 20:  # rotate 24: no file is dropped, every event is counted
        logrotate(log)
        rotations += 1
    return rotations


POLICY = "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: p}\nspec: {}\n"
INVENTORY = """apiVersion: vmguard/v1
kind: Inventory
connections:
  - {name: kvm, driver: libvirt, uri: 'test:///default'}
vms:
  - {name: test, connection: kvm, policy: p.yaml}
"""


def audit_argv(folder: Path) -> list[str]:
    """`vmguard audit` of libvirt's test driver into folder/out, logging to folder/log."""
    (folder / "p.yaml").write_text(POLICY)
    (folder / "inv.yaml").write_text(INVENTORY)
    return ["audit", "-i", str(folder / "inv.yaml"), "--out", str(folder / "out"), "--guest", "off"] + [
        "--fail-on", "never", "-q",
    ]  # fmt: skip


def audit_env(folder: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "VMGUARD_LOG": str(folder / "log" / "events.jsonl")}


def kill_audit_at_its_run_folder(folder: Path) -> set[str]:
    """Start an audit and SIGKILL it the moment its run folder appears; the new names."""
    out = folder / "out"
    before = set(os.listdir(out))
    child = subprocess.Popen(
        [sys.executable, "-c", CLI, *audit_argv(folder)], cwd=ROOT, env=audit_env(folder),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while child.poll() is None and not set(os.listdir(out)) - before:
        pass  # spin: the window between the folder and its reports is milliseconds
    child.kill()
    child.wait()
    return set(os.listdir(out)) - before
