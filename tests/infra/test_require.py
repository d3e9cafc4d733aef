"""require(): a missing prerequisite skips locally, but fails in CI."""

from __future__ import annotations

import pytest

TEST_FILE = """
from tests.support.require import require

def test_needs_a_daemon():
    require(False, "no such daemon here")

def test_has_what_it_needs():
    require(True, "never shown")
"""


def test_skips_when_not_in_ci(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest_inprocess("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*no such daemon here*"])


@pytest.mark.parametrize("ci", ["true", "1"])
def test_fails_in_ci(pytester, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*CI requires this but it is missing: no such daemon here*"])
