"""Offline inspection of real ext4 images through libguestfs: facts, findings, safety."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from tests.guest.conftest import POLICY, sha256, vm_facts
from tests.guest.test_planted import NEW_RULES
from vmguard.checks.registry import vm_checks
from vmguard.core.errors import GuestError
from vmguard.guest import inspect
from vmguard.guest.cache import GuestCache, cache_key
from vmguard.guest.model import PasswordState, ServiceKind
from vmguard.guest.offline import inspect_disks

CHECKS = vm_checks("guest")

pytestmark = [pytest.mark.root, pytest.mark.slow]


def findings(item):
    vm = dataclasses.replace(item.vm, guest=item.facts)
    return [f for check in CHECKS.values() for f in check(POLICY, vm)]


def test_images_are_never_written(inspected):
    for item in inspected.values():
        assert item.hash_before == item.hash_after, item.image


def test_dpkg_guest_facts(inspected):
    facts = inspected["dpkg"].facts
    assert facts.os == "linux debian 12.5"
    assert facts.problems == ()
    names = {p.name for p in facts.packages}
    assert {"firefox-esr", "exim4-daemon-light", "openssh-server", "telnetd"} <= names
    assert "mutt" not in names  # only its config files are left
    firefox = next(p for p in facts.packages if p.name == "firefox-esr")
    assert str(firefox.source) == "/var/lib/dpkg/status:31 (dpkg status)"
    accounts = {a.name: a for a in facts.accounts}
    assert accounts["intruder"].password is PasswordState.SET
    assert accounts["retired"].password is PasswordState.LOCKED
    assert accounts["vmadmin1"].authorized_keys == 1
    root_login = facts.sshd.global_line("permitrootlogin")
    assert (root_login.value, str(root_login.source)) == ("yes", "/etc/ssh/sshd_config:4 (sshd_config)")
    kbd = facts.sshd.global_line("kbdinteractiveauthentication")  # from the Include'd file
    assert str(kbd.source) == "/etc/ssh/sshd_config.d/local.conf:1 (sshd_config)"
    assert [s.value for s in facts.sshd.conditional("x11forwarding")] == ["yes"]
    telnet = next(s for s in facts.services if s.name == "telnet")
    assert (telnet.kind, telnet.port, telnet.protocol) == (ServiceKind.XINETD, 23, "tcp")
    assert "rsync" not in {s.name for s in facts.services}  # disable = yes
    assert "/usr/lib/firefox-esr" in facts.programs


def test_rpm_guest_facts_from_berkeley_db(inspected):
    facts = inspected["rpm"].facts
    assert facts.os == "linux rhel 6.10"
    assert facts.problems == ()
    versions = {p.name: p.version for p in facts.packages}
    assert versions["openssh-server"] == "5.3p1-124.el6_10"
    assert versions["firefox"] == "52.8.0-1.el6_9"
    assert {str(p.source) for p in facts.packages} == {"/var/lib/rpm/Packages (rpm database (Berkeley DB))"}
    assert facts.sshd.openssh_version == "5.3p1-124.el6_10"
    sysv = {s.name: s for s in facts.services if s.kind is ServiceKind.SYSV}
    assert set(sysv) == {"sshd", "crond", "xinetd", "rsyslog", "ypbind"}  # sendmail: K link only
    assert sysv["sshd"].runlevels == "3"  # initdefault 3
    assert sysv["sshd"].source.path == "/etc/rc.d/rc3.d/S55sshd"
    assert "/opt/thunderbird/thunderbird" in facts.programs


def test_rpm_guest_facts_from_sqlite(inspected):
    facts = inspected["rpm-sqlite"].facts
    assert facts.os == "linux rhel 9.3"
    assert facts.problems == ()
    assert {p.name: p.version for p in facts.packages}["openssh-server"] == "8.7p1-34.el9"
    assert {str(p.source) for p in facts.packages} == {"/var/lib/rpm/rpmdb.sqlite (rpm database (sqlite))"}
    assert {s.name for s in facts.services} == {"sshd", "crond", "rsyslog", "telnet"}


def test_hostile_guest_is_read_within_limits(inspected):
    """Every trick becomes a reported problem or a harmless fact; nothing escapes the guest."""
    facts = inspected["hostile"].facts
    assert facts.os == "linux rhel 5.11"
    problems = "\n".join(facts.problems)
    assert "not a Berkeley DB hash file" in problems
    assert "/etc/ssh/sshd_config: 9437203 bytes, over the 8388608-byte limit" in problems
    assert "/etc/passwd:2: malformed entry" in problems and "/etc/passwd:3: malformed entry" in problems
    assert "services: " in problems and "Too many levels of symbolic links" in problems
    # /etc/shadow points "above" the guest's root, at a host file: never read
    assert [(a.name, a.password) for a in facts.accounts] == [("root", PasswordState.UNKNOWN)]
    assert facts.packages == () and facts.services == ()
    found = findings(inspected["hostile"])
    assert [(f.rule, f.message) for f in found if f.rule != "VMG-SW-006"] == [
        ("VMG-USR-010", "/etc/shadow is not a regular file")  # the symlink itself, never followed
    ]


def _summary(found):
    """Rules before issue #22 (test_planted checks that issue's rules on these images)."""
    return sorted((f.rule, f.evidence) for f in found if f.rule not in NEW_RULES)


