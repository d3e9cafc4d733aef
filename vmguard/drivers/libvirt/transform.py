"""Apply plan changes to a libvirt domain's persistent XML (pure: tree in, tree out).

Every change is resolved to elements first and only then mutated, so per-item targets
(NIC 0 and NIC 2) keep their meaning, and a change that cannot be made raises before
anything is touched: the caller defines the whole result or nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from lxml import etree

from vmguard.checks.unit import Action
from vmguard.core.errors import DriverError
from vmguard.drivers.safexml import Element
from vmguard.enforce.plan import Change
from vmguard.facts.vm import HostOnly, HostOnlyKind

Step = Callable[[], None]

# Devices that need a USB bus: with model='none' libvirt refuses a domain that has them.
USB_DEVICES = (
    "redirdev",
    "redirfilter",
    "hub",
    "smartcard",
    "input[@bus='usb']",
    "hostdev[@type='usb']",
)
# Devices that exist only for SPICE: they must go with the last SPICE display.
SPICE_DEVICES = (
    "channel[@type='spicevmc']",
    "channel[@type='spiceport']",
    "redirdev[@type='spicevmc']",
    "smartcard[@type='passthrough']",
    "audio[@type='spice']",
)


def _devices(root: Element) -> Element:
    devices = root.find("devices")
    if devices is None:
        devices = etree.SubElement(root, "devices")
    return devices


def _remove(root: Element, xpaths: tuple[str, ...]) -> None:
    devices = _devices(root)
    for xpath in xpaths:
        for el in devices.findall(xpath):
            devices.remove(el)


def _switch(parent: Element, tag: str, attr: str, value: str) -> None:
    el = parent.find(tag)
    if el is None:
        el = etree.SubElement(parent, tag)
    el.set(attr, value)


def _mac(nic: Element) -> str:
    el = nic.find("mac")
    return "" if el is None else el.get("address", "").lower()


def find_nic(root: Element, target: str) -> Element:
    """A NIC by MAC ("index/mac"), else by position: live and persistent XML can list
    different NICs (after a next-boot change), but a MAC names the same one in both."""
    index, _, mac = target.partition("/")
    nics = _devices(root).findall("interface")
    if mac:
        found = [n for n in nics if _mac(n) == mac.lower()]
    else:
        found = [nics[int(index)]] if index.isdigit() and int(index) < len(nics) else []
    if not found:
        raise DriverError(f"no NIC {target} in the domain (it changed since the plan was made)")
    return found[0]


# What a NIC keeps when it moves: its identity (MAC, model, PCI address, boot order) and
# settings that do not depend on where it is attached. The rest (source, user-mode <ip>,
# <portForward>, passt <backend>, macvtap <virtualport>, a fixed <target dev>) goes.
NIC_KEEPS = frozenset(
    {
        "mac",
        "model",
        "address",
        "boot",
        "rom",
        "mtu",
        "driver",
        "alias",
        "link",
        "filterref",
        "bandwidth",
        "coalesce",
        "tune",
        "acpi",
    }
)


def moved_nic(nic: Element, to: HostOnly) -> Element:
    """A copy of `nic` attached to the host-only network `to` (same MAC and model)."""
    if to.kind not in (HostOnlyKind.NETWORK, HostOnlyKind.BRIDGE):
        raise DriverError(f"libvirt cannot attach a NIC to a {to.kind.value}")
    out = copy.deepcopy(nic)
    for child in list(out):
        if not isinstance(child.tag, str) or child.tag not in NIC_KEEPS:
            out.remove(child)
    for attr in list(out.attrib):
        del out.attrib[attr]
    out.set("type", to.kind.value)
    source = etree.Element("source", {to.kind.value: to.name})
    mac = out.find("mac")
    out.insert(0 if mac is None else out.index(mac) + 1, source)
    return out


def is_on(nic: Element, to: HostOnly) -> bool:
    source = nic.find("source")
    return nic.get("type") == to.kind.value and source is not None and source.get(to.kind.value) == to.name


def _move(root: Element, change: Change) -> Step:
    if change.destination is None:
        raise DriverError(f"{change.subject}: no host-only network to move it to")
    el = find_nic(root, change.target)
    new = moved_nic(el, change.destination)
    return lambda: el.getparent().replace(el, new)


def _share(root: Element, name: str) -> Element:
    for el in _devices(root).findall("filesystem"):
        target = el.find("target")
        if target is not None and target.get("dir") == name:
            return el
    raise DriverError(f"no shared folder {name!r} in the domain")


def _no_symlinks(el: Element) -> None:
    """9p in 'mapped' mode stores guest symlinks as plain files + xattrs on the host."""
    driver = el.find("driver")
    if driver is not None and driver.get("type") == "virtiofs":
        raise DriverError(
            f"share {el.find('target').get('dir')!r}: virtiofs cannot refuse guest symlinks; "
            "make it read-only or use 9p"
        )
    el.set("accessmode", "mapped")


def _graphics(root: Element, protocol: str) -> list[Element]:
    found = _devices(root).findall(f"graphics[@type='{protocol}']")
    if not found:
        raise DriverError(f"no {protocol} display in the domain")
    return found


def _remove_display(root: Element, protocol: str) -> None:
    devices = _devices(root)
    for el in _graphics(root, protocol):
        devices.remove(el)
    if devices.find("graphics[@type='spice']") is None:
        _remove(root, SPICE_DEVICES)


def _listen_localhost(root: Element, protocol: str) -> None:
    for el in _graphics(root, protocol):
        for listen in el.findall("listen"):
            el.remove(listen)
        el.set("listen", "127.0.0.1")
        etree.SubElement(el, "listen", type="address", address="127.0.0.1")


def _clipboard_off(root: Element) -> None:
    for el in _devices(root).findall("graphics[@type='spice']"):
        _switch(el, "clipboard", "copypaste", "no")
    for el in _devices(root).findall("channel[@type='qemu-vdagent']/source/clipboard"):
        el.set("copypaste", "no")


def _file_transfer_off(root: Element) -> None:
    for el in _devices(root).findall("graphics[@type='spice']"):
        _switch(el, "filetransfer", "enable", "no")


def _usb_off(root: Element) -> None:
    _remove(root, (*USB_DEVICES, "controller[@type='usb']"))
    # No <controller type='usb'> at all makes libvirt add a default one.
    etree.SubElement(_devices(root), "controller", type="usb", index="0", model="none")


def _audio_off(root: Element) -> None:
    devices = _devices(root)
    for el in devices.findall("sound"):
        if el.get("model") != "pcspk":  # the PC speaker is not an audio channel out
            devices.remove(el)
    if devices.find("sound") is None:
        _remove(root, ("audio",))


def _serial_off(root: Element) -> None:
    devices = _devices(root)
    _remove(root, ("serial",))
    # A console targeting a serial port makes libvirt recreate the serial port.
    for el in devices.findall("console"):
        target = el.find("target")
        if target is None or target.get("type", "serial") == "serial":
            devices.remove(el)


def _guest_agent_off(root: Element) -> None:
    devices = _devices(root)
    for el in devices.findall("channel"):
        if el.find("target[@name='org.qemu.guest_agent.0']") is not None:
            devices.remove(el)


def saved(root: Element, change: Change) -> bool:
    """True when the persistent definition no longer has the NIC or share a change
    removes, or has the NIC moved already: an earlier apply saved it for the next boot,
    only the running VM differs."""
    try:
        if change.action is Action.DETACH_NIC:
            find_nic(root, change.target)
        elif change.action is Action.MOVE_NIC and change.destination is not None:
            return is_on(find_nic(root, change.target), change.destination)
        elif change.action is Action.REMOVE_SHARE:
            _share(root, change.target)
        else:
            return False
    except DriverError:
        return True
    return False


def _step(root: Element, change: Change) -> Step:
    """Resolve one change to a mutation, raising now if its target is missing."""
    act, target = change.action, change.target
    if act is Action.DETACH_NIC:
        el = find_nic(root, target)
        return lambda: _devices(root).remove(el)
    if act is Action.MOVE_NIC:
        return _move(root, change)
    if act is Action.REMOVE_SHARE:
        el = _share(root, target)
        return lambda: _devices(root).remove(el)
    if act is Action.SET_SHARE_READONLY:
        el = _share(root, target)
        return lambda: None if el.find("readonly") is not None else etree.SubElement(el, "readonly")
    if act is Action.DISABLE_SHARE_SYMLINKS:
        el = _share(root, target)
        _no_symlinks(copy.deepcopy(el))  # raises for virtiofs before anything changes
        return lambda: _no_symlinks(el)
    if act in (Action.DISABLE_REMOTE_DISPLAY, Action.LISTEN_LOCALHOST):
        _graphics(root, target)
        fn = _remove_display if act is Action.DISABLE_REMOTE_DISPLAY else _listen_localhost
        return lambda: fn(root, target)
    simple: dict[Action, Callable[[Element], None]] = {
        Action.SET_CLIPBOARD: _clipboard_off,
        Action.SET_DRAG_AND_DROP: _file_transfer_off,
        Action.REMOVE_USB: _usb_off,
        Action.REMOVE_AUDIO: _audio_off,
        Action.REMOVE_SERIAL_PORTS: _serial_off,
        Action.REMOVE_PARALLEL_PORTS: lambda r: _remove(r, ("parallel",)),
        Action.REMOVE_HOST_DEVICES: lambda r: _remove(r, ("hostdev",)),
        Action.REMOVE_GUEST_AGENT: _guest_agent_off,
    }
    if act not in simple:
        raise DriverError(f"libvirt cannot {act.value} ({change.subject})")
    return lambda: simple[act](root)


def transform(root: Element, changes: tuple[Change, ...]) -> Element:
    """A changed copy of the domain XML; `root` itself is left as it was."""
    out = copy.deepcopy(root)
    steps = [_step(out, c) for c in changes]
    for step in steps:
        step()
    return out
