"""The live VirtualBox driver, through pyvbox (PyPI `virtualbox`, import `virtualbox`).

Changes are made on the session's mutable machine under a lock (a write lock when the
VM is off, a shared one for the settings VirtualBox changes on a running VM), then
saved with saveSettings; any failure discards them, so nothing is half-applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from vmguard.checks.unit import Action
from vmguard.core.errors import DriverError
from vmguard.core.modes import TransferMode
from vmguard.drivers.interface import ApplyResult
from vmguard.drivers.vbox import live_facts as live
from vmguard.drivers.vbox import names
from vmguard.drivers.vbox.api import Api, generation_of
from vmguard.enforce.plan import Capabilities, Change, Plan
from vmguard.facts.vm import HostOnly, HostOnlyKind, PowerState, VmFacts
from vmguard.inventory.model import DriverKind

INSTALL_HINT = (
    "the virtualbox driver needs VirtualBox installed on this host (its Python API, "
    "`vboxapi` with the native VBoxPython module, from the VirtualBox SDK) and "
    "pip install 'vmguard[virtualbox]'"
)
LIVE = frozenset(
    {
        Action.SET_CLIPBOARD,
        Action.SET_DRAG_AND_DROP,
        Action.DETACH_NIC,
        Action.MOVE_NIC,
        Action.DISABLE_REMOTE_DISPLAY,
        Action.LISTEN_LOCALHOST,
        Action.REQUIRE_DISPLAY_AUTH,
    }
)
SUPPORTED = frozenset(set(Action) - {Action.REMOVE_GUEST_AGENT})
WAIT_MS = 60_000


def _line(err: BaseException) -> str:
    text = str(getattr(err, "msg", "") or err) or type(err).__name__
    return text.splitlines()[0]


class VirtualBoxDriver:
    kind = DriverKind.VIRTUALBOX
    capabilities = Capabilities(supported=SUPPORTED, live=LIVE)

    def __init__(self, vbox: Any, session_factory: Callable[[], Any], lib: Any) -> None:
        self.vbox = vbox
        self.new_session = session_factory
        self.api = Api(lib, generation_of(vbox.version))

    @classmethod
    def connect(cls) -> VirtualBoxDriver:
        """The local VirtualBox; DriverError naming what to install when it is missing."""
        try:
            import virtualbox
            from virtualbox import library

            return cls(virtualbox.VirtualBox(), virtualbox.Session, library)
        except ImportError as err:
            raise DriverError(f"{INSTALL_HINT} ({_line(err)})") from None
        except Exception as err:  # pyvbox raises bare Exceptions when VBoxSVC is absent
            raise DriverError(f"cannot reach VirtualBox: {_line(err)}") from None

    def check_host_only(self, host_only: HostOnly | None) -> None:
        """Refuse a connection whose host-only network this VirtualBox cannot reach, before
        anything is planned: a 6.x host has no host-only networks (7.0 added them), so a
        plan would propose moves that apply must refuse."""
        networks = host_only is not None and host_only.kind is HostOnlyKind.HOSTONLY_NETWORK
        if networks and self.api.generation < 7:
            raise DriverError(
                f"VirtualBox {self.vbox.version} has no host-only networks ({host_only} needs "
                "VirtualBox 7): name a hostonly_interface in the inventory"
            )

    def close(self) -> None:
        """pyvbox keeps one manager per process; nothing to release per driver."""

    def _machine(self, name: str) -> Any:
        lib = self.api.lib
        try:
            return self.vbox.find_machine(name)
        except lib.VBoxErrorObjectNotFound:
            raise DriverError(f"VirtualBox: no VM named {name!r}") from None
        except lib.VBoxError as err:
            raise DriverError(f"VirtualBox: {name}: {_line(err)}") from None

    def list_vms(self) -> list[str]:
        return sorted(m.name for m in self.vbox.machines)

    def read_facts(self, name: str) -> VmFacts:
        try:
            return live.read(self.api, self._machine(name))
        except self.api.lib.VBoxError as err:
            raise DriverError(f"VirtualBox: {name}: {_line(err)}") from None

    def _running(self, machine: Any) -> bool:
        return live.power_state(self.api, machine) in (PowerState.RUNNING, PowerState.PAUSED)

    @contextmanager
    def _locked(self, name: str, *, shared: bool = False) -> Iterator[Any]:
        """The session's mutable machine; settings saved on success, discarded on error."""
        lib, session = self.api.lib, self.new_session()
        lock = lib.LockType.shared if shared else lib.LockType.write
        try:
            self._machine(name).lock_machine(session, lock)
        except lib.OleErrorAccessdenied as err:
            raise DriverError(f"VirtualBox: {name}: permission denied ({_line(err)})") from None
        except lib.VBoxError as err:
            raise DriverError(
                f"VirtualBox: VM {name!r} is locked by another session ({_line(err)})"
            ) from None
        mutable = session.machine
        try:
            yield session
            mutable.save_settings()
        except Exception as err:  # whatever failed, nothing of it may be saved
            mutable.discard_settings()
            if isinstance(err, lib.VBoxError | DriverError):
                raise DriverError(f"VirtualBox: {name}: nothing changed: {_line(err)}") from None
            raise
        finally:
            session.unlock_machine()

    def apply(self, name: str, plan: Plan, *, dry_run: bool) -> ApplyResult:
        machine = self._machine(name)
        running = self._running(machine)
        blocked = [c for c in plan.changes if running and c.action not in LIVE]
        if blocked:
            raise DriverError(
                f"VirtualBox cannot change {blocked[0].subject} while {name} "
                "runs; power it off first (--power-off-ok)"
            )
        if dry_run or not plan.changes:
            return ApplyResult(name, dry_run=dry_run)
        with self._locked(name, shared=running) as session:
            for change in plan.changes:
                self._change(session.machine, change, running)
        return ApplyResult(name, applied=plan.changes)

    def _change(self, m: Any, change: Change, running: bool) -> None:
        act, api = change.action, self.api
        if act is Action.SET_CLIPBOARD:
            m.clipboard_mode = api.value("ClipboardMode", _mode(change.wanted))
        elif act is Action.SET_DRAG_AND_DROP:
            m.dn_d_mode = api.value("DnDMode", _mode(change.wanted))
        elif act is Action.DETACH_NIC:
            adapter = m.get_network_adapter(int(change.target.partition("/")[0]))
            api.attach(adapter, "Null")
            if not running:
                adapter.enabled = False
        elif act is Action.MOVE_NIC:
            self._move_nic(m, change)
        elif act in (Action.DISABLE_REMOTE_DISPLAY, Action.LISTEN_LOCALHOST, Action.REQUIRE_DISPLAY_AUTH):
            self._vrde(m.vrde_server, act)
        elif act in SHARE_ACTIONS:
            self._share(m, change)
        else:
            self._device(m, act)

    def _move_nic(self, m: Any, change: Change) -> None:
        """Attach the adapter to the host-only interface or (7.x) host-only network; its
        MAC and adapter type stay."""
        to = change.destination
        kind = None if to is None else MOVE_TO.get(to.kind)
        if to is None or kind is None or (kind == "HostOnlyNetwork" and self.api.generation < 7):
            raise DriverError(
                f"{change.subject}: VirtualBox {self.api.generation}.x cannot attach a NIC to {to} "
                "(host-only networks need VirtualBox 7)"
            )
        adapter = m.get_network_adapter(int(change.target.partition("/")[0]))
        _set_network(adapter, kind, to.name)
        self.api.attach(adapter, kind)

    def _vrde(self, server: Any, act: Action) -> None:
        if act is Action.DISABLE_REMOTE_DISPLAY:
            server.enabled = False
        elif act is Action.LISTEN_LOCALHOST:
            server.set_vrde_property("TCP/Address", "127.0.0.1")
        else:
            server.auth_type = self.api.value("AuthType", "External")

    def _share(self, m: Any, change: Change) -> None:
        """VirtualBox cannot edit a share: remove it and create it anew."""
        found = [sf for sf in m.shared_folders if sf.name == change.target]
        if not found:
            raise DriverError(f"no shared folder {change.target!r}")
        sf, key = found[0], names.SYMLINKS_KEY + change.target
        if change.action is Action.DISABLE_SHARE_SYMLINKS:
            m.set_extra_data(key, "")
            return
        path, writable, automount = sf.host_path, sf.writable, sf.auto_mount
        point = sf.auto_mount_point
        m.remove_shared_folder(change.target)
        if change.action is Action.REMOVE_SHARE:
            m.set_extra_data(key, "")
            return
        if change.action is Action.SET_SHARE_READONLY:
            writable = False
        else:
            automount = change.wanted == "true"
        m.create_shared_folder(change.target, path, writable, automount, point)

    def _device(self, m: Any, act: Action) -> None:
        if act is Action.REMOVE_USB:
            for controller in list(m.usb_controllers):
                m.remove_usb_controller(controller.name)
        elif act is Action.REMOVE_AUDIO:
            self.api.audio_adapter(m).enabled = False
        elif act is Action.REMOVE_SERIAL_PORTS:
            for i in range(live.SERIAL_PORTS):
                m.get_serial_port(i).enabled = False
        elif act is Action.REMOVE_PARALLEL_PORTS:
            for i in range(live.PARALLEL_PORTS):
                m.get_parallel_port(i).enabled = False
        elif act is Action.REMOVE_HOST_DEVICES:
            for assignment in list(m.pci_device_assignments):
                m.detach_host_pci_device(assignment.host_address)
            for usb_filter in m.usb_device_filters.device_filters:
                usb_filter.active = False
        else:
            raise DriverError(f"VirtualBox cannot {act.value}")

    def backup(self, name: str) -> bytes:
        """The settings vmguard may change, as JSON (VBoxSVC owns the .vbox file)."""
        return json.dumps(_settings(self.api, self._machine(name)), indent=1).encode()

    def restore(self, name: str, config: bytes) -> None:
        saved = json.loads(config)
        if saved.get("name") != name:
            raise DriverError(f"backup is of VM {saved.get('name')!r}, not {name!r}")
        if self._running(self._machine(name)):
            raise DriverError(f"VirtualBox: power {name} off before rolling it back")
        with self._locked(name) as session:
            _restore(self.api, session.machine, saved)

    def power_off(self, name: str, *, hard: bool = False) -> None:
        """VirtualBox's power-down is always hard (the power button pulled)."""
        machine = self._machine(name)
        if not self._running(machine):
            return
        with self._locked(name, shared=True) as session:
            session.console.power_down().wait_for_completion(WAIT_MS)

    def pause(self, name: str) -> None:
        if live.power_state(self.api, self._machine(name)) is not PowerState.RUNNING:
            return
        with self._locked(name, shared=True) as session:
            session.console.pause()

    def start(self, name: str) -> None:
        session = self.new_session()
        progress = self._machine(name).launch_vm_process(session, "headless", "")
        progress.wait_for_completion(WAIT_MS)
        session.unlock_machine()


