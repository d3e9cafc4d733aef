"""Audit an inventory, read-only: every VM through its driver, unmanaged VMs, the host.

Nothing here changes a VM or the firewall: drivers are only asked to list VMs and read
facts. A connection, VM, disk, guest or firewall that cannot be read is reported with its
reason, the others are still audited, and the run is incomplete (exit 3).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from vmguard import guest
from vmguard.audit.catalog import Catalog, load_catalog
from vmguard.audit.host import audit_host
from vmguard.audit.result import AuditResult, Outcome, VmReport
from vmguard.audit.waivers import apply_waivers
from vmguard.checks.inventory import Listing
from vmguard.checks.registry import INVENTORY_AREAS, Unit, findings, fixed_by_apply, units
from vmguard.core.errors import DriverError, GuestError
from vmguard.core.findings import Finding
from vmguard.drivers import Driver, facts_of, open_driver
from vmguard.enforce.plan import make_plan
from vmguard.facts.vm import VmFacts
from vmguard.inventory.model import Connection, Inventory, VmEntry, not_found

Opener = Callable[[Connection], Driver]


class GuestMode(StrEnum):
    """How far the audit looks inside guests (users, logins, software, services)."""

    OFF = "off"
    OFFLINE = "offline"  # the disk images, read-only through libguestfs
    ONLINE = "online"  # also the running guest's agent: logged-in users, listening sockets


@dataclass(frozen=True)
class Context:
    catalog: Catalog
    checks: dict[str, Unit]  # the VM rules, by id
    today: dt.date
    guest: GuestMode = GuestMode.OFF
    inventory_rules: dict[str, Unit] = field(default_factory=dict)


def make_context(today: dt.date, guest: GuestMode = GuestMode.OFF) -> Context:
    """The catalog and the rules it names, for one audit or watch."""
    catalog = load_catalog()
    return Context(catalog, units(catalog=catalog), today, guest, units(INVENTORY_AREAS, catalog))


GUEST_AREAS = ("USR", "SW")  # rules over what is inside the guest (checks.guest)
# The policy section a plan change sets -> the rule area it fixes.
AREA_OF_SECTION = {"network": "NET", "shared_folders": "FS", "devices": "DEV"}


def apply_areas(entry: VmEntry, facts: VmFacts, driver: Driver) -> tuple[str, ...]:
    """The rule areas `vmguard apply` changes on this VM: its plan's automatic changes (a
    change only an admin can make, such as a NIC with no host-only network to move to, is
    not counted), so the report never promises what apply will not do."""
    plan = make_plan(entry.policy, facts, driver.capabilities)
    sections = {c.setting.split(".")[1] for c in plan.changes if c.setting.count(".") >= 1}
    return tuple(sorted(AREA_OF_SECTION[s] for s in sections if s in AREA_OF_SECTION))


def checked_rules(ctx: Context, facts: VmFacts) -> tuple[str, ...]:
    """The VM rules run over facts that were seen: the guest's only when it was inspected."""
    seen = facts.guest is not None
    return tuple(r for r in ctx.checks if seen or ctx.catalog.get(r).area not in GUEST_AREAS)


def run_checks(ctx: Context, entry: VmEntry, facts: VmFacts) -> tuple[Outcome, ...]:
    """Every VM rule over one VM's facts, with the entry's policy's waivers applied."""
    policy = entry.policy
    return outcomes(ctx, findings(ctx.checks, policy, facts, facts.name), policy.waivers)


def outcomes(ctx: Context, found: Iterable[Finding], waivers: tuple = ()) -> tuple[Outcome, ...]:
    """Findings with their catalog rules and waiver states."""
    plain = (Outcome(f, ctx.catalog.get(f.rule)) for f in found)
    return tuple(apply_waivers(o, waivers, ctx.today) for o in plain)


def inventory_findings(ctx: Context, inventory: Inventory, listing: Listing) -> dict[str, list[Finding]]:
    """The inventory rules' findings for one connection's VMs, by subject (VM or entry)."""
    by_subject: dict[str, list[Finding]] = {}
    for f in findings(ctx.inventory_rules, inventory, listing, listing.connection.name):
        by_subject.setdefault(f.subject, []).append(f)
    return by_subject


def unmanaged_outcomes(
    ctx: Context, inventory: Inventory, conn: Connection, name: str
) -> tuple[Outcome, ...]:
    """What the inventory rules say of one VM no entry names (watch sees VMs one by one)."""
    listing = Listing(connection=conn, names=(name,))
    return outcomes(ctx, inventory_findings(ctx, inventory, listing).get(name, []))


