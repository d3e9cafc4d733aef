"""Strings a VM controls never act on the admin's terminal or forge a line (issue #24).

The real CLI runs on libvirt's test driver and on VirtualBox settings files with
hostile VM names, share names and host paths (every character XML can carry), on a
quarantine with hostile file names, and on host reports with hostile text (JSON carries
every character). Each output must hold no control, bidi or invisible character except
the newlines vmguard writes, one finding must stay one line (counted against the JSON,
which must carry the exact string), and the Markdown must parse to the same headings
and table rows whatever the input. The CLI runs without the stream guard
(vmguard.cli.output.safe_streams) unless a test says otherwise: each print path must be
safe on its own, and the guard is tested by itself.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.audit.factory import EVERY_ADDRESS
from tests.support.hostile_text import (
    FORGED,
    assert_inert,
    assert_no_links,
    body_rows,
    headings,
    hostile_text,
    markdown_tokens,
    run_cli,
    xml_attribute,
    xml_legal,
    xml_normalised,
)
from vmguard.audit.reports import markdown
from vmguard.batch.job import BatchJob
from vmguard.batch.verdict import JobOutcome, JobVerdict, Rejection, save_record
from vmguard.cli import main
from vmguard.core.display import shown
from vmguard.demo.build import write_lab
from vmguard.demo.lab import DomainSpec, Share

# A CLI example takes about a second: no shrinking (it can take minutes); the failing
# example is printed as found.
CLI = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
FAST = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
VBOX = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "vbox"
    / "alexec__maven-vbox-plugin__WindowsServer2008.vbox"
)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def unguarded():
    """The CLI with its stream guard off: what each print path writes by itself."""
    return mock.patch("vmguard.cli.safe_streams", contextlib.nullcontext)


def xml_name(text: str) -> str:
    """A VM name libvirt's test driver accepts: XML-legal, no slash, not blank."""
    return "vm " + xml_legal(text).replace("/", "")


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def check_audit(inventory: Path, out: Path, name: str) -> dict:
    """`audit` on one VM: terminal lines, report.json exact, report.md and .html inert."""
    with unguarded():
        code, stdout, stderr = run_cli(
            main, ["audit", "-i", str(inventory), "--out", str(out), "--guest", "off"]
        )
    assert code == 1, stderr
    assert_inert(stdout + stderr)
    report = _json(out / "latest" / "report.json")
    assert [vm["name"] for vm in report["vms"]] == [name]  # JSON: the exact string
    failing = report["summary"]["failing"]
    assert len(stdout.splitlines()) == 4 + min(5, failing)  # one line per finding shown
    assert stdout.count(shown(name)) == min(5, failing)
    md = (out / "latest" / "report.md").read_text()
    assert_inert(md)
    tokens = markdown_tokens(md)
    assert_no_links(md, tokens)
    assert len(headings(tokens)) == 3  # the run, Host, the VM
    assert body_rows(tokens) == len(report["vms"][0]["findings"]) + len(report["host"]["findings"])
    html = (out / "latest" / "report.html").read_text()
    assert_inert(html)
    assert CSP in html
    return report


def check_vms_and_plan(inventory: Path, name: str) -> None:
    with unguarded():
        code, stdout, stderr = run_cli(main, ["vms", "--inventory", str(inventory)])
        assert code == 0, stderr
        assert_inert(stdout + stderr)
        assert stdout.count("\n") == 1 and stdout.startswith(shown(name))
        code, text, stderr = run_cli(main, ["plan", "--inventory", str(inventory)])
        assert_inert(text + stderr)
        _, raw, _ = run_cli(main, ["plan", "--inventory", str(inventory), "--format", "json"])
        [plan] = json.loads(raw)["plans"]
        assert plan["vm"] == name
        # then the firewall's line
        assert text.splitlines()[-1] == "firewall: not configured in the inventory"
        assert len(text.splitlines()) == 2 + len(plan["changes"]) + len(plan["manual"])
        code, applied, stderr = run_cli(main, ["apply", "--inventory", str(inventory), "--dry-run"])
        assert_inert(applied + stderr)
        assert len(applied.splitlines()) == 2 + len(plan["changes"]) + len(plan["manual"])


@CLI
@given(vm=hostile_text, tag=hostile_text, path=hostile_text)
def test_libvirt_vm_and_share_names_and_host_paths(vm, tag, path):
    name, tag = xml_name(vm), xml_legal(tag)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        host_path = f"{root}/home/{xml_legal(path).replace(chr(0x2F), '')}"
        share = Share(tag or "t", host_path, read_only=False)
        spec = DomainSpec(name, clipboard=True, display_listen=EVERY_ADDRESS, shares=(share,))
        lab = write_lab(root, [spec], ["*"])
        name = xml_normalised(name)
        check_vms_and_plan(lab.inventory, name)
        report = check_audit(lab.inventory, root / "out", name)
        shares = [f for f in report["vms"][0]["findings"] if f["rule"] == "VMG-FS-001"]
        assert shares and xml_attribute(host_path) in shares[0]["message"]  # JSON: exact
        assert f"share '{xml_attribute(share.tag)}' exposes" in shares[0]["message"]


