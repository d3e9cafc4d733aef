"""The VMG-USR/VMG-SW checks on GuestFacts built in the test: edge cases of each rule."""

from __future__ import annotations

import dataclasses
import ipaddress

from vmguard.checks.registry import vm_checks
from vmguard.facts.vm import VmFacts
from vmguard.guest.model import (
    Account,
    FileMark,
    GuestFacts,
    GuestSource,
    ListeningSocket,
    LoggedInUser,
    OnlineFacts,
    Package,
    PasswordState,
    Service,
    ServiceKind,
    SshdConfig,
    SshdSetting,
)
from vmguard.policy.model import (
    Ingress,
    Metadata,
    NetworkPolicy,
    Policy,
    PortRange,
    SoftwarePolicy,
    UsersPolicy,
)

CHECKS = vm_checks("guest")

ANY4 = "0.0.0.0"  # noqa: S104 (an address a guest socket listens on, not a bind)
CONFIG = GuestSource("sshd_config", "/etc/ssh/sshd_config")
POLICY = Policy(
    metadata=Metadata("p"),
    source="p.yaml",
    users=UsersPolicy(interactive_login=("admin",)),
    software=SoftwarePolicy(forbid=("firefox", "mutt", "sendmail")),
)


def run(guest: GuestFacts, policy: Policy = POLICY, rule: str | None = None):
    vm = VmFacts("vm1", "libvirt", guest=guest)
    return [f for r, check in CHECKS.items() if rule in (None, r) for f in check(policy, vm)]


def sshd(*pairs: tuple[str, str], version: str = "5.3p1", match: str = "") -> SshdConfig:
    settings = tuple(
        SshdSetting(k, v, match, GuestSource("sshd_config", CONFIG.path, n))
        for n, (k, v) in enumerate(pairs, 1)
    )
    return SshdConfig(settings, version, CONFIG)


SAFE = sshd(("permitrootlogin", "no"), ("passwordauthentication", "no"), ("allowtcpforwarding", "no"))


def test_not_inspected_means_no_finding():
    assert [f for c in CHECKS.values() for f in c(POLICY, VmFacts("vm1", "libvirt"))] == []


def test_compliant_guest_has_no_finding():
    assert run(GuestFacts(sshd=SAFE)) == []


def test_root_login_default_depends_on_the_openssh_version():
    old = run(GuestFacts(sshd=sshd(("passwordauthentication", "no"))), rule="VMG-USR-002")
    assert [f.message for f in old] == ["sshd PermitRootLogin yes: built-in default of OpenSSH 5.3p1"]
    new = run(
        GuestFacts(sshd=sshd(("passwordauthentication", "no"), version="1:9.2p1-2")), rule="VMG-USR-002"
    )
    assert [f.message.split(":")[0] for f in new] == ["sshd PermitRootLogin prohibit-password"]
    allowed = dataclasses.replace(POLICY, users=UsersPolicy(root_login=True))
    assert run(GuestFacts(sshd=sshd()), allowed, rule="VMG-USR-002") == []


def test_root_login_in_a_match_block():
    config = SshdConfig(
        SAFE.settings + sshd(("permitrootlogin", "yes"), match="Address 10.0.0.0/8").settings, "5.3p1", CONFIG
    )
    found = run(GuestFacts(sshd=config), rule="VMG-USR-002")
    assert [f.evidence for f in found] == [
        "sshd PermitRootLogin yes (Match Address 10.0.0.0/8) (/etc/ssh/sshd_config)"
    ]


def test_no_sshd_config_no_sshd_findings():
    assert run(GuestFacts(sshd=SshdConfig())) == []


