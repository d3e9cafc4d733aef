"""`vmguard apply --guest` on real stopped libvirt domains (type qemu) with the planted
RHEL 6-like (rpm BDB, SysV, chkconfig links, xinetd) and Debian-like (systemd, xinetd)
images: the audit's guest findings gone, a second apply idle, rollback bit for bit, the
applied guest still boots, a running VM refused, a VM started during an apply kept off
the disk (or the apply refused), a kill -9 mid-apply recoverable.

Cost: a libguestfs appliance launch is 10-30 s under TCG, so the module shares one
domain per image kind (`rpm_vm`, `dpkg_vm`), whose disk every test leaves bit for bit
as it found it, and whose inspection cache the tests share: the refusals run before the
apply (they do not change the image, so its cached inspection stays valid), the boot
test boots a copy of the image the apply test made. The RHEL 6-like image gets its
busybox init when it is built (no appliance launch for that).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from importlib import resources
from pathlib import Path

import jsonschema
import libvirt
import pytest

from tests.guest.boot import BOOT_MARK, boot_initramfs, bootable_image, wait_poweroff
from tests.guest.conftest import sha256
from tests.guest.images import run
from tests.support.domains import NAME_PREFIX, domain_xml
from tests.support.guest_image import CACHE_ROOT
from tests.support.netns import Netns, netns
from tests.support.ownership import owned_name
from vmguard.checks.guest_fix import GuestAction, GuestChange
from vmguard.cli import main
from vmguard.core import eventlog
from vmguard.guest.cache import fingerprint
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
# The same with the host firewall configured (used inside a namespace of the test's).
FIREWALL = "firewall: {backend: nftables, vm_interfaces: [vmgfw0], vm_networks: [10.77.0.0/24]}\n"
ADDRESS = ", address: 10.77.0.41, mac: '52:54:00:77:00:41'}]"
SOUND = "<sound model='ich6'/>"  # a setting the policy forbids, for the hypervisor part
POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: batch}
spec:
  users: {interactive_login: [vmadmin1], nologin_shell: /sbin/nologin}
  devices: {audio: disabled}
  software:
    forbid: [firefox, thunderbird, evolution, mutt, sendmail, postfix, exim4]
    allowed_services: [ssh, sshd, cron, crond, rsyslog, xinetd]
    file_scan: false
"""
# What apply --guest clears (each image plants every one: VMG-USR-003 as
# PasswordAuthentication yes with UsePAM yes, the path whose fix once crashed);
# VMG-SW-001 (packages) is report-only and stays.
FIXED = {
    "VMG-USR-001",
    "VMG-USR-002",
    "VMG-USR-003",
    "VMG-USR-005",
    "VMG-USR-006",
    "VMG-USR-007",
    "VMG-USR-008",
    "VMG-USR-009",
    "VMG-USR-010",
    "VMG-USR-011",
    "VMG-USR-013",
    "VMG-USR-014",
    "VMG-USR-015",
    "VMG-SW-002",
}
# Run by the guest's own shell at boot (no single quotes: it goes inside sh -c '...').
PROBE = (
    'B=/bin/busybox; $B grep -q "^operator2:!" /etc/shadow && echo "vmguard-boot: operator2 locked"; '
    '$B grep -q "^PermitRootLogin no" /etc/ssh/sshd_config && echo "vmguard-boot: sshd block first"; '
    '$B ls /etc/rc.d/rc3.d > /tmp.ls && ! $B grep -q "^S..ypbind" /tmp.ls && echo "vmguard-boot: ypbind not started"; '
    # chkconfig --list says "off" in a level with a K link: the apply leaves one in each
    'k=0; for n in 0 1 2 3 4 5 6; do $B ls /etc/rc.d/rc$n.d | $B grep -q "^K[0-9][0-9]ypbind$" && k=$((k+1)); done; '
    '[ $k = 7 ] && echo "vmguard-boot: ypbind off in every runlevel"'
)
# An account the rpm image has with an empty password (VMG-USR-011), and one it has not.
VALID = GuestChange(
    rule="VMG-USR-011", action=GuestAction.LOCK_PASSWORD, subject="account guest", current="password empty",
    wanted="locked", path="/etc/shadow", target="guest",
)  # fmt: skip
GONE = replace(VALID, subject="account ghost", target="ghost")


