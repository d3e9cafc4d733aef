"""A VM address outside the VM interfaces' networks is bad input (exit 2), located:
networks declared in the inventory (firewall.vm_networks) are checked where it is
loaded, at the address itself; otherwise they are read from the interfaces live."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.firewall.conftest import make_firewall
from tests.firewall.topology import Topology
from vmguard.inventory.loader import check_inventory

INVENTORY = """\
apiVersion: vmguard/v1
kind: Inventory
connections: [{{name: kvm, driver: libvirt, uri: "test:///default"}}]
firewall:
  vm_interfaces: [br0]
  vm_networks: [{networks}]
vms:
  - name: inside
    connection: kvm
    policy: p.yaml
    addresses: [10.70.0.11, "fd70::11"]
    mac: "52:54:00:70:00:11"
  - name: astray
    connection: kvm
    policy: p.yaml
    address: {astray}
    mac: "52:54:00:70:00:12"
"""
POLICY = "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  network: {mode: host-only}\n"


def _check(tmp_path: Path, networks: str, astray: str) -> list[str]:
    (tmp_path / "p.yaml").write_text(POLICY)
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY.format(networks=networks, astray=astray))
    return [f"{p.line}:{p.col} {p.message}" for p in check_inventory(path).errors]


def test_declared_networks_locate_the_address_outside(tmp_path: Path) -> None:
    assert _check(tmp_path, '10.70.0.0/24, "fd70::/64"', "10.70.0.12") == [], "control"
    assert _check(tmp_path, '10.70.0.0/24, "fd70::/64"', "10.71.0.12") == [
        "16:14 10.71.0.12 is outside the VM networks (firewall.vm_networks: 10.70.0.0/24, fd70::/64)"
    ]
    assert _check(tmp_path, "10.70.0.0/24", "10.70.0.12") == [
        "11:29 fd70::11 is outside the VM networks (firewall.vm_networks: 10.70.0.0/24)"
    ]


def test_a_declared_network_must_be_a_network(tmp_path: Path) -> None:
    problems = _check(tmp_path, "10.70.0.1/24", "10.70.0.12")
    assert len(problems) == 1 and problems[0].startswith("6:17 '10.70.0.1/24' is not a network")


@pytest.mark.root
def test_networks_read_from_the_interfaces(topo: Topology, tmp_path: Path) -> None:
    fw = make_firewall(topo, tmp_path, "nftables")
    control = fw("plan", check=False)  # exit 1: changes pending (nothing applied yet)
    assert control.returncode == 1, f"control: 10.70.0.0/24 is br0's network\n{control.stderr}"
    astray = fw.inventory.with_name("astray.yaml")
    astray.write_text(fw.inventory.read_text().replace("address: 10.70.0.12", "address: 10.71.0.12"))
    plan = fw("plan", inventory=astray, check=False)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert f"{astray}:7:5" in plan.stderr, plan.stderr
    assert "10.71.0.12 is outside the networks of the VM interfaces (br0: 10.70.0.0/24)" in plan.stderr
    assert "Traceback" not in plan.stderr