def _vbox(root: Path, name: str, share: str, host_path: str) -> Path:
    tree = etree.parse(str(VBOX))
    ns = {"v": tree.getroot().nsmap[None]}
    tree.find(".//v:Machine", ns).set("name", name)
    folder = tree.find(".//v:SharedFolder", ns)
    folder.set("name", share)
    folder.set("hostPath", host_path)
    folder.set("writable", "true")
    target = root / "hostile.vbox"
    tree.write(str(target), encoding="utf-8", xml_declaration=True)
    return target


@CLI
@given(vm=hostile_text, share=hostile_text, path=hostile_text)
def test_vbox_file_vm_and_share_names_and_host_paths(vm, share, path):
    name = xml_name(vm)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lab = write_lab(root, [], ["*"])
        _vbox(root, name, xml_legal(share) or "s", f"/home/{xml_legal(path)}")
        inventory = root / "vbox.yaml"
        inventory.write_text(
            "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: vbox}\n"
            f'connections:\n  - {{name: files, driver: vbox-file, path: "{root}/*.vbox"}}\n'
            f'vms:\n  - {{name: "*", connection: files, policy: {lab.policy}}}\n'
        )
        check_vms_and_plan(inventory, name)
        check_audit(inventory, root / "out", name)


def _file_name(text: str) -> bytes:
    raw = os.fsencode(text.replace("/", "").replace("\x00", ""))[:200]
    return raw if raw not in (b"", b".", b"..") else b"x" + raw


@CLI
@given(names=st.lists(hostile_text, min_size=1, max_size=6))
def test_vet_file_names(names):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lab = write_lab(root, [], [])
        quarantine = root / "q"
        quarantine.mkdir()
        for raw in {_file_name(n) for n in names}:
            with open(os.path.join(os.fsencode(quarantine), raw), "wb") as f:
                f.write(b"plain text\n")
        argv = [
            "vet",
            str(quarantine),
            "--policy",
            str(lab.policy),
            "--to",
            str(root / "pub"),
            "--dry-run",
            "--job",
            "j1",
        ]
        with unguarded():
            _, text, stderr = run_cli(main, argv)
            _, raw, _ = run_cli(main, [*argv, "--format", "json"])
        assert_inert(text + stderr)
        rejected = json.loads(raw)["rejected"]
        listed = [line for line in text.splitlines() if line.startswith("  ")]
        assert len(listed) == len(rejected)  # one line per rejected file
        assert all(any(line.startswith(f"  {r['path']}: ") for line in listed) for r in rejected)


@pytest.fixture(scope="module")
def host_report() -> dict:
    """One real audit report (a lab VM with findings), made once for the module."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = DomainSpec("vm1", clipboard=True, shares=(Share("home", f"{root}/home", read_only=False),))
        lab = write_lab(root, [spec], ["*"])
        run_cli(main, ["audit", "-i", str(lab.inventory), "--out", str(root / "out"), "--format", "json"])
        return _json(root / "out" / "latest" / "report.json")


def hostile_report(report: dict, texts: list[str]) -> dict:
    """The report with every name, message, path and note a VM or host controls replaced."""
    doc = copy.deepcopy(report)
    pick = iter(texts * 50)
    doc["host"]["note"] = next(pick)
    doc["inventory"] = next(pick)
    for vm in doc["vms"]:
        vm["name"], vm["connection"] = next(pick), next(pick)
        for f in vm["findings"]:
            f["subject"], f["message"], f["evidence"] = vm["name"], next(pick), next(pick)
    return doc


@FAST
@given(texts=st.lists(hostile_text, min_size=1, max_size=8))
def test_audit_markdown_keeps_its_structure(host_report, texts):
    doc = hostile_report(host_report, texts)
    md = markdown.render(doc)
    assert_inert(md)
    tokens = markdown_tokens(md)
    assert_no_links(md, tokens)
    assert len(headings(tokens)) == 2 + len(doc["vms"])
    assert body_rows(tokens) == sum(len(vm["findings"]) for vm in doc["vms"]) + len(doc["host"]["findings"])


@CLI
@given(texts=st.lists(hostile_text, min_size=2, max_size=6))
def test_report_merge_of_hostile_host_reports(host_report, texts):
    """Host names come from the report files' names, the rest from their JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = []
        for i, host in enumerate(dict.fromkeys(_file_name(t)[:100] for t in texts[:2])):
            doc = hostile_report(host_report, texts[i:] + texts[:i])
            files.append(os.fsdecode(os.path.join(os.fsencode(root), host + b".json")))
            Path(files[-1]).write_text(json.dumps(doc))
        out = root / os.fsdecode(_file_name(texts[-1])[:100])
        with unguarded():
            code, stdout, stderr = run_cli(main, ["report", "merge", *map(str, files), "--out", str(out)])
        assert code in (0, 1), stderr
        assert_inert(stdout + stderr)
        assert len(stdout.splitlines()) == 3  # the three files written
        fleet = _json(out / "fleet.json")
        md = (out / "fleet.md").read_text()
        assert_inert(md)
        tokens = markdown_tokens(md)
        assert_no_links(md, tokens)
        assert len(headings(tokens)) == 3
        assert body_rows(tokens) == len(fleet["hosts"]) + len(fleet["findings"])
        html = (out / "fleet.html").read_text()
        assert_inert(html)
        assert CSP in html