def test_dpkg_guest_each_violation_found_nothing_else(inspected):
    assert _summary(findings(inspected["dpkg"])) == [
        ("VMG-SW-001", "software 'exim4' (/usr/sbin/exim4, /var/lib/dpkg/status)"),
        (
            "VMG-SW-001",
            "software 'firefox' (/usr/bin/firefox-esr, /usr/lib/firefox-esr, /var/lib/dpkg/status)",
        ),
        ("VMG-SW-002", "service 'shell' (/etc/xinetd.d/rsh)"),
        ("VMG-SW-002", "service 'telnet' (/etc/xinetd.d/telnet)"),
        ("VMG-USR-001", "account 'intruder' (/etc/passwd)"),
        ("VMG-USR-002", "sshd PermitRootLogin yes (/etc/ssh/sshd_config)"),
        ("VMG-USR-003", "sshd PasswordAuthentication yes (/etc/ssh/sshd_config)"),
    ]


def test_rpm_guest_each_violation_found_nothing_else(inspected):
    assert _summary(findings(inspected["rpm"])) == [
        ("VMG-SW-001", "software 'firefox' (/var/lib/rpm/Packages)"),
        ("VMG-SW-001", "software 'sendmail' (/var/lib/rpm/Packages)"),
        ("VMG-SW-001", "software 'thunderbird' (/opt/thunderbird, /opt/thunderbird/thunderbird)"),
        ("VMG-SW-002", "service 'login' (/etc/xinetd.d/rlogin)"),
        ("VMG-SW-002", "service 'telnet' (/etc/xinetd.d/telnet)"),
        ("VMG-SW-002", "service 'ypbind' (/etc/rc.d/rc3.d/S27ypbind)"),
        ("VMG-USR-001", "account 'operator2' (/etc/passwd)"),
        ("VMG-USR-002", "sshd PermitRootLogin yes (/etc/ssh/sshd_config)"),
        ("VMG-USR-003", "sshd PasswordAuthentication yes (/etc/ssh/sshd_config)"),
    ]


def test_rpm_sqlite_guest_each_violation_found_nothing_else(inspected):
    assert _summary(findings(inspected["rpm-sqlite"])) == [
        ("VMG-SW-001", "software 'firefox' (/var/lib/rpm/rpmdb.sqlite)"),
        ("VMG-SW-001", "software 'postfix' (/var/lib/rpm/rpmdb.sqlite)"),
        ("VMG-SW-002", "service 'telnet' (/etc/systemd/system/sockets.target.wants/telnet.socket)"),
        ("VMG-USR-001", "account 'contractor' (/etc/passwd)"),
        ("VMG-USR-002", "sshd PermitRootLogin yes (/etc/ssh/sshd_config)"),
        ("VMG-USR-003", "sshd PasswordAuthentication yes (/etc/ssh/sshd_config)"),
    ]


def test_messages_name_file_and_line(inspected):
    by_rule = {f.rule + f.message.split()[0]: f.message for f in findings(inspected["rpm"])}
    assert "/etc/ssh/sshd_config:4 (sshd_config)" in by_rule["VMG-USR-002sshd"]
    assert "/etc/passwd:5 (passwd); /etc/shadow:5 (shadow)" in by_rule["VMG-USR-001operator2"]
    assert "(not in sshd AllowUsers, /etc/ssh/sshd_config:9" in by_rule["VMG-USR-001operator2"]
    assert "package sendmail 8.14.4-9.el6 (/var/lib/rpm/Packages" in by_rule["VMG-SW-001sendmail"]


