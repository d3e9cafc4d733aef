"""The Ansible role's choice to set clamd up: `vmguard_clamd: auto` does where a pushed
policy names the clamd scanner and not elsewhere; true and false override it. (The
set-up itself is `vmguard scanners setup`: test_readme.py runs it on a fresh host.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[3]
ROLE = ROOT / "ansible" / "roles" / "vmguard"


def role_condition() -> str:
    """The `when:` under which main.yml imports clamd.yml, as the role writes it."""
    tasks = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    (task,) = [t for t in tasks if t.get("ansible.builtin.import_tasks") == "clamd.yml"]
    return task["when"]


def decides(tmp_path: Path, policy_dir: Path, *extra: str) -> bool:
    book = tmp_path / "book.yml"
    when = role_condition()
    book.write_text(f"""\
- hosts: localhost
  gather_facts: false
  vars_files: [{ROLE / "defaults" / "main.yml"}]
  tasks:
    - ansible.builtin.debug: {{msg: "DECISION={{{{ {when} }}}}"}}
""")
    ansible = Path(sys.executable).parent / "ansible-playbook"
    proc = subprocess.run(
        [
            str(ansible),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(book),
            "-e",
            f"vmguard_policy_dir={policy_dir}",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return "DECISION=True" in proc.stdout


@pytest.fixture
def policies(tmp_path):
    if not (Path(sys.executable).parent / "ansible-playbook").exists():
        pytest.skip("needs ansible-core (the test extra)")
    with_clamd, without = tmp_path / "with", tmp_path / "without"
    shutil.copytree(ROOT / "policy", with_clamd)  # base.yaml names clamd
    without.mkdir()
    (without / "p.yaml").write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: t}\n"
        "spec: {quarantine: {scanners: {yara: {}}}}\n"
    )
    return with_clamd, without


def test_auto_sets_clamd_up_only_where_a_policy_names_it(tmp_path, policies):
    with_clamd, without = policies
    assert decides(tmp_path, with_clamd) is True
    assert decides(tmp_path, without) is False
    assert decides(tmp_path, without, "-e", '{"vmguard_clamd": true}') is True
    (without / "flow.yaml").write_text("spec: {quarantine: {scanners: {yara: {}, clamd: {timeout: 60s}}}}\n")
    assert decides(tmp_path, without) is True  # flow style too
    assert decides(tmp_path, with_clamd, "-e", '{"vmguard_clamd": false}') is False
