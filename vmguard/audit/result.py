"""What one audit run found: per-VM outcomes, the host section, and the exit code.

Produced by the engine, annotated with drift by history, rendered by reports/.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum

from vmguard.audit.catalog import Rule
from vmguard.core.errors import ExitCode
from vmguard.core.findings import Finding, Level
from vmguard.policy.model import Waiver


class Drift(StrEnum):
    NEW = "new"  # never seen in a retained run before
    OPEN = "open"  # also in the previous run
    REGRESSED = "regressed"  # seen before, absent from the previous run, back now
    RESOLVED = "resolved"  # in the previous run, gone now


@dataclass(frozen=True)
class Outcome:
    """A finding with its catalog rule, its waiver state and its drift since last run."""

    finding: Finding
    rule: Rule
    waiver: Waiver | None = None  # an active waiver: shown, does not fail the run
    expired_waiver: Waiver | None = None  # an expired one: the finding fails again
    drift: Drift = Drift.NEW

    @property
    def waived(self) -> bool:
        return self.waiver is not None

    @property
    def severity(self) -> Level:
        return self.rule.severity


@dataclass(frozen=True)
class VmReport:
    name: str
    connection: str
    policy: str = ""  # "" for an unmanaged VM
    outcomes: tuple[Outcome, ...] = ()
    error: str = ""  # the VM could not be read: its checks did not run
    incomplete: tuple[str, ...] = ()  # parts not seen (its guest, a disk): the rest was checked
    hypervisor: str = ""  # its connection's driver (libvirt, virtualbox, vbox-file)
    checked: tuple[str, ...] = ()  # the rules run over facts that were seen
    apply_areas: tuple[str, ...] = ()  # rule areas `vmguard apply` would change (its plan)


@dataclass(frozen=True)
class HostReport:
    audited: bool
    note: str  # why not audited, or what was audited
    outcomes: tuple[Outcome, ...] = ()
    error: str = ""  # the inventory configures a firewall and it could not be audited
    checked: tuple[str, ...] = ()  # the host rules run


@dataclass(frozen=True)
class TrendPoint:
    run: str
    counts: dict[str, int]  # severity -> failing findings in that run
    started: dt.datetime | None = None  # from the run's folder name (None: not a dated run)
    incomplete: bool = False  # the run could not see everything it was asked to (exit 3)


@dataclass(frozen=True)
class AuditResult:
    run: str  # the run's id, also its report folder's name
    started: dt.datetime
    inventory: str
    vms: tuple[VmReport, ...]
    host: HostReport
    errors: tuple[str, ...] = ()  # connections that could not be reached, and why
    unreached: tuple[str, ...] = ()  # their names
    resolved: tuple[Outcome, ...] = ()
    trend: tuple[TrendPoint, ...] = ()

    @property
    def outcomes(self) -> tuple[Outcome, ...]:
        return tuple(o for vm in self.vms for o in vm.outcomes) + self.host.outcomes

    @property
    def failing(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.waived)

    @property
    def not_covered(self) -> tuple[str, ...]:
        """Everything the run was asked to audit and could not, each with its reason."""
        vms = [f"{vm.name}: {vm.error}" for vm in self.vms if vm.error]
        parts = [f"{vm.name}: {why}" for vm in self.vms for why in vm.incomplete]
        host = [f"host: {self.host.error}"] if self.host.error else []
        return (*self.errors, *vms, *parts, *host)

    @property
    def unreachable(self) -> bool:
        return bool(self.not_covered)

    def counts(self) -> dict[str, int]:
        counts = {level.value: 0 for level in Level}
        for outcome in self.failing:
            counts[outcome.severity.value] += 1
        return counts

    def exit_code(self, fail_on: Level | None) -> ExitCode:
        """3 when something could not be audited (the rest was), 1 at/above fail_on (None:
        never), else 0."""
        if self.unreachable:
            return ExitCode.CANNOT_RUN
        if fail_on is not None and any(o.severity.rank >= fail_on.rank for o in self.failing):
            return ExitCode.FINDINGS
        return ExitCode.OK

    def with_drift(
        self,
        vms: tuple[VmReport, ...],
        host: HostReport,
        resolved: tuple[Outcome, ...],
        trend: tuple[TrendPoint, ...],
    ) -> AuditResult:
        return replace(self, vms=vms, host=host, resolved=resolved, trend=trend)
