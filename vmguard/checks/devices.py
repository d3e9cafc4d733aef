"""VMG-DEV: devices and host channels of a VM (VM rules over VmFacts).

Each public function is one rule (its catalog entry names it); where vmguard can change
the setting, the violation carries the VmFix that clears it.
"""

from __future__ import annotations

from collections.abc import Iterable

from vmguard.checks.common import wanted, where
from vmguard.checks.unit import Action, Violation, VmFix, fixes
from vmguard.core.modes import RemoteDisplay, Toggle, TransferMode
from vmguard.facts.vm import Display, PortDevice, Setting, VmFacts
from vmguard.policy.model import Policy

AGENT_CHANNELS = frozenset({"qemu-ga", "vbox-guest-control"})
# A pty is a host-side terminal only root can open; every other mode carries data to a
# file, pipe or socket.
HARMLESS_PORT_MODES = frozenset({"disconnected", "pty", ""})
DISPLAY_KEY = "spec.devices.remote_display"


def _transfer(what: str, action: Action, policy: Policy, setting: Setting) -> Iterable[Violation]:
    allowed: TransferMode = getattr(policy.devices, what)
    extra = setting.value.extra_directions(allowed)
    if extra:
        yield Violation(
            message=f"{what} is {setting.value.value} (allows {', '.join(sorted(extra))})",
            evidence=where(setting.source, what),
            wanted=wanted(policy, f"spec.devices.{what}", allowed),
            fix=VmFix(
                action=action,
                setting=f"spec.devices.{what}",
                subject=what,
                current=setting.value.value,
                wanted=allowed.value,
                target=allowed.value,
            ),
        )


