"""The install, units and cron lines in README.md and docs/ are the ones the install
test runs, and the cron line works under cron's PATH with the defaults."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.support.install_doc import install_lines
from vmguard.cli import build_parser
from vmguard.system.install import UNITS

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "install.md", ROOT / "docs" / "audit.md"]


def test_readme_install_block_is_the_tested_one():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Install on a host\n.*?```sh\n(.*?)```", text, re.S).group(1)
    assert block.strip().splitlines() == install_lines()


def test_the_enabled_units_are_the_shipped_ones():
    enable = next(line for line in install_lines() if line.startswith("systemctl enable"))
    named = {word for word in enable.split() if word.startswith("vmguard-")}
    assert named == {"vmguard-audit.timer", "vmguard-watch.service"} and named <= set(UNITS)


def cron_lines() -> list[str]:
    return [
        line
        for doc in DOCS
        for line in doc.read_text().splitlines()
        if re.match(r"\d+ \* \* \* \* root ", line)
    ]


def test_cron_lines_name_the_installed_command_by_full_path():
    lines = cron_lines()
    assert len(lines) == 3 and len(set(lines)) == 1  # one line, the same in every document
    command = shlex.split(lines[0].split(" root ", 1)[1].split(">", 1)[0])
    venv = next(line.split()[-1] for line in install_lines() if " -m venv " in line)
    assert command[0] == f"{venv}/bin/vmguard"  # what the documented install creates
    args = build_parser(command[1:]).parse_args(command[1:])
    assert (args.command, args.quiet) == ("audit", True)
    assert args.inventory == "/etc/vmguard/inventory.yaml"
    assert args.out == "/var/lib/vmguard/audit_reports"  # the tests run as root, as cron does


def test_the_documented_apt_packages_are_the_ci_machines():
    """The install test leaves apt-get out because CI installs these already."""
    apt = next(line for line in install_lines() if line.startswith("apt-get install"))
    wanted = {word for word in apt.split()[2:] if not word.startswith("-")}
    ci = set((ROOT / ".ci" / "apt-packages.txt").read_text().split())
    assert wanted <= ci, wanted - ci
