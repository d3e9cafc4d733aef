"""CLI of the vm area: vms, plan, apply, rollback (thin: load, call the library, print)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TypeVar

from vmguard.cli.output import OutputFormat, add_format, add_inventory, print_document
from vmguard.cli.vm_firewall import add_firewall_options, firewall_problems, firewall_step, firewall_text
from vmguard.core.display import shown, shown_lines
from vmguard.core.errors import ExitCode, GuestError
from vmguard.core.eventlog import EventLog
from vmguard.drivers.interface import facts_of
from vmguard.drivers.session import Session, Target
from vmguard.enforce import firewall
from vmguard.enforce.apply import ApplyOutcome, apply_vm, has_backup, rollback_vm
from vmguard.enforce.plan import Plan, make_plan, plan_exit
from vmguard.facts.vm import VmFacts
from vmguard.guest.apply import GuestOutcome, apply_guest, plan_guest, rollback_guest, with_guest
from vmguard.guest.fixes import GuestPlan
from vmguard.inventory.loader import load_inventory

T = TypeVar("T")


def _plan_text(target: Target, plan: Plan) -> list[str]:
    head = f"{plan.vm} ({target.connection.name}, policy {plan.policy}, {plan.power_state.value})"
    if plan.empty:
        return [f"{head}: nothing to change"] + _guest_text(plan.guest)
    manual = f", {len(plan.manual)} to do by hand" if plan.manual else ""
    lines = [f"{head}: {len(plan.changes)} change(s){manual}"]
    lines += [f"  {c}" for c in plan.changes]
    lines += [f"  manual: {c}" for c in plan.manual]
    return lines + _guest_text(plan.guest)


def _guest_text(guest: GuestPlan | None) -> list[str]:
    if guest is None:
        return []
    if guest.refused:
        lines = [f"  guest: left untouched: {guest.refused}"]
    else:
        lines = [
            f"  guest: {len(guest.changes)} change(s)" + (f"; backup: {guest.backup}" if guest.backup else "")
        ]
    lines += [f"  {c}" for c in guest.changes]
    lines += [f"  guest manual: {m}" for m in guest.manual]
    return lines + [f"  guest: {r}" for r in guest.report_only]


def _attempt(session: Session, target: Target, fn: Callable[[Target], T]) -> T | None:
    """session.attempt, which also keeps a guest that could not be read or changed."""
    try:
        return session.attempt(target, fn)
    except GuestError as err:
        session.errors.append(err)
        return None


def _errors(session: Session) -> int:
    """What the run could not cover, each with its reason: exit 3 (incomplete)."""
    for err in session.errors:
        print(f"vmguard: incomplete: {shown(err)}", file=sys.stderr)
    return ExitCode.CANNOT_RUN if session.errors else ExitCode.OK


def _plan_for(target: Target, guest: bool = False) -> Plan:
    facts = facts_of(target.driver, target.vm, target.connection.host_only)
    plan = make_plan(target.entry.policy, facts, target.driver.capabilities)
    if not guest:
        return plan
    return replace(plan, guest=plan_guest(target.entry.policy, with_guest(facts)))


def _plan(args: argparse.Namespace) -> int:
    plans = []
    with Session(load_inventory(args.inventory)) as session:
        targets = list(session.targets(args.vm))
        for target in targets:
            plan = _attempt(session, target, lambda t: _plan_for(t, args.guest))
            if plan is None:
                continue
            plans.append(plan)
            if args.format is OutputFormat.TEXT:
                print(shown_lines(_plan_text(target, plan)))
        fw = firewall_step(args, session.inventory, targets, dry_run=True)
        if args.format is OutputFormat.TEXT:
            print(shown_lines(firewall_text(fw)))
        failed, fw_failed = _errors(session), firewall_problems(fw)  # both say why
        code = failed or fw_failed or plan_exit(plans)
        if code in (ExitCode.OK, ExitCode.MANUAL_ONLY) and not fw.up_to_date:
            code = ExitCode.CHANGES
        if args.format is OutputFormat.JSON:
            incomplete = [str(e) for e in session.errors] + list(fw.problems)
            doc = {"plans": [p.to_dict() for p in plans], "firewall": fw.to_dict(), "incomplete": incomplete}
            print_document("plan", {**doc, "exit_code": int(code)})
    return code


def _outcome_text(outcome: ApplyOutcome) -> list[str]:
    plan, result = outcome.plan, outcome.result
    if outcome.refused:
        return [
            f"{plan.vm}: refused, the VM is running and these need it powered off "
            "(use --power-off-ok to stop and restart it, or --next-boot):"
        ] + [f"  {c}" for c in outcome.refused]
    if result is None:
        return [f"{plan.vm}: nothing to do"] + [f"  manual: {c}" for c in plan.manual]
    verb = "would change" if result.dry_run else "changed"
    lines = [f"{plan.vm}: {verb} {len(plan.changes)} setting(s)"]
    lines += [f"  {c}" for c in plan.changes]
    if result.next_boot:
        lines.append(f"  takes effect at next boot ({len(result.next_boot)} change(s))")
    if outcome.backup:
        lines.append(f"  previous configuration saved to {outcome.backup}")
    lines += [f"  manual: {c}" for c in plan.manual]
    return lines


def _outcome_dict(outcome: ApplyOutcome, guest: dict | None = None) -> dict[str, object]:
    result = outcome.result
    return {
        **outcome.plan.to_dict(),
        "dry_run": bool(result and result.dry_run),
        "applied": [asdict(c) for c in result.applied] if result else [],
        "next_boot": [asdict(c) for c in result.next_boot] if result else [],
        "refused": [asdict(c) for c in outcome.refused],
        "backup": str(outcome.backup) if outcome.backup else None,
        "guest": guest,
    }


def _guest_outcome_text(outcome: GuestOutcome, dry_run: bool) -> list[str]:
    if outcome.refused:
        return [f"{outcome.vm}: guest: refused, {outcome.refused}"]
    if not outcome.plan.changes:
        return [f"{outcome.vm}: guest: nothing to change"] + _guest_text(outcome.plan)[1:]
    if dry_run:
        return [f"{outcome.vm}: guest: would make {len(outcome.plan.changes)} change(s)"] + _guest_text(
            outcome.plan
        )[1:]
    lines = [
        f"{outcome.vm}: guest: made {len(outcome.records)} change(s), disks backed up in {outcome.backup}"
    ]
    lines += [f"  {r['file']}: {r['subject']}: {r['before']} -> {r['after']}" for r in outcome.records]
    return lines + [f"  guest: {r}" for r in outcome.plan.report_only]


def _guest_dict(guests: dict[str, GuestOutcome], vm: str, dry_run: bool) -> dict | None:
    return guests[vm].to_dict(dry_run) if vm in guests else None


def _apply_guest(target: Target, dry_run: bool, events: EventLog) -> GuestOutcome:
    facts = facts_of(target.driver, target.vm, target.connection.host_only)  # after the host's changes
    return apply_guest(facts, target.entry.policy, target.connection.name, dry_run=dry_run, events=events)


def _vm_dict(
    target: Target, outcome: ApplyOutcome | None, why: str, dry_run: bool, guest: dict | None
) -> dict[str, object]:
    """A VM of `apply --format json`; one whose hypervisor part failed is there too, with
    the reason (its guest's too: `guest` null when that could not be read or changed)."""
    if outcome is None:
        outcome = ApplyOutcome(Plan(target.vm, target.entry.policy.name if target.entry else ""))
        return {**_outcome_dict(outcome, guest), "dry_run": dry_run, "error": why}
    return {**_outcome_dict(outcome, guest), "error": why or None}


def _apply(args: argparse.Namespace) -> int:
    done: list[tuple[Target, ApplyOutcome | None, str]] = []  # (VM, outcome, why none)
    guests: dict[str, GuestOutcome] = {}

    def one(target: Target) -> ApplyOutcome:
        return apply_vm(
            target.driver,
            target.connection.name,
            target.vm,
            target.entry.policy,
            dry_run=args.dry_run,
            power_off_ok=args.power_off_ok,
            next_boot=args.next_boot,
            host_only=target.connection.host_only,
            events=args.events,
        )

    with Session(load_inventory(args.inventory)) as session:
        targets = list(session.targets(args.vm))
        for target in targets:
            before = len(session.errors)
            outcome = session.attempt(target, one)
            done.append((target, outcome, str(session.errors[-1]) if len(session.errors) > before else ""))
            if outcome is not None and args.format is OutputFormat.TEXT:
                print(shown_lines(_outcome_text(outcome)))
            before = len(session.errors)
            guest = (
                _attempt(session, target, lambda t: _apply_guest(t, args.dry_run, args.events))
                if args.guest
                else None
            )
            if guest is not None:
                guests[target.vm] = guest
                if args.format is OutputFormat.TEXT:
                    print(shown_lines(_guest_outcome_text(guest, args.dry_run)))
            elif len(session.errors) > before:  # the guest's reason, after the hypervisor's
                why = "; ".join(filter(None, (done[-1][2], str(session.errors[-1]))))
                done[-1] = (target, outcome, why)
        fw = firewall_step(args, session.inventory, targets, dry_run=args.dry_run)
        if args.format is OutputFormat.TEXT:
            print(shown_lines(firewall_text(fw)))
        failed, fw_failed = _errors(session), firewall_problems(fw)  # both say why
        failed = failed or fw_failed
        outcomes = [o for _, o, _ in done if o is not None]
        refused = any(o.refused for o in outcomes) or any(g.refused for g in guests.values())
        code = failed or (ExitCode.FINDINGS if refused else ExitCode.OK)
        if args.format is OutputFormat.JSON:
            vms = [
                _vm_dict(t, o, why, args.dry_run, _guest_dict(guests, t.vm, args.dry_run))
                for t, o, why in done
            ]
            incomplete = [str(e) for e in session.errors] + list(fw.problems)
            doc = {"vms": vms, "firewall": fw.to_dict(), "incomplete": incomplete}
            print_document("apply", {**doc, "exit_code": int(code)})
    return code


def _rollback(args: argparse.Namespace) -> int:
    inventory = load_inventory(args.inventory)
    with Session(inventory) as session:
        targets = list(session.targets(args.vm))
        if not targets:  # its connection could not be opened, or it has no such VM
            raise session.errors[0]
        driver, connection = targets[0].driver, targets[0].connection.name
        # checked before anything changes: a refusal leaves all of it as it is
        undo = firewall.check_rollback(inventory, connection, args.vm, events=args.events)
        disks = rollback_guest(driver.read_facts(args.vm), connection, events=args.events)
        path, state = None, None
        if has_backup(connection, args.vm) or not (disks or undo):  # not only the guest or firewall changed
            path, state = rollback_vm(driver, connection, args.vm, events=args.events)
        record = (
            firewall.roll_back(inventory, undo, connection, args.vm, events=args.events) if undo else None
        )
    next_boot = state is not None and state.value in ("running", "paused")
    fw = {"record": str(record), "loaded": not undo.already} if undo and record else None
    if args.format is OutputFormat.JSON:
        print_document("rollback", {**_rollback_dict(args.vm, disks, path, next_boot), "firewall": fw})
        return ExitCode.OK
    if disks:
        print(shown(f"{args.vm}: restored its disk images from {disks}"))
    if path:
        note = " (takes effect at next boot)" if next_boot else ""
        print(shown(f"{args.vm}: restored the configuration saved in {path}{note}"))
    if fw:
        verb = "restored the firewall ruleset" if fw["loaded"] else "the firewall ruleset was already the one"
        print(shown(f"{args.vm}: {verb} saved in {record}"))
    return ExitCode.OK


def _rollback_dict(vm: str, disks: Path | None, path: Path | None, next_boot: bool) -> dict[str, object]:
    return {
        "vm": vm,
        "guest_backup": str(disks) if disks else None,
        "configuration": str(path) if path else None,
        "next_boot": next_boot,
        "exit_code": int(ExitCode.OK),
    }


def _facts_row(target: Target, facts: VmFacts) -> dict[str, object]:
    """One VM's settings as `vms` shows them (the text line and the JSON agree)."""
    return {
        "name": target.vm,
        "connection": target.connection.name,
        "hypervisor": facts.driver,
        "power_state": facts.power_state.value,
        "policy": target.entry.policy.name if target.entry else None,
        "nics": [n.attachment.value for n in facts.nics if n.enabled],
        "shares": [{"name": s.name, "read_only": s.read_only} for s in facts.shared_folders],
        "clipboard": facts.clipboard.value.value,
        "drag_and_drop": facts.drag_and_drop.value.value,
        "usb": list(facts.usb.controllers),
        "audio": facts.audio.enabled,
        "displays": [d.protocol.value for d in facts.displays],
        "ports": len(facts.ports),
        "host_devices": len(facts.host_devices),
        "unknown": len(facts.unknown),
        "snapshots_differ": len(facts.snapshots),
    }


def _facts_line(row: dict) -> str:
    shares = ",".join(f"{s['name']}:{'ro' if s['read_only'] else 'rw'}" for s in row["shares"])
    return (
        f"{row['name']:24} {row['connection']:10} {row['power_state']:8} "
        f"policy={row['policy'] or '-'} nics={','.join(row['nics']) or 'none'} shares={shares or 'none'} "
        f"clipboard={row['clipboard']} dnd={row['drag_and_drop']} "
        f"usb={','.join(row['usb']) or 'none'} "
        f"audio={'on' if row['audio'] else 'off'} "
        f"display={','.join(row['displays']) or 'none'} "
        f"ports={row['ports']} hostdev={row['host_devices']}"
        + (f" unknown={row['unknown']}" if row["unknown"] else "")
        + (f" snapshots-differ={row['snapshots_differ']}" if row["snapshots_differ"] else "")
    )


def _vms(args: argparse.Namespace) -> int:
    rows = []
    with Session(load_inventory(args.inventory)) as session:
        for target in session.targets(unmanaged=True):
            facts = session.attempt(target, lambda t: t.driver.read_facts(t.vm))
            if facts is not None:
                rows.append(_facts_row(target, facts))
                if args.format is OutputFormat.TEXT:
                    print(shown(_facts_line(rows[-1])))
        code = _errors(session)
        if args.format is OutputFormat.JSON:
            incomplete = [str(e) for e in session.errors]
            print_document("vms", {"vms": rows, "incomplete": incomplete, "exit_code": int(code)})
        return code


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands."""
    p = sub.add_parser("vms", help="list the VMs on the inventory's hosts with their settings")
    add_inventory(p)
    add_format(p)
    p.set_defaults(func=_vms)

    p = sub.add_parser(
        "plan", help="show what `apply` would change (exit 0 nothing, 1 changes, 4 only manual items)"
    )
    add_inventory(p)
    p.add_argument("--vm", help="only this VM")
    add_format(p)
    p.add_argument("--guest", action="store_true", help="also plan the changes inside stopped guests")
    add_firewall_options(p)
    p.set_defaults(func=_plan)

    p = sub.add_parser("apply", help="change each VM's settings to match its policy")
    add_inventory(p)
    p.add_argument("--vm", help="only this VM")
    add_format(p)
    p.add_argument("--dry-run", action="store_true", help="check the changes, make none")
    p.add_argument(
        "--guest",
        action="store_true",
        help="also change users, sshd and services inside the guest (a stopped VM; its disks are backed up)",
    )
    add_firewall_options(p)
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--power-off-ok",
        action="store_true",
        help="power a running VM off (then start it again) when a change needs it",
    )
    how.add_argument(
        "--next-boot",
        action="store_true",
        help="save changes a running VM cannot take now; they apply at next boot",
    )
    p.set_defaults(func=_apply)

    p = sub.add_parser(
        "rollback",
        help="restore a VM's configuration (and, after --guest, its disks; the firewall its last apply "
        "changed) from before the last apply",
    )
    p.add_argument("vm", metavar="VM")
    add_inventory(p)
    add_format(p)
    p.set_defaults(func=_rollback)
