"""Issue #22's parsers and rules on text and facts built here: the edge cases of each."""

from __future__ import annotations

import dataclasses
import stat
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.guest.test_checks import POLICY, SAFE, run, sshd
from vmguard.guest import access, scan
from vmguard.guest import sshd as sshd_config
from vmguard.guest.model import (
    Account,
    ConfigLine,
    FileInfo,
    GuestFacts,
    GuestSource,
    Package,
    PasswordState,
    Service,
    ServiceKind,
)
from vmguard.guest.rpmheader import HeaderError, parse_header
from vmguard.policy.model import SshPolicy, UsersPolicy

PAM = "/etc/pam.d/system-auth"


def test_pam_nullok_only_as_an_argument_of_a_real_line():
    text = (
        "# auth sufficient pam_unix.so nullok\n"
        "auth [success=1 default=ignore] pam_unix.so nullok_secure\n"
        "-auth sufficient pam_unix.so try_first_pass nullok # distribution default\n"
        "password sufficient pam_unix.so sha512 shadow\n"
        "auth required pam_env.so # nullok\n"
        "account required nullok\n"  # a module named nullok, no arguments
    )
    found = access.pam_nullok(text, PAM)
    assert [(x.source.line, access.pam_fields(x.text)[2]) for x in found] == [
        (2, "pam_unix.so"),
        (3, "pam_unix.so"),
    ]
    assert access.pam_fields(found[0].text)[1] == "[success=1 default=ignore]"


def test_sudo_nopasswd_continuations_comments_includes():
    text = (
        "Defaults env_reset\n"
        "# admin ALL=(ALL) NOPASSWD: ALL\n"
        "#includedir /etc/sudoers.d\n"
        "@include extra\n"
        "ops ALL=(ALL) \\\n  NOPASSWD: /sbin/reboot\n"
        "#1000 ALL=(ALL) NOPASSWD:ALL\n"  # "#1000" is a uid, not a comment
        "Defaults:backup !authenticate\n"
        "alice ALL=(ALL) PASSWD: ALL # NOPASSWD: not here\n"
    )
    found, includes = access.sudo_nopasswd(text, "/etc/sudoers")
    assert [(x.source.line, x.text) for x in found] == [
        (5, "ops ALL=(ALL) NOPASSWD: /sbin/reboot"),
        (7, "#1000 ALL=(ALL) NOPASSWD:ALL"),
        (8, "Defaults:backup !authenticate"),
    ]
    assert includes == ["dir /etc/sudoers.d", "extra"]


def test_statoverride_counts_only_set_id_modes():
    text = "root crontab 2755 /usr/bin/crontab\nroot root 0755 /usr/bin/x\nbroken line\nroot root 4zz /y\n"
    assert scan.statoverride_setid(text) == {"/usr/bin/crontab": "dpkg-statoverride"}


def test_group_names():
    assert access.group_names("root:x:0:\nshadow:x:42:\nbad\nx:x:notanumber:\n") == {0: "root", 42: "shadow"}


FILE, DIR = stat.S_IFREG, stat.S_IFDIR


def test_world_writable_outside_sticky_folders_only():
    modes = {
        "/tmp": (DIR | 0o1777, 0),
        "/tmp/a": (DIR | 0o777, 5),
        "/tmp/a/b": (FILE | 0o666, 5),  # under a sticky folder: the users' own
        "/etc/cron.d": (DIR | 0o777, 0),
        "/etc/motd": (FILE | 0o666, 0),
        "/srv/drop": (DIR | 0o1733, 0),  # sticky and world-writable: like /tmp
        "/srv/drop/f": (FILE | 0o666, 0),
        "/dev/null": (stat.S_IFCHR | 0o666, 0),  # devices are not files to change
        "/etc/link": (stat.S_IFLNK | 0o777, 0),
        "/var/mail": (DIR | 0o2775, 0),  # setgid folder: not a set-id program
        "/usr/bin/su": (FILE | 0o4755, 0),
        "/usr/bin/wall": (FILE | 0o2755, 0),
    }
    marks = [(m.path, m.problem) for m in scan.marks_of(modes)]
    assert marks == [
        ("/etc/cron.d", "world-writable"),
        ("/etc/motd", "world-writable"),
        ("/usr/bin/su", "setuid"),
        ("/usr/bin/wall", "setgid"),
    ]


