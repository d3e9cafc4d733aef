"""The shipped example policies pass, and the CLI's commands, formats and exit codes."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vmguard.cli import AREAS, COMMANDS, main
from vmguard.policy.loader import check_policy, load_policy

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "policy").glob("*.yaml"))
POLICIES = [p for p in EXAMPLES if "inventory" not in p.name]


@pytest.mark.parametrize("path", POLICIES, ids=[p.stem for p in POLICIES])
def test_example_policy_is_clean(path):
    result = check_policy(path)
    assert result.policy is not None and result.problems == ()


def test_examples_say_what_the_lab_needs():
    batch, dev, build = (load_policy(ROOT / "policy" / f) for f in ("batch.yaml", "dev.yaml", "build.yaml"))
    assert {e.name for e in batch.network.egress} == {"calib-db", "cvs"}
    assert batch.users.interactive_login == ("vmadmin1",)
    assert {s.access.value for s in batch.shared_folders.allow if s.purpose.value == "input"} == {"read-only"}
    assert dev.devices.remote_display.value == "localhost" and dev.devices.clipboard.value == "disabled"
    assert "adev" in dev.users.interactive_login
    assert {p.first for e in build.network.egress for p in e.ports} == {2401, 22, 3306}
    for policy in (batch, dev, build):
        assert "/home" in policy.shared_folders.forbid_host_paths
        assert "firefox" in policy.software.forbid


def test_check_all_examples_exit_0(capsys):
    assert main(["policy", "check", *map(str, POLICIES)]) == 0
    assert capsys.readouterr().out.count(": ok (policy") == len(POLICIES)


def test_check_json_format(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: b}\nspec: {devices: {usb: yes}}\n")
    assert main(["policy", "check", "--format", "json", str(POLICIES[0]), str(bad)]) == 2
    files = json.loads(capsys.readouterr().out)["files"]
    assert [f["ok"] for f in files] == [True, False]
    assert files[1]["problems"][0] | {"message": ""} == {
        "file": str(bad),
        "line": 4,
        "col": 23,
        "where": "spec.devices.usb",
        "message": "",
        "severity": "error",
    }


def test_strict_turns_warnings_into_failures(tmp_path, capsys):
    warn = tmp_path / "w.yaml"
    warn.write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: w}\nspec: {quarantine: {allow_types: []}}\n"
    )
    assert main(["policy", "check", str(warn)]) == 0
    assert "1 warning(s)" in capsys.readouterr().out
    assert main(["policy", "check", "--strict", str(warn)]) == 2


def test_show_resolved_round_trips(tmp_path, capsys):
    for path in POLICIES:
        assert main(["policy", "show", "--resolved", str(path)]) == 0
        dumped = tmp_path / path.name
        dumped.write_text(capsys.readouterr().out)
        again = load_policy(dumped)
        original = load_policy(path)
        assert (
            again.network,
            again.shared_folders,
            again.devices,
            again.users,
            again.software,
            again.quarantine,
        ) == (
            original.network,
            original.shared_folders,
            original.devices,
            original.users,
            original.software,
            original.quarantine,
        )


def test_show_json(capsys):
    assert main(["policy", "show", "--format", "json", str(ROOT / "policy/batch.yaml")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["spec"]["devices"]["clipboard"] == "disabled"
    assert "/home" in data["spec"]["shared_folders"]["forbid_host_paths"]


def test_inventory_check(capsys):
    assert main(["inventory", "check", "--offline", str(ROOT / "policy/inventory.example.yaml")]) == 0
    out = capsys.readouterr().out
    assert "5 VM entries" in out and "VM names not checked against the hypervisors (--offline)" in out


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["policy", "frobnicate"])
    assert exit_.value.code == 2


def test_real_process_no_traceback_and_exit_codes(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe")
    run = subprocess.run(
        [sys.executable, "-m", "vmguard", "policy", "check", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr == f"{bad}:1:1: not UTF-8 text (save the file as UTF-8)\n"
    version = subprocess.run(
        [sys.executable, "-m", "vmguard", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("vmguard ")
    helptext = subprocess.run(
        [sys.executable, "-m", "vmguard", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "2  bad input" in helptext and "3  could not run" in helptext


def test_closed_pipe_is_not_a_traceback():
    cmd = [sys.executable, "-m", "vmguard", "rules", "list"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        proc.stdout.close()  # before the child writes: its first write meets a closed pipe
        err = proc.stderr.read().decode()
    assert "Traceback" not in err and proc.returncode in (0, 141)


def test_each_command_loads_only_its_own_area():
    """COMMANDS maps every command to the area that registers it, and nothing else."""
    for area in AREAS:
        parser = argparse.ArgumentParser()
        importlib.import_module(f"vmguard.cli.{area}").register(parser.add_subparsers())
        commands = set(parser._subparsers._group_actions[0].choices)
        assert commands == {c for c, a in COMMANDS.items() if a == area}, area
    code = (
        "import sys; from vmguard.cli import build_parser; build_parser(['vet', 'x']); "
        "print(' '.join(m for m in sys.modules if m.startswith('vmguard.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "vmguard.cli.vet" in loaded.split()
    assert not {"vmguard.drivers", "vmguard.audit", "vmguard.firewall", "vmguard.cli.vm"} & set(
        loaded.split()
    )
