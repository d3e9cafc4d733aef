"""Frame-level holes, with hand-made frames (tests/firewall/frames.py) sent from one VM's
bridge port and watched for on the other side: impersonation from the wrong port, VLAN
tags, other ethertypes, forged neighbour discovery. Each case first shows the frame gets
through without vmguard (the test can fail), then that vmguard drops it.
"""

from __future__ import annotations

import secrets
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firewall import frames as f
from tests.firewall.conftest import Firewall, make_firewall, write_policy
from tests.firewall.topology import HERE, VMS, Topology
from tests.support.netns import Netns

pytestmark = pytest.mark.root
BACKENDS = ["nftables", "iptables"]
FRAMES = str(HERE / "frames.py")
VM1_IP, VM1_MAC = VMS["vm1"]
VM2_IP, VM2_MAC = VMS["vm2"]


@pytest.fixture(params=BACKENDS)
def fw(request: pytest.FixtureRequest, topo: Topology, tmp_path: Path) -> Iterator[Firewall]:
    firewall = make_firewall(topo, tmp_path, request.param)
    yield firewall
    firewall("remove")


def _br0_mac(topo: Topology) -> str:
    return topo.host.run("cat", "/sys/class/net/br0/address").stdout.strip()


def _send(ns: Netns, *frames: bytes) -> None:
    ns.run(sys.executable, FRAMES, "send", "eth0", *(fr.hex() for fr in frames))


def _delivered(sender: Netns, watcher: Netns, marker: str, *frames: bytes) -> bool:
    """Did any of `frames`, sent from `sender`'s port, reach `watcher`'s interface?"""
    proc = watcher.popen(sys.executable, FRAMES, "sniff", "eth0", "1.0", marker, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    _send(sender, *frames)
    return int(proc.communicate(timeout=30)[0].split()[-1]) > 0


def _as_vm2_to_syslog(topo: Topology, tag: str) -> bytes:
    """vm2's own identity (MAC and address) on a datagram vm2's policy allows."""
    packet = f.udp4(VM2_IP, "10.80.0.10", 5514, tag.encode())
    return f.ether(_br0_mac(topo), VM2_MAC, 0x0800, packet)


def test_another_vms_identity_from_the_wrong_port_is_dropped(fw: Firewall, topo: Topology) -> None:
    fw("apply")
    tag = secrets.token_hex(4)
    _send(topo.vms["vm2"], _as_vm2_to_syslog(topo, f"own-port-{tag}"))
    assert topo.udp_seen(f"own-port-{tag}"), "control: the frame passes from vm2's own port"
    _send(topo.vms["vm1"], _as_vm2_to_syslog(topo, f"wrong-port-{tag}"))
    assert not topo.udp_seen(f"wrong-port-{tag}", wait=0.3)


def test_a_vm_whose_port_is_unknown_gets_the_strict_default(fw: Firewall, topo: Topology) -> None:
    inventory = fw.inventory.with_name("no-port.yaml")
    inventory.write_text(fw.inventory.read_text().replace(", interface: p-vm2", ""))
    tag = secrets.token_hex(4)
    fw("apply")
    topo.send_udp(topo.vms["vm2"], f"known-{tag}")
    assert topo.udp_seen(f"known-{tag}"), "control: vm2 is let through while its port is known"
    proc = fw("apply", inventory=inventory, check=False)
    assert proc.returncode == 3, "fail closed: the port it could not learn is reported"
    assert "VM vm2" in proc.stderr and "bridge port is not known" in proc.stderr, proc.stderr
    topo.send_udp(topo.vms["vm2"], f"unknown-{tag}")
    assert not topo.udp_seen(f"unknown-{tag}", wait=0.3)


def _between_vms(tag: str) -> dict[str, bytes]:
    inner = f.udp4(VM1_IP, VM2_IP, 9, tag.encode())
    return {
        "vlan": f.ether(VM2_MAC, VM1_MAC, 0x0800, inner, vlan=5),
        "ethertype": f.ether(VM2_MAC, VM1_MAC, 0x88B5, tag.encode().ljust(46, b"\0")),
    }


@pytest.mark.parametrize("kind", ["vlan", "ethertype"])
def test_vlan_tags_and_other_ethertypes_between_vms_are_dropped(
    fw: Firewall, topo: Topology, kind: str
) -> None:
    tag = secrets.token_hex(6)
    frame = _between_vms(tag)[kind]
    vm1, vm2 = topo.vms["vm1"], topo.vms["vm2"]
    assert _delivered(vm1, vm2, tag, frame), "control: without vmguard the frame arrives"
    fw("apply")
    assert not _delivered(vm1, vm2, tag, frame)


# --- neighbour discovery (IPv6 VMs: the nftables backend) ---------------------------------

V6 = {"vm1": "fd70::11", "vm2": "fd70::12"}
HOST6 = "fd70::1"
BOGUS = "52:54:00:de:ad:00"


@pytest.fixture
def v6(topo: Topology, tmp_path: Path) -> Iterator[Firewall]:
    """vm1 and vm2 dual-stack, with IPv6 policies; the namespaces get their addresses."""
    firewall = make_firewall(topo, tmp_path, "nftables")
    text = firewall.inventory.read_text()
    for name, addr in V6.items():
        text = text.replace(f"address: {VMS[name][0]},", f"addresses: [{VMS[name][0]}, {addr}],")
        write_policy(
            firewall.inventory.parent,
            name,
            "      - {name: v6-ssh, to: fd80::10/128, ports: [22], protocol: tcp}",
        )
    firewall.inventory.write_text(text)
    topo.host.run("ip", "-6", "addr", "add", f"{HOST6}/64", "dev", "br0", "nodad")
    for name, addr in V6.items():
        topo.vms[name].run("ip", "-6", "addr", "add", f"{addr}/64", "dev", "eth0", "nodad")
    yield firewall
    firewall("remove")
    topo.host.run("ip", "-6", "addr", "del", f"{HOST6}/64", "dev", "br0")
    topo.host.run("ip", "-6", "neigh", "flush", "dev", "br0")
    for name, addr in V6.items():
        topo.vms[name].run("ip", "-6", "addr", "del", f"{addr}/64", "dev", "eth0")


def _learns(ns: Netns, dev: str, ip: str, frame: bytes, sender: Netns) -> str:
    """The MAC `ns` holds for `ip` after `sender` sends `frame` (seeded with BOGUS)."""
    ns.run("ip", "-6", "neigh", "replace", ip, "lladdr", BOGUS, "dev", dev, "nud", "stale")
    _send(sender, frame)
    time.sleep(0.3)
    entry = ns.run("ip", "-6", "neigh", "show", ip, "dev", dev).stdout.split()
    return entry[entry.index("lladdr") + 1]


def _advert(dst_mac: str, dst_ip: str, target: str) -> bytes:
    """vm1 advertising `target` as being at vm1's MAC, from vm1's own address."""
    packet = f.icmp6(V6["vm1"], dst_ip, f.neighbour_advert(target, VM1_MAC))
    return f.ether(dst_mac, VM1_MAC, 0x86DD, packet)


def test_forged_neighbour_advertisement_does_not_poison_the_host(v6: Firewall, topo: Topology) -> None:
    forged = _advert(_br0_mac(topo), HOST6, V6["vm2"])
    assert _learns(topo.host, "br0", V6["vm2"], forged, topo.vms["vm1"]) == VM1_MAC, (
        "control: without vmguard the host's entry is poisoned"
    )
    v6("apply")
    assert _learns(topo.host, "br0", V6["vm2"], forged, topo.vms["vm1"]) == BOGUS
    genuine = _advert(_br0_mac(topo), HOST6, V6["vm1"])
    assert _learns(topo.host, "br0", V6["vm1"], genuine, topo.vms["vm1"]) == VM1_MAC, (
        "a VM still advertises its own address"
    )


def test_forged_neighbour_advertisement_does_not_poison_another_vm(v6: Firewall, topo: Topology) -> None:
    forged = _advert(VM2_MAC, V6["vm2"], HOST6)
    vm2 = topo.vms["vm2"]
    assert _learns(vm2, "eth0", HOST6, forged, topo.vms["vm1"]) == VM1_MAC, "control"
    v6("apply")
    assert _learns(vm2, "eth0", HOST6, forged, topo.vms["vm1"]) == BOGUS


def test_dual_stack_vms_denied_traffic_is_logged_in_both_families(v6: Firewall) -> None:
    v6("apply")
    for version, addrs in ((4, [VM1_IP, VM2_IP]), (6, list(V6.values()))):
        listing = v6.ns.run("nft", "list", "set", "inet", "vmguard", f"log{version}").stdout
        assert all(a in listing for a in addrs), listing


UDP6_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 67)); s.settimeout(2.0); print("ready", flush=True)
try:
    print(s.recvfrom(100)[0].decode())
