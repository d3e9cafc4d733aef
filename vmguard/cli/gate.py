"""`vmguard hook install|remove|status|run`: the libvirt start gate (vmguard.gate)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vmguard.cli.output import OutputFormat, add_format, add_inventory, print_document
from vmguard.core.errors import ExitCode, VmguardError
from vmguard.inventory.loader import load_inventory

if TYPE_CHECKING:
    from vmguard.gate.install import InstalledHook


RESTART = "libvirtd runs hooks it found at start: restart libvirtd (or virtqemud)"


def _install(args: argparse.Namespace) -> int:
    from vmguard.gate import install

    inventory = load_inventory(args.inventory)
    found = install.install(
        inventory, args.connection, Path(args.hooks_dir), args.server or "", events=args.events
    )
    if args.format is OutputFormat.JSON:
        doc = {"path": str(found.path), "settings": _settings(found), "next": [RESTART]}
        print_document("hook-install", {**doc, "exit_code": int(ExitCode.OK)})
    else:
        print(f"installed {found.path}; {RESTART}")
    return ExitCode.OK


def _remove(args: argparse.Namespace) -> int:
    from vmguard.gate import install

    done = install.remove(Path(args.hooks_dir), events=args.events)
    if args.format is OutputFormat.JSON:
        doc = {"path": str(done.path), "removed": done.removed}
        print_document("hook-remove", {**doc, "exit_code": int(ExitCode.OK)})
    else:
        print(f"removed {done.path}" if done.removed else "no vmguard hook installed")
    return ExitCode.OK


def _status(args: argparse.Namespace) -> int:
    from vmguard.gate import install

    found = install.installed(Path(args.hooks_dir))
    changed = install.stale(found, load_inventory(found.inventory)) if found else []
    down = found is not None and found.server != "-" and not install.answers(found.server)
    code = ExitCode.FINDINGS if found is None or changed or down else ExitCode.OK
    if args.format is OutputFormat.JSON:
        print_document(
            "hook-status",
            {
                **_status_doc(install.hook_path(Path(args.hooks_dir)), found, changed, down),
                "exit_code": int(code),
            },
        )
        return code
    if found is None:
        print(f"not installed ({install.hook_path(Path(args.hooks_dir))})")
        return code
    print(
        f"installed {found.path}: inventory {found.inventory}, connection {found.connection}, "
        f"on_error {found.on_error}, timeout {found.timeout}s, "
        + (f"served by {found.server}" if found.server != "-" else "vmguard runs for each call")
    )
    for line in changed:
        print(f"stale: {line} (run vmguard hook install again)")
    if down:
        print(f"not answering: {found.server} (start vmguard hook serve; until then on_error applies)")
    return code


def _status_doc(path: Path, found: InstalledHook | None, changed: list[str], down: bool) -> dict[str, object]:
    """`hook status --format json`: the hook's settings as written in it, and what is wrong."""
    if found is None:
        return {"installed": False, "path": str(path), "settings": None, "stale": [], "server_answers": None}
    answers = None if found.server == "-" else not down
    return {
        "installed": True,
        "path": str(found.path),
        "settings": _settings(found),
        "stale": list(changed),
        "server_answers": answers,
    }


def _settings(found: InstalledHook) -> dict[str, object]:
    """The settings written in the hook file (hook install and hook status show the same)."""
    settings: dict[str, object] = {"inventory": str(found.inventory), "connection": found.connection}
    settings |= {"on_error": str(found.on_error), "timeout": found.timeout}
    settings["server"] = None if found.server == "-" else str(found.server)
    return settings


def _serve(args: argparse.Namespace) -> int:
    from vmguard.gate import server

    print(f"serving the start gate on {args.socket}", flush=True)
    server.serve(Path(args.socket), args.events)
    return ExitCode.OK


def _run(args: argparse.Namespace) -> int:
    """Called by the hook file with libvirt's arguments; never raises (see gate.hook)."""
    from vmguard.gate import hook

    try:
        inventory = load_inventory(args.inventory)
        call = hook.HookCall(args.vm, args.operation, args.sub)
        answer = hook.run(inventory, args.connection, call, sys.stdin.buffer.read(), args.events)
    except VmguardError as err:
        print(f"vmguard: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return ExitCode.CANNOT_RUN
    if answer.line:
        print(answer.line, file=sys.stderr)
    return answer.code


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands."""
    p = sub.add_parser("hook", help="the libvirt start gate: refuse to start a VM out of policy")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, func, text in (
        ("install", _install, "write the hook (HOOKS/qemu.d/vmguard) for an inventory"),
        ("remove", _remove, "delete vmguard's hook (other hooks are left alone)"),
        ("status", _status, "is it installed, with which settings; 1 when absent or stale"),
    ):
        v = verbs.add_parser(name, help=text)
        v.add_argument("--hooks-dir", default="/etc/libvirt/hooks", help="libvirt's hooks directory")
        add_format(v)
        if name == "install":
            add_inventory(v)
            v.add_argument("--connection", help="the inventory's libvirt connection this host serves")
            v.add_argument(
                "--server",
                metavar="SOCKET",
                help="ask `vmguard hook serve` on SOCKET (fast) instead of running vmguard per call",
            )
        v.set_defaults(func=func)
    v = verbs.add_parser("serve", help="answer the hook from a warm process (see --server)")
    v.add_argument("--socket", default="/run/vmguard/gate.sock")
    v.set_defaults(func=_serve)
    v = verbs.add_parser("run", help="what the hook file calls (libvirt's arguments, domain XML on stdin)")
    add_inventory(v)  # the hook file names it
    v.add_argument("--connection", required=True)
    v.add_argument("vm", metavar="VM")
    v.add_argument("operation", metavar="OPERATION")
    v.add_argument("sub", metavar="SUBOP")
    v.add_argument("extra", metavar="EXTRA", nargs="?", default="-")
    v.set_defaults(func=_run)
