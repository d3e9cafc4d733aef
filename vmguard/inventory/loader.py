"""Load an inventory file: which VMs exist, how to reach them, which policy each follows.

Same error quality as policies: every problem at once, located. Problems inside a policy
file the inventory names are reported with the policy file's own positions.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmguard.core.errors import InventoryError, Problem, Severity
from vmguard.core.modes import NetworkMode, SharePurpose
from vmguard.core.schema import dotted, schema_problems
from vmguard.core.yamlsource import Document, Path_, SourceError, load
from vmguard.facts.vm import HostOnly, HostOnlyKind
from vmguard.inventory.model import (
    HOST_ONLY_KINDS,
    Connection,
    DriverKind,
    FirewallBackend,
    FirewallSettings,
    GateSettings,
    Inventory,
    OnError,
    Unmanaged,
    VmEntry,
    outside,
)
from vmguard.policy.build import parse_duration
from vmguard.policy.loader import check_policy
from vmguard.policy.model import Policy

SCHEMA = "inventory.schema.json"
_NEEDS = {DriverKind.LIBVIRT: "uri", DriverKind.VBOX_FILE: "path"}


@dataclass(frozen=True)
class CheckedInventory:
    inventory: Inventory | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


class _Loader:
    def __init__(self, doc: Document, base: Path, known_rules: Collection[str] | None = None) -> None:
        self.doc, self.base, self.known_rules = doc, base, known_rules
        self.problems: list[Problem] = []
        self.policies: dict[str, Policy | None] = {}
        self.fw = self.firewall()

    def problem(self, path: Path_, message: str) -> None:
        pos = self.doc.pos(path)
        self.problems.append(Problem(pos.file, pos.line, pos.col, dotted(path), message))

    def connections(self) -> tuple[Connection, ...]:
        out = []
        for i, c in enumerate(self.doc.data["connections"]):
            kind = DriverKind(c["driver"])
            if kind in _NEEDS and _NEEDS[kind] not in c:
                self.problem(("connections", i), f"driver {kind.value} needs '{_NEEDS[kind]}'")
            if any(o.name == c["name"] for o in out):
                self.problem(("connections", i, "name"), f"duplicate connection '{c['name']}'")
            path = str(self.base / c["path"]) if "path" in c else ""
            out.append(Connection(c["name"], kind, c.get("uri", ""), path, self.host_only(c, i, kind)))
        return tuple(out)

    def host_only(self, c: dict[str, Any], i: int, kind: DriverKind) -> HostOnly | None:
        """The connection's host-only network; a kind its driver cannot attach to is a
        located problem (the schema already allows exactly one key)."""
        ((key, name),) = c["host_only"].items() if "host_only" in c else ((None, ""),)
        if key is None:
            return None
        host_only = HostOnly(HostOnlyKind(key), name)
        if host_only.kind not in HOST_ONLY_KINDS[kind]:
            allowed = " or ".join(k.value for k in HOST_ONLY_KINDS[kind])
            self.problem(("connections", i, "host_only", key), f"driver {kind.value} needs {allowed}")
        return host_only

    def unnamed_host_only(
        self, connections: tuple[Connection, ...], entries: list[tuple[int, VmEntry]]
    ) -> None:  # noqa: E501
        """A connection with VMs under a host-only policy and no `host_only:`: apply cannot
        move their NICs (plan lists them as manual), so say it where it can be fixed."""
        for i, conn in enumerate(connections):
            users = [
                e.pattern
                for _, e in entries
                if e.connection == conn.name and e.policy.network.mode is NetworkMode.HOST_ONLY
            ]
            if users and conn.host_only is None:
                pos = self.doc.pos(("connections", i))
                self.problems.append(
                    Problem(
                        pos.file,
                        pos.line,
                        pos.col,
                        f"connections[{i}]",
                        f"connection {conn.name} names no host_only network, but {users[0]!r} follows a "
                        f"host-only policy: apply will not move its NICs (add host_only: "
                        f"{{{HOST_ONLY_KINDS[conn.driver][0].value}: NAME}})",
                        Severity.WARNING,
                    )
                )

    def policy(self, name: str, path: Path_) -> Policy | None:
        file = os.path.normpath(self.base / name)
        if file not in self.policies:
            if not Path(file).is_file():
                self.problem(path, f"policy file '{file}' does not exist")
                self.policies[file] = None
            else:
                checked = check_policy(file, self.known_rules)
                self.problems.extend(checked.errors)
                self.policies[file] = checked.policy
        return self.policies[file]

    def addresses(self, vm: dict[str, Any], i: int) -> tuple[Any, ...]:
        paths: list[Path_] = [("vms", i, "addresses", j) for j in range(len(vm.get("addresses", [])))]
        paths += [("vms", i, "address")] if "address" in vm else []
        texts = vm.get("addresses", []) + ([vm["address"]] if "address" in vm else [])
        out = []
        for path, text in zip(paths, texts, strict=True):
            try:
                out.append(ipaddress.ip_address(text))
            except ValueError:
                self.problem(("vms", i), f"'{text}' is not an IP address")
                continue
            self.within_networks(path, out[-1])
        return tuple(out)

    def within_networks(self, path: Path_, address: Any) -> None:
        declared = self.fw.vm_networks
        if declared and outside((address,), declared):
            nets = ", ".join(str(n) for n in declared)
            self.problem(path, f"{address} is outside the VM networks (firewall.vm_networks: {nets})")

    def vm(self, vm: dict[str, Any], i: int, names: set[str]) -> VmEntry | None:
        if vm["connection"] not in names:
            self.problem(
                ("vms", i, "connection"),
                f"unknown connection '{vm['connection']}' (known: {', '.join(sorted(names))})",
            )
        policy = self.policy(vm["policy"], ("vms", i, "policy"))
        addresses = self.addresses(vm, i)
        if policy is None:
            return None
        pos = self.doc.pos(("vms", i))
        return VmEntry(
            vm["name"],
            vm["connection"],
            policy,
            addresses,
            vm.get("mac", "").lower(),
            vm.get("interface", ""),
            vm.get("quarantine") or _default_quarantine(policy),
            f"{pos.file}:{pos.line}:{pos.col}",
        )

    def firewall(self) -> FirewallSettings:
        fw = self.doc.data.get("firewall", {})
        networks = []
        for j, text in enumerate(fw.get("vm_networks", ())):
            try:
                networks.append(ipaddress.ip_network(text))
            except ValueError:
                self.problem(
                    ("firewall", "vm_networks", j),
                    f"'{text}' is not a network "
                    "(an address with host bits set? give the network, e.g. 10.70.0.0/24)",
                )
        return FirewallSettings(
            FirewallBackend(fw.get("backend", "nftables")),
            tuple(fw.get("vm_interfaces", ())),
            tuple(networks),
            fw.get("log_group"),
        )

    def gate(self) -> GateSettings:
        gate = self.doc.data.get("gate", {})
        timeout = parse_duration(gate.get("timeout", GateSettings.timeout))
        if timeout > 60:
            self.problem(
                ("gate", "timeout"), f"{timeout:g}s is too long: libvirtd waits for the hook (at most 60s)"
            )
        return GateSettings(
            Unmanaged(gate.get("unmanaged", Unmanaged.REFUSE)),
            OnError(gate.get("on_error", OnError.FAIL_CLOSED)),
            timeout,
        )


def _default_quarantine(policy: Policy) -> str:
    """The host path of the policy's output share, the natural place for job output."""
    outputs = [s for s in policy.shared_folders.allow if s.purpose is SharePurpose.OUTPUT]
    return outputs[0].host_path if outputs else ""


