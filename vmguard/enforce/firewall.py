"""The host firewall as the last step of `vmguard apply`, and its part of `rollback`.

apply: the ruleset compiled from the inventory is loaded when the live one differs
(firewall.service plan, then apply), which also leaves each VM of the run its entries:
a running VM's bound to the port it has now, a stopped VM's bound to none. Before a
changed ruleset is loaded, the live one (what `firewall show` lists) is saved beside
each VM's configuration backups, 0600, with a normalized snapshot of it; the snapshot of
what apply loaded is added once it is live. A stopped libvirt VM gets its entries when
it starts only through the start hook, so a run with such a VM checks the hook.

rollback: the record of a VM's last apply (none when a later apply saved the VM's
configuration) is put back only while the live ruleset is still the one that apply
loaded; anything else is refused before rollback changes anything (exit 3).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from vmguard.core import eventlog as log
from vmguard.core.errors import ExitCode, FirewallError, VmguardError
from vmguard.enforce.apply import BackupStore, stamp, write_durably
from vmguard.firewall import service
from vmguard.firewall.interfaces import with_vm_interfaces
from vmguard.firewall.model import Ruleset
from vmguard.inventory.model import DriverKind, Inventory

NOT_CONFIGURED = "not configured in the inventory"
LEFT_ALONE = "left alone (--no-firewall)"
RECORD = ".firewall.json"
RESTORED = ".firewall-restored.json"
STAMP = len("20261204T051500.000000Z")
RunVms = Sequence[tuple[str, str]]  # (connection, VM) of this run


@dataclass(frozen=True)
class VmEntries:
    """A VM's own entries after the step: its addresses' rules, bound to its bridge port."""

    vm: str
    addressed: bool  # False: no address in the inventory, no entries (the default deny)
    port: str = ""  # "" : bound to no port (stopped: the start hook binds it)


@dataclass(frozen=True)
class FirewallStep:
    configured: bool
    note: str = ""  # why nothing was looked at
    backend: str = ""
    dry_run: bool = False
    up_to_date: bool = True  # before this run
    changed: bool = False  # this run loaded the compiled ruleset
    drifts: tuple[str, ...] = ()
    vms: tuple[VmEntries, ...] = ()
    hook: str = ""  # why a stopped VM's entries would not appear at its start, and the fix
    saved: tuple[str, ...] = ()  # where the previous ruleset was saved
    problems: tuple[str, ...] = ()  # not covered (a VM's port unknown, the firewall unreadable)
    exit_code: ExitCode = field(default=ExitCode.OK)

    def to_dict(self) -> dict[str, object]:
        return {
            "configured": self.configured,
            "note": self.note,
            "backend": self.backend or None,
            "dry_run": self.dry_run,
            "up_to_date": self.up_to_date,
            "changed": self.changed,
            "drifts": list(self.drifts),
            "vms": [{"vm": v.vm, "addressed": v.addressed, "port": v.port or None} for v in self.vms],
            "hook": self.hook or None,
            "saved": list(self.saved),
            "problems": list(self.problems),
        }


def skipped() -> FirewallStep:
    return FirewallStep(configured=False, note=LEFT_ALONE)


def bring_in_line(
    inventory: Inventory,
    vms: RunVms,
    *,
    hooks_dir: Path,
    dry_run: bool,
    events: log.EventLog,
    store: BackupStore | None = None,
) -> FirewallStep:
    """The firewall step of `apply` (dry_run: of `plan`, which changes nothing)."""
    if not inventory.asks_for_firewall:
        return FirewallStep(configured=False, note=NOT_CONFIGURED)
    try:
        inventory = with_vm_interfaces(inventory)
        planned = service.plan(inventory)
    except VmguardError as err:
        why = (f"firewall: {err}",)  # not read: not known to be up to date
        return FirewallStep(True, dry_run=dry_run, up_to_date=False, problems=why, exit_code=err.exit_code)
    step = FirewallStep(
        True,
        backend=planned.backend,
        dry_run=dry_run,
        up_to_date=planned.up_to_date,
        drifts=tuple(str(d) for d in planned.drifts) or (() if planned.loaded else ("not loaded",)),
        vms=_entries(planned.ruleset, vms),
        hook=_hook(inventory, vms, hooks_dir),
        problems=tuple(f"firewall: {u}" for u in planned.unseen),
    )
    if planned.up_to_date or dry_run:
        return _coded(step)
    try:
        saved = _load(inventory, planned, vms, store or BackupStore(), events)
    except VmguardError as err:  # nothing loaded (nft's one transaction), or not the whole record
        return _coded(replace(step, problems=(*step.problems, f"firewall: {err}")))
    return _coded(replace(step, changed=True, saved=saved))


def _coded(step: FirewallStep) -> FirewallStep:
    """Exit 3 (incomplete) when a VM's entries are not covered: its port, or the hook."""
    hook = (f"firewall: {step.hook}",) if step.hook else ()
    problems = (*step.problems, *hook)
    code = ExitCode.CANNOT_RUN if problems else ExitCode.OK
    return replace(step, problems=problems, exit_code=code)


