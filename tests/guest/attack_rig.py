"""The rig of the independent attack on `vmguard apply --guest` (issue #23), black-box.

A user's view only: a policy and an inventory file, a stopped libvirt domain (type
'qemu', no network) whose disk is a hostile guest image, the `vmguard` command line
with its own state folder, event log and cache. The guest images are copies of ONE
planted Debian-like root (tests/guest/images.py, no rpmbuild) changed per case and
turned into ext4 images with mkfs.ext4 -d (no mount, no appliance launch); what the
apply left on a disk is read back with debugfs (no mount, no appliance either).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.guest import images
from tests.support.appliance import tcg_env

WORKTREE = Path(__file__).resolve().parents[2]
# Images a started domain opens must be reachable by libvirt-qemu (not under a 0700 tmp).
RUN_ROOT = Path(os.environ.get("VMGUARD_TEST_CACHE", "/var/tmp/vmguard-test-cache")) / "attack-guest"

POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: attack}
spec:
  network: {mode: none}
  users: {interactive_login: [vmadmin1], root_login: false, password_authentication: false,
          nologin_shell: /sbin/nologin}
  software: {forbid: [firefox-esr, telnetd], allowed_services: [ssh, sshd, cron, rsyslog, xinetd]}
"""

DISK_XML = """\
    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{path}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def base_root(where: Path) -> Path:
    """The one planted root every case copies: Debian-like, plus SysV links and xinetd."""
    root = images.dpkg_root(where, planted=True)
    images.write(root, "/etc/init.d/telnetd", "#!/bin/sh\n# the forbidden daemon\n", 0o755)
    images.write(root, "/etc/init.d/ssh", "#!/bin/sh\n", 0o755)
    for level in "2345":
        images.link(root, f"/etc/rc{level}.d/S20ssh", "../init.d/ssh")
    return root


def variant(base: Path, dest: Path, mutate=None, size_mib: int = 64) -> Path:
    """A raw ext4 image of a copy of `base` (cp -a: owners, links, special files kept)."""
    root = dest.with_suffix(".root")
    subprocess.run(["cp", "-a", str(base), str(root)], check=True)
    if mutate is not None:
        mutate(root)
    images.ext4_image(root, dest, size_mib=size_mib)
    shutil.rmtree(root)
    dest.chmod(0o644)
    return dest


def debugfs(image: Path, request: str) -> bytes:
    """debugfs's answer on an ext4 image (read-only open, no mount)."""
    proc = subprocess.run(["debugfs", "-R", request, str(image)], capture_output=True, check=False)
    return proc.stdout


def guest_file(image: Path, path: str) -> bytes:
    return debugfs(image, f"cat {path}")


def guest_listing(image: Path, folder: str) -> list[str]:
    """Names in a guest folder (debugfs ls -p: /inode/mode/uid/gid/name/size/)."""
    names = []
    for line in debugfs(image, f"ls -p {folder}").decode(errors="replace").splitlines():
        parts = line.split("/")
        if len(parts) >= 7 and parts[5] not in (".", ".."):
            names.append(parts[5])
    return names


def guest_kind(image: Path, path: str) -> str:
    """'regular', 'symlink', 'directory', 'FIFO', ... or '' when absent."""
    text = debugfs(image, f"stat {path}").decode(errors="replace")
    marker = "Type: "
    at = text.find(marker)
    return text[at + len(marker) :].split()[0] if at >= 0 else ""


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Lab:
    """One case's files: policy, inventory, state folder, log, cache, and its domain."""

    work: Path
    vm: str
    image: Path
    fmt: str = "raw"
    env: dict = field(default_factory=dict)

    def write_files(self) -> None:
        (self.work / "attack.yaml").write_text(POLICY)
        (self.work / "inv.yaml").write_text(
            "apiVersion: vmguard/v1\nkind: Inventory\n"
            "connections:\n  - {name: kvm, driver: libvirt, uri: 'qemu:///system'}\n"
            f"vms:\n  - {{name: {self.vm}, connection: kvm, policy: attack.yaml}}\n"
        )
        for sub in ("state", "cache"):
            (self.work / sub).mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            **tcg_env(),  # the appliance with its kernel uncompressed (faster under TCG)
            "PYTHONPATH": str(WORKTREE),
            "VMGUARD_STATE_DIR": str(self.work / "state"),
            "VMGUARD_LOG": str(self.work / "events.jsonl"),
            "VMGUARD_CACHE": str(self.work / "cache"),
            "NO_COLOR": "1",
        }

    def disk_xml(self) -> str:
        return DISK_XML.format(fmt=self.fmt, path=self.image)

    def cli(self, *args: str, timeout: float = 600, wrap: list[str] | None = None) -> Result:
        argv = (*(wrap or ()), sys.executable, "-m", "vmguard", *args)
        start = time.monotonic()
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=self.env, timeout=timeout, check=False, cwd=self.work
        )
        return Result(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)

    def popen(self, *args: str) -> subprocess.Popen:
        argv = (sys.executable, "-m", "vmguard", *args)
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env, cwd=self.work
        )

    def apply(self, *extra: str) -> Result:
        return self.cli("apply", "-i", str(self.work / "inv.yaml"), "--vm", self.vm, "--guest", *extra)

    def plan(self, *extra: str) -> Result:
        return self.cli("plan", "-i", str(self.work / "inv.yaml"), "--vm", self.vm, "--guest", *extra)

    def rollback(self, *extra: str) -> Result:
        return self.cli("rollback", "-i", str(self.work / "inv.yaml"), self.vm, *extra)

    def audit(self, *extra: str) -> Result:
        out = self.work / f"audit-{time.monotonic_ns()}"
        return self.cli(
            "audit", "-i", str(self.work / "inv.yaml"), "--out", str(out), "--format", "json", *extra
        )
