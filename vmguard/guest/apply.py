"""`apply --guest` and its rollback: change a stopped VM's guest files, with a way back.

The order: refuse a running VM; inspect the guest and plan (vmguard.guest.fixes); stop
if a part the fixes read did not parse; back the disks up (vmguard.guest.backup); check
the images did not change since they were inspected; let the apply worker make the
changes inside libguestfs's appliance; log every change with its before and after.
Refusals and failures are logged too. `rollback_guest` puts the backed-up images back.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from vmguard.core import eventlog as log
from vmguard.core.errors import GuestError
from vmguard.facts.vm import PowerState, VmFacts
from vmguard.guest import backup, offline
from vmguard.guest.backup import BackupState, GuestBackups
from vmguard.guest.cache import fingerprint
from vmguard.guest.fixes import GuestPlan, guest_plan
from vmguard.guest.inspection import inspect, uninspectable
from vmguard.guest.offline import DEFAULT_TIMEOUT, kill_session, run_worker
from vmguard.policy.model import Policy

RUNNING = (PowerState.RUNNING, PowerState.PAUSED)


@dataclass(frozen=True)
class GuestOutcome:
    vm: str
    plan: GuestPlan
    records: tuple[dict, ...] = ()  # each change made: rule, action, path, before, after
    backup: Path | None = None
    refused: str = ""  # the VM runs: nothing was attempted

    def to_dict(self, dry_run: bool) -> dict[str, object]:
        """`apply --format json`'s "guest" of one VM (vmguard/cli/schema/apply-v1.json)."""
        return {
            "plan": self.plan.to_dict(),
            "dry_run": dry_run,
            "made": [dict(r) for r in self.records],
            "backup": str(self.backup) if self.backup else None,
            "refused": self.refused,
        }


def with_guest(facts: VmFacts, *, timeout: float = DEFAULT_TIMEOUT) -> VmFacts:
    """The facts with the guest inspected (without the slow permission scan, which no
    fix needs); GuestError when a disk cannot be read."""
    missed = uninspectable(facts)
    if missed:
        raise GuestError(f"{facts.name}: {'; '.join(missed)}")
    found = inspect(facts, timeout=timeout, scan_files=False)
    if found is None:
        raise GuestError(f"{facts.name}: no disk image to change")
    return replace(facts, guest=found)


def plan_guest(policy: Policy, facts: VmFacts) -> GuestPlan:
    """The guest's part of `vmguard plan` (facts.guest set), with what its backup costs."""
    found = guest_plan(policy, facts)
    if not found.changes:
        return found
    if facts.power_state in RUNNING:
        found = replace(found, manual=(*found.manual, f"the VM is {facts.power_state.value}: stop it, "
                                       "`apply --guest` changes a stopped guest only"))  # fmt: skip
    try:
        return replace(found, backup=str(backup.cost([p for p, _ in writable_disks(facts)])))
    except OSError as err:
        return replace(found, refused=f"the disk images cannot be read for a backup: {err}")


def writable_disks(facts: VmFacts) -> list[tuple[str, str]]:
    return [(d.path, d.format) for d in facts.disks if d.path and not d.read_only]


def apply_guest(
    facts: VmFacts,
    policy: Policy,
    connection: str,
    *,
    dry_run: bool = False,
    backups: GuestBackups | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    events: log.EventLog,
) -> GuestOutcome:
    """Bring the stopped VM's guest in line with `policy` (logged to `events`); GuestError (exit 3) when the
    guest cannot be read, parsed, backed up or changed, or changed since its inspection."""
    if facts.power_state in RUNNING:
        why = f"the VM is {facts.power_state.value}: its guest is changed only while it is stopped"
        events.append("guest-apply-refused", vm=facts.name, connection=connection, reason=why)
        return GuestOutcome(facts.name, GuestPlan(), refused=why)
    seen = [fingerprint(Path(p)) for p, _ in writable_disks(facts)]
    facts = with_guest(facts, timeout=timeout)
    plan = plan_guest(policy, facts)
    if plan.refused:
        events.append("guest-apply-failed", vm=facts.name, connection=connection, reason=plan.refused)
        raise GuestError(f"{facts.name}: guest left untouched: {plan.refused}")
    if dry_run or not plan.changes:
        return GuestOutcome(facts.name, plan)
    return _change(facts, plan, policy.name, connection, seen, backups or GuestBackups(), timeout, events)


