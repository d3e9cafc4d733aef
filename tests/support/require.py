"""Skip a test that lacks root or a daemon locally, but never in CI: there it fails."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def require(condition: bool, why: str) -> None:
    """Skip when `condition` is false, unless CI is set: CI must never skip silently."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"CI requires this but it is missing: {why}", pytrace=False)
    pytest.skip(why)


def require_root() -> None:
    require(os.geteuid() == 0, "needs root")


def require_tools(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    require(not missing, f"needs {', '.join(missing)} (./dev setup installs it)")


def sshd_runtime_dir() -> None:
    """Make sshd's privilege-separation directory, which systemd's unit makes at boot and
    `sshd -T` and `sshd -D` both need: a fresh machine (no sshd started) lacks it, and the
    suite's two halves run in either order, so every test that runs sshd makes it."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
