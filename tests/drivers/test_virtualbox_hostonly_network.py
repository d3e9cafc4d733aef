"""VirtualBox 7 host-only networks (`host_only: {hostonly_network: NAME}`): the live
driver moves a NIC onto one (attachment type and network name, MAC kept), plan shows the
move, rollback restores the NIC. pyvbox 2.1.1 speaks the 6.1 API, whose enum has no
HostOnlyNetwork: the driver reads and writes the attachment raw (the fake does as pyvbox).
"""

from __future__ import annotations

import pytest
from virtualbox import library as lib

from tests.drivers import fake_pyvbox as fake
from tests.drivers.test_virtualbox_driver import _exposed, _policy
from vmguard.core.errors import DriverError
from vmguard.drivers import facts_of
from vmguard.drivers.registry import open_driver
from vmguard.drivers.vbox.driver import VirtualBoxDriver
from vmguard.enforce.apply import apply_vm, rollback_vm
from vmguard.enforce.plan import Action, make_plan
from vmguard.facts.vm import HostOnly, HostOnlyKind
from vmguard.inventory.model import Connection, DriverKind

LAB_NET = HostOnly(HostOnlyKind.HOSTONLY_NETWORK, "lab-net")


def _world(generation: int = 7):
    vbox = fake.FakeVirtualBox("7.2.4" if generation >= 7 else "6.1.50")
    machine = _exposed(generation)
    machine._adapters[1] = fake.FakeNetworkAdapter(1, "HostOnlyNetwork", 7, host_only_network="lab-net")
    if generation < 7:  # a 6.1 host has no host-only networks: a plain host-only NIC
        machine._adapters[1] = fake.FakeNetworkAdapter(1, "HostOnly", host_only="vboxnet0")
    vbox._add(machine)
    return VirtualBoxDriver(vbox, fake.FakeSession, lib), machine


def _nics(driver: VirtualBoxDriver) -> list[tuple[int, str, str, str]]:
    return [(n.index, n.kind, n.network, n.mac) for n in driver.read_facts("dev-01").nics if n.enabled]


def test_pyvbox_itself_cannot_name_7x_host_only_networks() -> None:
    """Why the raw path: the typed property raises on 7.x's number (the fake as pyvbox)."""
    with pytest.raises(ValueError, match="value=8"):
        lib.NetworkAttachmentType(fake.HOST_ONLY_NETWORK_7)
    _driver, machine = _world()
    with pytest.raises(ValueError, match="value=8"):
        _ = machine.get_network_adapter(1).attachment_type


def test_plan_shows_the_move_and_apply_makes_it_keeping_the_mac(log_path, events) -> None:
    driver, machine = _world()
    plan = make_plan(_policy(), facts_of(driver, "dev-01", LAB_NET), driver.capabilities)
    moves = sorted((c.subject, c.current, c.wanted) for c in plan.changes if c.action is Action.MOVE_NIC)
    assert moves == [
        ("nic 0", "nat", "host-only hostonly_network 'lab-net'"),
        ("nic 2", "bridged (eth0)", "host-only hostonly_network 'lab-net'"),
    ]  # nic 1 is already on lab-net: held, not moved
    before = _nics(driver)
    outcome = apply_vm(driver, "vbox", "dev-01", _policy(), host_only=LAB_NET, events=events)
    assert outcome.result and outcome.result.applied and machine._saves == 1
    moved = _nics(driver)
    assert moved == [(i, "HostOnlyNetwork", "lab-net", mac) for i, _k, _n, mac in before]  # MACs kept
    assert make_plan(_policy(), facts_of(driver, "dev-01", LAB_NET), driver.capabilities).empty


def test_rollback_puts_each_nic_back_on_its_own_network(log_path, events) -> None:
    driver, _machine = _world()
    before, nics = driver.backup("dev-01"), _nics(driver)
    apply_vm(driver, "vbox", "dev-01", _policy(), host_only=LAB_NET, events=events)
    assert _nics(driver) != nics
    rollback_vm(driver, "vbox", "dev-01", events=events)
    assert driver.backup("dev-01") == before and _nics(driver) == nics


def test_a_6x_host_refuses_the_move_and_changes_nothing(log_path, events) -> None:
    """Control: VirtualBox 6.1 has no host-only networks; nothing half-applied."""
    driver, machine = _world(6)
    before = driver.backup("dev-01")
    with pytest.raises(DriverError, match="host-only networks need VirtualBox 7"):
        apply_vm(driver, "vbox", "dev-01", _policy(), host_only=LAB_NET, events=events)
    assert machine._saves == 0 and driver.backup("dev-01") == before


@pytest.mark.parametrize("generation", [6, 7])
def test_opening_a_6x_connection_with_a_host_only_network_fails_before_any_plan(
    generation: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection is refused with its reason (exit 3 for every command), so no plan
    proposes a move its apply must refuse; a host-only interface stays fine on 6.x."""
    driver, _machine = _world(generation)
    monkeypatch.setattr(VirtualBoxDriver, "connect", classmethod(lambda cls: driver))
    vboxnet0 = HostOnly(HostOnlyKind.HOSTONLY_INTERFACE, "vboxnet0")
    assert open_driver(Connection("vbox", DriverKind.VIRTUALBOX, host_only=vboxnet0)) is driver
    if generation >= 7:
        assert open_driver(Connection("vbox", DriverKind.VIRTUALBOX, host_only=LAB_NET)) is driver
        return
    with pytest.raises(
        DriverError, match=r"VirtualBox 6\.1\.50 has no host-only networks.*hostonly_interface"
    ):
        open_driver(Connection("vbox", DriverKind.VIRTUALBOX, host_only=LAB_NET))
