"""`vmguard watch`: re-audit a VM as soon as its configuration changes, and the host
firewall periodically; print and log each finding that was not there before.

Each thing watch has to say is one event: a line of text, or with --format json one
JSON object per line (JSON Lines, vmguard/cli/schema/watch-event-v1.json) carrying the
same text as `message` and the event's fields.

libvirt connections deliver domain events (lifecycle: defined, undefined, started...;
device added/removed) through libvirt's default event loop, run in a thread. Drivers
without events (VirtualBox files, VirtualBox without an event source here) are polled
at the firewall interval. Reading facts stays read-only, as in `vmguard audit`.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from vmguard.audit.engine import make_context, outcomes, run_checks, unmanaged_outcomes
from vmguard.audit.host import audit_host
from vmguard.audit.result import Outcome
from vmguard.core import eventlog as log
from vmguard.core.display import shown
from vmguard.core.errors import DriverError, ExitCode
from vmguard.drivers import Driver, facts_of, open_driver
from vmguard.facts.vm import VmFacts
from vmguard.inventory.model import Connection, DriverKind, Inventory, VmEntry, not_found

try:
    import libvirt
except ImportError:  # pragma: no cover - hosts without libvirt-python poll instead
    libvirt = None

Key = tuple[str, str, str]
Act = Callable[[Driver, Connection, VmEntry, VmFacts, tuple[Outcome, ...]], None]
HOST = ("", "host")
WATCH_SCHEMA = "vmguard/watch-event/v1"
UNDEFINED = object()  # queued instead of a VM name when a domain was undefined


class _LibvirtEvents:
    """One event-capable libvirt connection; changed VM names land in `changes`."""

    def __init__(self, conn: Connection, changes: queue.Queue) -> None:
        self.name = conn.name
        self.changes = changes
        self.conn = libvirt.openReadOnly(conn.uri or "qemu:///system")
        ids = (
            libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
            libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
            libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
        )
        self.callbacks = [self.conn.domainEventRegisterAny(None, i, self._event, None) for i in ids]

    def _event(self, _conn, dom, *args) -> None:  # libvirt's callback: (conn, dom, *event, opaque)
        undefined = args and args[0] == libvirt.VIR_DOMAIN_EVENT_UNDEFINED
        self.changes.put((self.name, dom.name(), UNDEFINED if undefined else None))

    def close(self) -> None:
        for callback in self.callbacks:
            self.conn.domainEventDeregisterAny(callback)
        self.conn.close()


def _start_event_loop() -> None:
    """libvirt's default event loop, once per process, in a daemon thread."""
    libvirt.virEventRegisterDefaultImpl()

    def loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, name="libvirt-events", daemon=True).start()


class Watcher:
    def __init__(
        self,
        inventory: Inventory,
        out: TextIO,
        events: log.EventLog,
        act: Act | None = None,
        jsonl: bool = False,
    ) -> None:
        self.inventory = inventory
        self.out = out
        self.events = events  # what is new is logged here first
        self.jsonl = jsonl  # --format json: one JSON object per event
        self.ctx = make_context(dt.date.today())
        self.act = act  # watch --enforce: what to do with each VM's outcomes (gate.enforce)
        self.drivers: dict[str, Driver] = {}
        self.known: dict[tuple[str, str], set[Key]] = {}
        self.baseline_done = False  # after the first sweep, a VM never seen is all news
        self.missed: set[str] = set()  # what could not be watched this run: exit 3 at the end

    def not_covered(self, why: str) -> None:
        """Said once per reason; the run then ends incomplete (exit 3)."""
        if why not in self.missed:
            self.missed.add(why)
            self.say(f"not covered: {why}", "not-covered", reason=why)

    def say(self, text: str, event: str = "enforce", **fields: object) -> None:
        """One event, as a line for people or a JSON object (the default kind is what the
        enforcer reports through this, the one caller that passes only text)."""
        now = dt.datetime.now().astimezone()
        if self.jsonl:
            doc = {"schema": WATCH_SCHEMA, "time": now.isoformat(timespec="milliseconds"), "event": event}
            print(json.dumps({**doc, **fields, "message": text}), file=self.out, flush=True)
        else:
            print(f"{now.strftime('%H:%M:%S.%f')[:-3]} {shown(text)}", file=self.out, flush=True)

    def _report(self, subject: tuple[str, str], found: Iterable[Outcome]) -> None:
        """Print and log what is new for this VM (or the host) since the last look."""
        failing = [o for o in found if not o.waived]
        keys = {o.finding.key for o in failing}
        before = self.known.get(subject, set() if self.baseline_done else None)
        self.known[subject] = keys
        if before is None:
            return  # the baseline: counted once in the start-up line, not one line each
        for outcome in (o for o in failing if o.finding.key not in before):
            f = outcome.finding
            self.events.append(
                "watch",
                rule=f.rule,
                subject=f.subject,
                message=f.message,
                evidence=f.evidence,
                severity=outcome.severity.value,
            )  # logged first: the log is the record, the line is for whoever watches
            fields = {"severity": outcome.severity.value, "rule": f.rule, "subject": f.subject}
            text = f"NEW {outcome.severity.value} {f.rule} {f.subject}: {f.message}"
            self.say(text, "finding", **fields, evidence=f.evidence)
        for rule, vm, _ in sorted(before - keys):
            self.say(f"resolved {rule} {vm}", "resolved", rule=rule, subject=vm)

    def audit_vm(self, conn_name: str, name: str) -> None:
        entry = self.inventory.entry_on(conn_name, name)
        conn = self.inventory.connection(conn_name)
        if entry is None:
            self._report((conn_name, name), unmanaged_outcomes(self.ctx, self.inventory, conn, name))
            return
        try:
            facts = facts_of(self.drivers[conn_name], name, conn.host_only)
        except DriverError as err:
            self.not_covered(f"cannot read {name}: {err}")
            return
        found = run_checks(self.ctx, entry, facts)
        self._report((conn_name, name), found)
        if self.act is not None:
            self.act(self.drivers[conn_name], conn, entry, facts, found)

    def forget(self, conn_name: str, name: str) -> None:
        self.known.pop((conn_name, name), None)
        self.say(f"{name} was undefined on {conn_name}", "undefined", vm=name, connection=conn_name)

    def audit_connection(self, conn: Connection) -> None:
        if conn.name not in self.drivers:
            return  # could not be opened: said once at the start
        try:
            names = self.drivers[conn.name].list_vms()
        except DriverError as err:  # keep watching the others; the next sweep retries
            self.not_covered(f"cannot list VMs of {conn.name}: {err}")
            return
        for name in names:
            self.audit_vm(conn.name, name)
        for entry in self.inventory.absent(conn.name, names):
            self.not_covered(not_found(entry, names))

    def audit_host(self) -> None:
        host = audit_host(self.inventory, lambda found: outcomes(self.ctx, found))
        if host.error:
            self.not_covered(host.error)
        self._report(HOST, host.outcomes)


