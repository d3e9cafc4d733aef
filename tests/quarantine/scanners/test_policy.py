"""The policy's `quarantine.scanners` section: model, defaults, placeholders, round trip."""

from __future__ import annotations

import yaml

from tests.policy.helpers import check, errors
from vmguard.policy.dump import to_data
from vmguard.policy.model import ClamdScanner, CommandScanner, Scanners, YaraScanner

BODY = """\
spec:
  quarantine:
    scanners:
      clamd: {socket: /srv/clamd.sock, timeout: 2m, in_flight: 8}
      yara: {rules: [/etc/vmguard/site.yar]}
      command: {argv: [scan, --fd, "{fd}"]}
"""


def test_each_engine_is_read_with_its_defaults(tmp_path):
    result = check(tmp_path, BODY)
    assert errors(result) == []
    assert result.policy.quarantine.scanners == Scanners(
        clamd=ClamdScanner(socket="/srv/clamd.sock", timeout=120.0, in_flight=8),
        yara=YaraScanner(rules=("/etc/vmguard/site.yar",), shipped=True, timeout=60.0),
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
    first = check(tmp_path, BODY).policy
    (tmp_path / "again.yaml").write_text(yaml.safe_dump(to_data(first)))
    again = check(tmp_path, (tmp_path / "again.yaml").read_text(), head=False).policy
    assert again.quarantine.scanners == first.quarantine.scanners
