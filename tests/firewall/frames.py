"""Hand-made Ethernet frames, sent and watched with raw sockets, for the frame-level tests
(spoofing from another bridge port, VLAN tags, other ethertypes, neighbour discovery).

As a script, inside a test namespace:
    frames.py send IFACE HEX...           send each frame (hex) out of IFACE
    frames.py sniff IFACE SECONDS MARKER  print "ready", then the number of frames
                                          that carry MARKER seen within SECONDS
The builders below are imported by the tests.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ether(dst: str, src: str, ethertype: int, payload: bytes, vlan: int | None = None) -> bytes:
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return mac(dst) + mac(src) + tag + struct.pack("!H", ethertype) + payload


def udp4(src: str, dst: str, dport: int, data: bytes, sport: int = 40000) -> bytes:
    """An IPv4 UDP packet (UDP checksum 0: none, allowed in IPv4)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst)
    )
    head = head[:10] + struct.pack("!H", _sum16(head)) + head[12:]
    return head + udp


def icmp6(src: str, dst: str, body: bytes) -> bytes:
    """An IPv6 packet carrying ICMPv6 `body` (type, code, 0 checksum, rest), hop limit 255."""
    s, d = ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed
    pseudo = s + d + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", _sum16(pseudo + body)) + body[4:]
    return struct.pack("!IHBB", 0x60000000, len(body), 58, 255) + s + d + body


def neighbour_advert(target: str, lladdr: str) -> bytes:
    """ICMPv6 NA (override flag) for `target`, target link-layer option `lladdr`."""
    flags = 0x20000000  # override
    return (
        struct.pack("!BBHI", 136, 0, 0, flags)
        + ipaddress.IPv6Address(target).packed
        + struct.pack("!BB", 2, 1)
        + mac(lladdr)
    )


def send(iface: str, frames: list[bytes]) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((iface, 0))
        for frame in frames:
            sock.send(frame)


def sniff(iface: str, seconds: float, marker: bytes) -> int:
    seen = 0
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.bind((iface, 0))
        print("ready", flush=True)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if select.select([sock], [], [], left)[0] and marker in sock.recv(65535):
                seen += 1
    return seen


def main(argv: list[str]) -> None:
    if argv[0] == "send":
        send(argv[1], [bytes.fromhex(h) for h in argv[2:]])
    else:
        print(sniff(argv[1], float(argv[2]), argv[3].encode()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
