"""./dev and .ci/run: idempotent set-up, every gate run, pytest's 'no tests' is a failure."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.require import require_root

REPO = Path(__file__).parents[2]


def dev(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "dev"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_ci_runs_exactly_dev_test():
    lines = [
        line
        for line in (REPO / ".ci/run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[-1] == "./dev test"
    assert os.access(REPO / ".ci/run", os.X_OK) and os.access(REPO / "dev", os.X_OK)


def test_unknown_subcommand_is_a_usage_error():
    proc = dev("frobnicate")
    assert proc.returncode == 2
    assert "usage: ./dev" in proc.stderr


def test_setup_twice_installs_nothing_the_second_time():
    require_root()
    first = dev("setup")
    assert first.returncode == 0, first.stderr
    second = dev("setup")
    assert second.returncode == 0, second.stderr
    assert "installing" not in second.stderr
    assert "pip install" not in second.stderr


@pytest.mark.slow
def test_pytest_collecting_no_test_fails_dev_test():
    require_root()
    # One small file, not the whole suite: collecting ~2,000 tests again cost CI ~15 s.
    proc = dev("test", "-k", "no_test_has_this_name", "-p", "no:cacheprovider", "tests/infra/test_dev.py")
    assert proc.returncode != 0
    assert "pytest collected no tests" in proc.stderr
    assert "pytest (exit 5)" in proc.stderr
