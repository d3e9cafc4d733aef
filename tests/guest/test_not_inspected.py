"""A guest or disk vmguard cannot read is never silent: it is named with its reason, the
libguestfs text and a hint for known causes, and the audit ends incomplete (exit 3).

Real parts: libvirtd (qemu:///system), a directory storage pool created and removed
here, libguestfs launching its appliance (with a qemu that fails the way an unusable
/dev/kvm does), and a virtualenv without system site packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.guest.test_audit_pipeline import GUEST_POLICY, INVENTORY
from tests.support.require import require
from vmguard.cli import main
from vmguard.core.errors import GuestError
from vmguard.drivers.libvirt.driver import LibvirtDriver
from vmguard.guest import inspect, uninspectable
from vmguard.guest.offline import inspect_disks

pytestmark = [pytest.mark.root]
REPO = Path(__file__).parents[2]
NETWORK_DISK = """<disk type='network' device='disk'>
  <driver name='qemu' type='raw'/>
  <source protocol='nbd' name='export0'><host name='127.0.0.1' port='10809'/></source>
  <target dev='vdb' bus='virtio'/>
</disk>
"""
VOLUME_DISK = """<disk type='volume' device='disk'>
  <source pool='{pool}' volume='{volume}'/>
  <target dev='{dev}' bus='virtio'/>
</disk>
"""


@pytest.fixture
def dir_pool(libvirt_conn):
    """A transient directory storage pool in a folder libvirt's qemu user can enter."""
    folder = Path(tempfile.mkdtemp(prefix="vmg-pool-"))
    folder.chmod(0o755)
    name = f"vmg-test-pool-{os.getpid()}"
    pool = libvirt_conn.storagePoolCreateXML(
        f"<pool type='dir'><name>{name}</name><target><path>{folder}</path></target></pool>", 0
    )
    yield pool, folder
    for vol in pool.listAllVolumes():
        vol.delete(0)
    pool.destroy()  # transient: destroying removes it
    shutil.rmtree(folder, ignore_errors=True)


def _facts(name: str):
    driver = LibvirtDriver("qemu:///system")
    try:
        return driver.read_facts(name)
    finally:
        driver.close()


def _audit(tmp_path: Path, name: str, *extra: str) -> tuple[int, dict]:
    (tmp_path / "policy.yaml").write_text(GUEST_POLICY.format(file_scan=""))
    (tmp_path / "inv.yaml").write_text(INVENTORY.format(name=name))
    out = tmp_path / "reports"
    code = main(
        [
            "audit",
            "-i",
            str(tmp_path / "inv.yaml"),
            "--out",
            str(out),
            "--format",
            "json,md",
            "--guest",
            "offline",
            *extra,
        ]
    )
    return code, json.loads((out / "latest/report.json").read_text())


def test_pool_volume_is_resolved_to_its_path_through_libvirt(tcg_domain, dir_pool):
    pool, folder = dir_pool
    pool.createXML(
        "<volume><name>data.qcow2</name><capacity unit='MiB'>1</capacity>"
        "<target><format type='qcow2'/></target></volume>",
        0,
    )
    xml = VOLUME_DISK.format(pool=pool.name(), volume="data.qcow2", dev="vdb")
    domain = tcg_domain.define(extra_devices=xml)
    [disk] = _facts(domain.name).disks
    assert (disk.path, disk.format, disk.problem) == (str(folder / "data.qcow2"), "qcow2", "")
    assert uninspectable(_facts(domain.name)) == []


def test_network_disk_and_a_volume_of_no_pool_are_not_inspected_and_say_why(
    tcg_domain, tmp_path, monkeypatch
):
    xml = NETWORK_DISK + VOLUME_DISK.format(pool="vmg-no-such-pool", volume="gone", dev="vdc")
    domain = tcg_domain.define(extra_devices=xml)
    facts = _facts(domain.name)
    assert [d.path for d in facts.disks] == ["", ""]
    assert inspect(facts) is None  # nothing it could open: no appliance was started
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "log.jsonl"))
    code, report = _audit(tmp_path, domain.name, "--fail-on", "critical")
    assert code == 3
    [vm] = [v for v in report["vms"] if v["name"] == domain.name]
    assert len(vm["incomplete"]) == 2 and vm["findings"]  # host-side checks still ran
    network, volume = vm["incomplete"]
    assert "network disk (nbd export0)" in network and "not inspected" in network
    assert "pool volume vmg-no-such-pool/gone not found" in volume
    assert report["summary"]["exit_code"] == 3
    assert sum(domain.name in u for u in report["summary"]["unreachable"]) == 2
    assert "Not seen" in (tmp_path / "reports/latest/report.md").read_text()


