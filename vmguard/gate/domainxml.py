"""The domain XML libvirt hands its hook on stdin -> VmFacts, without calling libvirt.

A libvirt hook must never call back into libvirtd (the daemon waits for the hook while
holding the domain: a call back deadlocks it). The domain comes from stdin; the kind of
each network a NIC names is read from the network's definition on disk, where libvirtd
keeps it: its persistent config (/etc/libvirt/qemu/networks) or, for a transient network,
its status file (/run/libvirt/network). A network found in neither stays unknown, which
the rules judge as not host-only.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vmguard.core.errors import DriverError
from vmguard.drivers import safexml
from vmguard.drivers.libvirt.facts import facts_from_xml
from vmguard.drivers.libvirt.nics import network_attachment_of
from vmguard.drivers.safexml import Element
from vmguard.facts.vm import Attachment, HostOnly, PowerState, VmFacts
from vmguard.inventory.model import Connection

NETWORK_DIRS = (Path("/etc/libvirt/qemu/networks"), Path("/run/libvirt/network"))
DOMAIN_DIR = Path("/etc/libvirt/qemu")  # libvirtd's saved definitions, secrets included
MAX_XML = 4 << 20  # a domain XML is kilobytes; more is not libvirt talking


def _network_xml(name: str, dirs: tuple[Path, ...]) -> Element | None:
    """libvirt network `name`'s <network>, from its definition or status file."""
    if not name or "/" in name or name.startswith("."):
        return None
    for folder in dirs:
        path = folder / f"{name}.xml"
        if path.is_file():
            root = safexml.parse(path.read_bytes()[:MAX_XML], f"network {name}")
            return root if root.tag == "network" else root.find("network")
    return None


def network_from_disk(name: str, dirs: tuple[Path, ...] = NETWORK_DIRS) -> Attachment | None:
    """The attachment kind of libvirt network `name` (None: not found)."""
    network = _network_xml(name, dirs)
    return None if network is None else network_attachment_of(network)


def bridge_from_disk(conn: Connection, network: str, dirs: tuple[Path, ...] = NETWORK_DIRS) -> str:
    """firewall.interfaces.BridgeOf without libvirt: the bridge of an isolated network."""
    root = _network_xml(network, dirs)
    bridge = None if root is None else root.find("bridge")
    if root is None or network_attachment_of(root) is not Attachment.HOST_ONLY or bridge is None:
        raise DriverError(f"{conn.name}: network {network} is not an isolated network defined on this host")
    return bridge.get("name", "")


def _with_passwords(root: Element, folder: Path) -> None:
    """libvirt hands its hooks the domain XML without secrets: a display password is left
    out, and the display would look unauthenticated. The domain's saved definition (root's
    only) has it; only whether each display has one is taken from there, by position and
    type, and only for a display whose XML on stdin has none."""
    name = root.findtext("name", "")
    shown = root.findall("devices/graphics")
    path = folder / f"{name}.xml"
    if not any(g.get("passwd") is None for g in shown) or "/" in name or name.startswith("."):
        return
    if not path.is_file():
        return  # a transient domain: its displays stay as libvirt showed them
    saved = safexml.parse(path.read_bytes()[:MAX_XML], f"saved definition of {name}").findall(
        "devices/graphics"
    )
    for el, kept in zip(shown, saved, strict=False):
        if el.get("passwd") is None and kept.get("type") == el.get("type") and kept.get("passwd"):
            el.set("passwd", kept.get("passwd"))


def facts_from_stdin(
    data: bytes, host_only: HostOnly | None, power: PowerState, domains: Path = DOMAIN_DIR
) -> VmFacts:
    """The facts of the domain libvirt is about to start (or has started)."""
    if len(data) > MAX_XML:
        raise DriverError(f"domain XML on stdin is over {MAX_XML} bytes")
    root = safexml.parse(data, "domain XML from libvirt (hook stdin)")
    if root.tag != "domain":
        raise DriverError(f"hook stdin is a <{root.tag}>, not a <domain>")
    _with_passwords(root, domains)
    facts = facts_from_xml(root, lookup=network_from_disk, power=power)
    return replace(facts, host_only=host_only)