def _enforcer(watcher: Watcher) -> Act:
    from vmguard.gate.enforce import Enforcer

    return Enforcer(watcher.ctx, watcher.say, watcher.events)


def _listener(conn: Connection, driver: Driver, changes: queue.Queue) -> object | None:
    """The event source of a connection that has one (libvirt, VirtualBox live)."""
    if conn.driver is DriverKind.LIBVIRT and libvirt is not None:
        return _LibvirtEvents(conn, changes)
    if conn.driver is DriverKind.VIRTUALBOX:
        from vmguard.drivers.vbox.events import VboxEvents

        return VboxEvents(driver, conn.name, changes)
    return None


def watch(
    inventory: Inventory,
    *,
    firewall_every: float = 300.0,
    duration: float | None = None,
    out: TextIO,
    events: log.EventLog,
    enforce: bool = False,
    jsonl: bool = False,
) -> int:
    """Run until interrupted (or for `duration` seconds); 3 if a connection was unreachable
    or anything the inventory names could not be watched during the run.
    enforce: a VM that drifts out of policy is dealt with per its on_drift (gate.enforce);
    jsonl: each event as one JSON object per line."""
    watcher = Watcher(inventory, out, events, jsonl=jsonl)
    if enforce:
        watcher.act = _enforcer(watcher)
    changes: queue.Queue = queue.Queue()
    evented = [c for c in inventory.connections if c.driver is DriverKind.LIBVIRT]
    if evented and libvirt is not None:
        _start_event_loop()
    listeners = []
    try:
        for conn in inventory.connections:
            try:
                watcher.drivers[conn.name] = open_driver(conn)
            except DriverError as err:  # the others are still watched
                watcher.not_covered(f"connection {conn.name}: {err}")
                continue
            listener = _listener(conn, watcher.drivers[conn.name], changes)
            if listener is not None:
                listeners.append(listener)
        return _loop(watcher, inventory, changes, firewall_every, duration, listeners)
    finally:
        for listener in listeners:
            listener.close()
        for driver in watcher.drivers.values():
            driver.close()


def _sweep(watcher: Watcher, connections: Iterable[Connection]) -> None:
    for conn in connections:
        watcher.audit_connection(conn)
    watcher.audit_host()


def _loop(
    watcher: Watcher,
    inventory: Inventory,
    changes: queue.Queue,
    firewall_every: float,
    duration: float | None,
    listeners: list,
) -> int:
    polled = [c for c in inventory.connections if c.name not in {x.name for x in listeners}]
    _sweep(watcher, inventory.connections)
    watcher.baseline_done = True
    counts = {
        "vms": len(watcher.known) - 1,
        "by_events": len(listeners),
        "polled": len(polled),
        "open_findings": sum(len(keys) for keys in watcher.known.values()),
        "firewall_every": firewall_every,
    }
    text = (
        f"watching {counts['vms']} VMs ({len(listeners)} connection(s) by events, {len(polled)} "
        f"polled); {counts['open_findings']} findings open; firewall every {firewall_every:g}s"
    )
    watcher.say(text, "started", **counts)
    deadline = None if duration is None else time.monotonic() + duration
    next_sweep = time.monotonic() + firewall_every
    while deadline is None or time.monotonic() < deadline:
        wait = next_sweep - time.monotonic()
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
        try:
            conn_name, name, marker = changes.get(timeout=max(wait, 0.01))
        except queue.Empty:
            if time.monotonic() >= next_sweep:
                _sweep(watcher, polled)
                next_sweep = time.monotonic() + firewall_every
            continue
        if marker is UNDEFINED:
            watcher.forget(conn_name, name)
        else:
            watcher.audit_vm(conn_name, name)
    code = ExitCode.CANNOT_RUN if watcher.missed else ExitCode.OK
    watcher.say(f"stopped after {duration:g}s (exit {int(code)})", "stopped", exit_code=int(code))
    return code
