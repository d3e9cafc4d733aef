"""The exact text admins see for typical mistakes (golden files beside this test).

To update after an intended change of wording:
    for f in tests/policy/golden/*.yaml; do vmguard policy check $f >/dev/null \
      2>${f%.yaml}.expected; echo "exit $?" >>${f%.yaml}.expected; done
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vmguard.cli import main

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(GOLDEN.glob("*.yaml"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_error_text(case, capsys, monkeypatch):
    monkeypatch.chdir(GOLDEN.parents[2])
    code = main(["policy", "check", str(case.relative_to(GOLDEN.parents[2]))])
    err = capsys.readouterr().err
    assert f"{err}exit {code}\n" == case.with_suffix(".expected").read_text()


def test_there_are_a_dozen_cases():
    assert len(CASES) >= 12


def test_five_mistakes_give_five_located_lines(capsys, monkeypatch):
    monkeypatch.chdir(GOLDEN.parents[2])
    code = main(["policy", "check", "tests/policy/golden/12-five-mistakes.yaml"])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 5
    assert all(line.startswith("tests/policy/golden/12-five-mistakes.yaml:") for line in lines)
