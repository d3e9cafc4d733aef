"""docs/install.md's Debian 12 install lines and the wheel they install, for the tests
that run them (the install test and the batch site's documented install): one reading
of the one install, one way to build it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "install.md"


def build_wheel(folder: Path) -> Path:
    """A wheel of this checkout in `folder` (no dependencies, no build isolation: offline)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(folder),
            str(REPO),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = folder.glob("vmguard-*.whl")
    return wheel


def install_lines() -> list[str]:
    block = re.search(r"## On a Debian 12 host.*?```sh\n(.*?)```", DOC.read_text(), re.S)
    return block.group(1).strip().splitlines()