def test_passwords_through_pam_keyboard_interactive():
    pam = sshd(("permitrootlogin", "no"), ("passwordauthentication", "no"), ("usepam", "yes"))
    found = run(GuestFacts(sshd=pam), rule="VMG-USR-003")
    assert [f.message.split(":")[0] for f in found] == [  # named as OpenSSH 5.3 spells it
        "sshd ChallengeResponseAuthentication yes with UsePAM yes (passwords through PAM)"
    ]
    new = sshd(*[(s.keyword, s.value) for s in pam.settings], version="9.2p1")
    assert [f.message.split(":")[0] for f in run(GuestFacts(sshd=new), rule="VMG-USR-003")] == [
        "sshd KbdInteractiveAuthentication yes with UsePAM yes (passwords through PAM)"
    ]
    # the aliases: the first global line decides, as in sshd
    first = sshd(*[(s.keyword, s.value) for s in pam.settings], ("challengeresponseauthentication", "yes"),
                 ("kbdinteractiveauthentication", "no"), version="9.2p1")  # fmt: skip
    assert len(run(GuestFacts(sshd=first), rule="VMG-USR-003")) == 1
    off = sshd(*[(s.keyword, s.value) for s in pam.settings], ("challengeresponseauthentication", "no"))
    assert run(GuestFacts(sshd=off), rule="VMG-USR-003") == []


def test_password_authentication_default_is_yes():
    found = run(GuestFacts(sshd=sshd(("permitrootlogin", "no"))), rule="VMG-USR-003")
    assert [f.message for f in found] == [
        "sshd PasswordAuthentication yes: built-in default of OpenSSH 5.3p1"
    ]


def account(name: str, password=PasswordState.SET, keys=0, shell="/bin/bash", uid=500) -> Account:
    return Account(
        name,
        uid,
        shell,
        f"/home/{name}",
        password,
        keys,
        shell.endswith("sh"),
        GuestSource("passwd", "/etc/passwd", uid),
    )


def test_login_users():
    accounts = (
        account("admin"),
        account("root", uid=0),
        account("root2", PasswordState.LOCKED, uid=0),
        account("toor", uid=0),
        account("nopw", PasswordState.EMPTY),
        account("keyonly", PasswordState.LOCKED, keys=2),
        account("locked", PasswordState.LOCKED),
        account("svc", shell="/sbin/nologin"),
    )
    found = run(GuestFacts(accounts=accounts, sshd=SAFE), rule="VMG-USR-001")
    assert [f.message.split(":")[0] for f in found] == [
        "toor can log in (password) with shell /bin/bash and has uid 0",
        "nopw can log in (no-password) with shell /bin/bash",
        "keyonly can log in (ssh-key) with shell /bin/bash",
    ]
    empty_root = GuestFacts(accounts=(account("root", PasswordState.EMPTY, uid=0),), sshd=SAFE)
    assert [f.evidence for f in run(empty_root, rule="VMG-USR-001")] == ["account 'root' (/etc/passwd)"]


def test_allow_users_narrows_a_login_to_the_console():
    config = sshd(
        ("permitrootlogin", "no"), ("passwordauthentication", "no"), ("allowusers", "admin ops*@10.*")
    )
    guest = GuestFacts(accounts=(account("opsbot"), account("eve")), sshd=config)
    messages = [f.message for f in run(guest, rule="VMG-USR-001")]
    assert "AllowUsers" not in messages[0]
    assert "(not in sshd AllowUsers, /etc/ssh/sshd_config:3 (sshd_config): console login only)" in messages[1]


def test_forbidden_software_by_name_family_not_by_substring():
    source = GuestSource("rpm database (Berkeley DB)", "/var/lib/rpm/Packages")
    packages = tuple(
        Package(n, "1", source) for n in ("firefox-esr", "muttprint", "sendmail-cf", "xsendmail")
    )
    programs = ("/usr/local/firefox3/firefox", "/usr/bin/mutt_dotlock", "/opt/Firefox", "/usr/bin/notfirefox")
    found = run(GuestFacts(packages=packages, programs=programs, sshd=SAFE), rule="VMG-SW-001")
    assert [f.evidence for f in found] == [
        "software 'firefox' (/opt/Firefox, /usr/local/firefox3/firefox, /var/lib/rpm/Packages)",
        "software 'mutt' (/usr/bin/mutt_dotlock)",
        "software 'sendmail' (/var/lib/rpm/Packages)",
    ]


