"""Root's record of which job holds which VM, on disk so that a crash loses nothing.

    state_dir/lock              taken while a hook decides or changes an assignment
    state_dir/vms/<vm>.json     the VM's holder: job, pool, phase, boot id
    state_dir/vms/<vm>.lock     held by the hook that seals and vets the VM's output:
                                the kernel drops it when that process dies
    state_dir/assigned/<key>    world-readable "VM<TAB>quarantine" for the job itself

Every record is written whole or not at all (vmguard.core.atomicfile).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from vmguard.batch.job import SAFE_NAME, BatchJob
from vmguard.core.atomicfile import write_atomic
from vmguard.core.errors import BatchError

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class Phase(StrEnum):
    ASSIGNED = "assigned"  # the job runs and may write into the VM's quarantine
    SEALING = "sealing"  # the job ended; its output is moved aside and vetted


@dataclass(frozen=True)
class Holder:
    vm: str
    pool: str
    quarantine: str
    job: BatchJob
    phase: Phase
    boot_id: str
    serial: str = ""  # unique per assignment: a reused job id never shares a held folder

    @property
    def held_name(self) -> str:
        """The name of this assignment's held folder (stable across a crash-recovery)."""
        return f"{self.job.key}.{self.serial}" if self.serial else self.job.key

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "job": self.job.to_dict(), "phase": self.phase.value}

    @classmethod
    def from_dict(cls, data: dict) -> Holder:
        return cls(**{**data, "job": BatchJob.from_dict(data["job"]), "phase": Phase(data["phase"])})


def boot_id() -> str:
    """Changes at every boot: a holder from an earlier boot ran no hook since the crash."""
    return BOOT_ID.read_text().strip()


@dataclass(frozen=True)
class State:
    root: Path

    def ensure(self) -> None:
        for sub, mode in (("", 0o755), ("vms", 0o700), ("assigned", 0o755)):
            path = self.root / sub
            path.mkdir(parents=True, exist_ok=True, mode=mode)
            if path.is_symlink() or path.stat().st_uid != os.geteuid():
                raise BatchError(f"{path}: must be a directory of vmguard's own user, not a link")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The assignment lock: one hook at a time decides who holds what."""
        self.ensure()
        with _flock(self.root / "lock", blocking=True):
            yield

    def vm_lock(self, vm: str, blocking: bool) -> contextlib.AbstractContextManager[bool]:
        return _flock(self.root / "vms" / f"{_safe(vm)}.lock", blocking)

    def holder(self, vm: str) -> Holder | None:
        try:
            return Holder.from_dict(json.loads((self.root / "vms" / f"{_safe(vm)}.json").read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise BatchError(f"VM {vm}: its assignment record is unreadable: {err}") from err

    def holders(self) -> list[Holder]:
        names = sorted(p.stem for p in (self.root / "vms").glob("*.json"))
        return [h for h in map(self.holder, names) if h is not None]

    def hold(self, holder: Holder) -> None:
        record = json.dumps(holder.to_dict(), indent=2).encode()
        write_atomic(self.root / "vms" / f"{_safe(holder.vm)}.json", record, 0o600, BatchError)
        note = self.root / "assigned" / holder.job.key
        if holder.phase is Phase.ASSIGNED:
            write_atomic(note, f"{holder.vm}\t{holder.quarantine}\n".encode(), 0o644, BatchError)
        else:
            note.unlink(missing_ok=True)

    def release(self, holder: Holder) -> None:
        for path in (self.root / "assigned" / holder.job.key, self.root / "vms" / f"{_safe(holder.vm)}.json"):
            path.unlink(missing_ok=True)

    def assigned_note(self, key: str) -> str:
        """What `vmguard batch vm` shows the job: "VM<TAB>quarantine", or ""."""
        if not SAFE_NAME.match(key):
            return ""
        try:
            return (self.root / "assigned" / key).read_text()
        except OSError:
            return ""

    def of_job(self, key: str) -> Holder | None:
        return next((h for h in self.holders() if h.job.key == key), None)


def _safe(name: str) -> str:
    if not SAFE_NAME.match(name):
        raise BatchError(f"{name!r} cannot name a VM record")
    return name


@contextlib.contextmanager
def _flock(path: Path, blocking: bool) -> Iterator[bool]:
    """Yields whether the lock was taken (always, when blocking)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
