"""Rules checked, passed, failed and waived, and the score: what each counts."""

from __future__ import annotations

import datetime as dt

from vmguard.audit import scoring
from vmguard.audit.catalog import load_catalog
from vmguard.audit.result import Outcome
from vmguard.core.findings import Finding
from vmguard.policy.model import Waiver

CATALOG = load_catalog()
WAIVER = Waiver("VMG-DEV-005", "vm", "needed", "alice", dt.date(2099, 1, 1))


def outcome(rule: str, waived: bool = False) -> Outcome:
    return Outcome(
        Finding(rule=rule, subject="vm", message="m"), CATALOG.get(rule), waiver=WAIVER if waived else None
    )


CHECKED = ("VMG-NET-001", "VMG-DEV-005", "VMG-DEV-001", "VMG-FS-003")


def test_failed_waived_and_passed_partition_what_was_checked():
    t = scoring.tally(CHECKED, [outcome("VMG-NET-001"), outcome("VMG-NET-001"), outcome("VMG-DEV-005", True)])
    assert t.to_dict() == {"checked": 4, "passed": 2, "failed": 1, "waived": 1}
    assert set(t.passed) == {"VMG-DEV-001", "VMG-FS-003"}


def test_a_rule_with_one_failing_and_one_waived_finding_failed():
    t = scoring.tally(CHECKED, [outcome("VMG-DEV-005", True), outcome("VMG-DEV-005")])
    assert t.failed == {"VMG-DEV-005"} and not t.waived


def test_a_finding_counts_its_rule_as_checked_even_if_not_listed():
    t = scoring.tally((), [outcome("VMG-INV-001")])  # e.g. a rule the engine runs inline
    assert t.to_dict() == {"checked": 1, "passed": 0, "failed": 1, "waived": 0}


def test_score_weighs_by_severity():
    clean = scoring.tally(CHECKED, [])
    assert scoring.score([clean], CATALOG) == 100
    critical = scoring.tally(CHECKED, [outcome("VMG-NET-001")])  # critical 8 of 8+1+4+4 failed
    low = scoring.tally(CHECKED, [outcome("VMG-DEV-005")])  # low: 1 of 17 failed
    assert scoring.score([critical], CATALOG) < scoring.score([low], CATALOG) < 100
    assert scoring.score([critical], CATALOG) == round(100 * 9 / 17)
    waived = scoring.tally(CHECKED, [outcome("VMG-DEV-005", True)])
    assert scoring.score([waived], CATALOG) == 100  # accepted risk does not lower the score
    assert scoring.score([], CATALOG) == 100  # nothing checked: nothing failed


def test_total_sums_subjects():
    a, b = scoring.tally(CHECKED, [outcome("VMG-NET-001")]), scoring.tally(CHECKED[:2], [])
    assert scoring.total([a, b]) == {"checked": 6, "passed": 5, "failed": 1, "waived": 0}
