"""libvirt domain XML -> VmFacts (pure: no connection; networks come from a lookup).

Semantics follow what the host enforces: SPICE clipboard and file transfer exist only
through the spice-vdagent channel and are switched off by <clipboard copypaste='no'/>
and <filetransfer enable='no'/> (QEMU's disable-copy-paste / disable-agent-file-xfer).
"""

from __future__ import annotations

import re

from vmguard.core.modes import TransferMode
from vmguard.drivers.hostpath import real_path
from vmguard.drivers.libvirt.nics import NetworkLookup, nic
from vmguard.drivers.libvirt.passthrough import passthrough
from vmguard.drivers.safexml import Element, number, path_of
from vmguard.facts.vm import (
    AudioFacts,
    Channel,
    Disk,
    Display,
    DisplayProtocol,
    HostDevice,
    PortDevice,
    PowerState,
    Setting,
    SharedFolder,
    Source,
    UsbFacts,
    VmFacts,
)

VDAGENT = "com.redhat.spice.0"
GUEST_AGENT = "org.qemu.guest_agent.0"
# Devices vmguard models, or knows to be harmless for isolation. Anything else under
# <devices> (shmem, vsock, smartcard, crypto...) is reported in VmFacts.unknown.
KNOWN_DEVICES = frozenset(
    {
        "emulator",
        "disk",
        "controller",
        "interface",
        "filesystem",
        "serial",
        "parallel",
        "console",
        "channel",
        "input",
        "graphics",
        "video",
        "sound",
        "audio",
        "hostdev",
        "redirdev",
        "redirfilter",
        "memballoon",
        "rng",
        "tpm",
        "watchdog",
        "panic",
        "iommu",
        "nvram",
        "memory",
        "pstore",
        "hub",
    }
)


class _Ctx:
    """The parsed domain and where it came from, to build Sources."""

    def __init__(self, root: Element, file: str | None) -> None:
        self.root = root
        self.file = file

    def src(self, el: Element, attr: str = "") -> Source:
        where = path_of(el) + (f"/@{attr}" if attr else "")
        return Source(where, self.file, el.sourceline)

    def devices(self, tag: str) -> list[Element]:
        return self.root.findall(f"devices/{tag}")


def _mapped(el: Element) -> bool:
    """9p 'mapped' modes store a guest's symlink as a plain file (+ xattrs) on the host;
    passthrough, squash and virtiofs create real symlinks there."""
    driver = el.find("driver")
    virtiofs = driver is not None and driver.get("type") == "virtiofs"
    return not virtiofs and el.get("accessmode") in ("mapped", "mapped-file")


def _share(ctx: _Ctx, el: Element) -> SharedFolder:
    source, target = el.find("source"), el.find("target")
    host = "" if source is None else source.get("dir") or source.get("file") or ""
    read_only = el.find("readonly") is not None
    return SharedFolder(
        name="" if target is None else target.get("dir", ""),
        host_path=host,
        real_path=real_path(host),
        read_only=read_only,
        automount=False,  # libvirt has no automount: the guest mounts the tag itself
        symlinks_allowed=not read_only and not _mapped(el),
        source=ctx.src(el),
    )


def _channels(ctx: _Ctx) -> list[Channel]:
    out = []
    for el in ctx.devices("channel"):
        target = el.find("target")
        name = "" if target is None else target.get("name", "")
        kind = {VDAGENT: "spice-vdagent", GUEST_AGENT: "qemu-ga"}.get(name, el.get("type", ""))
        out.append(Channel(kind=kind, name=name, source=ctx.src(el)))
    return out


def _spice_agent_mode(ctx: _Ctx, child: str, attr: str, on: TransferMode) -> Setting:
    """Clipboard / file transfer: on when SPICE and the vdagent channel are both present
    and the graphics element does not switch it off."""
    has_agent = any(c.kind == "spice-vdagent" for c in _channels(ctx))
    for graphics in ctx.devices("graphics[@type='spice']"):
        switch = graphics.find(child)
        if switch is not None and switch.get(attr) == "no":
            continue
        if has_agent:
            return Setting(on, ctx.src(graphics if switch is None else switch))
    return Setting(TransferMode.DISABLED, Source("/domain/devices/graphics[@type='spice']"))


