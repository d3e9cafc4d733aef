"""Whether a VM may start: a pure function of (inventory, VM name, facts).

A VM is refused when a finding at or above its policy's `enforcement.block_at` is not
waived, or when no inventory entry of the gate's connection names it and the site's
`gate.unmanaged` says refuse. The refusal is one line: the worst finding, how many more,
and the command that fixes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vmguard.audit.engine import Context, make_context, run_checks
from vmguard.audit.result import Outcome
from vmguard.facts.vm import VmFacts
from vmguard.inventory.model import Inventory, Unmanaged, VmEntry


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reason: str  # one line: why refused, or what was checked
    blocking: tuple[Outcome, ...] = ()


def context() -> Context:
    return make_context(dt.date.today())


def blocking(outcomes: tuple[Outcome, ...], entry: VmEntry) -> tuple[Outcome, ...]:
    """The unwaived outcomes at or above the policy's block_at, most severe first."""
    floor = entry.policy.enforcement.block_at.rank
    found = [o for o in outcomes if not o.waived and o.severity.rank >= floor]
    return tuple(sorted(found, key=lambda o: -o.severity.rank))


def fix_command(inventory: Inventory, name: str) -> str:
    return f"vmguard apply --inventory {inventory.source} --vm {name}"


def decide(ctx: Context, inventory: Inventory, connection: str, facts: VmFacts) -> GateDecision:
    name = facts.name
    entry = inventory.entry_on(connection, name)
    if entry is None:
        if inventory.gate.unmanaged is Unmanaged.ALLOW:
            return GateDecision(True, f"VM '{name}' is in no inventory entry; gate.unmanaged: allow")
        return GateDecision(
            False,
            f"VM '{name}' is in no inventory entry of {inventory.source} (gate.unmanaged: refuse); "
            f"fix: add it to the inventory, then vmguard apply --inventory {inventory.source} --vm {name}",
        )
    found = blocking(run_checks(ctx, entry, facts), entry)
    if not found:
        return GateDecision(True, f"VM '{name}' follows {entry.policy.name}")
    worst = found[0]
    more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
    return GateDecision(
        False,
        f"VM '{name}' violates policy {entry.policy.name}: {worst.severity.value} {worst.finding.rule} "
        f"{worst.finding.message}{more}; fix: {fix_command(inventory, name)}",
        found,
    )
