"""The text parsers on the shapes real RHEL 5/6 and Debian files take, and on junk."""

from __future__ import annotations

import fnmatch
import posixpath
import stat

from hypothesis import given
from hypothesis import strategies as st

from vmguard.guest import dpkg, passwd, services, sshd, xinetd
from vmguard.guest.model import PasswordState, ServiceKind


def no_include(pattern):
    return []


def test_sshd_first_value_wins_and_match_blocks_are_conditional():
    text = "PermitRootLogin no\nPermitRootLogin yes\nMatch User backup\n  PermitRootLogin yes\nMatch all\n"
    settings = sshd.parse_sshd_config(text, "/etc/ssh/sshd_config", no_include)
    assert [(s.value, s.match, s.source.line) for s in settings] == [
        ("no", "", 1),
        ("yes", "", 2),
        ("yes", "User backup", 4),
    ]


def test_sshd_keyword_forms_and_include_inherits_match():
    files = {"/etc/ssh/d/a.conf": "PasswordAuthentication=yes\n"}
    settings = sshd.parse_sshd_config(
        "x11forwarding = yes\nMatch Group staff\nInclude d/*.conf\n",
        "/etc/ssh/sshd_config",
        lambda pattern: [(p, t) for p, t in files.items() if pattern == "/etc/ssh/d/*.conf"],
    )
    assert [(s.keyword, s.value, s.match, s.source.path) for s in settings] == [
        ("x11forwarding", "yes", "", "/etc/ssh/sshd_config"),
        ("passwordauthentication", "yes", "Group staff", "/etc/ssh/d/a.conf"),
    ]


def test_sshd_include_loops_stop():
    settings = sshd.parse_sshd_config(
        "Include /etc/ssh/self\n",
        "/etc/ssh/self",
        lambda p: [("/etc/ssh/self", "Include /etc/ssh/self\nPort 2\n")],
    )
    assert len(settings) == sshd.MAX_INCLUDE_DEPTH


def test_permit_root_login_default_follows_openssh_version():
    assert sshd.default_permit_root_login("5.3p1-124.el6_10") == "yes"
    assert sshd.default_permit_root_login("4.3p2-82.el5") == "yes"
    assert sshd.default_permit_root_login("1:9.2p1-2") == "prohibit-password"
    assert sshd.default_permit_root_login("") == "yes"  # unknown: assume the worst


@given(st.text(max_size=400))
def test_sshd_never_crashes(text):
    sshd.parse_sshd_config(text, "/etc/ssh/sshd_config", no_include)


def test_password_states():
    assert passwd.password_state("") is PasswordState.EMPTY
    assert passwd.password_state("!!") is PasswordState.LOCKED
    assert passwd.password_state("*") is PasswordState.LOCKED
    assert passwd.password_state("!$6$salt$" + "a" * 86) is PasswordState.LOCKED
    assert passwd.password_state("$1$abcdefgh$" + "a" * 22) is PasswordState.SET
    assert passwd.password_state("abcdefghijklm") is PasswordState.SET  # DES crypt (RHEL 5)


def test_passwd_without_shadow_and_malformed_lines():
    entries, problems = passwd.parse_passwd(
        "old::0:0::/:/bin/sh\n+nis\nbroken:x\nok:x:7:7::/home/ok:/bin/bash\n"
    )
    assert [e.name for e in entries] == ["old", "ok"]
    assert problems == ["/etc/passwd:3: malformed entry"]
    assert passwd.account_password(entries[0], None) is PasswordState.EMPTY
    assert passwd.account_password(entries[1], None) is PasswordState.UNKNOWN


def test_interactive_shells():
    assert passwd.interactive("/bin/bash") and passwd.interactive("/bin/tcsh")
    assert not any(map(passwd.interactive, ["/sbin/nologin", "/bin/false", "/usr/sbin/nologin", ""]))


def test_authorized_keys_counting():
    assert passwd.count_keys('# c\n\nssh-rsa AAA x\n  from="h" ssh-ed25519 AAA y\n') == 2


def test_dpkg_states_and_lines():
    text = (
        "Package: a\nStatus: install ok installed\nVersion: 1\n\n"
        "Package: b\nStatus: deinstall ok config-files\n\n"
        "Package: c\nStatus: install reinstreq half-installed\nDescription: x\n more\n"
    )
    found = dpkg.parse_status(text, "/var/lib/dpkg/status")
    assert [(p.name, p.source.line) for p in found] == [("a", 1), ("c", 8)]


def test_sysv_default_runlevel_and_links():
    assert services.default_runlevel("# x\nid:5:initdefault:\n") == "5"
    assert services.default_runlevel("") == "2345"
    links = {"/etc/rc.d/rc3.d": ["S10network", "K20nfs", "README"], "/etc/rc.d/rc5.d": ["S10network"]}
    found = services.sysv_services(links, "35")
    assert [(s.name, s.runlevels, s.source.path) for s in found] == [
        ("network", "35", "/etc/rc.d/rc3.d/S10network")
    ]