def _vdagent_clipboard(ctx: _Ctx) -> Setting | None:
    """QEMU's own vdagent (VNC clipboard): <channel type='qemu-vdagent'><source><clipboard>."""
    for el in ctx.devices("channel[@type='qemu-vdagent']/source/clipboard"):
        if el.get("copypaste") == "yes":
            return Setting(TransferMode.BIDIRECTIONAL, ctx.src(el, "copypaste"))
    return None


def _display(ctx: _Ctx, el: Element) -> Display | None:
    kind = el.get("type", "")
    if kind not in ("spice", "vnc", "rdp"):
        return None  # sdl/egl-headless/dbus: local displays, no network listener
    listen_el = el.find("listen")
    listen = el.get("listen", "")
    if listen_el is not None:
        listen = listen_el.get("address", listen) if listen_el.get("type") == "address" else ""
        if listen_el.get("type") == "none":
            listen = "none"  # no listener at all: only local clients handed an fd
        if listen_el.get("type") == "socket":
            listen = "unix:" + listen_el.get("socket", "")
    port = el.get("port")
    return Display(
        protocol=DisplayProtocol(kind),
        enabled=True,
        # No address: libvirt falls back to qemu.conf's spice/vnc_listen (127.0.0.1 by
        # default); "" says we could not see it in the domain itself.
        listen=listen,
        port=int(port) if port and port.lstrip("-").isdigit() and int(port) > 0 else None,
        authenticated=bool(el.get("passwd")),
        source=ctx.src(el),
    )


def _usb(ctx: _Ctx) -> UsbFacts:
    declared = ctx.devices("controller[@type='usb']")
    models = [c.get("model", "default") for c in declared if c.get("model") != "none"]
    if not declared:
        models = ["implicit"]  # libvirt adds a default USB controller when none is declared
    redirs = ctx.devices("redirdev")
    first = (declared + redirs)[:1]
    return UsbFacts(
        controllers=tuple(models),
        redirections=len(redirs),
        source=ctx.src(first[0]) if first else Source("/domain/devices/controller[@type='usb']"),
    )


def _audio(ctx: _Ctx) -> AudioFacts:
    sounds = [s for s in ctx.devices("sound") if s.get("model") != "pcspk"]
    audio = ctx.devices("audio")
    driver = audio[0].get("type", "") if audio else ""
    if not sounds:
        return AudioFacts(source=Source("/domain/devices/sound"))
    return AudioFacts(
        enabled=True,
        input=driver != "none",
        output=driver != "none",
        driver=sounds[0].get("model", ""),
        source=ctx.src(sounds[0]),
    )


def _ports(ctx: _Ctx) -> list[PortDevice]:
    out = []
    for kind in ("serial", "parallel"):
        for i, el in enumerate(ctx.devices(kind)):
            source = el.find("source")
            target = ""
            if source is not None:
                target = source.get("path") or source.get("host") or source.get("service") or ""
                if source.get("service") and source.get("host"):
                    target = f"{source.get('host')}:{source.get('service')}"
            mode = el.get("type", "")
            out.append(PortDevice(kind, i, "disconnected" if mode == "null" else mode, target, ctx.src(el)))
    return out


def _hostdev_address(el: Element) -> str:
    addr = el.find("source/address")
    vendor, product = el.find("source/vendor"), el.find("source/product")
    if vendor is not None and product is not None:
        return f"{vendor.get('id', '')}:{product.get('id', '')}"
    if addr is None:
        return ""
    if el.get("type") == "pci":
        parts = [addr.get(k, "0") for k in ("domain", "bus", "slot", "function")]
        try:
            dom, bus, slot, fn = (number(p) for p in parts)
        except ValueError:  # still a passed-through device: report what is written
            return ":".join(parts)
        return f"{dom:04x}:{bus:02x}:{slot:02x}.{fn:x}"
    return ":".join(f"{k}={addr.get(k)}" for k in ("bus", "device") if addr.get(k))


