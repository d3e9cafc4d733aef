"""What vmguard does when libvirtd runs its qemu hook: `vmguard hook run VM OP SUBOP -`.

- prepare/begin: the gate. The domain (stdin) is checked against its policy; a blocking
  finding, or an unmanaged VM when the site refuses those, refuses the start.
- started/begin: the VM's firewall entries are added (its port is in the live XML).
- release/end: they are removed.
Every other operation does nothing. Nothing here calls libvirt (see domainxml.py).
The answer is an exit code: 0 go on, 1 refused (with REFUSED on the one stderr line);
anything else means vmguard broke, and the hook file applies fail-open/fail-closed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from vmguard.core import eventlog as log
from vmguard.core.errors import GateError
from vmguard.facts.vm import PowerState, VmFacts
from vmguard.firewall import service
from vmguard.firewall.interfaces import with_vm_interfaces
from vmguard.gate.decide import context, decide
from vmguard.gate.domainxml import bridge_from_disk, facts_from_stdin
from vmguard.inventory.model import DriverKind, Inventory

_FIREWALL = threading.Lock()
REFUSED = "vmguard gate: refused:"  # the hook file tells a refusal from a crash by it


@dataclass(frozen=True)
class HookCall:
    vm: str
    operation: str
    sub: str


@dataclass(frozen=True)
class HookAnswer:
    code: int  # 0 go on, 1 refused
    line: str = ""  # for libvirt's error message (virsh start prints it)


def _connection(inventory: Inventory, name: str) -> str:
    try:
        conn = inventory.connection(name)
    except StopIteration:
        raise GateError(f"{inventory.source} has no connection {name}") from None
    if conn.driver is not DriverKind.LIBVIRT:
        raise GateError(f"connection {name} is not a libvirt connection")
    return conn.name


def gate(inventory: Inventory, connection: str, facts: VmFacts, events: log.EventLog) -> HookAnswer:
    verdict = decide(context(), inventory, connection, facts)
    action = "allowed" if verdict.allowed else "refused"
    rules = [o.finding.rule for o in verdict.blocking]
    events.append(
        "gate", action=action, vm=facts.name, connection=connection, reason=verdict.reason, rules=rules
    )
    return HookAnswer(0) if verdict.allowed else HookAnswer(1, f"{REFUSED} {verdict.reason}")


def firewall(
    inventory: Inventory, connection: str, facts: VmFacts, running: bool, events: log.EventLog
) -> HookAnswer:
    entry = inventory.entry_on(connection, facts.name)
    if entry is None or not entry.addresses:
        return HookAnswer(0)  # no per-VM rules: its packets meet the default deny
    ports = tuple((facts.name, n.port) for n in facts.nics if n.port and n.mac.lower() == entry.mac)
    fw_inventory = with_vm_interfaces(inventory, bridge_from_disk)
    with _FIREWALL:  # `hook serve` answers VMs starting together: one update at a time
        service.apply_vm(fw_inventory, facts.name, vm_ports=ports, running=running, events=events)
    return HookAnswer(0)


def run(
    inventory: Inventory, connection: str, call: HookCall, stdin: bytes, events: log.EventLog
) -> HookAnswer:
    """Errors (GateError, any VmguardError) propagate: vmguard broke, not a refusal.
    Decisions and firewall changes are logged to `events`."""
    step = (call.operation, call.sub)
    if step not in (("prepare", "begin"), ("started", "begin"), ("release", "end")):
        return HookAnswer(0)
    conn = _connection(inventory, connection)
    power = PowerState.RUNNING if step[0] == "started" else PowerState.OFF
    facts = facts_from_stdin(stdin, inventory.connection(conn).host_only, power)
    if facts.name != call.vm:
        raise GateError(f"hook called for {call.vm!r} with the XML of {facts.name!r}")
    facts = replace(facts, name=call.vm)
    if step[0] == "prepare":
        return gate(inventory, conn, facts, events)
    return firewall(inventory, conn, facts, step[0] == "started", events)