# Host-only kind -> the attachment type that reaches it.
MOVE_TO = {HostOnlyKind.HOSTONLY_INTERFACE: "HostOnly", HostOnlyKind.HOSTONLY_NETWORK: "HostOnlyNetwork"}


def _set_network(adapter: Any, kind: str, name: str) -> None:
    """Name the network of a host-only adapter (read back by live.network_of)."""
    if kind == "HostOnlyNetwork":  # 7.x only: pyvbox has no property for it
        adapter._set_attr("hostOnlyNetwork", name)
    elif kind == "HostOnly":
        adapter.host_only_interface = name


SHARE_ACTIONS = (
    Action.REMOVE_SHARE,
    Action.SET_SHARE_READONLY,
    Action.SET_SHARE_AUTOMOUNT,
    Action.DISABLE_SHARE_SYMLINKS,
)


def _mode(wanted: str) -> str:
    return names.TRANSFER_NAMES[TransferMode(wanted)]


def _settings(api: Api, m: Any) -> dict[str, Any]:
    audio = api.audio_adapter(m)
    return {
        "name": m.name,
        "clipboard": api.name("ClipboardMode", m.clipboard_mode),
        "dnd": api.name("DnDMode", m.dn_d_mode),
        "nics": [
            [int(a.slot), bool(a.enabled), kind, live.network_of(a, kind)]
            for a in live.adapters(api, m)
            for kind in [api.attachment(a)]
        ],
        "shares": [
            [
                sf.name,
                sf.host_path,
                bool(sf.writable),
                bool(sf.auto_mount),
                sf.auto_mount_point,
                m.get_extra_data(names.SYMLINKS_KEY + sf.name),
            ]
            for sf in m.shared_folders
        ],
        "usb": [[c.name, api.name("USBControllerType", c.type_p)] for c in m.usb_controllers],
        "audio": bool(audio.enabled),
        "vrde": [
            bool(m.vrde_server.enabled),
            m.vrde_server.get_vrde_property("TCP/Address"),
            api.name("AuthType", m.vrde_server.auth_type),
        ],
        "serial": [bool(m.get_serial_port(i).enabled) for i in range(live.SERIAL_PORTS)],
        "parallel": [bool(m.get_parallel_port(i).enabled) for i in range(live.PARALLEL_PORTS)],
        "pci": [[int(a.host_address), int(a.guest_address)] for a in m.pci_device_assignments],
        "usb_filters": [bool(f.active) for f in m.usb_device_filters.device_filters],
    }


