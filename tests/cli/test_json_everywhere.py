"""Every command that prints results has `--format json`, and what it prints validates
against the versioned JSON Schema shipped in the package (vmguard/cli/schema/).

The commands run for real: libvirt's in-process test:///default driver for vms/plan/apply,
a fresh network namespace for the firewall (nothing is loaded there: plan and audit see
it, change nothing), a real quarantine for vet, a real batch state directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from tests.firewall.conftest import write_inventory
from tests.support.netns import netns
from tests.support.require import require_root, require_tools
from tests.support.schemas import schema, validate
from vmguard.batch.job import BatchJob
from vmguard.batch.verdict import JobOutcome, JobVerdict, Rejection, save_record
from vmguard.cli import build_parser, main
from vmguard.cli.output import schema_id
from vmguard.core import eventlog as log

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policy"
# command words -> the schema kind its JSON names; the test below fails when a command
# gains --format json and is not listed (and so not validated) here.
COMMANDS = {
    ("vms",): "vms",
    ("plan",): "plan",
    ("apply",): "apply",
    ("rollback",): "rollback",
    ("firewall", "plan"): "firewall-plan",
    ("firewall", "apply"): "firewall-apply",
    ("firewall", "show"): "firewall-show",
    ("firewall", "audit"): "firewall-audit",
    ("firewall", "remove"): "firewall-remove",
    ("vet",): "vet",
    ("rules", "list"): "rules",
    ("rules", "show"): "rules",
    ("log", "verify"): "log-verify",
    ("policy", "check"): "policy-check",
    ("inventory", "check"): "inventory-check",
    ("batch", "pending"): "batch-pending",
    ("batch", "revet"): "batch-verdict",
    ("watch",): "watch-event",  # JSON Lines: each line validated
    ("demo",): "demo",
    ("system", "install"): "system-install",
    ("hook", "status"): "hook-status",
    ("batch", "vm"): "batch-vm",
    # validated on real output in their area's tests (a clamd, a batch site, a hooks folder)
    ("scanners", "setup"): "scanners-setup",  # tests/quarantine/scanners/test_setup.py
    ("batch", "install-hooks"): "batch-install-hooks",  # tests/batch/test_hook.py
    ("hook", "install"): "hook-install",  # tests/gate/test_install.py
    ("hook", "remove"): "hook-remove",  # tests/gate/test_install.py
}
NOT_SCHEMA_DOCS = {
    ("policy", "show"),  # prints the policy itself: policy/schema's shape
    ("report", "merge"),  # writes fleet report files (tests/fleet), like audit's report.json
}
# commands without `--format json` (the choice), each with its reason.
NO_JSON = {
    ("audit",): "--format json writes report.json, validated against its own schema "
    "(audit/reports/schema/report-v1.json, tests/audit); stdout is a summary",
    ("batch", "slurm-prolog"): "Slurm's Prolog: speaks to slurmd by exit code",
    ("batch", "slurm-epilog"): "Slurm's Epilog: speaks to slurmd by exit code",
    ("batch", "lsf-pre-exec"): "LSF's PRE_EXEC: speaks to sbatchd by exit code (non-zero requeues)",
    ("batch", "lsf-post-exec"): "LSF's POST_EXEC: speaks to sbatchd by exit code",
    ("hook", "run"): "what libvirt's hook file calls: allow/refuse by exit code, the reason on stderr",
    ("hook", "serve"): "a server: answers the hook file on its socket, prints only its start line",
}


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def _json_commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _json_commands(sub, (*words, name))
        elif "--format" in action.option_strings and action.choices and "json" in action.choices:
            found.add(words)
    return found


def _commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every command an admin can run: the leaves of the parser's subcommand tree."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {words}
    return {
        found for a in subs for name, sub in a.choices.items() for found in _commands(sub, (*words, name))
    }


def test_every_json_command_is_validated_here():
    assert _json_commands(build_parser([])) == set(COMMANDS) | NOT_SCHEMA_DOCS


def test_every_command_has_json_or_a_reason_why_not():
    commands = _commands(build_parser([]))
    assert commands - set(COMMANDS) - NOT_SCHEMA_DOCS == set(NO_JSON)
    assert all(NO_JSON.values()) and not set(NO_JSON) & _json_commands(build_parser([]))
    assert ("vet",) in commands and ("hook", "install") in commands  # control: the walk sees leaves


@pytest.mark.parametrize("kind", sorted(set(COMMANDS.values())))
def test_schemas_are_valid_and_reject_a_bare_list(kind):
    jsonschema.Draft202012Validator.check_schema(schema(kind))
    with pytest.raises(jsonschema.ValidationError):  # control: the old bare-list plan
        jsonschema.validate([], schema(kind))


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "state"))
    for policy in POLICIES.glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: json-test}\n"
        "connections:\n  - {name: t, driver: libvirt, uri: 'test:///default'}\n"
        "vms:\n  - {name: test, connection: t, policy: batch.yaml}\n"
    )
    return path


def test_vm_commands(inventory, capsys):
    code, out = run(capsys, "vms", "-i", str(inventory), "--format", "json")
    assert code == 0 and validate("vms", out)["vms"][0]["name"] == "test"
    code, out = run(capsys, "plan", "-i", str(inventory), "--format", "json")
    doc = validate("plan", out)
    assert code == doc["exit_code"] == 1 and doc["plans"][0]["changes"]
    code, out = run(capsys, "apply", "-i", str(inventory), "--dry-run", "--format", "json")
    doc = validate("apply", out)
    assert code == doc["exit_code"] and doc["vms"][0]["dry_run"] is True


def test_check_commands(inventory, capsys):
    code, out = run(capsys, "inventory", "check", "-i", str(inventory), "--offline", "--format", "json")
    assert code == 0 and validate("inventory-check", out)["ok"]
    bad = inventory.parent / "bad.yaml"
    bad.write_text("apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: b}\nspec: {nope: 1}\n")
    code, out = run(capsys, "policy", "check", str(POLICIES / "batch.yaml"), str(bad), "--format", "json")
    doc = validate("policy-check", out)
    assert code == 2 and [f["ok"] for f in doc["files"]] == [True, False]


def test_catalog_and_log_commands(tmp_path, monkeypatch, capsys):
    code, out = run(capsys, "rules", "list", "--format", "json")
    assert code == 0 and len(validate("rules", out)["rules"]) > 50
    code, out = run(capsys, "rules", "show", "VMG-DEV-001", "--format", "json")
    assert validate("rules", out)["rules"][0]["id"] == "VMG-DEV-001"
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    for i in range(3):
        log.EventLog.from_environment().append("audit", run=f"r{i}")
    code, out = run(capsys, "log", "verify", "--format", "json")
    assert code == 0 and validate("log-verify", out)["events"] == 3
    lines = (tmp_path / "events.jsonl").read_bytes().splitlines(keepends=True)
    (tmp_path / "events.jsonl").write_bytes(b"".join([lines[0], lines[2]]))  # a line removed
    code, out = run(capsys, "log", "verify", "--format", "json")
    assert code == 1 and not validate("log-verify", out)["intact"]


def test_vet_json_and_its_published_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "a.txt").write_text("alpha\n")
    (tmp_path / "q" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "pub").mkdir()
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: v}\n"
        "spec:\n  quarantine: {allow_types: [text/plain]}\n"
    )
    argv = ["vet", str(tmp_path / "q"), "--policy", str(policy), "--to", str(tmp_path / "pub" / "r1")]
    code, out = run(capsys, *argv, "--per-file", "--format", "json")
    doc = validate("vet", out)
    assert code == 1 and doc["rejected"] and doc["status"] == "partial"
    published = validate("vet", (tmp_path / "pub" / "r1.vet.json").read_text())
    assert published["entries"] == doc["entries"]


def _verdict(tmp_path: Path, key: str) -> JobVerdict:
    held = tmp_path / "held" / key
    held.mkdir(parents=True)
    job = BatchJob(runner="slurm", id=key, user="alice", uid=1000, gid=1000)
    return JobVerdict(
        job,
        JobOutcome.REJECTED,
        "1 file rejected",
        vm="vm1",
        quarantine=str(held),
        rejected=(Rejection("x.sh", "executable-content"),),
        finished=time.time(),
    )


def test_batch_pending_and_a_verdict(tmp_path, capsys):
    state = tmp_path / "state"
    (tmp_path / "inventory.yaml").write_text("")
    config = tmp_path / "batch.yaml"
    config.write_text(f"inventory: inventory.yaml\nstate_dir: {state}\naccounts_enforced: true\n")
    verdict = _verdict(tmp_path, "42")
    save_record(verdict, state)
    code, out = run(capsys, "batch", "pending", "--config", str(config), "--format", "json")
    doc = validate("batch-pending", out)
    assert code == 0 and [v["job"]["id"] for v in doc["pending"]] == ["42"]
    (state / "assigned").mkdir(parents=True, exist_ok=True)
    (state / "assigned" / "slurm-43").write_text(f"vm1\t{tmp_path / 'q43'}\n")  # as the prolog writes it
    code, out = run(capsys, "batch", "vm", "--job", "slurm-43", "--config", str(config), "--format", "json")
    doc = validate("batch-vm", out)
    assert code == 0 and (doc["job"], doc["vm"], doc["quarantine"]) == (
        "slurm-43",
        "vm1",
        str(tmp_path / "q43"),
    )
    # revet prints the same verdict shape (a revet needs a whole batch host: the
    # batch tests run it; here its document is checked against its schema)
    validate(
        "batch-verdict",
        json.dumps({"schema": schema_id("batch-verdict"), **verdict.to_dict(), "exit_code": 1}),
    )


def test_every_firewall_command_in_a_fresh_namespace(tmp_path):
    """plan, apply, show, audit, apply --vm and remove, in the order an admin runs them,
    each printing its document: the values follow the live rules, not just the shape."""
    require_root()
    require_tools("nft", "ip")
    inventory = write_inventory(tmp_path, "nftables")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VMGUARD_LOG": str(tmp_path / "events.jsonl"),
        "VMGUARD_STATE_DIR": str(tmp_path / "state"),
    }
    with netns("json") as ns:

        def firewall(action: str, kind: str, *more: str) -> dict:
            argv = [sys.executable, "-m", "vmguard", "firewall", action, "-i", str(inventory), *more]
            proc = subprocess.run(
                ns.argv(*argv, "--format", "json"), capture_output=True, text=True, env=env, timeout=120
            )
            doc = validate(kind, proc.stdout)
            assert proc.returncode == doc["exit_code"], proc.stderr
            return doc

        doc = firewall("plan", "firewall-plan")
        assert (doc["exit_code"], doc["loaded"]) == (1, False)
        doc = firewall("audit", "firewall-audit")
        assert doc["exit_code"] == 1 and "table-missing" in {d["kind"] for d in doc["drifts"]}
        assert not firewall("show", "firewall-show")["loaded"]  # control: nothing loaded yet
        doc = firewall("apply", "firewall-apply")
        assert (doc["action"], doc["vm"], doc["exit_code"]) == ("apply", None, 0)
        assert sorted(doc["vms"]) == ["vm1", "vm2"] and doc["fixed"] == []  # a fresh load
        live = firewall("show", "firewall-show")
        assert live["loaded"] and live["backend"] == "nftables" and "vm1" in live["ruleset"]
        assert firewall("apply", "firewall-apply")["action"] == "unchanged"
        assert firewall("audit", "firewall-audit")["clean"]
        doc = firewall("apply", "firewall-apply", "--vm", "vm1")
        assert (doc["action"], doc["vm"]) == ("update-vm", "vm1") and "fixed" not in doc
        assert firewall("remove", "firewall-remove")["removed"] is True
        assert firewall("remove", "firewall-remove")["removed"] is False  # nothing left
        assert not firewall("show", "firewall-show")["loaded"]


def test_watch_prints_one_valid_json_object_per_event(tmp_path):
    """watch --format json (JSON Lines) in a fresh namespace: the firewall table dropped
    and loaded again gives a finding and its resolution, each line valid on its own; the
    inventory's VMs, absent from libvirt's test driver, are not covered (exit 3)."""
    require_root()
    require_tools("nft", "ip")
    inventory = write_inventory(tmp_path, "nftables")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VMGUARD_LOG": str(tmp_path / "events.jsonl")}
    env["VMGUARD_STATE_DIR"] = str(tmp_path / "state")
    vmguard = [sys.executable, "-m", "vmguard"]
    with netns("jsonl") as ns:
        assert ns.run(*vmguard, "firewall", "apply", "-i", str(inventory), check=False).returncode == 0
        argv = [*vmguard, "watch", "-i", str(inventory), "--format", "json", "--firewall-every", "1"]
        proc = subprocess.Popen(
            ns.argv(*argv, "--duration", "12"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        lines: list[dict] = []

        def until(event: str) -> dict:
            while True:
                line = proc.stdout.readline()
                assert line, f"no {event} event: {lines} {proc.stderr.read()}"
                lines.append(validate("watch-event", line))
                if lines[-1]["event"] == event:
                    return lines[-1]

        try:
            assert until("started")["vms"] == 1  # test:///default's own VM, unmanaged
            ns.run("nft", "delete", "table", "inet", "vmguard")
            finding = until("finding")
            assert (finding["rule"], finding["subject"]) == ("VMG-FW-001", "host")
            ns.run(*vmguard, "firewall", "apply", "-i", str(inventory), check=False)
            assert until("resolved")["rule"] == "VMG-FW-001"
            stopped = until("stopped")
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert stopped["exit_code"] == 3 == proc.returncode
    missing = " ".join(e["reason"] for e in lines if e["event"] == "not-covered")
    assert "'vm1'" in missing and "'vm2'" in missing
    with pytest.raises(jsonschema.ValidationError):  # control: a finding without its rule
        jsonschema.validate({k: v for k, v in finding.items() if k != "rule"}, schema("watch-event"))


def test_demo_json_is_the_screens_numbers(tmp_path, monkeypatch, capsys):
    """The demo's document carries what its text screen says (same lab, same run)."""
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    code, out = run(capsys, "demo", "--lab", "vbox-file", "--out", str(tmp_path / "r"), "--format", "json")
    doc = validate("demo", out)
    assert code == doc["exit_code"] == 0 and doc["lab"] == "vbox-file" and "$LAB" in out
    report = json.loads((tmp_path / "r/latest/report.json").read_text())["summary"]
    assert {k: doc["audit"][k] for k in ("failing", "score", "rules")} == {
        k: report[k] for k in ("failing", "score", "rules")
    }
    assert doc["vet"]["rejected"] and any(p["changes"] or p["manual"] for p in doc["plans"])
    _, screen = run(capsys, "demo", "--lab", "vbox-file", "--out", str(tmp_path / "t"))
    assert f"score {doc['audit']['score']}/100" in screen
    vet = doc["vet"]
    assert f"{vet['accepted']} accepted, {len(vet['rejected'])} rejected: {vet['status']}" in screen