def test_merged_usr_names_one_file():
    assert scan.aliases("/bin/su") == {"/bin/su", "/usr/bin/su"}
    assert scan.aliases("/usr/sbin/unix_chkpwd") == {"/usr/sbin/unix_chkpwd", "/sbin/unix_chkpwd"}
    assert scan.aliases("/usr/local/bin/x") == {"/usr/local/bin/x"}
    marks = scan.marks_of({"/usr/bin/su": (FILE | 0o4755, 0)})
    assert [m.package for m in scan.with_packages(marks, {"/bin/su": "login"})] == ["login"]


def header(tags: list[tuple[int, int, bytes, int]]) -> bytes:
    """An rpm header blob from (tag, type, data, count) entries, data laid out in order."""
    index, data = b"", b""
    for tag, typ, payload, count in tags:
        while typ == 3 and len(data) % 2 or typ == 4 and len(data) % 4:
            data += b"\0"
        index += struct.pack(">IIiI", tag, typ, len(data), count)
        data += payload
    return struct.pack(">II", len(tags), len(data)) + index + data


IDENTITY = [(1000, 6, b"pkg\0", 1), (1001, 6, b"1\0", 1), (1002, 6, b"1\0", 1)]


def files_header(modes: list[int], bases: list[str], dirs: list[str], indexes: list[int]) -> bytes:
    return header(
        IDENTITY
        + [
            (1030, 3, struct.pack(f">{len(modes)}H", *modes), len(modes)),
            (1116, 4, struct.pack(f">{len(indexes)}I", *indexes), len(indexes)),
            (1117, 8, b"".join(b.encode() + b"\0" for b in bases), len(bases)),
            (1118, 8, b"".join(d.encode() + b"\0" for d in dirs), len(dirs)),
        ]
    )


def test_rpm_header_set_id_files():
    blob = files_header(
        [FILE | 0o4755, FILE | 0o755, DIR | 0o2755], ["su", "ls", "d"], ["/bin/", "/x/"], [0, 0, 1]
    )
    assert parse_header(blob).setid_files == ("/bin/su",)
    old = header(IDENTITY + [(1030, 3, struct.pack(">H", FILE | 0o2711), 1), (1027, 8, b"/usr/bin/w\0", 1)])
    assert parse_header(old).setid_files == ("/usr/bin/w",)  # rpm before 4.0: whole names
    assert parse_header(header(IDENTITY)).setid_files == ()


@pytest.mark.parametrize(
    ("modes", "bases", "dirs", "indexes", "why"),
    [
        ([FILE | 0o4755], ["a", "b"], ["/"], [0, 0], "file names but"),
        ([FILE | 0o4755], ["a"], ["/"], [3], "indexes do not match"),
        ([FILE | 0o4755, 0], ["a"], ["/"], [0], "file names but"),
    ],
)
def test_rpm_header_file_lists_that_do_not_add_up_are_refused(modes, bases, dirs, indexes, why):
    with pytest.raises(HeaderError, match=why):
        parse_header(files_header(modes, bases, dirs, indexes))


def test_rpm_header_unterminated_or_overlong_file_lists_are_refused():
    unterminated = header(IDENTITY + [(1030, 3, b"\x81\xed", 1), (1027, 8, b"/x" * 10, 1)])
    with pytest.raises(HeaderError, match="not terminated"):
        parse_header(unterminated)
    lying = header(IDENTITY + [(1030, 3, b"\x81\xed", 500_000), (1027, 8, b"/x\0", 1)])
    with pytest.raises(HeaderError, match="aligned 16-bit"):
        parse_header(lying)


@given(st.text(max_size=400))
def test_new_parsers_never_crash(text):
    access.pam_nullok(text, PAM)
    access.sudo_nopasswd(text, "/etc/sudoers")
    access.group_names(text)
    scan.statoverride_setid(text)


def test_sshd_defaults_per_version():
    assert sshd_config.version("1:9.2p1-2") == (9, 2)
    assert sshd_config.version("5.3p1-124.el6_10") == (5, 3)
    assert sshd_config.version("") is None
    assert sshd_config.default("allowtcpforwarding", "5.3p1") == "yes"
    assert sshd_config.default("permitrootlogin", "7.4p1") == "prohibit-password"
    config = sshd(("x11forwarding", "no"), ("x11forwarding", "yes"))
    assert [v for v, _ in sshd_config.effective(config, "x11forwarding")] == ["no"]  # first wins
    assert [(v, s) for v, s in sshd_config.effective(config, "permitemptypasswords")] == [("no", None)]


def sshd_rules(config, policy=POLICY):
    return [
        (f.rule, f.evidence) for f in run(GuestFacts(sshd=config), policy) if f.rule.startswith("VMG-USR")
    ]


