"""VMG-DEV rules: one passing and one failing case per rule."""

from __future__ import annotations

import pytest

from tests.audit.factory import EVERY_ADDRESS, SRC, devices, facts, policy, run
from vmguard.checks.registry import vm_checks
from vmguard.core.modes import RemoteDisplay, Toggle, TransferMode
from vmguard.facts.vm import (
    AudioFacts,
    Channel,
    Disk,
    Display,
    DisplayProtocol,
    HostDevice,
    Passthrough,
    PortDevice,
    Setting,
    Snapshot,
    UsbFacts,
)

CHECKS = vm_checks("devices")

LOCAL = policy(devices=devices(remote_display=RemoteDisplay.LOCALHOST))
NO_AGENT = policy(devices=devices(guest_agent=Toggle.DISABLED))


def display(listen: str = "127.0.0.1", auth: bool = True, enabled: bool = True) -> Display:
    return Display(DisplayProtocol.VNC, enabled, listen, 5900, auth, SRC)


QEMU_NIC = Passthrough("commandline", "-netdev user,id=n0", SRC)
SNAP = Snapshot("before-upgrade", ("clipboard: bidirectional (now disabled)",), SRC)

CASES = [
    ("VMG-DEV-015", policy(), facts(), facts(snapshots=(SNAP,))),
    # rule, policy, good facts, bad facts
    (
        "VMG-DEV-001",
        policy(),
        facts(clipboard=Setting(TransferMode.DISABLED, SRC)),
        facts(clipboard=Setting(TransferMode.GUEST_TO_HOST, SRC)),
    ),
    (
        "VMG-DEV-002",
        policy(devices=devices(drag_and_drop=TransferMode.HOST_TO_GUEST)),
        facts(drag_and_drop=Setting(TransferMode.HOST_TO_GUEST, SRC)),
        facts(drag_and_drop=Setting(TransferMode.BIDIRECTIONAL, SRC)),
    ),
    ("VMG-DEV-003", policy(), facts(usb=UsbFacts()), facts(usb=UsbFacts(("qemu-xhci",), 0, SRC))),
    ("VMG-DEV-004", policy(), facts(usb=UsbFacts()), facts(usb=UsbFacts((), 2, SRC))),
    (
        "VMG-DEV-005",
        policy(),
        facts(audio=AudioFacts(enabled=False)),
        facts(audio=AudioFacts(True, True, True, "pulse", SRC)),
    ),
    ("VMG-DEV-006", LOCAL, facts(displays=(display(),)), facts(displays=(display(auth=False),))),
    (
        "VMG-DEV-007",
        LOCAL,
        facts(displays=(display("::1"),)),
        facts(displays=(display(EVERY_ADDRESS),)),
    ),
    (
        "VMG-DEV-008",
        policy(),
        facts(displays=(display(enabled=False),)),
        facts(displays=(display(),)),
    ),
    (
        "VMG-DEV-009",
        policy(),
        facts(ports=(PortDevice("serial", 0, "pty", source=SRC),)),
        facts(ports=(PortDevice("serial", 0, "tcp", "0.0.0.0:4555", SRC),)),
    ),
    (
        "VMG-DEV-010",
        policy(),
        facts(ports=(PortDevice("parallel", 0, "disconnected"),)),
        facts(ports=(PortDevice("parallel", 0, "file", "/tmp/lp", SRC),)),
    ),
    (
        "VMG-DEV-011",
        policy(),
        facts(),
        facts(host_devices=(HostDevice("pci", "0000:01:00.0", SRC),)),
    ),
    (
        "VMG-DEV-012",
        NO_AGENT,
        facts(channels=(Channel("spice-vdagent", "com.redhat.spice.0"),)),
        facts(channels=(Channel("qemu-ga", "org.qemu.guest_agent.0", SRC),)),
    ),
    (
        "VMG-DEV-013",
        policy(),
        facts(disks=(Disk("/var/lib/libvirt/images/a.qcow2"),)),
        facts(disks=(Disk("/dev/sdb", source=SRC),)),
    ),
    ("VMG-DEV-014", policy(), facts(), facts(unknown=("/domain/devices/shmem[1]",))),
    ("VMG-DEV-016", policy(), facts(), facts(passthrough=(QEMU_NIC,))),
]


@pytest.mark.parametrize(("rule", "pol", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_rule_passes_and_fails(rule, pol, good, bad):
    assert run(CHECKS, rule, pol, good) == []
    assert len(run(CHECKS, rule, pol, bad)) == 1


def test_every_rule_has_a_case():
    assert {c[0] for c in CASES} == set(CHECKS)


@pytest.mark.parametrize(
    ("actual", "allowed", "bad"),
    [
        (TransferMode.HOST_TO_GUEST, TransferMode.GUEST_TO_HOST, True),
        (TransferMode.HOST_TO_GUEST, TransferMode.BIDIRECTIONAL, False),
        (TransferMode.BIDIRECTIONAL, TransferMode.HOST_TO_GUEST, True),
        (TransferMode.DISABLED, TransferMode.DISABLED, False),
    ],
)
def test_clipboard_directions(actual, allowed, bad):
    pol = policy(devices=devices(clipboard=allowed))
    found = run(CHECKS, "VMG-DEV-001", pol, facts(clipboard=Setting(actual, SRC)))
    assert bool(found) is bad
    if found:
        assert "policy/test.yaml:12:16" in found[0].wanted


def test_unauthenticated_display_is_critical_even_when_displays_are_allowed():
    pol = policy(devices=devices(remote_display=RemoteDisplay.ENABLED))
    fx = facts(displays=(display(EVERY_ADDRESS, auth=False),))
    assert run(CHECKS, "VMG-DEV-007", pol, fx) == []
    assert len(run(CHECKS, "VMG-DEV-006", pol, fx)) == 1


def test_unknown_listen_address_is_not_assumed_safe():
    assert len(run(CHECKS, "VMG-DEV-007", LOCAL, facts(displays=(display(""),)))) == 1


def test_usb_allowed_by_policy():
    pol = policy(devices=devices(usb=Toggle.ENABLED))
    assert run(CHECKS, "VMG-DEV-003", pol, facts(usb=UsbFacts(("ehci",), 1))) == []


def test_unix_socket_display_is_local():
    assert run(CHECKS, "VMG-DEV-007", LOCAL, facts(displays=(display("unix:/run/vnc.sock"),))) == []
