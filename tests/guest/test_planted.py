"""Issue #22's problems planted in a Debian-like and a RHEL 6-like guest image, each
beside a clean twin: every rule fires on the planted image with the right evidence,
and the twin (same guest, same near misses, none of the problems) gets no finding."""

from __future__ import annotations

import dataclasses

import pytest

from tests.guest.conftest import POLICY
from vmguard.checks.registry import vm_checks

CHECKS = vm_checks("guest")

pytestmark = [pytest.mark.root, pytest.mark.slow]

COMMON = {
    "VMG-USR-005": {"sshd PermitEmptyPasswords yes (/etc/ssh/sshd_config)"},
    "VMG-USR-006": {"sshd X11Forwarding yes (Match Address 192.0.2.0/24) (/etc/ssh/sshd_config)"},
    "VMG-USR-007": {"sshd AllowTcpForwarding yes (/etc/ssh/sshd_config)"},
    "VMG-USR-008": {"sshd PermitUserEnvironment yes (/etc/ssh/sshd_config)"},
    "VMG-USR-010": {"account file /etc/shadow", "account file /etc/gshadow", "account file /etc/group"},
    "VMG-USR-011": {"password of 'legacy' (/etc/passwd)", "password of 'guest' (/etc/passwd)"},
    "VMG-USR-012": {"root's primary group (/etc/passwd)"},
    "VMG-USR-014": {
        "trust file /etc/hosts.equiv",
        "trust file /root/.rhosts",
        "trust file /home/vmadmin1/.netrc",
    },
    "VMG-USR-015": {"sudo rule for vmadmin1 (/etc/sudoers.d/admins)"},
    "VMG-SW-004": {
        "world-writable /etc/profile.d/site.sh",
        "world-writable /usr/local/share/drop",
        "world-writable /etc/crontab",  # also VMG-SW-007
        "world-writable /etc/group",  # also VMG-USR-010
    },
    "VMG-SW-005": {"setuid /usr/local/bin/rootsh", "setuid /usr/bin/find"},
    "VMG-SW-007": {"cron /etc/crontab", "cron /etc/cron.daily/logrotate", "cron /etc/cron.d/backup"},
}
EXPECTED = {
    "dpkg": {
        **COMMON,
        # OpenSSH 9.2 no longer has RhostsRSAAuthentication: the planted line is ignored.
        "VMG-USR-009": {
            "sshd IgnoreRhosts no (/etc/ssh/sshd_config)",
            "sshd HostbasedAuthentication yes (/etc/ssh/sshd_config)",
        },
        "VMG-USR-013": {"PAM pam_unix.so nullok (/etc/pam.d/common-auth)"},
        "VMG-SW-008": {
            "package 'telnetd' (/var/lib/dpkg/status)",
            "package 'nis' (/var/lib/dpkg/status)",
            "service 'telnet' (/etc/xinetd.d/telnet)",
            "service 'shell' (/etc/xinetd.d/rsh)",
        },
    },
    "rpm": {
        **COMMON,
        "VMG-USR-009": {
            "sshd IgnoreRhosts no (/etc/ssh/sshd_config)",
            "sshd HostbasedAuthentication yes (/etc/ssh/sshd_config)",
            "sshd RhostsRSAAuthentication yes (/etc/ssh/sshd_config)",  # OpenSSH 5.3
        },
        "VMG-USR-013": {"PAM pam_unix.so nullok (/etc/pam.d/system-auth)"},
        "VMG-SW-004": COMMON["VMG-SW-004"] | {"world-writable /etc/cron.d"},
        "VMG-SW-007": COMMON["VMG-SW-007"] | {"cron /etc/cron.d"},
        "VMG-SW-008": {
            "package 'telnet-server' (/var/lib/rpm/Packages)",
            "package 'rsh-server' (/var/lib/rpm/Packages)",
            "package 'ypbind' (/var/lib/rpm/Packages)",
            "service 'telnet' (/etc/xinetd.d/telnet)",
            "service 'login' (/etc/xinetd.d/rlogin)",
            "service 'ypbind' (/etc/rc.d/rc3.d/S27ypbind)",
        },
    },
}


NEW_RULES = frozenset(EXPECTED["dpkg"]) | frozenset(EXPECTED["rpm"])


def findings(item):
    vm = dataclasses.replace(item.vm, guest=item.facts)
    return [f for check in CHECKS.values() for f in check(POLICY, vm)]


@pytest.mark.parametrize("family", ["dpkg", "rpm"])
def test_every_planted_problem_is_found_with_its_rule(inspected, family):
    found = findings(inspected[family])
    by_rule = {rule: {f.evidence for f in found if f.rule == rule} for rule in EXPECTED[family]}
    assert by_rule == EXPECTED[family]


@pytest.mark.parametrize("family", ["dpkg", "rpm"])
def test_clean_twin_has_no_finding_at_all(inspected, family):
    twin = inspected[f"{family}-clean"]
    assert twin.facts.problems == ()
    assert twin.facts.file_marks is not None  # the scan ran, and found only packaged set-id files
    assert {m.path: m.package for m in twin.facts.file_marks} == {
        "/usr/bin/passwd": "passwd",
        **({"/usr/bin/crontab": "dpkg-statoverride"} if family == "dpkg" else {}),
    }
    assert [(f.rule, f.evidence) for f in findings(twin)] == []


@pytest.mark.parametrize("kind", ["dpkg", "rpm", "dpkg-clean", "rpm-clean"])
def test_planted_and_clean_images_are_unchanged(inspected, kind):
    assert inspected[kind].hash_before == inspected[kind].hash_after


def test_messages_say_what_and_where(inspected):
    messages = {f.evidence: f.message for f in findings(inspected["rpm"])}
    assert messages["account file /etc/shadow"] == "/etc/shadow has mode 0644 (at most 0640)"
    assert messages["account file /etc/gshadow"] == "/etc/gshadow is owned by uid 501"
    assert messages["sudo rule for vmadmin1 (/etc/sudoers.d/admins)"] == (
        "sudo runs commands without a password (vmadmin1 ALL=(ALL) NOPASSWD: /sbin/reboot, /sbin/service): "
        "/etc/sudoers.d/admins:3 (sudoers)"
    )
    assert messages["PAM pam_unix.so nullok (/etc/pam.d/system-auth)"].endswith(
        "/etc/pam.d/system-auth:3 (PAM)"
    )
    assert "no package of the guest's package database" in messages["setuid /usr/bin/find"]
