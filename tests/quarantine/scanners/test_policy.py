"""The policy's `quarantine.scanners` section: model, defaults, placeholders, round trip,
and `vmguard policy check` compiling the site's YARA rule files (exit 2, located at the
rule file's line and at the policy line naming it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.policy.helpers import HEAD, check, errors, warnings
from vmguard.policy.dump import to_data
from vmguard.policy.loader import check_policy
from vmguard.policy.model import ClamdScanner, CommandScanner, Scanners, YaraScanner

ROOT = Path(__file__).parents[3]
BODY = """\
spec:
  quarantine:
    scanners:
      clamd: {{socket: /srv/clamd.sock, timeout: 2m, in_flight: 8}}
      yara: {{rules: [{site}]}}
      command: {{argv: [scan, --fd, "{{fd}}"]}}
"""
GOOD_RULE = 'rule site_marker\n{\n    strings: $a = "LAB-INTERNAL-ONLY"\n    condition: $a\n}\n'
BROKEN_RULE = 'rule broken\n{\n    strings: $a = "x"\n    condition: $a and\n}\n'


def site_file(tmp_path: Path, text: str = GOOD_RULE, name: str = "site.yar") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_each_engine_is_read_with_its_defaults(tmp_path):
    site = site_file(tmp_path)
    result = check(tmp_path, BODY.format(site=site))
    assert errors(result) == []
    assert result.policy.quarantine.scanners == Scanners(
        clamd=ClamdScanner(socket="/srv/clamd.sock", timeout=120.0, in_flight=8),
        yara=YaraScanner(rules=(str(site),), shipped=True, timeout=60.0),
        command=CommandScanner(argv=("scan", "--fd", "{fd}"), timeout=60.0),
    )


def test_no_section_means_no_scanning(tmp_path):
    assert check(tmp_path, "spec: {}\n").policy.quarantine.scanners.configured() == ()


def test_a_command_placeholder_must_be_path_or_fd(tmp_path):
    result = check(tmp_path, "spec: {quarantine: {scanners: {command: {argv: [scan, '{file}']}}}}\n")
    assert (
        "spec.quarantine.scanners.command.argv[1]: unknown placeholder {file} (use {fd}, {path})"
        in errors(result)
    )


def test_the_resolved_policy_loads_back_the_same(tmp_path):
    first = check(tmp_path, BODY.format(site=site_file(tmp_path))).policy
    (tmp_path / "again.yaml").write_text(yaml.safe_dump(to_data(first)))
    again = check(tmp_path, (tmp_path / "again.yaml").read_text(), head=False).policy
    assert again.quarantine.scanners == first.quarantine.scanners


def yara_policy(tmp_path: Path, *paths: str | Path, extra: str = "") -> Path:
    listed = ", ".join(map(str, paths))
    path = tmp_path / "p.yaml"
    path.write_text(
        HEAD + f"spec:\n  quarantine:\n    scanners:\n      yara:\n        rules: [{listed}]\n{extra}"
    )
    return path


def policy_check(*argv: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vmguard", "policy", "check", *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_policy_check_compiles_site_rules_a_syntax_error_is_exit_2_at_both_lines(tmp_path):
    site = site_file(tmp_path, BROKEN_RULE)
    policy = yara_policy(tmp_path, site)
    proc = policy_check(policy)
    assert proc.returncode == 2, proc.stderr
    col = policy.read_text().splitlines()[7].index(str(site)) + 1
    assert proc.stderr == (
        f"{site}:5:1: spec.quarantine.scanners.yara.rules[0]: yara: syntax error, "
        f"unexpected '}}' (named at {policy}:8:{col})\n"
    )
    site_file(tmp_path, GOOD_RULE)  # control: the same policy with the rule fixed
    proc = policy_check(policy)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr


def test_every_broken_site_file_is_reported_at_once(tmp_path):
    undefined = site_file(tmp_path, "rule a { condition: nosuchthing }\n", "undefined.yar")
    inner = site_file(tmp_path, "rule inner { condition: true and }\n", "inner.yar")
    outer = site_file(tmp_path, f'include "{inner}"\nrule outer {{ condition: true }}\n', "outer.yar")
    good = site_file(tmp_path)
    checked = check_policy(yara_policy(tmp_path, undefined, good, outer))
    found = [(p.file, p.line, p.where, p.message.split(" (named")[0]) for p in checked.errors]
    assert found == [
        (str(inner), 1, "spec.quarantine.scanners.yara.rules[2]", "yara: syntax error, unexpected '}'"),
        (
            str(undefined),
            1,
            "spec.quarantine.scanners.yara.rules[0]",
            'yara: undefined identifier "nosuchthing"',
        ),
    ]
    assert checked.policy is None


def test_unreadable_site_files_are_located_at_the_policy_line_and_nothing_blocks(tmp_path):
    os.mkfifo(tmp_path / "fifo.yar")  # yara itself would wait for a writer forever
    policy = yara_policy(tmp_path, tmp_path / "fifo.yar", tmp_path / "none.yar", tmp_path)
    proc = policy_check(policy)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        f"spec.quarantine.scanners.yara.rules[0]: cannot read the rule file {tmp_path}/fifo.yar: not a regular file",
        f"spec.quarantine.scanners.yara.rules[1]: cannot read the rule file {tmp_path}/none.yar: "
        "No such file or directory",
        f"spec.quarantine.scanners.yara.rules[2]: cannot read the rule file {tmp_path}: not a regular file",
    ]
    assert all(line.startswith(f"{policy}:8:") for line in lines)


def test_a_site_rule_that_slows_every_scan_is_a_warning_and_strict_fails(tmp_path):
    slow = site_file(tmp_path, "rule slow { strings: $a = { 00 ?? } condition: $a }\n", "slow.yar")
    policy = yara_policy(tmp_path, slow)
    checked = check_policy(policy)
    assert checked.errors == () and checked.policy is not None
    assert [p.where for p in checked.problems] == ["spec.quarantine.scanners.yara.rules[0]"]
    assert 'string "$a" may slow down scanning' in warnings(checked)[0]
    assert policy_check(policy).returncode == 0
    assert policy_check(policy, "--strict").returncode == 2


def test_yara_without_shipped_or_site_rules_is_an_error(tmp_path):
    result = check(tmp_path, "spec: {quarantine: {scanners: {yara: {shipped: false}}}}\n")
    assert errors(result) == [
        "spec.quarantine.scanners.yara: shipped: false and no site rules: the yara "
        "scanner would look for nothing (list rule files, or remove the section)"
    ]
    assert errors(check(tmp_path, "spec: {quarantine: {scanners: {yara: {shipped: true}}}}\n")) == []
