"""Property: whatever mix of forbidden devices a domain has, one apply makes its plan
empty, a second apply changes nothing, and rollback brings back the exact definition."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.drivers.conftest import batch_policy
from vmguard.core.eventlog import EventLog
from vmguard.drivers.libvirt.driver import LibvirtDriver
from vmguard.enforce.apply import apply_vm, rollback_vm
from vmguard.enforce.plan import make_plan

pytest.importorskip("libvirt")

PIECES = {
    "nat": "<interface type='network'><source network='default'/></interface>",
    "isolated": "<interface type='network'><source network='isolated'/></interface>",
    "user": "<interface type='user'/>",
    "bridge": "<interface type='bridge'><source bridge='br0'/></interface>",
    "home": "<filesystem type='mount'><source dir='/home'/><target dir='home'/></filesystem>",
    "input_rw": "<filesystem type='mount'><source dir='/srv/vmdata/input'/><target dir='input'/></filesystem>",
    "input_ro": "<filesystem type='mount'><source dir='/srv/vmdata/input'/><target dir='input'/>"
    "<readonly/></filesystem>",
    "spice": "<graphics type='spice' autoport='yes'/>",
    "vdagent": "<channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>",
    "vnc": "<graphics type='vnc' port='5907' listen='0.0.0.0'/>",
    "xhci": "<controller type='usb' index='0' model='qemu-xhci'/>",
    "redir": "<redirdev bus='usb' type='spicevmc'/>",
    "tablet": "<input type='tablet' bus='usb'/>",
    "sound": "<sound model='ich9'/>",
    "serial": "<serial type='pty'><target port='0'/></serial>",
    "console": "<console type='pty'><target type='serial' port='0'/></console>",
    "parallel": "<parallel type='file'><source path='/tmp/lpt0'/><target port='0'/></parallel>",
    "hostdev": "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
    "<address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev>",
    "agent": "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>",
}
# libvirt itself refuses some mixes (one share name twice, spicevmc without SPICE, USB
# devices without a USB controller).
CONFLICTS = [{"input_rw", "input_ro"}]


def define(driver, name: str, pieces: Iterable[str]) -> None:
    """A test:/// domain of `name` with these PIECES, defined (never started)."""
    devices = "".join(PIECES[p] for p in pieces)
    driver.conn.defineXML(
        f"<domain type='test'><name>{name}</name><memory>65536</memory><vcpu>1</vcpu>"
        f"<os><type>hvm</type></os><devices>{devices}</devices></domain>"
    )


def _valid(chosen: frozenset[str]) -> bool:
    if any(pair <= chosen for pair in CONFLICTS):
        return False
    needs_spice = {"vdagent", "redir"} & chosen
    needs_usb = {"redir", "tablet"} & chosen  # the test driver adds no default controller
    return (not needs_spice or "spice" in chosen) and (not needs_usb or "xhci" in chosen)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.frozensets(st.sampled_from(sorted(PIECES))).filter(_valid))
def test_one_apply_converges(
    chosen: frozenset[str], testnode_uri: str, tmp_path_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("VMGUARD_LOG", str(state / "log"))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(state))
    driver = LibvirtDriver(testnode_uri)
    try:
        define(driver, "prop", sorted(chosen))
        before = hashlib.sha256(driver.persistent_xml("prop").encode()).hexdigest()
        policy = batch_policy(input_path="/srv/vmdata/input")
        first = apply_vm(driver, "t", "prop", policy, events=EventLog.from_environment())
        after = make_plan(policy, driver.read_facts("prop"), driver.capabilities)
        assert after.changes == (), (sorted(chosen), after.changes)
        applied = driver.persistent_xml("prop")
        again = apply_vm(driver, "t", "prop", policy, events=EventLog.from_environment())
        assert again.result is None and driver.persistent_xml("prop") == applied
        if first.result is not None:
            rollback_vm(driver, "t", "prop", events=EventLog.from_environment())
            assert hashlib.sha256(driver.persistent_xml("prop").encode()).hexdigest() == before
    finally:
        driver.close()
