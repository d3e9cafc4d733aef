"""`vmguard apply --guest` on real stopped libvirt domains (type qemu) with the planted
RHEL 6-like (rpm BDB, SysV, chkconfig links, xinetd) and Debian-like (systemd, xinetd)
images: the audit's guest findings gone, a second apply idle, rollback bit for bit, a
running VM refused, a kill -9 mid-apply recoverable. Each test works on its own copy of
the session's images (built once, tests/guest/conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.guest.boot import BOOT_MARK, add_busybox_init, boot_initramfs, wait_poweroff
from tests.guest.conftest import sha256
from tests.guest.images import run
from tests.support.domains import NAME_PREFIX, domain_xml
from tests.support.guest_image import CACHE_ROOT
from tests.support.ownership import owned_name
from vmguard.cli import main
from vmguard.core import eventlog
from vmguard.guest.fixes import GuestAction, GuestChange
from vmguard.guest.offline import run_worker

pytestmark = [pytest.mark.root, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DISK_XML = """    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{path}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
INVENTORY = """\
apiVersion: vmguard/v1
kind: Inventory
connections: [{{name: kvm, driver: libvirt, uri: "qemu:///system"}}]
vms: [{{name: {name}, connection: kvm, policy: policy.yaml}}]
"""
POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: batch}
spec:
  users: {interactive_login: [vmadmin1], nologin_shell: /sbin/nologin}
  software:
    forbid: [firefox, thunderbird, evolution, mutt, sendmail, postfix, exim4]
    allowed_services: [ssh, sshd, cron, crond, rsyslog, xinetd]
    file_scan: false