def disk_folder() -> Path:
    folder = CACHE_ROOT / "guest-disks"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # libvirt's qemu user must reach an image it boots
    return folder


def schema(kind: str) -> dict:
    return json.loads(resources.files("vmguard.cli").joinpath(f"schema/{kind}-v1.json").read_text())


class Vm:
    """A stopped test domain on its own copy of a planted image, and a vmguard run dir;
    each CLI call runs with this VM's state, log and cache (no process-wide setting)."""

    def __init__(self, domains, source: Path, fmt: str, work: Path) -> None:
        self.image = disk_folder() / f"apply-{os.getpid()}-{time.monotonic_ns()}.{fmt}"
        if fmt == "raw":
            run(["cp", "--reflink=auto", "--sparse=always", str(source), str(self.image)])
        else:
            run(["qemu-img", "convert", "-f", "raw", "-O", fmt, str(source), str(self.image)])
        self.fmt = fmt
        self.original = sha256(self.image)
        self.domain = domains.define(extra_devices=DISK_XML.format(fmt=fmt, path=self.image))
        self.work = work
        work.mkdir(exist_ok=True)
        (work / "policy.yaml").write_text(POLICY)
        (work / "inv.yaml").write_text(INVENTORY.format(name=self.domain.name))
        self.env = {
            "VMGUARD_STATE_DIR": str(work / "state"),
            "VMGUARD_LOG": str(work / "log.jsonl"),
            "VMGUARD_CACHE": str(work / "cache"),
        }
        self.applied: Path | None = None  # a copy of the image as `apply --guest` left it
        self.ns: Netns | None = None  # set: the CLI runs there, with the firewall configured

    @contextlib.contextmanager
    def with_firewall(self, ns: Netns) -> Iterator[None]:
        """In `ns`, with a firewall in the inventory, the start hook installed in a folder
        of the test's, and the sound card the policy forbids planted in the domain."""
        inventory = (self.work / "inv.yaml").read_text()
        (self.work / "inv-fw.yaml").write_text(
            inventory.replace("vms:", FIREWALL + "vms:").replace("policy.yaml}]", "policy.yaml" + ADDRESS)
        )
        original = self.domain.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        self.domain.dom.connect().defineXML(original.replace("</devices>", SOUND + "</devices>"))
        self.ns = ns
        try:
            assert self.cli("hook", "install", "--hooks-dir", str(self.work / "hooks"))[0] == 0
            yield
        finally:
            self.ns = None
            self.domain.dom.connect().defineXML(original)  # as the other tests expect it

    def cli(self, *argv: str, cache: str = "cache") -> tuple[int, str, str]:
        if self.ns is not None:
            return self._in_namespace(*argv, cache=cache)
        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as env:
            for key, value in {**self.env, "VMGUARD_CACHE": str(self.work / cache)}.items():
                env.setenv(key, value)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([*argv, "--inventory", str(self.work / "inv.yaml")])
        return code, out.getvalue(), err.getvalue()

    def _in_namespace(self, *argv: str, cache: str) -> tuple[int, str, str]:
        assert self.ns is not None
        env = {**os.environ, **self.env, "VMGUARD_CACHE": str(self.work / cache), "PYTHONPATH": str(ROOT)}
        hooks = ["--hooks-dir", str(self.work / "hooks")] if argv[0] in ("plan", "apply") else []
        inventory = ["--inventory", str(self.work / "inv-fw.yaml")]
        command = self.ns.argv(sys.executable, "-m", "vmguard", *argv, *hooks, *inventory)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200, check=False)
        return done.returncode, done.stdout, done.stderr

    def tables(self) -> str:
        assert self.ns is not None
        return self.ns.run("nft", "list", "tables").stdout

    def xml(self) -> str:
        return self.domain.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)

    def audit_rules(self, cache: str) -> set[str]:
        """Rules the audit finds in the guest, read by the inspection in `cache`."""
        out = self.work / f"reports-{cache}-{time.monotonic_ns()}"
        self.cli("audit", "--out", str(out), "--format", "json", cache=cache)
        report = json.loads((out / "latest/report.json").read_text())
        [vm] = [v for v in report["vms"] if v["name"] == self.domain.name]
        assert not vm["incomplete"], vm["incomplete"]
        return {f["rule"] for f in vm["findings"]}

    def events(self, kind: str) -> list[dict]:
        path = Path(self.env["VMGUARD_LOG"])
        lines = path.read_text().splitlines() if path.exists() else []
        return [e["data"] for e in map(json.loads, lines) if e["kind"] == kind]

    def backups(self) -> list[Path]:
        return sorted((self.work / "state/guest-backups").glob("*/*/*Z"))  # not a .partial

    def worker(self, changes: list[GuestChange], seen: list | None = None) -> dict:
        """The apply worker itself, on this VM's image; seen: the fingerprints it checks."""
        request = {
            "disks": [[str(self.image), self.fmt, False]],
            "changes": [c.to_dict() for c in changes],
            "fingerprints": seen if seen is not None else [list(fingerprint(self.image))],
        }
        return run_worker(
            "vmguard.guest.apply_worker", request, 900, "guest apply", on_start=lambda _pid: None
        )


