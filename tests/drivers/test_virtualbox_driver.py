"""The live VirtualBox driver against the fake (facts, plan and apply for each setting)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from virtualbox import library as lib

from tests.drivers import fake_pyvbox as fake
from tests.drivers.conftest import batch_policy
from vmguard.core.errors import DriverError
from vmguard.core.eventlog import EventLog
from vmguard.core.modes import Access, Toggle, TransferMode
from vmguard.drivers import facts_of
from vmguard.drivers.vbox.driver import VirtualBoxDriver
from vmguard.drivers.vbox.names import SYMLINKS_KEY
from vmguard.enforce.apply import apply_vm, rollback_vm
from vmguard.enforce.plan import Action, make_plan
from vmguard.facts.vm import Attachment, HostOnly, HostOnlyKind, PowerState
from vmguard.policy.model import SharedFoldersPolicy, ShareRule

VBOXNET = HostOnly(HostOnlyKind.HOSTONLY_INTERFACE, "vboxnet0")


def _exposed(generation: int = 6) -> fake.FakeMachine:
    """A VM with every forbidden setting."""
    m = fake.FakeMachine("dev-01", generation)
    m.clipboard_mode = lib.ClipboardMode(3)
    m.dn_d_mode = lib.DnDMode(1)
    m._adapters[0] = fake.FakeNetworkAdapter(0, "NAT", redirects=["ssh,1,,2222,,22"])
    m._adapters[1] = fake.FakeNetworkAdapter(1, "HostOnly", host_only="vboxnet0")
    m._adapters[2] = fake.FakeNetworkAdapter(2, "Bridged", bridged="eth0")
    m.shared_folders.append(fake.FakeSharedFolder("home", "/home", True, True))
    m.shared_folders.append(fake.FakeSharedFolder("input", "/srv/vmdata/input", True, True))
    m._extra[SYMLINKS_KEY + "input"] = "1"
    m.usb_controllers.append(fake.FakeUSBController("OHCI", "OHCI"))
    m.usb_controllers.append(fake.FakeUSBController("EHCI", "EHCI"))
    m._audio6 = fake.FakeAudioAdapter(True, 7)  # 6.1: Pulse
    m._audio7 = fake.FakeRawAudioSettings7(fake.FakeRawAudioAdapter7(True, 4))  # 7.x: Pulse
    m.vrde_server = fake.FakeVRDEServer(True, "Null")
    m._serial[0] = fake.FakeSerialPort(0, True, "TCP")
    m._parallel[0] = fake.FakeParallelPort(0, True)
    m.pci_device_assignments.append(fake.FakePCIDeviceAttachment(0x0100, 0x0300))
    m.usb_device_filters = fake.FakeUSBDeviceFilters([fake.FakeUSBDeviceFilter("mouse", True)])
    return m


def _world(generation: int = 6):
    vbox = fake.FakeVirtualBox("7.2.4" if generation >= 7 else "6.1.50")
    machine = vbox._add(_exposed(generation))
    return VirtualBoxDriver(vbox, fake.FakeSession, lib), machine


def _policy():
    policy = batch_policy()
    shares = SharedFoldersPolicy(
        allow=(ShareRule("input", "/srv/vmdata/input", Access.READ_WRITE),), forbid_host_paths=("/home",)
    )
    return type(policy)(**{**policy.__dict__, "shared_folders": shares})


def _hash(driver: VirtualBoxDriver) -> str:
    return hashlib.sha256(driver.backup("dev-01")).hexdigest()


@pytest.mark.parametrize("generation", [6, 7])
def test_facts_of_each_setting(generation: int) -> None:
    driver, _machine = _world(generation)
    facts = driver.read_facts("dev-01")
    assert [(n.index, n.attachment, n.network) for n in facts.nics if n.enabled] == [
        (0, Attachment.NAT, ""),
        (1, Attachment.HOST_ONLY, "vboxnet0"),
        (2, Attachment.BRIDGED, "eth0"),
    ]
    assert [(f.name, f.host_port, f.guest_port) for f in facts.nics[0].port_forwards] == [("ssh", 2222, 22)]
    assert [(s.name, s.read_only, s.automount, s.symlinks_allowed) for s in facts.shared_folders] == [
        ("home", False, True, False),
        ("input", False, True, True),
    ]
    assert facts.clipboard.value is TransferMode.BIDIRECTIONAL
    assert facts.drag_and_drop.value is TransferMode.HOST_TO_GUEST
    assert facts.usb.controllers == ("ohci", "ehci")
    assert facts.audio.enabled and facts.audio.driver == "Pulse"  # right in both numberings
    assert [(d.listen, d.authenticated) for d in facts.displays] == [("0.0.0.0", False)]  # noqa: S104
    assert [(p.kind, p.mode) for p in facts.ports] == [("serial", "tcp"), ("parallel", "device")]
    assert [(h.kind, h.address) for h in facts.host_devices] == [
        ("pci", "01:00.0"),
        ("usb-filter", "046d:c52b"),
    ]
    assert facts.power_state is PowerState.OFF


@pytest.mark.parametrize("generation", [6, 7])
def test_apply_each_setting_then_plan_is_clean(generation: int, log_path, events) -> None:
    driver, machine = _world(generation)
    policy = _policy()
    plan = make_plan(policy, facts_of(driver, "dev-01", VBOXNET), driver.capabilities)
    actions = {c.action for c in plan.changes}
    assert actions == {
        Action.MOVE_NIC,
        Action.REMOVE_SHARE,
        Action.SET_SHARE_AUTOMOUNT,
        Action.DISABLE_SHARE_SYMLINKS,
        Action.SET_CLIPBOARD,
        Action.SET_DRAG_AND_DROP,
        Action.REMOVE_USB,
        Action.REMOVE_AUDIO,
        Action.DISABLE_REMOTE_DISPLAY,
        Action.REMOVE_SERIAL_PORTS,
        Action.REMOVE_PARALLEL_PORTS,
        Action.REMOVE_HOST_DEVICES,
    }
    outcome = apply_vm(driver, "vbox", "dev-01", policy, host_only=VBOXNET, events=events)
    assert outcome.result and outcome.result.applied and machine._saves == 1
    facts = driver.read_facts("dev-01")
    moved = [(n.kind, n.network, n.mac) for n in facts.nics if n.enabled]
    assert moved == [("HostOnly", "vboxnet0", f"0800270000{i:02d}") for i in range(3)]  # MACs kept
    assert [(s.name, s.automount, s.symlinks_allowed) for s in facts.shared_folders] == [
        ("input", False, False)
    ]
    assert facts.clipboard.value is TransferMode.DISABLED
    assert facts.drag_and_drop.value is TransferMode.DISABLED
    assert facts.usb.controllers == () and not facts.audio.enabled and facts.displays == ()
    assert facts.ports == () and facts.host_devices == ()
    again = apply_vm(driver, "vbox", "dev-01", policy, host_only=VBOXNET, events=events)
    assert again.plan.empty and machine._saves == 1  # idempotent: nothing saved


def test_read_only_share_is_recreated_read_only(log_path, events) -> None:
    driver, _machine = _world()
    apply_vm(
        driver,
        "vbox",
        "dev-01",
        batch_policy(input_path="/srv/vmdata/input"),
        host_only=VBOXNET,
        events=events,
    )
    shares = driver.read_facts("dev-01").shared_folders
    assert [(s.name, s.read_only, s.host_path) for s in shares] == [("input", True, "/srv/vmdata/input")]


def test_dry_run_changes_nothing(log_path, events) -> None:
    driver, machine = _world()
    before = _hash(driver)
    outcome = apply_vm(
        driver,
        "vbox",
        "dev-01",
        _policy(),
        dry_run=True,
        host_only=VBOXNET,
        events=events,
    )
    assert outcome.result and outcome.result.dry_run
    assert _hash(driver) == before and machine._saves == 0 and machine._locks == 0


def test_failure_midway_discards_everything(log_path, events) -> None:
    driver, machine = _world()
    before = _hash(driver)
    machine._fail_on = "remove_shared_folder"
    with pytest.raises(DriverError, match="nothing changed"):
        apply_vm(driver, "vbox", "dev-01", _policy(), host_only=VBOXNET, events=events)
    assert _hash(driver) == before and machine._saves == 0 and machine._locks == 0


def test_locked_by_another_session(log_path, events) -> None:
    driver, machine = _world()
    machine._locked_by_other = True
    with pytest.raises(DriverError, match="locked by another session") as err:
        apply_vm(driver, "vbox", "dev-01", _policy(), host_only=VBOXNET, events=events)
    assert "\n" not in str(err.value)


def test_permission_denied(log_path, events) -> None:
    driver, machine = _world()
    machine._denied = True
    with pytest.raises(DriverError, match="permission denied") as err:
        apply_vm(driver, "vbox", "dev-01", _policy(), host_only=VBOXNET, events=events)
    assert "\n" not in str(err.value) and machine._saves == 0


def test_unknown_vm() -> None:
    driver, _machine = _world()
    with pytest.raises(DriverError, match="no VM named 'nope'"):
        driver.read_facts("nope")


def test_running_vm_live_changes_and_refusals(log_path, events) -> None:
    driver, machine = _world()
    machine._set_state("Running")
    refused = apply_vm(driver, "vbox", "dev-01", _policy(), host_only=VBOXNET, events=events)
    assert refused.refused and machine._saves == 0
    live = {c.action for c in refused.plan.changes if not c.needs_poweroff}
    assert live == {
        Action.SET_CLIPBOARD,
        Action.SET_DRAG_AND_DROP,
        Action.MOVE_NIC,
        Action.DISABLE_REMOTE_DISPLAY,
    }
    with pytest.raises(DriverError, match="while dev-01 runs"):
        apply_vm(
            driver,
            "vbox",
            "dev-01",
            _policy(),
            next_boot=True,
            host_only=VBOXNET,
            events=events,
        )
    done = apply_vm(
        driver,
        "vbox",
        "dev-01",
        _policy(),
        power_off_ok=True,
        host_only=VBOXNET,
        events=events,
    )
    assert done.result and driver.read_facts("dev-01").power_state is PowerState.RUNNING
    assert make_plan(_policy(), facts_of(driver, "dev-01", VBOXNET), driver.capabilities).empty


def test_rollback_restores_every_setting(log_path, events) -> None:
    driver, _machine = _world()
    before = _hash(driver)
    apply_vm(driver, "vbox", "dev-01", _policy(), host_only=VBOXNET, events=events)
    assert _hash(driver) != before
    rollback_vm(driver, "vbox", "dev-01", events=events)
    assert _hash(driver) == before


def test_fake_refuses_writes_outside_a_session() -> None:
    """If the driver ever wrote to the registered machine, the fake would say so."""
    _driver, machine = _world()
    with pytest.raises(lib.VBoxError):
        machine.clipboard_mode = lib.ClipboardMode(0)
    with pytest.raises(lib.VBoxError):
        machine.get_network_adapter(0).attachment_type = lib.NetworkAttachmentType(0)


def test_guest_control_is_reported_and_left_to_the_admin() -> None:
    driver, machine = _world()
    machine._guest_props["/VirtualBox/GuestAdd/Version"] = "6.1.50"
    facts = facts_of(driver, "dev-01", VBOXNET)
    assert [c.kind for c in facts.channels] == ["vbox-guest-control"]
    devices = batch_policy().devices
    no_agent = type(devices)(**{**devices.__dict__, "guest_agent": Toggle.DISABLED})
    policy = type(_policy())(**{**_policy().__dict__, "devices": no_agent})
    plan = make_plan(policy, facts, driver.capabilities)
    assert [c.action for c in plan.manual] == [Action.REMOVE_GUEST_AGENT]


@pytest.mark.parametrize(("generation", "reachable"), [(6, "true"), (7, "false")])
def test_nat_loopback_reachability_by_generation(generation: int, reachable: str) -> None:
    driver, _machine = _world(generation)
    assert driver.read_facts("dev-01").extra["nic0.localhost_reachable"] == reachable


SETTERS = {
    "clipboard": lambda m: setattr(m, "clipboard_mode", lib.ClipboardMode(2)),
    "dnd": lambda m: setattr(m, "dn_d_mode", lib.DnDMode(3)),
    "nat": lambda m: m._adapters.__setitem__(0, fake.FakeNetworkAdapter(0, "NAT")),
    "bridged": lambda m: m._adapters.__setitem__(3, fake.FakeNetworkAdapter(3, "Bridged", bridged="en0")),
    "share": lambda m: m.shared_folders.append(fake.FakeSharedFolder("home", "/home", True, False)),
    "usb": lambda m: m.usb_controllers.append(fake.FakeUSBController("XHCI", "XHCI")),
    "audio": lambda m: setattr(m, "_audio6", fake.FakeAudioAdapter(True, 3)),
    "audio7": lambda m: setattr(m, "_audio7", fake.FakeRawAudioSettings7(fake.FakeRawAudioAdapter7(True, 2))),
    "vrde": lambda m: setattr(m, "vrde_server", fake.FakeVRDEServer(True, "Guest")),
    "serial": lambda m: m._serial.__setitem__(1, fake.FakeSerialPort(1, True, "HostPipe")),
    "pci": lambda m: m.pci_device_assignments.append(fake.FakePCIDeviceAttachment(0x0200, 0x0400)),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.frozensets(st.sampled_from(sorted(SETTERS))), generation=st.sampled_from([6, 7]))
def test_any_mix_converges_in_one_apply(chosen, generation, tmp_path_factory, monkeypatch) -> None:
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("VMGUARD_LOG", str(state / "log"))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(state))
    vbox = fake.FakeVirtualBox("7.2.4" if generation >= 7 else "6.1.50")
    machine = fake.FakeMachine("mix", generation)
    for name in chosen:
        SETTERS[name](machine)
    vbox._add(machine)
    driver = VirtualBoxDriver(vbox, fake.FakeSession, lib)
    before = driver.backup("mix")
    apply_vm(driver, "vbox", "mix", batch_policy(), events=EventLog.from_environment())
    assert make_plan(batch_policy(), driver.read_facts("mix"), driver.capabilities).changes == ()
    saves = machine._saves
    assert (
        apply_vm(driver, "vbox", "mix", batch_policy(), events=EventLog.from_environment()).result is None
        and machine._saves == saves
    )
    if saves:
        rollback_vm(driver, "vbox", "mix", events=EventLog.from_environment())
        assert driver.backup("mix") == before
