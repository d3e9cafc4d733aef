"""The firewall part of `vmguard plan` and `vmguard apply`: options, the step, its text."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from vmguard.core.display import shown
from vmguard.drivers.session import Target
from vmguard.enforce.firewall import FirewallStep, bring_in_line, skipped
from vmguard.inventory.model import Inventory

SHOWN_DRIFTS = 10


def add_firewall_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-firewall",
        action="store_true",
        help="leave the host firewall alone (by default it is brought in line with the inventory)",
    )
    p.add_argument(
        "--hooks-dir",
        default="/etc/libvirt/hooks",
        help="libvirt's hooks directory, where the start hook that adds a VM's firewall entries must be",
    )


def firewall_step(
    args: argparse.Namespace, inventory: Inventory, targets: Iterable[Target], *, dry_run: bool
) -> FirewallStep:
    if args.no_firewall:
        return skipped()
    vms = [(t.connection.name, t.vm) for t in targets]
    return bring_in_line(inventory, vms, hooks_dir=Path(args.hooks_dir), dry_run=dry_run, events=args.events)


def firewall_problems(step: FirewallStep) -> int:
    """What the step could not cover, each with its reason (and fix): exit 3 or 2."""
    for problem in step.problems:
        print(f"vmguard: incomplete: {shown(problem)}", file=sys.stderr)
    return step.exit_code


def firewall_text(step: FirewallStep) -> list[str]:
    if not step.configured:
        return [f"firewall: {step.note}"]
    if not step.backend:
        return []  # it could not even be planned: the reason is on stderr
    head = f"firewall ({step.backend}): "
    if step.up_to_date:
        lines = [head + "up to date"]
    elif step.changed:
        saved = f"; the previous ruleset saved in {step.saved[0]}" if step.saved else ""
        lines = [head + f"loaded the compiled ruleset{saved}"]
    elif step.dry_run:
        lines = [head + "would load the compiled ruleset"]
    else:
        lines = [head + "differs from the compiled ruleset, left as it was (the reason is on stderr)"]
    if not step.up_to_date:
        lines += [f"  {d}" for d in step.drifts[:SHOWN_DRIFTS]]
        more = len(step.drifts) - SHOWN_DRIFTS
        lines += [f"  ... and {more} more difference(s)"] if more > 0 else []
    for vm in step.vms:
        if not vm.addressed:
            lines.append(f"  {vm.vm}: no address in the inventory, no entries (the default deny)")
        else:
            bound = f"bound to its port {vm.port}" if vm.port else "bound to no port while it is stopped"
            lines.append(f"  {vm.vm}: its entries {bound}")
    return lines
