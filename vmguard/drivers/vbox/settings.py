"""VirtualBox machine settings (.vbox XML; tested on settings versions 1.11-1.19) -> VmFacts.

Absent elements mean defaults, and defaults changed with the settings version: an
absent <AudioAdapter> is "disabled" from 1.16 on, and absent enabledIn/enabledOut mean
"on" up to 1.16 and "off" after (VirtualBox only writes values that differ from the
default of the file's version). Snapshots carry their own <Hardware>; one that differs
from the current hardware is reported, because restoring it brings it back.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmguard.core.errors import DriverError
from vmguard.core.modes import TransferMode
from vmguard.drivers.hostpath import real_path
from vmguard.drivers.safexml import Element, int_attr, path_of
from vmguard.drivers.vbox import names
from vmguard.facts.vm import (
    Attachment,
    AudioFacts,
    Channel,
    Display,
    DisplayProtocol,
    HostDevice,
    Nic,
    PortDevice,
    PortForward,
    PowerState,
    Setting,
    SharedFolder,
    Snapshot,
    Source,
    UsbFacts,
    VmFacts,
)

# Elements VirtualBox writes that vmguard models or knows to be irrelevant to isolation.
KNOWN_MACHINE = frozenset(
    {
        "MediaRegistry",
        "ExtraData",
        "Hardware",
        "StorageControllers",
        "Snapshot",
        "Description",
        "Teleporter",
        "FaultTolerance",
        "Debugging",
        "Autostart",
        "Groups",
    }
)
KNOWN_HARDWARE = frozenset(
    {
        "CPU",
        "Memory",
        "Firmware",
        "HID",
        "Chipset",
        "Iommu",
        "HPET",
        "Boot",
        "Display",
        "VideoCapture",
        "VideoRecording",
        "Recording",
        "RemoteDisplay",
        "BIOS",
        "TrustedPlatformModule",
        "NVRAM",
        "USBController",
        "USB",
        "Network",
        "UART",
        "LPT",
        "AudioAdapter",
        "SharedFolders",
        "Clipboard",
        "DragAndDrop",
        "Guest",
        "GuestProperties",
        "IO",
        "HostPci",
        "EmulatedUSB",
        "Paravirt",
        "RTC",
        "StorageControllers",
        "Platform",
        "GraphicsAdapter",
    }
)
KNOWN_ADAPTER = frozenset({*names.ADAPTER_ELEMENTS, "DisabledModes"})
NAT_PROTOCOLS = {"0": "udp", "1": "tcp"}


@dataclass(frozen=True)
class _Ctx:
    file: str
    version: tuple[int, int]  # settings version, e.g. (1, 16)
    symlinks: frozenset[str]  # share names with symlink creation enabled (ExtraData)

    def src(self, el: Element, attr: str = "") -> Source:
        return Source(path_of(el) + (f"/@{attr}" if attr else ""), self.file, el.sourceline)

    def absent(self, where: str) -> Source:
        return Source(f"{where} (absent: default)", self.file)


def settings_version(root: Element) -> tuple[int, int]:
    """ "1.16-windows" -> (1, 16)."""
    raw = root.get("version", "1.3").split("-")[0]
    major, _, minor = raw.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return (1, 3)


def _true(el: Element | None, attr: str, default: bool = False) -> bool:
    if el is None or el.get(attr) is None:
        return default
    return el.get(attr, "").lower() in ("true", "1", "yes", "on")


def _transfer(ctx: _Ctx, hw: Element, tag: str) -> Setting:
    el = hw.find(tag)
    if el is None or el.get("mode") is None:
        return Setting(TransferMode.DISABLED, ctx.absent(f"{path_of(hw)}/{tag}/@mode"))
    mode = names.TRANSFER_MODES.get(el.get("mode", ""), TransferMode.BIDIRECTIONAL)
    return Setting(mode, ctx.src(el, "mode"))  # an unknown mode is taken as the widest


def _forwards(nat: Element | None) -> tuple[PortForward, ...]:
    if nat is None:
        return ()
    return tuple(
        PortForward(
            name=f.get("name", ""),
            protocol=NAT_PROTOCOLS.get(f.get("proto", "1"), f.get("proto", "")),
            host_ip=f.get("hostip", ""),
            host_port=int_attr(f, "hostport"),
            guest_ip=f.get("guestip", ""),
            guest_port=int_attr(f, "guestport"),
        )
        for f in nat.findall("Forwarding")
    )


def _nic(ctx: _Ctx, el: Element) -> Nic:
    """The attachment is the child that is not under <DisabledModes> (those are only
    remembered settings for modes not in use); no child means 'not attached'."""
    attached = [c for c in el if isinstance(c.tag, str) and c.tag in names.ADAPTER_ELEMENTS]
    child = attached[0] if attached else None
    attachment = Attachment.NONE if child is None else names.ADAPTER_ELEMENTS[child.tag]
    network = "" if child is None else child.get("name", "")
    return Nic(
        index=int_attr(el, "slot"),
        attachment=attachment,
        network=network,
        mac=el.get("MACAddress", ""),
        enabled=_true(el, "enabled"),
        port_forwards=_forwards(child if attachment is Attachment.NAT else None),
        source=ctx.src(el),
        kind="" if child is None else child.tag,
    )


def _shares(ctx: _Ctx, hw: Element) -> tuple[SharedFolder, ...]:
    return tuple(
        SharedFolder(
            name=el.get("name", ""),
            host_path=el.get("hostPath", ""),
            real_path=real_path(el.get("hostPath", "")),
            read_only=not _true(el, "writable"),
            automount=_true(el, "autoMount"),
            symlinks_allowed=el.get("name", "") in ctx.symlinks,
            source=ctx.src(el),
        )
        for el in hw.findall("SharedFolders/SharedFolder")
    )


def _usb(ctx: _Ctx, hw: Element) -> UsbFacts:
    new = hw.findall("USB/Controllers/Controller")
    if new:
        types = tuple(c.get("type", c.get("name", "")).lower() for c in new)
        return UsbFacts(controllers=types, source=ctx.src(new[0]))
    old = hw.find("USBController")  # settings < 1.14: one OHCI (+EHCI) switch
    if old is None or not _true(old, "enabled"):
        where = ctx.src(old, "enabled") if old is not None else ctx.absent("Hardware/USB")
        return UsbFacts(source=where)
    types = ("ohci", "ehci") if _true(old, "enabledEhci") else ("ohci",)
    return UsbFacts(controllers=types, source=ctx.src(old, "enabled"))


def _audio(ctx: _Ctx, hw: Element) -> AudioFacts:
    el = hw.find("AudioAdapter")
    if el is None:  # written always before 1.16; absent from 1.16 on means disabled
        return AudioFacts(enabled=ctx.version < (1, 16), source=ctx.absent("Hardware/AudioAdapter"))
    old_default = ctx.version <= (1, 16)
    enabled = _true(el, "enabled")
    return AudioFacts(
        enabled=enabled,
        input=enabled and _true(el, "enabledIn", old_default),
        output=enabled and _true(el, "enabledOut", old_default),
        driver=el.get("driver", ""),
        source=ctx.src(el, "enabled"),
    )


def _vrde(ctx: _Ctx, hw: Element) -> tuple[Display, ...]:
    el = hw.find("RemoteDisplay")
    if el is None or not _true(el, "enabled"):
        return ()
    props = {p.get("name"): p.get("value", "") for p in el.iter("Property")}
    address = props.get("TCP/Address", el.get("netAddress", ""))
    ports = props.get("TCP/Ports", el.get("port", "3389"))
    return (
        Display(
            protocol=DisplayProtocol.VRDE,
            enabled=True,
            listen=address or names.VRDE_ALL_ADDRESSES,
            port=int(ports) if ports.isdigit() else None,
            authenticated=el.get("authType", names.AUTH_NONE).capitalize() != names.AUTH_NONE,
            source=ctx.src(el),
        ),
    )


def _ports(ctx: _Ctx, hw: Element) -> tuple[PortDevice, ...]:
    out = []
    for kind, path in (("serial", "UART/Port"), ("parallel", "LPT/Port")):
        for el in hw.findall(path):
            if not _true(el, "enabled"):
                continue
            mode = names.PORT_MODES.get(el.get("hostMode", ""), "device")
            if kind == "parallel":
                mode = "device" if el.get("path") else "disconnected"
            out.append(PortDevice(kind, int_attr(el, "slot"), mode, el.get("path", ""), ctx.src(el)))
    return tuple(out)


def _host_devices(ctx: _Ctx, hw: Element) -> tuple[HostDevice, ...]:
    pci = [HostDevice("pci", el.get("host", ""), ctx.src(el)) for el in hw.findall("HostPci/Devices/Device")]
    filters = [
        HostDevice("usb-filter", f"{el.get('vendorId', '*')}:{el.get('productId', '*')}", ctx.src(el))
        for el in hw.findall("USB/DeviceFilters/DeviceFilter") + hw.findall("USBController/DeviceFilter")
        if _true(el, "active")
    ]
    emulated = [
        HostDevice(f"emulated-{el.tag.lower()}", el.get("path", ""), ctx.src(el))
        for el in hw.findall("EmulatedUSB/*")
        if _true(el, "enabled")
    ]
    return tuple(pci + filters + emulated)


def _guest_control(ctx: _Ctx, hw: Element) -> tuple[Channel, ...]:
    """Guest Additions report their version here; their VBoxService runs guest control."""
    for el in hw.findall("GuestProperties/GuestProperty"):
        if el.get("name") == names.ADDITIONS_VERSION and el.get("value"):
            return (Channel("vbox-guest-control", f"Guest Additions {el.get('value')}", ctx.src(el)),)
    return ()


def _nat_loopback(ctx: _Ctx, hw: Element) -> dict[str, str]:
    """Whether each NAT adapter lets the guest reach the host's 127.0.0.1: VirtualBox 7.0
    (settings 1.19) made it opt-in (`localhost-reachable`); before, it always could."""
    out = {}
    for adapter in hw.findall("Network/Adapter"):
        nat = adapter.find("NAT")
        if nat is not None:
            default = "false" if ctx.version >= (1, 19) else "true"
            key = names.LOCALHOST_REACHABLE.format(int_attr(adapter, "slot"))
            out[key] = nat.get("localhost-reachable", default)
    return out


def _unknown(ctx: _Ctx, machine: Element, hw: Element) -> tuple[str, ...]:
    found = []
    for parent, known in ((machine, KNOWN_MACHINE), (hw, KNOWN_HARDWARE)):
        found += [el for el in parent if isinstance(el.tag, str) and el.tag not in known]
    for adapter in hw.findall("Network/Adapter"):
        found += [el for el in adapter if isinstance(el.tag, str) and el.tag not in KNOWN_ADAPTER]
    return tuple(
        f"{ctx.file}:{el.sourceline}: {path_of(el)}: <{el.tag}> is not known to vmguard" for el in found
    )


def _hardware_facts(ctx: _Ctx, hw: Element) -> dict[str, object]:
    """The facts held in one <Hardware> (the machine's own or a snapshot's)."""
    return {
        "nics": tuple(_nic(ctx, el) for el in hw.findall("Network/Adapter")),
        "shared_folders": _shares(ctx, hw),
        "clipboard": _transfer(ctx, hw, "Clipboard"),
        "drag_and_drop": _transfer(ctx, hw, "DragAndDrop"),
        "usb": _usb(ctx, hw),
        "audio": _audio(ctx, hw),
        "displays": _vrde(ctx, hw),
        "ports": _ports(ctx, hw),
        "host_devices": _host_devices(ctx, hw),
    }


def _symlink_shares(machine: Element) -> frozenset[str]:
    return frozenset(
        el.get("name", "")[len(names.SYMLINKS_KEY) :]
        for el in machine.findall("ExtraData/ExtraDataItem")
        if el.get("name", "").startswith(names.SYMLINKS_KEY) and el.get("value") == "1"
    )


def _summary(hw: dict[str, object]) -> dict[str, str]:
    """The security-relevant content of hardware facts, without sources or MACs."""
    f = VmFacts(name="", driver="", **hw)  # type: ignore[arg-type]
    nics = (
        f"nic{n.index}={n.attachment.value}"
        + (f"({n.network})" if n.network else "")
        + (f"+{len(n.port_forwards)} forwards" if n.port_forwards else "")
        for n in f.nics
        if n.enabled
    )
    shares = (
        f"{s.name}->{s.host_path}({'ro' if s.read_only else 'rw'}"
        f"{',automount' if s.automount else ''}{',symlinks' if s.symlinks_allowed else ''})"
        for s in f.shared_folders
    )
    return {
        "network": ", ".join(nics) or "none",
        "shared folders": ", ".join(shares) or "none",
        "clipboard": f.clipboard.value.value,
        "drag and drop": f.drag_and_drop.value.value,
        "usb": ",".join(f.usb.controllers) or "none",
        "audio": "enabled" if f.audio.enabled else "disabled",
        "remote display": ", ".join(f"{d.protocol.value} on {d.listen}" for d in f.displays) or "off",
        "ports": ", ".join(f"{p.kind}{p.index}={p.mode}" for p in f.ports) or "none",
        "host devices": ", ".join(f"{h.kind} {h.address}" for h in f.host_devices) or "none",
    }


def _snapshots(ctx: _Ctx, machine: Element, current: dict[str, object]) -> tuple[Snapshot, ...]:
    now = _summary(current)
    out = []
    for snap in machine.iter("Snapshot"):
        hw = snap.find("Hardware")
        if hw is None:
            continue
        saved = _summary(_hardware_facts(ctx, hw))
        diffs = tuple(f"{key}: {saved[key]} (now {now[key]})" for key in now if saved[key] != now[key])
        if diffs:
            out.append(Snapshot(snap.get("name", ""), diffs, ctx.src(snap)))
    return tuple(out)


def facts_from_settings(root: Element, file: str) -> VmFacts:
    """The facts of one namespace-stripped <VirtualBox> settings document."""
    machine = root.find("Machine")
    hw = None if machine is None else machine.find("Hardware")
    if machine is None or hw is None:
        raise DriverError(f"{file}: no <Machine>/<Hardware>: not a VirtualBox machine settings file")
    ctx = _Ctx(file, settings_version(root), _symlink_shares(machine))
    current = _hardware_facts(ctx, hw)
    return VmFacts(
        name=machine.get("name", ""),
        driver="vbox-file",
        uuid=machine.get("uuid", "").strip("{}"),
        power_state=PowerState.SAVED if machine.get("stateFile") else PowerState.UNKNOWN,
        channels=_guest_control(ctx, hw),
        unknown=_unknown(ctx, machine, hw),
        snapshots=_snapshots(ctx, machine, current),
        extra={"settings_version": root.get("version", ""), **_nat_loopback(ctx, hw)},
        **current,  # type: ignore[arg-type]
    )
