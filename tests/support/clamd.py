"""A real clamd (Debian's clamav-daemon) for tests: own config, socket and database.

No freshclam and no network: the database is built here, one body signature (.ndb) for
a marker string and one hash signature (.hdb) for the EICAR test file. clamd refuses to
start without a database, so it is written first. clamd reports signatures from
unsigned databases with a `.UNOFFICIAL` suffix.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

MARKER = b"VMGUARD-TEST-MALWARE-MARKER-7d1c"  # in a file, anywhere: Vmguard.Test.Marker
MARKER_SIGNATURE = "Vmguard.Test.Marker.UNOFFICIAL"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Eicar-Test-Signature.UNOFFICIAL"
START_TIMEOUT = 60.0


def write_database(db: Path) -> None:
    db.mkdir(parents=True, exist_ok=True)
    (db / "vmguard-test.ndb").write_text(f"Vmguard.Test.Marker:0:*:{MARKER.hex()}\n")
    md5 = hashlib.md5(EICAR, usedforsecurity=False).hexdigest()
    (db / "vmguard-test.hdb").write_text(f"{md5}:{len(EICAR)}:Eicar-Test-Signature\n")


class ClamdServer:
    """clamd in the foreground on `root/clamd.sock`; start() waits until it answers PING."""

    def __init__(
        self, root: Path, threads: int = 4, *, alert_exceeds_max: bool = True, max_file_size: str = "2000M"
    ) -> None:
        self.root = root
        self.socket = str(root / "clamd.sock")
        self.config = root / "clamd.conf"
        self.proc: subprocess.Popen | None = None
        write_database(root / "db")
        self.config.write_text(
            f"LocalSocket {self.socket}\nDatabaseDirectory {root / 'db'}\nForeground yes\n"
            f"LogFile {root / 'clamd.log'}\nTemporaryDirectory {root}\nMaxThreads {threads}\n"
            # Files over a limit are reported, never silently passed as clean (vmguard refuses
            # a clamd that does not). No cache of clean files' hashes: every request is a
            # real scan (benchmarks compare them).
            f"AlertExceedsMax {'yes' if alert_exceeds_max else 'no'}\nMaxFileSize {max_file_size}\n"
            "MaxScanSize 4000M\nSelfCheck 3600\n"
            "DisableCache yes\n"
        )

    def start(self) -> ClamdServer:
        self.proc = subprocess.Popen(
            ["clamd", "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = (self.root / "clamd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"clamd did not start: {log}")
            time.sleep(0.05)
        return self

    def answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(self.socket)
                sock.sendall(b"zPING\0")
                return sock.recv(16) == b"PONG\0"
        except OSError:
            return False

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.signal(signal.SIGCONT)  # a test may have stopped it
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        self.proc = None
