"""One VM's elements added, replaced or removed without reloading the others (nftables)."""

from __future__ import annotations

import json
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


def _table_handle(fw: Firewall) -> int:
    """Changes when the table is replaced, i.e. when a full apply ran."""
    out = json.loads(fw.ns.run("nft", "-j", "list", "tables").stdout)["nftables"]
    return next(o["table"]["handle"] for o in out if o.get("table", {}).get("name") == "vmguard")


def _without_vm2(fw: Firewall) -> Path:
    path = fw.inventory.with_name("without-vm2.yaml")
    path.write_text(
        "".join(
            line
            for line in fw.inventory.read_text().splitlines(keepends=True)
            if not line.startswith("  - {name: vm2,")
        )
    )
    return path


def test_replace_one_vm_leaves_the_table_in_place(nft: Firewall, topo: Topology) -> None:
    nft("apply")
    handle = _table_handle(nft)
    write_policy(
        nft.inventory.parent,
        "vm2",
        "      - {name: calib-db, to: 10.80.0.10/32, ports: [3306], protocol: tcp}",
    )
    try:
        assert "update-vm: vm2" in nft("apply", "--vm", "vm2").stdout
        assert _table_handle(nft) == handle, "an incremental update, not a reload"
        assert topo.reach(topo.vms["vm2"], "10.80.0.20:2401", "10.80.0.10:3306") == {
            "10.80.0.20:2401": False,
            "10.80.0.10:3306": True,
        }
        assert nft("audit").returncode == 0, "incremental result equals a full compile"
    finally:
        write_policy(nft.inventory.parent, "vm2", POLICIES["vm2"])


def test_remove_and_add_back_one_vm(nft: Firewall, topo: Topology) -> None:
    nft("apply")
    handle = _table_handle(nft)
    without = _without_vm2(nft)
    assert "remove-vm: vm2" in nft("apply", "--vm", "vm2", inventory=without).stdout
    shown = nft("show").stdout
    assert "52:54:00:70:00:12" not in shown and '"vm2' not in shown
    assert nft("audit", inventory=without).returncode == 0
    assert topo.reach(topo.vms["vm2"], "10.80.0.20:2401") == {"10.80.0.20:2401": False}
    assert topo.reach(topo.vms["vm1"], "10.80.0.10:3306") == {"10.80.0.10:3306": True}
    assert "update-vm: vm2" in nft("apply", "--vm", "vm2").stdout
    assert _table_handle(nft) == handle
    assert nft("audit").returncode == 0
    assert topo.reach(topo.vms["vm2"], "10.80.0.20:2401") == {"10.80.0.20:2401": True}


def test_stale_record_falls_back_to_a_full_apply(nft: Firewall, topo: Topology) -> None:
    nft("apply")
    nft.ns.run(
        "nft", "delete", "element", "inet", "vmguard", "ids4", "{ 10.70.0.12 . 52:54:00:70:00:12 }"
    )  # the kernel now disagrees with the record
    assert "remove-vm: vm2" in nft("apply", "--vm", "vm2", inventory=_without_vm2(nft)).stdout
    assert nft("audit", inventory=_without_vm2(nft)).returncode == 0
    for record in (nft.inventory.parent / "state").glob("*.json"):
        record.unlink()
    assert "update-vm: vm2" in nft("apply", "--vm", "vm2").stdout
    assert nft("audit").returncode == 0


def test_incremental_update_needs_a_loaded_table(nft: Firewall) -> None:
    proc = nft("apply", "--vm", "vm2", check=False)
    assert proc.returncode == 3 and "run a full apply first" in proc.stderr


def test_a_misspelt_vm_is_bad_input_not_a_quiet_removal(nft: Firewall) -> None:
    nft("apply")
    before = nft("show").stdout
    proc = nft("apply", "--vm", "vm22", check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no VM 'vm22'" in proc.stderr and "did you mean 'vm2'" in proc.stderr
    assert nft("show").stdout == before, "nothing was changed"