def test_system_install_json_names_what_it_wrote(tmp_path, capsys):
    code, out = run(capsys, "system", "install", "--root", str(tmp_path), "--gate", "--format", "json")
    doc = validate("system-install", out)
    assert code == doc["exit_code"] == 0
    assert sorted(Path(p).name for p in doc["written"]) == sorted(
        [
            "vmguard-audit.service",
            "vmguard-audit.timer",
            "vmguard-watch.service",
            "vmguard-gate.service",
            "vmguard",
        ]
    )
    assert all(Path(p).is_file() for p in doc["written"]) and Path(doc["link"]).is_symlink()
    assert "vmguard-gate.service" in doc["next"][2]
    assert set(doc["written"]) <= set(doc["changed"])  # a first install writes everything
    _, out = run(capsys, "system", "install", "--root", str(tmp_path), "--gate", "--format", "json")
    assert validate("system-install", out)["changed"] == []  # all in place: nothing to report
    timer = next(p for p in doc["written"] if p.endswith(".timer"))
    Path(timer).write_text(Path(timer).read_text().replace("hourly", "daily"))  # drifted
    _, out = run(capsys, "system", "install", "--root", str(tmp_path), "--gate", "--format", "json")
    assert validate("system-install", out)["changed"] == [timer] and "hourly" in Path(timer).read_text()


def test_hook_status_json_before_and_after_install(inventory, tmp_path, capsys):
    hooks = str(tmp_path / "hooks")  # never the machine's /etc/libvirt/hooks
    code, out = run(capsys, "hook", "status", "--hooks-dir", hooks, "--format", "json")
    doc = validate("hook-status", out)
    assert code == doc["exit_code"] == 1 and not doc["installed"] and doc["settings"] is None
    assert run(capsys, "hook", "install", "-i", str(inventory), "--hooks-dir", hooks)[0] == 0
    code, out = run(capsys, "hook", "status", "--hooks-dir", hooks, "--format", "json")
    doc = validate("hook-status", out)
    assert code == doc["exit_code"] == 0 and doc["installed"] and doc["stale"] == []
    assert doc["settings"]["inventory"] == str(inventory) and doc["server_answers"] is None