def _entries(ruleset: Ruleset, vms: RunVms) -> tuple[VmEntries, ...]:
    out = []
    for _conn, name in vms:
        rules = ruleset.vm(name)
        out.append(VmEntries(name, rules is not None, rules.port if rules else ""))
    return tuple(out)


def _hook(inventory: Inventory, vms: RunVms, hooks_dir: Path) -> str:
    """Only a libvirt VM with an address has entries its start must add."""
    from vmguard.gate import install  # the gate imports the firewall service too

    libvirt = {
        conn
        for conn, name in vms
        if inventory.connection(conn).driver is DriverKind.LIBVIRT
        and (entry := inventory.entry_on(conn, name)) is not None
        and entry.addresses
    }
    return install.unready(inventory, libvirt, hooks_dir) if libvirt else ""


def _load(
    inventory: Inventory, planned: service.FirewallPlan, vms: RunVms, store: BackupStore, events: log.EventLog
) -> tuple[str, ...]:
    """Save the live ruleset in each VM's backups, load the compiled one, note what is live."""
    live = service.show(inventory)
    record = {
        "backend": planned.backend,
        "inventory": inventory.source,
        "before": {
            "present": live.loaded,
            "text": live.text,
            "snapshot": service.snapshot(inventory).to_dict(),
        },
        "loaded": None,  # until it is: a run killed before cannot be told from a later change
    }
    name = f"{stamp()}{RECORD}"
    saved = json.dumps(record).encode()
    paths = [write_durably(store.folder(conn, vm) / name, saved, FirewallError) for conn, vm in vms]
    events.append("firewall", action="saved", backend=planned.backend, saved=[str(p) for p in paths])
    service.apply(inventory, events=events, planned=planned)
    record["loaded"] = service.snapshot(inventory).to_dict()
    for path in paths:
        write_durably(path, json.dumps(record).encode(), FirewallError)
    return tuple(str(p) for p in paths)


@dataclass(frozen=True)
class FirewallRollback:
    """What `rollback` does to the firewall, decided before it changes anything."""

    record: Path
    backend: str
    text: str  # the listing to put back
    already: bool  # the live ruleset is already the one saved: nothing to load


def latest_record(connection: str, vm: str, store: BackupStore | None = None) -> Path | None:
    """The ruleset saved by the VM's last apply, when that apply changed the firewall
    (a later apply that saved the VM's configuration did not)."""
    folder = (store or BackupStore()).folder(connection, vm)
    records = sorted(folder.glob(f"*{RECORD}"))
    configs = sorted(folder.glob("*.cfg"))
    if not records or (configs and configs[-1].name[:STAMP] > records[-1].name[:STAMP]):
        return None
    return records[-1]


def check_rollback(
    inventory: Inventory, connection: str, vm: str, *, events: log.EventLog, store: BackupStore | None = None
) -> FirewallRollback | None:
    """None: the VM's last apply left the firewall alone. FirewallError (exit 3) when the
    live ruleset is no longer the one that apply loaded (a VM started or stopped since,
    or a firewall command ran): a ruleset put back then would undo those changes too."""
    path = latest_record(connection, vm, store)
    if path is None:
        return None
    record = json.loads(path.read_text())
    backend, before = record["backend"], record["before"]
    live = service.snapshot(inventory, backend).to_dict()
    if live == before["snapshot"]:
        return FirewallRollback(path, backend, "", already=True)
    if live != record["loaded"]:
        why = (
            "apply was stopped before it loaded"
            if record["loaded"] is None
            else "it changed since apply loaded it"
        )
        reason = (
            f"the live {backend} ruleset is not the one `vmguard apply` loaded ({why}): the ruleset saved "
            f"in {path} was not put back, and nothing else was rolled back; compare `vmguard firewall show` "
            "with it, or load the inventory you want with `vmguard firewall apply`"
        )
        events.append("rollback-refused", vm=vm, connection=connection, record=str(path), reason=reason)
        raise FirewallError(f"{vm}: {reason}")
    service.restore(inventory, backend, before["text"], check=True, events=events)
    return FirewallRollback(path, backend, before["text"], already=False)


def roll_back(
    inventory: Inventory, undo: FirewallRollback, connection: str, vm: str, *, events: log.EventLog
) -> Path:
    """Put the saved ruleset back; the record is then marked as used (renamed)."""
    if not undo.already:
        service.restore(inventory, undo.backend, undo.text, events=events)
    done = undo.record.with_name(undo.record.name[: -len(RECORD)] + RESTORED)
    undo.record.rename(done)
    events.append(
        "rollback-firewall", vm=vm, connection=connection, record=str(done), backend=undo.backend,
        loaded=not undo.already,
    )  # fmt: skip
    return done
