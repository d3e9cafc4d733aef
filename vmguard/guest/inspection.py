"""The audit's entry point: fill VmFacts.guest from a VM's disks (and its agent, online).

Call `inspect(facts, online=...)` once per VM before the checks run; it returns the
GuestFacts to put in facts.guest (dataclasses.replace), or None when the VM has no
disk image to read. Results are cached by image content, so an hourly audit re-reads
only the disks that changed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from vmguard.core import progress
from vmguard.core.errors import GuestError
from vmguard.guest.agent import AgentTransport, LibvirtAgent, read_online
from vmguard.guest.cache import GuestCache, cache_key
from vmguard.guest.disks import check_all
from vmguard.guest.model import GuestFacts
from vmguard.guest.offline import DEFAULT_TIMEOUT, inspect_disks

if TYPE_CHECKING:  # vmguard.facts.vm imports vmguard.guest.model: no import cycle at run time
    from vmguard.facts.vm import VmFacts

RUNNING = ("running", "paused")


def inspect(
    facts: VmFacts,
    *,
    online: bool = False,
    agent: AgentTransport | None = None,
    libvirt_uri: str = "qemu:///system",
    cache: GuestCache | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    scan_files: bool = True,
) -> GuestFacts | None:
    """GuestFacts of one VM; GuestError when its disks cannot be read in `timeout` s.

    online: also ask the running VM's guest agent (given, or, for a libvirt VM with a
    qemu-ga channel, found through libvirt at libvirt_uri) for logged-in users and
    listening sockets.
    """
    disks = [(d.path, d.format) for d in facts.disks if d.path]
    if not disks:
        return None
    check_all(disks)  # a format to guess: refused before anything opens the images
    running = facts.power_state.value in RUNNING
    cache = cache or GuestCache()
    key = cache_key(disks, scan_files)
    found = cache.get(key)
    if found is None:
        with progress.step(f"inspecting the guest of {facts.name} (about 30 s)"):
            found = inspect_disks(disks, timeout=timeout, scan_files=scan_files, running=running)
        cache.put(key, found)
    if online and running and (agent or _has_agent_channel(facts)):
        found = replace(found, online=read_online(agent or _libvirt_agent(facts, libvirt_uri)))
    return found


def uninspectable(facts: VmFacts) -> list[str]:
    """Why each disk of the VM that vmguard cannot open goes unread (network disks,
    unknown types, pool volumes libvirt could not resolve), or why the whole guest does:
    the VirtualBox drivers do not report disk images."""
    if facts.driver != "libvirt" and not facts.disks:
        return [
            f"guest not inspected: the {facts.driver} driver does not report the VM's disk images "
            "(--guest off audits host-side settings only)"
        ]
    return [
        f"disk {d.volume or d.source.where or '?'} not inspected: {d.problem}"
        for d in facts.disks
        if d.problem
    ]


def _has_agent_channel(facts: VmFacts) -> bool:
    """Without a qemu-ga channel every agent call would fail: no online facts, no noise."""
    return any(c.kind == "qemu-ga" for c in facts.channels)


def _libvirt_agent(facts: VmFacts, uri: str) -> AgentTransport:
    if facts.driver != "libvirt":
        raise GuestError(f"{facts.name}: online inspection needs a libvirt VM (driver {facts.driver})")
    import libvirt

    try:
        conn = libvirt.open(uri)
        domain = conn.lookupByUUIDString(facts.uuid) if facts.uuid else conn.lookupByName(facts.name)
    except libvirt.libvirtError as err:
        raise GuestError(f"{facts.name}: cannot reach its guest agent: {err}") from err
    return LibvirtAgent(domain)
