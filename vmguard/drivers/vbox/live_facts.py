"""VmFacts of a live VirtualBox machine, read through pyvbox (read-only).

Sources name the API attribute read, e.g. "IMachine.clipboardMode".
"""

from __future__ import annotations

from typing import Any

from vmguard.core.modes import TransferMode
from vmguard.drivers.hostpath import real_path
from vmguard.drivers.vbox import names
from vmguard.drivers.vbox.api import Api
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
    Source,
    UsbFacts,
    VmFacts,
)

MAX_SLOTS = 64  # more than any chipset has; the API says when a slot is past the end
SERIAL_PORTS = 4  # SchemaDefs::SerialPortCount
PARALLEL_PORTS = 2  # SchemaDefs::ParallelPortCount
STATES = {
    "PoweredOff": PowerState.OFF,
    "Aborted": PowerState.OFF,
    "Teleported": PowerState.OFF,
    "Saved": PowerState.SAVED,
    "AbortedSaved": PowerState.SAVED,
    "Paused": PowerState.PAUSED,
    # Offline transient states (no VM process; the machine is locked meanwhile).
    "RestoringSnapshot": PowerState.OFF,
    "DeletingSnapshot": PowerState.OFF,
    "SettingUp": PowerState.OFF,
    "Snapshotting": PowerState.OFF,
}
# Which INetworkAdapter attribute names the network of each attachment.
NETWORK_ATTRS = {
    "Bridged": "bridged_interface",
    "Internal": "internal_network",
    "HostOnly": "host_only_interface",
    "NATNetwork": "nat_network",
    "Generic": "generic_driver",
}


def network_of(adapter: Any, kind: str) -> str:
    """The name of the network an adapter of attachment `kind` is on ("" for none)."""
    if kind == "HostOnlyNetwork":  # 7.x only: pyvbox has no property for it
        return str(adapter._get_attr("hostOnlyNetwork"))
    attr = NETWORK_ATTRS.get(kind)
    return getattr(adapter, attr) if attr else ""


def adapters(api: Api, machine: Any) -> list[Any]:
    """Every network adapter slot the machine's chipset has."""
    found = []
    for slot in range(MAX_SLOTS):
        try:
            found.append(machine.get_network_adapter(slot))
        except api.lib.VBoxError:
            break  # E_INVALIDARG: past the last slot
    return found


def _forward(rule: str) -> PortForward:
    """'name,protocol id,host ip,host port,guest ip,guest port' (INATEngine.redirects)."""
    name, proto, host_ip, host_port, guest_ip, guest_port = rule.split(",")
    protocol = {"0": "udp", "1": "tcp"}.get(proto, proto)
    return PortForward(name, protocol, host_ip, int(host_port or 0), guest_ip, int(guest_port or 0))


def _nic(api: Api, adapter: Any) -> Nic:
    kind = api.attachment(adapter)
    forwards = tuple(_forward(r) for r in adapter.nat_engine.redirects) if kind == "NAT" else ()
    return Nic(
        index=int(adapter.slot),
        attachment=names.ATTACHMENT_TYPES.get(kind, Attachment.OTHER),
        network=network_of(adapter, kind),
        mac=adapter.mac_address,
        enabled=bool(adapter.enabled),
        port_forwards=forwards,
        source=Source(f"INetworkAdapter[{int(adapter.slot)}].attachmentType"),
        kind=kind,
    )


def _shares(machine: Any) -> tuple[SharedFolder, ...]:
    return tuple(
        SharedFolder(
            name=sf.name,
            host_path=sf.host_path,
            real_path=real_path(sf.host_path),
            read_only=not sf.writable,
            automount=bool(sf.auto_mount),
            symlinks_allowed=machine.get_extra_data(names.SYMLINKS_KEY + sf.name) == "1",
            source=Source(f"IMachine.sharedFolders[{sf.name}]"),
        )
        for sf in machine.shared_folders
    )


def _transfer(api: Api, enum: str, value: Any, where: str) -> Setting:
    mode = names.TRANSFER_MODES.get(api.name(enum, value), TransferMode.BIDIRECTIONAL)
    return Setting(mode, Source(where))


def _usb(api: Api, machine: Any) -> UsbFacts:
    types = tuple(api.name("USBControllerType", c.type_p).lower() for c in machine.usb_controllers)
    return UsbFacts(controllers=types, source=Source("IMachine.USBControllers"))


