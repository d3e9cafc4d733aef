"""Waivers: an active waiver marks a finding waived; an expired one makes it fail again."""

from __future__ import annotations

import datetime as dt
import fnmatch

from vmguard.audit.result import Outcome
from vmguard.policy.model import Waiver


def _matching(waivers: tuple[Waiver, ...], outcome: Outcome) -> list[Waiver]:
    finding = outcome.finding
    return [w for w in waivers if w.rule == finding.rule and fnmatch.fnmatchcase(finding.subject, w.vm)]


def apply_waivers(outcome: Outcome, waivers: tuple[Waiver, ...], today: dt.date) -> Outcome:
    """The outcome with its waiver state: the latest-expiring matching waiver decides."""
    matching = sorted(_matching(waivers, outcome), key=lambda w: w.expires)
    if not matching:
        return outcome
    latest = matching[-1]
    if latest.active(today):
        return Outcome(outcome.finding, outcome.rule, waiver=latest)
    return Outcome(outcome.finding, outcome.rule, expired_waiver=latest)
