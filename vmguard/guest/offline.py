"""Offline inspection of a VM's disk images: a worker process per VM, bounded in time.

The worker (vmguard.guest.worker) runs libguestfs, whose appliance is a small VM of
its own: the guest's file systems are only ever parsed inside it or by vmguard's own
strict parsers, and no guest program runs. A worker that overruns its time is killed
with everything it started (its session), the appliance's qemu included.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from vmguard.core.errors import GuestError
from vmguard.guest import codec
from vmguard.guest.cache import fingerprint
from vmguard.guest.model import GuestFacts

DEFAULT_TIMEOUT = 600.0  # seconds per VM; an appliance boot under TCG alone takes ~20 s
MAX_ANSWER = 256 * 1024 * 1024


def inspect_disks(
    disks: Sequence[tuple[str, str]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    scan_files: bool = True,
    running: bool = False,
) -> GuestFacts:
    """GuestFacts of one VM from its disks [(path, format)]; GuestError when it cannot.

    `running`: the VM is up, so its images change under us; the read-only overlay keeps
    us from writing, but only a stopped VM's images can be proved unchanged afterwards.
    """
    if not disks:
        raise GuestError("no disk images to inspect")
    before = [fingerprint(Path(p)) for p, _ in disks]
    start = time.monotonic()
    answer = _run_worker({"disks": list(disks), "scan_files": scan_files}, timeout)
    if "error" in answer:
        raise GuestError(f"{disks[0][0]}: {answer['error']}{kvm_hint(answer['error'])}")
    if not running and [fingerprint(Path(p)) for p, _ in disks] != before:
        raise GuestError(f"{disks[0][0]}: the image changed while it was inspected")
    return replace(answer["facts"], seconds=round(time.monotonic() - start, 2))


def kvm_hint(error: str) -> str:
    """The fix for a known cause: libguestfs's appliance uses KVM whenever /dev/kvm
    exists, and on hosts where /dev/kvm opens but cannot run guests (nested, restricted)
    its launch fails or hangs. Only for those symptoms, and only while TCG is not forced."""
    symptom = any(s in error.lower() for s in ("guestfs_launch failed", "kvm", "timed out"))
    forced = "force_tcg" in os.environ.get("LIBGUESTFS_BACKEND_SETTINGS", "")
    if not symptom or forced or not os.path.exists("/dev/kvm"):
        return ""
    return (
        "; hint: if /dev/kvm cannot run guests on this host, run vmguard with "
        "LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg (software emulation)"
    )


def _run_worker(request: dict, timeout: float) -> dict:
    answer = run_worker("vmguard.guest.worker", request, timeout, "inspection")
    try:
        return answer if "error" in answer else {"facts": codec.load(answer["facts"])}
    except (ValueError, KeyError, TypeError):
        raise GuestError("inspection failed: the worker's answer is not guest facts") from None


def run_worker(module: str, request: dict, timeout: float, what: str, on_start=None) -> dict:
    """Run `python -m module` in a session of its own; its JSON answer. With on_start
    (called with its pid once started; apply's worker, which writes) it is also killed
    with vmguard, a kill -9 included. (preexec_fn is not safe in threaded callers, as
    the inspection's are: only the writer needs it.)"""
    proc = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_die_with_parent if on_start else None,  # noqa: PLW1509 (only prctl)
    )
    try:
        if on_start:
            on_start(proc.pid)
        out, err = proc.communicate(json.dumps(request).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        proc.communicate()
        raise GuestError(f"{what} timed out after {timeout:g} s{kvm_hint('timed out')}") from None
    finally:
        kill_session(proc.pid)  # a recovery process or qemu left behind
    try:
        if len(out) > MAX_ANSWER:
            raise ValueError("answer too long")
        answer = json.loads(out)
        if not isinstance(answer, dict):
            raise ValueError("not an object")
        return answer
    except ValueError:  # the worker died: its stderr says why
        raise GuestError(f"{what} failed: {err.decode(errors='replace').strip()[-500:]}") from None


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """SIGKILL this child when vmguard dies, however it dies: a worker left behind would
    go on writing a disk that a rollback is restoring (libguestfs's own recovery process
    then ends the appliance's qemu)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def kill_session(sid: int) -> None:
    """SIGKILL every process in the session the worker leads (libguestfs puts the
    appliance's qemu in a process group of its own, so killpg would miss it). Repeated
    until none is left: a process may fork while /proc is being read."""
    for _ in range(100):
        members = [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and session_of(e) == sid]
        if not members:
            return
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def session_of(proc_dir: Path) -> int | None:
    try:
        stat = (proc_dir / "stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after "(comm)", which may hold spaces
    return int(fields[3]) if len(fields) > 3 else None
