"""The test VM of tests/guest/test_guest_apply.py: a stopped libvirt domain (type qemu)
on its own copy of a planted image, with its own policy, inventory, vmguard state, log
and cache; every CLI call a process of its own (the module runs two VMs' tests at once).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import libvirt

from tests.guest.conftest import sha256
from tests.guest.images import run
from tests.support.guest_image import CACHE_ROOT
from tests.support.netns import Netns
from vmguard.checks.guest_fix import GuestChange
from vmguard.guest.cache import fingerprint
from vmguard.guest.offline import run_worker

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
        """The command in a process of its own (the dpkg and hostile guests' runs go on
        in a thread beside the rpm guest's: nothing process-wide is changed); in this
        VM's namespace, with the firewall configured, once `with_firewall` set one."""
        env = {**os.environ, **self.env, "VMGUARD_CACHE": str(self.work / cache), "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "vmguard", *argv]
        if self.ns is None:
            command += ["--inventory", str(self.work / "inv.yaml")]
        else:
            hooks = ["--hooks-dir", str(self.work / "hooks")] if argv[0] in ("plan", "apply") else []
            command = self.ns.argv(*command, *hooks, "--inventory", str(self.work / "inv-fw.yaml"))
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
