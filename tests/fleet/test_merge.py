"""`vmguard report merge` over real audit reports (libvirt's test driver, two policies)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fleet.lab import POLICY_OF, REPO, write_site

VMGUARD = str(REPO / ".venv/bin/vmguard")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VMGUARD, *args], capture_output=True, text=True, timeout=120, check=False, env=env)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real audit report.json per host: host a follows batch.yaml, b dev.yaml."""
    root = tmp_path_factory.mktemp("audits")
    policy = write_site(root)
    out = {}
    for host in POLICY_OF:
        inventory = policy / f"inventory-{host}.yaml"
        env = {**os.environ, "VMGUARD_LOG": str(root / f"{host}.jsonl")}
        run("audit", "-i", str(inventory), "--out", str(root / host), "--format", "json", env=env)
        out[host] = root / f"host-{host}.json"
        shutil.copy(root / host / "latest/report.json", out[host])
    return out


def merged(tmp_path: Path, *files: Path, fail_on: str = "never") -> tuple[int, dict]:
    proc = run("report", "merge", *map(str, files), "--out", str(tmp_path / "fleet"), "--fail-on", fail_on)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads((tmp_path / "fleet/fleet.json").read_text())


def test_totals_are_the_sum_of_the_hosts(reports: dict[str, Path], tmp_path: Path) -> None:
    _, fleet = merged(tmp_path, *reports.values())
    docs = [json.loads(p.read_text())["summary"] for p in reports.values()]
    assert fleet["totals"]["hosts"] == 2
    assert fleet["totals"]["vms"] == sum(d["vms"] for d in docs)
    assert fleet["totals"]["failing"] == sum(d["failing"] for d in docs) > 0
    for severity, count in fleet["totals"]["by_severity"].items():
        assert count == sum(d["by_severity"][severity] for d in docs)
    assert len([f for f in fleet["findings"] if not f["waived"]]) == fleet["totals"]["failing"]


def test_worst_first(reports: dict[str, Path], tmp_path: Path) -> None:
    _, fleet = merged(tmp_path, *reports.values())
    order = fleet["severities"]
    ranks = [(f["waived"], order.index(f["severity"])) for f in fleet["findings"]]
    assert ranks == sorted(ranks)
    worst = [order.index(h["worst"]) if h["worst"] else len(order) for h in fleet["hosts"]]
    assert worst == sorted(worst)
    assert {f["host"] for f in fleet["findings"]} == {"host-a", "host-b"}


def test_exit_code_follows_fail_on(reports: dict[str, Path], tmp_path: Path) -> None:
    code, fleet = merged(tmp_path, *reports.values(), fail_on="info")
    assert code == 1 and fleet["totals"]["failing"]
    code, _ = merged(tmp_path, *reports.values(), fail_on="never")
    assert code == 0


def test_every_bad_input_is_listed_at_once(reports: dict[str, Path], tmp_path: Path) -> None:
    not_json = tmp_path / "broken.json"
    not_json.write_text("{")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "something/else"}))
    gutted = tmp_path / "gutted.json"
    doc = json.loads(reports["a"].read_text())
    del doc["summary"]
    gutted.write_text(json.dumps(doc))
    twin = tmp_path / "dup" / reports["a"].name
    twin.parent.mkdir()
    shutil.copy(reports["a"], twin)
    proc = run(
        "report",
        "merge",
        str(not_json),
        str(other),
        str(gutted),
        str(reports["a"]),
        str(twin),
        "--out",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 4, proc.stderr
    assert "not JSON" in lines[0] and "not a vmguard audit report" in lines[1]
    assert "'summary' is a required property" in lines[2] and "also comes from" in lines[3]
    assert not (tmp_path / "out").exists()


def test_hostile_host_names_are_escaped(reports: dict[str, Path], tmp_path: Path) -> None:
    evil = tmp_path / "<img src=x onerror=alert(1)>|x.json"
    shutil.copy(reports["b"], evil)
    merged(tmp_path, reports["a"], evil)
    html = (tmp_path / "fleet/fleet.html").read_text()
    markdown = (tmp_path / "fleet/fleet.md").read_text()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert not re.search(r"(?<!\\)<img", markdown) and "\\<img" in markdown
    assert "\\|x" in markdown  # a "|" in a name cannot split the table row


def test_a_host_that_could_not_audit_everything_makes_exit_3(
    reports: dict[str, Path], tmp_path: Path
) -> None:
    inventory = tmp_path / "inventory-c.yaml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "vmguard/v1",
                "kind": "Inventory",
                "metadata": {"name": "c"},
                "connections": [{"name": "t", "driver": "libvirt", "uri": "test:///no/such.xml"}],
                "vms": [
                    {
                        "name": "test",
                        "connection": "t",
                        "policy": str(reports["a"].parent / "policy/batch.yaml"),
                    }
                ],
            }
        )
    )
    env = {**os.environ, "VMGUARD_LOG": str(tmp_path / "c.jsonl")}
    assert run("audit", "-i", str(inventory), "--out", str(tmp_path / "c"), env=env).returncode == 3
    down = tmp_path / "host-c.json"
    shutil.copy(tmp_path / "c/latest/report.json", down)
    proc = run("report", "merge", str(reports["a"]), str(down), "--out", str(tmp_path / "fleet"))
    assert proc.returncode == 3, proc.stderr
    fleet = json.loads((tmp_path / "fleet/fleet.json").read_text())
    assert fleet["totals"]["unreachable"] == 2
    host_c = next(h for h in fleet["hosts"] if h["host"] == "host-c")
    assert host_c["worst"] is None and "cannot reach libvirt" in host_c["unreachable"][0]
    assert "not audited: 2" in (tmp_path / "fleet/fleet.md").read_text()


