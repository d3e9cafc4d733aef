"""Where vmguard looks when a path is not given: /etc/vmguard for the inventory and
settings, /var/lib/vmguard for what the audit writes when run as root.

One function per default, so the options, the shipped units and the docs agree.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ETC = Path("/etc/vmguard")
INVENTORY = ETC / "inventory.yaml"
STATE = Path("/var/lib/vmguard")
SYSTEM_REPORTS = STATE / "audit_reports"


def reports_dir() -> Path:
    """/var/lib/vmguard/audit_reports as root (the system's audit); else ./audit_reports."""
    return SYSTEM_REPORTS if os.geteuid() == 0 else Path("audit_reports")


def add_reports_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default=str(reports_dir()),
        help="report folder (default: %(default)s; /var/lib/vmguard/audit_reports as root)",
    )