def _entry_problems(entries: list[tuple[int, VmEntry]]) -> Iterator[tuple[Path_, str]]:
    seen_names: dict[str, int] = {}
    seen_addr: dict[Any, str] = {}
    for i, entry in entries:
        if entry.pattern in seen_names:
            yield ("vms", i, "name"), f"'{entry.pattern}' is listed twice"
        seen_names[entry.pattern] = i
        if entry.is_glob and (entry.addresses or entry.mac):
            yield ("vms", i, "name"), "a glob entry cannot have an address or MAC (one VM each)"
        for addr in (*entry.addresses, entry.mac):
            if addr and addr in seen_addr:
                yield ("vms", i), f"{addr} is already used by '{seen_addr[addr]}'"
            seen_addr[addr] = entry.pattern


def _waiver_problems(entries: list[tuple[int, VmEntry]]) -> Iterator[Problem]:
    """A waiver must name a VM (or glob) that this inventory gives its policy."""
    for _, entry in entries:
        for i, waiver in enumerate(entry.policy.waivers):
            covered = any(
                other.policy.source == entry.policy.source
                and (
                    fnmatch.fnmatchcase(other.pattern, waiver.vm)
                    or fnmatch.fnmatchcase(waiver.vm, other.pattern)
                )
                for _, other in entries
            )
            if not covered:
                file, line, col = entry.policy.origin(f"spec.waivers[{i}].vm").rsplit(":", 2)
                yield Problem(
                    file,
                    int(line),
                    int(col),
                    f"spec.waivers[{i}].vm",
                    f"waiver names VM '{waiver.vm}', which no inventory entry using this policy matches",
                )


def check_inventory(path: str | Path, known_rules: Collection[str] | None = None) -> CheckedInventory:
    path = Path(path)
    try:
        doc = load(path, os.path.normpath(path))
    except SourceError as err:
        return CheckedInventory(None, tuple(err.problems))
    problems = schema_problems(doc, SCHEMA)
    if doc.data is None or "connections" not in doc.data or "vms" not in doc.data:
        return CheckedInventory(None, tuple(problems))
    loader = _Loader(doc, path.parent, known_rules)
    connections = loader.connections()
    names = {c.name for c in connections}
    built = [(i, loader.vm(vm, i, names)) for i, vm in enumerate(doc.data["vms"])]
    entries = [(i, e) for i, e in built if e is not None]
    for where, message in _entry_problems(entries):
        loader.problem(where, message)
    loader.unnamed_host_only(connections, entries)
    gate = loader.gate()
    problems += loader.problems + list(dict.fromkeys(_waiver_problems(entries)))
    if any(p.severity is Severity.ERROR for p in problems):
        return CheckedInventory(None, tuple(problems))
    inventory = Inventory(str(path), connections, tuple(e for _, e in entries), loader.fw, gate)
    return CheckedInventory(inventory, tuple(problems))


def load_inventory(path: str | Path, known_rules: Collection[str] | None = None) -> Inventory:
    """The inventory with its policies loaded, or InventoryError listing every problem."""
    checked = check_inventory(path, known_rules)
    if checked.inventory is None:
        raise InventoryError(list(checked.errors))
    return checked.inventory
