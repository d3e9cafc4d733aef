"""`vmguard firewall plan|apply|show|audit|remove`: the host firewall for the VMs."""

from __future__ import annotations

import argparse
import sys

from vmguard.cli.output import OutputFormat, add_format, add_inventory, enum_option, print_document
from vmguard.core.display import shown
from vmguard.core.errors import ExitCode
from vmguard.firewall import service
from vmguard.firewall.audit import RulesetDrift
from vmguard.firewall.interfaces import with_vm_interfaces
from vmguard.inventory.loader import load_inventory
from vmguard.inventory.model import FirewallBackend, Inventory


def _inventory(args: argparse.Namespace) -> Inventory:
    """The inventory, its vm_interfaces following from the connections' host_only."""
    return with_vm_interfaces(load_inventory(args.inventory))


def register(sub: argparse._SubParsersAction) -> None:
    """Add `vmguard firewall ...`."""
    fw = sub.add_parser("firewall", help="host firewall for the VMs (nftables or iptables)")
    actions = fw.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, handler, text in (
        ("plan", _plan, "show what apply would change (exit 0 nothing, 1 changes)"),
        ("apply", _apply, "load the compiled rules (idempotent, atomic)"),
        ("show", _show, "list the live rules vmguard owns"),
        ("audit", _audit, "compare the live rules with the compiled ones (exit 1 on drift)"),
        ("remove", _remove, "remove everything vmguard added, nothing else"),
    ):
        p = actions.add_parser(name, help=text)
        add_inventory(p)
        add_format(p)
        p.add_argument(
            "--backend",
            **enum_option(FirewallBackend),
            help="default: the inventory's firewall.backend",
        )
        if name == "apply":
            p.add_argument(
                "--vm", metavar="NAME", help="update only this VM's rules (add, replace, or remove if gone)"
            )
        p.set_defaults(func=handler)


def _drifts(drifts: tuple[RulesetDrift, ...]) -> list[dict[str, str]]:
    return [{"kind": d.kind.value, "where": d.where, "detail": d.detail} for d in drifts]


def _incomplete(unseen: tuple[str, ...]) -> int:
    """What the hypervisors did not say (a VM's bridge port): exit 3 once all else is done."""
    for why in unseen:
        print(f"vmguard: incomplete: {shown(why)}", file=sys.stderr)
    return ExitCode.CANNOT_RUN if unseen else ExitCode.OK


def _plan(args: argparse.Namespace) -> int:
    result = service.plan(_inventory(args), args.backend)
    code = _incomplete(result.unseen) or (ExitCode.OK if result.up_to_date else ExitCode.CHANGES)
    if args.format is OutputFormat.JSON:
        doc = {"backend": result.backend, "up_to_date": result.up_to_date, "loaded": result.loaded}
        doc |= {"incomplete": list(result.unseen)}
        doc |= {"vms": [vm.name for vm in result.ruleset.vms], "drifts": _drifts(result.drifts)}
        print_document("firewall-plan", {**doc, "ruleset": result.text, "exit_code": int(code)})
        return code
    if result.up_to_date:
        print(f"{result.backend}: up to date ({len(result.ruleset.vms)} VMs), nothing to change")
        return code
    state = "differs from the policy" if result.loaded else "is not loaded"
    print(f"# {result.backend}: vmguard's ruleset {state}; apply would load:")
    for drift in result.drifts:
        print(f"#   {shown(drift)}")
    print(result.text, end="")
    return code  # like `vmguard plan`: automation sees pending changes


def _apply(args: argparse.Namespace) -> int:
    inventory = _inventory(args)
    if args.vm:
        action = service.apply_vm(inventory, args.vm, args.backend, events=args.events)
        return _applied(args, service.chosen_backend(inventory, args.backend), action)
    result = service.apply(inventory, args.backend, events=args.events)
    code = _incomplete(result.unseen)
    if args.format is OutputFormat.JSON:
        doc = {"vms": [vm.name for vm in result.ruleset.vms], "fixed": _drifts(result.drifts)}
        doc |= {"incomplete": list(result.unseen)}
        action = "unchanged" if result.up_to_date else "apply"
        return _applied(args, result.backend, action, doc, code)
    if result.up_to_date:
        print(f"{result.backend}: up to date, nothing changed")
    else:
        print(
            f"{result.backend}: applied rules for {len(result.ruleset.vms)} VMs "
            f"({len(result.drifts) or 'fresh'} differences fixed)"
        )
    return code


def _applied(
    args: argparse.Namespace, backend: str, action: str, doc: dict | None = None, code: int = ExitCode.OK
) -> int:
    """What apply did: `--vm`'s one line, or the JSON of either form."""
    if args.format is OutputFormat.JSON:
        head = {"backend": backend, "action": action, "vm": args.vm}
        print_document("firewall-apply", {**head, **(doc or {}), "exit_code": int(code)})
    else:
        print(f"{action}: {shown(args.vm)}")
    return code


def _show(args: argparse.Namespace) -> int:
    live = service.show(_inventory(args), args.backend)
    if args.format is OutputFormat.JSON:
        doc = {"backend": live.backend, "loaded": live.loaded, "ruleset": live.text}
        print_document("firewall-show", {**doc, "exit_code": int(ExitCode.OK)})
    else:
        print(live.text, end="")
    return ExitCode.OK


def _audit(args: argparse.Namespace) -> int:
    result = service.audit(_inventory(args), args.backend)
    code = _incomplete(result.unseen) or (ExitCode.OK if result.clean else ExitCode.FINDINGS)
    if args.format is OutputFormat.JSON:
        doc = {"backend": result.backend, "clean": result.clean, "vm_count": result.vm_count}
        doc |= {"incomplete": list(result.unseen)}
        doc |= {"drifts": _drifts(result.drifts), "unfiltered_bridges": list(result.unfiltered_bridges)}
        print_document("firewall-audit", {**doc, "exit_code": int(code)})
        return code
    for drift in result.drifts:
        print(shown(drift))
    for bridge in result.unfiltered_bridges:
        print(f"unfiltered-bridge: {shown(bridge)}: bridged VM-to-VM traffic skips netfilter")
    if result.clean:
        print(f"{result.backend}: live rules match the policy ({result.vm_count} VMs)")
    return code


def _remove(args: argparse.Namespace) -> int:
    done = service.remove(_inventory(args), args.backend, events=args.events)
    if args.format is OutputFormat.JSON:
        doc = {"backend": done.backend, "removed": done.removed, "exit_code": int(ExitCode.OK)}
        print_document("firewall-remove", doc)
    else:
        print("removed vmguard's firewall rules" if done.removed else "nothing of vmguard's was loaded")
    return ExitCode.OK