"""
# What apply --guest clears (each image plants most: VMG-USR-003 only where sshd's
# PAM path asks for passwords); VMG-SW-001 (packages) is report-only and stays.
FIXED = {
    "VMG-USR-001",
    "VMG-USR-002",
    "VMG-USR-003",
    "VMG-USR-005",
    "VMG-USR-006",
    "VMG-USR-007",
    "VMG-USR-008",
    "VMG-USR-009",
    "VMG-USR-011",
    "VMG-SW-002",
}


def disk_folder() -> Path:
    folder = CACHE_ROOT / "guest-disks"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # libvirt's qemu user must reach an image it boots
    return folder


class Vm:
    """A stopped test domain on its own copy of a planted image, and a vmguard run dir."""

    def __init__(self, tcg_domain, source: Path, fmt: str, work: Path, capsys, boot=None) -> None:
        self.capsys = capsys
        self.image = disk_folder() / f"apply-{os.getpid()}-{time.monotonic_ns()}.{fmt}"
        if fmt == "raw":
            shutil.copyfile(source, self.image)
        else:
            run(["qemu-img", "convert", "-f", "raw", "-O", fmt, str(source), str(self.image)])
        if boot:  # its own init, and a domain that boots the disk (not the agent initramfs)
            add_busybox_init(self.image, fmt, PROBE)
        self.original = sha256(self.image)
        disk = DISK_XML.format(fmt=fmt, path=self.image)
        if boot:
            name = owned_name(NAME_PREFIX)
            xml = domain_xml(name, boot, tcg_domain._console(name), extra_devices=disk)
            self.domain = tcg_domain.define(xml)
        else:
            self.domain = tcg_domain.define(extra_devices=disk)
        self.work = work
        work.mkdir()
        # The boot test reads the guest's serial console, which the policy would remove.
        (work / "policy.yaml").write_text(POLICY + ("  devices: {serial_ports: enabled}\n" if boot else ""))
        (work / "inv.yaml").write_text(INVENTORY.format(name=self.domain.name))
        self.env = {
            "VMGUARD_STATE_DIR": str(work / "state"),
            "VMGUARD_LOG": str(work / "log.jsonl"),
            "VMGUARD_CACHE": str(work / "cache"),
        }

    def cli(self, *argv: str) -> int:
        return main([*argv, "--inventory", str(self.work / "inv.yaml")])

    def audit_rules(self, fresh: str) -> set[str]:
        """Rules the audit finds in the guest, read by a new inspection (cache `fresh`)."""
        os.environ["VMGUARD_CACHE"] = str(self.work / fresh)
        out = self.work / f"reports-{fresh}"
        main(["audit", "-i", str(self.work / "inv.yaml"), "--out", str(out), "--format", "json"])
        report = json.loads((out / "latest/report.json").read_text())
        self.capsys.readouterr()  # the audit's summary
        [vm] = [v for v in report["vms"] if v["name"] == self.domain.name]
        assert not vm["incomplete"], vm["incomplete"]
        return {f["rule"] for f in vm["findings"]}

    def events(self, kind: str) -> list[dict]:
        path = Path(self.env["VMGUARD_LOG"])
        lines = path.read_text().splitlines() if path.exists() else []
        return [e["data"] for e in map(json.loads, lines) if e["kind"] == kind]

    def backups(self) -> list[Path]:
        return sorted((self.work / "state/guest-backups").glob("*/*/*Z"))  # not a .partial


@pytest.fixture
def vm_factory(tcg_domain, guest_images, tmp_path, monkeypatch, capsys):
    made: list[Vm] = []

    def make(kind: str, fmt: str = "raw", boot=None) -> Vm:
        vm = Vm(tcg_domain, guest_images[kind], fmt, tmp_path / f"{kind}-{len(made)}", capsys, boot)
        for key, value in vm.env.items():
            monkeypatch.setenv(key, value)
        made.append(vm)
        return vm

    yield make
    for vm in made:
        vm.image.unlink(missing_ok=True)


@pytest.mark.parametrize(("kind", "fmt"), [("rpm", "raw"), ("dpkg", "qcow2")])
def test_apply_guest_clears_findings_is_idempotent_and_rolls_back(vm_factory, kind, fmt, capsys):
    vm = vm_factory(kind, fmt)
    before = vm.audit_rules("cache-before") & FIXED
    assert len(before) >= len(FIXED) - 1, FIXED - before

    assert vm.cli("plan", "--guest", "--format", "json") == 1
    [plan] = json.loads(capsys.readouterr().out)["plans"]
    guest = plan["guest"]
    assert guest["refused"] == "" and guest["changes"]
    assert "sparse copy of 1 disk image(s)" in guest["backup"]
    assert {c["rule"] for c in guest["changes"]} == before
    assert any("report only" in r for r in guest["report_only"])

    assert vm.cli("apply", "--guest") == 0
    out = capsys.readouterr().out
    assert "guest: made" in out, out
    assert sha256(vm.image) != vm.original
    changes = vm.events("guest-change")
    assert changes and all(c["before"] and c["after"] for c in changes)
    assert not any("$6$" in json.dumps(c) for c in changes)  # no password hash in the log
    assert eventlog.verify(Path(vm.env["VMGUARD_LOG"])) == []  # the hash chain holds

    after = vm.audit_rules("cache-after")  # a new, read-only inspection of the changed disk
    assert not (after & FIXED), after & FIXED
    assert "VMG-SW-001" in after  # packages: report only

    applied = sha256(vm.image)
    [backup] = vm.backups()
    assert vm.cli("apply", "--guest") == 0  # the second apply: nothing to change
    assert "guest: nothing to change" in capsys.readouterr().out
    assert sha256(vm.image) == applied and vm.backups() == [backup]

    assert vm.cli("rollback", vm.domain.name) == 0
    assert sha256(vm.image) == vm.original  # bit for bit
    assert vm.events("guest-rollback")


# Run by the guest's own shell at boot (no single quotes: it goes inside sh -c '...').
PROBE = (
    'B=/bin/busybox; $B grep -q "^operator2:!" /etc/shadow && echo "vmguard-boot: operator2 locked"; '
    '$B grep -q "^PermitRootLogin no" /etc/ssh/sshd_config && echo "vmguard-boot: sshd block first"; '
    '$B ls /etc/rc.d/rc3.d > /tmp.ls && ! $B grep -q ypbind /tmp.ls && echo "vmguard-boot: ypbind not started"'
)


def test_guest_still_boots_to_its_shell_after_apply(vm_factory):
    """The RHEL 6-like disk, applied, boots under TCG (a busybox initramfs mounts it and
    switches to the guest's /sbin/init), whose shell sees the changes."""
    boot = boot_initramfs()
    try:
        vm = vm_factory("rpm", boot=boot)
        assert vm.cli("apply", "--guest") == 0
        vm.domain.dom.create()
        console = wait_poweroff(vm.domain)
    finally:
        shutil.rmtree(boot.kernel.parent, ignore_errors=True)
    assert BOOT_MARK in console, console[-2000:]
    for seen in ("operator2 locked", "sshd block first", "ypbind not started", "done"):
        assert f"vmguard-boot: {seen}" in console, console[-2000:]


def test_running_vm_is_refused_and_untouched(vm_factory, tcg_domain, capsys):
    vm = vm_factory("dpkg")
    vm.domain.dom.create()
    vm.domain.wait_agent()
    assert vm.cli("apply", "--guest") == 1
    assert "refused, the VM is running" in capsys.readouterr().out
    assert vm.events("guest-apply-refused")
    vm.domain.dom.destroy()
    assert sha256(vm.image) == vm.original and not vm.backups()


def _apply_process(vm: Vm) -> subprocess.Popen:
    env = {**os.environ, **vm.env, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "vmguard", "apply", "--guest", "--inventory", str(vm.work / "inv.yaml")]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _applying(vm: Vm) -> bool:
    return any(json.loads((b / "manifest.json").read_text()).get("state") == "applying" for b in vm.backups())


@pytest.mark.parametrize("delay", [5.0])
def test_kill_9_mid_apply_leaves_the_old_disk_or_a_restorable_backup(vm_factory, delay):
    """SIGKILL while the worker runs (its appliance booting or writing); the disk is the
    old one, or `rollback` restores it; no process of the apply is left."""
    vm = vm_factory("rpm")
    proc = _apply_process(vm)
    deadline = time.monotonic() + 600
    while not _applying(vm):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The worker dies with vmguard (PR_SET_PDEATHSIG); libguestfs's recovery process ends
    # the appliance's qemu within its 2 s poll: then nothing writes the image any more.
    deadline = time.monotonic() + 20
    while _users_of(vm.image) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _users_of(vm.image) == []
    if sha256(vm.image) != vm.original:
        assert vm.cli("rollback", vm.domain.name) == 0
    assert sha256(vm.image) == vm.original


def _users_of(image: Path) -> list[str]:
    found = subprocess.run(["pgrep", "-f", str(image)], capture_output=True, text=True, check=False)
    return found.stdout.split()


def test_guest_that_does_not_parse_is_left_untouched(vm_factory, capsys):
    """The hostile image (binary junk and a short entry in /etc/passwd): exit 3 with the
    reason, no backup taken, the image bit for bit as it was."""
    vm = vm_factory("hostile")
    assert vm.cli("apply", "--guest") == 3
    err = capsys.readouterr().err
    assert "guest left untouched" in err and "/etc/passwd:3: malformed entry" in err, err
    assert sha256(vm.image) == vm.original and not vm.backups()
    assert vm.events("guest-apply-failed")


def test_worker_refuses_a_guest_that_changed_since_the_plan(vm_factory):
    """Edits are computed on a read-only mount first: a change whose file no longer says
    what the plan saw (an account that is gone) stops all of them, and the image (opened
    for writing) is bit for bit unchanged. Control: the same request with the valid
    change alone does write."""
    vm = vm_factory("rpm")
    valid = GuestChange(
        "VMG-USR-011", GuestAction.LOCK_PASSWORD, "account guest", "password empty", "locked",
        "/etc/shadow", "guest",
    )  # fmt: skip
    gone = replace(valid, subject="account ghost", target="ghost")
    request = {"disks": [[str(vm.image), "raw", False]], "changes": [valid.to_dict(), gone.to_dict()]}
    answer = run_worker("vmguard.guest.apply_worker", request, 900, "guest apply", on_start=lambda _pid: None)
    assert "0 entries for account ghost" in answer["error"]
    assert sha256(vm.image) == vm.original
    request["changes"] = [valid.to_dict()]
    answer = run_worker("vmguard.guest.apply_worker", request, 900, "guest apply", on_start=lambda _pid: None)
    assert [(r["file"], r["before"], r["after"]) for r in answer["records"]] == [
        ("/etc/shadow", "password empty", "password locked")
    ]
    assert sha256(vm.image) != vm.original