@pytest.fixture(scope="module")
def make_vm(tcg_domain_module, tmp_path_factory):
    made: list[Vm] = []

    def make(source: Path, fmt: str) -> Vm:
        made.append(Vm(tcg_domain_module, source, fmt, tmp_path_factory.mktemp("apply")))
        return made[-1]

    yield make
    for vm in made:
        vm.image.unlink(missing_ok=True)
        if vm.applied:
            vm.applied.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def rpm_vm(make_vm, guest_images, tmp_path_factory) -> Vm:
    """The RHEL 6-like guest with a busybox init (made from the planted root, which the
    session's guest_images fixture keeps beside its image)."""
    root = guest_images["rpm"].parent / "rpm-root"
    assert (root / "etc/passwd").is_file(), root
    image = bootable_image(root, tmp_path_factory.mktemp("boot-image") / "rhel6-boot.img", PROBE)
    return make_vm(image, "raw")


@pytest.fixture(scope="module")
def dpkg_vm(make_vm, guest_images) -> Vm:
    return make_vm(guest_images["dpkg"], "qcow2")


def test_worker_refuses_a_guest_that_changed_since_the_plan(rpm_vm):
    """Edits are computed on a read-only mount first: a change whose file no longer says
    what the plan saw (an account that is gone) stops all of them; an image whose
    fingerprint is not the inspected one (a VM ran meanwhile) stops the worker before it
    reads anything. The image (opened for writing) stays bit for bit. Control: the apply
    test's worker, with the same VALID change and true fingerprints, writes."""
    answer = rpm_vm.worker([VALID, GONE])
    assert "0 entries for account ghost" in answer["error"], answer
    size, mtime, head = fingerprint(rpm_vm.image)
    answer = rpm_vm.worker([VALID], seen=[[size, mtime - 1, head]])
    assert "changed since it was inspected" in answer["error"], answer
    assert sha256(rpm_vm.image) == rpm_vm.original


def _start(domain, delay: float, outcome: dict) -> None:
    time.sleep(delay)
    try:
        domain.dom.create()
        outcome["started"] = True
    except libvirt.libvirtError as err:
        outcome["start_error"] = str(err)


@pytest.mark.parametrize("delay", [0.0, 6.0])
def test_a_domain_started_during_the_apply_and_the_apply_exclude_each_other(rpm_vm, delay):
    """The domain is started while the apply worker launches (delay 0: most often the
    domain wins) or once its appliance runs (6 s): QEMU's image lock lets exactly one of
    them have the disk. The request's GONE change stops the worker before it writes, so
    the image is unchanged either way; what shows who won is where the worker stopped."""
    outcome: dict = {}
    starter = threading.Thread(target=_start, args=(rpm_vm.domain, delay, outcome))
    starter.start()
    try:
        answer = rpm_vm.worker([VALID, GONE])
    finally:
        starter.join()
        if rpm_vm.domain.dom.isActive():
            rpm_vm.domain.dom.destroy()
    if outcome.get("started"):  # the domain had the disk: the appliance could not open it
        assert "lock" in answer["error"], (answer, outcome)
    else:  # the appliance had it: the domain could not start, the worker reached the edits
        assert "lock" in outcome["start_error"], outcome
        assert "0 entries for account ghost" in answer["error"], answer
    print(f"\ndelay {delay}: {'the domain' if outcome.get('started') else 'the apply'} had the disk")
    assert sha256(rpm_vm.image) == rpm_vm.original