def test_watch_shows_each_new_finding_on_one_line(tmp_path, events):
    from vmguard.audit.watch import Watcher
    from vmguard.inventory.loader import load_inventory

    name = "w \u202egpj.exe\x85\u2028\x9d52;c;Zm9v\x9c" + FORGED
    lab = write_lab(tmp_path, [DomainSpec(name, clipboard=True, display_listen=EVERY_ADDRESS)], ["*"])
    inventory = load_inventory(lab.inventory)
    out = io.StringIO()
    watcher = Watcher(inventory, out, events)
    from vmguard.drivers import open_driver

    conn = inventory.connections[0]
    watcher.drivers[conn.name] = open_driver(conn)
    watcher.baseline_done = True
    watcher.audit_vm(conn.name, xml_normalised(name))
    text = out.getvalue()
    assert_inert(text)
    lines = text.splitlines()
    assert len(lines) >= 3 and all(" NEW " in line and shown(xml_normalised(name)) in line for line in lines)


def test_the_cli_guard_is_on_by_default(tmp_path):
    name = "g \u202e\x9b2J"
    lab = write_lab(tmp_path, [DomainSpec(name)], ["*"])
    code, stdout, _ = run_cli(main, ["vms", "--inventory", str(lab.inventory)])
    assert code == 0 and stdout.startswith("g \\u202e\\u009b2J ")
    with mock.patch("vmguard.cli.vm.shown", lambda text: str(text)):  # a print path that forgot
        _, stdout, _ = run_cli(main, ["vms", "--inventory", str(lab.inventory)])
    assert_inert(stdout)  # the guard caught it
    assert stdout.startswith("g \\u202e\\u009b2J ")


@CLI
@given(vm=hostile_text, message=hostile_text, path=hostile_text)
def test_batch_pending_of_hostile_verdicts(vm, message, path):
    """`batch pending` lists one tab-separated line per job, whatever the VM or message."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = root / "batch.yaml"
        config.write_text(f"inventory: {root}/inventory.yaml\nstate_dir: {root}/state\n")
        for i in range(2):
            job = BatchJob(runner="slurm", id=str(40 + i), user="u", uid=1000, gid=1000, name=vm)
            held = root / "held" / str(i)  # pending lists only output still held
            held.mkdir(parents=True)
            verdict = JobVerdict(
                job=job,
                outcome=JobOutcome.REJECTED,
                message=message,
                vm=vm,
                rejected=(Rejection(path, message),),
                quarantine=str(held),
                finished=time.time(),
            )
            save_record(verdict, root / "state")
        with unguarded():
            code, stdout, stderr = run_cli(main, ["batch", "pending", "--config", str(config)])
        assert code == 0, stderr
        assert_inert(stdout + stderr, allowed="\n\t")
        lines = stdout.splitlines()
        assert len(lines) == 2 and all(line.count("\t") == 4 for line in lines)
        assert lines[0].split("\t")[1] == shown(vm or "-")
        assert lines[0].split("\t")[2].endswith(f"({shown(message)})" if message else "rejected")


def test_a_real_process_writes_inert_bytes(tmp_path):
    """`python -m vmguard` as a terminal runs it: the bytes on its stdout and stderr."""
    name = "p \u202egpj.exe\x85\u2028\x9d52;c;Zm9v\x9c" + FORGED
    share = Share("s\u2066\x9b2J", f"{tmp_path}/home/\u202e\r\n\x9d8;;x\x9c", read_only=False)
    lab = write_lab(tmp_path, [DomainSpec(name, clipboard=True, shares=(share,))], ["*"])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for argv in (
        ["vms", "--inventory"],
        ["plan", "--inventory"],
        ["audit", "--out", str(tmp_path / "o"), "-i"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "vmguard", *argv, str(lab.inventory)],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode in (0, 1), proc.stderr
        text = (proc.stdout + proc.stderr).decode("utf-8")  # strict: no raw undecodable byte
        assert_inert(text)
        assert "p \\u202egpj.exe\\u0085\\u2028\\u009d52;c;Zm9v\\u009c\\x0a" in text
