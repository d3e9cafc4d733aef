"""VirtualBox API generations: which enumeration table and which attributes to use.

pyvbox 2.1.1 speaks the 6.1 API. VirtualBox 7 renumbered some enumerations (the
AudioDriverType values moved when 'Default' was added at 0) and moved attributes (the
audio adapter went from IMachine.audioAdapter to IMachine.audioSettings.adapter). So
vmguard never trusts pyvbox's enum *labels* on a 7.x host: it takes the raw number and
names it with the table of the API generation actually answering (pyvbox's own for
6.x, Oracle's `vboxapi` constants for 7.x).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

# Enumerations vmguard reads or writes through pyvbox (tests compare them across
# generations: tests/drivers/test_virtualbox_contract.py).
ENUMS = (
    "ClipboardMode",
    "DnDMode",
    "NetworkAttachmentType",
    "USBControllerType",
    "AudioDriverType",
    "AudioControllerType",
    "AuthType",
    "PortMode",
    "MachineState",
    "LockType",
)


def pyvbox_table(lib: ModuleType, enum: str) -> dict[int, str]:
    """pyvbox's (VirtualBox 6.1) number -> name table of one enumeration."""
    table: dict[int, str] = {}
    for name, value, _doc in getattr(lib, enum)._enums:
        table.setdefault(value, name)  # pseudo-members (FirstOnline...) come last
    return table


def vboxapi_table(enum: str) -> dict[int, str]:
    """Oracle's vboxapi (VirtualBox 7.x) number -> name table of one enumeration."""
    from vboxapi.VirtualBox_constants import VirtualBoxReflectionInfo

    table: dict[int, str] = {}
    for name, value in VirtualBoxReflectionInfo(False).all_values(enum).items():
        table.setdefault(value, name)
    return table


def generation_of(version: str) -> int:
    """'7.2.4r170995' -> 7."""
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 6


@dataclass
class Api:
    """Names of enumeration values as the answering VirtualBox means them."""

    lib: ModuleType  # virtualbox.library
    generation: int
    _tables: dict[str, dict[int, str]] = field(default_factory=dict)

    def table(self, enum: str) -> dict[int, str]:
        if enum not in self._tables:
            fresh = vboxapi_table(enum) if self.generation >= 7 else pyvbox_table(self.lib, enum)
            self._tables[enum] = fresh
        return self._tables[enum]

    def name(self, enum: str, value: Any) -> str:
        raw = int(value)
        return self.table(enum).get(raw, f"unknown({raw})")

    def value(self, enum: str, name: str) -> Any:
        """The pyvbox enum object to write `name`, numbered for this generation."""
        raw = next(v for v, n in self.table(enum).items() if n == name)
        return getattr(self.lib, enum)(raw)

    def attachment(self, adapter: Any) -> str:
        """The adapter's attachment type, read raw: pyvbox's typed property wraps the
        number in its 6.1 enum and raises on 7.x's HostOnlyNetwork."""
        return self.name("NetworkAttachmentType", adapter._get_attr("attachmentType"))

    def attach(self, adapter: Any, kind: str) -> None:
        """Set the attachment type by name, written raw for the same reason."""
        raw = next(v for v, n in self.table("NetworkAttachmentType").items() if n == kind)
        adapter._set_attr("attachmentType", raw)

    def audio_adapter(self, machine: Any) -> Any:
        """6.x: IMachine.audioAdapter; 7.x: IMachine.audioSettings.adapter (raw COM,
        whose attribute names are the COM ones: enabled, enabledIn, enabledOut...)."""
        if self.generation >= 7:
            return AudioAdapter7(machine._get_attr("audioSettings").adapter)
        return machine.audio_adapter


class AudioAdapter7:
    """The 7.x audio adapter, raw COM, given pyvbox's attribute names."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @property
    def enabled(self) -> bool:
        return bool(self._raw.enabled)

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._raw.enabled = value

    @property
    def enabled_in(self) -> bool:
        return bool(self._raw.enabledIn)

    @property
    def enabled_out(self) -> bool:
        return bool(self._raw.enabledOut)

    @property
    def audio_driver(self) -> int:
        return int(self._raw.audioDriver)