def _apply_process(vm: Vm) -> subprocess.Popen:
    env = {**os.environ, **vm.env, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "vmguard", "apply", "--guest", "--inventory", str(vm.work / "inv.yaml")]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _applying(vm: Vm) -> bool:
    return any(json.loads((b / "manifest.json").read_text()).get("state") == "applying" for b in vm.backups())


def test_kill_9_mid_apply_leaves_the_old_disk_or_a_restorable_backup(rpm_vm):
    """SIGKILL while the worker runs (its appliance booting or writing); the disk is the
    old one, or `rollback` restores it; no process of the apply is left."""
    proc = _apply_process(rpm_vm)
    deadline = time.monotonic() + 600
    while not _applying(rpm_vm):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(5.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The worker dies with vmguard (PR_SET_PDEATHSIG); libguestfs's recovery process ends
    # the appliance's qemu within its 2 s poll: then nothing writes the image any more.
    deadline = time.monotonic() + 20
    while _users_of(rpm_vm.image) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _users_of(rpm_vm.image) == []
    if sha256(rpm_vm.image) != rpm_vm.original:
        assert rpm_vm.cli("rollback", rpm_vm.domain.name)[0] == 0
    assert sha256(rpm_vm.image) == rpm_vm.original


def _users_of(image: Path) -> list[str]:
    found = subprocess.run(["pgrep", "-f", str(image)], capture_output=True, text=True, check=False)
    return found.stdout.split()


def _apply_then_check(vm: Vm) -> None:
    before = vm.audit_rules("cache") & FIXED  # the inspection plan and apply reuse
    assert before == FIXED, FIXED - before  # every rule planted: no fix path goes unrun

    code, out, _ = vm.cli("plan", "--guest", "--format", "json")
    assert code == 1
    [plan] = json.loads(out)["plans"]
    guest = plan["guest"]
    assert guest["refused"] == "" and guest["changes"]
    assert "sparse copy of 1 disk image(s)" in guest["backup"]
    assert {c["rule"] for c in guest["changes"]} == before
    assert any("report only" in r for r in guest["report_only"])

    earlier, xml = vm.backups(), vm.xml()  # a killed apply's (state "applying") may be there
    code, out, err = vm.cli("apply", "--guest", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, schema("apply"))
    [made] = doc["vms"]
    if vm.ns is not None:  # one apply: the hypervisor settings and the firewall too
        assert "audio" in [c["subject"] for c in made["applied"]] and "<sound" not in vm.xml()
        assert doc["firewall"]["changed"] and doc["firewall"]["problems"] == []
        assert "table inet vmguard" in vm.tables()
    [backup] = [b for b in vm.backups() if b not in earlier]
    assert made["guest"]["backup"] == str(backup) and made["guest"]["refused"] == ""
    assert {c["rule"] for c in made["guest"]["made"]} == before
    assert sha256(vm.image) != vm.original
    changes = vm.events("guest-change")
    assert [{k: c[k] for k in made["guest"]["made"][0]} for c in changes] == made["guest"]["made"]
    assert changes and all(c["before"] and c["after"] for c in changes)
    assert not any("$6$" in json.dumps(c) for c in changes)  # no password hash in the log
    assert eventlog.verify(Path(vm.env["VMGUARD_LOG"])) == []  # the hash chain holds

    after = vm.audit_rules("cache-after")  # a new, read-only inspection of the changed disk
    assert not (after & FIXED), after & FIXED
    assert "VMG-SW-001" in after  # packages: report only

    applied = sha256(vm.image)
    code, out, _ = vm.cli("apply", "--guest", cache="cache-after")  # nothing left to change
    assert code == 0 and "guest: nothing to change" in out, out
    assert vm.ns is None or "firewall (nftables): up to date" in out, out
    assert sha256(vm.image) == applied and [b for b in vm.backups() if b not in earlier] == [backup]
    vm.applied = vm.image.with_name(vm.image.name + ".applied")
    run(["cp", "--reflink=auto", "--sparse=always", str(vm.image), str(vm.applied)])

    code, out, _ = vm.cli("rollback", vm.domain.name, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, schema("rollback"))
    assert doc["guest_backup"] == str(backup)
    assert sha256(vm.image) == vm.original  # bit for bit
    assert vm.events("guest-rollback")
    if vm.ns is not None:  # and the rest of what the apply did
        assert doc["configuration"] and vm.xml() == xml
        assert doc["firewall"]["loaded"] and "vmguard" not in vm.tables()  # none was loaded before


@pytest.mark.timeout(1200)  # three appliance launches: ~2 min on 2 idle cores, far more on a loaded machine
@pytest.mark.parametrize("kind", ["rpm", "dpkg"])
def test_apply_guest_clears_findings_is_idempotent_and_rolls_back(request, kind):
    """The RHEL 6-like guest the way issue 23 puts it: one `apply --guest` on the stopped
    VM brings its hypervisor settings, the host firewall (nftables, in a namespace of the
    test's) and the guest in line; one `rollback` undoes all three."""
    vm = request.getfixturevalue(f"{kind}_vm")
    if kind == "dpkg":
        _apply_then_check(vm)
        return
    with netns("gfw") as ns, vm.with_firewall(ns):
        _apply_then_check(vm)


def test_guest_still_boots_to_its_shell_after_apply(rpm_vm, tcg_domain_module):
    """The RHEL 6-like disk as the apply test left it boots under TCG (a busybox initramfs
    mounts it and switches to the guest's /sbin/init), whose shell sees the changes."""
    if rpm_vm.applied is None:  # this test selected alone
        _apply_then_check(rpm_vm)
    boot = boot_initramfs()
    try:
        name = owned_name(NAME_PREFIX)
        disk = DISK_XML.format(fmt="raw", path=rpm_vm.applied)
        xml = domain_xml(name, boot, tcg_domain_module._console(name), extra_devices=disk)
        domain = tcg_domain_module.define(xml)
        domain.dom.create()
        console = wait_poweroff(domain)
    finally:
        shutil.rmtree(boot.kernel.parent, ignore_errors=True)
    assert BOOT_MARK in console, console[-2000:]
    seen_lines = (
        "operator2 locked",
        "sshd block first",
        "ypbind not started",
        "ypbind off in every runlevel",
    )
    for seen in (*seen_lines, "done"):
        assert f"vmguard-boot: {seen}" in console, console[-2000:]


def test_running_vm_is_refused_and_untouched(dpkg_vm):
    """Refused on the power state alone: no need to wait for the guest's agent."""
    was, backups = sha256(dpkg_vm.image), dpkg_vm.backups()
    dpkg_vm.domain.dom.create()
    try:
        code, out, _ = dpkg_vm.cli("apply", "--guest", "--format", "json")
    finally:
        dpkg_vm.domain.dom.destroy()
    assert code == 1
    [vm] = json.loads(out)["vms"]
    assert "running" in vm["guest"]["refused"] and not vm["guest"]["made"]
    assert dpkg_vm.events("guest-apply-refused")
    assert sha256(dpkg_vm.image) == was and dpkg_vm.backups() == backups


def test_guest_that_does_not_parse_is_left_untouched(make_vm, guest_images):
    """The hostile image (binary junk and a short entry in /etc/passwd): exit 3 with the
    reason, no backup taken, the image bit for bit as it was."""
    vm = make_vm(guest_images["hostile"], "raw")
    code, _, err = vm.cli("apply", "--guest")
    assert code == 3
    assert "guest left untouched" in err and "/etc/passwd:3: malformed entry" in err, err
    assert sha256(vm.image) == vm.original and not vm.backups()
    assert vm.events("guest-apply-failed")
