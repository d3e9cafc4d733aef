"""The clamd engine against a real clamd: hits rejected by name, clean files pass, a
clamd that is down, killed, stopped or talking nonsense stops the vet (exit 3, nothing
published), and clamd scans the descriptor that was checked, never a name."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import published_files, write
from tests.quarantine.scanners.conftest import clamd_rules
from tests.support.clamd import EICAR, EICAR_SIGNATURE, MARKER, MARKER_SIGNATURE, ClamdServer
from vmguard.core.errors import ExitCode
from vmguard.quarantine import hooks
from vmguard.quarantine.model import Reason, Status
from vmguard.quarantine.scanners import ScanError
from vmguard.quarantine.scanners import clamd as clamd_engine

ROOT = Path(__file__).parents[3]


@pytest.fixture
def hook():
    yield hooks.set_hook
    hooks.set_hook(None)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def nothing_published(pub: Path) -> bool:
    staging = pub / ".vmguard-staging"
    return sorted(os.listdir(pub)) == [".vmguard-staging"] and all(
        name.endswith(".lock") for name in os.listdir(staging)
    )


def test_signature_hits_are_rejected_by_name_and_clean_files_pass(clamd_server, job):
    q, pub = job
    write(q / "marker.txt", b"results\n" + MARKER + b"\nmore\n")
    write(q / "eicar.txt", EICAR)
    write(q / "sub" / "near-miss.txt", MARKER[:-1] + b"\n" + EICAR[:-1] + b"\n")  # control
    result = vmguard.vet(q, clamd_rules(clamd_server), pub / "run1", per_file=True)
    entries = {e.path: e for e in result.entries}
    assert entries["marker.txt"].reasons == (Reason.SCANNER_FLAGGED,)
    assert entries["marker.txt"].detail == f"clamd: {MARKER_SIGNATURE}"
    assert entries["eicar.txt"].detail == f"clamd: {EICAR_SIGNATURE}"
    assert entries["eicar.txt"].scanner == f"clamd: {EICAR_SIGNATURE} FOUND"
    assert result.status is Status.PARTIAL and result.exit_code == 1
    assert published_files(pub / "run1") == {
        "clean.txt": b"nothing to see\n",
        "sub/data.json": b'{"events": 42}',
        "sub/near-miss.txt": MARKER[:-1] + b"\n" + EICAR[:-1] + b"\n",
    }
    assert entries["clean.txt"].scanner == "clamd: OK"


def test_a_hit_keeps_the_whole_job_back_in_all_or_nothing_mode(clamd_server, job):
    q, pub = job
    write(q / "deep" / "er" / "x.txt", MARKER)
    result = vmguard.vet(q, clamd_rules(clamd_server), pub / "run1")
    assert result.status is Status.REJECTED and nothing_published(pub)
    assert [e.path for e in result.rejected] == ["deep/er/x.txt"]


def test_many_files_in_flight_each_get_their_own_verdict(clamd_server, tmp_path):
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    bad = {f"d{i % 7}/f{i}.txt" for i in range(0, 400, 37)}
    for i in range(400):
        name = f"d{i % 7}/f{i}.txt"
        write(q / name, (b"x" * (i * 53)) + (MARKER if name in bad else b"clean") + b"\n")
    fds = open_fds()
    result = vmguard.vet(q, clamd_rules(clamd_server, in_flight=8), pub / "run1", per_file=True)
    assert open_fds() == fds
    assert {e.path for e in result.rejected} == bad
    assert len(published_files(pub / "run1")) == 400 - len(bad)


def test_a_name_swapped_after_the_check_is_never_what_clamd_scans(clamd_server, job, hook):
    """Both ways round: clamd reads the inode that was checked, hashed and copied. (The
    swap unlinks that inode, which moves its ctime, so vet also calls it changed.)"""
    q, pub = job
    write(q / "evil.txt", MARKER)
    write(q / "good.txt", "harmless\n")
    spare_clean, spare_evil = q.parent / "spare-clean", q.parent / "spare-evil"
    write(spare_clean, "harmless too\n")
    write(spare_evil, MARKER)

    def swap(point, parts):
        if point == "scan" and parts == ("evil.txt",):
            os.rename(spare_clean, q / "evil.txt")  # a scanner going by name would pass it
        if point == "scan" and parts == ("good.txt",):
            os.rename(spare_evil, q / "good.txt")  # ... and flag this one

    hook(swap)
    result = vmguard.vet(q, clamd_rules(clamd_server), pub / "run1", per_file=True)
    entries = {e.path: e for e in result.entries}
    assert (q / "evil.txt").read_bytes() == b"harmless too\n"  # the swaps happened
    assert (q / "good.txt").read_bytes() == MARKER
    assert entries["evil.txt"].scanner == f"clamd: {MARKER_SIGNATURE} FOUND"
    assert entries["evil.txt"].reasons == (Reason.SCANNER_FLAGGED, Reason.CHANGED_DURING_VET)
    assert entries["good.txt"].scanner == "clamd: OK"
    assert entries["good.txt"].reasons == (Reason.CHANGED_DURING_VET,)
    assert all(MARKER not in data for data in published_files(pub / "run1").values())


def test_a_file_rewritten_while_clamd_reads_it_is_rejected(clamd_server, job, hook):
    q, pub = job
    write(q / "a.txt", "aaaa\n")

    def rewrite(point, parts):
        if point == "scan" and parts == ("a.txt",):
            with open(q / "a.txt", "r+b") as fh:
                fh.write(b"bbbb")

    hook(rewrite)
    result = vmguard.vet(q, clamd_rules(clamd_server), pub / "run1")
    assert [(e.path, e.reasons) for e in result.rejected] == [("a.txt", (Reason.CHANGED_DURING_VET,))]
    assert nothing_published(pub)


def test_swaps_racing_the_vet_never_let_the_marker_out(clamd_server, tmp_path):
    """A guest swapping clean and marked files under the same names as fast as it can,
    in a loop of vets: whatever is published is clean and matches its manifest hash."""
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    names = [f"f{i}.txt" for i in range(20)]
    for name in names:
        write(q / name, "clean\n")
    stop = threading.Event()

    def guest():
        flip = 0
        while not stop.is_set():
            for name in names:
                tmp = q.parent / "tmp-swap"
                tmp.write_bytes(MARKER if flip else b"clean\n")
                os.rename(tmp, q / name)
                flip ^= 1

    thread = threading.Thread(target=guest)
    thread.start()
    try:
        for run in range(6):
            result = vmguard.vet(q, clamd_rules(clamd_server), pub / f"run{run}", per_file=True)
            published = published_files(pub / f"run{run}")
            assert set(published.values()) <= {b"clean\n"}
            assert len(published) == result.promoted
    finally:
        stop.set()
        thread.join()


def test_clamd_unreachable_is_exit_3_before_anything_is_staged(job, tmp_path):
    q, pub = job
    server = type("Gone", (), {"socket": str(tmp_path / "no-clamd.sock")})()
    with pytest.raises(ScanError, match="no-clamd.sock") as err:
        vmguard.vet(q, clamd_rules(server), pub / "run1")
    assert err.value.exit_code == ExitCode.CANNOT_RUN
    assert nothing_published(pub)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "stopped"])
def test_clamd_gone_mid_vet_is_exit_3_with_nothing_published(own_clamd, tmp_path, hook, sig):
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    for i in range(60):
        write(q / f"f{i:02}.txt", f"file {i}\n")
    hook(lambda point, parts: own_clamd.signal(sig) if (point, parts) == ("scan", ("f20.txt",)) else None)
    fds = open_fds()
    with pytest.raises(ScanError, match="clamd at") as err:
        vmguard.vet(q, clamd_rules(own_clamd, timeout=1.5), pub / "run1", per_file=True)
    assert err.value.exit_code == ExitCode.CANNOT_RUN
    assert nothing_published(pub)
    assert open_fds() == fds  # every duplicated descriptor was closed, also cancelled ones


def test_clamd_gone_mid_vet_through_the_cli_exits_3(own_clamd, tmp_path):
    """A real `vmguard vet` process whose clamd is killed while it runs."""
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    for i in range(1500):
        write(q / f"d{i % 10}" / f"f{i}.txt", f"file {i}\n")
    (tmp_path / "p.yaml").write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: t}\nspec:\n  quarantine:\n"
        f"    allow_types: [text/plain]\n    scanners: {{clamd: {{socket: {own_clamd.socket}}}}}\n"
    )
    argv = [
        sys.executable,
        "-m",
        "vmguard",
        "vet",
        str(q),
        "--policy",
        str(tmp_path / "p.yaml"),
        "--to",
        str(pub / "run1"),
        "--job",
        "run1",
    ]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staged = pub / ".vmguard-staging" / "run1.staging"  # made once clamd answered PING
    while proc.poll() is None and not staged.exists():
        time.sleep(0.01)
    own_clamd.signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, (out, err)
    assert "clamd at" in err and "Traceback" not in err
    assert nothing_published(pub)


class FakeClamd:
    """A UNIX socket peer that answers PING and then misbehaves as told: a protocol
    adversary for the failure paths a healthy clamd cannot be made to take."""

    def __init__(self, path: Path, reply: bytes | None) -> None:
        self.path, self.reply = str(path), reply
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.held: list[socket.socket] = []
        self.fildes = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            request = conn.recv(64)
            if request == b"zFILDES\0":  # take the descriptor's byte too, then answer
                _, rights, _, _ = conn.recvmsg(1, socket.CMSG_SPACE(4))
                for *_, data in rights:
                    os.close(int.from_bytes(data[:4], "little"))
            self.fildes += request.startswith(b"zFILDES")
            if request.startswith(b"zPING"):
                conn.sendall(b"PONG\0")
            elif self.fildes == 1:  # the limits probe: answered as clamd does
                conn.sendall(b"fd[9]: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0")
            elif self.reply is None:
                self.held.append(conn)  # never answer
                continue
            elif self.reply == b"trickle":  # a byte at a time, each well within the timeout
                threading.Thread(target=self.trickle, args=(conn,), daemon=True).start()
                continue
            else:
                conn.sendall(self.reply)
            conn.close()

    def trickle(self, conn):
        try:
            for byte in b"fd[9]: " + b"A" * 100 + b" FOUND\0":
                conn.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass
        conn.close()

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize(
    "reply",
    [
        b"fd[9]: OK\0",  # control: a fake that answers well lets the vet through
        b"fd[9]: Can't open file or directory ERROR\0",
        b"UNKNOWN COMMAND\0",
        b"fd[9]: OK",  # cut short: no NUL before the connection closes
        b"fd[9]: " + b"A" * 8000 + b" FOUND\0",
        None,  # no answer at all: the timeout
        b"trickle",  # an answer too slow as a whole (11 s), each byte in time
    ],
    ids=["control", "error", "unknown", "truncated", "overlong", "silent", "trickle"],
)
def test_a_misbehaving_clamd_stops_the_vet(job, tmp_path, reply, monkeypatch):
    q, pub = job
    # a protocol adversary, run by this test process: who listens is test_clamd_peer.py's subject
    monkeypatch.setattr(clamd_engine, "peer_problem", lambda sock, trusted: None)
    fake = FakeClamd(tmp_path / "fake.sock", reply)
    server = type("Fake", (), {"socket": fake.path})()
    try:
        if reply == b"fd[9]: OK\0":
            assert vmguard.vet(q, clamd_rules(server, timeout=0.5), pub / "run1").status is Status.PROMOTED
            return
        with pytest.raises(ScanError) as err:
            vmguard.vet(q, clamd_rules(server, timeout=0.5), pub / "run1")
    finally:
        fake.close()
    assert fake.fildes > 1  # the failure came from a file's scan, after the probe passed
    assert err.value.exit_code == ExitCode.CANNOT_RUN
    assert nothing_published(pub)


def test_a_clamd_that_passes_files_over_its_limits_unscanned_is_refused(tmp_path, job):
    """Debian's default clamd.conf (AlertExceedsMax off, MaxFileSize 25M) answers OK for a
    file it skipped: vmguard asks about a sparse 4 GiB + 1 file first and refuses."""
    q, pub = job
    lax = ClamdServer(tmp_path / "lax", threads=1, alert_exceeds_max=False).start()
    try:
        with pytest.raises(ScanError, match="passes files over its size limits as clean") as err:
            vmguard.vet(q, clamd_rules(lax), pub / "run1")
    finally:
        lax.stop()
    assert err.value.exit_code == ExitCode.CANNOT_RUN and "AlertExceedsMax yes" in str(err.value)
    assert nothing_published(pub)


def test_a_file_over_clamds_size_limit_is_rejected_never_passed(tmp_path):
    """A guest hiding the marker past clamd's MaxFileSize: clamd does not read it, says so,
    and the file stays in quarantine (a smaller file with the marker is the control)."""
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    write(q / "big.txt", b"x" * (2 << 20) + MARKER)
    write(q / "small.txt", b"x" * 1000 + MARKER)
    write(q / "fine.txt", b"x" * (2 << 20))
    small = ClamdServer(tmp_path / "small", threads=1, max_file_size="1M").start()
    try:
        result = vmguard.vet(q, clamd_rules(small), pub / "run1", per_file=True)
    finally:
        small.stop()
    scanned = {e.path: e.scanner for e in result.rejected}  # clamd's verdicts, whatever else was found
    assert scanned == {
        "big.txt": "clamd: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
        "fine.txt": "clamd: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
        "small.txt": f"clamd: {MARKER_SIGNATURE} FOUND",
    }
    assert not (pub / "run1").exists() or published_files(pub / "run1") == {}
