"""`vmguard hook install|remove|status`: vmguard's own file only, never another hook."""

from __future__ import annotations

import os
import socket
import subprocess
import threading

import pytest

from tests.gate.test_settings import INVENTORY
from tests.support.schemas import validate
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


def test_install_and_remove_print_their_json_documents(site, capsys):
    """--format json on the private hooks folder: install's settings are the file's own
    (the same object `hook status` shows), remove says whether there was one to remove."""
    tmp, hooks = site
    assert _hook(hooks, "install", "--inventory", str(tmp / "inv.yaml"), "--format", "json") == 0
    doc = validate("hook-install", capsys.readouterr().out)
    assert doc["path"] == str(hooks / "qemu.d" / "vmguard") and os.access(doc["path"], os.X_OK)
    assert (doc["settings"]["on_error"], doc["settings"]["timeout"], doc["exit_code"]) == (
        "fail-open",
        "3",
        0,
    )
    assert doc["settings"]["inventory"] == str(tmp / "inv.yaml") and doc["settings"]["server"] is None
    assert _hook(hooks, "status", "--format", "json") == 0
    assert validate("hook-status", capsys.readouterr().out)["settings"] == doc["settings"]
    assert _hook(hooks, "remove", "--format", "json") == 0
    assert validate("hook-remove", capsys.readouterr().out)["removed"] is True
    assert _hook(hooks, "remove", "--format", "json") == 0  # control: nothing left to remove
    assert validate("hook-remove", capsys.readouterr().out) == {
        "schema": "vmguard/hook-remove/v1",
        "path": doc["path"],
        "removed": False,
        "exit_code": 0,
    }
    assert (hooks / "qemu.d" / "other").exists()


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


def _dir(path, mode, uid=0):
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    os.chown(path, uid, uid)
    return path / "gate.sock"


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("world", "group/other-writable"),
        ("group", "group/other-writable"),
        ("nobody", "not root"),
        ("symlink", "not a directory"),
        ("parent", "not root"),
    ],
)
def test_install_refuses_a_socket_others_could_plant(site, capsys, case, why):
    tmp, hooks = site
    sock = {
        "world": lambda: _dir(tmp / "pub", 0o1777),
        "group": lambda: _dir(tmp / "grp", 0o770),
        "nobody": lambda: _dir(tmp / "nob", 0o700, uid=65534),
        "parent": lambda: _dir(_dir(tmp / "up", 0o755, uid=65534).parent / "run", 0o700),
    }.get(case, lambda: None)()
    if case == "symlink":
        (tmp / "real").mkdir(mode=0o700)
        (tmp / "link").symlink_to(tmp / "real")
        sock = tmp / "link" / "gate.sock"
    assert _hook(hooks, "install", "--inventory", str(tmp / "inv.yaml"), "--server", str(sock)) == 3
    assert why in capsys.readouterr().err
    assert not (hooks / "qemu.d" / "vmguard").exists()


def test_install_accepts_a_root_only_dir_below_sticky_tmp(site):
    """Control: /tmp (1777, sticky) above a root-only directory is fine."""
    tmp, hooks = site
    sock = _dir(tmp / "run", 0o700)
    assert _hook(hooks, "install", "--inventory", str(tmp / "inv.yaml"), "--server", str(sock)) == 0
    assert (
        _hook(hooks, "install", "--inventory", str(tmp / "inv.yaml"), "--server", str(tmp / "new" / "s")) == 0
    )


@pytest.fixture
def allowing_server(site):
    """A socket that answers every request "0 allowed" (what an impostor would say)."""
    tmp, _hooks = site
    sock = _dir(tmp / "srv", 0o700)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                while conn.recv(65536):  # the request, up to socat's half-close
                    pass
                conn.sendall(b"0 allowed\n")

    threading.Thread(target=serve, daemon=True).start()
    yield sock
    listener.close()


def test_hook_checks_the_socket_dir_before_each_connect(site, allowing_server):
    tmp, hooks = site
    (tmp / "inv.yaml").write_text(INVENTORY + "gate: {on_error: fail-closed, timeout: 3s}\n")
    assert (
        _hook(hooks, "install", "--inventory", str(tmp / "inv.yaml"), "--server", str(allowing_server)) == 0
    )
    path = str(hooks / "qemu.d" / "vmguard")

    def call() -> subprocess.CompletedProcess[bytes]:
        argv = [path, "vm", "prepare", "begin", "-"]
        return subprocess.run(argv, input=b"<domain/>", capture_output=True, check=False, timeout=30)

    assert call().returncode == 0  # control: the root-only directory's server is asked
    for mode, uid in ((0o777, 0), (0o1777, 0), (0o720, 0), (0o700, 65534)):
        allowing_server.parent.chmod(mode)
        os.chown(allowing_server.parent, uid, uid)
        got = call()
        assert got.returncode == 1 and b"fail-closed: refused" in got.stderr, (oct(mode), uid, got.stderr)
        assert b"socket directory" in got.stderr
