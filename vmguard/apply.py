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
from dataclasses import dataclass
from pathlib import Path

from vmguard import log
from vmguard.drivers.interface import ApplyResult, Driver
from vmguard.errors import DriverError
from vmguard.facts import PowerState
from vmguard.plan import Change, Plan, make_plan
from vmguard.policy.model import Policy


@dataclass(frozen=True)
class Outcome:
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
    """Previous VM configurations, newest last: backups/<connection>/<vm>/<time>.cfg.

    Files are 0600: a libvirt definition read with VIR_DOMAIN_XML_SECURE holds secrets.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_state_dir()) / "backups"

    def _dir(self, connection: str, vm: str) -> Path:
        return self.root / _safe(connection) / _safe(vm)

    def save(self, connection: str, vm: str, config: bytes) -> Path:
        folder = self._dir(connection, vm)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = folder / f"{stamp}.cfg"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(config)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.rename(path)
        return path

    def latest(self, connection: str, vm: str) -> Path:
        found = sorted(self._dir(connection, vm).glob("*.cfg"))
        if not found:
            raise DriverError(f"no backup of VM {vm!r} (connection {connection}) to roll back to")
        return found[-1]


def _log(kind: str, connection: str, plan: Plan, **data: object) -> None:
    log.append(
        kind,
        vm=plan.vm,
        connection=connection,
        policy=plan.policy,
        changes=[str(c) for c in plan.changes],
        **data,
    )


def _proceed(driver: Driver, plan: Plan, store: BackupStore, connection: str, power_off_ok: bool) -> Outcome:
    backup = store.save(connection, plan.vm, driver.backup(plan.vm))
    restart = power_off_ok and bool(plan.needs_poweroff)
    if restart:
        driver.power_off(plan.vm)
    try:
        result = driver.apply(plan.vm, plan, dry_run=False)
    finally:
        if restart:  # a failed apply changed nothing: bring the VM back either way
            driver.start(plan.vm)
    _log(
        "apply",
        connection,
        plan,
        backup=str(backup),
        applied=len(result.applied),
        next_boot=len(result.next_boot),
        restarted=restart,
    )
    return Outcome(plan, result, backup=backup)


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
) -> Outcome:
    """Bring one VM in line with `policy`. Nothing to do and dry runs change nothing."""
    plan = make_plan(policy, driver.read_facts(vm), driver.capabilities)
    if not plan.changes:
        return Outcome(plan)
    if dry_run:
        return Outcome(plan, driver.apply(vm, plan, dry_run=True))
    if plan.needs_poweroff and not (power_off_ok or next_boot):
        _log("apply-refused", connection, plan, reason="changes need the VM powered off")
        return Outcome(plan, refused=plan.needs_poweroff)
    return _proceed(driver, plan, store or BackupStore(), connection, power_off_ok)


def rollback_vm(
    driver: Driver, connection: str, vm: str, store: BackupStore | None = None
) -> tuple[Path, PowerState]:
    """Restore the configuration saved before the last apply; returns the backup used."""
    path = (store or BackupStore()).latest(connection, vm)
    driver.restore(vm, path.read_bytes())
    state = driver.read_facts(vm).power_state
    log.append("rollback", vm=vm, connection=connection, backup=str(path), power_state=state.value)
    return path, state
