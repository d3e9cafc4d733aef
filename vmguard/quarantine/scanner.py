"""The optional external scanner (e.g. `clamdscan --fdpass --no-summary {path}`).

The scanner reads the staged copy (the bytes that will be published) through an
inherited read-only descriptor: `{fd}` is its number and `{path}` is /dev/fd/N. Exit 0
means clean, 1 means flagged (the ClamAV convention), anything else or a timeout means
the scan failed, which rejects the file too. It runs in its own session so a timeout
kills it and everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess

from vmguard.display import shown
from vmguard.policy.model import Scanner
from vmguard.quarantine.model import Reason

_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


def _first_line(data: bytes) -> str:
    line = data.decode("utf-8", "replace").strip().splitlines()
    return shown(line[0][:200]) if line else ""


def scan(scanner: Scanner, fd: int) -> tuple[Reason | None, str]:
    """(None, verdict) when clean, else (reason, verdict)."""
    argv = [a.replace("{path}", f"/dev/fd/{fd}").replace("{fd}", str(fd)) for a in scanner.command]
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
        return Reason.SCANNER_FAILED, f"could not run {argv[0]}: {err.strerror}"
    try:
        out, err_out = proc.communicate(timeout=scanner.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Reason.SCANNER_FAILED, f"timed out after {scanner.timeout:g}s"
    if proc.returncode == 0:
        return None, f"clean: {_first_line(out)}"
    if proc.returncode == 1:
        return Reason.SCANNER_FLAGGED, f"flagged: {_first_line(out)}"
    return Reason.SCANNER_FAILED, f"exit {proc.returncode}: {_first_line(err_out or out)}"
