"""A guest's disk is opened with its declared format only (vmguard.guest.disks), never probed.

The guest owns its disk's bytes: a raw image whose boot block it wrote as a qcow2 header
naming a host file as backing would make any format prober read that host file. The
control shows the planted header works on a prober (`qemu-img info --backing-chain`
without -f reads the host file); vmguard's read-only overlay does not. The end-to-end
case (an apply on such a disk) is test_attack_independent_apply.py's `probe`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.require import require_tools
from vmguard.core.errors import GuestError
from vmguard.facts.vm import Disk, PowerState, VmFacts
from vmguard.guest import disks, inspect


@pytest.mark.parametrize("fmt", ["", "qcow3", "host_device", "file", "json"])
def test_a_missing_or_unknown_format_is_refused_not_probed(fmt):
    with pytest.raises(GuestError, match="never by probing") as err:
        disks.check_all([("/vm/a.img", "raw"), ("/vm/b.img", fmt), ("/vm/c.img", "")])
    assert "/vm/b.img" in str(err.value) and "/vm/c.img" in str(err.value)  # every disk named
    assert "/vm/a.img" not in str(err.value)
    disks.check_all([("/vm/a.img", "raw"), ("/vm/b.qcow2", "qcow2"), ("/vm/c.vdi", "vdi")])  # control


def test_the_audit_and_apply_refuse_before_opening_the_image(tmp_path):
    """inspect() (the audit's, and apply's first step) refuses without a worker or cache."""
    facts = VmFacts(
        name="vm", driver="libvirt", power_state=PowerState.OFF, disks=(Disk(str(tmp_path / "x")),)
    )
    with pytest.raises(GuestError, match="no format"):
        inspect(facts, cache=None)


def _planted(tmp_path: Path) -> tuple[Path, Path]:
    """A raw disk whose first KiB is a qcow2 header with a host file as backing."""
    bait = tmp_path / "bait"
    bait.write_bytes(b"host secret\n" * 100)
    header = tmp_path / "h.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-u", "-f", "qcow2", "-b", str(bait), "-F", "raw", str(header), "1M"],
        check=True,
    )
    disk = tmp_path / "disk.img"
    with disk.open("wb") as f:
        f.write(header.read_bytes()[:1024])
        f.truncate(1 << 20)
    os.utime(bait, (0, 0))
    return disk, bait


def test_the_read_only_overlay_states_the_format_and_never_reads_the_planted_backing(tmp_path):
    require_tools("qemu-img")
    disk, bait = _planted(tmp_path)
    probe = subprocess.run(
        ["qemu-img", "info", "-U", "--backing-chain", str(disk)], capture_output=True, text=True, check=False
    )
    assert f"backing file: {bait}" in probe.stdout  # control: a prober follows it to the host
    os.utime(bait, (0, 0))
    made = disks.overlay(str(disk), "raw", tmp_path / "overlay.qcow2")
    info = subprocess.run(
        ["qemu-img", "info", "-U", "-f", "qcow2", "--backing-chain", str(made)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "backing file format: raw" in info.stdout
    assert str(bait) not in info.stdout and os.stat(bait).st_atime == 0


def test_a_disk_that_is_not_its_declared_format_is_a_one_line_error(tmp_path):
    require_tools("qemu-img")
    plain = tmp_path / "plain.img"
    plain.write_bytes(b"\0" * 65536)  # raw, declared qcow2
    with pytest.raises(GuestError, match="qemu-img could not open it") as raised:
        disks.overlay(str(plain), "qcow2", tmp_path / "o.qcow2")
    assert "\n" not in str(raised.value) and str(plain) in str(raised.value)
