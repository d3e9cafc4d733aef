"""Each VM's bridge port: the inventory's `interface`, else learned from libvirt
(<target dev=...> of the NIC with the VM's MAC); unknown stays unknown (the strict
default), and the one-VM update picks up a port that became known."""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path

import pytest

from tests.firewall.conftest import make_firewall
from tests.firewall.topology import Topology
from vmguard.firewall.compile import compile_ruleset
from vmguard.firewall.hostfacts import read_facts
from vmguard.inventory.model import Connection, DriverKind, FirewallSettings, Inventory, VmEntry
from vmguard.policy.model import Metadata, Policy

POLICY = Policy(Metadata("p"), "p.yaml")


def _inventory(mac: str, interface: str = "", uri: str = "test:///default") -> Inventory:
    entry = VmEntry("test", "lab", POLICY, (ipaddress.ip_address("10.7.0.11"),), mac, interface)
    return Inventory(
        "inv.yaml",
        (Connection("lab", DriverKind.LIBVIRT, uri),),
        (entry,),
        FirewallSettings(vm_interfaces=("vmg-none0",)),
    )


@pytest.mark.parametrize(
    ("mac", "interface", "uri", "port"),
    [
        ("aa:bb:cc:dd:ee:ff", "", "test:///default", "testnet0"),  # learned from libvirt
        ("aa:bb:cc:dd:ee:ff", "vnet9", "test:///default", "vnet9"),  # the inventory's wins
        ("52:54:00:00:00:01", "", "test:///default", ""),  # no NIC with that MAC
        ("aa:bb:cc:dd:ee:ff", "", "test:///nonexistent/file.xml", ""),  # libvirt unreachable
    ],
)
def test_a_vms_port(mac: str, interface: str, uri: str, port: str) -> None:
    inventory = _inventory(mac, interface, uri)
    assert compile_ruleset(inventory, read_facts(inventory)).vms[0].port == port


@pytest.mark.root
def test_the_one_vm_update_binds_a_port_that_became_known(topo: Topology, tmp_path: Path) -> None:
    fw = make_firewall(topo, tmp_path, "nftables")
    known = fw.inventory.read_text()
    fw.inventory.write_text(known.replace(", interface: p-vm2", ""))
    tag = secrets.token_hex(4)
    try:
        assert fw("apply", check=False).returncode == 3, "its unknown port is reported"
        topo.send_udp(topo.vms["vm2"], f"unknown-{tag}")
        assert not topo.udp_seen(f"unknown-{tag}", wait=0.3), "control: strict while its port is unknown"
        fw.inventory.write_text(known)
        assert "update-vm: vm2" in fw("apply", "--vm", "vm2").stdout
        topo.send_udp(topo.vms["vm2"], f"known-{tag}")
        assert topo.udp_seen(f"known-{tag}")
        assert fw("audit").returncode == 0
    finally:
        fw("remove")
