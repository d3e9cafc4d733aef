"""How far each VM (and the run) follows its policy: rules checked, passed, failed and
waived, and a score. The one place these numbers are counted; the reports only print them.

A rule is checked on a VM when its facts were seen (the guest's rules only when the guest
was inspected); it failed when it has a failing finding there, is waived when all its
findings are waived, and passed otherwise. The score weighs each checked rule by its
severity (WEIGHTS): 100 when every weighted rule passed or is waived, 0 when all failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vmguard.audit.catalog import Catalog
from vmguard.audit.result import AuditResult, Outcome
from vmguard.core.findings import Level

WEIGHTS = {Level.CRITICAL: 8, Level.HIGH: 4, Level.MEDIUM: 2, Level.LOW: 1, Level.INFO: 0}


@dataclass(frozen=True)
class Tally:
    checked: tuple[str, ...] = ()
    failed: frozenset[str] = frozenset()
    waived: frozenset[str] = frozenset()

    @property
    def passed(self) -> tuple[str, ...]:
        return tuple(r for r in self.checked if r not in self.failed and r not in self.waived)

    def to_dict(self) -> dict[str, int]:
        counts = (len(self.checked), len(self.passed), len(self.failed), len(self.waived))
        return dict(zip(("checked", "passed", "failed", "waived"), counts, strict=True))


def tally(checked: Iterable[str], outcomes: Iterable[Outcome]) -> Tally:
    """The rules checked on one subject, sorted into passed, failed and waived."""
    outcomes = tuple(outcomes)
    failing = (o.finding.rule for o in outcomes if not o.waived)
    return tally_rules(checked, failing, (o.finding.rule for o in outcomes if o.waived))


def tally_rules(checked: Iterable[str], failing: Iterable[str], waived: Iterable[str]) -> Tally:
    """The same from rule ids: those checked, those with a failing finding and those with a
    waived one (also how a fleet report tallies a host's report.json)."""
    failed = frozenset(failing)
    waived = frozenset(waived) - failed
    every = dict.fromkeys((*checked, *failed, *waived))  # a finding's rule was checked
    return Tally(tuple(sorted(every)), failed, waived)


def score(tallies: Iterable[Tally], catalog: Catalog) -> int:
    """0-100 over every (subject, rule) checked, weighted by the rule's severity."""
    total = good = 0
    for t in tallies:
        for rule in t.checked:
            weight = WEIGHTS[catalog.get(rule).severity] if rule in catalog else 0
            total += weight
            good += 0 if rule in t.failed else weight
    return 100 if total == 0 else round(100 * good / total)


def total(tallies: Iterable[Tally]) -> dict[str, int]:
    """The counts of every subject's tally summed: (subject, rule) pairs."""
    sums = {"checked": 0, "passed": 0, "failed": 0, "waived": 0}
    for t in tallies:
        for key, n in t.to_dict().items():
            sums[key] += n
    return sums


def run_tallies(result: AuditResult) -> list[Tally]:
    """Every VM's tally and the host's."""
    host = [tally(result.host.checked, result.host.outcomes)]
    return [tally(vm.checked, vm.outcomes) for vm in result.vms] + host