except TimeoutError:
    print("nothing")
"""


def _dhcp_port_over_ipv6(topo: Topology, tag: str) -> str:
    """What the host's UDP [::]:67 receives when vm1 sends to it from port 68 over IPv6."""
    server = topo.host.popen(sys.executable, "-c", UDP6_SERVER, stdout=subprocess.PIPE)
    assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
    send = (
        "import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); "
        f"s.bind(('{V6['vm1']}', 68)); s.sendto(b'{tag}', ('{HOST6}', 67))"
    )
    topo.vms["vm1"].run(sys.executable, "-c", send)
    return server.communicate(timeout=10)[0].decode().strip()


def test_an_ipv4_only_vm_cannot_reach_the_host_over_ipv6_through_the_dhcp_rule(
    fw: Firewall, topo: Topology
) -> None:
    """vm1's policy has no IPv6: its IPv6 to the host's DHCP server port is dropped."""
    topo.host.run("ip", "-6", "addr", "add", f"{HOST6}/64", "dev", "br0", "nodad")
    topo.vms["vm1"].run("ip", "-6", "addr", "add", f"{V6['vm1']}/64", "dev", "eth0", "nodad")
    try:
        assert _dhcp_port_over_ipv6(topo, "control") == "control", "control: without vmguard"
        fw("apply")
        assert _dhcp_port_over_ipv6(topo, "sneaked") == "nothing"
    finally:
        topo.host.run("ip", "-6", "addr", "del", f"{HOST6}/64", "dev", "br0")
        topo.vms["vm1"].run("ip", "-6", "addr", "del", f"{V6['vm1']}/64", "dev", "eth0")


def test_a_vm_cannot_advertise_itself_as_router_to_other_vms(v6: Firewall, topo: Topology) -> None:
    """An IPv6 VM's router advertisement, from its own link-local address and MAC."""
    tag = secrets.token_hex(6)
    body = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0) + tag.encode()
    frame = f.ether("33:33:00:00:00:01", VM1_MAC, 0x86DD, f.icmp6("fe80::5054:ff:fe70:11", "ff02::1", body))
    vm1, vm2 = topo.vms["vm1"], topo.vms["vm2"]
    assert _delivered(vm1, vm2, tag, frame), "control: without vmguard it arrives"
    v6("apply")
    assert not _delivered(vm1, vm2, tag, frame)
