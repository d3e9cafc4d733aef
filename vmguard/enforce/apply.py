"""Apply a policy to one VM: plan, back up, change, log; and roll a VM back.

The order matters: the previous configuration is saved before anything changes, a
change that needs the VM powered off is refused unless the caller said how to proceed
(power it off now, or let it take effect at next boot), and every outcome, a refusal
included, is written to vmguard's hash-chained log.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from vmguard.core import eventlog as log
from vmguard.core.atomicfile import write_atomic
from vmguard.core.errors import DriverError, VmguardError
from vmguard.drivers.interface import ApplyResult, Driver, facts_of
from vmguard.enforce.plan import Change, Plan, make_plan
from vmguard.facts.vm import HostOnly, PowerState
from vmguard.policy.model import Policy


@dataclass(frozen=True)
class ApplyOutcome:
    plan: Plan
    result: ApplyResult | None = None  # None: nothing was attempted
    refused: tuple[Change, ...] = ()  # need power-off; the caller did not allow it
    backup: Path | None = None


def default_state_dir() -> Path:
    """$VMGUARD_STATE_DIR, else /var/lib/vmguard (root) or ~/.local/state/vmguard."""
    if env := os.environ.get("VMGUARD_STATE_DIR"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/vmguard")
    return Path.home() / ".local/state/vmguard"


def _safe(name: str) -> str:
    """A VM or connection name as one path component (names may hold '/' or spaces)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


class BackupStore:
    """Previous VM configurations, newest last: backups/<connection>/<vm>/<time>.cfg;
    and pending/<connection>/<vm>.restart, written before vmguard powers a running VM off
    and removed once it runs again, so a run killed in between is finished by the next
    `apply` or `rollback` (the VM is started again).

    Files are 0600: a libvirt definition read with VIR_DOMAIN_XML_SECURE holds secrets.
    """

    def __init__(self, root: Path | None = None) -> None:
        state = root or default_state_dir()
        self.root = state / "backups"
        self.pending = state / "pending"

    def folder(self, connection: str, vm: str) -> Path:
        """This VM's backups (its configurations, and the firewall records of its applies)."""
        return self.root / _safe(connection) / _safe(vm)

    def save(self, connection: str, vm: str, config: bytes) -> Path:
        return write_durably(self.folder(connection, vm) / f"{stamp()}.cfg", config)

    def latest(self, connection: str, vm: str) -> Path:
        found = sorted(self.folder(connection, vm).glob("*.cfg"))
        if not found:
            raise DriverError(f"no backup of VM {vm!r} (connection {connection}) to roll back to")
        return found[-1]

    def _restart_mark(self, connection: str, vm: str) -> Path:
        return self.pending / _safe(connection) / f"{_safe(vm)}.restart"

    def mark_restart(self, connection: str, vm: str) -> None:
        write_durably(self._restart_mark(connection, vm), b"powered off by vmguard apply\n")

    def restart_pending(self, connection: str, vm: str) -> bool:
        return self._restart_mark(connection, vm).exists()

    def clear_restart(self, connection: str, vm: str) -> None:
        self._restart_mark(connection, vm).unlink(missing_ok=True)


def stamp() -> str:
    """A backup's name: its UTC time, to the microsecond (names sort by time)."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def write_durably(path: Path, data: bytes, error: type[VmguardError] = DriverError) -> Path:
    """Root's private state file: after a crash it is whole or absent; `error` (the
    caller's subsystem's) when it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        raise error(f"cannot create {path.parent}: {err.strerror}") from err
    write_atomic(path, data, 0o600, error)
    return path


def _log(job: _Job, kind: str, plan: Plan, **data: object) -> None:
    job.events.append(
        kind,
        vm=plan.vm,
        connection=job.connection,
        policy=plan.policy,
        changes=[str(c) for c in plan.changes],
        **data,
    )


@dataclass(frozen=True)
class _Job:
    """One apply in progress: where to, how, and what to write in the log."""

    driver: Driver
    connection: str
    policy: Policy
    store: BackupStore
    events: log.EventLog
    host_only: HostOnly | None = None
    next_boot_config: bool = False  # plan against the definition a running VM boots with next

    def plan(self, vm: str) -> Plan:
        if self.next_boot_config:
            facts = replace(self.driver.read_next_boot_facts(vm), host_only=self.host_only)  # type: ignore[attr-defined]
        else:
            facts = facts_of(self.driver, vm, self.host_only)
        return make_plan(self.policy, facts, self.driver.capabilities)

    def started_again(self, vm: str) -> None:
        _start_again(self.driver, self.store, self.connection, vm)


def _start_again(driver: Driver, store: BackupStore, connection: str, vm: str) -> None:
    """Start a VM vmguard powered off (this run or a killed one), then forget it."""
    if driver.read_facts(vm).power_state is PowerState.OFF:
        driver.start(vm)
    store.clear_restart(connection, vm)