def svc(name, kind=ServiceKind.SYSV, port=None):
    return Service(name, kind, GuestSource("x", f"/etc/{name}"), protocol="tcp" if port else "", port=port)


def test_services_only_when_the_policy_lists_allowed_ones():
    guest = GuestFacts(sshd=SAFE, services=(svc("sshd"), svc("cups"), svc("telnet", ServiceKind.XINETD, 23)))
    assert run(guest, rule="VMG-SW-002") == []
    strict = dataclasses.replace(POLICY, software=SoftwarePolicy(allowed_services=("sshd",)))
    # telnet is under xinetd, which is not enabled: it cannot listen
    assert [f.evidence for f in run(guest, strict, rule="VMG-SW-002")] == ["service 'cups' (/etc/cups)"]
    with_xinetd = dataclasses.replace(guest, services=(*guest.services, svc("xinetd", ServiceKind.SYSTEMD)))
    assert [f.message.split(":")[0] for f in run(with_xinetd, strict, rule="VMG-SW-002")] == [
        "service cups is enabled (sysv)",
        "service xinetd is enabled (systemd)",
        "service telnet is enabled (xinetd on tcp port 23)",
    ]


def test_online_users_and_listeners():
    agent = GuestSource("guest agent guest-get-users")
    sockets = tuple(
        ListeningSocket(p, a, port, GuestSource("agent", f"/proc/net/{p}"))
        for p, a, port in [
            ("tcp", ANY4, 22),
            ("tcp6", "::", 2323),
            ("tcp", "127.0.0.1", 25),
            ("udp", ANY4, 69),
        ]
    )
    online = OnlineFacts((LoggedInUser("admin", agent), LoggedInUser("mallory", agent)), sockets)
    ssh = Ingress("ssh", (PortRange(22, 22),), (ipaddress.ip_network("198.51.100.0/24"),))
    policy = dataclasses.replace(POLICY, network=NetworkPolicy(ingress=(ssh,)))
    found = run(GuestFacts(sshd=SAFE, online=online), policy)
    assert [(f.rule, f.evidence) for f in found] == [  # rules run in catalog (id) order
        ("VMG-SW-003", "listening tcp port 2323"),
        ("VMG-SW-003", "listening udp port 69"),
        ("VMG-USR-004", "logged-in user 'mallory'"),
    ]


def test_file_scan_findings():
    """A set-id file passes only when a package accounts for it, wherever it lies."""
    marks = (
        FileMark("/usr/bin/passwd", 0o104755, 0, "setuid", package="passwd"),
        FileMark("/opt/tool/rootme", 0o104755, 0, "setuid", package="tool"),
        FileMark("/usr/bin/vim", 0o104755, 0, "setuid"),  # a system folder does not excuse it
        FileMark("/usr/bin/wall", 0o102755, 0, "setgid"),
        FileMark("/etc/cron.d", 0o40777, 0, "world-writable"),
    )
    found = run(GuestFacts(sshd=SAFE, file_marks=marks))
    assert [(f.rule, f.evidence) for f in found] == [
        ("VMG-SW-004", "world-writable /etc/cron.d"),
        ("VMG-SW-005", "setuid /usr/bin/vim"),
        ("VMG-SW-005", "setgid /usr/bin/wall"),
    ]
    assert run(GuestFacts(sshd=SAFE, file_marks=None)) == []  # scan off: nothing to say


def test_unreadable_parts_are_reported():
    found = run(GuestFacts(sshd=SAFE, problems=("packages: /var/lib/rpm/Packages: bad magic",)))
    assert [(f.rule, f.message) for f in found] == [
        ("VMG-SW-006", "parts of the guest could not be read: packages: /var/lib/rpm/Packages: bad magic")
    ]
