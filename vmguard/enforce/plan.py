"""Diff a policy against a VM's facts: the typed list of changes `vmguard apply` makes.

A plan only names what the policy names. A setting stricter than the policy asks is
left alone (a VM with clipboard disabled stays so under a host-to-guest policy). Changes
the driver cannot make go to `manual`, so the admin sees them instead of losing them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from vmguard.core.errors import ExitCode
from vmguard.facts.vm import Attachment, HostOnly, Nic, PowerState, SharedFolder, VmFacts
from vmguard.policy.model import NetworkMode, Policy, RemoteDisplay, Toggle, TransferMode

if TYPE_CHECKING:  # guest.fixes imports the checks, which import this module
    from vmguard.guest.fixes import GuestPlan


class Action(StrEnum):
    DETACH_NIC = "detach-nic"
    MOVE_NIC = "move-nic"  # onto the connection's host-only network, same MAC and model
    REMOVE_SHARE = "remove-share"
    SET_SHARE_READONLY = "set-share-readonly"
    SET_SHARE_AUTOMOUNT = "set-share-automount"
    DISABLE_SHARE_SYMLINKS = "disable-share-symlinks"
    SET_CLIPBOARD = "set-clipboard"
    SET_DRAG_AND_DROP = "set-drag-and-drop"
    REMOVE_USB = "remove-usb"
    REMOVE_AUDIO = "remove-audio"
    DISABLE_REMOTE_DISPLAY = "disable-remote-display"
    LISTEN_LOCALHOST = "listen-localhost"
    REQUIRE_DISPLAY_AUTH = "require-display-auth"
    REMOVE_SERIAL_PORTS = "remove-serial-ports"
    REMOVE_PARALLEL_PORTS = "remove-parallel-ports"
    REMOVE_HOST_DEVICES = "remove-host-devices"
    REMOVE_GUEST_AGENT = "remove-guest-agent"


@dataclass(frozen=True)
class Capabilities:
    """What a driver can change, and what it can change while the VM runs."""

    supported: frozenset[Action]
    live: frozenset[Action] = frozenset()


@dataclass(frozen=True)
class Change:
    action: Action
    setting: str  # the policy key that wants it, e.g. "spec.devices.clipboard"
    subject: str  # what in the VM, e.g. "clipboard", "nic 0", "share home"
    current: str
    wanted: str
    origin: str  # the policy's file:line:col for `setting`
    target: str = ""  # NIC index, share name or display protocol, for per-item actions
    needs_poweroff: bool = False
    destination: HostOnly | None = None  # where MOVE_NIC attaches the NIC

    def __str__(self) -> str:
        flag = " [needs power-off]" if self.needs_poweroff else ""
        return f"{self.subject}: {self.current} -> {self.wanted}  ({self.origin}){flag}"


@dataclass(frozen=True)
class Plan:
    vm: str
    policy: str
    changes: tuple[Change, ...] = ()
    manual: tuple[Change, ...] = ()  # differs from the policy; the driver cannot change it
    power_state: PowerState = PowerState.UNKNOWN
    guest: GuestPlan | None = None  # inside the guest (`plan --guest`); None: not inspected

    @property
    def empty(self) -> bool:
        guest = self.guest and (self.guest.changes or self.guest.manual or self.guest.refused)
        return not self.changes and not self.manual and not guest

    @property
    def needs_poweroff(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.needs_poweroff)

    def to_dict(self) -> dict[str, object]:
        return {
            "vm": self.vm,
            "policy": self.policy,
            "power_state": self.power_state.value,
            "changes": [asdict(c) for c in self.changes],
            "manual": [asdict(c) for c in self.manual],
            "guest": self.guest.to_dict() if self.guest else None,
        }


@dataclass(frozen=True)
class _Want:
    """A difference found, before the driver's capabilities sort it."""

    action: Action
    setting: str
    subject: str
    current: str
    wanted: str
    target: str = ""
    destination: HostOnly | None = None
    manual: str = ""  # why no driver may make it (vmguard must not guess a destination)


DIRECTIONS = {
    TransferMode.DISABLED: frozenset(),
    TransferMode.HOST_TO_GUEST: frozenset({"in"}),
    TransferMode.GUEST_TO_HOST: frozenset({"out"}),
    TransferMode.BIDIRECTIONAL: frozenset({"in", "out"}),
}


def permits(wanted: TransferMode, current: TransferMode) -> bool:
    """True when every direction `current` opens is one `wanted` allows."""
    return DIRECTIONS[current] <= DIRECTIONS[wanted]


