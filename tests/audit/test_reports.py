"""Reports: the JSON validates against the shipped schema; VM names cannot inject markup
into Markdown or HTML; the HTML page needs nothing from the network."""

from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import pytest

from tests.audit.conftest import good
from vmguard.audit.run import run_audit
from vmguard.demo.lab import DomainSpec, Share
from vmguard.inventory.loader import load_inventory

# libvirt refuses "/" in a VM name; a share's host path carries the </script> attack.
EVIL_NAMES = [
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(2)>",
    'x" onmouseover="alert(3)',
    "[click](javascript:alert(4))",
]
EVIL_PATH = "/srv/</script><script>alert(5)</script>"


def schema() -> dict:
    text = resources.files("vmguard.audit.reports").joinpath("schema/report-v1.json").read_text()
    return json.loads(text)


@pytest.fixture
def evil_run(lab, tmp_path, events):
    """Unmanaged VMs with hostile names, a hostile share path, and a previous run."""
    evil = [DomainSpec(name, audio=True) for name in EVIL_NAMES]
    vm1 = good("vm1", lab.root)
    lab.write_domains([vm1, DomainSpec("vm2", audio=True, network="user"), *evil])
    out = tmp_path / "out"
    run_audit(load_inventory(lab.inventory), out, events=events)  # a previous run, for drift and trend
    vm2 = DomainSpec("vm2", audio=True, shares=(Share("data", EVIL_PATH),))
    lab.write_domains([vm1, vm2, *evil])
    return run_audit(load_inventory(lab.inventory), out, events=events)


def test_json_report_matches_schema(evil_run):
    doc = json.loads(evil_run.report("json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.validate(doc, schema(), format_checker=jsonschema.FormatChecker())
    assert {vm["name"] for vm in doc["vms"]} >= set(EVIL_NAMES)
    assert doc["summary"]["drift"]["resolved"] == 2  # vm2's user networking: NET-002, NET-003
    assert len(doc["trend"]) == 2
    assert doc["summary"]["fail_on"] == "high" and doc["summary"]["exit_code"] == evil_run.exit_code


def test_schema_rejects_a_wrong_document(evil_run):
    doc = json.loads(evil_run.report("json").read_text())
    doc["vms"][0]["findings"] = [{"rule": "VMG-X"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema())


def test_html_escapes_vm_names(evil_run):
    html = evil_run.report("html").read_text()
    assert "<img src=x" not in html and "<script>" not in html and "<svg onload" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(5)" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'onmouseover="alert' not in html


def test_html_is_self_contained(evil_run):
    html = evil_run.report("html").read_text()
    # no scripts, no external stylesheets, images, fonts or frames
    assert not re.search(r"<(script|link|iframe|object|embed|img)\b", html, re.I)
    assert not re.search(r"<[^>]*\b(src|href)\s*=", html, re.I)
    assert "url(" not in html
    assert "<svg" in html and "Content-Security-Policy" in html


def test_markdown_escapes_vm_names(evil_run):
    md = evil_run.report("md").read_text()
    assert not re.search(r"(?<!\\)<(img|svg|script)", md)
    assert not re.search(r"(?<!\\)\]\(javascript", md)
    assert "\\<img src=x onerror=alert(1)\\>" in md


def test_code_spans_escape_every_piece():
    from vmguard.audit.reports.html import code_spans

    html = str(code_spans("use `<graphics passwd=x>` not <b>x</b> `a&b` and `"))
    assert html == (
        "use <code>&lt;graphics passwd=x&gt;</code> not &lt;b&gt;x&lt;/b&gt; <code>a&amp;b</code> and `"
    )


def test_vms_are_listed_worst_first(lab, tmp_path, events):
    lab.write_domains(
        [good("vm1", lab.root), DomainSpec("vm2", audio=True), DomainSpec("vm0", network="bridge")]
    )
    doc = json.loads(
        run_audit(load_inventory(lab.inventory), tmp_path / "o", events=events).report("json").read_text()
    )
    assert [vm["name"] for vm in doc["vms"]] == ["vm0", "vm2", "vm1"]  # unmanaged (high), low, clean
