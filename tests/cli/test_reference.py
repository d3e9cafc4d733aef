"""The man page, the shell completions and docs/policy-reference.md are generated from
their one source each (the parser, the policy schema) and committed: regenerating them
must give exactly what is committed. Fix a failure with `python -m vmguard.cli.reference`.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from vmguard.cli import reference

REGENERATE = "python -m vmguard.cli.reference"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return reference.generate()


@pytest.mark.parametrize("rel", sorted(reference.FILES))
def test_committed_reference_is_up_to_date(generated, rel):
    committed = (reference.ROOT / rel).read_text(encoding="utf-8")
    assert generated[rel] == committed, f"{rel} is stale: run `{REGENERATE}` and commit the result"


def test_generation_is_reproducible(generated):
    assert reference.generate() == generated  # no date, no terminal width in the output


def test_check_mode_names_a_stale_file(tmp_path, monkeypatch, capsys):
    """Control: the check does fail when a committed file differs."""
    for rel in reference.FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(reference.ROOT / rel, tmp_path / rel)
    (tmp_path / "docs/policy-reference.md").write_text("edited by hand\n")
    monkeypatch.setattr(reference, "ROOT", tmp_path)
    assert reference.main(["--check"]) == 1
    assert capsys.readouterr().out == "stale: docs/policy-reference.md\n"


def test_man_page_renders_without_warnings():
    proc = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z", str(reference.ROOT / "man/vmguard.1")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == ""


def test_bash_completion_completes_commands_and_enum_choices():
    script = reference.ROOT / "completion/vmguard.bash"
    words = {
        "vmguard au": "audit",
        "vmguard audit --fail-on ": "critical high medium low info never",
        "vmguard vms --format ": "text json",
    }
    for line, want in words.items():
        cmd = (
            f'source {script}; read -ra COMP_WORDS <<< "{line}"; '
            f'[[ "{line}" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); '
            f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; _shtab_vmguard; echo "${{COMPREPLY[*]}}"'
        )
        proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, check=True)
        assert proc.stdout.strip() == want, line


def test_policy_reference_lists_every_key_with_its_default(generated):
    page = generated["docs/policy-reference.md"]
    assert "| `spec.devices.clipboard` | `disabled` or `host-to-guest`" in page
    assert "`spec.quarantine.max_files` | integer >= 1 | `100000` |" in page
    assert "| `spec.waivers[].expires` |" in page