def test_permission_scan(inspected):
    marks = {(m.path, m.problem, m.package) for m in inspected["rpm"].facts.file_marks}
    assert {
        ("/usr/bin/passwd", "setuid", "passwd"),  # the rpm database lists it as setuid
        ("/usr/bin/find", "setuid", ""),  # its package says 0755
        ("/usr/local/bin/rootsh", "setuid", ""),
        ("/etc/cron.d", "world-writable", ""),
    } <= marks
    assert not {m for m in marks if m[0].startswith("/var/tmp")}  # inside sticky /var/tmp
    dpkg = {(m.path, m.package) for m in inspected["dpkg"].facts.file_marks if m.problem != "world-writable"}
    assert dpkg == {
        ("/usr/bin/passwd", "passwd"),  # /var/lib/dpkg/info/passwd.list
        ("/usr/bin/crontab", "dpkg-statoverride"),
        ("/usr/bin/find", ""),
        ("/usr/local/bin/rootsh", ""),
    }
    assert inspected["rpm-sqlite"].facts.file_marks is None  # inspected with file_scan off


def test_cache_answers_unchanged_image_without_inspecting(inspected, guest_cache):
    item = inspected["dpkg"]
    again = inspect(item.vm, cache=guest_cache, timeout=1)  # 1 s: an appliance would time out
    assert again == item.facts


def test_cache_key_follows_content_mtime_and_size(inspected, tmp_path):
    image = tmp_path / "copy.img"
    image.write_bytes(inspected["dpkg"].image.read_bytes())
    disks = [(str(image), "raw")]
    key = cache_key(disks, False)
    assert cache_key(disks, False) == key
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert cache_key(disks, False) != key
    with image.open("r+b") as f:  # same size, first block changed, mtime put back
        f.write(b"\xff")
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cache_key(disks, False) != key
    assert cache_key(disks, True) != cache_key(disks, False)


def test_timeout_kills_the_appliance_and_leaves_the_image(guest_images, monkeypatch):
    image = guest_images["rpm"]
    before = sha256(image)
    # Every process of this inspection (worker, libguestfs's recovery process, qemu)
    # inherits this mark in its environment; other test runs' appliances do not.
    mark = f"VMG_PROBE_{os.getpid()}_{time.monotonic_ns()}"
    monkeypatch.setenv(mark, "1")
    start = time.monotonic()
    with pytest.raises(GuestError, match="timed out after 4 s"):
        inspect_disks([(str(image), "raw")], timeout=4)
    assert time.monotonic() - start < 30  # the 4 s, then the kill: not a whole inspection
    assert sha256(image) == before
    time.sleep(0.5)  # SIGKILLed processes are reaped by init
    assert _marked(mark.encode()) == {}  # no worker, recovery process or qemu left


def _marked(mark: bytes) -> dict[str, bytes]:
    """pid -> command line of every process whose environment has the mark."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if mark + b"=" in Path(f"/proc/{pid}/environ").read_bytes():
                found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()[:200]
        except OSError:
            continue
    return found


def test_disk_without_an_operating_system_is_a_clear_error(tmp_path, libguestfs_tcg):
    from tests.guest.images import ext4_image

    (tmp_path / "empty").mkdir()
    image = ext4_image(tmp_path / "empty", tmp_path / "blank.img", size_mib=8)
    with pytest.raises(GuestError, match="no operating system found"):
        inspect(vm_facts("blank", image), cache=GuestCache(tmp_path / "c"), timeout=300)


def test_vm_without_disks_is_not_inspected(tmp_path):
    from vmguard.facts.vm import VmFacts

    assert inspect(VmFacts("diskless", "libvirt"), cache=GuestCache(tmp_path)) is None


def test_declared_format_is_trusted_never_probed(guest_images):
    """A raw disk declared qcow2 fails cleanly; the image's own header is never obeyed."""
    image = guest_images["rpm"]
    before = sha256(image)
    with pytest.raises(GuestError, match="qemu-img could not open it") as raised:
        inspect_disks([(str(image), "qcow2")], timeout=120)
    assert "\n" not in str(raised.value)  # one line, as every vmguard error
    assert sha256(image) == before
