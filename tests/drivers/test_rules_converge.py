"""Property: audit and apply agree, in every driver's fact shapes.

For generated VMs and policies: `plan` is empty exactly when no rule finds something it
can fix; after `apply` and a re-read, no finding the driver can fix is left and `plan`
has no change. The VMs are libvirt test:/// domains (defined, never started), machines
of the VirtualBox fake, and the real-world .vbox files (read-only: every fix is manual).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.drivers.conftest import ISOLATED, batch_policy
from tests.drivers.test_converge import PIECES, _valid, define
from vmguard.checks.registry import units, violations
from vmguard.core.eventlog import EventLog
from vmguard.core.modes import NetworkMode, RemoteDisplay, Toggle, TransferMode
from vmguard.drivers import facts_of
from vmguard.enforce.apply import apply_vm
from vmguard.enforce.plan import Capabilities, make_plan
from vmguard.facts.vm import HostOnly, HostOnlyKind, VmFacts
from vmguard.policy.model import DevicesPolicy, Policy

FIXTURES = Path(__file__).parent.parent / "fixtures"
VBOXNET0 = HostOnly(HostOnlyKind.HOSTONLY_INTERFACE, "vboxnet0")
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

devices_policies = st.builds(
    DevicesPolicy,
    clipboard=st.sampled_from(TransferMode),
    drag_and_drop=st.sampled_from(TransferMode),
    usb=st.sampled_from(Toggle),
    audio=st.sampled_from(Toggle),
    remote_display=st.sampled_from([RemoteDisplay.DISABLED, RemoteDisplay.LOCALHOST]),
    serial_ports=st.sampled_from(Toggle),
    parallel_ports=st.sampled_from(Toggle),
    host_devices=st.sampled_from(Toggle),
    guest_agent=st.sampled_from(Toggle),
)
policies = st.builds(
    lambda devices, mode, automount, symlinks: _policy(devices, mode, automount, symlinks),
    devices_policies,
    st.sampled_from(NetworkMode),
    st.booleans(),
    st.booleans(),
)


def _policy(devices: DevicesPolicy, mode: NetworkMode, automount: bool, symlinks: bool) -> Policy:
    base = batch_policy(input_path="/srv/vmdata/input")
    shares = dataclasses.replace(base.shared_folders, automount=automount, allow_symlinks=symlinks)
    network = dataclasses.replace(base.network, mode=mode)
    return dataclasses.replace(base, devices=devices, network=network, shared_folders=shares)


def fixable(policy: Policy, facts: VmFacts, caps: Capabilities) -> list[tuple[str, str]]:
    """(rule, message) of every finding whose fix this driver can make."""
    return [
        (rule, v.message)
        for rule, v in violations(units(), policy, facts)
        if v.fix is not None and v.fix.action in caps.supported and not v.fix.manual
    ]


def any_fix(policy: Policy, facts: VmFacts) -> bool:
    return any(v.fix is not None for _rule, v in violations(units(), policy, facts))


def converges(driver, name: str, policy: Policy, host_only: HostOnly) -> None:
    facts = facts_of(driver, name, host_only)
    plan = make_plan(policy, facts, driver.capabilities)
    assert plan.empty == (not any_fix(policy, facts))
    assert bool(plan.changes) == bool(fixable(policy, facts, driver.capabilities))
    apply_vm(driver, "t", name, policy, host_only=host_only, events=EventLog.from_environment())
    after = facts_of(driver, name, host_only)
    assert fixable(policy, after, driver.capabilities) == []
    assert make_plan(policy, after, driver.capabilities).changes == ()


@SETTINGS
@given(chosen=st.frozensets(st.sampled_from(sorted(PIECES))).filter(_valid), policy=policies)
def test_libvirt_apply_clears_every_fixable_finding(
    chosen: frozenset[str], policy: Policy, testnode_uri: str, tmp_path_factory, monkeypatch
) -> None:
    pytest.importorskip("libvirt")
    from vmguard.drivers.libvirt.driver import LibvirtDriver

    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("VMGUARD_LOG", str(state / "log"))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(state))
    driver = LibvirtDriver(testnode_uri)
    try:
        define(driver, "prop", sorted(chosen))
        converges(driver, "prop", policy, ISOLATED)
    finally:
        driver.close()


ADAPTERS = ["Null", "NAT", "HostOnly", "HostOnly2", "Bridged", "Internal"]
vbox_machines = st.fixed_dictionaries(
    {
        "generation": st.sampled_from([6, 7]),
        "clipboard": st.integers(0, 3),
        "dnd": st.integers(0, 3),
        "adapters": st.lists(st.sampled_from(ADAPTERS), min_size=1, max_size=3),
        "home_share": st.booleans(),
        "input_share": st.sampled_from(["none", "ro", "rw", "rw-symlinks"]),
        "automount": st.booleans(),
        "usb": st.booleans(),
        "audio": st.booleans(),
        "vrde": st.sampled_from(["off", "open", "local-auth", "any-auth"]),
        "serial": st.sampled_from(["Disconnected", "TCP", "RawFile"]),
        "parallel": st.booleans(),
        "pci": st.booleans(),
    }
)


def _vbox_machine(spec: dict):
    from virtualbox import library as lib

    from tests.drivers import fake_pyvbox as fake
    from vmguard.drivers.vbox.names import SYMLINKS_KEY

    m = fake.FakeMachine("prop", spec["generation"])
    m.clipboard_mode, m.dn_d_mode = lib.ClipboardMode(spec["clipboard"]), lib.DnDMode(spec["dnd"])
    names = {"HostOnly": {"host_only": "vboxnet0"}, "HostOnly2": {"host_only": "vboxnet1"}}
    names |= {"Bridged": {"bridged": "eth0"}, "Internal": {"internal": "intnet"}}
    for slot, kind in enumerate(spec["adapters"]):
        attachment = "HostOnly" if kind == "HostOnly2" else kind
        m._adapters[slot] = fake.FakeNetworkAdapter(slot, attachment, **names.get(kind, {}))
    if spec["home_share"]:
        m.shared_folders.append(fake.FakeSharedFolder("home", "/home", True, spec["automount"]))
    if spec["input_share"] != "none":
        writable = spec["input_share"].startswith("rw")
        m.shared_folders.append(
            fake.FakeSharedFolder("input", "/srv/vmdata/input", writable, spec["automount"])
        )
        if spec["input_share"] == "rw-symlinks":
            m._extra[SYMLINKS_KEY + "input"] = "1"
    if spec["usb"]:
        m.usb_controllers.append(fake.FakeUSBController("OHCI", "OHCI"))
    if spec["audio"]:
        m._audio6 = fake.FakeAudioAdapter(True, 7)
        m._audio7 = fake.FakeRawAudioSettings7(fake.FakeRawAudioAdapter7(True, 4))
    if spec["vrde"] != "off":
        m.vrde_server = fake.FakeVRDEServer(True, "Null" if spec["vrde"] == "open" else "External")
        m.vrde_server._props["TCP/Address"] = "127.0.0.1" if spec["vrde"] == "local-auth" else ""
    m._serial[0] = fake.FakeSerialPort(0, spec["serial"] != "Disconnected", spec["serial"])
    m._parallel[0] = fake.FakeParallelPort(0, spec["parallel"])
    if spec["pci"]:
        m.pci_device_assignments.append(fake.FakePCIDeviceAttachment(0x0100, 0x0300))
    return m


@SETTINGS
@given(spec=vbox_machines, policy=policies)
def test_virtualbox_apply_clears_every_fixable_finding(spec: dict, policy: Policy, log_path) -> None:
    pytest.importorskip("virtualbox")
    from virtualbox import library as lib

    from tests.drivers import fake_pyvbox as fake
    from vmguard.drivers.vbox.driver import VirtualBoxDriver

    vbox = fake.FakeVirtualBox("7.2.4" if spec["generation"] >= 7 else "6.1.50")
    vbox._add(_vbox_machine(spec))
    driver = VirtualBoxDriver(vbox, fake.FakeSession, lib)
    converges(driver, "prop", policy, VBOXNET0)


@SETTINGS
@given(
    path=st.sampled_from(sorted((FIXTURES / "vbox").glob("*.vbox"))),
    policy=policies,
    host_only=st.sampled_from([None, VBOXNET0]),
)
def test_vbox_file_plan_is_empty_exactly_when_nothing_is_fixable(
    path: Path, policy: Policy, host_only
) -> None:
    """The .vbox file driver changes nothing: every fix is manual, and there is one
    exactly when a rule finds something fixable."""
    from vmguard.drivers.vbox.file import VboxFileDriver

    driver = VboxFileDriver(str(path))
    for name in driver.list_vms():
        facts = facts_of(driver, name, host_only)
        plan = make_plan(policy, facts, driver.capabilities)
        assert plan.changes == ()
        assert plan.empty == (not any_fix(policy, facts))


def test_control_an_apply_that_changes_nothing_is_caught(testnode_uri: str, log_path) -> None:
    """Control: were a fix not to clear its finding, the property above would fail."""
    pytest.importorskip("libvirt")
    from vmguard.drivers.interface import ApplyResult
    from vmguard.drivers.libvirt.driver import LibvirtDriver

    driver = LibvirtDriver(testnode_uri)
    try:
        define(driver, "ctl", ["sound"])
        driver.apply = lambda name, plan, *, dry_run: ApplyResult(name)  # type: ignore[method-assign]
        with pytest.raises(AssertionError):
            converges(driver, "ctl", batch_policy(), ISOLATED)
    finally:
        driver.close()
