"""The `clamd` engine: ClamAV's daemon, spoken to directly on its UNIX socket.

Each file goes as `zFILDES`: the descriptor the copy phase checked and hashed travels
over the socket (SCM_RIGHTS), so clamd reads exactly that inode and never looks a path
up (a name swapped after the check cannot be what is scanned), and needs no access to
the quarantine. One short connection per file, `in_flight` of them at once on a small
thread pool, so clamd's own threads work while the copy goes on.

Before the first file, clamd is asked about an empty sparse file larger than any limit
it can be given (4 GiB + 1): unless clamd says `Heuristics.Limits.Exceeded...` it passes
files over its MaxFileSize/MaxScanSize/MaxScanTime as clean without scanning them
(Debian's default: AlertExceedsMax off, MaxFileSize 25M), and the vet refuses to run.

Every connection's peer is checked (SO_PEERCRED) before anything is sent: it must run
as root, the clamav user or a uid the policy names (`peer_uids`), and be a process named
clamd, so a listener another user put on the socket path cannot answer OK for everything.

Answers: `fd[N]: OK` is clean, `fd[N]: NAME FOUND` rejects the file with NAME. Anything
else (refused or lost connection, no answer within the timeout, `... ERROR`, an answer
vmguard does not understand) means clamd is failing: ScanError, the vet stops with
exit 3 and nothing is published, and every later submit fails at once.
"""

from __future__ import annotations

import array
import os
import pwd
import socket
import struct
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from vmguard.core.display import shown
from vmguard.policy.model import ClamdScanner
from vmguard.quarantine.scanners.interface import Engine, Hit, ScanError, ScanResult

MAX_REPLY = 4096  # a verdict line; clamd's longest is a signature name and a few words
PROBE_SIZE = (4 << 30) + 1  # beyond clamd's largest MaxFileSize (4000M): always over the limit
CLAMD_USER, CLAMD_COMM = "clamav", "clamd"  # Debian's clamav-daemon: its user, its process name
_UCRED = struct.Struct("3i")  # pid, uid, gid
LIMITS = "Heuristics.Limits.Exceeded."  # AlertExceedsMax's names: the file was not fully scanned
QUEUED_PER_WORKER = 2  # descriptors waiting for a worker, beyond those being scanned


class Clamd(Engine):
    name = "clamd"

    def __init__(self, config: ClamdScanner) -> None:
        self.config = config
        self.failed: ScanError | None = None
        self.trusted = trusted_uids(config)
        self.slots = threading.BoundedSemaphore(config.in_flight * QUEUED_PER_WORKER)
        reply = self._ask(b"zPING\0")
        if reply != "PONG":
            raise self._fail(f"answered PING with {shown(reply[:100])!r}")
        self._check_limits()
        self.pool = ThreadPoolExecutor(config.in_flight, thread_name_prefix="vmguard-clamd")

    def submit(self, fd: int) -> Future[ScanResult]:
        if self.failed is not None:
            raise self.failed
        self.slots.acquire()  # back-pressure: at most this many duplicated descriptors
        mine = -1
        try:
            mine = os.dup(fd)
            future = self.pool.submit(self._scan, mine)
        except BaseException:
            self._finished(mine)
            raise
        # Also when close() cancels it before a worker took it: the duplicate goes then.
        future.add_done_callback(lambda _: self._finished(mine))
        return future

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _finished(self, fd: int) -> None:
        if fd != -1:
            os.close(fd)
        self.slots.release()

    def _check_limits(self) -> None:
        """Fail unless clamd reports a file over its limits instead of passing it."""
        probe = os.memfd_create("vmguard-clamd-limits", os.MFD_CLOEXEC)
        try:
            os.ftruncate(probe, PROBE_SIZE)  # sparse: costs no memory, clamd stops at fstat
            result = self._verdict(self._ask(b"zFILDES\0", probe))
        finally:
            os.close(probe)
        if not any(hit.name.startswith(LIMITS) for hit in result.hits):
            raise self._fail(
                "passes files over its size limits as clean without scanning them",
                "set `AlertExceedsMax yes` in clamd.conf: `vmguard scanners setup` does",
            )

    def _scan(self, fd: int) -> ScanResult:
        if self.failed is not None:
            raise self.failed
        return self._verdict(self._ask(b"zFILDES\0", fd))

    def _verdict(self, reply: str) -> ScanResult:
        _, sep, status = reply.partition(": ")
        if not sep or not reply.startswith("fd["):
            raise self._fail(f"unexpected answer {shown(reply[:200])!r}")
        if status == "OK":
            return ScanResult(self.name, note="clamd: OK")
        if status.endswith(" FOUND"):
            signature = shown(status.removesuffix(" FOUND")[:200])
            return ScanResult(self.name, (Hit(self.name, signature),), note=f"clamd: {signature} FOUND")
        raise self._fail(f"could not scan a file: {shown(status[:200])}")

    def _ask(self, command: bytes, fd: int | None = None) -> str:
        """One request on a fresh connection; the reply without its NUL. `timeout` bounds
        the whole exchange, so a peer that trickles its answer cannot hold a file forever."""
        deadline = time.monotonic() + self.config.timeout
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(self.config.timeout)
            try:
                sock.connect(self.config.socket)
                why = peer_problem(sock, self.trusted)
                if why is not None:
                    raise self._fail(
                        why,
                        "only clamd itself may answer on its socket; its uid can be named in "
                        "scanners.clamd.peer_uids",
                    )
                sock.sendall(command)
                if fd is not None:
                    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
                    sock.sendmsg([b"\0"], rights)
                return _read_reply(sock, deadline).decode("utf-8", "replace")
            except TimeoutError as err:
                raise self._fail(f"no answer within {self.config.timeout:g}s") from err
            except OSError as err:
                raise self._fail(err.strerror or str(err)) from err

    def _fail(self, why: str, hint: str = "is clamd running? `systemctl status clamav-daemon`") -> ScanError:
        error = ScanError(f"clamd at {self.config.socket}: {why} ({hint}; nothing was published)")
        self.failed = self.failed or error
        return error


def _read_reply(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while not data.endswith(b"\0"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(MAX_REPLY)
        if not chunk:
            raise ConnectionResetError(0, "closed the connection without an answer")
        data += chunk
        if len(data) > MAX_REPLY:
            raise ConnectionResetError(0, "answered with an over-long line")
    return data[:-1]


def trusted_uids(config: ClamdScanner) -> frozenset[int]:
    """root, the clamav user (when there is one) and the uids the policy names."""
    try:
        clamav = {pwd.getpwnam(CLAMD_USER).pw_uid}
    except KeyError:
        clamav = set()
    return frozenset({0, *clamav, *config.peer_uids})


def peer_problem(sock: socket.socket, trusted: frozenset[int]) -> str | None:
    """Why the process at the other end of `sock` is not a clamd to trust, or None."""
    pid, uid, _ = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    if uid not in trusted:
        return f"the listener on the socket runs as uid {uid}, not root, {CLAMD_USER} or a uid in peer_uids"
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
            comm = fh.read().strip()
    except OSError:
        comm = "?"  # pid 0: another pid namespace; gone already
    if pid <= 0 or comm != CLAMD_COMM:
        return f"the listener on the socket (pid {pid}, {shown(comm)!r}) is not {CLAMD_COMM}"
    return None
