"""The normalized, hypervisor-independent view of a VM's security-relevant settings.

Drivers (libvirt, VirtualBox live, .vbox files) produce VmFacts; rules and plans read
them. Every fact carries a Source saying where it was read, for reports.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from vmguard.core.modes import TransferMode
from vmguard.guest.model import GuestFacts


class Attachment(StrEnum):
    NONE = "none"  # adapter disabled or not connected
    HOST_ONLY = "host-only"  # VirtualBox host-only, libvirt isolated network
    NAT = "nat"
    NAT_NETWORK = "nat-network"
    BRIDGED = "bridged"  # includes macvtap/direct
    INTERNAL = "internal"  # VM-to-VM only
    USER = "user"  # QEMU user-mode networking (a NAT)
    OTHER = "other"


class PowerState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    OFF = "off"
    SAVED = "saved"
    UNKNOWN = "unknown"


class DisplayProtocol(StrEnum):
    VRDE = "vrde"
    SPICE = "spice"
    VNC = "vnc"
    RDP = "rdp"


@dataclass(frozen=True)
class Source:
    """Where a fact was read: an XML element, an API attribute, a file position."""

    where: str  # e.g. "/domain/devices/graphics[1]/@listen" or "IMachine.clipboardMode"
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.file is None:
            return self.where
        pos = f":{self.line}" if self.line else ""
        return f"{self.file}{pos} {self.where}"


@dataclass(frozen=True)
class PortForward:
    name: str
    protocol: str
    host_ip: str  # "" means every host address
    host_port: int
    guest_ip: str
    guest_port: int


class HostOnlyKind(StrEnum):
    """How an inventory names a connection's host-only network (its `host_only:` key)."""

    NETWORK = "network"  # libvirt isolated network (no <forward>)
    BRIDGE = "bridge"  # libvirt: a host bridge the admin keeps isolated
    HOSTONLY_INTERFACE = "hostonly_interface"  # VirtualBox vboxnetN
    HOSTONLY_NETWORK = "hostonly_network"  # VirtualBox 7 host-only network


# The hypervisor's own attachment type (Nic.kind) of each host-only kind.
HOST_ONLY_NIC_KINDS = {
    HostOnlyKind.NETWORK: frozenset({"network"}),
    HostOnlyKind.BRIDGE: frozenset({"bridge"}),
    HostOnlyKind.HOSTONLY_INTERFACE: frozenset({"HostOnly", "HostOnlyInterface"}),
    HostOnlyKind.HOSTONLY_NETWORK: frozenset({"HostOnlyNetwork"}),
}


@dataclass(frozen=True)
class Nic:
    index: int
    attachment: Attachment
    network: str = ""  # libvirt network, VirtualBox host-only/internal/bridge name
    mac: str = ""
    enabled: bool = True
    port_forwards: tuple[PortForward, ...] = ()
    source: Source = Source("")
    port: str = ""  # host-side device of a running VM's NIC (libvirt <target dev=...>)
    kind: str = ""  # the hypervisor's type: libvirt <interface type>, VirtualBox attachment


@dataclass(frozen=True)
class HostOnly:
    """The one network a connection's VMs may be attached to (inventory `host_only:`)."""

    kind: HostOnlyKind
    name: str

    def __str__(self) -> str:
        return f"host-only {self.kind.value} {self.name!r}"

    def holds(self, nic: Nic) -> bool:
        """True when the NIC is attached to this network: the one answer plan, apply and
        audit share."""
        return nic.kind in HOST_ONLY_NIC_KINDS[self.kind] and nic.network == self.name


@dataclass(frozen=True)
class SharedFolder:
    name: str
    host_path: str
    real_path: str  # host_path with symlinks resolved on the host (when readable)
    read_only: bool
    automount: bool = False
    symlinks_allowed: bool = False
    source: Source = Source("")


@dataclass(frozen=True)
class UsbFacts:
    controllers: tuple[str, ...] = ()  # e.g. "ohci", "ehci", "xhci", "qemu-xhci"
    redirections: int = 0  # SPICE usbredir channels
    source: Source = Source("")


@dataclass(frozen=True)
class AudioFacts:
    enabled: bool = False
    input: bool = False
    output: bool = False
    driver: str = ""
    source: Source = Source("")


