"""Policy + inventory -> the abstract Ruleset (model.py). Pure: reads nothing live.

Which inventory entries become per-VM rules:
- An entry with addresses gets its own rules: anti-spoofing (each address bound to the
  entry's MAC), its policy's egress endpoints and ingress ports. It must have a MAC.
- An entry without addresses (typically a glob such as "gleam-batch-*") gets no per-VM
  rule: the firewall cannot tell its packets apart, so they meet the default deny of
  the host-only network (DHCP to the host excepted) like any unknown sender.
- A policy whose network mode is "none" allows nothing, whatever endpoints it lists.
"""

from __future__ import annotations

from collections.abc import Iterator

from vmguard.core.errors import InventoryError, Problem
from vmguard.core.modes import NetworkMode
from vmguard.firewall.hostfacts import HostFacts
from vmguard.firewall.model import Flow, Ruleset, VmRules, gc_paused
from vmguard.inventory.model import Inventory, VmEntry, outside
from vmguard.policy.model import NetworkPolicy

NO_FACTS = HostFacts()


def compile_ruleset(inventory: Inventory, facts: HostFacts = NO_FACTS) -> Ruleset:
    """The ruleset that enforces every addressed VM's network policy on this host;
    `facts` are what the host says live (hostfacts.py)."""
    with gc_paused():
        problems = list(_problems(inventory)) + list(_outside_problems(inventory, facts))
        if problems:
            raise InventoryError(problems)
        vms = tuple(_vm_rules(e, facts.port_of(e)) for e in inventory.vms if e.addresses)
    fw = inventory.firewall
    return Ruleset(fw.vm_interfaces, vms, facts.bridge_ports, fw.log_group)


def _vm_rules(entry: VmEntry, port: str) -> VmRules:
    net = entry.policy.network
    if net.mode is NetworkMode.NONE:
        net = NetworkPolicy(mode=NetworkMode.NONE, log_denied=net.log_denied)
    return VmRules(
        name=entry.pattern,
        addresses=entry.addresses,
        mac=entry.mac.lower(),
        egress=tuple([Flow(e.name, e.protocol, e.to, e.ports) for e in net.egress]),
        ingress=tuple([Flow(i.name, i.protocol, i.sources, i.ports) for i in net.ingress]),
        log_denied=net.log_denied,
        ipv6=net.wants_ipv6,
        port=port,
    )


def _problems(inventory: Inventory) -> list[Problem]:
    problems: list[Problem] = []
    addressed = [e for e in inventory.vms if e.addresses]
    if addressed and not inventory.firewall.vm_interfaces:
        problems.append(
            _problem(
                inventory.source,
                "firewall.vm_interfaces",
                "is empty: name the host side of the host-only network "
                "(e.g. virbr1 or vboxnet0) so its traffic can be filtered",
            )
        )
    owner: dict[object, str] = {}
    for entry in addressed:
        if not entry.mac:
            problems.append(
                _problem(
                    entry.origin,
                    entry.pattern,
                    "has addresses but no 'mac': anti-spoofing binds each address to the VM's MAC",
                )
            )
        for key in (*entry.addresses, entry.mac):
            if key and key in owner and owner[key] != entry.pattern:
                problems.append(
                    _problem(
                        entry.origin,
                        entry.pattern,
                        f"{key} is also claimed by {owner[key]}: each address and MAC belongs to one VM",
                    )
                )
            owner.setdefault(key, entry.pattern)
    return problems


def _outside_problems(inventory: Inventory, facts: HostFacts) -> Iterator[Problem]:
    """VM addresses outside the networks read from the VM interfaces (declared networks
    are checked where the inventory is loaded, at each address's own position). An
    interface without an address yet (a bridge not created) leaves nothing to check
    against: the README says to declare firewall.vm_networks then."""
    if not facts.networks or inventory.firewall.vm_networks:
        return
    ifaces = ", ".join(inventory.firewall.vm_interfaces)
    nets = ", ".join(str(n) for n in facts.networks)
    for entry in inventory.vms:
        for addr in outside(entry.addresses, facts.networks):
            yield _problem(
                entry.origin,
                entry.pattern,
                f"{addr} is outside the networks of the VM interfaces ({ifaces}: "
                f"{nets}); fix the address, or declare firewall.vm_networks",
            )


def _problem(origin: str, where: str, message: str) -> Problem:
    file, line, col = (origin.rsplit(":", 2) + ["0", "0"])[:3] if origin else ("<inventory>", 0, 0)
    try:
        return Problem(file, int(line), int(col), where, message)
    except ValueError:
        return Problem(origin, 0, 0, where, message)
