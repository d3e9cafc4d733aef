"""Who answers on clamd's socket (issue #20): the peer's uid (SO_PEERCRED) must be root, the
clamav user or one the policy names, and the process must be clamd; otherwise exit 3."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from vmguard.policy.model import ClamdScanner
from vmguard.quarantine.scanners.clamd import CLAMD_COMM, Clamd, peer_problem, trusted_uids
from vmguard.quarantine.scanners.interface import ScanError

NOBODY = 65534


def listener(path: Path, uid: int, comm: str) -> int:
    """A child process listening on `path`, running as `uid` under the process name `comm`."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(ready_r)
            Path("/proc/self/comm").write_text(comm)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(str(path))  # as root: the test's directory is root's
            os.setgid(uid)
            os.setuid(uid)
            sock.listen(4)  # SO_PEERCRED gives the credentials of listen()
            os.write(ready_w, b"1")
            time.sleep(30)
        finally:
            os._exit(0)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"1"
    os.close(ready_r)
    return pid


@pytest.fixture
def spawn(tmp_path):
    pids = []

    def start(uid: int, comm: str) -> str:
        path = tmp_path / f"s{len(pids)}.sock"
        pids.append(listener(path, uid, comm))
        return str(path)

    yield start
    for pid in pids:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def problem(path: str, trusted: frozenset[int]) -> str | None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        return peer_problem(sock, trusted)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a listener as another uid")
def test_only_a_trusted_uid_named_clamd_is_trusted(spawn):
    default = trusted_uids(ClamdScanner())
    assert 0 in default and NOBODY not in default
    other_uid = spawn(NOBODY, CLAMD_COMM)
    assert f"uid {NOBODY}" in problem(other_uid, default)
    assert problem(other_uid, trusted_uids(ClamdScanner(peer_uids=(NOBODY,)))) is None  # control: named
    not_clamd = spawn(0, "python3")
    assert "is not clamd" in problem(not_clamd, default)
    assert problem(spawn(0, CLAMD_COMM), default) is None  # control: root's clamd


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a listener as another uid")
def test_the_engine_refuses_an_untrusted_listener_before_sending_anything(spawn):
    with pytest.raises(ScanError, match=f"runs as uid {NOBODY}"):
        Clamd(ClamdScanner(socket=spawn(NOBODY, CLAMD_COMM), timeout=5))