@fixes
def clipboard(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    yield from _transfer("clipboard", Action.SET_CLIPBOARD, policy, facts.clipboard)


@fixes
def drag_and_drop(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    yield from _transfer("drag_and_drop", Action.SET_DRAG_AND_DROP, policy, facts.drag_and_drop)


def _removal(key: str, action: Action, current: str) -> VmFix:
    """Switch off a device the policy disables: what every device rule's fix is."""
    return VmFix(action=action, setting=f"spec.devices.{key}", subject=key, current=current, wanted="absent")


def _usb_fix(facts: VmFacts) -> VmFix:
    usb = facts.usb
    current = f"controllers {','.join(usb.controllers) or '-'}, {usb.redirections} redirection(s)"
    return _removal("usb", Action.REMOVE_USB, current)


def _usb_off(policy: Policy) -> bool:
    return policy.devices.usb is Toggle.DISABLED


@fixes
def usb_controller(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    if _usb_off(policy) and facts.usb.controllers:
        yield Violation(
            message=f"USB controllers: {', '.join(facts.usb.controllers)}",
            evidence=where(facts.usb.source, "usb"),
            wanted=wanted(policy, "spec.devices.usb", Toggle.DISABLED),
            fix=_usb_fix(facts),
        )


@fixes
def usb_redirection(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    if _usb_off(policy) and facts.usb.redirections:
        yield Violation(
            message=f"{facts.usb.redirections} USB redirection channel(s)",
            evidence=where(facts.usb.source, "usb redirection"),
            wanted=wanted(policy, "spec.devices.usb", Toggle.DISABLED),
            fix=_usb_fix(facts),
        )


@fixes
def audio(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    if policy.devices.audio is Toggle.DISABLED and facts.audio.enabled:
        parts = [p for p, on in (("input", facts.audio.input), ("output", facts.audio.output)) if on]
        streams = ", ".join(parts) or "no streams"
        yield Violation(
            message=f"audio enabled ({facts.audio.driver or 'default driver'}; {streams})",
            evidence=where(facts.audio.source, "audio"),
            wanted=wanted(policy, "spec.devices.audio", Toggle.DISABLED),
            fix=_removal("audio", Action.REMOVE_AUDIO, facts.audio.driver or "enabled"),
        )


def _display_fix(
    policy: Policy, display: Display, action: Action, what: str, current: str, want: str
) -> VmFix:
    """The display's own fix, or switching the display off when the policy wants none."""
    subject, target = f"remote display {display.protocol.value}", display.protocol.value
    if policy.devices.remote_display is RemoteDisplay.DISABLED:
        action, what, current, want = Action.DISABLE_REMOTE_DISPLAY, "", "enabled", "disabled"
    return VmFix(
        action=action,
        setting=DISPLAY_KEY,
        subject=f"{subject} {what}".strip(),
        current=current,
        wanted=want,
        target=target,
    )


def _display_violation(policy: Policy, display: Display, message: str, fix: VmFix) -> Violation:
    name = f"{display.protocol.value} display"
    return Violation(
        message=f"{name} {message}",
        evidence=where(display.source, name),
        wanted=wanted(policy, DISPLAY_KEY, policy.devices.remote_display),
        fix=fix,
    )


def _enabled_displays(facts: VmFacts) -> Iterable[Display]:
    return (d for d in facts.displays if d.enabled)


@fixes
def display_auth(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    for display in _enabled_displays(facts):
        if not display.authenticated:
            fix = _display_fix(
                policy, display, Action.REQUIRE_DISPLAY_AUTH, "authentication", "none", "required"
            )
            yield _display_violation(policy, display, "has no authentication", fix)


@fixes
def display_listen(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    if policy.devices.remote_display is RemoteDisplay.ENABLED:
        return
    for display in _enabled_displays(facts):
        if not display.local_only:
            shown = display.listen or "an unspecified (hypervisor default) address"
            current = display.listen or "default"
            fix = _display_fix(policy, display, Action.LISTEN_LOCALHOST, "listen", current, "127.0.0.1")
            yield _display_violation(policy, display, f"listens on {shown}", fix)


@fixes
def display_unwanted(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    if policy.devices.remote_display is not RemoteDisplay.DISABLED:
        return
    for display in _enabled_displays(facts):
        fix = _display_fix(policy, display, Action.DISABLE_REMOTE_DISPLAY, "", "enabled", "disabled")
        yield _display_violation(policy, display, "is enabled", fix)


def _connected(facts: VmFacts, kind: str) -> list[PortDevice]:
    return [p for p in facts.ports if p.kind == kind and p.mode not in HARMLESS_PORT_MODES]


def _ports(kind: str, action: Action, policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    toggle: Toggle = getattr(policy.devices, f"{kind}_ports")
    if toggle is not Toggle.DISABLED:
        return
    ports = _connected(facts, kind)
    fix = _removal(f"{kind}_ports", action, ", ".join(f"{p.kind}{p.index} ({p.mode})" for p in ports))
    for port in ports:
        target = f" -> {port.target}" if port.target else ""
        yield Violation(
            message=f"{kind} port {port.index} is connected ({port.mode}{target})",
            evidence=where(port.source, f"{kind}[{port.index}]"),
            wanted=wanted(policy, f"spec.devices.{kind}_ports", toggle),
            fix=fix,
        )


@fixes
def serial(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    yield from _ports("serial", Action.REMOVE_SERIAL_PORTS, policy, facts)


@fixes
def parallel(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    yield from _ports("parallel", Action.REMOVE_PARALLEL_PORTS, policy, facts)


def _listed(items: Iterable[str]) -> str:
    return ", ".join(items)


@fixes
def host_devices(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    if policy.devices.host_devices is not Toggle.DISABLED:
        return
    current = _listed(f"{h.kind} {h.address}" for h in facts.host_devices)
    for dev in facts.host_devices:
        yield Violation(
            message=f"host {dev.kind} device {dev.address} is passed through",
            evidence=where(dev.source, f"hostdev {dev.kind} {dev.address}"),
            wanted=wanted(policy, "spec.devices.host_devices", Toggle.DISABLED),
            fix=_removal("host_devices", Action.REMOVE_HOST_DEVICES, current),
        )


@fixes
def guest_agent(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    if policy.devices.guest_agent is not Toggle.DISABLED:
        return
    agents = [c for c in facts.channels if c.kind in AGENT_CHANNELS]
    fix = _removal("guest_agent", Action.REMOVE_GUEST_AGENT, _listed(c.name for c in agents))
    for channel in agents:
        yield Violation(
            message=f"guest agent channel '{channel.name}' ({channel.kind})",
            evidence=where(channel.source, f"channel {channel.name}"),
            wanted=wanted(policy, "spec.devices.guest_agent", Toggle.DISABLED),
            fix=fix,
        )


def raw_disks(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    for disk in facts.disks:
        if disk.path.startswith("/dev/"):
            yield Violation(
                message=f"disk is the host block device {disk.path}",
                evidence=where(disk.source, f"disk {disk.path}"),
                wanted="disk image files only",
            )


def unknown_settings(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    for item in facts.unknown:
        yield Violation(
            message=f"setting not understood: {item}",
            evidence=item,
            wanted="only settings vmguard can assess",
        )


def snapshots(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    for snap in facts.snapshots:
        yield Violation(
            message=f"restoring snapshot '{snap.name}' brings back: {'; '.join(snap.differences)}",
            evidence=where(snap.source, f"snapshot {snap.name}"),
            wanted="snapshots that match the policy",
        )


def qemu_passthrough(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    """Passthrough bypasses every device and network rule: whatever it adds is unseen."""
    for item in facts.passthrough:
        yield Violation(
            message=f"passed to the emulator past vmguard's checks ({item.kind}): {item.detail}",
            evidence=where(item.source, f"qemu:{item.kind}"),
            wanted="no emulator passthrough (every device declared where vmguard can check it)",
        )
