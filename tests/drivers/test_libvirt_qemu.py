"""The libvirt driver against the real qemu:///system daemon and a TCG guest.

A domain is defined with everything the batch policy forbids (SPICE with clipboard and
file transfer, a writable 9p share of /home, NAT interfaces, USB controller and
redirection, a sound card, a serial port). It is never started that way: vmguard plans
and applies first, and only the applied domain boots. What QEMU itself was given (its
command line, and `info qtree` from its monitor) must show none of those devices.

The NAT network is defined but never started, so the host's firewall is not touched.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.drivers.conftest import batch_policy, forbidden_xml, no_network
from vmguard.core.modes import Toggle, TransferMode
from vmguard.drivers.libvirt.driver import LibvirtDriver
from vmguard.enforce.apply import apply_vm, rollback_vm
from vmguard.enforce.plan import Action, make_plan
from vmguard.facts.vm import Attachment, PowerState

pytestmark = [pytest.mark.root, pytest.mark.slow]

# QEMU device/option names that must not appear once the policy is applied.
QEMU_FORBIDDEN = (
    "-spice",
    "usb-redir",
    "qemu-xhci",
    "piix3-usb-uhci",
    "intel-hda",
    "hda-duplex",
    "isa-serial",
    "virtio-9p",
    "-fsdev",
    "-netdev",
    "virtio-net",
    "e1000",
    "usb-tablet",
)
QTREE_FORBIDDEN = (
    "usb-redir",
    "qemu-xhci",
    "intel-hda",
    "hda-duplex",
    "isa-serial",
    "virtio-9p",
    "virtio-net",
    "e1000",
    "usb-tablet",
)


@pytest.fixture
def driver(libvirt_uri: str):
    drv = LibvirtDriver(libvirt_uri)
    yield drv
    drv.close()


@pytest.fixture
def exposed(tcg_domain, nat_network):
    """A defined, shut-off domain with every forbidden setting."""
    return tcg_domain.define(forbidden_xml(tcg_domain, nat_network))


def _hash(driver: LibvirtDriver, name: str) -> str:
    return hashlib.sha256(driver.persistent_xml(name).encode()).hexdigest()


def _qemu_cmdline(name: str) -> str:
    pid = Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip()
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _qtree(dom) -> str:
    import libvirt_qemu

    return libvirt_qemu.qemuMonitorCommand(dom, "info qtree", 1)  # 1: HMP


def test_facts_of_a_forbidden_domain(driver, exposed) -> None:
    facts = driver.read_facts(exposed.name)
    assert [n.attachment for n in facts.nics] == [Attachment.NAT, Attachment.USER]
    assert [(s.name, s.real_path, s.read_only) for s in facts.shared_folders] == [
        ("home", os.path.realpath("/home"), False)
    ]
    assert facts.clipboard.value is TransferMode.BIDIRECTIONAL
    assert facts.drag_and_drop.value is TransferMode.HOST_TO_GUEST
    assert "qemu-xhci" in facts.usb.controllers and facts.usb.redirections == 1
    assert facts.audio.enabled
    assert [p.kind for p in facts.ports] == ["serial"]
    assert facts.power_state is PowerState.OFF


def test_plan_apply_reread_boot_and_check_qemu(driver, exposed, tcg_domain, log_path, events) -> None:
    policy = no_network(batch_policy())  # detached: no host_only network here
    plan = make_plan(policy, driver.read_facts(exposed.name), driver.capabilities)
    assert not any(c.needs_poweroff for c in plan.changes)  # shut off: all take effect
    wanted = {
        Action.DETACH_NIC,
        Action.REMOVE_SHARE,
        Action.SET_CLIPBOARD,
        Action.SET_DRAG_AND_DROP,
        Action.DISABLE_REMOTE_DISPLAY,
        Action.REMOVE_USB,
        Action.REMOVE_AUDIO,
        Action.REMOVE_SERIAL_PORTS,
    }
    assert {c.action for c in plan.changes} == wanted

    outcome = apply_vm(driver, "kvm", exposed.name, policy, events=events)
    assert outcome.result and len(outcome.result.applied) == len(plan.changes)
    facts = driver.read_facts(exposed.name)
    assert facts.nics == () and facts.shared_folders == () and facts.displays == ()
    assert facts.clipboard.value is TransferMode.DISABLED
    assert facts.drag_and_drop.value is TransferMode.DISABLED
    assert facts.usb.controllers == () and facts.usb.redirections == 0
    assert not facts.audio.enabled and facts.ports == ()
    assert [c.kind for c in facts.channels] == ["qemu-ga"]

    exposed.dom.create()
    exposed.wait_agent()
    cmdline, qtree = _qemu_cmdline(exposed.name), _qtree(exposed.dom)
    assert "tcg" in cmdline
    for word in QEMU_FORBIDDEN:
        assert word not in cmdline, (word, cmdline)
    for word in QTREE_FORBIDDEN:
        assert word not in qtree, word
    assert "virtserialport" in qtree  # the guest agent channel the policy keeps

    running = make_plan(policy, driver.read_facts(exposed.name), driver.capabilities)
    assert running.empty  # clean on the running guest too


def test_the_qemu_checks_see_forbidden_devices_when_present(tcg_domain) -> None:
    """Positive control: booted with them (no NIC, SPICE on loopback only), QEMU shows
    every device the checks above look for, so their absence there means something."""
    shared = Path(tempfile.mkdtemp(prefix="vmg-drivers-share-", dir="/var/tmp"))
    shared.chmod(0o755)  # never /home here: this guest really boots with the share
    xml = forbidden_xml(tcg_domain, None).replace('dir="/home"', f'dir="{shared}"')
    assert str(shared) in xml
    try:
        made = tcg_domain.start(xml, wait_agent=False)
        cmdline, qtree = _qemu_cmdline(made.name), _qtree(made.dom)
    finally:
        tcg_domain.cleanup()
        shutil.rmtree(shared)
    network = {"-netdev", "virtio-net", "e1000"}
    for word in set(QEMU_FORBIDDEN) - network - {"piix3-usb-uhci"}:
        assert word in cmdline, word
    for word in set(QTREE_FORBIDDEN) - network:
        assert word in qtree, word
    assert "disable-copy-paste" not in cmdline  # clipboard on: what the policy forbids


def test_idempotent_dry_run_and_rollback(driver, exposed, log_path, events) -> None:
    before = _hash(driver, exposed.name)
    dry = apply_vm(
        driver,
        "kvm",
        exposed.name,
        no_network(batch_policy()),
        dry_run=True,
        events=events,
    )
    assert dry.result and dry.result.dry_run and _hash(driver, exposed.name) == before
    apply_vm(driver, "kvm", exposed.name, no_network(batch_policy()), events=events)
    applied = _hash(driver, exposed.name)
    assert applied != before
    again = apply_vm(driver, "kvm", exposed.name, no_network(batch_policy()), events=events)
    assert again.plan.empty and _hash(driver, exposed.name) == applied
    rollback_vm(driver, "kvm", exposed.name, events=events)
    assert _hash(driver, exposed.name) == before


def test_running_domain_is_refused_then_next_boot(driver, tcg_domain, log_path, events) -> None:
    made = tcg_domain.start(wait_agent=False)  # plain test domain: its serial is forbidden
    before = _hash(driver, made.name)
    outcome = apply_vm(driver, "kvm", made.name, batch_policy(), events=events)
    assert outcome.refused and _hash(driver, made.name) == before
    later = apply_vm(driver, "kvm", made.name, batch_policy(), next_boot=True, events=events)
    assert later.result and later.result.next_boot
    assert "<serial" not in driver.persistent_xml(made.name)
    assert "isa-serial" in _qtree(made.dom)  # still running with it until reboot


@pytest.fixture
def world_readable_dir():
    """pytest's tmp_path sits under a 0700 directory that another user cannot enter."""
    path = Path(tempfile.mkdtemp(prefix="vmg-drivers-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_permission_denied_is_one_line_exit_3(libvirt_uri, world_readable_dir) -> None:
    nobody = pwd.getpwnam("nobody")
    for policy in Path("policy").glob("*.yaml"):
        shutil.copy(policy, world_readable_dir)
    inventory = world_readable_dir / "inv.yaml"
    inventory.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: t}\n"
        f"connections:\n  - {{name: kvm, driver: libvirt, uri: '{libvirt_uri}'}}\n"
        "vms:\n  - {name: '*', connection: kvm, policy: batch.yaml}\n"
    )
    for path in world_readable_dir.iterdir():
        path.chmod(0o644)
    proc = subprocess.run(
        [sys.executable, "-m", "vmguard", "plan", "--inventory", str(inventory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        user=nobody.pw_uid,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PYTHONPATH": str(Path.cwd())},
    )
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach libvirt" in lines[0], proc.stderr
    assert "needs root or a polkit grant" in lines[0]


UDP_NIC = """<interface type='udp'>
  <mac address='52:54:00:7e:57:01'/>
  <source address='127.0.0.1' port='{port}'><local address='127.0.0.1' port='{local}'/></source>
  <model type='e1000'/>
</interface>"""


def test_nic_is_unplugged_live_from_a_running_guest(driver, tcg_domain, log_path, events) -> None:
    """A VM-to-VM socket NIC (UDP on loopback only) goes at once, without a reboot."""
    port = 20000 + os.getpid() % 20000
    made = tcg_domain.start(extra_devices=UDP_NIC.format(port=port, local=port + 1))
    assert "e1000" in _qtree(made.dom)
    policy = no_network(batch_policy(serial_ports=Toggle.ENABLED))  # the test console stays
    plan = make_plan(policy, driver.read_facts(made.name), driver.capabilities)
    assert [(c.action, c.needs_poweroff) for c in plan.changes] == [(Action.DETACH_NIC, False)]
    outcome = apply_vm(driver, "kvm", made.name, policy, events=events)
    assert outcome.result and outcome.result.applied == plan.changes, outcome
    assert "e1000" not in _qtree(made.dom)
    assert "<interface" not in driver.persistent_xml(made.name)
    assert make_plan(policy, driver.read_facts(made.name), driver.capabilities).empty
