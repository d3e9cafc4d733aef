"""One VM's rules added, replaced or removed without reloading the others (nftables),
and the IPv6 rules: neighbour discovery and endpoints only for VMs whose policy has IPv6."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firewall.conftest import POLICIES, Firewall, make_firewall, write_policy
from tests.firewall.topology import Topology

pytestmark = pytest.mark.root


@pytest.fixture
def nft(topo: Topology, tmp_path: Path) -> Iterator[Firewall]:
    firewall = make_firewall(topo, tmp_path, "nftables")
    yield firewall
    firewall("remove")


def _handles(fw: Firewall, chain: str) -> str:
    return fw.ns.run("nft", "-a", "list", "chain", "inet", "vmguard", chain).stdout


def test_replace_one_vm_leaves_the_others_alone(nft: Firewall, topo: Topology) -> None:
    nft("apply")
    vm1_chain = next(line.split()[1] for line in nft("show").stdout.splitlines()
                     if line.strip().startswith("chain out_vm1_"))
    vm1_before = _handles(nft, vm1_chain)
    write_policy(nft.inventory.parent, "vm2", "      - {name: calib-db, to: 10.80.0.10/32, "
                                              "ports: [3306], protocol: tcp}")
    assert "update-vm: vm2" in nft("apply", "--vm", "vm2").stdout
    assert _handles(nft, vm1_chain) == vm1_before, "vm1's rules were not reloaded"
    assert topo.reach(topo.vms["vm2"], "10.80.0.20:2401", "10.80.0.10:3306") == {
        "10.80.0.20:2401": False, "10.80.0.10:3306": True}
    assert nft("audit").returncode == 0, "incremental result equals a full compile"
    write_policy(nft.inventory.parent, "vm2", POLICIES["vm2"])


def test_remove_and_add_back_one_vm(nft: Firewall, topo: Topology) -> None:
    nft("apply")
    full = nft.inventory.read_text()
    without = nft.inventory.with_name("without-vm2.yaml")
    without.write_text("".join(line for line in full.splitlines(keepends=True)
                               if not line.startswith("  - {name: vm2,")))
    assert "remove-vm: vm2" in nft("apply", "--vm", "vm2", inventory=without).stdout
    shown = nft("show").stdout
    assert "10.70.0.12 : jump" not in shown and "52:54:00:70:00:12" not in shown
    assert "chain out_vm2" not in shown and "chain in_vm2" not in shown
    assert nft("audit", inventory=without).returncode == 0
    assert topo.reach(topo.vms["vm2"], "10.80.0.20:2401") == {"10.80.0.20:2401": False}
    assert topo.reach(topo.vms["vm1"], "10.80.0.10:3306") == {"10.80.0.10:3306": True}
    assert "update-vm: vm2" in nft("apply", "--vm", "vm2").stdout
    assert nft("audit").returncode == 0
    assert topo.reach(topo.vms["vm2"], "10.80.0.20:2401") == {"10.80.0.20:2401": True}


def test_incremental_update_needs_a_loaded_table(nft: Firewall) -> None:
    proc = nft("apply", "--vm", "vm2", check=False)
    assert proc.returncode == 3 and "run a full apply first" in proc.stderr