def _restore(api: Api, m: Any, saved: dict[str, Any]) -> None:
    m.clipboard_mode = api.value("ClipboardMode", saved["clipboard"])
    m.dn_d_mode = api.value("DnDMode", saved["dnd"])
    for slot, enabled, kind, *network in saved["nics"]:  # backups before 2026-12: no network
        adapter = m.get_network_adapter(slot)
        if network:
            _set_network(adapter, kind, network[0])
        api.attach(adapter, kind)
        adapter.enabled = enabled
    for sf in list(m.shared_folders):
        m.remove_shared_folder(sf.name)
    for name, path, writable, automount, point, symlinks in saved["shares"]:
        m.create_shared_folder(name, path, writable, automount, point)
        m.set_extra_data(names.SYMLINKS_KEY + name, symlinks)
    for controller in list(m.usb_controllers):
        m.remove_usb_controller(controller.name)
    for name, kind in saved["usb"]:
        m.add_usb_controller(name, api.value("USBControllerType", kind))
    api.audio_adapter(m).enabled = saved["audio"]
    enabled, address, auth = saved["vrde"]
    m.vrde_server.enabled = enabled
    m.vrde_server.set_vrde_property("TCP/Address", address)
    m.vrde_server.auth_type = api.value("AuthType", auth)
    for i, enabled in enumerate(saved["serial"]):
        m.get_serial_port(i).enabled = enabled
    for i, enabled in enumerate(saved["parallel"]):
        m.get_parallel_port(i).enabled = enabled
    for assignment in list(m.pci_device_assignments):
        m.detach_host_pci_device(assignment.host_address)
    for host, guest in saved["pci"]:
        m.attach_host_pci_device(host, guest, True)
    for usb_filter, active in zip(m.usb_device_filters.device_filters, saved["usb_filters"], strict=False):
        usb_filter.active = active
