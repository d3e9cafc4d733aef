"""Send one ARP reply out of IFACE: arp_send.py IFACE FRAME_MAC SENDER_MAC SENDER_IP TARGET_MAC TARGET_IP.

FRAME_MAC is the Ethernet source, SENDER_MAC/SENDER_IP the ARP body's sender: the tests
forge either, as a VM trying to poison a neighbour table would.
"""

from __future__ import annotations

import socket
import struct
import sys

ETH_P_ARP = 0x0806
ARP_REPLY = 2


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def frame(frame_mac: str, sender_mac: str, sender_ip: str, target_mac: str, target_ip: str) -> bytes:
    eth = _mac(target_mac) + _mac(frame_mac) + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, ARP_REPLY)  # Ethernet, IPv4
    arp += _mac(sender_mac) + socket.inet_aton(sender_ip)
    arp += _mac(target_mac) + socket.inet_aton(target_ip)
    return eth + arp


def main(iface: str, *fields: str) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((iface, 0))
        sock.send(frame(*fields))


if __name__ == "__main__":
    main(*sys.argv[1:])