class Tree:
    """A guest's files for services.entry_runs: {path: symlink target, or None for a file};
    links resolve lexically inside the guest root, as in the appliance."""

    def __init__(self, entries: dict[str, str | None]) -> None:
        self.entries = entries

    def lstat(self, path: str):
        if path not in self.entries:
            return None
        return (stat.S_IFLNK if self.entries[path] is not None else stat.S_IFREG) | 0o777, 0, 0

    def resolve(self, path: str) -> str:
        target = self.entries[path]
        assert target is not None
        return posixpath.normpath(posixpath.join(posixpath.dirname(path), target))

    def glob(self, pattern: str) -> list[str]:
        return sorted(
            {p.rsplit("/", 1)[0] for p in self.entries if fnmatch.fnmatch(p.rsplit("/", 1)[0], pattern)}
        )


def test_a_start_entry_is_judged_by_what_it_runs_not_its_name():
    tree = Tree({
        "/etc/rc2.d/S20ssh": "../init.d/ssh",  # the control: named as what it runs
        "/etc/rc2.d/S21sshd": "../init.d/telnetd",  # named as an allowed service
        "/etc/rc3.d/S22cron": "/etc/init.d/telnetd",  # absolute, inside the guest
        "/etc/rc4.d/S23cron": "../../../../../../etc/init.d/telnetd",  # .. stops at the guest's /
        "/etc/rc3.d/S30telnetd": None,  # a file itself: it runs as named
        "/etc/systemd/system/multi-user.target.requires/ssh.service": "/lib/systemd/system/telnet.service",
        "/etc/systemd/system/sockets.target.wants/telnet.socket": "/lib/systemd/system/telnet.socket",
        "/etc/systemd/system/graphical.target.upholds/x.service": "/lib/systemd/system/x.service",
    })  # fmt: skip
    sysv = {d: [] for d in ("/etc/rc2.d", "/etc/rc3.d", "/etc/rc4.d")}
    for path in tree.entries:
        if path.startswith("/etc/rc"):
            sysv[path.rsplit("/", 1)[0]].append(path.rsplit("/", 1)[1])
    runs = services.entries_run(tree, sysv, ServiceKind.SYSV)
    assert runs == {
        "/etc/rc2.d/S20ssh": ("ssh",),
        "/etc/rc2.d/S21sshd": ("telnetd",),
        "/etc/rc3.d/S22cron": ("telnetd",),
        "/etc/rc4.d/S23cron": ("telnetd",),
        "/etc/rc3.d/S30telnetd": ("telnetd",),
    }
    found = services.sysv_services(sysv, "234", runs)
    assert [(s.name, s.runlevels) for s in found] == [("ssh", "2"), ("telnetd", "234")]
    folders = services.systemd_folders(tree)
    assert [f.rsplit("/", 1)[1] for f in folders] == [
        "graphical.target.upholds", "multi-user.target.requires", "sockets.target.wants",
    ]  # fmt: skip
    listing = {f: [p.rsplit("/", 1)[1] for p in tree.entries if p.startswith(f + "/")] for f in folders}
    units = services.systemd_services(listing, services.entries_run(tree, listing, ServiceKind.SYSTEMD))
    assert sorted((s.name, s.source.where) for s in units) == [
        ("ssh", "systemd requires link"), ("telnet", "systemd requires link"), ("x", "systemd upholds link"),
    ]  # fmt: skip


def test_systemd_unit_names():
    found = services.systemd_services({"/etc/systemd/system/sockets.target.wants": ["telnet.socket"]})
    assert [(s.name, s.kind) for s in found] == [("telnet", ServiceKind.SYSTEMD)]


def test_xinetd_defaults_disabled_ports_and_protocols():
    main = "defaults\n{\n disabled = rsh\n}\nincludedir /etc/xinetd.d\n"
    blocks = xinetd.parse_blocks(main, "/etc/xinetd.conf") + xinetd.parse_blocks(
        "service rsh\n{\n socket_type = stream\n}\n"
        "service tftp\n{\n socket_type = dgram\n disable = no # on\n}\n"
        "service custom\n{\n port = 9999\n type = UNLISTED\n}\n"
        "service off\n{\n disable = yes\n}\n",
        "/etc/xinetd.d/all",
    )
    ports = xinetd.parse_etc_services("tftp 69/udp\ntftp 69/tcp\nrsh 514/tcp shell\n")
    found = xinetd.enabled_services(blocks, ports)
    assert [(s.name, s.protocol, s.port, s.source.line) for s in found] == [
        ("tftp", "udp", 69, 5),
        ("custom", "tcp", 9999, 10),
    ]
    assert xinetd.includedirs(main) == ["/etc/xinetd.d"]


@given(st.text(max_size=400))
def test_xinetd_and_dpkg_never_crash(text):
    xinetd.enabled_services(xinetd.parse_blocks(text, "/f"), xinetd.parse_etc_services(text))
    dpkg.parse_status(text, "/f")
    passwd.parse_passwd(text)
    passwd.parse_shadow(text)