def misplaced(facts: VmFacts) -> Iterator[Nic]:
    """Attached NICs that are not on the connection's host-only network (every attached
    NIC when the inventory names none): what plan moves and the audit flags."""
    for nic in facts.nics:
        attached = nic.enabled and nic.attachment is not Attachment.NONE
        if attached and (facts.host_only is None or not facts.host_only.holds(nic)):
            yield nic


def _nic_want(policy: Policy, facts: VmFacts, nic: Nic) -> _Want:
    current = nic.attachment.value + (f" ({nic.network})" if nic.network else "")
    target = f"{nic.index}/{nic.mac}"  # drivers pick: VirtualBox a slot, libvirt a MAC
    key, subject = "spec.network.mode", f"nic {nic.index}"
    if policy.network.mode is NetworkMode.NONE:
        return _Want(Action.DETACH_NIC, key, subject, current, "none (vmguard detaches it)", target)
    if facts.host_only is None:
        why = "the inventory names no host_only network for this connection"
        return _Want(Action.MOVE_NIC, key, subject, current, f"host-only ({why})", target, manual=why)
    return _Want(Action.MOVE_NIC, key, subject, current, str(facts.host_only), target, facts.host_only)


def _network(policy: Policy, facts: VmFacts) -> Iterator[_Want]:
    if policy.network.mode is NetworkMode.NONE:
        nics = (n for n in facts.nics if n.enabled and n.attachment is not Attachment.NONE)
    elif facts.host_only is None:  # cannot tell which host-only network is the right one
        nics = (n for n in misplaced(facts) if n.attachment is not Attachment.HOST_ONLY)
    else:
        nics = misplaced(facts)
    for nic in nics:
        yield _nic_want(policy, facts, nic)


def _under(path: str, roots: tuple[str, ...]) -> str | None:
    for root in roots:
        root = os.path.realpath(root) if os.path.isabs(root) else root
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return root
    return None


def _removal_reason(policy: Policy, facts: VmFacts, share: SharedFolder) -> tuple[str, str] | None:
    """(policy key, why) when the share must go: forbidden path, not allowed, wrong path."""
    forbidden = _under(share.real_path, policy.shared_folders.forbid_host_paths)
    if forbidden:
        return "spec.shared_folders.forbid_host_paths", f"absent (under forbidden {forbidden})"
    rule = next((r for r in policy.shared_folders.allow if r.name == share.name), None)
    if rule is None:
        return "spec.shared_folders.allow", "absent (not in the allow list)"
    allowed = rule.host_path_for(facts.name)
    if os.path.isabs(allowed) and os.path.realpath(allowed) != share.real_path:
        return "spec.shared_folders.allow", f"absent (policy allows {allowed} only)"
    return None


def _share_removal(policy: Policy, facts: VmFacts, share: SharedFolder) -> _Want | None:
    reason = _removal_reason(policy, facts, share)
    if reason is None:
        return None
    current = share.real_path or share.host_path
    return _Want(Action.REMOVE_SHARE, reason[0], f"share {share.name}", current, reason[1], share.name)


def _share_settings(policy: Policy, share: SharedFolder) -> Iterator[_Want]:
    rules = {r.name: r for r in policy.shared_folders.allow}
    subject, name = f"share {share.name}", share.name
    if rules[name].access.value == "read-only" and not share.read_only:
        yield _Want(
            Action.SET_SHARE_READONLY, "spec.shared_folders.allow", subject, "read-write", "read-only", name
        )
    if share.automount != policy.shared_folders.automount:
        yield _Want(
            Action.SET_SHARE_AUTOMOUNT,
            "spec.shared_folders.automount",
            f"{subject} automount",
            str(share.automount).lower(),
            str(policy.shared_folders.automount).lower(),
            name,
        )
    writable = not share.read_only and rules[name].access.value != "read-only"
    if writable and share.symlinks_allowed and not policy.shared_folders.allow_symlinks:
        yield _Want(
            Action.DISABLE_SHARE_SYMLINKS,
            "spec.shared_folders.allow_symlinks",
            f"{subject} symlinks",
            "guest may create symlinks",
            "no symlinks",
            name,
        )


def _shares(policy: Policy, facts: VmFacts) -> Iterator[_Want]:
    for share in facts.shared_folders:
        removal = _share_removal(policy, facts, share)
        if removal:
            yield removal
        else:
            yield from _share_settings(policy, share)