def test_forwarding_rules_and_their_knobs():
    base = (("permitrootlogin", "no"), ("passwordauthentication", "no"))
    config = sshd(*base, ("x11forwarding", "yes"))
    assert sshd_rules(config) == [
        ("VMG-USR-006", "sshd X11Forwarding yes (/etc/ssh/sshd_config)"),
        ("VMG-USR-007", "sshd AllowTcpForwarding yes (/etc/ssh/sshd_config)"),  # OpenSSH's default
    ]
    dev = dataclasses.replace(POLICY, users=UsersPolicy(("admin",), ssh=SshPolicy(True, True)))
    assert sshd_rules(config, dev) == []
    assert sshd_rules(sshd(*base, ("x11forwarding", "yes"), ("disableforwarding", "yes"))) == []
    local = sshd(*base, ("allowtcpforwarding", "local"))
    assert sshd_rules(local) == [("VMG-USR-007", "sshd AllowTcpForwarding local (/etc/ssh/sshd_config)")]


def test_forwarding_switched_back_on_in_a_match_block():
    off = sshd(("permitrootlogin", "no"), ("passwordauthentication", "no"), ("disableforwarding", "yes"))
    dev = sshd(("disableforwarding", "no"), ("x11forwarding", "yes"), match="User dev")
    assert sshd_rules(off) == []  # DisableForwarding yes covers X11 and TCP
    assert sshd_rules(dataclasses.replace(off, settings=off.settings + dev.settings)) == [
        ("VMG-USR-006", "sshd X11Forwarding yes (Match User dev) (/etc/ssh/sshd_config)"),
        ("VMG-USR-007", "sshd AllowTcpForwarding yes (/etc/ssh/sshd_config)"),
    ]


def test_rhosts_rsa_only_where_sshd_still_has_it():
    planted = (
        ("permitrootlogin", "no"),
        ("passwordauthentication", "no"),
        ("allowtcpforwarding", "no"),
        ("rhostsrsaauthentication", "yes"),
    )
    assert sshd_rules(sshd(*planted, version="4.3p2-82.el5")) == [
        ("VMG-USR-009", "sshd RhostsRSAAuthentication yes (/etc/ssh/sshd_config)")
    ]
    assert sshd_rules(sshd(*planted, version="")) != []  # version unknown: assume old
    assert sshd_rules(sshd(*planted, version="1:9.2p1-2")) == []


def test_empty_passwords_user_environment_host_trust():
    config = sshd(
        ("permitrootlogin", "no"),
        ("passwordauthentication", "no"),
        ("allowtcpforwarding", "no"),
        ("permitemptypasswords", "yes"),
        ("permituserenvironment", "LANG,LC_*"),
        ("ignorerhosts", "no"),
        ("hostbasedauthentication", "yes"),
    )
    assert [r for r, _ in sshd_rules(config)] == ["VMG-USR-005", "VMG-USR-008", "VMG-USR-009", "VMG-USR-009"]


def info(path, mode, uid=0, gid=0, group="root"):
    return FileInfo(path, mode, uid, gid, group)


def test_account_files():
    infos = (
        info("/etc/shadow", FILE | 0o640, gid=42, group="shadow"),  # Debian
        info("/etc/gshadow", FILE | 0o000),  # RHEL
        info("/etc/passwd", FILE | 0o644),
        info("/etc/group", FILE | 0o640, gid=100, group="users"),
    )
    found = run(GuestFacts(sshd=SAFE, file_infos=infos))
    assert [(f.rule, f.message) for f in found] == [("VMG-USR-010", "/etc/group has group users")]
    bad = (
        info("/etc/shadow", FILE | 0o644, uid=7, gid=100, group="users"),
        info("/etc/passwd", stat.S_IFLNK | 0o777),
    )
    assert [f.message for f in run(GuestFacts(sshd=SAFE, file_infos=bad))] == [
        "/etc/shadow is owned by uid 7, has group users, has mode 0644 (at most 0640)",
        "/etc/passwd is not a regular file",
    ]


def account(name, **fields):
    base = dict(
        uid=500,
        login_shell="/sbin/nologin",
        home=f"/home/{name}",
        password=PasswordState.LOCKED,
        authorized_keys=0,
        interactive_shell=False,
        source=GuestSource("passwd", "/etc/passwd", 1),
    )
    return Account(name=name, **{**base, **fields})