def with_guest(
    ctx: Context, conn: Connection, facts: VmFacts, *, scan_files: bool = True
) -> tuple[VmFacts, tuple[str, ...]]:
    """The facts with what is inside the guest, unless guest inspection is off, and what
    of the guest went unread (a disk vmguard cannot open, a guest it could not inspect):
    those make the run incomplete, while the VM's host-side checks still count.
    libvirt's test:// driver simulates VMs whose disks have no content: nothing to
    inspect there. scan_files: the policy's spec.software.file_scan (the permission
    scan of every file).
    """
    if ctx.guest is GuestMode.OFF or conn.uri.startswith("test:"):
        return facts, ()
    missed = guest.uninspectable(facts)
    try:
        found = guest.inspect(
            facts,
            online=ctx.guest is GuestMode.ONLINE,
            libvirt_uri=conn.uri or "qemu:///system",
            scan_files=scan_files,
        )
    except GuestError as err:
        return facts, (*missed, f"guest not inspected: {err}")
    return replace(facts, guest=found), tuple(missed)


def _audit_vm(ctx: Context, driver: Driver, conn: Connection, entry: VmEntry, name: str) -> VmReport:
    kind = conn.driver.value
    try:
        facts = facts_of(driver, name, conn.host_only)
    except DriverError as err:
        return VmReport(name, conn.name, entry.policy.name, error=str(err), hypervisor=kind)
    host_facts = facts
    facts, missed = with_guest(ctx, conn, facts, scan_files=entry.policy.software.file_scan)
    found = run_checks(ctx, entry, facts)
    fixable = any(fixed_by_apply(o.rule) and not o.waived for o in found)  # else no plan needed
    return VmReport(
        name,
        conn.name,
        entry.policy.name,
        found,
        incomplete=missed,
        hypervisor=kind,
        checked=checked_rules(ctx, facts),
        apply_areas=apply_areas(entry, host_facts, driver) if fixable else (),
    )


def _audit_connection(ctx: Context, inventory: Inventory, conn: Connection, driver: Driver) -> list[VmReport]:
    names = driver.list_vms()
    by_subject = inventory_findings(ctx, inventory, Listing(connection=conn, names=tuple(names)))
    reports = []
    for name in names:
        entry = inventory.entry_on(conn.name, name)
        if entry is None:
            found = outcomes(ctx, by_subject.get(name, []))
            kind, checked = conn.driver.value, tuple(ctx.inventory_rules)
            reports.append(VmReport(name, conn.name, outcomes=found, hypervisor=kind, checked=checked))
        else:
            reports.append(_audit_vm(ctx, driver, conn, entry, name))
    return reports + [_missing(ctx, e, names, by_subject) for e in inventory.absent(conn.name, names)]


def _missing(
    ctx: Context, entry: VmEntry, names: list[str], by_subject: dict[str, list[Finding]]
) -> VmReport:
    """An entry whose VM its connection lacks: a finding, and the run is incomplete."""
    found = outcomes(ctx, by_subject.get(entry.pattern, []), entry.policy.waivers)
    why = not_found(entry, names)
    checked = tuple(ctx.inventory_rules)
    return VmReport(entry.pattern, entry.connection, entry.policy.name, found, error=why, checked=checked)


def _unreached(inventory: Inventory, conn: Connection, why: str) -> list[VmReport]:
    """The connection's exactly named VMs, each marked as not audited."""
    return [
        VmReport(e.pattern, conn.name, e.policy.name, error=why, hypervisor=conn.driver.value)
        for e in inventory.vms
        if e.connection == conn.name and not e.is_glob
    ]


def _connection(
    ctx: Context, inventory: Inventory, conn: Connection, opener: Opener
) -> tuple[list[VmReport], str]:
    """One connection's VM reports, and why it could not be audited ("" when it was)."""
    try:
        driver = opener(conn)
    except DriverError as err:
        return _unreached(inventory, conn, f"unreachable: {err}"), f"connection {conn.name}: {err}"
    try:
        return _audit_connection(ctx, inventory, conn, driver), ""
    except DriverError as err:
        return _unreached(inventory, conn, f"cannot list VMs: {err}"), f"connection {conn.name}: {err}"
    finally:
        driver.close()


def audit(
    inventory: Inventory,
    run: str = "",
    opener: Opener = open_driver,
    today: dt.date | None = None,
    guest: GuestMode = GuestMode.OFF,
) -> AuditResult:
    """Audit every connection and the host; never raises for an unreachable hypervisor."""
    started = dt.datetime.now(dt.UTC)
    ctx = make_context(today or started.date(), guest)
    vms: list[VmReport] = []
    errors: dict[str, str] = {}
    for conn in inventory.connections:
        reports, error = _connection(ctx, inventory, conn, opener)
        vms += reports
        errors |= {conn.name: error} if error else {}
    host = audit_host(inventory, lambda findings: outcomes(ctx, findings))
    return AuditResult(
        run, started, inventory.source, tuple(vms), host, tuple(errors.values()), tuple(errors)
    )
