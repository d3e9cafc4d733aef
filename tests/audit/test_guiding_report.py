"""Reports that guide: rules checked/passed/failed and a score per VM and overall, the
fix for the VM's own hypervisor first, the one `vmguard apply --vm X` command with how
many findings it fixes, a dated trend, and node_exporter metrics; the HTML report read
back from a real headless Chromium's DOM.

The lab has a libvirt VM (libvirt's test driver) and a VirtualBox VM (a real .vbox
file, read offline), both with audio on (VMG-DEV-005), whose fix differs.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.audit.conftest import good
from tests.audit.test_browser import dump_dom
from vmguard.audit.catalog import load_catalog
from vmguard.audit.run import run_audit
from vmguard.cli import main
from vmguard.demo.lab import DomainSpec
from vmguard.inventory.loader import load_inventory

VBOX = Path(__file__).resolve().parents[1] / "fixtures" / "vbox" / "Marvint-dev__Samba-AD__Debian.vbox"
LIBVIRT_FIX = "<sound model='none'/>"
VBOX_FIX = "VBoxManage modifyvm VM --audio-enabled off"


@pytest.fixture
def two_hypervisors(lab, tmp_path, events):
    """The lab's libvirt VMs plus a VirtualBox file, audited twice (a dated trend)."""
    lab.write_domains([good("vm1", lab.root), DomainSpec("vm2", audio=True, network="user")])
    shutil.copy(VBOX, tmp_path / "legacy.vbox")
    text = lab.inventory.read_text().replace(
        "vms:\n", f'  - {{name: files, driver: vbox-file, path: "{tmp_path}/*.vbox"}}\nvms:\n'
    )
    lab.inventory.write_text(text + "  - {name: '*', connection: files, policy: batch.yaml}\n")
    out, metrics = tmp_path / "out", tmp_path / "vmguard.prom"
    run_audit(load_inventory(lab.inventory), out, events=events)
    code = main(
        ["audit", "-i", str(lab.inventory), "--out", str(out), "--guest", "off", "--metrics", str(metrics)]
    )
    return out / "latest", metrics, code


def vms(doc: dict) -> dict[str, dict]:
    return {vm["name"]: vm for vm in doc["vms"]}


def test_rules_counts_score_and_apply_command(two_hypervisors):
    latest, _, _ = two_hypervisors
    doc = json.loads((latest / "report.json").read_text())
    by = vms(doc)
    vbox = next(vm for vm in doc["vms"] if vm["hypervisor"] == "vbox-file")
    for vm in doc["vms"]:
        r = vm["rules"]
        assert r["checked"] == r["passed"] + r["failed"] + r["waived"] > 0
        assert r["failed"] == len({f["rule"] for f in vm["findings"] if not f["waived"]})
    assert by["vm1"]["score"] == 100 and by["vm1"]["apply"] is None  # control: nothing to fix
    assert by["vm2"]["score"] < 100
    fixable = [f for f in by["vm2"]["findings"] if f["fixed_by_apply"] and not f["waived"]]
    assert by["vm2"]["apply"] == {"command": "vmguard apply --vm vm2", "findings": len(fixable)}
    # moving the NAT NIC onto the host-only network also ends its loopback reach (NET-003)
    assert {f["rule"] for f in fixable} == {"VMG-NET-002", "VMG-NET-003", "VMG-DEV-005"}
    s = doc["summary"]
    assert (
        s["rules"]["checked"]
        == sum(vm["rules"]["checked"] for vm in doc["vms"]) + doc["host"]["rules"]["checked"]
    )
    assert s["apply_fixes"] == sum(vm["apply"]["findings"] for vm in doc["vms"] if vm["apply"])
    assert min(vm["score"] for vm in doc["vms"]) <= s["score"] <= 100
    assert vbox["hypervisor"] == "vbox-file" and by["vm2"]["hypervisor"] == "libvirt"