def test_control_a_vm_without_disks_audits_complete(tcg_domain, tmp_path, monkeypatch):
    """The same audit of a diskless VM is not incomplete: the exit 3 above is the disks'."""
    domain = tcg_domain.define()
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "log.jsonl"))
    code, report = _audit(tmp_path, domain.name, "--fail-on", "critical")
    assert code != 3 and report["summary"]["unreachable"] == []


FAKE_QEMU = """#!/bin/sh
# qemu as it fails on a host whose /dev/kvm opens but cannot run guests; probes pass
case " $* " in *" -kernel "*) echo "qemu-system-x86_64: failed to initialize kvm: Operation not permitted" >&2; exit 1;; esac
exec qemu-system-x86_64 "$@"
"""


@pytest.fixture
def appliance_env(monkeypatch, tmp_path):
    """libguestfs's direct backend with KVM allowed (as vmguard leaves it for users)."""
    require(shutil.which("qemu-system-x86_64") is not None, "qemu-system-x86_64 missing")
    require(os.path.exists("/dev/kvm"), "no /dev/kvm: the hint is only for hosts that have one")
    try:
        import guestfs  # noqa: F401
    except ImportError:
        require(False, "python3-guestfs not installed (./dev setup)")
    monkeypatch.setenv("LIBGUESTFS_BACKEND", "direct")
    monkeypatch.delenv("LIBGUESTFS_BACKEND_SETTINGS", raising=False)
    image = tmp_path / "blank.img"
    image.write_bytes(b"\0" * (1 << 20))
    return image


def test_appliance_launch_failure_reaches_the_admin_with_the_force_tcg_hint(
    appliance_env, tmp_path, monkeypatch
):
    fake = tmp_path / "qemu"
    fake.write_text(FAKE_QEMU)
    fake.chmod(0o755)
    monkeypatch.setenv("LIBGUESTFS_HV", str(fake))
    with pytest.raises(GuestError) as raised:
        inspect_disks([(str(appliance_env), "raw")], timeout=120)
    text = str(raised.value)
    assert "guestfs_launch failed" in text and "failed to initialize kvm" in text, text
    assert "LIBGUESTFS_BACKEND_SETTINGS=force_tcg" in text and "\n" not in text
    # Control: with TCG forced, the same failure is told without the hint.
    monkeypatch.setenv("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
    with pytest.raises(GuestError) as again:
        inspect_disks([(str(appliance_env), "raw")], timeout=120)
    assert "failed to initialize kvm" in str(again.value) and "force_tcg" not in str(again.value)


def test_an_appliance_that_hangs_times_out_with_the_hint(appliance_env, tmp_path, monkeypatch):
    """QEMU with a /dev/kvm that cannot run guests may also just hang (see DESIGN.md)."""
    fake = tmp_path / "qemu"
    fake.write_text(FAKE_QEMU.replace('echo "qemu-system-x86_64: failed', 'exec sleep 600; echo "'))
    fake.chmod(0o755)
    monkeypatch.setenv("LIBGUESTFS_HV", str(fake))
    with pytest.raises(GuestError, match="timed out after 3 s; hint: .*force_tcg"):
        inspect_disks([(str(appliance_env), "raw")], timeout=3)


def test_venv_without_system_site_packages_is_told_how_to_fix_it(tmp_path, appliance_env):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)

    def worker(python: str, disk: Path) -> dict:
        request = json.dumps({"disks": [[str(disk), "raw"]], "scan_files": False})
        proc = subprocess.run(
            [python, "-m", "vmguard.guest.worker"],
            input=request,
            text=True,
            capture_output=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        return json.loads(proc.stdout)

    error = worker(str(venv / "bin/python"), appliance_env)["error"]
    assert "not importable" in error and "--system-site-packages" in error, error
    # Control: the system Python imports the module and gets as far as the disk (one that
    # does not exist, so no appliance starts).
    error = worker("/usr/bin/python3", tmp_path / "absent.img")["error"]
    assert "not importable" not in error and "absent.img" in error, error
