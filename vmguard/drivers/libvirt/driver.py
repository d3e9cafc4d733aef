"""The libvirt driver: facts from domain XML, apply by redefining the persistent XML.

libvirt cannot drop a display's clipboard, a sound card or a serial port from a running
QEMU, so for a running domain a change is written to the persistent definition and takes
effect at the next boot (or now, if the caller lets vmguard power the VM off). A NIC is
the exception: it is also hot-unplugged from the running guest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from vmguard.checks.unit import Action
from vmguard.core import progress
from vmguard.core.errors import DriverError
from vmguard.drivers import safexml
from vmguard.drivers.interface import ApplyResult
from vmguard.drivers.libvirt import facts as libvirt_facts
from vmguard.drivers.libvirt import transform as libvirt_transform
from vmguard.drivers.libvirt.nics import network_attachment_of
from vmguard.enforce.plan import Capabilities, Change, Plan
from vmguard.facts.vm import Attachment, Disk, PowerState, VmFacts
from vmguard.inventory.model import DriverKind

try:
    import libvirt
except ImportError:  # pragma: no cover - exercised only on hosts without libvirt-python
    libvirt = None

STATES = {
    1: PowerState.RUNNING,  # VIR_DOMAIN_RUNNING
    2: PowerState.RUNNING,  # BLOCKED: running, waiting on a resource
    3: PowerState.PAUSED,
    4: PowerState.RUNNING,  # SHUTDOWN: being shut down
    5: PowerState.OFF,
    6: PowerState.OFF,  # CRASHED
    7: PowerState.PAUSED,  # PMSUSPENDED
}
# Not a libvirt concept: the guest mounts a tag itself; display passwords are secrets
# vmguard does not invent.
UNSUPPORTED = {Action.SET_SHARE_AUTOMOUNT, Action.REQUIRE_DISPLAY_AUTH}
SHUTDOWN_WAIT = 30.0
UNPLUG_WAIT = 10.0  # the guest acknowledges a PCI unplug through ACPI
# A NIC can be unplugged from a running QEMU; clipboard, sound, serial and the rest are
# fixed on QEMU's command line until the next boot.
LIVE = frozenset({Action.DETACH_NIC, Action.MOVE_NIC})


def _as_parsed(name: str) -> str:
    """A name as an XML parser reads it back (line ends normalised to LF)."""
    return name.replace("\r\n", "\n").replace("\r", "\n")


def _error_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


class LibvirtDriver:
    kind = DriverKind.LIBVIRT
    capabilities = Capabilities(supported=frozenset(set(Action) - UNSUPPORTED), live=LIVE)

    def __init__(self, uri: str) -> None:
        if libvirt is None:
            raise DriverError("libvirt driver needs libvirt-python: pip install 'vmguard[libvirt]'")
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # no stderr noise
        self.uri = uri
        try:
            self.conn = libvirt.open(uri)
        except libvirt.libvirtError as err:
            hint = ""
            if uri.endswith("/system") and os.geteuid() != 0:
                hint = " (permission denied? qemu:///system needs root or a polkit grant)"
            raise DriverError(f"cannot reach libvirt at {uri}: {_error_line(err)}{hint}") from None

    def close(self) -> None:
        self.conn.close()

    def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except libvirt.libvirtError as err:
            raise DriverError(f"{self.uri}: {what}: {_error_line(err)}") from None

    def _domain(self, name: str) -> Any:
        try:
            return self.conn.lookupByName(name)
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise DriverError(f"{self.uri}: no VM named {name!r}") from None
            raise DriverError(f"{self.uri}: {name}: {_error_line(err)}") from None

    def list_vms(self) -> list[str]:
        return sorted(d.name() for d in self._call("list domains", self.conn.listAllDomains))

    def _network(self, name: str) -> Attachment | None:
        try:
            xml = self.conn.networkLookupByName(name).XMLDesc(0)
        except libvirt.libvirtError:
            return None
        return network_attachment_of(safexml.parse(xml, f"network {name}"))

    def host_only_bridge(self, network: str) -> str:
        """The bridge of an isolated network (no <forward>): the host side of host-only."""
        xml = self._call(f"network {network}", lambda: self.conn.networkLookupByName(network).XMLDesc(0))
        root = safexml.parse(xml, f"network {network}")
        attachment = network_attachment_of(root)
        bridge = root.find("bridge")
        if attachment is not Attachment.HOST_ONLY or bridge is None or not bridge.get("name"):
            why = f"forward mode {attachment.value}" if bridge is not None else "no bridge"
            raise DriverError(f"{self.uri}: network {network} is not an isolated network ({why})")
        return bridge.get("name")

    def _power(self, dom: Any) -> PowerState:
        state = self._call("state", dom.state)[0]
        if state == 5 and self._call("managed save", dom.hasManagedSaveImage, 0):
            return PowerState.SAVED
        return STATES.get(state, PowerState.UNKNOWN)

    def read_facts(self, name: str) -> VmFacts:
        """Facts of the configuration in effect now: the live one while the VM runs.
        SECURE: without it libvirt hides display passwords, and every display would
        look unauthenticated."""
        dom = self._domain(name)
        root = self._domain_xml(dom, libvirt.VIR_DOMAIN_XML_SECURE)
        facts = libvirt_facts.facts_from_xml(root, lookup=self._network, power=self._power(dom))
        return replace(facts, disks=tuple(self._resolved(d) for d in facts.disks))

    def read_next_boot_facts(self, name: str) -> VmFacts:
        """Facts of the persistent definition, which a running domain boots with next
        (a `virsh define` on a running domain changes only this). Read as if off."""
        dom = self._domain(name)
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
        root = self._domain_xml(dom, flags)
        facts = libvirt_facts.facts_from_xml(root, lookup=self._network, power=PowerState.OFF)
        return replace(facts, disks=tuple(self._resolved(d) for d in facts.disks))

    def _resolved(self, disk: Disk) -> Disk:
        """A pool volume with its path (and format) as libvirt's storage pool knows it."""
        if not disk.volume:
            return disk
        pool, _, volume = disk.volume.partition("/")
        try:
            vol = self.conn.storagePoolLookupByName(pool).storageVolLookupByName(volume)
            path, xml = vol.path(), vol.XMLDesc(0)
        except libvirt.libvirtError as err:
            return replace(disk, problem=f"pool volume {disk.volume} not found: {_error_line(err)}")
        fmt = safexml.parse(xml, f"volume {disk.volume}").find("target/format")
        return replace(disk, path=path, format=disk.format or ("" if fmt is None else fmt.get("type", "")))

    def _domain_xml(self, dom: Any, flags: int) -> safexml.Element:
        """The domain's XML with <name> exactly as libvirt names the domain. XML parsing
        turns a CR in a name into LF, so the parsed name could be another domain's, and
        facts, plans and a redefinition would then name (and act on) that other VM."""
        root = safexml.parse(self._call("read XML", dom.XMLDesc, flags), f"{self.uri} domain")
        name = root.find("name")
        if name is not None:
            name.text = dom.name()
        return root

    def persistent_xml(self, name: str) -> str:
        """The definition used at next boot, secrets (display passwords) included."""
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
        return self._call("read XML", self._domain(name).XMLDesc, flags)

    def backup(self, name: str) -> bytes:
        return self.persistent_xml(name).encode()

    def restore(self, name: str, config: bytes) -> None:
        root = safexml.parse(config, f"backup of {name}")
        if root.findtext("name") != _as_parsed(name):
            raise DriverError(f"backup is of VM {root.findtext('name')!r}, not {name!r}")
        root.find("name").text = name  # the exact name, not the parser's reading of it
        self._call("define", self.conn.defineXML, safexml.to_string(root))

    def apply(self, name: str, plan: Plan, *, dry_run: bool) -> ApplyResult:
        """Redefine the persistent XML; on a running domain also unplug what can go live.
        A live unplug the guest does not complete in time is reported as next-boot. On a
        running domain, a NIC or share already gone from the persistent definition (saved
        for the next boot earlier) is only unplugged live, not looked for again."""
        dom = self._domain(name)
        root = self._domain_xml(dom, libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        running = self._power(dom) in (PowerState.RUNNING, PowerState.PAUSED)
        pending = [c for c in plan.changes if running and libvirt_transform.saved(root, c)]
        todo = tuple(c for c in plan.changes if c not in pending)
        new = libvirt_transform.transform(root, todo)  # raises before any change
        if dry_run or not plan.changes:
            return ApplyResult(name, dry_run=dry_run)
        if todo:
            self._call("define", self.conn.defineXML, safexml.to_string(new))
        if not running:
            return ApplyResult(name, applied=plan.changes)
        live = [c for c in plan.changes if c.action in LIVE and self._live(dom, c)]
        rest = tuple(c for c in plan.changes if c not in live)
        return ApplyResult(name, applied=tuple(live), next_boot=rest)

    def _live_nic(self, dom: Any, target: str) -> Any:
        root = safexml.parse(self._call("read XML", dom.XMLDesc, 0), "live domain")
        try:
            return libvirt_transform.find_nic(root, target)
        except DriverError:
            return None

    def _live(self, dom: Any, change: Change) -> bool:
        if change.action is Action.MOVE_NIC:
            return self._move_nic(dom, change)
        return self._unplug_nic(dom, change.target)

    def _move_nic(self, dom: Any, change: Change) -> bool:
        """Move a running guest's NIC: libvirt switches a network or bridge NIC's source
        in place; any other (user-mode, macvtap) is unplugged and plugged in anew with the
        same MAC. True once the guest's NIC is on the host-only network."""
        nic = self._live_nic(dom, change.target)
        if nic is None or change.destination is None:
            return False
        new = libvirt_transform.moved_nic(nic, change.destination)
        for alias in new.findall("alias"):  # libvirt's own name; a hotplug may not set it
            new.remove(alias)
        xml, flags = safexml.to_string(new), libvirt.VIR_DOMAIN_AFFECT_LIVE
        try:
            dom.updateDeviceFlags(xml, flags)
            return True
        except libvirt.libvirtError:
            pass  # a type change: needs a replug
        if not self._unplug_nic(dom, change.target):
            return False
        try:
            dom.attachDeviceFlags(xml, flags)
        except libvirt.libvirtError:
            return False  # unplugged, off the network until the next boot: still isolated
        return True

    def _unplug_nic(self, dom: Any, target: str) -> bool:
        """Hot-unplug one NIC from the running QEMU; True once it is gone."""
        nic = self._live_nic(dom, target)
        if nic is None:
            return True
        try:
            dom.detachDeviceFlags(safexml.to_string(nic), libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError:
            return False  # e.g. the guest has not finished booting its ACPI support
        deadline = time.monotonic() + UNPLUG_WAIT
        while self._live_nic(dom, target) is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def power_off(self, name: str, *, hard: bool = False) -> None:
        """ACPI shutdown, then a hard stop if the guest has not gone within 30 s."""
        dom = self._domain(name)
        if not self._call("state", dom.isActive):
            return
        if hard:
            self._call("destroy", dom.destroy)
            return
        self._call("shutdown", dom.shutdown)
        with progress.step(f"shutting down {name} (a hard stop after {SHUTDOWN_WAIT:.0f} s)"):
            deadline = time.monotonic() + SHUTDOWN_WAIT
            while time.monotonic() < deadline:
                if not self._call("state", dom.isActive):
                    return
                time.sleep(0.5)
        self._call("destroy", dom.destroy)

    def pause(self, name: str) -> None:
        dom = self._domain(name)
        if self._call("state", dom.state)[0] == libvirt.VIR_DOMAIN_RUNNING:
            self._call("pause", dom.suspend)

    def start(self, name: str) -> None:
        self._call("start", self._domain(name).create)
