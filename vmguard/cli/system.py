"""CLI of the host set-up: `vmguard system install` (units, logrotate, link, folders)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vmguard.core.errors import ExitCode


def _install(args: argparse.Namespace) -> int:
    from vmguard.system.install import install

    done = install(Path(args.root))
    for path in done.written:
        print(f"wrote   {path}")
    print(f"linked  {done.link} -> {done.command}")
    print(f"folders {', '.join(str(f) for f in done.folders)}")
    print("next:   put the inventory in /etc/vmguard/inventory.yaml (policies beside it), then")
    print("        systemctl daemon-reload")
    print("        systemctl enable --now vmguard-audit.timer vmguard-watch.service")
    return ExitCode.OK


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands."""
    p = sub.add_parser("system", help="set vmguard up on this host: systemd units, logrotate, folders")
    ssub = p.add_subparsers(dest="system_command", metavar="install", required=True)
    inst = ssub.add_parser(
        "install",
        help="install the shipped systemd units and logrotate snippet, link the command into "
        "/usr/local/bin, create /etc/vmguard, /var/lib/vmguard and /var/log/vmguard",
    )
    inst.add_argument("--root", default="/", help="install under this folder instead of / (packaging)")
    inst.set_defaults(func=_install)