def _power_cycle(job: _Job, plan: Plan) -> tuple[Change, ...]:
    """Power the VM off, apply what is still needed then, start it again: re-planned once
    off, as changes saved earlier for the next boot are then in effect. Returns the
    changes found only then."""
    job.store.mark_restart(job.connection, plan.vm)
    job.driver.power_off(plan.vm)
    try:
        now = job.plan(plan.vm)
        if now.changes:
            job.driver.apply(plan.vm, now, dry_run=False)
    finally:  # a failed apply changed nothing: the VM runs again as it was
        job.started_again(plan.vm)
    planned = {(c.action, c.target, c.subject) for c in plan.changes}  # power state aside
    return tuple(c for c in now.changes if (c.action, c.target, c.subject) not in planned)


def _change(job: _Job, plan: Plan, power_off_ok: bool) -> tuple[ApplyResult, bool]:
    """Make the plan's changes; (result, whether the VM was power-cycled). With
    --power-off-ok a running VM ends with every change in effect: power-cycled when a
    change needs it, or when one the guest should have taken live did not take."""
    if not (power_off_ok and plan.needs_poweroff):
        result = job.driver.apply(plan.vm, plan, dry_run=False)
        if not (power_off_ok and result.next_boot):
            return result, False
    extra = _power_cycle(job, plan)
    return ApplyResult(plan.vm, applied=plan.changes + extra), True


def _proceed(job: _Job, plan: Plan, power_off_ok: bool, resumed: bool) -> ApplyOutcome:
    backup = job.store.save(job.connection, plan.vm, job.driver.backup(plan.vm))
    power_cycle = False
    try:
        result, power_cycle = _change(job, plan, power_off_ok)
        if resumed:
            job.started_again(plan.vm)
    except DriverError as err:
        _log(
            job,
            "apply-failed",
            plan,
            backup=str(backup),
            reason=str(err),
            power_cycled=power_off_ok and bool(plan.needs_poweroff),
        )
        raise
    status = "partly-applied" if result.next_boot else "applied"
    _log(
        job,
        "apply",
        plan,
        status=status,
        backup=str(backup),
        applied=len(result.applied),
        next_boot=len(result.next_boot),
        restarted=power_cycle or resumed,
    )
    return ApplyOutcome(plan, result, backup=backup)


def _resume(job: _Job, plan: Plan) -> ApplyOutcome:
    """Nothing left to change, but a killed run left the VM off: start it again."""
    job.started_again(plan.vm)
    _log(job, "apply", plan, status="resumed", restarted=True)
    return ApplyOutcome(plan)


def apply_vm(
    driver: Driver,
    connection: str,
    vm: str,
    policy: Policy,
    *,
    dry_run: bool = False,
    power_off_ok: bool = False,
    next_boot: bool = False,
    store: BackupStore | None = None,
    host_only: HostOnly | None = None,
    next_boot_config: bool = False,
    events: log.EventLog,
) -> ApplyOutcome:
    """Bring one VM in line with `policy`. Nothing to do and dry runs change nothing.
    next_boot_config: plan against a running libvirt VM's persistent definition (the
    one it boots with next), which a `virsh define` may have changed alone.

    Every outcome but "nothing to do" and dry runs is logged to `events`: applied (now, or partly
    at next boot), refused, failed. A VM a killed run powered off is started again."""
    job = _Job(driver, connection, policy, store or BackupStore(), events, host_only, next_boot_config)
    plan = job.plan(vm)
    resumed = not dry_run and job.store.restart_pending(connection, vm)
    if not plan.changes:
        return _resume(job, plan) if resumed else ApplyOutcome(plan)
    if dry_run:
        return ApplyOutcome(plan, driver.apply(vm, plan, dry_run=True))
    if plan.needs_poweroff and not (power_off_ok or next_boot):
        _log(job, "apply-refused", plan, reason="changes need the VM powered off")
        return ApplyOutcome(plan, refused=plan.needs_poweroff)
    return _proceed(job, plan, power_off_ok, resumed)


def has_backup(connection: str, vm: str, store: BackupStore | None = None) -> bool:
    """Whether an apply saved this VM's configuration (`rollback` has one to restore)."""
    try:
        (store or BackupStore()).latest(connection, vm)
    except DriverError:
        return False
    return True


def rollback_vm(
    driver: Driver, connection: str, vm: str, store: BackupStore | None = None, *, events: log.EventLog
) -> tuple[Path, PowerState]:
    """Restore the configuration saved before the last apply; returns the backup used.
    A VM that an apply killed mid-way left powered off is started again."""
    store = store or BackupStore()
    path = store.latest(connection, vm)
    restarted = store.restart_pending(connection, vm)
    try:
        driver.restore(vm, path.read_bytes())
        if restarted:
            _start_again(driver, store, connection, vm)
        state = driver.read_facts(vm).power_state
    except DriverError as err:
        events.append("rollback-failed", vm=vm, connection=connection, backup=str(path), reason=str(err))
        raise
    events.append(
        "rollback",
        vm=vm,
        connection=connection,
        backup=str(path),
        power_state=state.value,
        restarted=restarted,
    )
    return path, state
