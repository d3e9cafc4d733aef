"""CLI of the host set-up: `vmguard system install` (units, logrotate, links, folders)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vmguard.cli.output import OutputFormat, add_format, print_document
from vmguard.core.errors import ExitCode


def _next_steps(gate: bool) -> list[str]:
    """What the admin does after the install, in order."""
    units = "vmguard-audit.timer vmguard-watch.service" + (" vmguard-gate.service" if gate else "")
    steps = [
        "put the inventory in /etc/vmguard/inventory.yaml (policies beside it)",
        "systemctl daemon-reload",
        f"systemctl enable --now {units}",
    ]
    if gate:
        steps.append(
            "vmguard hook install --server /run/vmguard/gate.sock, then restart libvirtd (docs/gate.md)"
        )
    return steps


def _install(args: argparse.Namespace) -> int:
    from vmguard.system.install import install

    done = install(Path(args.root), gate=args.gate)
    steps = _next_steps(args.gate)
    if args.format is OutputFormat.JSON:
        doc = {"written": [str(p) for p in done.written], "folders": [str(f) for f in done.folders]}
        doc |= {"command": str(done.command), "link": str(done.link)}
        doc |= {"man_page": str(done.manual) if done.manual else None, "next": steps}
        doc |= {"changed": [str(p) for p in done.changed]}
        print_document("system-install", {**doc, "exit_code": int(ExitCode.OK)})
        return ExitCode.OK
    for path in done.written:
        print(f"{'wrote' if path in done.changed else 'kept':7} {path}")
    print(f"linked  {done.link} -> {done.command}")
    if done.manual:
        print(f"linked  {done.manual} (man vmguard)")
    print(f"folders {', '.join(str(f) for f in done.folders)}")
    print(f"next:   {steps[0]}, then")
    for step in steps[1:]:
        print(f"        {step}")
    return ExitCode.OK


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands."""
    p = sub.add_parser("system", help="set vmguard up on this host: systemd units, logrotate, folders")
    ssub = p.add_subparsers(dest="system_command", metavar="install", required=True)
    inst = ssub.add_parser(
        "install",
        help="install the shipped systemd units and logrotate snippet, link the command (and its "
        "man page) into /usr/local, create /etc/vmguard, /var/lib/vmguard and /var/log/vmguard",
    )
    inst.add_argument("--root", default="/", help="install under this folder instead of / (packaging)")
    inst.add_argument(
        "--gate",
        action="store_true",
        help="also vmguard-gate.service: `vmguard hook serve` for the libvirt start gate "
        "(docs/gate.md); not enabled by the install",
    )
    add_format(inst)
    inst.set_defaults(func=_install)