def is_loopback(address: str) -> bool:
    """True only for loopback, "localhost" or a unix socket; "" (every address) is not."""
    if address == "localhost" or address.startswith("unix:"):
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Display:
    protocol: DisplayProtocol
    enabled: bool
    listen: str  # address; "" when unknown, "0.0.0.0"/"::" for every address
    port: int | None
    authenticated: bool
    source: Source = Source("")

    @property
    def local_only(self) -> bool:
        """Reachable from this host only: loopback, a UNIX socket, or no listener at all
        (libvirt <listen type='none'>). The one answer plan, apply and audit share."""
        return self.listen == "none" or is_loopback(self.listen)


@dataclass(frozen=True)
class PortDevice:
    """A serial or parallel port."""

    kind: str  # "serial" | "parallel"
    index: int
    mode: str  # disconnected | pty | tcp | file | pipe | device | udp | unix
    target: str = ""
    source: Source = Source("")


@dataclass(frozen=True)
class HostDevice:
    kind: str  # "pci" | "usb" | "scsi" | "mdev"
    address: str  # e.g. "0000:01:00.0", "045e:028e"
    source: Source = Source("")


@dataclass(frozen=True)
class Channel:
    kind: str  # "qemu-ga" | "spice-vdagent" | "vbox-guest-control" | other name
    name: str
    source: Source = Source("")


@dataclass(frozen=True)
class Disk:
    path: str  # "" when nothing is inserted (an empty CD drive) or it cannot be opened
    format: str = ""
    read_only: bool = False
    source: Source = Source("")
    volume: str = ""  # "pool/volume" of a storage-pool volume, before the driver resolves it
    problem: str = ""  # why vmguard cannot open it (a network disk, an unresolved volume)


@dataclass(frozen=True)
class Passthrough:
    """Hypervisor configuration handed to the emulator past the driver's model (libvirt's
    <qemu:commandline>, <qemu:override>, <qemu:capabilities>): it can add any device or
    NIC that no other fact shows."""

    kind: str  # "commandline" | "override" | "capabilities"
    detail: str  # what it passes, e.g. "-netdev user,id=n0"
    source: Source = Source("")


@dataclass(frozen=True)
class Setting:
    """A scalar setting with its origin (clipboard and drag-and-drop modes)."""

    value: TransferMode
    source: Source = Source("")


@dataclass(frozen=True)
class Snapshot:
    """A snapshot whose saved hardware differs from the current settings: restoring it
    would bring those settings back (VirtualBox snapshots carry their own hardware)."""

    name: str
    differences: tuple[str, ...]  # e.g. "clipboard: bidirectional (now disabled)"
    source: Source = Source("")


@dataclass(frozen=True)
class VmFacts:
    name: str
    driver: str  # "libvirt" | "virtualbox" | "vbox-file"
    uuid: str = ""
    power_state: PowerState = PowerState.UNKNOWN
    nics: tuple[Nic, ...] = ()
    shared_folders: tuple[SharedFolder, ...] = ()
    clipboard: Setting = Setting(TransferMode.DISABLED)
    drag_and_drop: Setting = Setting(TransferMode.DISABLED)
    usb: UsbFacts = UsbFacts()
    audio: AudioFacts = AudioFacts()
    displays: tuple[Display, ...] = ()
    ports: tuple[PortDevice, ...] = ()
    host_devices: tuple[HostDevice, ...] = ()
    channels: tuple[Channel, ...] = ()
    disks: tuple[Disk, ...] = ()
    # Elements or attributes the driver met and does not understand: reported, never
    # silently ignored (a future setting may weaken isolation).
    unknown: tuple[str, ...] = ()
    # Configuration passed to the emulator directly, past every modeled device.
    passthrough: tuple[Passthrough, ...] = ()
    # Snapshots whose hardware differs from the current one (only those).
    snapshots: tuple[Snapshot, ...] = ()
    # What vmguard read inside the guest (its disk image, its agent); None: not inspected.
    guest: GuestFacts | None = None
    # The connection's host-only network as the inventory names it (not read from the VM;
    # set by drivers.interface.facts_of): where NICs belong, for plan and audit alike.
    host_only: HostOnly | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