def _audio(api: Api, machine: Any) -> AudioFacts:
    adapter = api.audio_adapter(machine)
    where = "IMachine.audioSettings.adapter" if api.generation >= 7 else "IMachine.audioAdapter"
    enabled = bool(adapter.enabled)
    return AudioFacts(
        enabled=enabled,
        input=enabled and bool(adapter.enabled_in),
        output=enabled and bool(adapter.enabled_out),
        driver=api.name("AudioDriverType", adapter.audio_driver),
        source=Source(f"{where}.enabled"),
    )


def _vrde(api: Api, machine: Any) -> tuple[Display, ...]:
    server = machine.vrde_server
    if not server.enabled:
        return ()
    ports = server.get_vrde_property("TCP/Ports")
    return (
        Display(
            protocol=DisplayProtocol.VRDE,
            enabled=True,
            listen=server.get_vrde_property("TCP/Address") or names.VRDE_ALL_ADDRESSES,
            port=int(ports) if ports.isdigit() else None,
            authenticated=api.name("AuthType", server.auth_type) != names.AUTH_NONE,
            source=Source("IMachine.VRDEServer"),
        ),
    )


def _ports(api: Api, machine: Any) -> tuple[PortDevice, ...]:
    out = []
    for i in range(SERIAL_PORTS):
        port = machine.get_serial_port(i)
        if port.enabled:
            mode = names.PORT_MODES.get(api.name("PortMode", port.host_mode), "device")
            out.append(PortDevice("serial", i, mode, port.path, Source(f"ISerialPort[{i}]")))
    for i in range(PARALLEL_PORTS):
        port = machine.get_parallel_port(i)
        if port.enabled:
            out.append(PortDevice("parallel", i, "device", port.path, Source(f"IParallelPort[{i}]")))
    return tuple(out)


def pci_address(value: int) -> str:
    """VirtualBox packs bus/device/function as (bus << 8) | (device << 3) | function."""
    return f"{value >> 8:02x}:{(value >> 3) & 0x1F:02x}.{value & 0x7:x}"


def _host_devices(machine: Any) -> tuple[HostDevice, ...]:
    pci = [
        HostDevice("pci", pci_address(a.host_address), Source("IMachine.PCIDeviceAssignments"))
        for a in machine.pci_device_assignments
    ]
    filters = [
        HostDevice(
            "usb-filter", f"{f.vendor_id or '*'}:{f.product_id or '*'}", Source(f"IUSBDeviceFilter[{f.name}]")
        )
        for f in machine.usb_device_filters.device_filters
        if f.active
    ]
    return tuple(pci + filters)


def _guest_control(machine: Any) -> tuple[Channel, ...]:
    version = machine.get_guest_property_value(names.ADDITIONS_VERSION)
    if not version:
        return ()
    return (
        Channel(
            "vbox-guest-control",
            f"Guest Additions {version}",
            Source(f"IMachine.getGuestPropertyValue({names.ADDITIONS_VERSION})"),
        ),
    )


def power_state(api: Api, machine: Any) -> PowerState:
    name = api.name("MachineState", machine.state)
    if name in STATES:
        return STATES[name]
    return PowerState.UNKNOWN if name == "Null" else PowerState.RUNNING  # a VM process runs


def _nat_loopback(api: Api, nics: list[Any]) -> dict[str, str]:
    """INATEngine.localhostReachable exists from 7.0 on; before, NAT always reached it."""
    out = {}
    for adapter in nics:
        if api.attachment(adapter) == "NAT":
            reachable = (
                bool(adapter.nat_engine._get_attr("localhostReachable")) if api.generation >= 7 else True
            )
            out[names.LOCALHOST_REACHABLE.format(int(adapter.slot))] = str(reachable).lower()
    return out


def read(api: Api, machine: Any) -> VmFacts:
    nics = adapters(api, machine)
    return VmFacts(
        name=machine.name,
        driver="virtualbox",
        uuid=machine.id_p,
        power_state=power_state(api, machine),
        nics=tuple(_nic(api, a) for a in nics),
        shared_folders=_shares(machine),
        clipboard=_transfer(api, "ClipboardMode", machine.clipboard_mode, "IMachine.clipboardMode"),
        drag_and_drop=_transfer(api, "DnDMode", machine.dn_d_mode, "IMachine.dnDMode"),
        usb=_usb(api, machine),
        audio=_audio(api, machine),
        displays=_vrde(api, machine),
        ports=_ports(api, machine),
        host_devices=_host_devices(machine),
        channels=_guest_control(machine),
        extra={"api_generation": str(api.generation), **_nat_loopback(api, nics)},
    )
