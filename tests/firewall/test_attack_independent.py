"""Independent black-box attacks on the host firewall's documented claims (issue #15).

Each test passes while the claim holds; a failing test is a hole. Frames are hand-made
(raw AF_PACKET sockets, tests/firewall/frames.py) and sent from a VM namespace's port;
delivery is watched with a sniffer on the target's interface (before its IP stack, so a
frame that arrives counts even if the target's kernel would ignore it). Each group has a
control: the same kind of frame with the VM's own identity and an allowed flow arrives.
One apply per backend is shared by the module (the attacks do not change the rules).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.firewall import frames as f
from tests.firewall.conftest import Firewall, make_firewall
from tests.firewall.topology import HERE, VMS, Topology
from tests.support.netns import Netns

pytestmark = pytest.mark.root
FRAMES = str(HERE / "frames.py")
VM1_IP, VM1_MAC = VMS["vm1"]
VM2_IP, VM2_MAC = VMS["vm2"]
SVC = "10.80.0.10"
HOST_IP = "10.70.0.1"
ANY = "0.0.0.0"  # noqa: S104 - a forged source address, nothing binds
NEW_MAC = "52:54:00:70:00:99"
BCAST = "ff:ff:ff:ff:ff:ff"


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def fw(
    request: pytest.FixtureRequest, topo: Topology, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Firewall]:
    firewall = make_firewall(topo, tmp_path_factory.mktemp(request.param), request.param)
    firewall("apply")
    yield firewall
    firewall("remove")


# --- frame builders -----------------------------------------------------------------------


def _ip4(
    src: str, dst: str, proto: int, body: bytes, *, ident: int = 1, frag: int = 0, ttl: int = 64
) -> bytes:
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(body),
        ident,
        frag,
        ttl,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    return head[:10] + struct.pack("!H", f._sum16(head)) + head[12:] + body


def _udp(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def _tcp(src: str, dst: str, sport: int, dport: int, flags: int, data: bytes) -> bytes:
    seg = struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000, 5 << 4, flags, 65535, 0, 0) + data
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!xBH", 6, len(seg))
    return seg[:16] + struct.pack("!H", f._sum16(pseudo + seg)) + seg[18:]


def _icmp(kind: int, code: int, rest: bytes, data: bytes) -> bytes:
    body = struct.pack("!BBH", kind, code, 0) + rest + data
    return body[:2] + struct.pack("!H", f._sum16(body)) + body[4:]


def _arp(op: int, smac: str, sip: str, tmac: str, tip: str) -> bytes:
    return (
        struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
        + f.mac(smac)
        + socket.inet_aton(sip)
        + f.mac(tmac)
        + socket.inet_aton(tip)
    )


def _br0_mac(topo: Topology) -> str:
    return topo.host.run("cat", "/sys/class/net/br0/address").stdout.strip()


def _send(ns: Netns, *frames: bytes) -> None:
    ns.run(sys.executable, FRAMES, "send", "eth0", *(fr.hex() for fr in frames))


def _own_arp(vm: str) -> bytes:
    """`vm` asking for the host's MAC with its own identity: the bridge learns its port."""
    ip, mac = VMS[vm]
    return f.ether(BCAST, mac, 0x0806, _arp(1, mac, ip, "00:00:00:00:00:00", HOST_IP))


