"""No command exits 0 while something it was asked to cover went unseen (issue 17).

Every command that reads VMs runs against inventories with a VM the host does not have,
a connection that cannot be reached, a VM whose disk cannot be read, and all three at
once, on the real qemu:///system daemon; each must exit non-zero and say why.
The firewall commands never ask a hypervisor (they compile the inventory); a firewall
that cannot be read is the audit's host section, tested last.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vmguard.cli import build_parser, main

pytestmark = [pytest.mark.root]
REPO = Path(__file__).parents[2]
DISK = """<disk type='file' device='disk'><driver name='qemu' type='raw'/>
  <source file='{path}'/><target dev='vda' bus='virtio'/></disk>
"""
MISSING = f"vmg-test-gone-{os.getpid()}"
# What each defect must make the command say.
REASONS = {
    "missing": "is not defined on connection",
    "unreachable": "cannot reach libvirt",
    "disk": "guest not inspected",
}


def _commands(vm: str, out: Path) -> dict[str, list[str]]:
    return {
        "inventory check": ["inventory", "check"],
        "vms": ["vms"],
        "plan": ["plan"],
        "plan json": ["plan", "--format", "json"],
        "plan --vm": ["plan", "--vm", vm],
        "apply --dry-run": ["apply", "--dry-run"],
        "apply": ["apply"],
        "apply --next-boot": ["apply", "--next-boot"],
        "apply --power-off-ok": ["apply", "--power-off-ok"],
        "apply --vm": ["apply", "--vm", vm],
        "rollback": ["rollback", vm],
        "audit --guest off": ["audit", "--out", str(out), "--guest", "off", "--fail-on", "critical"],
        "audit": ["audit", "--out", str(out), "--fail-on", "critical"],
        "watch": ["watch", "--duration", "1", "--firewall-every", "60"],
    }


# Commands that take an inventory but are not walked here, and why (a command added
# later that takes one fails test_the_walk_covers_every_command_that_takes_an_inventory).
NOT_WALKED = {
    f"firewall {action}": "compiles the inventory's addressed VMs, lists none on a hypervisor: "
    "a libvirt host_only network it cannot ask for, or a VM port it cannot learn, is exit 3 "
    "(the tests below)"
    for action in ("plan", "apply", "show", "audit", "remove")
} | {
    "hook install": "writes the hook file for the inventory and asks no hypervisor",
    "hook run": "called by libvirt with the domain XML on stdin, never asks libvirt; a broken "
    "inventory or policy fails as gate.on_error says (tests/gate/test_hook_libvirt.py)",
}


# Commands that read the guest's disks: the only ones an unreadable disk concerns.
DISK_READERS = ("audit",)


@pytest.fixture
def lab(tmp_path: Path, libvirt_uri: str, tcg_domain, monkeypatch):
    """Inventories, one per defect and one with all of them, next to copies of the policies."""
    for policy in (REPO / "policy").glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VMGUARD_CACHE", str(tmp_path / "cache"))
    unreadable = tcg_domain.define(extra_devices=DISK.format(path=tmp_path / "gone.img")).name
    gone = f"qemu+unix:///system?socket={tmp_path}/none.sock"
    entries = {
        "missing": ("kvm", MISSING),
        "unreachable": ("dead", "web-01"),
        "disk": ("kvm", unreadable),
    }
    head = (
        "apiVersion: vmguard/v1\nkind: Inventory\nconnections:\n"
        f"  - {{name: kvm, driver: libvirt, uri: '{libvirt_uri}'}}\n"
        f"  - {{name: dead, driver: libvirt, uri: '{gone}'}}\nvms:\n"
    )

    def inventory(name: str, defects: list[str]) -> tuple[Path, str]:
        path = tmp_path / f"{name}.yaml"
        vms = "".join(
            f"  - {{name: {entries[d][1]}, connection: {entries[d][0]}, policy: batch.yaml}}\n"
            for d in defects
        )
        used = {entries[d][0] for d in defects}
        text = head + vms
        if "dead" not in used:  # an unused connection is never opened: keep it out anyway
            text = text.replace(f"  - {{name: dead, driver: libvirt, uri: '{gone}'}}\n", "")
        path.write_text(text)
        return path, entries[defects[0]][1]

    return inventory


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path), parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


def test_the_walk_covers_every_command_that_takes_an_inventory(tmp_path) -> None:
    leaves = dict(_leaves(build_parser([])))
    takes = {
        name
        for name, parser in leaves.items()
        if name == "inventory check" or any("--inventory" in a.option_strings for a in parser._actions)
    }
    walked = set()
    for argv in _commands("vm", tmp_path).values():
        walked |= {" ".join(argv[:n]) for n in (1, 2)} & set(leaves)
    assert "plan" in walked and "inventory check" in walked  # control: the walk is seen
    assert takes - walked - set(NOT_WALKED) == set(), "a command takes an inventory: walk it"
    assert set(NOT_WALKED) <= takes  # no stale exemption


@pytest.mark.parametrize(
    "defects",
    [["missing"], ["unreachable"], ["disk"], ["missing", "unreachable", "disk"]],
    ids=["missing-vm", "unreachable-connection", "unreadable-disk", "all-three"],
)
def test_no_command_exits_0(lab, defects, tmp_path, capsys) -> None:
    inventory, vm = lab("-".join(defects), defects)
    results = {}
    for label, argv in _commands(vm, tmp_path / "reports").items():
        if defects == ["disk"] and not label.startswith(DISK_READERS):
            continue  # plan/apply/vms never read disks: the disk does not concern them
        where = [str(inventory)] if argv[0] == "inventory" else ["--inventory", str(inventory)]
        code = main([*argv, *where])
        out = capsys.readouterr()
        said = out.out + out.err
        reasons = [REASONS[d] for d in defects if d != "disk" or label.startswith(DISK_READERS)]
        if "--vm" in label or label == "rollback":  # one VM: only its own defect concerns it
            reasons = reasons[:1]
        if label == "audit --guest off":
            reasons = [r for r in reasons if r != REASONS["disk"]]
        results[label] = (code, [r for r in reasons if r not in said])
    if defects == ["disk"]:
        results.pop("audit --guest off")  # guest inspection off: the disk is not asked for
    zero = {label: r for label, r in results.items() if r[0] == 0}
    unexplained = {label: r for label, r in results.items() if r[1]}
    assert not zero and not unexplained, f"exit 0: {zero}; reason not said: {unexplained}"
    assert {code for code, _ in results.values()} <= {2, 3}, results


def test_control_the_same_commands_exit_0_on_a_sound_inventory(
    tmp_path, libvirt_uri, tcg_domain, monkeypatch, capsys
) -> None:
    """The inventory above minus its defects: the non-zero exits are the defects'."""
    for policy in (REPO / "policy").glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "state"))
    vm = tcg_domain.define().name
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nconnections:\n"
        f"  - {{name: kvm, driver: libvirt, uri: '{libvirt_uri}'}}\n"
        f"vms:\n  - {{name: {vm}, connection: kvm, policy: batch.yaml}}\n"
    )
    assert main(["apply", "--inventory", str(inventory)]) == 0
    for argv in (
        ["inventory", "check", str(inventory)],
        ["plan", "--inventory", str(inventory)],
        [
            "audit",
            "--inventory",
            str(inventory),
            "--out",
            str(tmp_path / "r"),
            "--guest",
            "off",
            "--fail-on",
            "critical",
        ],
    ):
        assert main(argv) in (0, 4), (argv, capsys.readouterr())


