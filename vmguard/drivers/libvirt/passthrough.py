"""libvirt's QEMU passthrough elements -> Passthrough facts.

<qemu:commandline>, <qemu:override> and <qemu:capabilities> hand arguments, device
properties and feature flags to QEMU past libvirt's <devices>: one `-netdev user` there is
a NAT NIC that no <interface> shows. They are read by namespace, whatever its prefix.
"""

from __future__ import annotations

from vmguard.drivers.safexml import Element, path_of
from vmguard.facts.vm import Passthrough, Source

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
KINDS = ("commandline", "override", "capabilities")


def _words(el: Element) -> str:
    """Every attribute value below `el`, in document order: the arguments, env entries,
    properties and capabilities it passes."""
    values = [v for child in el.iter() if isinstance(child.tag, str) for v in child.attrib.values()]
    return " ".join(values) or "(empty)"


def passthrough(root: Element, file: str | None = None) -> tuple[Passthrough, ...]:
    """The QEMU passthrough elements of a <domain>, each with what it passes."""
    found = []
    for kind in KINDS:
        for el in root.iter(f"{{{QEMU_NS}}}{kind}"):
            found.append(Passthrough(kind, _words(el), Source(path_of(el), file, el.sourceline)))
    return tuple(found)