def _unchanged(facts: VmFacts, seen: list) -> None:
    now = [fingerprint(Path(p)) for p, _ in writable_disks(facts)]
    if now != seen:
        raise GuestError(f"{facts.name}: guest left untouched: a disk image changed since it was inspected")


def _change(
    facts: VmFacts,
    plan: GuestPlan,
    policy: str,
    connection: str,
    seen: list,
    backups: GuestBackups,
    timeout: float,
    events: log.EventLog,
) -> GuestOutcome:
    backups.discard_partial(connection, facts.name)
    _unchanged(facts, seen)
    folder = backups.take(connection, facts.name, writable_disks(facts))
    try:
        _unchanged(facts, seen)  # copied what was inspected, not a later state
        records = _run(facts, plan, folder, seen, timeout)
    except GuestError as err:
        opened = _opened(facts, seen)
        if opened:
            backup.set_state(folder, BackupState.FAILED)
        else:  # nothing reached the disk: a restore would change nothing
            shutil.rmtree(folder, ignore_errors=True)
        events.append("guest-apply-failed", vm=facts.name, connection=connection, backup=str(folder),
                   reason=str(err), disk_changed=opened)  # fmt: skip
        raise GuestError(f"{err}{_after_failure(opened, folder)}") from None
    backup.set_state(folder, BackupState.APPLIED)
    for record in records:
        events.append("guest-change", vm=facts.name, connection=connection, **record)
    events.append("guest-apply", vm=facts.name, connection=connection, policy=policy,
               backup=str(folder), changes=len(records))  # fmt: skip
    return GuestOutcome(facts.name, plan, tuple(records), folder)


def _opened(facts: VmFacts, seen: list) -> bool:
    try:
        _unchanged(facts, seen)
    except GuestError:
        return True
    return False


def _after_failure(opened: bool, folder: Path) -> str:
    if opened:
        return f"; the disk may be partly changed: `vmguard rollback` restores it from {folder}"
    return " (the disk is unchanged, no backup kept)"


def _run(facts: VmFacts, plan: GuestPlan, folder: Path, seen: list, timeout: float) -> list[dict]:
    """The worker re-checks `seen` (the writable images' fingerprints at inspection)
    once its appliance holds the images' lock: a VM started meanwhile is refused."""
    disks = [[d.path, d.format, d.read_only] for d in facts.disks if d.path]
    request = {"disks": disks, "changes": [c.to_dict() for c in plan.changes], "fingerprints": seen}

    def started(pid: int) -> None:
        backup.set_state(folder, BackupState.APPLYING, worker=pid)

    answer = run_worker("vmguard.guest.apply_worker", request, timeout, "guest apply", on_start=started)
    if "error" in answer:
        raise GuestError(f"{facts.name}: guest left untouched: {answer['error']}")
    return list(answer.get("records", []))


def _writes_to(session: int, disks: list[tuple[str, str]]) -> bool:
    """A process of the apply worker's session (killed with vmguard, but its appliance's
    qemu may linger a moment) still runs: it names the worker or one of the images. A
    recycled pid that leads another session does not."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and offline.session_of(proc) == session:
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "vmguard.guest.apply_worker" in cmdline or any(p in cmdline for p, _ in disks):
                return True
    return False


def rollback_guest(
    facts: VmFacts, connection: str, backups: GuestBackups | None = None, *, events: log.EventLog
) -> Path | None:
    """Restore the images backed up before the last `apply --guest`; None when there is
    none to restore. A worker a killed apply left behind is ended first."""
    backups = backups or GuestBackups()
    folder = backups.latest(connection, facts.name)
    if folder is None:
        return None
    if facts.power_state in RUNNING:
        raise GuestError(f"{facts.name}: is {facts.power_state.value}; stop it to restore its disks")
    worker = backup.read_manifest(folder).get("worker")
    if worker and _writes_to(int(worker), writable_disks(facts)):
        kill_session(int(worker))
    try:
        paths = backup.restore(folder)
    except GuestError as err:
        events.append("guest-rollback-failed", vm=facts.name, connection=connection, backup=str(folder),
                   reason=str(err))  # fmt: skip
        raise
    events.append("guest-rollback", vm=facts.name, connection=connection, backup=str(folder), disks=paths)
    return folder
