"""A local-only remote display (`remote_display: localhost`): plan and audit give the same
answer for every listen address (Display.local_only), with controls on both sides."""

from __future__ import annotations

import dataclasses

import pytest

from tests.audit.factory import EVERY_ADDRESS, SRC, devices, facts, policy, run
from vmguard.checks.registry import vm_checks
from vmguard.core.modes import RemoteDisplay
from vmguard.enforce.plan import Action, Capabilities, make_plan
from vmguard.facts.vm import Display, DisplayProtocol

CHECKS = vm_checks("devices")

LOCAL = policy(devices=devices(remote_display=RemoteDisplay.LOCALHOST))
CAPS = Capabilities(supported=frozenset(Action))


def _facts(listen: str):
    return facts(displays=(Display(DisplayProtocol.SPICE, True, listen, 5900, True, SRC),))


@pytest.mark.parametrize(
    ("listen", "local"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("unix:/run/libvirt/qemu/dev-01.spice", True),
        ("none", True),  # <listen type='none'>: no listener, only clients handed an fd
        (EVERY_ADDRESS, False),
        ("::", False),
        ("", False),  # the hypervisor's default: not known to be local
        ("192.0.2.1", False),
        ("127.0.0.1.evil", False),  # used to pass plan's prefix test while audit flagged it
        ("::1abc", False),
    ],
)
def test_plan_and_audit_agree_on_local_only(listen: str, local: bool) -> None:
    fx = _facts(listen)
    assert fx.displays[0].local_only is local
    flagged = run(CHECKS, "VMG-DEV-007", LOCAL, fx)
    moves = [c for c in make_plan(LOCAL, fx, CAPS).changes if c.action is Action.LISTEN_LOCALHOST]
    assert (not flagged, not moves) == (local, local)


def test_after_listen_localhost_both_are_quiet() -> None:
    fx = _facts(EVERY_ADDRESS)
    [change] = [c for c in make_plan(LOCAL, fx, CAPS).changes if c.action is Action.LISTEN_LOCALHOST]
    display = dataclasses.replace(fx.displays[0], listen=change.wanted)  # what the drivers write
    fixed = dataclasses.replace(fx, displays=(display,))
    assert run(CHECKS, "VMG-DEV-007", LOCAL, fixed) == []
    assert not [c for c in make_plan(LOCAL, fixed, CAPS).changes if c.action is Action.LISTEN_LOCALHOST]
