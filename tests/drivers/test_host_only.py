"""Host-only networking: the inventory names it, plan shows the move, apply makes it
(same MAC and model), the firewall's interfaces follow from it (test driver, no daemon)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lxml import etree

from vmguard.cli import main
from vmguard.core.errors import DriverError, InventoryError
from vmguard.drivers.libvirt.transform import moved_nic
from vmguard.facts.vm import HostOnly, HostOnlyKind
from vmguard.firewall.interfaces import derived_interfaces, libvirt_bridge, with_vm_interfaces
from vmguard.inventory.loader import check_inventory, load_inventory

POLICIES = Path(__file__).parents[2] / "policy"


def _inventory(tmp_path: Path, connection: str, firewall: str = "") -> Path:
    for policy in POLICIES.glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    path = tmp_path / "inv.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\n"
        f"connections:\n  - {connection}\n{firewall}"
        "vms:\n  - {name: exposed, connection: t, policy: batch.yaml}\n"
    )
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        (
            "{name: t, driver: libvirt, uri: 'test:///default', host_only: {hostonly_interface: vboxnet0}}",
            "4:88: connections[0].host_only.hostonly_interface: driver libvirt needs network or bridge",
        ),
        (
            "{name: t, driver: vbox-file, path: 'x/*.vbox', host_only: {network: lab}}",
            "driver vbox-file needs hostonly_interface or hostonly_network",
        ),
        (
            "{name: t, driver: libvirt, uri: 'test:///default', host_only: {network: a, bridge: b}}",
            "connections[0].host_only",
        ),
        (
            "{name: t, driver: libvirt, uri: 'test:///default', host_only: {network: 'a b'}}",
            "connections[0].host_only.network",
        ),
    ],
)
def test_a_wrong_host_only_is_a_located_error(env, connection, message) -> None:
    checked = check_inventory(_inventory(env, connection))
    assert checked.inventory is None
    assert any(message in str(p) for p in checked.errors), [str(p) for p in checked.errors]


def test_host_only_policy_without_host_only_is_a_located_warning(env) -> None:
    checked = check_inventory(_inventory(env, "{name: t, driver: libvirt, uri: 'test:///default'}"))
    assert checked.inventory is not None and not checked.errors
    [warning] = checked.problems
    assert ":4:5: warning: connections[0]: connection t names no host_only network" in str(warning)
    assert "add host_only: {network: NAME}" in str(warning)
    named = "{name: t, driver: libvirt, uri: 'test:///default', host_only: {network: isolated}}"
    control = check_inventory(_inventory(env, named))
    assert control.problems == () and control.inventory.connections[0].host_only == HostOnly(
        HostOnlyKind.NETWORK, "isolated"
    )


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_plan_shows_the_move_and_json_names_the_destination(env, testnode_uri, capsys) -> None:
    inv = _inventory(
        env, f"{{name: t, driver: libvirt, uri: '{testnode_uri}', host_only: {{network: isolated}}}}"
    )
    code, out = _cli(capsys, "plan", "--inventory", str(inv))
    assert code == 1
    assert "nic 0: nat (default) -> host-only network 'isolated'" in out
    assert "nic 1" not in out  # already on the host-only network
    code, out = _cli(capsys, "plan", "--inventory", str(inv), "--format", "json")
    [move] = [c for c in json.loads(out)["plans"][0]["changes"] if c["action"] == "move-nic"]
    assert move["destination"] == {"kind": "network", "name": "isolated"}
    assert move["target"] == "0/52:54:00:00:00:01"


def test_without_host_only_the_nic_is_a_manual_item_never_deleted(env, testnode_uri, capsys) -> None:
    inv = _inventory(env, f"{{name: t, driver: libvirt, uri: '{testnode_uri}'}}")
    code, out = _cli(capsys, "plan", "--inventory", str(inv), "--format", "json")
    plan = json.loads(out)["plans"][0]
    assert not [c for c in plan["changes"] if "nic" in c["action"]]
    [manual] = plan["manual"]
    assert manual["action"] == "move-nic" and "names no host_only network" in manual["wanted"]


NIC = """<interface type='user'>
  <mac address='52:54:00:aa:bb:cc'/><model type='e1000'/>
  <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
  <backend type='passt'/><ip address='10.0.2.15' family='ipv4' prefix='24'/>
  <portForward proto='tcp'><range start='2222' to='22'/></portForward>
  <link state='up'/>
</interface>"""


@pytest.mark.parametrize(
    ("to", "expect"),
    [
        (HostOnly(HostOnlyKind.NETWORK, "isolated"), '<source network="isolated"/>'),
        (HostOnly(HostOnlyKind.BRIDGE, "br-lab"), '<source bridge="br-lab"/>'),
    ],
)
def test_a_moved_nic_keeps_mac_model_and_slot_and_loses_its_nat(to, expect) -> None:
    nic = etree.fromstring(NIC, etree.XMLParser(remove_blank_text=True))
    new = etree.tostring(moved_nic(nic, to), encoding="unicode")
    assert new.startswith(f'<interface type="{to.kind.value}"><mac address="52:54:00:aa:bb:cc"/>{expect}')
    for kept in ('<model type="e1000"/>', 'slot="0x03"', '<link state="up"/>'):
        assert kept in new
    for gone in ("passt", "portForward", "10.0.2.15", "user"):
        assert gone not in new


def test_a_moved_nic_refuses_a_virtualbox_destination() -> None:
    with pytest.raises(DriverError, match="cannot attach"):
        moved_nic(etree.fromstring(NIC), HostOnly(HostOnlyKind.HOSTONLY_INTERFACE, "vboxnet0"))


def test_firewall_interfaces_follow_from_host_only(env, testnode_uri) -> None:
    conn = f"{{name: t, driver: libvirt, uri: '{testnode_uri}', host_only: {{network: isolated}}}}"
    inv = load_inventory(_inventory(env, conn))
    assert with_vm_interfaces(inv).firewall.vm_interfaces == ("virbr-iso",)  # the network's bridge
    consistent = load_inventory(_inventory(env, conn, "firewall: {vm_interfaces: [virbr-iso, vboxnet0]}\n"))
    assert with_vm_interfaces(consistent).firewall.vm_interfaces == ("virbr-iso", "vboxnet0")
    other = load_inventory(_inventory(env, conn, "firewall: {vm_interfaces: [virbr9]}\n"))
    with pytest.raises(InventoryError, match="lacks virbr-iso"):
        with_vm_interfaces(other)


def test_a_nat_network_is_no_host_only_network(env, testnode_uri) -> None:
    conn = f"{{name: t, driver: libvirt, uri: '{testnode_uri}', host_only: {{network: default}}}}"
    inv = load_inventory(_inventory(env, conn))
    with pytest.raises(DriverError, match="network default is not an isolated network .forward mode nat"):
        derived_interfaces(inv, libvirt_bridge)