def _host_devices(ctx: _Ctx) -> list[HostDevice]:
    return [
        HostDevice(el.get("type", ""), _hostdev_address(el), ctx.src(el)) for el in ctx.devices("hostdev")
    ]


LOCAL_DISKS = ("file", "block")


def _disk(ctx: _Ctx, el: Element) -> Disk:
    """One <disk>: a local file or block device by path; a pool volume by pool/volume
    (the driver resolves it to a path); any other type (network, vhostuser, nvme, ...)
    with the reason vmguard cannot open it."""
    source, driver = el.find("source"), el.find("driver")
    kind = el.get("type", "file")
    fmt = "" if driver is None else driver.get("type", "")
    common = {"format": fmt, "read_only": el.find("readonly") is not None, "source": ctx.src(el)}
    if source is None:
        return Disk("", **common)  # an empty CD drive: nothing to read
    if kind in LOCAL_DISKS:
        return Disk(source.get("file") or source.get("dev") or "", **common)
    if kind == "volume":
        return Disk("", volume=f"{source.get('pool', '')}/{source.get('volume', '')}", **common)
    what = f"{source.get('protocol', '')} {source.get('name', '')}".strip()
    return Disk(
        "",
        problem=f"{kind} disk{f' ({what})' if what else ''}: vmguard opens only "
        "local files, block devices and pool volumes",
        **common,
    )


def _disks(ctx: _Ctx) -> list[Disk]:
    return [_disk(ctx, el) for el in ctx.devices("disk")]


def _unknown(ctx: _Ctx) -> list[str]:
    devices = ctx.root.find("devices")
    children = [] if devices is None else list(devices)
    return [
        f"{path_of(el)} (line {el.sourceline}): <{el.tag}> is not modeled by vmguard"
        for el in children
        if isinstance(el.tag, str) and el.tag not in KNOWN_DEVICES
    ]


PLACEHOLDER = re.compile(r"%[A-Za-z_]+%|CHANGEME")


def _placeholders(ctx: _Ctx) -> list[str]:
    """Templates (VM XML with %NAME% or CHANGEME) parse, but say so."""
    out = []
    for el in ctx.root.iter():
        values = [*el.attrib.values(), el.text or ""] if isinstance(el.tag, str) else []
        out += [
            f"{path_of(el)} (line {el.sourceline}): template placeholder {m.group()!r}"
            for v in values
            for m in [PLACEHOLDER.search(v)]
            if m
        ]
    return out


def facts_from_xml(
    root: Element,
    *,
    lookup: NetworkLookup,
    power: PowerState = PowerState.UNKNOWN,
    file: str | None = None,
) -> VmFacts:
    """The facts of one <domain>; `file` names the XML file when read from disk."""
    ctx = _Ctx(root, file)
    clipboard = _vdagent_clipboard(ctx) or _spice_agent_mode(
        ctx, "clipboard", "copypaste", TransferMode.BIDIRECTIONAL
    )
    return VmFacts(
        name=root.findtext("name", ""),
        driver="libvirt",
        uuid=root.findtext("uuid", ""),
        power_state=power,
        nics=tuple(nic(i, el, lookup, ctx.src(el)) for i, el in enumerate(ctx.devices("interface"))),
        shared_folders=tuple(_share(ctx, el) for el in ctx.devices("filesystem")),
        clipboard=clipboard,
        # SPICE file transfer is drag-and-drop of files from the client into the guest.
        drag_and_drop=_spice_agent_mode(ctx, "filetransfer", "enable", TransferMode.HOST_TO_GUEST),
        usb=_usb(ctx),
        audio=_audio(ctx),
        displays=tuple(d for d in (_display(ctx, el) for el in ctx.devices("graphics")) if d),
        ports=tuple(_ports(ctx)),
        host_devices=tuple(_host_devices(ctx)),
        channels=tuple(_channels(ctx)),
        disks=tuple(_disks(ctx)),
        unknown=tuple(_unknown(ctx) + _placeholders(ctx)),
        passthrough=passthrough(root, file),
    )
