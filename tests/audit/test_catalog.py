"""The rule catalog: well-formed, one check per VM rule, printed by `vmguard rules`, and
shipped inside the built wheel where an installed vmguard finds it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from vmguard.audit.catalog import ID_PATTERN, REQUIRED, load_catalog
from vmguard.checks.registry import vm_checks
from vmguard.cli import main
from vmguard.core.errors import AuditError
from vmguard.quarantine.texdist import distribution_names

ROOT = Path(__file__).resolve().parents[2]
# Inventory rules: they judge a connection's VM list, not one VM's facts.
ENGINE_RULES = {"VMG-INV-001", "VMG-INV-002"}
# Families whose checks other areas own (firewall, guest inspection).
OTHER_AREAS = {"FW", "USR", "SW"}


def test_every_rule_file_is_complete():
    files = sorted((ROOT / "rules").glob("*.yaml"))
    assert len(files) >= 30
    for path in files:
        doc = yaml.safe_load(path.read_text())
        assert set(REQUIRED) <= set(doc), path
        assert ID_PATTERN.match(doc["id"]) and doc["id"] == path.stem
        assert doc["references"] and all(r["url"].startswith("https://") for r in doc["references"])
        assert len(doc["rationale"]) > 80 and len(doc["remediation"]) > 30


def test_checks_and_catalog_agree():
    catalog = load_catalog()
    checks = set(vm_checks())
    assert checks <= catalog.ids
    mine = {r.id for r in catalog if r.area not in OTHER_AREAS}
    assert mine - ENGINE_RULES <= checks


def test_required_areas_are_covered():
    areas = {rule.area for rule in load_catalog()}
    assert {"NET", "FS", "DEV", "VET", "INV"} <= areas


def test_rules_list_and_show(capsys):
    assert main(["rules", "list"]) == 0
    out = capsys.readouterr().out
    assert "VMG-DEV-001" in out and "critical" in out
    assert main(["rules", "list", "--area", "FS"]) == 0
    assert set(line.split()[0][:6] for line in capsys.readouterr().out.splitlines()) == {"VMG-FS"}
    assert main(["rules", "show", "vmg-net-003"]) == 0
    shown = capsys.readouterr().out
    assert "How to fix:" in shown and "https://www.virtualbox.org/manual/" in shown


def test_rules_show_unknown_is_an_error(capsys):
    assert main(["rules", "show", "VMG-XXX-999"]) == 2
    assert "unknown rule" in capsys.readouterr().err
    assert main(["rules", "show", "VMG-DEV-01"]) == 2
    assert "did you mean 'VMG-DEV-01" in capsys.readouterr().err


def test_malformed_rule_is_reported(tmp_path):
    (tmp_path / "VMG-DEV-999.yaml").write_text("id: VMG-DEV-999\ntitle: x\n")
    with pytest.raises(AuditError, match="lacks severity"):
        load_catalog(tmp_path)


@pytest.fixture(scope="module")
def wheel(vmguard_wheel) -> Path:
    return vmguard_wheel


def test_wheel_contains_the_catalog(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).stem for n in names if n.startswith("vmguard/catalog/")}
    assert shipped == {p.stem for p in (ROOT / "rules").glob("*.yaml")}
    assert "vmguard/audit/reports/schema/report-v1.json" in names
    assert "vmguard/audit/reports/templates/report.html.j2" in names
    assert "vmguard/demo/files/batch.yaml" in names
    assert "vmguard/quarantine/scanners/rules/secrets.yar" in names  # vet's YARA rules
    assert "vmguard/quarantine/scanners/clamav/vmguard.hdb" in names  # `vmguard scanners setup`
    # served.py's MIME tables, texdist.py's TeX names (name-config)
    for table in ("debian-mime.types", "apache-mime.types", "texlive-names.gz"):
        assert f"vmguard/quarantine/sources/{table}" in names


def test_installed_wheel_loads_its_catalog(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from vmguard.audit.catalog import load_catalog; c = load_catalog(); "
        "from vmguard.quarantine.texdist import NAMES, distribution_names; "
        "print(c.directory, len(c), NAMES, len(distribution_names()))"
    )
    # isolated mode, outside the source tree: only the installed copy can be found first
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code, str(target)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    directory, count, tex, tex_count = proc.stdout.split()
    assert directory == str(target / "vmguard" / "catalog")
    assert int(count) == len(load_catalog())
    # name-config's TeX names (texdist.py) from the installed copy's data
    assert tex == str(target / "vmguard" / "quarantine" / "sources" / "texlive-names.gz")
    assert int(tex_count) == len(distribution_names())
