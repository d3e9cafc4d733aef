"""Host-only networking against a real libvirtd whose networks are real bridges: a private
libvirtd in its own network and mount namespace (tests/support/private_libvirtd.py), so
nothing of this test exists in the machine's namespace or its libvirtd.

The domain is defined, never started: apply rewrites its definition; what a booted guest
then reaches through vmguard's firewall is the end-to-end test's job.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.private_libvirtd import private_libvirtd
from vmguard.audit.engine import audit
from vmguard.cli import main
from vmguard.firewall.interfaces import with_vm_interfaces
from vmguard.inventory.loader import load_inventory

libvirt = pytest.importorskip("libvirt")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("dnsmasq"), reason="needs root (namespaces) and dnsmasq"
)
POLICIES = Path(__file__).parents[2] / "policy"
BRIDGE = f"vmgho{os.getpid() % 100000}"
HOSTONLY = (
    f"<network><name>lab-hostonly</name><bridge name='{BRIDGE}'/>"
    "<ip address='10.77.0.1' netmask='255.255.255.0'/></network>"
)
NAT = (
    "<network><name>lab-nat</name><forward mode='nat'/><bridge name='vmgnat0'/>"
    "<ip address='10.78.0.1' netmask='255.255.255.0'/></network>"
)
DOMAIN = """<domain type='qemu'><name>legacy-01</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>
<interface type='network'><mac address='52:54:00:77:00:11'/><source network='lab-nat'/>
  <model type='e1000'/></interface>
<interface type='user'><mac address='52:54:00:77:00:12'/><model type='virtio'/></interface>
<controller type='usb' model='none'/><memballoon model='none'/>
</devices></domain>"""


@pytest.fixture(scope="module")
def plv(tmp_path_factory):
    root = tmp_path_factory.mktemp("plv")
    with private_libvirtd(root) as daemon:
        conn = libvirt.open(daemon.uri)
        try:
            conn.networkDefineXML(HOSTONLY).create()
            conn.networkDefineXML(NAT)  # defined only: its NICs read as NAT
            conn.defineXML(DOMAIN)
        finally:
            conn.close()
        yield daemon
    assert subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0


@pytest.fixture
def inventory(plv, tmp_path, monkeypatch) -> Path:
    for policy in POLICIES.glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "inv.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nconnections:\n"
        f"  - {{name: lab, driver: libvirt, uri: '{plv.uri}', host_only: {{network: lab-hostonly}}}}\n"
        "vms:\n  - {name: legacy-01, connection: lab, policy: batch.yaml}\n"
    )
    return path


def test_the_bridge_lives_only_in_the_namespace(plv) -> None:
    assert BRIDGE in plv.ns.run("ip", "-br", "link").stdout
    assert subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0


def _net_rules(inv: Path) -> list[str]:
    result = audit(load_inventory(inv))
    return [o.finding.rule for vm in result.vms for o in vm.outcomes if o.finding.rule.startswith("VMG-NET")]


def test_apply_moves_both_nics_then_plan_and_audit_are_clean(plv, inventory, capsys) -> None:
    assert set(_net_rules(inventory)) >= {"VMG-NET-002"}  # NAT network and user-mode NICs
    assert main(["plan", "--inventory", str(inventory)]) == 1
    out = capsys.readouterr().out
    assert "nic 0: nat (lab-nat) -> host-only network 'lab-hostonly'" in out
    assert "nic 1: user -> host-only network 'lab-hostonly'" in out
    assert main(["apply", "--inventory", str(inventory)]) == 0
    conn = libvirt.open(plv.uri)
    try:
        xml = conn.lookupByName("legacy-01").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    finally:
        conn.close()
    assert xml.count("<source network='lab-hostonly'") == 2
    for kept in ("52:54:00:77:00:11", "52:54:00:77:00:12", "model type='e1000'", "model type='virtio'"):
        assert kept in xml
    capsys.readouterr()
    assert main(["plan", "--inventory", str(inventory)]) == 0
    assert _net_rules(inventory) == []


def test_firewall_interfaces_are_the_networks_bridge(plv, inventory) -> None:
    assert with_vm_interfaces(load_inventory(inventory)).firewall.vm_interfaces == (BRIDGE,)
