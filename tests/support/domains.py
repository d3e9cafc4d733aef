"""TCG test domains on a real qemu:///system: define, start, wait for the agent, clean up.

Every domain boots the shared guest image by direct kernel boot, has a serial console
written to a file, a virtio-serial channel for qemu-ga, and no network interface.
Names start with `vmg-test-` so a leftover is easy to spot (`virsh list --all`).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import libvirt
import libvirt_qemu

from tests.support.guest_image import AGENT_PORT, CACHE_ROOT, GuestImage
from tests.support.ownership import left_by_dead_run, owned_name

NAME_PREFIX = "vmg-test-"
AGENT_WAIT_SECONDS = 120
# A ping that finds no agent yet fails at once; half a second between pings cost a
# quarter of a second per boot on average, some 60 boots a run.
AGENT_POLL_SECONDS = 0.1
# The console file must be reachable by the libvirt-qemu user: not under a 0700 tmp dir.
CONSOLE_DIR = CACHE_ROOT / "consoles"

DOMAIN_XML = """\
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='file'>
      <source path='{console}'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='{agent_port}'/>
    </channel>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
{extra_devices}  </devices>
</domain>
"""


class GuestAgentTimeout(AssertionError):
    """The guest agent never answered; the message carries the console's tail."""


def reap_stale(conn: libvirt.virConnect) -> list[str]:
    """Undefine the shut-off test domains of runs killed before their clean-up ran.

    A running one is left alone: only its owner may stop it.
    """
    stale = [
        dom
        for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE)
        if left_by_dead_run(dom.name(), NAME_PREFIX)
    ]
    for dom in stale:
        destroy_and_undefine(dom)
    return [dom.name() for dom in stale]


def domain_xml(
    name: str,
    image: GuestImage,
    console: Path,
    *,
    memory_mib: int = 256,
    vcpus: int = 1,
    extra_devices: str = "",
) -> str:
    """The XML of a test domain; `extra_devices` is raw XML put inside <devices>."""
    return DOMAIN_XML.format(
        name=escape(name),
        memory_mib=memory_mib,
        vcpus=vcpus,
        kernel=escape(str(image.kernel)),
        initrd=escape(str(image.initrd)),
        cmdline=escape(image.cmdline),
        console=escape(str(console)),
        agent_port=AGENT_PORT,
        extra_devices=extra_devices,
    )


@dataclass(frozen=True)
class GuestExec:
    exitcode: int
    stdout: str
    stderr: str


def _request(command: str, arguments: dict | None) -> str:
    request: dict = {"execute": command}
    if arguments is not None:
        request["arguments"] = arguments
    return json.dumps(request)


def _b64(status: dict, key: str) -> str:
    return base64.b64decode(status.get(key, "")).decode(errors="replace")


@dataclass
class TcgDomain:
    dom: libvirt.virDomain
    console: Path

    @property
    def name(self) -> str:
        return self.dom.name()

    def console_text(self) -> str:
        return self.console.read_text(errors="replace") if self.console.exists() else ""

    def agent(self, command: str, arguments: dict | None = None, timeout: int = 10):
        """Run one guest-agent command; returns its "return" value."""
        reply = libvirt_qemu.qemuAgentCommand(self.dom, _request(command, arguments), timeout, 0)
        return json.loads(reply)["return"]

    def qmp(self, command: str, arguments: dict | None = None):
        """Ask QEMU itself (its monitor), e.g. "query-pci": what the VM really has."""
        reply = libvirt_qemu.qemuMonitorCommand(self.dom, _request(command, arguments), 0)
        return json.loads(reply)["return"]

    def exec(self, argv: list[str], timeout: float = 30) -> GuestExec:
        """Run a program in the guest through the agent and wait for it to exit."""
        started = self.agent("guest-exec", {"path": argv[0], "arg": argv[1:], "capture-output": True})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.agent("guest-exec-status", {"pid": started["pid"]})
            if status["exited"]:
                return GuestExec(
                    status.get("exitcode", -1), _b64(status, "out-data"), _b64(status, "err-data")
                )
            time.sleep(0.2)
        raise GuestAgentTimeout(f"{self.name}: {argv} still running after {timeout}s")

    def wait_agent(self, timeout: float = AGENT_WAIT_SECONDS) -> float:
        """Poll guest-ping until it answers; returns the seconds it took."""
        start = time.monotonic()
        while True:
            try:
                self.agent("guest-ping", timeout=5)
                return time.monotonic() - start
            except libvirt.libvirtError as err:
                last = str(err)
            if not self.dom.isActive() or time.monotonic() - start > timeout:
                tail = self.console_text()[-2000:]
                raise GuestAgentTimeout(
                    f"{self.name}: no guest-ping answer after {timeout:.0f}s "
                    f"(active={bool(self.dom.isActive())}, last error: {last})\n"
                    f"--- console tail ---\n{tail}"
                )
            time.sleep(AGENT_POLL_SECONDS)


@dataclass
class TcgDomainFactory:
    """Makes test domains and, in cleanup(), destroys and undefines every one of them."""

    conn: libvirt.virConnect
    image: GuestImage
    made: list[TcgDomain] = field(default_factory=list)

    def xml(self, name: str | None = None, **options) -> str:
        """XML for a new domain, for a test that edits it before defining."""
        name = name or owned_name(NAME_PREFIX)  # its pid lets reap_stale() judge it
        return domain_xml(name, self.image, self._console(name), **options)

    def define(self, xml: str | None = None, **options) -> TcgDomain:
        """Define a persistent domain (not started) from `xml` or from xml(**options)."""
        dom = self.conn.defineXML(xml or self.xml(**options))
        made = TcgDomain(dom, self._console(dom.name()))
        self.made.append(made)
        return made

    def start(self, xml: str | None = None, *, wait_agent: bool = True, **options) -> TcgDomain:
        """Define, start and (by default) wait until the guest agent answers."""
        made = self.define(xml, **options)
        made.dom.create()
        if wait_agent:
            made.wait_agent()
        return made

    def cleanup(self) -> None:
        for made in self.made:
            destroy_and_undefine(made.dom)
            made.console.unlink(missing_ok=True)
        self.made.clear()

    @staticmethod
    def _console(name: str) -> Path:
        CONSOLE_DIR.mkdir(parents=True, exist_ok=True)
        CONSOLE_DIR.chmod(0o755)
        return CONSOLE_DIR / f"{name}.log"


def destroy_and_undefine(dom: libvirt.virDomain) -> None:
    """Remove a domain whatever its state; a domain already gone is fine."""
    try:
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
        )
    except libvirt.libvirtError as err:
        if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