def test_reports_of_an_earlier_v1_writer_still_merge(reports: dict[str, Path], tmp_path: Path) -> None:
    """A rolling upgrade mixes report writers: fields added to v1 later must stay optional."""
    older = tmp_path / "older.json"
    doc = json.loads(reports["a"].read_text())
    for added in ("fail_on", "exit_code"):
        doc["summary"].pop(added)
    for subject in (doc["host"], *doc["vms"]):
        subject.pop("checked_rules")
    older.write_text(json.dumps(doc))
    _, fleet = merged(tmp_path, older, reports["b"])
    assert fleet["totals"]["hosts"] == 2
    # no rule list, no score: said, not made up (the fleet's total needs every host's)
    by_host = {h["host"]: h for h in fleet["hosts"]}
    assert by_host["older"]["score"] is None and by_host["host-b"]["score"] is not None
    assert fleet["totals"]["score"] is None and fleet["totals"]["rules"] is None
    assert "score -; rules - (its report predates checked_rules)" in (tmp_path / "fleet/fleet.md").read_text()


def test_rules_and_score_are_counted_like_each_hosts_own_report(
    reports: dict[str, Path], tmp_path: Path
) -> None:
    """The oracle is each host's own report.json (the audit's scoring of its run): a fleet
    of one host has that host's numbers; the fleet's score weighs every host's rules."""
    docs = {f"host-{h}": json.loads(p.read_text())["summary"] for h, p in reports.items()}
    _, fleet = merged(tmp_path, *reports.values())
    for host in fleet["hosts"]:
        own = docs[host["host"]]
        assert (host["rules"], host["score"]) == (own["rules"], own["score"])
    t = fleet["totals"]
    assert t["rules"] == {k: sum(d["rules"][k] for d in docs.values()) for k in t["rules"]}
    assert t["rules"]["failed"] > 0 and t["rules"]["passed"] > 0
    scores = sorted(d["score"] for d in docs.values())
    assert scores[0] < scores[1] and scores[0] <= t["score"] <= scores[1]  # weighted in between
    md = (tmp_path / "fleet/fleet.md").read_text()
    assert f"- score {t['score']} of 100; rules checked {t['rules']['checked']}" in md
    html = (tmp_path / "fleet/fleet.html").read_text()
    assert f"score {t['score']} of 100; rules checked {t['rules']['checked']}" in html


def test_a_failed_rule_lowers_the_fleet_score(reports: dict[str, Path], tmp_path: Path) -> None:
    """Control: passing rules turned failing (a finding added) must lower the score."""
    _, before = merged(tmp_path, *reports.values())
    doc = json.loads(reports["b"].read_text())
    vm = doc["vms"][0]
    passed = [r for r in vm["checked_rules"] if r not in {f["rule"] for f in vm["findings"]}]
    finding = {**next(f for v in doc["vms"] for f in v["findings"]), "waived": False}
    vm["findings"] = [*vm["findings"], *({**finding, "rule": r} for r in passed)]
    worse = tmp_path / "host-b.json"
    worse.write_text(json.dumps(doc))
    _, after = merged(tmp_path, reports["a"], worse)
    assert after["totals"]["rules"]["failed"] > before["totals"]["rules"]["failed"]
    assert after["totals"]["score"] < before["totals"]["score"]