def test_unshadowed_empty_passwords_and_root_group():
    accounts = (
        account("root", uid=0, gid=10),
        account("legacy", shadowed=False, password=PasswordState.SET),
        account("guest", password=PasswordState.EMPTY),
        account("ok", gid=500),
    )
    found = run(GuestFacts(sshd=SAFE, accounts=accounts))
    assert [(f.rule, f.evidence) for f in found] == [
        ("VMG-USR-011", "password of 'legacy' (/etc/passwd)"),
        ("VMG-USR-011", "password of 'guest' (/etc/passwd)"),
        ("VMG-USR-012", "root's primary group (/etc/passwd)"),
    ]


def test_trust_files_and_sudo_lines():
    sudo = ConfigLine("ops ALL=(ALL) NOPASSWD: ALL", GuestSource("sudoers", "/etc/sudoers.d/ops", 2))
    guest = GuestFacts(sshd=SAFE, trust_files=("/root/.rhosts",), sudo_nopasswd=(sudo,))
    assert [(f.rule, f.evidence) for f in run(guest)] == [
        ("VMG-USR-014", "trust file /root/.rhosts"),
        ("VMG-USR-015", "sudo rule for ops (/etc/sudoers.d/ops)"),
    ]


def test_cron_files():
    infos = (
        info("/etc/crontab", FILE | 0o644),
        info("/etc/cron.d", DIR | 0o775),  # group-writable
        info("/etc/cron.daily/x", FILE | 0o755, uid=501),
        info("/etc/cron.d/link", stat.S_IFLNK | 0o777),
        info("/var/spool/cron/alice", FILE | 0o600, uid=500),  # alice's own
        info("/var/spool/cron/crontabs", DIR | 0o1730, gid=107, group="crontab"),  # Debian's
        info("/var/spool/cron/bob", FILE | 0o666, uid=501),
    )
    found = run(GuestFacts(sshd=SAFE, file_infos=infos))
    assert [f.message for f in found] == [
        "cron folder /etc/cron.d is writable by its group (mode 0775)",
        "cron file /etc/cron.daily/x is owned by uid 501",
        "cron file /var/spool/cron/bob is world-writable",
    ]


def test_legacy_remote_login_packages_and_services():
    source = GuestSource("rpm database (Berkeley DB)", "/var/lib/rpm/Packages")
    packages = tuple(Package(n, "1", source) for n in ("rsh-server", "rsh", "telnet", "ypbind", "ypserv"))
    services = (
        Service("xinetd", ServiceKind.SYSV, GuestSource("SysV init link", "/etc/rc3.d/S56xinetd")),
        Service("login", ServiceKind.XINETD, GuestSource("xinetd", "/etc/xinetd.d/rlogin", 1)),
        Service("login", ServiceKind.SYSV, GuestSource("SysV init link", "/etc/rc3.d/S99login")),
        Service(
            "rexec",
            ServiceKind.SYSTEMD,
            GuestSource("systemd wants link", "/etc/systemd/system/x/rexec.socket"),
        ),
    )
    found = run(GuestFacts(sshd=SAFE, packages=packages, services=services), rule="VMG-SW-008")
    assert [f.evidence for f in found] == [
        "package 'rsh-server' (/var/lib/rpm/Packages)",  # the clients rsh and telnet are not servers
        "package 'ypbind' (/var/lib/rpm/Packages)",
        "package 'ypserv' (/var/lib/rpm/Packages)",
        "service 'rexec' (/etc/systemd/system/x/rexec.socket)",  # a SysV "login" is not rlogin
        "service 'login' (/etc/xinetd.d/rlogin)",  # xinetd names rlogin after /etc/services
    ]


class FakeTree:
    """A guest file tree for the sudoers walk: {path: text}, folders from the paths.
    (GuestfsFiles needs an appliance; the walk only calls read_text and listdir.)"""

    def __init__(self, files):
        self.files, self.reads = files, []

    def read_text(self, path):
        self.reads.append(path)
        return self.files.get(path)

    def listdir(self, folder):
        return sorted(p.rsplit("/", 1)[1] for p in self.files if p.rsplit("/", 1)[0] == folder)


def test_sudo_includes_that_loop_or_fan_out_are_read_once():
    loop = "#includedir /etc/sudoers.d\n@include /etc/sudoers\n"
    tree = FakeTree(
        {
            "/etc/sudoers": "#includedir /etc/sudoers.d\n",
            **{f"/etc/sudoers.d/f{i}": loop + f"u{i} ALL=NOPASSWD: ALL\n" for i in range(20)},
            "/etc/sudoers.d/skipped~": "x ALL=NOPASSWD: ALL\n",
        }
    )
    found = access.collect_sudo(tree)
    assert sorted(x.text for x in found) == sorted(f"u{i} ALL=NOPASSWD: ALL" for i in range(20))
    assert len(tree.reads) == len(set(tree.reads)) == 21