def test_an_unreadable_host_firewall_makes_the_audit_incomplete(tmp_path) -> None:
    """The inventory configures a firewall; as a user who cannot read it, the audit says so
    and exits 3 (libvirt's test driver stands in for the VMs)."""
    folder = Path(tempfile.mkdtemp(prefix="vmg-fw-"))
    try:
        folder.chmod(0o777)
        for policy in (REPO / "policy").glob("*.yaml"):
            shutil.copy(policy, folder)
        inventory = folder / "inv.yaml"
        inventory.write_text(
            "apiVersion: vmguard/v1\nkind: Inventory\n"
            "connections: [{name: t, driver: libvirt, uri: 'test:///default'}]\n"
            "firewall: {backend: nftables, vm_interfaces: [virbr-vmg]}\n"
            "vms: [{name: test, connection: t, policy: batch.yaml}]\n"
        )
        for path in folder.iterdir():
            path.chmod(0o644)
        nobody = pwd.getpwnam("nobody")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "vmguard",
                "audit",
                "--inventory",
                str(inventory),
                "--out",
                str(folder / "reports"),
                "--fail-on",
                "critical",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            user=nobody.pw_uid,
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(folder),
                "PYTHONPATH": str(REPO),
                "VMGUARD_LOG": str(folder / "events.jsonl"),
                "VMGUARD_STATE_DIR": str(folder / "s"),
            },
        )
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "firewall not audited: reading the host firewall needs root" in proc.stderr
    finally:
        shutil.rmtree(folder)


