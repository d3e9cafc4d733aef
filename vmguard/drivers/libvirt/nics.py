"""libvirt <interface> and <network> XML -> Nic facts: what each NIC is attached to.

An interface of type 'network' reaches what its network forwards to (NAT, routed,
bridged) or, with no <forward>, only the host: host-only. Other interface types say
what they reach themselves (user networking is QEMU's NAT).
"""

from __future__ import annotations

from collections.abc import Callable

from vmguard.drivers.safexml import Element, int_attr
from vmguard.facts.vm import Attachment, Nic, PortForward, Source

# network name -> Attachment of that libvirt network (None when it does not exist)
NetworkLookup = Callable[[str], Attachment | None]
# <forward mode=...> of a libvirt network -> what a NIC on it reaches.
FORWARD_MODES = {
    "nat": Attachment.NAT,
    "route": Attachment.BRIDGED,  # routed onto the host's network, no NAT
    "open": Attachment.BRIDGED,
    "bridge": Attachment.BRIDGED,
    "private": Attachment.BRIDGED,
    "vepa": Attachment.BRIDGED,
    "passthrough": Attachment.BRIDGED,
    "hostdev": Attachment.BRIDGED,
}
INTERFACE_TYPES = {
    "user": Attachment.USER,
    "bridge": Attachment.BRIDGED,
    "direct": Attachment.BRIDGED,
    "hostdev": Attachment.BRIDGED,
    "vdpa": Attachment.BRIDGED,
    "mcast": Attachment.INTERNAL,
    "server": Attachment.INTERNAL,
    "client": Attachment.INTERNAL,
    "udp": Attachment.INTERNAL,
    "null": Attachment.NONE,
}


def network_attachment_of(network_xml: Element) -> Attachment:
    """A libvirt <network> without <forward> is isolated: host-only."""
    forward = network_xml.find("forward")
    if forward is None:
        return Attachment.HOST_ONLY
    return FORWARD_MODES.get(forward.get("mode", "nat"), Attachment.OTHER)


def nic(index: int, el: Element, lookup: NetworkLookup, origin: Source) -> Nic:
    """One <interface>: what it is attached to (networks through `lookup`), MAC, link."""
    kind = el.get("type", "")
    source = el.find("source")
    network = "" if source is None else source.get("network") or source.get("bridge") or ""
    if kind == "direct" and source is not None:
        network = source.get("dev", "")
    if kind == "network":
        attachment = lookup(network) or Attachment.OTHER
    else:
        attachment = INTERFACE_TYPES.get(kind, Attachment.OTHER)
    link = el.find("link")
    mac = el.find("mac")
    target = el.find("target")
    return Nic(
        index=index,
        attachment=attachment,
        network=network,
        mac="" if mac is None else mac.get("address", ""),
        enabled=link is None or link.get("state", "up") != "down",
        port_forwards=tuple(_port_forwards(el)),
        source=origin,
        port="" if target is None else target.get("dev", ""),
        kind=kind,
    )


def _port_forwards(el: Element) -> list[PortForward]:
    """libvirt's passt/user backend: <portForward proto address><range start to/>."""
    out = []
    for fwd in el.findall("portForward"):
        for rng in fwd.findall("range"):
            start = int_attr(rng, "start")
            out.append(
                PortForward(
                    name=f"{fwd.get('proto', 'tcp')}/{start}",
                    protocol=fwd.get("proto", "tcp"),
                    host_ip=fwd.get("address", ""),
                    host_port=start,
                    guest_ip="",
                    guest_port=int_attr(rng, "to", start),
                )
            )
    return out
