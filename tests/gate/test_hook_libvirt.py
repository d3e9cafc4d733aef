"""The start gate with a real (private) libvirtd that runs vmguard's hook, TCG guests.

A domain out of policy does not start and `virsh start` shows vmguard's reason and fix;
after `vmguard apply` it starts. A compliant one starts, and its address enters the
firewall's sets (in the lab namespace's ruleset) and leaves them with `virsh destroy`.
When vmguard itself breaks (broken inventory, unreadable policy, no answer in time) the
hook fails closed or open as installed, and libvirtd keeps answering.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.gate.lab import ADDRESS, BAD, BAD_NIC, GOOD, GOOD_NIC, SPARE
from vmguard.cli import main

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _define(lab, name: str, nic: str):
    if name in [d.name() for d in lab.conn.listAllDomains()]:
        return lab.conn.lookupByName(name)
    return lab.factory.define(lab.factory.xml(name=name, extra_devices=nic)).dom


def _stop(lab, name: str) -> None:
    if lab.conn.lookupByName(name).isActive():
        assert lab.virsh("destroy", name).returncode == 0


def test_out_of_policy_is_refused_with_the_fix_then_starts_after_apply(gate_lab) -> None:
    _define(gate_lab, BAD, BAD_NIC)
    refused = gate_lab.virsh("start", BAD)
    assert refused.returncode != 0
    assert "vmguard gate: refused: VM 'vmg-test-gate-bad' violates policy lab-gate" in refused.stderr
    assert f"fix: vmguard apply --inventory {gate_lab.site / 'inv.yaml'} --vm {BAD}" in refused.stderr
    assert not gate_lab.conn.lookupByName(BAD).isActive()
    # --no-firewall: this process runs in the machine's namespace, the lab's firewall is in its own
    assert main(["apply", "--inventory", str(gate_lab.site / "inv.yaml"), "--vm", BAD, "--no-firewall"]) == 0
    started = gate_lab.virsh("start", BAD)
    assert started.returncode == 0, started.stderr
    _stop(gate_lab, BAD)


def test_without_a_server_vmguard_runs_per_call_and_refuses_the_same(gate_lab) -> None:
    gate_lab.install(gate_lab.site / "inv.yaml", served=False)
    try:
        _define(gate_lab, "vmg-test-gate-direct", BAD_NIC)
        refused = gate_lab.virsh("start", "vmg-test-gate-direct")
    finally:
        gate_lab.install(gate_lab.site / "inv.yaml")
    assert refused.returncode != 0 and "vmguard gate: refused: VM 'vmg-test-gate-direct'" in refused.stderr


@pytest.mark.parametrize("unmanaged", ["refuse", "allow"])
def test_an_unmanaged_vm_is_refused_or_allowed_as_the_site_says(gate_lab, unmanaged) -> None:
    name = "vmg-test-unlisted"  # matches no inventory entry
    gate_lab.install(gate_lab.write_inventory(f"inv-{unmanaged}.yaml", f"{{unmanaged: {unmanaged}}}"))
    try:
        _define(gate_lab, name, "")
        got = gate_lab.virsh("start", name)
    finally:
        _stop(gate_lab, name)
        gate_lab.install(gate_lab.site / "inv.yaml")
    if unmanaged == "refuse":
        assert got.returncode != 0 and f"VM '{name}' is in no inventory entry" in got.stderr
    else:
        assert got.returncode == 0, got.stderr


SPICE = (
    "<graphics type='spice' {passwd}autoport='yes'><listen type='address' address='127.0.0.1'/>"
    "<clipboard copypaste='no'/><filetransfer enable='no'/></graphics>"
)


def test_a_password_protected_display_is_judged_with_its_password(gate_lab) -> None:
    """libvirt leaves secrets out of the hook's XML; the gate must not see no password."""
    for name, passwd, starts in (
        ("vmg-test-gate-spice", "passwd='s3cret' ", True),
        ("vmg-test-gate-open", "", False),  # control: no password at all is refused
    ):
        gate_lab.factory.define(gate_lab.factory.xml(name=name, extra_devices=SPICE.format(passwd=passwd)))
        got = gate_lab.virsh("start", name)
        _stop(gate_lab, name)
        assert (got.returncode == 0) is starts, got.stderr
        assert starts or "VMG-DEV-006" in got.stderr


def test_compliant_starts_and_its_address_follows_it_in_the_firewall(gate_lab) -> None:
    _define(gate_lab, GOOD, GOOD_NIC)
    assert gate_lab.virsh("start", GOOD).returncode == 0
    assert gate_lab.virsh("destroy", GOOD).returncode == 0  # release: entries out
    assert ADDRESS not in gate_lab.set_elements()  # control: gone while it is off
    started = gate_lab.virsh("start", GOOD)
    assert started.returncode == 0, started.stderr
    port = gate_lab.virsh("domiflist", GOOD).stdout.split()[0]
    rules = gate_lab.set_elements()
    assert ADDRESS in rules and f'"{port}"' in rules  # address, and its port bound to it
    assert gate_lab.virsh("destroy", GOOD).returncode == 0
    assert ADDRESS not in gate_lab.set_elements()


def _broken_start(lab, name: str, gate: str, breaks) -> tuple[float, object]:
    """Install the hook for a copy of the inventory with `gate` settings, break it with
    `breaks(path)`, and `virsh start` a compliant domain."""
    path = lab.write_inventory(f"inv-{name}.yaml", gate)
    lab.install(path)
    try:
        breaks(path)
        _define(lab, SPARE, "")
        start = time.monotonic()
        got = lab.virsh("start", SPARE, timeout=60)
        took = time.monotonic() - start
        assert lab.conn.getLibVersion() > 0  # libvirtd still answers
        return took, got
    finally:
        _stop(lab, SPARE)
        off = lab.site / "lab-reapply.yaml.off"
        if off.exists():
            off.rename(lab.site / "lab-reapply.yaml")
        lab.install(lab.site / "inv.yaml")


def _garbage(path) -> None:
    path.write_text("apiVersion: vmguard/v1\nkind: Inventory\nconnections: [\n")


def _no_policy(path) -> None:
    (path.parent / "lab-reapply.yaml").rename(path.parent / "lab-reapply.yaml.off")


def _hangs(path) -> None:
    path.unlink()
    os.mkfifo(path)  # reading it blocks forever: vmguard never answers


@pytest.mark.parametrize(
    "case, breaks", [("garbage", _garbage), ("no-policy", _no_policy), ("hangs", _hangs)]
)
@pytest.mark.parametrize("mode", ["fail-closed", "fail-open"])
def test_when_vmguard_breaks_the_hook_fails_as_configured(gate_lab, case, breaks, mode):
    took, got = _broken_start(gate_lab, f"{case}-{mode}", f"{{on_error: {mode}, timeout: 2s}}", breaks)
    assert took < 15  # the hook's hard timeout bounds the wait (and libvirtd's)
    if mode == "fail-closed":
        assert got.returncode != 0
        assert f"vmguard failed at prepare of {SPARE}" in got.stderr and "fail-closed: refused" in got.stderr
        if case == "hangs":
            assert "no answer within 2s" in got.stderr
    else:
        assert got.returncode == 0, got.stderr
