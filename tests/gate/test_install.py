"""`vmguard hook install|remove|status`: vmguard's own file only, never another hook."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.gate.test_settings import INVENTORY
from vmguard.cli import main


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    (tmp_path / "p.yaml").write_text("apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: p}\nspec: {}\n")
    (tmp_path / "inv.yaml").write_text(INVENTORY + "gate: {on_error: fail-open, timeout: 3s}\n")
    hooks = tmp_path / "hooks"
    (hooks / "qemu.d").mkdir(parents=True)
    (hooks / "qemu").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "qemu.d" / "other").write_text("#!/bin/sh\nexit 0\n")
    return tmp_path, hooks


def _hook(hooks, *args):
    return main(["hook", *args, "--hooks-dir", str(hooks)])


def test_install_status_remove_leave_other_hooks_alone(site, capsys):
    tmp, hooks = site
    others = {p: p.read_bytes() for p in (hooks / "qemu", hooks / "qemu.d" / "other")}
    assert _hook(hooks, "status") == 1
    assert _hook(hooks, "install", "--inventory", str(tmp / "inv.yaml")) == 0
    path = hooks / "qemu.d" / "vmguard"
    assert os.access(path, os.X_OK)
    assert _hook(hooks, "status") == 0
    assert "on_error fail-open, timeout 3s" in capsys.readouterr().out
    (tmp / "inv.yaml").write_text(INVENTORY + "gate: {on_error: fail-closed, timeout: 3s}\n")
    assert _hook(hooks, "status") == 1  # the inventory changed since: stale
    assert "stale: on_error: hook has fail-open, inventory says fail-closed" in capsys.readouterr().out
    assert _hook(hooks, "remove") == 0 and not path.exists()
    assert {p: p.read_bytes() for p in others} == others


@pytest.mark.parametrize("kind", ["foreign", "symlink"])
def test_a_file_that_is_not_ours_is_never_replaced_or_removed(site, capsys, kind):
    tmp, hooks = site
    path = hooks / "qemu.d" / "vmguard"
    if kind == "symlink":
        path.symlink_to(hooks / "qemu")  # installing through it would overwrite `qemu`
    else:
        path.write_text("#!/bin/sh\n# the admin's own gate\nexit 0\n")
    before = (hooks / "qemu").read_bytes()
    assert _hook(hooks, "install", "--inventory", str(tmp / "inv.yaml")) == 3
    assert _hook(hooks, "remove") == 3
    assert "is not vmguard's hook" in capsys.readouterr().err
    assert (hooks / "qemu").read_bytes() == before and (path.is_symlink() or path.exists())


def test_hook_skips_other_operations_without_running_vmguard(site):
    tmp, hooks = site
    assert _hook(hooks, "install", "--inventory", str(tmp / "inv.yaml")) == 0
    (tmp / "inv.yaml").write_text("broken: [\n")  # vmguard would fail if it ran
    path = str(hooks / "qemu.d" / "vmguard")
    for op in (("stopped", "end"), ("reconnect", "begin"), ("migrate", "begin")):
        assert subprocess.run([path, "vm", *op, "-"], input=b"", check=False).returncode == 0
    # control: prepare does run it, and fail-open lets it start with a message
    got = subprocess.run([path, "vm", "prepare", "begin", "-"], input=b"", capture_output=True, check=False)
    assert got.returncode == 0 and b"fail-open: the VM may start" in got.stderr


def test_status_says_when_the_server_does_not_answer(site, capsys):
    tmp, hooks = site
    sock = tmp / "run" / "gate.sock"
    assert _hook(hooks, "install", "--inventory", str(tmp / "inv.yaml"), "--server", str(sock)) == 0
    assert _hook(hooks, "status") == 1
    assert f"not answering: {sock}" in capsys.readouterr().out
    # and the hook itself fails as installed (fail-open here), at once
    path = str(hooks / "qemu.d" / "vmguard")
    got = subprocess.run(
        [path, "vm", "prepare", "begin", "-"], input=b"<domain/>", capture_output=True, check=False
    )
    assert got.returncode == 0 and b"fail-open: the VM may start" in got.stderr
