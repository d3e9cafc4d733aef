"""Plan and libvirt transform edge cases on the test driver: what is left alone, what is
only reported, what libvirt cannot do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.drivers.conftest import batch_policy
from vmguard.core.errors import DriverError
from vmguard.drivers.libvirt.driver import LibvirtDriver
from vmguard.enforce.apply import apply_vm
from vmguard.enforce.plan import Action, make_plan
from vmguard.facts.vm import Setting, VmFacts
from vmguard.policy.model import (
    Access,
    RemoteDisplay,
    SharedFoldersPolicy,
    ShareRule,
    Toggle,
    TransferMode,
)

pytest.importorskip("libvirt")

DOMAIN = """<domain type='test'><name>{name}</name><memory>65536</memory><vcpu>1</vcpu>
<os><type>hvm</type></os><devices>
<controller type='usb' index='0' model='none'/>{devices}</devices></domain>"""
OUTPUT_SHARE = ShareRule("output", "/srv/vmdata/quarantine/{vm}", Access.READ_WRITE)


@pytest.fixture
def driver(testnode_uri: str):
    drv = LibvirtDriver(testnode_uri)
    yield drv
    drv.close()


def _define(driver: LibvirtDriver, devices: str, name: str = "edge") -> str:
    driver.conn.defineXML(DOMAIN.format(name=name, devices=devices))
    return name


def _policy(**changes):
    policy = batch_policy()
    return type(policy)(**{**policy.__dict__, **changes})


def test_stricter_than_policy_is_left_alone() -> None:
    assert not TransferMode.DISABLED.extra_directions(TransferMode.HOST_TO_GUEST)
    assert TransferMode.BIDIRECTIONAL.extra_directions(TransferMode.HOST_TO_GUEST) == {"guest-to-host"}
    assert TransferMode.HOST_TO_GUEST.extra_directions(TransferMode.GUEST_TO_HOST) == {"host-to-guest"}
    facts = VmFacts("v", "libvirt", clipboard=Setting(TransferMode.DISABLED))
    devices = batch_policy().devices
    loose = type(devices)(**{**devices.__dict__, "clipboard": TransferMode.BIDIRECTIONAL})
    plan = make_plan(_policy(devices=loose), facts, LibvirtDriver.capabilities)
    assert plan.empty


def test_localhost_display_listen_changed_auth_left_to_the_admin(driver, log_path, events) -> None:
    name = _define(driver, "<graphics type='vnc' port='5901' listen='0.0.0.0'/>")
    devices = batch_policy().devices
    localhost = type(devices)(**{**devices.__dict__, "remote_display": RemoteDisplay.LOCALHOST})
    policy = _policy(devices=localhost)
    plan = make_plan(policy, driver.read_facts(name), driver.capabilities)
    assert [c.action for c in plan.changes] == [Action.LISTEN_LOCALHOST]
    assert [c.action for c in plan.manual] == [Action.REQUIRE_DISPLAY_AUTH]
    apply_vm(driver, "test", name, policy, events=events)
    display = driver.read_facts(name).displays[0]
    assert display.listen == "127.0.0.1" and display.port == 5901
    again = make_plan(policy, driver.read_facts(name), driver.capabilities)
    assert again.changes == () and [c.action for c in again.manual] == [Action.REQUIRE_DISPLAY_AUTH]


def test_writable_9p_share_stops_guest_symlinks_with_mapped_mode(driver, log_path, events) -> None:
    name = _define(
        driver,
        "<filesystem type='mount' accessmode='passthrough'>"
        "<source dir='/srv/vmdata/quarantine/edge'/>"
        "<target dir='output'/></filesystem>",
    )
    policy = _policy(shared_folders=SharedFoldersPolicy(allow=(OUTPUT_SHARE,)))
    plan = make_plan(policy, driver.read_facts(name), driver.capabilities)
    assert [c.action for c in plan.changes] == [Action.DISABLE_SHARE_SYMLINKS]
    apply_vm(driver, "test", name, policy, events=events)
    assert "accessmode='mapped'" in driver.persistent_xml(name)
    share = driver.read_facts(name).shared_folders[0]
    assert not share.read_only and not share.symlinks_allowed
    assert make_plan(policy, driver.read_facts(name), driver.capabilities).empty


def test_virtiofs_symlinks_cannot_be_stopped_and_nothing_changes(driver, log_path, events) -> None:
    name = _define(
        driver,
        "<filesystem type='mount'><driver type='virtiofs'/>"
        "<source dir='/srv/vmdata/quarantine/edge'/>"
        "<target dir='output'/></filesystem><sound model='ich9'/>",
    )
    policy = _policy(shared_folders=SharedFoldersPolicy(allow=(OUTPUT_SHARE,)))
    before = driver.persistent_xml(name)
    with pytest.raises(DriverError, match="virtiofs cannot refuse guest symlinks"):
        apply_vm(driver, "test", name, policy, events=events)
    assert driver.persistent_xml(name) == before  # the sound card stayed too: all or nothing


def test_share_symlinked_into_a_forbidden_path_is_removed(driver, tmp_path, log_path) -> None:
    link = tmp_path / "innocent"
    link.symlink_to("/home")
    name = _define(
        driver,
        f"<filesystem type='mount'><source dir='{link}'/><target dir='input'/><readonly/></filesystem>",
    )
    facts = driver.read_facts(name)
    assert facts.shared_folders[0].real_path == "/home"
    plan = make_plan(batch_policy(), facts, driver.capabilities)
    assert [(c.action, c.setting) for c in plan.changes] == [
        (Action.REMOVE_SHARE, "spec.shared_folders.forbid_host_paths")
    ]


def test_guest_agent_removed_only_when_the_policy_says_so(driver, log_path, events) -> None:
    name = _define(
        driver, "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
    )
    assert make_plan(batch_policy(), driver.read_facts(name), driver.capabilities).empty
    devices = batch_policy().devices
    no_agent = type(devices)(**{**devices.__dict__, "guest_agent": Toggle.DISABLED})
    apply_vm(driver, "test", name, _policy(devices=no_agent), events=events)
    assert driver.read_facts(name).channels == ()


def test_display_password_counts_as_authentication(driver) -> None:
    name = _define(driver, "<graphics type='vnc' port='5902' listen='127.0.0.1' passwd='s3cret'/>")
    assert driver.read_facts(name).displays[0].authenticated


def test_one_failing_vm_does_not_stop_the_others(tmp_path, log_path, capsys) -> None:
    """apply over an inventory: the virtiofs VM fails alone (exit 3), the other is fixed."""
    from vmguard.cli import main

    node = tmp_path / "node.xml"
    bad = DOMAIN.format(
        name="a-virtiofs",
        devices="<filesystem type='mount'>"
        "<driver type='virtiofs'/><source dir='/vmdata/quarantine/a-virtiofs'/>"
        "<target dir='output'/></filesystem>",
    )
    good = DOMAIN.format(name="b-sound", devices="<sound model='ich9'/>")
    node.write_text(f"<node>{bad}{good}</node>")
    for policy in (Path(__file__).parents[2] / "policy").glob("*.yaml"):
        (tmp_path / policy.name).write_text(policy.read_text())
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: t}\n"
        f"connections:\n  - {{name: t, driver: libvirt, uri: 'test://{node}'}}\n"
        "vms:\n  - {name: '*', connection: t, policy: batch.yaml}\n"
    )
    code = main(["apply", "--inventory", str(inventory), "--power-off-ok"])
    out = capsys.readouterr()
    assert code == 3
    assert "virtiofs cannot refuse guest symlinks" in out.err
    assert "b-sound: changed" in out.out
