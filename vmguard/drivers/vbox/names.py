"""VirtualBox's names for the settings vmguard reads, shared by the .vbox reader and the
live driver: the spelling in settings files and the enumeration names in the API.

The live driver maps API enumeration *names* (pyvbox's `str()` of an enum value, e.g.
"HostToGuest") through these tables; tests check the numeric values agree between
pyvbox (VirtualBox 6.1 API) and Oracle's 7.2 `vboxapi` constants.
"""

from __future__ import annotations

from vmguard.core.modes import TransferMode
from vmguard.facts.vm import Attachment

# ClipboardMode and DnDMode share names in the API and in settings files.
TRANSFER_MODES = {
    "Disabled": TransferMode.DISABLED,
    "HostToGuest": TransferMode.HOST_TO_GUEST,
    "GuestToHost": TransferMode.GUEST_TO_HOST,
    "Bidirectional": TransferMode.BIDIRECTIONAL,
}
TRANSFER_NAMES = {mode: name for name, mode in TRANSFER_MODES.items()}

# Settings-file element under <Adapter> -> attachment.
ADAPTER_ELEMENTS = {
    "NAT": Attachment.NAT,
    "NATNetwork": Attachment.NAT_NETWORK,
    "BridgedInterface": Attachment.BRIDGED,
    "InternalNetwork": Attachment.INTERNAL,
    "HostOnlyInterface": Attachment.HOST_ONLY,
    "HostOnlyNetwork": Attachment.HOST_ONLY,  # 7.0+ (macOS hosts)
    "GenericInterface": Attachment.OTHER,  # VDE, UDP tunnel...: anything
    "CloudNetwork": Attachment.OTHER,
}

# API NetworkAttachmentType names -> attachment (same members, API spelling).
ATTACHMENT_TYPES = {
    "Null": Attachment.NONE,
    "NAT": Attachment.NAT,
    "NATNetwork": Attachment.NAT_NETWORK,
    "Bridged": Attachment.BRIDGED,
    "Internal": Attachment.INTERNAL,
    "HostOnly": Attachment.HOST_ONLY,
    "HostOnlyNetwork": Attachment.HOST_ONLY,
    "Generic": Attachment.OTHER,
    "Cloud": Attachment.OTHER,
}

# UART hostMode (settings) / PortMode (API) -> PortDevice.mode.
PORT_MODES = {
    "Disconnected": "disconnected",
    "HostPipe": "pipe",
    "HostDevice": "device",
    "RawFile": "file",
    "TCP": "tcp",
}

USB_CONTROLLERS = ("OHCI", "EHCI", "XHCI")  # USBControllerType names (settings and API)
AUTH_NONE = "Null"  # AuthType: Null, External, Guest

# facts.extra key the audit's VMG-NET-003 reads (vmguard/checks/network.py).
LOCALHOST_REACHABLE = "nic{}.localhost_reachable"
ADDITIONS_VERSION = "/VirtualBox/GuestAdd/Version"  # guest property set by Guest Additions
SYMLINKS_KEY = "VBoxInternal2/SharedFoldersEnableSymlinksCreate/"
# VRDE listens on every address when TCP/Address is empty: reported as that, never bound.
VRDE_ALL_ADDRESSES = "0.0.0.0"  # noqa: S104  # nosec B104
