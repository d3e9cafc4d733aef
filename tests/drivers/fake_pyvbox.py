"""A fake VirtualBox behind pyvbox's Python API, for the live driver's tests.

It models what matters for "nothing half-applied": settings change only on the
session's mutable copy of a machine (lock_machine), become visible on saveSettings,
and vanish on discardSettings; a running VM's copy refuses settings VirtualBox cannot
change at run time; a machine locked by someone else refuses the lock.

Every public attribute name here must exist on the pyvbox class it stands for
(PYVBOX_CLASS below); tests/drivers/test_virtualbox_contract.py asserts it, so the fake
cannot drift from pyvbox. Test controls start with an underscore.
"""

from __future__ import annotations

import copy
import queue
from typing import Any

from virtualbox import library as lib

# Settings a running VM's mutable machine accepts (shared lock), per fake class.
RUNTIME = {
    "FakeMachine": {"clipboard_mode", "dn_d_mode"},
    "FakeNetworkAdapter": {"attachment_type", "host_only_interface", "host_only_network"},
    "FakeVRDEServer": {"enabled", "auth_type", "set_vrde_property"},
}


class FakeObject:
    """Refuses writes unless its machine copy is mutable (and, if running, runtime-safe)."""

    _mode = "immutable"  # immutable | write | shared

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_") and hasattr(self, "_ready"):
            if not (
                hasattr(type(self), name) or name in vars(self)
            ):  # a misspelt setting must not pass silently
                raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
            self._check(name)
        object.__setattr__(self, name, value)

    def _check(self, name: str) -> None:
        if self._mode == "immutable":
            raise lib.VBoxErrorInvalidObjectState(f"{type(self).__name__}.{name}: not mutable")
        if self._mode == "shared" and name not in RUNTIME.get(type(self).__name__, ()):
            raise lib.VBoxErrorInvalidVmState(f"{type(self).__name__}.{name}: VM is running")

    def _freeze(self) -> None:
        object.__setattr__(self, "_ready", True)


class FakeNATEngine(FakeObject):
    def __init__(self, redirects: list[str] | None = None) -> None:
        self.redirects = redirects or []
        self._localhost_reachable = False  # 7.x only: INATEngine.localhostReachable

    def _get_attr(self, name: str) -> Any:
        if name == "localhostReachable":
            return self._localhost_reachable
        raise AttributeError(f"Failed to find attribute {name}")


# 7.x's NetworkAttachmentType.HostOnlyNetwork, a number pyvbox 2.1.1's enum does not know.
HOST_ONLY_NETWORK_7 = 8
# Raw INetworkAdapter COM attributes: name -> (where the fake keeps it, the setting's name
# for RUNTIME, first generation that has it; hostOnlyNetwork is 7.x, pyvbox has no property).
RAW_ADAPTER = {
    "attachmentType": ("_type", "attachment_type", 6),
    "hostOnlyNetwork": ("_host_only_network", "host_only_network", 7),
}