def _transfers(policy: Policy, facts: VmFacts) -> Iterator[_Want]:
    pairs = (
        (Action.SET_CLIPBOARD, "clipboard", policy.devices.clipboard, facts.clipboard.value),
        (Action.SET_DRAG_AND_DROP, "drag_and_drop", policy.devices.drag_and_drop, facts.drag_and_drop.value),
    )
    for action, key, wanted, current in pairs:
        if not permits(wanted, current):
            yield _Want(action, f"spec.devices.{key}", key, current.value, wanted.value, wanted.value)


def _displays(policy: Policy, facts: VmFacts) -> Iterator[_Want]:
    mode = policy.devices.remote_display
    key = "spec.devices.remote_display"
    for d in (d for d in facts.displays if d.enabled):
        subject, target = f"remote display {d.protocol.value}", d.protocol.value
        if mode is RemoteDisplay.DISABLED:
            yield _Want(Action.DISABLE_REMOTE_DISPLAY, key, subject, "enabled", "disabled", target)
            continue
        if mode is RemoteDisplay.LOCALHOST and not d.local_only:
            yield _Want(
                Action.LISTEN_LOCALHOST, key, f"{subject} listen", d.listen or "default", "127.0.0.1", target
            )
        if not d.authenticated:
            yield _Want(
                Action.REQUIRE_DISPLAY_AUTH, key, f"{subject} authentication", "none", "required", target
            )


def _usb(f: VmFacts) -> str:
    if not (f.usb.controllers or f.usb.redirections):
        return ""
    return f"controllers {','.join(f.usb.controllers) or '-'}, {f.usb.redirections} redirection(s)"


def _ports(kind: str) -> Callable[[VmFacts], str]:
    return lambda f: ", ".join(f"{p.kind}{p.index} ({p.mode})" for p in f.ports if p.kind == kind)


AGENTS = ("qemu-ga", "vbox-guest-control")
# Devices a policy switches off: (key under spec.devices, action, what the VM has, or "").
DEVICES: tuple[tuple[str, Action, Callable[[VmFacts], str]], ...] = (
    ("usb", Action.REMOVE_USB, _usb),
    ("audio", Action.REMOVE_AUDIO, lambda f: (f.audio.driver or "enabled") if f.audio.enabled else ""),
    ("serial_ports", Action.REMOVE_SERIAL_PORTS, _ports("serial")),
    ("parallel_ports", Action.REMOVE_PARALLEL_PORTS, _ports("parallel")),
    (
        "host_devices",
        Action.REMOVE_HOST_DEVICES,
        lambda f: ", ".join(f"{h.kind} {h.address}" for h in f.host_devices),
    ),
    (
        "guest_agent",
        Action.REMOVE_GUEST_AGENT,
        lambda f: ", ".join(c.name for c in f.channels if c.kind in AGENTS),
    ),
)


def _devices(policy: Policy, facts: VmFacts) -> Iterator[_Want]:
    for key, action, present in DEVICES:
        current = present(facts)
        if getattr(policy.devices, key) is Toggle.DISABLED and current:
            yield _Want(action, f"spec.devices.{key}", key, current, "absent")


def differences(policy: Policy, facts: VmFacts) -> list[_Want]:
    return [
        *_network(policy, facts),
        *_shares(policy, facts),
        *_transfers(policy, facts),
        *_displays(policy, facts),
        *_devices(policy, facts),
    ]


def make_plan(policy: Policy, facts: VmFacts, caps: Capabilities) -> Plan:
    """The changes that bring `facts` in line with `policy`, sorted by what the driver can do."""
    running = facts.power_state in (PowerState.RUNNING, PowerState.PAUSED)
    changes, manual = [], []
    for want in differences(policy, facts):
        change = Change(
            action=want.action,
            setting=want.setting,
            subject=want.subject,
            current=want.current,
            wanted=want.wanted,
            origin=policy.origin(want.setting),
            target=want.target,
            needs_poweroff=running and want.action not in caps.live,
            destination=want.destination,
        )
        doable = want.action in caps.supported and not want.manual
        (changes if doable else manual).append(change)
    return Plan(facts.name, policy.name, tuple(changes), tuple(manual), facts.power_state)


def plan_exit(plans: Iterable[Plan]) -> ExitCode:
    """Like `terraform plan -detailed-exitcode`: 0 nothing differs, 1 apply would change
    something, 4 only changes apply cannot make are left (automation: "changed" only on 1)."""
    plans = list(plans)
    if any(p.guest and p.guest.refused for p in plans):  # fail closed: apply would refuse
        return ExitCode.CANNOT_RUN
    if any(p.changes or (p.guest and p.guest.changes) for p in plans):
        return ExitCode.CHANGES
    return (
        ExitCode.MANUAL_ONLY if any(p.manual or (p.guest and p.guest.manual) for p in plans) else ExitCode.OK
    )
