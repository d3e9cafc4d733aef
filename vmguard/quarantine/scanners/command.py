"""The `command` engine: any other scanner, run once per file (`scanners.command.argv`).

The program reads the file through an inherited read-only descriptor: `{fd}` is its
number and `{path}` is /dev/fd/N. Exit 0 means clean, 1 means flagged (the ClamAV
convention), anything else or a timeout means this file could not be scanned, which
rejects it. It runs in its own session so a timeout kills it and everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
from concurrent.futures import Future

from vmguard.core.display import shown
from vmguard.policy.model import CommandScanner
from vmguard.quarantine.scanners.interface import Engine, Hit, ScanResult, done

_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


def _first_line(data: bytes) -> str:
    line = data.decode("utf-8", "replace").strip().splitlines()
    return shown(line[0][:200]) if line else ""


class Command(Engine):
    name = "command"

    def __init__(self, config: CommandScanner) -> None:
        self.config = config

    def submit(self, fd: int) -> Future[ScanResult]:
        return done(self.scan(fd))

    def scan(self, fd: int) -> ScanResult:
        argv = [a.replace("{path}", f"/dev/fd/{fd}").replace("{fd}", str(fd)) for a in self.config.argv]
        try:
            proc = subprocess.Popen(
                argv,
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_ENV,
                cwd="/",
                start_new_session=True,
            )
        except OSError as err:
            return self._failed(f"could not run {argv[0]}: {err.strerror}")
        try:
            out, err_out = proc.communicate(timeout=self.config.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return self._failed(f"timed out after {self.config.timeout:g}s")
        if proc.returncode == 0:
            return ScanResult(self.name, note=f"{self.name}: clean: {_first_line(out)}")
        if proc.returncode == 1:
            line = _first_line(out)
            return ScanResult(self.name, (Hit(self.name, line),), note=f"{self.name}: flagged: {line}")
        return self._failed(f"exit {proc.returncode}: {_first_line(err_out or out)}")

    def _failed(self, why: str) -> ScanResult:
        return ScanResult(self.name, failure=why, note=f"{self.name}: failed: {why}")
