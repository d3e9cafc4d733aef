"""How the sshd rules (checks.guest_sshd) are fixed: `@sshd_fix((keyword, value), ...)`
on a rule writes those settings into vmguard's managed block at the top of sshd_config
(sshd takes the first value it reads) where the effective global value differs, and
comments out a Match block's differing line (no global line overrides one).

The fix asks the rule itself first: it changes nothing the rule does not flag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from vmguard.checks.guest_fix import GuestAction, GuestChange, guest_fix
from vmguard.facts.vm import VmFacts
from vmguard.guest import sshd
from vmguard.guest.collect import SSHD_CONFIG
from vmguard.guest.model import GuestFacts
from vmguard.policy.model import Policy

RHOSTS_RSA_REMOVED = (7, 4)  # with SSH protocol 1; later sshd ignores the keyword
U = TypeVar("U", bound=Callable)


def sshd_fix(*wants: tuple[str, str], pam: bool = False) -> Callable[[U], U]:
    """wants: (keyword as written, value); pam: also turn off keyboard-interactive
    passwords where sshd uses PAM (VMG-USR-003's second question)."""

    def attach(unit: U) -> U:
        def fix(policy: Policy, facts: VmFacts) -> Iterable[GuestChange]:
            if not any(unit(policy, facts)):  # the rule's own question
                return
            for keyword, value in _wanted(wants, pam, facts.guest):
                yield from _changes(facts.guest, keyword, value)

        fix.__doc__ = (
            f"{unit.__name__}: {', '.join(f'{k} {v}' for k, v in wants)} in vmguard's managed block."
        )
        return guest_fix(fix)(unit)

    return attach


def _wanted(wants: tuple[tuple[str, str], ...], pam: bool, guest: GuestFacts) -> tuple[tuple[str, str], ...]:
    if pam and sshd.effective(guest.sshd, "usepam")[0][0] == "yes":
        wants += ((sshd.pam_keyword(guest.sshd), "no"),)
    known = sshd.version(guest.sshd.openssh_version)
    if known is not None and known >= RHOSTS_RSA_REMOVED:  # sshd would warn on it
        wants = tuple(w for w in wants if w[0] != "RhostsRSAAuthentication")
    return wants


def _changes(guest: GuestFacts, keyword: str, value: str) -> Iterable[GuestChange]:
    for current, setting in sshd.effective(guest.sshd, keyword.lower()):
        if current == value.lower():
            continue
        if setting is None or not setting.match:
            where = str(setting.source) if setting else "built-in default"
            yield GuestChange(
                action=GuestAction.SSHD_SETTING,
                subject=f"sshd {keyword}",
                current=f"{current} ({where})",
                wanted=value,
                path=SSHD_CONFIG,
                target=keyword,
                value=value,
            )
        else:
            yield _comment_out(keyword, current, setting)


def _comment_out(keyword: str, current: str, setting) -> GuestChange:
    return GuestChange(
        action=GuestAction.SSHD_COMMENT_OUT,
        subject=f"sshd {keyword} (Match {setting.match})",
        current=f"{current} ({setting.source})",
        wanted="line commented out (the global value applies)",
        path=setting.source.path,
        target=keyword,
        value=current,
        line=setting.source.line,
    )
