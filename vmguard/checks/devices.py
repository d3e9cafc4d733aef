"""VMG-DEV: devices and host channels of a VM (VM rules over VmFacts)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from vmguard.checks.common import extra_directions, wanted, where
from vmguard.core.findings import Finding
from vmguard.core.modes import RemoteDisplay, Toggle, TransferMode
from vmguard.facts.vm import Display, Setting, VmFacts
from vmguard.policy.model import Policy

AGENT_CHANNELS = frozenset({"qemu-ga", "vbox-guest-control"})
# A pty is a host-side terminal only root can open; every other mode carries data to a
# file, pipe or socket.
HARMLESS_PORT_MODES = frozenset({"disconnected", "pty", ""})
# Line numbers move when the XML above changes; identities across runs must not.
_LINE = re.compile(r" \(line \d+\)")


def _transfer(
    rule: str, what: str, policy: Policy, facts: VmFacts, setting: Setting, allowed: TransferMode
) -> Iterable[Finding]:
    extra = extra_directions(setting.value, allowed)
    if extra:
        yield Finding(
            rule,
            facts.name,
            f"{what} is {setting.value.value} (allows {', '.join(sorted(extra))})",
            where(setting.source, what),
            wanted(policy, f"spec.devices.{what}", allowed),
        )


def clipboard(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    yield from _transfer("VMG-DEV-001", "clipboard", policy, facts, facts.clipboard, policy.devices.clipboard)


def drag_and_drop(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    yield from _transfer(
        "VMG-DEV-002",
        "drag_and_drop",
        policy,
        facts,
        facts.drag_and_drop,
        policy.devices.drag_and_drop,
    )


def _usb_off(policy: Policy) -> bool:
    return policy.devices.usb is Toggle.DISABLED


def usb_controller(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    if _usb_off(policy) and facts.usb.controllers:
        yield Finding(
            "VMG-DEV-003",
            facts.name,
            f"USB controllers: {', '.join(facts.usb.controllers)}",
            where(facts.usb.source, "usb"),
            wanted(policy, "spec.devices.usb", Toggle.DISABLED),
        )


def usb_redirection(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    if _usb_off(policy) and facts.usb.redirections:
        yield Finding(
            "VMG-DEV-004",
            facts.name,
            f"{facts.usb.redirections} USB redirection channel(s)",
            where(facts.usb.source, "usb redirection"),
            wanted(policy, "spec.devices.usb", Toggle.DISABLED),
        )


def audio(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    if policy.devices.audio is Toggle.DISABLED and facts.audio.enabled:
        parts = [p for p, on in (("input", facts.audio.input), ("output", facts.audio.output)) if on]
        yield Finding(
            "VMG-DEV-005",
            facts.name,
            f"audio enabled ({facts.audio.driver or 'default driver'}; {', '.join(parts) or 'no streams'})",
            where(facts.audio.source, "audio"),
            wanted(policy, "spec.devices.audio", Toggle.DISABLED),
        )


def _display_finding(rule: str, policy: Policy, facts: VmFacts, display: Display, message: str) -> Finding:
    name = f"{display.protocol.value} display"
    return Finding(
        rule,
        facts.name,
        f"{name} {message}",
        where(display.source, name),
        wanted(policy, "spec.devices.remote_display", policy.devices.remote_display),
    )


def _enabled_displays(facts: VmFacts) -> Iterable[Display]:
    return (d for d in facts.displays if d.enabled)


def display_auth(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    for display in _enabled_displays(facts):
        if not display.authenticated:
            yield _display_finding("VMG-DEV-006", policy, facts, display, "has no authentication")


def display_listen(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    if policy.devices.remote_display is RemoteDisplay.ENABLED:
        return
    for display in _enabled_displays(facts):
        if not display.local_only:
            shown = display.listen or "an unspecified (hypervisor default) address"
            yield _display_finding("VMG-DEV-007", policy, facts, display, f"listens on {shown}")


def display_unwanted(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    if policy.devices.remote_display is not RemoteDisplay.DISABLED:
        return
    for display in _enabled_displays(facts):
        yield _display_finding("VMG-DEV-008", policy, facts, display, "is enabled")


def _ports(rule: str, kind: str, toggle: Toggle, policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    if toggle is not Toggle.DISABLED:
        return
    for port in facts.ports:
        if port.kind == kind and port.mode not in HARMLESS_PORT_MODES:
            target = f" -> {port.target}" if port.target else ""
            yield Finding(
                rule,
                facts.name,
                f"{kind} port {port.index} is connected ({port.mode}{target})",
                where(port.source, f"{kind}[{port.index}]"),
                wanted(policy, f"spec.devices.{kind}_ports", toggle),
            )


def serial(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    yield from _ports("VMG-DEV-009", "serial", policy.devices.serial_ports, policy, facts)


def parallel(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    yield from _ports("VMG-DEV-010", "parallel", policy.devices.parallel_ports, policy, facts)


def host_devices(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    if policy.devices.host_devices is not Toggle.DISABLED:
        return
    for dev in facts.host_devices:
        yield Finding(
            "VMG-DEV-011",
            facts.name,
            f"host {dev.kind} device {dev.address} is passed through",
            where(dev.source, f"hostdev {dev.kind} {dev.address}"),
            wanted(policy, "spec.devices.host_devices", Toggle.DISABLED),
        )


def guest_agent(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    if policy.devices.guest_agent is not Toggle.DISABLED:
        return
    for channel in facts.channels:
        if channel.kind in AGENT_CHANNELS:
            yield Finding(
                "VMG-DEV-012",
                facts.name,
                f"guest agent channel '{channel.name}' ({channel.kind})",
                where(channel.source, f"channel {channel.name}"),
                wanted(policy, "spec.devices.guest_agent", Toggle.DISABLED),
            )


def raw_disks(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    for disk in facts.disks:
        if disk.path.startswith("/dev/"):
            yield Finding(
                "VMG-DEV-013",
                facts.name,
                f"disk is the host block device {disk.path}",
                where(disk.source, f"disk {disk.path}"),
                "disk image files only",
            )


def unknown_settings(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    for item in facts.unknown:
        yield Finding(
            "VMG-DEV-014",
            facts.name,
            f"setting not understood: {item}",
            item,
            "only settings vmguard can assess",
        )


def snapshots(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    for snap in facts.snapshots:
        yield Finding(
            "VMG-DEV-015",
            facts.name,
            f"restoring snapshot '{snap.name}' brings back: {'; '.join(snap.differences)}",
            where(snap.source, f"snapshot {snap.name}"),
            "snapshots that match the policy",
        )


CHECKS: dict[str, Callable[[Policy, VmFacts], Iterable[Finding]]] = {
    "VMG-DEV-001": clipboard,
    "VMG-DEV-002": drag_and_drop,
    "VMG-DEV-003": usb_controller,
    "VMG-DEV-004": usb_redirection,
    "VMG-DEV-005": audio,
    "VMG-DEV-006": display_auth,
    "VMG-DEV-007": display_listen,
    "VMG-DEV-008": display_unwanted,
    "VMG-DEV-009": serial,
    "VMG-DEV-010": parallel,
    "VMG-DEV-011": host_devices,
    "VMG-DEV-012": guest_agent,
    "VMG-DEV-013": raw_disks,
    "VMG-DEV-014": unknown_settings,
    "VMG-DEV-015": snapshots,
}
