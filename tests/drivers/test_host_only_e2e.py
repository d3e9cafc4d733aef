"""End to end, as an admin would run it: a TCG busybox guest with a user-mode (NAT) NIC on
a private libvirtd (its own network and mount namespace, tests/support/private_libvirtd.py);
`vmguard apply` moves the NIC live onto the isolated libvirt network; the guest gets its
fixed address by DHCP from that network; `vmguard firewall apply` (nftables, run inside the
namespace) then lets the guest reach its one allowed endpoint on the host and drops the
rest. Nothing of it exists in the machine's own namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.private_libvirtd import private_libvirtd
from vmguard.cli import main

libvirt = pytest.importorskip("libvirt")
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dnsmasq"),
                                reason="needs root (namespaces) and dnsmasq")
POLICIES = Path(__file__).parents[2] / "policy"
BRIDGE = f"vmgee{os.getpid() % 100000}"
MAC, ADDRESS, HOST = "52:54:00:77:00:11", "10.77.0.11", "10.77.0.1"
NETWORK = f"""<network><name>lab-hostonly</name><bridge name='{BRIDGE}'/>
<ip address='{HOST}' netmask='255.255.255.0'><dhcp><range start='10.77.0.100' end='10.77.0.200'/>
<host mac='{MAC}' ip='{ADDRESS}'/></dhcp></ip></network>"""
NIC = f"<interface type='user'><mac address='{MAC}'/><model type='virtio'/></interface>\n"
POLICY = f"""apiVersion: vmguard/v1
kind: Policy
metadata: {{name: lab-e2e}}
extends: batch.yaml
spec:
  network:
    mode: host-only
    egress:
      - {{name: svc, to: {HOST}/32, ports: [8080], protocol: tcp}}
    ingress: []
"""
DHCP_SCRIPT = '[ "$1" = bound ] && ifconfig "$interface" "$ip" netmask "$subnet"; exit 0'


@pytest.fixture(scope="module")
def lab(tmp_path_factory, guest_kernel_initrd):
    from tests.support.domains import TcgDomainFactory

    root = tmp_path_factory.mktemp("e2e")
    with private_libvirtd(root / "plv") as plv:
        conn = libvirt.open(plv.uri)
        factory = TcgDomainFactory(conn, guest_kernel_initrd)
        try:
            conn.networkDefineXML(NETWORK).create()
            guest = factory.start(extra_devices=NIC)
            for port in (8080, 8081):  # the allowed endpoint and a control
                plv.ns.popen(sys.executable, "-m", "http.server", str(port), "--bind", HOST,
                             "--directory", str(root), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            yield plv, guest, root
        finally:
            factory.cleanup()
            conn.close()


def _inventory(plv, guest, root: Path) -> Path:
    for policy in POLICIES.glob("*.yaml"):
        shutil.copy(policy, root)
    (root / "lab.yaml").write_text(POLICY)
    path = root / "inv.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nconnections:\n"
        f"  - {{name: lab, driver: libvirt, uri: '{plv.uri}', host_only: {{network: lab-hostonly}}}}\n"
        "firewall: {backend: nftables}\n"
        f"vms:\n  - {{name: {guest.name}, connection: lab, policy: lab.yaml, address: {ADDRESS}, mac: '{MAC}'}}\n"
    )
    return path


def _fetch(guest, port: int) -> bool:
    """An HTTP answer from HOST:port (busybox nc; the static busybox's wget crashes)."""
    got = guest.exec(["/bin/sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {HOST} {port}"], timeout=20)
    return got.stdout.startswith("HTTP/1.0 200")


def _dhcp(guest) -> str:
    guest.exec(["/bin/sh", "-c", f"printf '%s\\n' '{DHCP_SCRIPT}' > /tmp/dhcp.sh; chmod +x /tmp/dhcp.sh"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        iface = guest.exec(["/bin/sh", "-c", "ls /sys/class/net | grep -v lo | head -1"]).stdout.strip()
        if iface:
            guest.exec(["/bin/sh", "-c", f"ifconfig {iface} up; udhcpc -i {iface} -n -q -t 5 -s /tmp/dhcp.sh"],
                       timeout=40)
            shown = guest.exec(["/bin/sh", "-c", f"ifconfig {iface}"]).stdout
            if ADDRESS in shown:
                return iface
        time.sleep(1)
    raise AssertionError(f"no DHCP lease in the guest: {guest.console_text()[-1500:]}")


def test_apply_moves_the_nic_dhcp_then_the_firewall_allows_only_the_endpoint(lab, monkeypatch, capsys) -> None:
    plv, guest, root = lab
    monkeypatch.setenv("VMGUARD_LOG", str(root / "events.jsonl"))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(root / "state"))
    inv = _inventory(plv, guest, root)
    assert main(["apply", "--inventory", str(inv), "--next-boot"]) == 0, capsys.readouterr()
    live = guest.dom.XMLDesc(0)
    assert "<source network='lab-hostonly'" in live and MAC in live  # moved while running
    _dhcp(guest)
    assert _fetch(guest, 8080) and _fetch(guest, 8081)  # control: no vmguard firewall yet
    fw = plv.ns.run(sys.executable, "-m", "vmguard", "firewall", "apply", "--inventory", str(inv),
                    check=False, timeout=120)
    assert fw.returncode == 0, fw.stdout + fw.stderr
    assert _fetch(guest, 8080)  # the allowed endpoint
    assert not _fetch(guest, 8081)  # another port of the same host: dropped