class FakeNetworkAdapter(FakeObject):
    """INetworkAdapter. The attachment type is kept as COM's raw number: pyvbox's typed
    property wraps it in its 6.1 enum and raises ValueError on 7.x's HostOnlyNetwork, as
    the real one does; _get_attr/_set_attr reach the raw COM attributes as pyvbox's do."""

    def __init__(self, slot: int, attachment: str = "Null", generation: int = 6, **names: str) -> None:
        self.slot = slot
        self.enabled = attachment != "Null"
        self._generation = generation
        self._type = (
            HOST_ONLY_NETWORK_7
            if attachment == "HostOnlyNetwork"
            else _value("NetworkAttachmentType", attachment)
        )
        self._host_only_network = names.get("host_only_network", "")
        self.mac_address = f"0800270000{slot:02d}"
        self.bridged_interface = names.get("bridged", "")
        self.host_only_interface = names.get("host_only", "")
        self.internal_network = names.get("internal", "")
        self.nat_network = names.get("nat_network", "")
        self.generic_driver = ""
        self.nat_engine = FakeNATEngine(names.get("redirects"))  # type: ignore[arg-type]

    @property
    def attachment_type(self) -> Any:
        return lib.NetworkAttachmentType(self._type)  # ValueError for 8, like pyvbox

    @attachment_type.setter
    def attachment_type(self, value: Any) -> None:
        if not isinstance(value, lib.NetworkAttachmentType):
            raise TypeError("value is not an instance of NetworkAttachmentType")
        object.__setattr__(self, "_type", int(value))

    def _raw(self, name: str) -> tuple[str, str]:
        kept, setting, since = RAW_ADAPTER.get(name, ("", "", 99))
        if self._generation < since:
            raise AttributeError(f"Failed to find attribute {name}")
        return kept, setting

    def _get_attr(self, name: str) -> Any:
        return getattr(self, self._raw(name)[0])

    def _set_attr(self, name: str, value: Any) -> None:
        kept, setting = self._raw(name)
        self._check(setting)
        object.__setattr__(self, kept, int(value) if kept == "_type" else str(value))


class FakeSharedFolder(FakeObject):
    def __init__(
        self, name: str, host_path: str, writable: bool, auto_mount: bool, auto_mount_point: str = ""
    ) -> None:
        self.name, self.host_path = name, host_path
        self.writable, self.auto_mount, self.auto_mount_point = writable, auto_mount, auto_mount_point


class FakeUSBController(FakeObject):
    def __init__(self, name: str, type_name: str) -> None:
        self.name = name
        self.type_p = lib.USBControllerType(_value("USBControllerType", type_name))


class FakeAudioAdapter(FakeObject):
    """6.1: IMachine.audioAdapter, with pyvbox's names and 6.1 numbering."""

    def __init__(self, enabled: bool, driver: int) -> None:
        self.enabled, self.enabled_in, self.enabled_out = enabled, enabled, enabled
        self.audio_driver = lib.AudioDriverType(driver)
        self.audio_controller = lib.AudioControllerType(2)


class FakeRawAudioAdapter7(FakeObject):
    """7.x: IMachine.audioSettings.adapter, a raw COM object (COM attribute names,
    7.x numbering). pyvbox has no IAudioSettings; the contract test checks these
    names against what pyvbox's IAudioAdapter reads from COM."""

    def __init__(self, enabled: bool, driver: int) -> None:
        self.enabled, self.enabledIn, self.enabledOut = enabled, enabled, enabled
        self.audioDriver = driver


class FakeRawAudioSettings7(FakeObject):
    def __init__(self, adapter: FakeRawAudioAdapter7) -> None:
        self.adapter = adapter


class FakeVRDEServer(FakeObject):
    def __init__(self, enabled: bool = False, auth: str = "Null") -> None:
        self.enabled = enabled
        self.auth_type = lib.AuthType(_value("AuthType", auth))
        self._props = {"TCP/Ports": "3389", "TCP/Address": ""}

    def get_vrde_property(self, key: str) -> str:
        return self._props.get(key, "")

    def set_vrde_property(self, key: str, value: str) -> None:
        self._check("set_vrde_property")
        self._props[key] = value


class FakeSerialPort(FakeObject):
    def __init__(self, slot: int, enabled: bool = False, mode: str = "Disconnected") -> None:
        self.slot, self.enabled, self.path = slot, enabled, ""
        self.host_mode = lib.PortMode(_value("PortMode", mode))


class FakeParallelPort(FakeObject):
    def __init__(self, slot: int, enabled: bool = False) -> None:
        self.slot, self.enabled, self.path = slot, enabled, "/dev/parport0" if enabled else ""


class FakePCIDeviceAttachment(FakeObject):
    def __init__(self, host_address: int, guest_address: int) -> None:
        self.name, self.host_address, self.guest_address = "gpu", host_address, guest_address


