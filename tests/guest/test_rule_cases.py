"""Every guest rule (VMG-USR, VMG-SW) on a hardened guest, where it is silent, and on the
same guest with one thing wrong, where it fires: a compliant and a violating case each."""

from __future__ import annotations

import dataclasses

import pytest

from tests.guest.test_checks import POLICY, account, sshd, svc
from vmguard.audit.catalog import load_catalog
from vmguard.checks.registry import vm_checks
from vmguard.facts.vm import VmFacts
from vmguard.guest.model import (
    ConfigLine,
    FileInfo,
    FileMark,
    GuestFacts,
    GuestSource,
    ListeningSocket,
    LoggedInUser,
    OnlineFacts,
    Package,
    PasswordState,
)
from vmguard.policy.model import SoftwarePolicy

CHECKS = vm_checks("guest")
SRC = GuestSource("test", "/etc/x", 1)
HARDENED_SSHD = (
    ("permitrootlogin", "no"),
    ("passwordauthentication", "no"),
    ("permitemptypasswords", "no"),
    ("x11forwarding", "no"),
    ("allowtcpforwarding", "no"),
    ("permituserenvironment", "no"),
    ("ignorerhosts", "yes"),
    ("hostbasedauthentication", "no"),
)
GOOD = GuestFacts(sshd=sshd(*HARDENED_SSHD, version="8.9p1"), online=OnlineFacts(), file_marks=())
STRICT = dataclasses.replace(POLICY, software=SoftwarePolicy(forbid=("firefox",), allowed_services=("sshd",)))


def _sshd(keyword: str, value: str) -> GuestFacts:
    pairs = tuple((k, value if k == keyword else v) for k, v in HARDENED_SSHD)
    return dataclasses.replace(GOOD, sshd=sshd(*pairs, version="8.9p1"))


def _with(**changes: object) -> GuestFacts:
    return dataclasses.replace(GOOD, **changes)


ANY4 = "0.0.0.0"  # noqa: S104 (an address a guest socket listens on, not a bind)
CASES = [
    ("VMG-USR-001", _with(accounts=(account("mallory"),))),
    ("VMG-USR-002", _sshd("permitrootlogin", "yes")),
    ("VMG-USR-003", _sshd("passwordauthentication", "yes")),
    ("VMG-USR-004", _with(online=OnlineFacts(users=(LoggedInUser("mallory", SRC),)))),
    ("VMG-USR-005", _sshd("permitemptypasswords", "yes")),
    ("VMG-USR-006", _sshd("x11forwarding", "yes")),
    ("VMG-USR-007", _sshd("allowtcpforwarding", "yes")),
    ("VMG-USR-008", _sshd("permituserenvironment", "yes")),
    ("VMG-USR-009", _sshd("ignorerhosts", "no")),
    ("VMG-USR-010", _with(file_infos=(FileInfo("/etc/shadow", 0o100644, 0, 0, "root"),))),
    ("VMG-USR-011", _with(accounts=(account("admin", PasswordState.EMPTY),))),
    ("VMG-USR-012", _with(accounts=(dataclasses.replace(account("root", uid=0), gid=5),))),
    ("VMG-USR-013", _with(pam_nullok=(ConfigLine("auth sufficient pam_unix.so nullok", SRC),))),
    ("VMG-USR-014", _with(trust_files=("/root/.rhosts",))),
    ("VMG-USR-015", _with(sudo_nopasswd=(ConfigLine("bob ALL=(ALL) NOPASSWD: ALL", SRC),))),
    ("VMG-SW-001", _with(packages=(Package("firefox", "1", SRC),))),
    ("VMG-SW-002", _with(services=(svc("sshd"), svc("cups")))),
    ("VMG-SW-003", _with(online=OnlineFacts(sockets=(ListeningSocket("tcp", ANY4, 2323, SRC),)))),
    ("VMG-SW-004", _with(file_marks=(FileMark("/srv/x", 0o100666, 0, "world-writable"),))),
    ("VMG-SW-005", _with(file_marks=(FileMark("/usr/bin/vim", 0o104755, 0, "setuid"),))),
    ("VMG-SW-006", _with(problems=("packages: bad magic",))),
    ("VMG-SW-007", _with(file_infos=(FileInfo("/etc/crontab", 0o100666, 0, 0, "root"),))),
    ("VMG-SW-008", _with(packages=(Package("telnetd", "1", SRC),))),
]


def _run(rule: str, guest: GuestFacts) -> list:
    return CHECKS[rule](STRICT, VmFacts("vm1", "libvirt", guest=guest))


@pytest.mark.parametrize(("rule", "bad"), CASES, ids=[c[0] for c in CASES])
def test_rule_passes_and_fails(rule: str, bad: GuestFacts) -> None:
    assert _run(rule, GOOD) == []
    found = _run(rule, bad)
    assert found and {f.rule for f in found} == {rule}


def test_the_hardened_guest_passes_every_rule() -> None:
    assert [
        f for check in CHECKS.values() for f in check(STRICT, VmFacts("vm1", "libvirt", guest=GOOD))
    ] == []


def test_every_guest_rule_has_a_case() -> None:
    guest_rules = {r.id for r in load_catalog() if r.area in ("USR", "SW")}
    assert {c[0] for c in CASES} == guest_rules == set(CHECKS)
