"""Parse untrusted hypervisor XML (libvirt domains, .vbox files) safely, with line numbers.

Configuration files can come from anywhere (a VM template off the internet), so the
parser never loads a DTD, never resolves an entity, never touches the network, and any
document with a DOCTYPE is refused outright: neither libvirt nor VirtualBox write one.
lxml is used instead of ElementTree because fact sources need line numbers.
"""

from __future__ import annotations

from lxml import etree

from vmguard.core.errors import DriverError

Element = etree._Element  # what the drivers' XML readers take

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
)


def parse(data: bytes | str, where: str) -> etree._Element:
    """The document's root element; DriverError naming `where` if unsafe or malformed."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as err:
        raise DriverError(f"{where}: not well-formed XML: {err}") from None
    if root.getroottree().docinfo.doctype:
        raise DriverError(f"{where}: refusing XML with a DOCTYPE (DTDs/entities not allowed)")
    return root


def strip_namespaces(root: etree._Element) -> etree._Element:
    """Drop namespaces from tags, so old (innotek) and new .vbox files read alike."""
    for el in root.iter():
        if isinstance(el.tag, str):
            el.tag = etree.QName(el).localname
    etree.cleanup_namespaces(root)
    return root


def path_of(el: etree._Element) -> str:
    """The element's XPath, e.g. /domain/devices/graphics[1]."""
    return el.getroottree().getpath(el)


def to_string(root: etree._Element) -> str:
    return etree.tostring(root, encoding="unicode")


def number(text: str) -> int:
    """'12', '0x1f' -> int; ValueError otherwise (libvirt writes PCI addresses in hex)."""
    text = text.strip()
    return int(text, 16) if text.lower().startswith("0x") else int(text)


def int_attr(el: etree._Element, name: str, default: int = 0) -> int:
    """An integer attribute; DriverError naming the element and line when garbled."""
    raw = el.get(name)
    if raw is None or raw == "":
        return default
    try:
        return number(raw)
    except ValueError:
        raise DriverError(f"line {el.sourceline}: {path_of(el)}/@{name}={raw!r} is not a number") from None