def test_each_vm_gets_its_own_hypervisors_fix(two_hypervisors):
    latest, _, _ = two_hypervisors
    doc = json.loads((latest / "report.json").read_text())
    fixes = {
        vm["hypervisor"]: f["fix"] for vm in doc["vms"] for f in vm["findings"] if f["rule"] == "VMG-DEV-005"
    }
    assert LIBVIRT_FIX in fixes["libvirt"] and "VBoxManage" not in fixes["libvirt"]
    assert VBOX_FIX in fixes["vbox-file"] and "virsh" not in fixes["vbox-file"]
    md = (latest / "report.md").read_text()
    assert "`vmguard apply --vm vm2` fixes" in md and "score:" in md


def test_trend_points_are_dated(two_hypervisors):
    latest, _, _ = two_hypervisors
    trend = json.loads((latest / "report.json").read_text())["trend"]
    assert len(trend) == 2
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", p["started"]) for p in trend)


def test_node_exporter_metrics(two_hypervisors):
    latest, metrics, code = two_hypervisors
    doc = json.loads((latest / "report.json").read_text())
    text = metrics.read_text()
    samples = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
        else:
            assert re.fullmatch(r"# (HELP|TYPE) vmguard_\w+ .+", line)
    inv = f'inventory="{doc["inventory"]}"'
    for severity, n in doc["summary"]["by_severity"].items():
        assert samples[f'vmguard_audit_findings{{{inv},severity="{severity}"}}'] == n
    assert samples[f"vmguard_audit_score{{{inv}}}"] == doc["summary"]["score"]
    assert samples[f"vmguard_audit_exit_code{{{inv}}}"] == code
    assert samples[f"vmguard_audit_incomplete{{{inv}}}"] == 0
    assert abs(samples[f"vmguard_audit_last_run_timestamp_seconds{{{inv}}}"] - metrics.stat().st_mtime) < 60
    assert not list(metrics.parent.glob(".vmguard.prom.*"))  # written atomically, no leftovers


def test_incomplete_runs_reach_the_metrics(lab, tmp_path):
    text = lab.inventory.read_text().replace('uri: "test://', 'uri: "test:///nonexistent')
    lab.inventory.write_text(text)
    metrics = tmp_path / "m.prom"
    assert (
        main(["audit", "-i", str(lab.inventory), "--out", str(tmp_path / "o"), "--metrics", str(metrics)])
        == 3
    )
    assert (
        main(["audit", "-i", str(lab.inventory), "--out", str(tmp_path / "o"), "--metrics", str(metrics)])
        == 3
    )
    assert re.search(r'^vmguard_audit_incomplete\{inventory=".*"\} 1$', metrics.read_text(), re.M)
    assert re.search(r'^vmguard_audit_incomplete_runs\{inventory=".*"\} 2$', metrics.read_text(), re.M)


def _section(dom_html: str, start: str) -> str:
    at = dom_html.index(start)
    end = dom_html.find('<section class="vm">', at + 1)
    return dom_html[at : end if end > 0 else None]


