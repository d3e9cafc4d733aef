"""./dev and .ci/run: idempotent set-up, every gate run, pytest's 'no tests' is a failure."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.require import require_root

REPO = Path(__file__).parents[2]


def dev(*args: str, root: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / "dev"), *args],
        cwd=root,
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


def guest_dirs() -> list[str]:
    found = re.search(r"^GUEST_TESTS=\(([^)]*)\)", (REPO / "dev").read_text(), re.M)
    assert found, "dev names its guest test directories in GUEST_TESTS=(...)"
    return found.group(1).split()


PASSES = "def test_passes():\n    pass\n"
FAILS = "def test_fails():\n    assert 1 == 2\n"


def skeleton(root: Path, rest_test: str | None, guest_test: str | None) -> Path:
    """A checkout with ./dev and tiny tests: `guest_test` in each GUEST_TESTS directory,
    `rest_test` in another (None: no test there). Its .venv lends the real one's tools but
    has its own install stamp, so ./dev never pip-installs this folder into the real venv."""
    real = Path(sys.prefix)  # the venv running these tests
    for name in ("dev", "pyproject.toml", "tests/support/libvirtd.sh"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes((REPO / name).read_bytes())
    (root / "dev").chmod(0o755)
    (root / "vmguard").mkdir()
    (root / "vmguard" / "__init__.py").write_text("")
    venv = root / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text((real / "pyvenv.cfg").read_text())
    for tool in ("python", "pytest", "ruff", "bandit"):
        (venv / "bin" / tool).symlink_to(real / "bin" / tool)
    stamp = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
    (venv / ".vmguard-installed").write_text(stamp + "\n")
    tests = [(root / folder, guest_test) for folder in guest_dirs()]
    for n, (folder, text) in enumerate([*tests, (root / "tests" / "other", rest_test)]):
        folder.mkdir(parents=True, exist_ok=True)
        if text is not None:
            (folder / f"test_{n}.py").write_text(text)
    return root


@pytest.mark.slow
def test_dev_test_runs_two_pytest_gates_and_each_exit_code_counts(tmp_path):
    require_root()
    failing = dev("test", root=skeleton(tmp_path / "fails", FAILS, FAILS))
    assert failing.returncode != 0
    assert "failed gates: pytest rest (exit 1) pytest guest (exit 1)" in failing.stderr, failing.stderr
    assert failing.stdout.count("FAILED tests/") == 1 + len(guest_dirs())  # both outputs shown
    empty = dev("test", root=skeleton(tmp_path / "empty", None, None))
    assert "pytest rest collected no tests" in empty.stderr
    assert "failed gates: pytest rest (exit 5) pytest guest (exit 5)" in empty.stderr, empty.stderr
    passing = dev("test", root=skeleton(tmp_path / "passes", PASSES, PASSES))
    assert passing.returncode == 0, passing.stderr
    assert "pytest rest: ok" in passing.stderr and "pytest guest: ok" in passing.stderr
    assert passing.stdout.count(" passed in ") == 2  # both summaries printed