class FakeUSBDeviceFilter(FakeObject):
    def __init__(self, name: str, active: bool) -> None:
        self.name, self.active, self.vendor_id, self.product_id = name, active, "046d", "c52b"


class FakeUSBDeviceFilters(FakeObject):
    def __init__(self, filters: list[FakeUSBDeviceFilter]) -> None:
        self.device_filters = filters


class FakeProgress:
    def wait_for_completion(self, timeout: int = -1) -> None:
        """Done at once."""


class FakeConsole:
    def __init__(self, machine: FakeMachine) -> None:
        self._machine = machine

    def power_down(self) -> FakeProgress:
        self._machine._set_state("PoweredOff")
        return FakeProgress()

    def pause(self) -> None:
        self._machine._set_state("Paused")


class FakeEventListener:
    """A passive listener: its events wait in the source's queue for get_event."""


class FakeMachineEvent(FakeObject):
    """A machine event (state changed, data changed, registered), as IMachineEvent."""

    def __init__(self, kind: str, machine_id: str) -> None:
        self.type_p = getattr(lib.VBoxEventType, kind)
        self.machine_id = machine_id
        self._freeze()


class FakeEventSource:
    """IVirtualBox.event_source in passive mode: each listener gets the events of the
    types it registered for, in order; get_event waits up to `timeout` ms."""

    def __init__(self) -> None:
        self._listeners: dict[int, tuple[set[int], queue.Queue]] = {}

    def __deepcopy__(self, memo: dict) -> FakeEventSource:
        return self  # a machine's session copy reports to the same VirtualBox

    def create_listener(self) -> FakeEventListener:
        return FakeEventListener()

    def register_listener(self, listener: FakeEventListener, interesting: list[Any], active: bool) -> None:
        if active:
            raise lib.VBoxErrorNotSupported("the fake serves passive listeners only")
        self._listeners[id(listener)] = ({int(t) for t in interesting}, queue.Queue())

    def unregister_listener(self, listener: FakeEventListener) -> None:
        self._listeners.pop(id(listener), None)

    def get_event(self, listener: FakeEventListener, timeout: int) -> FakeMachineEvent | None:
        if id(listener) not in self._listeners:
            raise lib.VBoxErrorObjectNotFound("listener not registered")
        try:
            return self._listeners[id(listener)][1].get(timeout=max(timeout, 0) / 1000)
        except queue.Empty:
            return None

    def event_processed(self, listener: FakeEventListener, event: FakeMachineEvent) -> None:
        """Passive listeners acknowledge each event; nothing else to do here."""

    def _fire(self, kind: str, machine_id: str) -> None:
        event = FakeMachineEvent(kind, machine_id)
        for interesting, waiting in list(self._listeners.values()):
            if int(event.type_p) in interesting:
                waiting.put(event)


class FakeSession:
    def __init__(self) -> None:
        self.machine: FakeMachine | None = None
        self.console: FakeConsole | None = None

    def unlock_machine(self) -> None:
        if self.machine is not None:
            self.machine._origin._locks -= 1
        self.machine = self.console = None


def _value(enum: str, name: str) -> int:
    return next(v for n, v, _ in getattr(lib, enum)._enums if n == name)