def _delivered(sender: Netns, watcher: Netns, marker: str, *frames: bytes) -> bool:
    """Did any of `frames`, sent from `sender`'s port, reach `watcher`'s eth0?

    A VM watcher first announces itself so that an earlier forged frame carrying its MAC
    (which may have moved its bridge FDB entry) cannot hide a delivery.
    """
    for vm in VMS:
        if watcher.name == _TOPO_VMS.get(vm):
            _send(watcher, _own_arp(vm))
    proc = watcher.popen(sys.executable, FRAMES, "sniff", "eth0", "0.5", marker, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    _send(sender, *frames)
    return int(proc.communicate(timeout=30)[0].split()[-1]) > 0


_TOPO_VMS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _vm_names(topo: Topology) -> None:
    _TOPO_VMS.update({vm: ns.name for vm, ns in topo.vms.items()})


def _tag() -> str:
    return "atk" + secrets.token_hex(5)


def _to_svc(topo: Topology, src_mac: str, packet: bytes) -> bytes:
    return f.ether(_br0_mac(topo), src_mac, 0x0800, packet)


# --- identity: IP, MAC, port ----------------------------------------------------------------


def test_control_own_identity_allowed_flow_arrives(fw: Firewall, topo: Topology) -> None:
    tag = _tag()
    frame = _to_svc(topo, VM1_MAC, _ip4(VM1_IP, SVC, 17, _udp(VM1_IP, SVC, 40000, 5514, tag.encode())))
    assert _delivered(topo.vms["vm1"], topo.services, tag, frame)


@pytest.mark.parametrize("src_ip", [VM2_IP, "10.70.0.99", "10.80.0.20", ANY, HOST_IP])
def test_spoofed_source_ip_with_own_mac_is_dropped(fw: Firewall, topo: Topology, src_ip: str) -> None:
    tag = _tag()
    frame = _to_svc(topo, VM1_MAC, _ip4(src_ip, SVC, 17, _udp(src_ip, SVC, 40000, 5514, tag.encode())))
    assert not _delivered(topo.vms["vm1"], topo.services, tag, frame)


@pytest.mark.parametrize("src_mac", [NEW_MAC, VM2_MAC, "02:00:00:00:00:01"])
def test_own_ip_with_another_mac_is_dropped(fw: Firewall, topo: Topology, src_mac: str) -> None:
    """A VM that changed (or forged) its MAC but kept its address."""
    tag = _tag()
    frame = _to_svc(topo, src_mac, _ip4(VM1_IP, SVC, 17, _udp(VM1_IP, SVC, 40000, 5514, tag.encode())))
    assert not _delivered(topo.vms["vm1"], topo.services, tag, frame)


def test_vm_identity_from_the_other_vms_port_is_dropped(fw: Firewall, topo: Topology) -> None:
    tag = _tag()
    frame = _to_svc(topo, VM1_MAC, _ip4(VM1_IP, SVC, 17, _udp(VM1_IP, SVC, 40000, 5514, tag.encode())))
    assert not _delivered(topo.vms["vm2"], topo.services, tag, frame)


def test_changed_mac_bridged_to_other_vm_is_dropped(fw: Firewall, topo: Topology) -> None:
    """New MAC, own IP, to vm2's allowed port 22 (a flow both policies allow)."""
    tag = _tag()
    packet = _ip4(VM1_IP, VM2_IP, 6, _tcp(VM1_IP, VM2_IP, 40000, 22, 0x02, tag.encode()))
    ok = f.ether(VM2_MAC, VM1_MAC, 0x0800, packet)
    assert _delivered(topo.vms["vm1"], topo.vms["vm2"], tag, ok), "control: allowed flow"
    tag2 = _tag()
    packet = _ip4(VM1_IP, VM2_IP, 6, _tcp(VM1_IP, VM2_IP, 40000, 22, 0x02, tag2.encode()))
    assert not _delivered(topo.vms["vm1"], topo.vms["vm2"], tag2, f.ether(VM2_MAC, NEW_MAC, 0x0800, packet))


def _fdb_port(topo: Topology, mac: str) -> str:
    out = topo.host.run("bridge", "fdb", "show", "br", "br0").stdout
    hits = [
        line.split()[2]
        for line in out.splitlines()
        if line.startswith(mac) and " dev " in line and "permanent" not in line
    ]
    return ",".join(hits)


@pytest.mark.parametrize("kind", ["ipv4", "arp", "ethertype", "vlan"])
def test_forged_source_mac_does_not_steal_another_vms_bridge_port(
    fw: Firewall, topo: Topology, kind: str
) -> None:
    """vm1 sends frames with vm2's MAC as Ethernet source: the bridge must not learn
    vm2's MAC on vm1's port (vm1 would then receive vm2's traffic, vm2 none)."""
    _send(topo.vms["vm2"], _own_arp("vm2"))
    assert _fdb_port(topo, VM2_MAC) == "p-vm2", "control: vm2 learnt on its own port"
    frame = {
        "ipv4": _to_svc(topo, VM2_MAC, _ip4(VM2_IP, SVC, 17, _udp(VM2_IP, SVC, 1, 5514, b"x"))),
        "arp": f.ether(BCAST, VM2_MAC, 0x0806, _arp(1, VM2_MAC, VM2_IP, BCAST, HOST_IP)),
        "ethertype": f.ether(BCAST, VM2_MAC, 0x88B5, b"x" * 46),
        "vlan": f.ether(BCAST, VM2_MAC, 0x0800, b"x" * 46, vlan=5),
    }[kind]
    _send(topo.vms["vm1"], frame)
    port = _fdb_port(topo, VM2_MAC)
    _send(topo.vms["vm2"], _own_arp("vm2"))
    assert port == "p-vm2"


# --- VLAN tags and ethertypes ---------------------------------------------------------------


def _tagged(outer: int, vid: int, inner_type: int, payload: bytes) -> bytes:
    return (
        f.mac(VM2_MAC)
        + f.mac(VM1_MAC)
        + struct.pack("!HH", outer, vid)
        + struct.pack("!H", inner_type)
        + payload
    )


@pytest.mark.parametrize("kind", ["prio0", "prio-tag-pcp", "qinq", "qinq-in-8021q", "ethertype-len"])
def test_tagged_and_odd_frames_between_vms_are_dropped(fw: Firewall, topo: Topology, kind: str) -> None:
    tag = _tag()
    ip = _ip4(VM1_IP, VM2_IP, 6, _tcp(VM1_IP, VM2_IP, 40000, 22, 0x02, tag.encode()))
    frame = {
        "prio0": _tagged(0x8100, 0, 0x0800, ip),
        "prio-tag-pcp": _tagged(0x8100, 0xE000, 0x0800, ip),
        "qinq": _tagged(0x88A8, 7, 0x0800, ip),
        "qinq-in-8021q": _tagged(0x88A8, 7, 0x8100, struct.pack("!HH", 0, 0x0800) + ip),
        # an 802.3 length field instead of an ethertype (LLC/SNAP carrying IPv4)
        "ethertype-len": f.mac(VM2_MAC)
        + f.mac(VM1_MAC)
        + struct.pack("!H", len(ip) + 8)
        + bytes.fromhex("aaaa03000000")
        + struct.pack("!H", 0x0800)
        + ip,
    }[kind]
    assert not _delivered(topo.vms["vm1"], topo.vms["vm2"], tag, frame)


# --- fragments ----------------------------------------------------------------------------


def _fragments(src: str, dst: str, dport: int, tag: str) -> list[bytes]:
    """A UDP datagram in two fragments; the marker sits in the second (no port header)."""
    udp = _udp(src, dst, 40000, dport, b"A" * 16 + tag.encode())
    ident = secrets.randbelow(60000) + 1
    return [
        _ip4(src, dst, 17, udp[:24], ident=ident, frag=0x2000),
        _ip4(src, dst, 17, udp[24:], ident=ident, frag=3),
    ]


def test_fragments_to_a_denied_port_are_dropped(fw: Firewall, topo: Topology) -> None:
    tag = _tag()
    ok = [_to_svc(topo, VM1_MAC, p) for p in _fragments(VM1_IP, SVC, 5514, tag)]
    assert _delivered(topo.vms["vm1"], topo.services, tag, *ok), "control: allowed port"
    tag = _tag()
    bad = [_to_svc(topo, VM1_MAC, p) for p in _fragments(VM1_IP, SVC, 5515, tag)]
    assert not _delivered(topo.vms["vm1"], topo.services, tag, *bad)


def test_lone_non_first_fragment_is_dropped(fw: Firewall, topo: Topology) -> None:
    for watcher, dst, dmac in ((topo.services, SVC, _br0_mac(topo)), (topo.vms["vm2"], VM2_IP, VM2_MAC)):
        tag = _tag()
        frag = _fragments(VM1_IP, dst, 9, tag)[1]
        assert not _delivered(topo.vms["vm1"], watcher, tag, f.ether(dmac, VM1_MAC, 0x0800, frag)), dst


def test_fragments_between_vms_to_a_denied_port_are_dropped(fw: Firewall, topo: Topology) -> None:
    tag = _tag()
    frames = [f.ether(VM2_MAC, VM1_MAC, 0x0800, p) for p in _fragments(VM1_IP, VM2_IP, 9, tag)]
    assert not _delivered(topo.vms["vm1"], topo.vms["vm2"], tag, *frames)


# --- broadcast, multicast, DHCP -----------------------------------------------------------


@pytest.mark.parametrize("dst", ["10.70.0.255", "255.255.255.255", "224.0.0.1", "239.1.2.3"])
def test_broadcast_and_multicast_to_other_vms_are_dropped(fw: Firewall, topo: Topology, dst: str) -> None:
    tag = _tag()
    dmac = (
        BCAST
        if dst.endswith("255")
        else "01:00:5e:"
        + ":".join(f"{b:02x}" for b in (socket.inet_aton(dst)[1] & 0x7F, *socket.inet_aton(dst)[2:]))
    )
    frame = f.ether(
        dmac, VM1_MAC, 0x0800, _ip4(VM1_IP, dst, 17, _udp(VM1_IP, dst, 40000, 9, tag.encode()), ttl=1)
    )
    assert not _delivered(topo.vms["vm1"], topo.vms["vm2"], tag, frame)


@pytest.mark.parametrize("src_ip", [VM1_IP, ANY])
@pytest.mark.parametrize("dst", ["bcast", "vm2"])
def test_dhcp_server_spoofing_from_a_vm_is_dropped(
    fw: Firewall, topo: Topology, src_ip: str, dst: str
) -> None:
    tag = _tag()
    dip, dmac = ("255.255.255.255", BCAST) if dst == "bcast" else (VM2_IP, VM2_MAC)
    offer = _ip4(src_ip, dip, 17, _udp(src_ip, dip, 67, 68, b"\x02\x01\x06\x00" + tag.encode()))
    assert not _delivered(topo.vms["vm1"], topo.vms["vm2"], tag, f.ether(dmac, VM1_MAC, 0x0800, offer))


def test_dhcp_client_port_does_not_reach_a_service(fw: Firewall, topo: Topology) -> None:
    """A datagram 68 -> 67 is DHCP only toward the host/broadcast, not routed onward."""
    tag = _tag()
    for src in (VM1_IP, ANY):
        pkt = _ip4(src, SVC, 17, _udp(src, SVC, 68, 67, tag.encode()))
        assert not _delivered(topo.vms["vm1"], topo.services, tag, _to_svc(topo, VM1_MAC, pkt)), src


def test_dhcp_client_port_does_not_reach_another_vm(fw: Firewall, topo: Topology) -> None:
    tag = _tag()
    pkt = _ip4(VM1_IP, VM2_IP, 17, _udp(VM1_IP, VM2_IP, 68, 67, tag.encode()))
    assert not _delivered(topo.vms["vm1"], topo.vms["vm2"], tag, f.ether(VM2_MAC, VM1_MAC, 0x0800, pkt))


# --- ICMP, established-state abuse --------------------------------------------------------


def test_icmp_redirect_and_echo_to_another_vm_are_dropped(fw: Firewall, topo: Topology) -> None:
    tag = _tag()
    inner = _ip4(VM2_IP, SVC, 17, _udp(VM2_IP, SVC, 40000, 5514, b""))
    redirect = _icmp(5, 1, socket.inet_aton(VM1_IP), inner + tag.encode())
    echo = _icmp(8, 0, struct.pack("!HH", 1, 1), tag.encode())
    for body in (redirect, echo):
        frame = f.ether(VM2_MAC, VM1_MAC, 0x0800, _ip4(VM1_IP, VM2_IP, 1, body))
        assert not _delivered(topo.vms["vm1"], topo.vms["vm2"], tag, frame), body[0]


def test_icmp_error_quoting_an_unopened_flow_is_dropped(fw: Firewall, topo: Topology) -> None:
    """Port-unreachable quoting a made-up vm2 -> vm1 flow: not RELATED to anything."""
    tag = _tag()
    quoted = _ip4(VM2_IP, VM1_IP, 17, _udp(VM2_IP, VM1_IP, 5555, 6666, b""))
    body = _icmp(3, 3, b"\0\0\0\0", quoted + tag.encode())
    frame = f.ether(VM2_MAC, VM1_MAC, 0x0800, _ip4(VM1_IP, VM2_IP, 1, body))
    assert not _delivered(topo.vms["vm1"], topo.vms["vm2"], tag, frame)


@pytest.mark.parametrize("flags", [0x10, 0x18, 0x04, 0x12, 0x11])  # ACK, PSH|ACK, RST, SYN|ACK, FIN|ACK
def test_spoofed_mid_stream_tcp_to_a_denied_service_is_dropped(
    fw: Firewall, topo: Topology, flags: int
) -> None:
    tag = _tag()
    pkt = _ip4(VM1_IP, SVC, 6, _tcp(VM1_IP, SVC, 40001, 8080, flags, tag.encode()))
    assert not _delivered(topo.vms["vm1"], topo.services, tag, _to_svc(topo, VM1_MAC, pkt))


@pytest.mark.parametrize("flags", [0x10, 0x12])
def test_spoofed_mid_stream_tcp_to_another_vm_is_dropped(fw: Firewall, topo: Topology, flags: int) -> None:
    tag = _tag()
    pkt = _ip4(VM2_IP, VM1_IP, 6, _tcp(VM2_IP, VM1_IP, 8080, 40002, flags, tag.encode()))
    assert not _delivered(topo.vms["vm2"], topo.vms["vm1"], tag, f.ether(VM1_MAC, VM2_MAC, 0x0800, pkt))


# --- the host and the outside -------------------------------------------------------------


def test_vm_cannot_reach_host_addresses_or_outside(fw: Firewall, topo: Topology) -> None:
    targets = [
        "10.70.0.1:9000",
        "10.80.0.1:9000",
        "10.90.0.1:9000",
        "10.90.0.10:22",
        "10.80.0.10:8080",
        "10.70.0.12:8080",
        "127.0.0.1:9000",
    ]
    got = topo.reach(topo.vms["vm1"], *targets, "10.80.0.10:3306", "10.70.0.12:22")
    assert got.pop("10.80.0.10:3306") and got.pop("10.70.0.12:22"), "control: allowed flows"
    assert not any(got.values()), got


def test_vm2_to_vm1_needs_vm2_egress(fw: Firewall, topo: Topology) -> None:
    got = topo.reach(topo.vms["vm2"], "10.70.0.11:22", "10.70.0.11:8080", "10.80.0.20:2401")
    assert got == {"10.70.0.11:22": False, "10.70.0.11:8080": False, "10.80.0.20:2401": True}


def test_outside_reaches_only_the_ingress_port(fw: Firewall, topo: Topology) -> None:
    got = topo.reach(topo.outside, "10.70.0.11:22", "10.70.0.11:8080", "10.70.0.12:8080")
    assert got == {"10.70.0.11:22": True, "10.70.0.11:8080": False, "10.70.0.12:8080": False}


# --- ARP ----------------------------------------------------------------------------------


@pytest.fixture
def arp_ready(topo: Topology) -> Iterator[None]:
    """Neighbour tables that take any update at once (locktime 0), reset afterwards."""
    topo.vms["vm2"].run("sysctl", "-qw", "net.ipv4.neigh.eth0.locktime=0")
    topo.host.run("sysctl", "-qw", "net.ipv4.neigh.br0.locktime=0")
    topo.vms["vm2"].run("sysctl", "-qw", "net.ipv4.conf.all.arp_accept=1")
    topo.host.run("sysctl", "-qw", "net.ipv4.conf.all.arp_accept=1")
    yield
    topo.vms["vm2"].run("ip", "neigh", "flush", "dev", "eth0")
    topo.host.run("ip", "neigh", "flush", "dev", "br0")


def _neigh(ns: Netns, dev: str, ip: str) -> str:
    out = ns.run("ip", "neigh", "show", ip, "dev", dev).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else ""


BOGUS = "52:54:00:de:ad:00"


@pytest.mark.parametrize("kind", ["garp-host", "reply-host", "request-host", "garp-vm2"])
def test_arp_poisoning_of_another_vm_is_dropped(
    fw: Firewall, topo: Topology, kind: str, arp_ready: None
) -> None:
    vm2 = topo.vms["vm2"]
    vm2.run("ip", "neigh", "replace", HOST_IP, "lladdr", BOGUS, "dev", "eth0", "nud", "stale")
    vm2.run("ip", "neigh", "replace", "10.70.0.99", "lladdr", BOGUS, "dev", "eth0", "nud", "stale")
    target = "10.70.0.99" if kind == "garp-vm2" else HOST_IP
    body = {
        "garp-host": (BCAST, _arp(1, VM1_MAC, HOST_IP, "00:00:00:00:00:00", HOST_IP)),
        "reply-host": (VM2_MAC, _arp(2, VM1_MAC, HOST_IP, VM2_MAC, VM2_IP)),
        "request-host": (VM2_MAC, _arp(1, VM1_MAC, HOST_IP, "00:00:00:00:00:00", VM2_IP)),
        "garp-vm2": (BCAST, _arp(2, VM1_MAC, "10.70.0.99", BCAST, "10.70.0.99")),
    }[kind]
    _send(topo.vms["vm1"], f.ether(body[0], VM1_MAC, 0x0806, body[1]))
    time.sleep(0.3)
    assert _neigh(vm2, "eth0", target) in (BOGUS, ""), kind


def test_arp_with_own_identity_still_teaches_the_host(fw: Firewall, topo: Topology, arp_ready: None) -> None:
    """Control for the ARP cases: vm1's honest reply is learnt by the host."""
    topo.host.run("ip", "neigh", "replace", VM1_IP, "lladdr", BOGUS, "dev", "br0", "nud", "stale")
    _send(
        topo.vms["vm1"],
        f.ether(_br0_mac(topo), VM1_MAC, 0x0806, _arp(2, VM1_MAC, VM1_IP, _br0_mac(topo), HOST_IP)),
    )
    time.sleep(0.3)
    assert _neigh(topo.host, "br0", VM1_IP) == VM1_MAC


def test_arp_claiming_vm2_does_not_poison_the_host(fw: Firewall, topo: Topology, arp_ready: None) -> None:
    topo.host.run("ip", "neigh", "replace", VM2_IP, "lladdr", BOGUS, "dev", "br0", "nud", "stale")
    _send(
        topo.vms["vm1"],
        f.ether(_br0_mac(topo), VM1_MAC, 0x0806, _arp(2, VM1_MAC, VM2_IP, _br0_mac(topo), HOST_IP)),
    )
    time.sleep(0.3)
    assert _neigh(topo.host, "br0", VM2_IP) == BOGUS


# --- IPv6 from IPv4-only VMs --------------------------------------------------------------


def _ll(mac: str) -> str:
    b = bytearray(f.mac(mac))
    b[0] ^= 2
    return f"fe80::{b[0]:02x}{b[1]:02x}:{b[2]:02x}ff:fe{b[3]:02x}:{b[4]:02x}{b[5]:02x}"


@pytest.mark.parametrize("dst", ["vm2-ll", "all-nodes", "vm2-ula"])
def test_ipv4_only_vm_sends_nothing_over_ipv6(fw: Firewall, topo: Topology, dst: str) -> None:
    tag = _tag()
    dip, dmac = {
        "vm2-ll": (_ll(VM2_MAC), VM2_MAC),
        "all-nodes": ("ff02::1", "33:33:00:00:00:01"),
        "vm2-ula": ("fd70::12", VM2_MAC),
    }[dst]
    echo = struct.pack("!BBHHH", 128, 0, 0, 1, 1) + tag.encode()
    frames = [
        f.ether(dmac, VM1_MAC, 0x86DD, f.icmp6(src, dip, echo)) for src in (_ll(VM1_MAC), "fd70::11", "::")
    ]
    assert not _delivered(topo.vms["vm1"], topo.vms["vm2"], tag, *frames)


# --- IPv6 VMs: neighbour discovery, extension headers, DHCPv6, redirects -------------------

V6 = {"vm1": "fd70::11", "vm2": "fd70::12"}
HOST6 = "fd70::1"


@pytest.fixture(scope="module")
def fw6(fw: Firewall, topo: Topology) -> Iterator[Firewall]:
    """vm1 and vm2 dual-stack (an IPv6 egress each); the IPv4 inventory is restored after.

    The iptables backend refuses IPv6 endpoints (documented): nftables only.
    """
    if fw.backend != "nftables":
        pytest.skip("IPv6 endpoints need the nftables backend")
    inventory = fw.inventory.with_name("inventory6.yaml")
    text = fw.inventory.read_text()
    for name, addr in V6.items():
        ip4 = VMS[name][0]
        text = text.replace(f"address: {ip4},", f"addresses: [{ip4}, {addr}],")
        text = text.replace(f"policy: {name}.yaml, addresses", f"policy: {name}6.yaml, addresses")
        (inventory.parent / f"{name}6.yaml").write_text(
            (inventory.parent / f"{name}.yaml")
            .read_text()
            .replace(
                "    egress:\n",
                "    egress:\n      - {name: v6-ssh, to: fd80::10/128, ports: [22], protocol: tcp}\n",
            )
        )
    inventory.write_text(text)
    topo.host.run("ip", "-6", "addr", "add", f"{HOST6}/64", "dev", "br0", "nodad")
    for name, addr in V6.items():
        topo.vms[name].run("ip", "-6", "addr", "add", f"{addr}/64", "dev", "eth0", "nodad")
    fw("apply", inventory=inventory)
    yield fw
    fw("apply")
    topo.host.run("ip", "-6", "addr", "del", f"{HOST6}/64", "dev", "br0")
    for name, addr in V6.items():
        topo.vms[name].run("ip", "-6", "addr", "del", f"{addr}/64", "dev", "eth0")


def _ip6(src: str, dst: str, nh: int, payload: bytes, hlim: int = 64) -> bytes:
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, hlim) + s + d + payload


