"""The Ansible role's check mode, run for real (`ansible-playbook --check`, connection
local): "changed" only for a host where vmguard would change something (plan exit 1),
"ok" where nothing differs (0) or only manual items are left (4).

Three local "hosts", one per plan exit code: libvirt's test driver with the batch policy
(a NAT NIC and USB to change: 1), the same domain under a policy it already meets (its
network named the host-only one, USB allowed: 0), and a read-only .vbox file (everything
is for the admin: 4). The role's own apply.yml runs (install and push need a venv and
SSH: tests/fleet/test_ansible.py covers them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fleet.lab import REPO

pytest.importorskip("libvirt")
ANSIBLE = Path(sys.executable).parent / "ansible-playbook"
VBOX = REPO / "tests/fixtures/vbox/von__pyVBox__TestVM.vbox"
USB_OK = """apiVersion: vmguard/v1
kind: Policy
metadata: {name: usb-ok}
extends: batch.yaml
spec:
  devices: {usb: enabled}
"""
LIBVIRT = {"name": "t", "driver": "libvirt", "uri": "test:///default"}
# host -> (connection, VM, policy, the plan's exit code)
HOSTS = {
    "plan-changes": ({**LIBVIRT, "host_only": {"bridge": "virbr-hostonly"}}, "test", "batch.yaml", 1),
    "plan-clean": ({**LIBVIRT, "host_only": {"network": "default"}}, "test", "usb-ok.yaml", 0),
    "plan-manual": ({"name": "f", "driver": "vbox-file", "path": str(VBOX)}, "TestVM", "batch.yaml", 4),
}
PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.include_role: {name: vmguard, tasks_from: apply.yml}
"""


def _site(root: Path) -> Path:
    """The policies, one vmguard inventory per host, the Ansible inventory."""
    for policy in (REPO / "policy").glob("*.yaml"):
        shutil.copy(policy, root)
    (root / "usb-ok.yaml").write_text(USB_OK)
    hosts = {}
    for host, (conn, vm, policy, _rc) in HOSTS.items():
        inv = {"apiVersion": "vmguard/v1", "kind": "Inventory", "connections": [conn]}
        inv["vms"] = [{"name": vm, "connection": conn["name"], "policy": policy}]
        (root / f"{host}.yaml").write_text(yaml.safe_dump(inv))
        hosts[host] = {
            "vmguard_inventory_path": str(root / f"{host}.yaml"),
            "vmguard_system_root": str(root / host),
        }
    common = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "vmguard_bin": str(Path(sys.executable).parent / "vmguard"),
    }
    path = root / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": common}}))
    return path


def _plan_rc(root: Path, host: str) -> int:
    """The oracle: `vmguard plan` run directly on the host's inventory."""
    argv = [sys.executable, "-m", "vmguard", "plan", "--inventory", str(root / f"{host}.yaml")]
    return subprocess.run(argv, capture_output=True, timeout=120, check=False, env=_env(root)).returncode


def _env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(root),
        "PYTHONPATH": str(REPO),  # this tree's vmguard, also for the role's vmguard_bin
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(root / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(root / "ansible-remote"),
        "ANSIBLE_ROLES_PATH": str(REPO / "ansible/roles"),
        "VMGUARD_LOG": str(root / "events.jsonl"),
    }


def _recap(stdout: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP: host -> {ok, changed, failed, ...}."""
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", stdout, re.M):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return out


@pytest.mark.skipif(not ANSIBLE.exists(), reason="ansible-core (test extra) not installed")
def test_check_mode_reports_changed_only_when_vmguard_would_change_something(tmp_path) -> None:
    hosts = _site(tmp_path)
    assert {h: _plan_rc(tmp_path, h) for h in HOSTS} == {h: v[3] for h, v in HOSTS.items()}
    argv = [str(ANSIBLE), "-i", str(hosts), "--check", str(_playbook(tmp_path))]
    proc = subprocess.run(argv, env=_env(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    recap = _recap(proc.stdout)
    assert {h: (r["changed"], r["failed"]) for h, r in recap.items()} == {
        "plan-changes": (1, 0),  # apply would change something
        "plan-clean": (0, 0),
        "plan-manual": (0, 0),  # manual items only: shown, not "changed"
    }, proc.stdout[-4000:]
    shown = proc.stdout.split("TASK [vmguard : Show the plan]")[1]
    assert "manual: nic 0: nat -> host-only" in shown and "nothing to change" in shown
    assert not any((tmp_path / h).exists() for h in HOSTS)  # check mode applied nothing


def _playbook(root: Path) -> Path:
    path = root / "check.yml"
    path.write_text(PLAYBOOK)
    return path