class FakeMachine(FakeObject):
    """IMachine. Settings live here; `_origin` is the registered machine of a copy."""

    def __init__(self, name: str, generation: int = 6) -> None:
        self.name, self.id_p = name, f"uuid-{name}"
        self.state = lib.MachineState(_value("MachineState", "PoweredOff"))
        self.clipboard_mode = lib.ClipboardMode(0)
        self.dn_d_mode = lib.DnDMode(0)
        self.shared_folders: list[FakeSharedFolder] = []
        self.usb_controllers: list[FakeUSBController] = []
        self.vrde_server = FakeVRDEServer()
        self.pci_device_assignments: list[FakePCIDeviceAttachment] = []
        self.usb_device_filters = FakeUSBDeviceFilters([])
        self._adapters = [FakeNetworkAdapter(i, generation=generation) for i in range(8)]
        self._serial = [FakeSerialPort(i) for i in range(4)]
        self._parallel = [FakeParallelPort(i) for i in range(2)]
        self._extra: dict[str, str] = {}
        self._guest_props: dict[str, str] = {}
        self._generation = generation
        self._audio6 = FakeAudioAdapter(False, 0)
        self._audio7 = FakeRawAudioSettings7(FakeRawAudioAdapter7(False, 0))
        self._origin, self._locks, self._locked_by_other, self._saves = self, 0, False, 0
        self._denied = False  # another user's VM: VirtualBox refuses the lock
        self._fail_on: str | None = None  # a setting whose change fails (for tests)

    # -- test set-up (underscore: not part of the contract) --
    def _set_state(self, name: str) -> None:
        object.__setattr__(self._origin, "state", lib.MachineState(_value("MachineState", name)))
        self._origin._event("on_machine_state_changed")

    def _event(self, kind: str) -> None:
        source = getattr(self, "_events", None)
        if source is not None:
            source._fire(kind, self.id_p)

    def _all(self) -> list[FakeObject]:
        found: list[FakeObject] = [
            self,
            self._audio6,
            self._audio7,
            self._audio7.adapter,
            self.vrde_server,
            self.usb_device_filters,
        ]
        found += self._adapters + [a.nat_engine for a in self._adapters]
        found += self._serial + self._parallel + self.shared_folders + self.usb_controllers
        return found + self.pci_device_assignments + self.usb_device_filters.device_filters

    def _seal(self, mode: str) -> FakeMachine:
        for adapter in self._adapters:  # the answering VirtualBox decides what COM has
            object.__setattr__(adapter, "_generation", self._generation)
        for obj in self._all():
            object.__setattr__(obj, "_mode", mode)
            obj._freeze()
        return self

    # -- pyvbox IMachine --
    @property
    def audio_adapter(self) -> FakeAudioAdapter:
        if self._generation >= 7:  # what pyvbox's _get_attr("audioAdapter") does on 7.x
            raise AttributeError("Failed to find attribute audioAdapter")
        return self._audio6

    def _get_attr(self, name: str) -> Any:
        if name == "audioSettings" and self._generation >= 7:
            return self._audio7
        raise AttributeError(f"Failed to find attribute {name}")

    def get_network_adapter(self, slot: int) -> FakeNetworkAdapter:
        if not 0 <= slot < len(self._adapters):
            raise lib.OleErrorInvalidarg(f"slot {slot}")
        return self._adapters[slot]

    def get_serial_port(self, slot: int) -> FakeSerialPort:
        return self._serial[slot]

    def get_parallel_port(self, slot: int) -> FakeParallelPort:
        return self._parallel[slot]

    def get_guest_property_value(self, property_p: str) -> str:
        return self._guest_props.get(property_p, "")

    def get_extra_data(self, key: str) -> str:
        return self._extra.get(key, "")

    def set_extra_data(self, key: str, value: str) -> None:
        self._extra[key] = value  # VirtualBox allows extradata at any time

    def create_shared_folder(
        self, name: str, host_path: str, writable: bool, automount: bool, auto_mount_point: str
    ) -> None:
        self._check("create_shared_folder")
        folder = FakeSharedFolder(name, host_path, writable, automount, auto_mount_point)
        self.shared_folders.append(folder)
        self._seal(self._mode)

    def remove_shared_folder(self, name: str) -> None:
        self._check("remove_shared_folder")
        if self._fail_on == "remove_shared_folder":
            raise lib.VBoxErrorFileError("simulated failure")
        self.shared_folders[:] = [f for f in self.shared_folders if f.name != name]

    def add_usb_controller(self, name: str, type_p: Any) -> None:
        self._check("add_usb_controller")
        self.usb_controllers.append(FakeUSBController(name, str(type_p)))
        self._seal(self._mode)

    def remove_usb_controller(self, name: str) -> None:
        self._check("remove_usb_controller")
        self.usb_controllers[:] = [c for c in self.usb_controllers if c.name != name]

    def attach_host_pci_device(
        self, host_address: int, desired_guest_address: int, try_to_unbind: bool
    ) -> None:
        self._check("attach_host_pci_device")
        self.pci_device_assignments.append(FakePCIDeviceAttachment(host_address, desired_guest_address))
        self._seal(self._mode)

    def detach_host_pci_device(self, host_address: int) -> None:
        self._check("detach_host_pci_device")
        self.pci_device_assignments[:] = [
            a for a in self.pci_device_assignments if a.host_address != host_address
        ]

    def lock_machine(self, session: FakeSession, lock_type: Any) -> None:
        running = str(self.state) in ("Running", "Paused")
        write = str(lock_type) == "Write"
        if self._denied:
            raise lib.OleErrorAccessdenied("The object functionality is limited")
        if self._locked_by_other or self._locks or (write and running):
            raise lib.VBoxErrorInvalidObjectState("machine is locked by another session")
        clone = copy.deepcopy(self)
        object.__setattr__(clone, "_origin", self)
        clone._seal("write" if write else "shared")
        self._locks += 1
        session.machine, session.console = clone, FakeConsole(clone)

    def save_settings(self) -> None:
        origin = self._origin
        saved = copy.deepcopy(self)
        for key, value in vars(saved).items():
            if key not in ("_origin", "_locks", "_locked_by_other", "_saves", "_denied", "state"):
                object.__setattr__(origin, key, value)
        origin._seal("immutable")
        object.__setattr__(origin, "_saves", origin._saves + 1)
        origin._event("on_machine_data_changed")

    def discard_settings(self) -> None:
        """Drop the copy's changes: the registered machine never saw them."""

    def launch_vm_process(self, session: FakeSession, type_p: str, environment: str) -> FakeProgress:
        self._set_state("Running")
        session.machine = None
        return FakeProgress()


