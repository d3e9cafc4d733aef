"""What `vmguard watch --enforce` does to a VM whose configuration drifted out of policy.

Drift here is what the start gate would refuse: an unwaived finding at or above the
policy's `enforcement.block_at` (decide.blocking, one answer for both). The policy's
`on_drift` says what follows:
- reapply: `vmguard apply` for that VM (changes a running VM cannot take are saved for
  its next boot); if the running VM is still out of policy afterwards, it is paused:
  a VM does not run out of policy;
- pause / poweroff: the running VM is paused / powered off at once; a stopped one is
  left for the start gate (libvirt) or for the next state event (VirtualBox);
- report: printed and logged only.
Every action is appended to the event log (kind "enforce").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from vmguard.audit.engine import Context, run_checks
from vmguard.audit.result import Outcome
from vmguard.core import eventlog as log
from vmguard.core.errors import VmguardError
from vmguard.drivers import Driver, facts_of
from vmguard.enforce.apply import BackupStore, apply_vm
from vmguard.facts.vm import PowerState, VmFacts
from vmguard.gate.decide import blocking
from vmguard.inventory.model import Connection, VmEntry
from vmguard.policy.model import DriftAction


@dataclass
class Enforcer:
    ctx: Context
    say: Callable[[str], None]
    events: log.EventLog
    store: BackupStore | None = None

    def __call__(
        self, driver: Driver, conn: Connection, entry: VmEntry, facts: VmFacts, found: tuple[Outcome, ...]
    ) -> None:
        blocked = blocking(found, entry)
        if blocked:
            self._enforce(entry.policy.enforcement.on_drift, blocked, driver, conn, entry, facts)
        elif facts.power_state is PowerState.RUNNING and hasattr(driver, "read_next_boot_facts"):
            self._next_boot(driver, conn, entry, facts.name)

    def _enforce(
        self,
        action: DriftAction,
        blocked: tuple[Outcome, ...],
        driver: Driver,
        conn: Connection,
        entry: VmEntry,
        facts: VmFacts,
        next_boot: bool = False,
    ) -> None:
        rules = sorted({o.finding.rule for o in blocked})
        try:
            done = self._act(action, driver, conn, entry, facts, next_boot)
        except VmguardError as err:
            done = f"failed: {err}"
        self.events.append(
            "enforce", vm=facts.name, connection=conn.name, on_drift=action.value, rules=rules, result=done
        )
        self.say(f"ENFORCE {action.value} {facts.name}: {done} ({', '.join(rules)})")

    def _next_boot(self, driver: Driver, conn: Connection, entry: VmEntry, name: str) -> None:
        """A running libvirt VM whose persistent definition drifted (`virsh define`):
        reapply fixes that definition; pause/poweroff leave the VM, whose running
        configuration is in policy, to the start gate at its next start."""
        try:
            facts = replace(driver.read_next_boot_facts(name), host_only=conn.host_only)  # type: ignore[attr-defined]
        except VmguardError as err:
            self.say(f"not covered: next-boot configuration of {name}: {err}")
            return
        blocked = blocking(run_checks(self.ctx, entry, facts), entry)
        if blocked:
            self._enforce(entry.policy.enforcement.on_drift, blocked, driver, conn, entry, facts, True)

    def _act(
        self,
        action: DriftAction,
        driver: Driver,
        conn: Connection,
        entry: VmEntry,
        facts: VmFacts,
        next_boot: bool,
    ) -> str:
        if action is DriftAction.REAPPLY:
            return self._reapply(driver, conn, entry, facts.name, next_boot)
        if action is DriftAction.REPORT:
            return "reported"
        if next_boot or (facts.power_state is PowerState.OFF and hasattr(driver, "read_next_boot_facts")):
            return "left for the start gate"  # libvirt: it refuses the next start
        if facts.power_state is not PowerState.RUNNING:
            return f"left {facts.power_state.value}"
        if action is DriftAction.PAUSE:
            driver.pause(facts.name)
            return "paused"
        driver.power_off(facts.name, hard=True)
        return "powered off"

    def _reapply(self, driver: Driver, conn: Connection, entry: VmEntry, name: str, next_boot: bool) -> str:
        outcome = apply_vm(
            driver,
            conn.name,
            name,
            entry.policy,
            next_boot=True,
            store=self.store,
            host_only=conn.host_only,
            next_boot_config=next_boot,
            events=self.events,
        )
        applied = len(outcome.result.applied) if outcome.result else 0
        after = facts_of(driver, name, conn.host_only)
        if after.power_state is PowerState.RUNNING and blocking(run_checks(self.ctx, entry, after), entry):
            driver.pause(name)
            return f"re-applied {applied} change(s); still out of policy while running: paused"
        return f"re-applied {applied} change(s)"