def _udp6(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    pseudo = (
        socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + struct.pack("!I3xB", len(seg), 17)
    )
    return seg[:6] + struct.pack("!H", f._sum16(pseudo + seg) or 0xFFFF) + seg[8:]


def _ns(src: str, target: str, lladdr: str) -> bytes:
    """ICMPv6 neighbour solicitation for `target` with source link-layer option `lladdr`."""
    return (
        struct.pack("!BBHI", 135, 0, 0, 0)
        + socket.inet_pton(socket.AF_INET6, target)
        + struct.pack("!BB", 1, 1)
        + f.mac(lladdr)
    )


def _neigh6(ns: Netns, dev: str, ip: str) -> str:
    out = ns.run("ip", "-6", "neigh", "show", ip, "dev", dev).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else ""


@pytest.mark.parametrize(
    "kind", ["ns-own-ip-bogus-slla", "ns-vm2-ip", "na-own-ip-bogus-tlla", "ns-own-ip-bogus-eth"]
)
def test_forged_neighbour_discovery_does_not_poison_the_host(
    fw6: Firewall, topo: Topology, kind: str
) -> None:
    br0 = _br0_mac(topo)
    target_ip = V6["vm2"] if kind == "ns-vm2-ip" else V6["vm1"]
    topo.host.run("ip", "-6", "neigh", "replace", target_ip, "lladdr", BOGUS, "dev", "br0", "nud", "stale")
    time.sleep(1.1)  # past the neighbour entry's lock time
    src_mac, lladdr, body = {
        "ns-own-ip-bogus-slla": (VM1_MAC, NEW_MAC, _ns(V6["vm1"], HOST6, NEW_MAC)),
        "ns-vm2-ip": (VM1_MAC, VM1_MAC, _ns(V6["vm2"], HOST6, VM1_MAC)),
        "na-own-ip-bogus-tlla": (VM1_MAC, NEW_MAC, f.neighbour_advert(V6["vm1"], NEW_MAC)),
        "ns-own-ip-bogus-eth": (NEW_MAC, NEW_MAC, _ns(V6["vm1"], HOST6, NEW_MAC)),
    }[kind]
    src_ip = V6["vm2"] if kind == "ns-vm2-ip" else V6["vm1"]
    _send(topo.vms["vm1"], f.ether(br0, src_mac, 0x86DD, f.icmp6(src_ip, HOST6, body)))
    time.sleep(0.3)
    assert _neigh6(topo.host, "br0", target_ip) != lladdr, kind


def test_honest_neighbour_solicitation_still_teaches_the_host(fw6: Firewall, topo: Topology) -> None:
    """Control for the forged cases: vm1's own NS is learnt by the host."""
    topo.host.run("ip", "-6", "neigh", "replace", V6["vm1"], "lladdr", BOGUS, "dev", "br0", "nud", "stale")
    time.sleep(1.1)
    frame = f.ether(
        _br0_mac(topo), VM1_MAC, 0x86DD, f.icmp6(V6["vm1"], HOST6, _ns(V6["vm1"], HOST6, VM1_MAC))
    )
    _send(topo.vms["vm1"], frame)
    time.sleep(0.3)
    assert _neigh6(topo.host, "br0", V6["vm1"]) == VM1_MAC


def _ext_headers(tag: str) -> dict[str, bytes]:
    src, dst = V6["vm1"], V6["vm2"]
    udp = _udp6(src, dst, 40000, 9, tag.encode())
    pad = struct.pack("!BB", 1, 4) + b"\0" * 4  # PadN filling an 8-byte header
    return {
        "hop-by-hop": _ip6(src, dst, 0, struct.pack("!BB", 17, 0) + pad + udp),
        "dest-opts": _ip6(src, dst, 60, struct.pack("!BB", 17, 0) + pad + udp),
        "atomic-fragment": _ip6(src, dst, 44, struct.pack("!BBHI", 17, 0, 0, 7) + udp),
        "routing-type0": _ip6(src, dst, 43, struct.pack("!BBBB4x", 17, 0, 0, 0) + udp),
        "two-fragments": b"",
    }


@pytest.mark.parametrize(
    "kind", ["plain", "hop-by-hop", "dest-opts", "atomic-fragment", "routing-type0", "two-fragments"]
)
def test_ipv6_extension_headers_do_not_bypass_the_rules(fw6: Firewall, topo: Topology, kind: str) -> None:
    """vm1 -> vm2 UDP 9 over IPv6: neither policy allows it, however it is wrapped."""
    tag = _tag()
    src, dst = V6["vm1"], V6["vm2"]
    if kind == "two-fragments":
        udp = _udp6(src, dst, 40000, 9, b"A" * 16 + tag.encode())
        packets = [
            _ip6(src, dst, 44, struct.pack("!BBHI", 17, 0, 1, 9) + udp[:24]),
            _ip6(src, dst, 44, struct.pack("!BBHI", 17, 0, 3 << 3, 9) + udp[24:]),
        ]
    elif kind == "plain":
        packets = [_ip6(src, dst, 17, _udp6(src, dst, 40000, 9, tag.encode()))]
    else:
        packets = [_ext_headers(tag)[kind]]
    frames = [f.ether(VM2_MAC, VM1_MAC, 0x86DD, p) for p in packets]
    assert not _delivered(topo.vms["vm1"], topo.vms["vm2"], tag, *frames)


@pytest.mark.parametrize("kind", ["dhcpv6-advertise", "redirect", "echo-ll", "all-nodes-udp"])
def test_ipv6_vm_cannot_spoof_dhcpv6_or_redirect_other_vms(fw6: Firewall, topo: Topology, kind: str) -> None:
    tag = _tag()
    src, dst = _ll(VM1_MAC), _ll(VM2_MAC)
    if kind == "dhcpv6-advertise":
        packet = _ip6(src, dst, 17, _udp6(src, dst, 547, 546, b"\x02\x00\x00\x01" + tag.encode()))
    elif kind == "redirect":
        body = (
            struct.pack("!BBHI", 137, 0, 0, 0)
            + socket.inet_pton(socket.AF_INET6, src)
            + socket.inet_pton(socket.AF_INET6, "fd80::10")
            + tag.encode().ljust(16, b"\0")
        )
        packet = f.icmp6(src, dst, body)
    elif kind == "all-nodes-udp":
        packet = _ip6(V6["vm1"], "ff02::1", 17, _udp6(V6["vm1"], "ff02::1", 40000, 9, tag.encode()), hlim=1)
    else:
        packet = f.icmp6(src, dst, struct.pack("!BBHHH", 128, 0, 0, 1, 1) + tag.encode())
    dmac = "33:33:00:00:00:01" if kind == "all-nodes-udp" else VM2_MAC
    frame = f.ether(dmac, VM1_MAC, 0x86DD, packet)
    assert not _delivered(topo.vms["vm1"], topo.vms["vm2"], tag, frame)


# --- revoking an endpoint cuts an established flow ----------------------------------------

ECHO_SERVER = """
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.80.0.10", 3307)); s.listen(1); print("ready", flush=True)
c, _ = s.accept()
while data := c.recv(100):
    c.sendall(data)
"""
CLIENT = """
import socket, sys
c = socket.create_connection(("10.80.0.10", 3307), timeout=2)
for line in sys.stdin:
    c.sendall(line.strip().encode())
    try:
        print(c.recv(100).decode() or "closed", flush=True)
    except OSError as err:
        print(type(err).__name__, flush=True)
"""


def test_revoked_endpoint_cuts_an_open_tcp_flow(fw: Firewall, topo: Topology) -> None:
    if not shutil.which("conntrack"):
        pytest.skip("needs the conntrack tool")
    folder = fw.inventory.parent
    original = (folder / "vm1.yaml").read_text()
    (folder / "vm1.yaml").write_text(
        original.replace(
            "    egress:\n",
            "    egress:\n      - {name: extra, to: 10.80.0.10/32, ports: [3307], protocol: tcp}\n",
        )
    )
    server = topo.services.popen(sys.executable, "-c", ECHO_SERVER, stdout=subprocess.PIPE)
    client, restored = None, False
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
        fw("apply")
        client = topo.vms["vm1"].popen(
            sys.executable, "-c", CLIENT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write("before\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "before", "control: the flow is open"
        (folder / "vm1.yaml").write_text(original)
        fw("apply")
        restored = True
        client.stdin.write("after\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() != "after"
    finally:
        if not restored:
            (folder / "vm1.yaml").write_text(original)
            fw("apply")
        server.kill()
        if client is not None:
            client.kill()


# --- IPv4-only VM to the host over IPv6 (DHCPv6, link-local); inventory validation --------

UDP6_SERVER = """
import socket, struct, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
if len(sys.argv) > 2:
    idx = socket.if_nametoindex("br0")
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                 socket.inet_pton(socket.AF_INET6, sys.argv[2]) + struct.pack("@I", idx))
s.settimeout(1.5); print("ready", flush=True)
try:
    print(s.recvfrom(100)[0].decode())
except TimeoutError:
    print("nothing")
"""


@pytest.mark.parametrize("kind", ["dhcpv6-solicit", "all-nodes"])
def test_ipv4_only_vm_reaches_nothing_on_the_host_over_ipv6(fw: Firewall, topo: Topology, kind: str) -> None:
    port, group = (547, "ff02::1:2") if kind == "dhcpv6-solicit" else (9999, None)
    dst = group or "ff02::1"
    dmac = "33:33:00:01:00:02" if group else "33:33:00:00:00:01"
    server = topo.host.popen(
        sys.executable,
        "-c",
        UDP6_SERVER,
        str(port),
        *([group] if group else []),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    tag = _tag()
    src = _ll(VM1_MAC)
    packet = _ip6(src, dst, 17, _udp6(src, dst, 546, port, tag.encode()), hlim=1)
    _send(topo.vms["vm1"], f.ether(dmac, VM1_MAC, 0x86DD, packet))
    assert server.communicate(timeout=10)[0].strip() == "nothing"


def test_address_outside_the_vm_networks_is_refused(fw: Firewall) -> None:
    inventory = fw.inventory.with_name("outside.yaml")
    inventory.write_text(fw.inventory.read_text().replace("address: 10.70.0.12,", "address: 10.80.0.20,"))
    proc = fw("plan", inventory=inventory, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "10.80.0.20" in proc.stdout + proc.stderr