def test_html_in_chromium_shows_counts_dated_trend_and_the_hypervisors_fix(two_hypervisors, tmp_path):
    latest, _, _ = two_hypervisors
    doc = json.loads((latest / "report.json").read_text())
    dom = dump_dom(tmp_path, latest / "report.html")
    ids = {a.get("id"): i for i, (_, a) in enumerate(dom.tags) if a.get("id")}
    html = "".join(dom.text)
    s = doc["summary"]
    for key, value in (
        ("score", s["score"]),
        ("rules-checked", s["rules"]["checked"]),
        ("rules-passed", s["rules"]["passed"]),
        ("rules-failed", s["rules"]["failed"]),
    ):
        assert key in ids and f"{value}" in html
    day = doc["started"][:10]
    assert [t for t, a in dom.tags if a.get("class") == "tick x-tick"]  # the dated axis
    assert day in html and "UTC" in html and "Across: the runs by start date (UTC)" in html
    assert (
        "vmguard apply --vm vm2" in html and f"fixes {vms(doc)['vm2']['apply']['findings']} of these" in html
    )
    # the rendered DOM again as text in document order, to tell the VM sections apart
    raw = dump_dom_text(tmp_path, latest / "report.html")
    libvirt = _section(raw, ">vm2<")
    vbox_name = next(vm["name"] for vm in doc["vms"] if vm["hypervisor"] == "vbox-file")
    vbox = _section(raw, f">{vbox_name}<")
    own = {"libvirt": fix_cell(libvirt, "VMG-DEV-005"), "vbox": fix_cell(vbox, "VMG-DEV-005")}
    assert LIBVIRT_FIX in own["libvirt"] and "--audio-enabled" not in own["libvirt"]
    assert VBOX_FIX in own["vbox"] and "sound model" not in own["vbox"]


def fix_cell(section: str, rule: str) -> str:
    """The fix a VM section's row of `rule` shows first (before "all hypervisors")."""
    row = next(r for r in section.split('<tr class="finding') if f"<b>{rule}</b>" in r)
    return row.split('<td class="fix">', 1)[1].split("<details>", 1)[0]


def dump_dom_text(tmp_path: Path, page: Path) -> str:
    from tests.audit.test_browser import chromium

    proc = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">")


def test_catalog_fix_variants_are_well_formed():
    catalog = load_catalog()
    varied = [r for r in catalog if r.by_hypervisor]
    assert len(varied) >= 15
    for rule in varied:
        for hypervisor, text in rule.by_hypervisor:
            assert hypervisor in ("libvirt", "virtualbox") and text
            assert ("VBoxManage" in text) <= (hypervisor == "virtualbox"), rule.id
            assert ("virsh" in text or "<" in text) <= (hypervisor == "libvirt"), rule.id
    assert catalog.get("VMG-INV-001").fix_for("libvirt") == catalog.get("VMG-INV-001").remediation


def _demo_lab(tmp_path: Path, host_only: bool = True):
    from vmguard.demo.build import write_lab
    from vmguard.demo.scenario import MANAGED, domains

    (tmp_path / "lab").mkdir()
    lab = write_lab(tmp_path / "lab", domains(tmp_path / "lab"), MANAGED)
    if not host_only:  # no network to move a NIC to: that change is the admin's
        lab.inventory.write_text(
            lab.inventory.read_text().replace("     host_only: {network: hostonly}}", "}")
        )
    return lab


@pytest.mark.parametrize("host_only", [True, False])
def test_apply_count_is_what_the_plan_changes(tmp_path, capsys, host_only):
    """ "`vmguard apply --vm X` fixes N": N counts the failing findings of rules apply fixes
    in the areas the VM's own plan changes automatically; with no host-only network to
    move the NAT VM's NIC to (a manual change), its network finding is not counted."""
    lab = _demo_lab(tmp_path, host_only)
    out = tmp_path / "out"
    main(["audit", "-i", str(lab.inventory), "--out", str(out), "--guest", "off"])
    doc = json.loads((out / "latest" / "report.json").read_text())
    capsys.readouterr()
    main(["plan", "-i", str(lab.inventory), "--format", "json"])
    plans = {p["vm"]: p for p in json.loads(capsys.readouterr().out)["plans"]}
    for vm in doc["vms"]:
        if vm["policy"]:
            assert (vm["apply"] is not None) == bool(plans[vm["name"]]["changes"]), vm["name"]
    build = vms(doc)["gleam-build-01"]
    assert {"VMG-NET-002", "VMG-NET-003", "VMG-DEV-003", "VMG-DEV-005"} <= {
        f["rule"] for f in build["findings"]
    }
    # the NAT NIC's two findings (NET-002, NET-003) only with a host-only net to move it to
    assert build["apply"]["findings"] == (4 if host_only else 2)