def test_firewall_commands_exit_3_when_the_host_only_network_cannot_be_asked(tmp_path) -> None:
    """The firewall's interfaces come from a libvirt network on an unreachable connection:
    every firewall command says so and exits 3 (run in a namespace of the test's own)."""
    from tests.support.netns import netns

    for policy in (REPO / "policy").glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nconnections:\n"
        f"  - {{name: dead, driver: libvirt, uri: 'qemu+unix:///system?socket={tmp_path}/none.sock',"
        " host_only: {network: lab}}\n"
        "vms: [{name: web-01, connection: dead, policy: batch.yaml, address: 10.77.0.11,"
        " mac: '52:54:00:77:00:11'}]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "VMGUARD_LOG": str(tmp_path / "events.jsonl")}
    with netns("fwwalk") as ns:
        for action in (a for a in NOT_WALKED if a.startswith("firewall ")):  # never `hook install`
            argv = ns.argv(sys.executable, "-m", "vmguard", *action.split(), "--inventory", str(inventory))
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
            assert proc.returncode == 3 and "cannot reach libvirt" in proc.stderr, (action, proc)


@pytest.mark.parametrize("connection", ["unreachable", "missing-vm"])
def test_firewall_says_which_vm_port_it_could_not_learn(tmp_path, libvirt_uri, connection) -> None:
    """The VM interfaces are named, so only the VM's bridge port needs its hypervisor: a VM on
    an unreachable connection, or one its connection lacks, keeps the strict default (its
    frames dropped) and plan/apply/audit say so and exit 3, after applying everything else."""
    from tests.support.netns import netns

    for policy in (REPO / "policy").glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    uri = f"qemu+unix:///system?socket={tmp_path}/none.sock" if connection == "unreachable" else libvirt_uri
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\n"
        f"connections: [{{name: kvm, driver: libvirt, uri: '{uri}'}}]\n"
        "firewall: {backend: nftables, vm_interfaces: [vmgw0], vm_networks: [10.77.0.0/24]}\n"
        "vms: [{name: vmg-no-such-vm, connection: kvm, policy: batch.yaml, address: 10.77.0.11,"
        " mac: '52:54:00:77:00:11'}]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "VMGUARD_LOG": str(tmp_path / "events.jsonl")}
    with netns("fwport") as ns:
        for action in ("plan", "apply", "audit"):
            argv = ns.argv(sys.executable, "-m", "vmguard", "firewall", action, "--inventory", str(inventory))
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
            assert proc.returncode == 3, (action, proc)
            assert "vmg-no-such-vm" in proc.stderr and "bridge port is not known" in proc.stderr, (
                action,
                proc,
            )
        assert "vmguard" in ns.run("nft", "list", "tables").stdout, "the rest was still applied"