class FakeVirtualBox:
    def __init__(self, version: str = "6.1.50") -> None:
        self.version = version
        self.machines: list[FakeMachine] = []
        self.event_source = FakeEventSource()

    def find_machine(self, name_or_id: str) -> FakeMachine:
        for machine in self.machines:
            if name_or_id in (machine.name, machine.id_p):
                return machine
        raise lib.VBoxErrorObjectNotFound(f"Could not find a registered machine named '{name_or_id}'")

    def _add(self, machine: FakeMachine) -> FakeMachine:
        self.machines.append(machine._seal("immutable"))
        object.__setattr__(machine, "_events", self.event_source)
        return machine


PYVBOX_CLASS = {
    FakeVirtualBox: lib.IVirtualBox,
    FakeSession: lib.ISession,
    FakeConsole: lib.IConsole,
    FakeEventSource: lib.IEventSource,
    FakeEventListener: lib.IEventListener,
    FakeMachineEvent: lib.IMachineEvent,
    FakeProgress: lib.IProgress,
    FakeMachine: lib.IMachine,
    FakeNetworkAdapter: lib.INetworkAdapter,
    FakeNATEngine: lib.INATEngine,
    FakeSharedFolder: lib.ISharedFolder,
    FakeUSBController: lib.IUSBController,
    FakeAudioAdapter: lib.IAudioAdapter,
    FakeVRDEServer: lib.IVRDEServer,
    FakeSerialPort: lib.ISerialPort,
    FakeParallelPort: lib.IParallelPort,
    FakePCIDeviceAttachment: lib.IPCIDeviceAttachment,
    FakeUSBDeviceFilters: lib.IUSBDeviceFilters,
    FakeUSBDeviceFilter: lib.IUSBDeviceFilter,
}
