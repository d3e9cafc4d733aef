"""VMG-USR rules on the guest's sshd: root and password logins, empty passwords,
forwarding, user environments and rhosts/host-based trust.

Every rule reads sshd's effective values through vmguard.guest.sshd.effective (the
global value or OpenSSH's default for the guest's version, and each Match block's), so
all of them agree on what sshd does. A guest without sshd_config yields nothing here.
Each rule's fix (`@sshd_fix`, vmguard.checks.guest_sshd_fix) names the settings it writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from vmguard.checks.common import wanted
from vmguard.checks.guest_evidence import cite, place
from vmguard.checks.guest_sshd_fix import RHOSTS_RSA_REMOVED, sshd_fix
from vmguard.checks.unit import Violation
from vmguard.facts.vm import VmFacts
from vmguard.guest import sshd
from vmguard.guest.model import SshdConfig, SshdSetting
from vmguard.policy.model import Policy


def _config(facts: VmFacts) -> SshdConfig | None:
    guest = facts.guest
    return None if guest is None or guest.sshd.source is None else guest.sshd


def _sshd_violation(what: str, setting: SshdSetting | None, config: SshdConfig, want: str) -> Violation:
    scope = f" for Match {setting.match}" if setting and setting.match else ""
    version = f" of OpenSSH {config.openssh_version or '(version unknown)'}" if setting is None else ""
    label = f"sshd {what}" + (f" (Match {setting.match})" if setting and setting.match else "")
    return Violation(
        message=f"sshd {what}{scope}: {cite(setting.source if setting else None)}{version}",
        evidence=place(setting.source if setting else config.source, label),
        wanted=want,
    )


def _offending(
    facts: VmFacts, keyword: str, shown: str, bad: Callable[[str], bool], want: str
) -> Iterable[Violation]:
    """A finding for each effective value of keyword (global or Match) that `bad` rejects."""
    config = _config(facts)
    for value, setting in sshd.effective(config, keyword) if config else ():
        if bad(value):
            yield _sshd_violation(f"{shown} {value}", setting, config, want)


@sshd_fix(("PermitRootLogin", "no"))
def root_login_allowed(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    if policy.users.root_login:
        return
    want = wanted(policy, "spec.users.root_login", False)
    yield from _offending(facts, "permitrootlogin", "PermitRootLogin", lambda v: v != "no", want)


@sshd_fix(("PasswordAuthentication", "no"), pam=True)
def password_authentication(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    config = _config(facts)
    if config is None or policy.users.password_authentication:
        return
    want = wanted(policy, "spec.users.password_authentication", False)
    yield from _offending(
        facts, "passwordauthentication", "PasswordAuthentication", lambda v: v != "no", want
    )
    yield from _pam_passwords(facts, config, want)


def _global(config: SshdConfig, keyword: str) -> tuple[str, SshdSetting | None]:
    return sshd.effective(config, keyword)[0]


def _pam_passwords(facts: VmFacts, config: SshdConfig, want: str) -> Iterable[Violation]:
    """Keyboard-interactive through PAM asks for the password too."""
    if _global(config, "usepam")[0] != "yes":
        return
    shown = sshd.pam_keyword(config)
    keyword = shown.lower()
    value, setting = _global(config, keyword)
    if value != "no":
        what = f"{shown} {value} with UsePAM yes (passwords through PAM)"
        yield _sshd_violation(what, setting, config, want)


@sshd_fix(("PermitEmptyPasswords", "no"))
def empty_passwords(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    yield from _offending(
        facts,
        "permitemptypasswords",
        "PermitEmptyPasswords",
        lambda v: v != "no",
        "sshd PermitEmptyPasswords no",
    )


def _forwarding_disabled(config: SshdConfig) -> bool:
    """DisableForwarding yes (OpenSSH 7.4+) overrides every forwarding option."""
    return all(value == "yes" for value, _ in sshd.effective(config, "disableforwarding"))


def _forwarding(policy: Policy, facts: VmFacts, field: str, keyword: str) -> Iterable[Violation]:
    """sshd's `keyword` not "no" while the policy's users.ssh.`field` forbids that
    forwarding, unless DisableForwarding already turns it off."""
    config = _config(facts)
    if config is None or getattr(policy.users.ssh, field) or _forwarding_disabled(config):
        return
    want = wanted(policy, f"spec.users.ssh.{field}", False)
    yield from _offending(facts, keyword.lower(), keyword, lambda v: v != "no", want)


@sshd_fix(("X11Forwarding", "no"))
def x11_forwarding(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    yield from _forwarding(policy, facts, "x11_forwarding", "X11Forwarding")


@sshd_fix(("AllowTcpForwarding", "no"))
def tcp_forwarding(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    yield from _forwarding(policy, facts, "tcp_forwarding", "AllowTcpForwarding")


@sshd_fix(("PermitUserEnvironment", "no"))
def user_environment(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    yield from _offending(
        facts,
        "permituserenvironment",
        "PermitUserEnvironment",
        lambda v: v != "no",
        "sshd PermitUserEnvironment no",
    )


@sshd_fix(("IgnoreRhosts", "yes"), ("HostbasedAuthentication", "no"), ("RhostsRSAAuthentication", "no"))
def host_trust(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    """.rhosts/.shosts and host keys as credentials: IgnoreRhosts, HostbasedAuthentication,
    and RhostsRSAAuthentication where sshd still has it (protocol 1, before 7.4)."""
    want = "sshd IgnoreRhosts yes, HostbasedAuthentication no, RhostsRSAAuthentication no"
    yield from _offending(facts, "ignorerhosts", "IgnoreRhosts", lambda v: v != "yes", want)
    yield from _offending(
        facts, "hostbasedauthentication", "HostbasedAuthentication", lambda v: v != "no", want
    )
    config = _config(facts)
    known = sshd.version(config.openssh_version) if config else None
    if known is None or known < RHOSTS_RSA_REMOVED:
        yield from _offending(
            facts,
            "rhostsrsaauthentication",
            "RhostsRSAAuthentication",
            lambda v: v != "no",
            want,
        )
