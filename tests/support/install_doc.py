"""docs/install.md's Debian 12 install lines, for the tests that run them (the install test
and the batch site's documented install): one reading of the one install."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "install.md"


def install_lines() -> list[str]:
    block = re.search(r"## On a Debian 12 host.*?```sh\n(.*?)```", DOC.read_text(), re.S)
    return block.group(1).strip().splitlines()
