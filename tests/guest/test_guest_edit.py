"""The pure edits of `apply --guest` (vmguard.guest.edit) and the plan's fixes
(vmguard.guest.fixes) on texts and facts parsed by the inspection's own parsers: each
fix clears its rule once the edited text is parsed again, and a second round is idle."""

from __future__ import annotations

import pytest

from tests.guest.images import HASH, sshd_config
from vmguard.checks.registry import vm_checks
from vmguard.facts.vm import VmFacts
from vmguard.guest import access, edit, fixes, passwd, sshd
from vmguard.guest.edit import EditError
from vmguard.guest.fixes import GuestAction
from vmguard.guest.model import Account, GuestFacts, GuestSource, SshdConfig
from vmguard.policy.model import Metadata, Policy, SoftwarePolicy, UsersPolicy

POLICY = Policy(
    metadata=Metadata("batch"),
    source="policy/batch.yaml",
    users=UsersPolicy(interactive_login=("vmadmin1",), nologin_shell="/sbin/nologin"),
    software=SoftwarePolicy(allowed_services=("sshd",)),
)
SSHD_RULES = (
    "VMG-USR-002",
    "VMG-USR-003",
    "VMG-USR-005",
    "VMG-USR-006",
    "VMG-USR-007",
    "VMG-USR-008",
    "VMG-USR-009",
)


def _sshd_facts(text: str, version: str = "5.3p1-124.el6_10") -> VmFacts:
    settings = sshd.parse_sshd_config(text, "/etc/ssh/sshd_config", lambda _p: [])
    config = SshdConfig(tuple(settings), version, GuestSource("sshd_config", "/etc/ssh/sshd_config"))
    return VmFacts(name="vm", driver="libvirt", guest=GuestFacts(sshd=config))


def _sshd_findings(text: str, version: str = "5.3p1-124.el6_10") -> set[str]:
    facts = _sshd_facts(text, version)
    return {f.rule for rule in SSHD_RULES for f in vm_checks("guest")[rule](POLICY, facts)}


def _sshd_round(text: str, version: str) -> str:
    """Plan the sshd fixes and make them as the apply worker does (comment-outs first)."""
    changes = [c for c in fixes.guest_plan(POLICY, _sshd_facts(text, version)).changes]
    for c in (c for c in changes if c.action is GuestAction.SSHD_COMMENT_OUT):
        text, _ = edit.comment_out(text, c.line, c.target, c.path)
    block = [(c.target, c.value) for c in changes if c.action is GuestAction.SSHD_SETTING]
    return edit.with_managed_block(text, block) if block else text


@pytest.mark.parametrize("version", ["5.3p1-124.el6_10", "1:9.2p1-2"])
def test_sshd_fixes_clear_every_sshd_rule_and_keep_the_rest_byte_for_byte(version):
    original = sshd_config() + "UsePAM yes\n"  # planted: root login, empty passwords, a Match block
    assert _sshd_findings(original, version) >= {"VMG-USR-002", "VMG-USR-005", "VMG-USR-006"}
    fixed = _sshd_round(original, version)
    assert _sshd_findings(fixed, version) == set()
    head, _, rest = fixed.partition(edit.BLOCK_END + "\n")
    assert head.startswith(edit.BLOCK_BEGIN)
    # every original line is still there, in order; only the Match block's line is commented
    assert rest == original.replace("\tX11Forwarding yes", f"\t{edit.COMMENTED}X11Forwarding yes")
    # the second round: nothing to change, the file as it was
    assert _sshd_round(fixed, version) == fixed
    kbd = "KbdInteractiveAuthentication" if version.startswith("1:9") else "ChallengeResponseAuthentication"
    assert ("RhostsRSAAuthentication no" in head) == version.startswith("5")  # 9.x would warn on it
    assert kbd not in head  # the image sets ChallengeResponseAuthentication no already


def test_managed_block_is_rewritten_not_duplicated():
    once = edit.with_managed_block("Port 22\n", [("PermitRootLogin", "no")])
    twice = edit.with_managed_block(once, [("X11Forwarding", "no")])
    assert twice.count(edit.BLOCK_BEGIN) == 1
    assert edit.managed_settings(twice) == {
        "permitrootlogin": ("PermitRootLogin", "no"),
        "x11forwarding": ("X11Forwarding", "no"),
    }
    assert twice.endswith("# END vmguard managed block\nPort 22\n")
    with pytest.raises(EditError, match="damaged"):
        edit.with_managed_block(once.replace(edit.BLOCK_END, "# gone"), [])


def test_lock_keeps_every_other_byte_and_refuses_a_changed_file():
    shadow = f"root:{HASH}:19000::::::\nguest::19000:0:99999:7:::\r\nodd:\xff\udcff:1::\n"
    new, before, after = edit.lock_password(shadow, "guest", "/etc/shadow")
    assert (before, after) == ("empty", "locked")
    assert new == shadow.replace("guest::", "guest:!:")  # the CRLF and the odd bytes kept
    with pytest.raises(EditError, match="already locked"):
        edit.lock_password(new, "guest", "/etc/shadow")
    with pytest.raises(EditError, match="0 entries"):
        edit.lock_password(shadow, "gone", "/etc/shadow")
    with pytest.raises(EditError, match="2 entries"):
        edit.lock_password(shadow + "guest:x:1::\n", "guest", "/etc/shadow")
    entries, _ = passwd.parse_passwd(edit.set_shell("a:x:1:1::/h:/bin/bash\n", "a", "/sbin/nologin")[0])
    assert entries[0].shell == "/sbin/nologin"


def test_xinetd_disable_sets_or_adds_the_attribute():
    text = "service telnet\n{\n\tdisable = no # was on\n}\nservice shell\n{\n\tuser = root\n}\n"
    new, before = edit.xinetd_disable(text, "telnet", "/etc/xinetd.d/x")
    assert before == ["no"] and "\tdisable = yes # was on\n" in new
    new, before = edit.xinetd_disable(new, "shell", "/etc/xinetd.d/x")
    assert before == ["(none)"] and new.endswith("\tuser = root\n\tdisable\t\t= yes\n}\n")
    with pytest.raises(EditError, match="not closed"):
        edit.xinetd_disable("service telnet\n{\n", "telnet", "p")
    with pytest.raises(EditError, match="no `service rsh`"):
        edit.xinetd_disable(text, "rsh", "p")


def test_start_links_by_what_each_entry_runs():
    runs = {
        "/etc/rc.d/rc3.d/S27ypbind": ("ypbind",),
        "/etc/rc.d/rc3.d/S27ypbind2": ("ypbind2",),
        "/etc/rc.d/rc3.d/S55sshd": ("sshd",),
        "/etc/rc.d/rc2.d/S21sshd": ("ypbind",),  # named as an allowed service, runs ypbind
        "/etc/rc.d/rc5.d/S27ypbind": ("ypbind",),
    }
    assert edit.start_links(runs, "ypbind") == [
        "/etc/rc.d/rc2.d/S21sshd",
        "/etc/rc.d/rc3.d/S27ypbind",
        "/etc/rc.d/rc5.d/S27ypbind",
    ]
    wants = {"/etc/systemd/system/multi-user.target.requires/ssh.service": ("ssh", "telnet")}
    assert edit.start_links(wants, "telnet") == ["/etc/systemd/system/multi-user.target.requires/ssh.service"]


@pytest.mark.parametrize(
    ("script", "link", "stop"),
    [
        ("#!/bin/sh\n# chkconfig: - 27 73\n", "S27ypbind", 73),  # RHEL 6's ypbind header
        ("#!/bin/sh\n#  chkconfig:   2345 55 25  \n", "S55sshd", 25),
        ("#!/bin/sh\n", "/etc/rc.d/rc3.d/S27ypbind", 73),  # no header: 100 - start
        ("#!/bin/sh\n# chkconfig: 2345 55\n", "S00x", 99),  # malformed header; K100 is no name
    ],
)
def test_stop_priority_is_chkconfigs(script, link, stop):
    assert edit.stop_priority(script, link) == stop


def test_kill_links_leave_every_runlevel_off_for_chkconfig():
    """chkconfig --list shows a level "off" with a K link there; a level with neither link
    gets its default S link back at the next `chkconfig --add` (a package update).
    Control: a level that has a K link already gets none."""
    listing = {f"/etc/rc.d/rc{n}.d": ["K70ypbind"] if n in "016" else ["S55sshd"] for n in "0123456"}
    assert edit.kill_links(listing, "ypbind", 73) == [f"/etc/rc.d/rc{n}.d/K73ypbind" for n in "2345"]
    assert edit.kill_links(listing, "ypbind2", 7) == [f"/etc/rc.d/rc{n}.d/K07ypbind2" for n in "0123456"]


def _account(
    name: str, uid: int, state: str, shell: str = "/bin/bash", keys: int = 0, shadowed=True
) -> Account:
    return Account(
        name=name,
        uid=uid,
        login_shell=shell,
        home=f"/home/{name}",
        password=passwd.PasswordState(state),
        authorized_keys=keys,
        interactive_shell=passwd.interactive(shell),
        source=GuestSource("passwd", "/etc/passwd", 1),
        shadowed=shadowed,
    )


def test_account_fixes_ask_the_rules_questions():
    accounts = (
        _account("vmadmin1", 500, "set"),  # allowed: untouched
        _account("intruder", 501, "set"),  # VMG-USR-001: locked, non-login shell
        _account("toor", 0, "set"),  # a second root: locked even though sshd is not asked
        _account("guest", 505, "empty", "/sbin/nologin"),  # VMG-USR-011: locked
        _account("legacy", 504, "set", "/sbin/nologin", shadowed=False),  # hash in passwd
        _account("retired", 502, "locked"),  # already locked: nothing
    )
    facts = VmFacts(name="vm", driver="libvirt", guest=GuestFacts(accounts=accounts))
    plan = fixes.guest_plan(POLICY, facts)
    found = {(c.action, c.target, c.path) for c in plan.changes}
    assert found == {
        (GuestAction.LOCK_PASSWORD, "intruder", "/etc/shadow"),
        (GuestAction.SET_SHELL, "intruder", "/etc/passwd"),
        (GuestAction.LOCK_PASSWORD, "toor", "/etc/shadow"),
        (GuestAction.SET_SHELL, "toor", "/etc/passwd"),
        (GuestAction.LOCK_PASSWORD, "guest", "/etc/shadow"),
        (GuestAction.LOCK_PASSWORD, "legacy", "/etc/passwd"),
    }
    # without nologin_shell, an SSH key keeps a locked account's door open: said, not hidden
    keyed = VmFacts(
        name="vm", driver="libvirt", guest=GuestFacts(accounts=(_account("k", 7, "set", keys=1),))
    )
    bare = Policy(metadata=Metadata("b"), source="b.yaml", users=UsersPolicy(interactive_login=("vmadmin1",)))
    assert "SSH key(s) still let it log in" in fixes.guest_plan(bare, keyed).manual[0]


def test_unparsed_guest_parts_refuse_the_whole_guest():
    facts = VmFacts(name="vm", driver="libvirt", guest=GuestFacts(problems=("shadow: over the limit",)))
    plan = fixes.guest_plan(POLICY, facts)
    assert plan.refused and not plan.changes
    # a part no fix reads (the package database) does not stop the others
    facts = VmFacts(name="vm", driver="libvirt", guest=GuestFacts(problems=("packages: corrupt",)))
    assert not fixes.guest_plan(POLICY, facts).refused


def test_drop_nullok_keeps_the_rest_of_the_line_and_the_file():
    text = (
        "# auth sufficient pam_unix.so nullok (a comment: kept)\n"
        "auth\tsufficient\tpam_unix.so nullok_secure try_first_pass nullok # nullok here stays\n"
        "password sufficient pam_unix.so sha512 shadow nullok\r\n"
    )
    new, before, after = edit.drop_nullok(text, 2, "/etc/pam.d/system-auth")
    assert after == "auth\tsufficient\tpam_unix.so try_first_pass # nullok here stays"
    assert before.startswith("auth\tsufficient") and "nullok_secure" in before
    new, _, _ = edit.drop_nullok(new, 3, "/etc/pam.d/system-auth")
    assert new.splitlines(keepends=True)[2] == "password sufficient pam_unix.so sha512 shadow\r\n"
    assert new.splitlines()[0] == text.splitlines()[0]
    assert access.pam_nullok(new, "p") == []  # the parser sees none left
    assert len(access.pam_nullok(text, "p")) == 2  # control: it saw both before
    with pytest.raises(EditError, match="no nullok argument any more"):
        edit.drop_nullok(new, 2, "p")  # the guest changed since the plan: a second edit refuses
    with pytest.raises(EditError, match="no such line"):
        edit.drop_nullok(new, 9, "p")


def test_sudo_rules_are_commented_out_every_line_and_the_rest_byte_for_byte():
    """/etc/sudoers and a sudoers.d file alike: the rule's every continuation line gets
    vmguard's mark, no line is added or removed, the parser sees no rule left, a second
    round finds nothing to do, and a rule gone since the plan is refused."""
    text = (
        "Defaults env_reset\r\n"
        "# ops ALL=(ALL) NOPASSWD: ALL  (a comment: kept)\n"
        "vmadmin1 ALL=(ALL) \\\n"
        "    NOPASSWD: /sbin/reboot, /sbin/service\n"
        "root ALL=(ALL) ALL\n"
        "%wheel ALL=(ALL) NOPASSWD: ALL\n"
        "#includedir /etc/sudoers.d\n"
    )
    for path in ("/etc/sudoers", "/etc/sudoers.d/admins"):
        found, _ = access.sudo_nopasswd(text, path)
        assert [f.source.line for f in found] == [3, 6]  # control: both rules seen
        facts = VmFacts(name="vm", driver="libvirt", guest=GuestFacts(sudo_nopasswd=tuple(found)))
        changes = [c for c in fixes.guest_plan(POLICY, facts).changes if c.rule == "VMG-USR-015"]
        assert {(c.action, c.line, c.path) for c in changes} == {
            (GuestAction.SUDO_COMMENT_OUT, 3, path),
            (GuestAction.SUDO_COMMENT_OUT, 6, path),
        }
        new = text
        for change in changes:
            new, _before = edit.comment_out_sudo(new, change.line, change.current, path)
        old_lines, new_lines = text.splitlines(keepends=True), new.splitlines(keepends=True)
        assert len(new_lines) == len(old_lines)
        for i, (old, now) in enumerate(zip(old_lines, new_lines, strict=True)):
            assert now == (edit.COMMENTED + old if i in (2, 3, 5) else old)
        assert access.sudo_nopasswd(new, path)[0] == []  # the parser sees none left
        assert access.sudo_nopasswd(new, path)[1] == ["dir /etc/sudoers.d"]  # the include stays
        with pytest.raises(EditError, match="no longer the sudo rule"):
            edit.comment_out_sudo(new, 3, changes[0].current, path)  # changed since the plan


def test_account_file_fix_wants_what_the_rule_accepts():
    """Owner root, the group kept when allowed (else root), only forbidden bits removed;
    a file that is not regular (a link) gets no fix; the fixed facts pass the rule."""
    from dataclasses import replace
    from stat import S_IFLNK, S_IFREG

    from vmguard.checks.guest_access import account_files
    from vmguard.guest.model import FileInfo

    infos = (
        FileInfo("/etc/shadow", S_IFREG | 0o644, 0, 42, "shadow"),  # Debian's group: kept
        FileInfo("/etc/gshadow", S_IFREG | 0o000, 501, 0, "root"),  # a user owns it
        FileInfo("/etc/group", S_IFREG | 0o666, 0, 7, "lp"),  # another group
        FileInfo("/etc/passwd", S_IFLNK | 0o777, 0, 0, "root"),  # a link: the admin's
    )
    facts = VmFacts(name="vm", driver="libvirt", guest=GuestFacts(file_infos=infos))
    changes = [c for c in fixes.guest_plan(POLICY, facts).changes if c.rule == "VMG-USR-010"]
    assert {(c.path, c.value) for c in changes} == {
        ("/etc/shadow", "0:42:640"),
        ("/etc/gshadow", "0:0:0"),
        ("/etc/group", "0:0:644"),
    }
    assert all(c.action is GuestAction.SET_OWNER_MODE for c in changes)
    fixed = []
    for info in infos[:3]:
        uid, gid, mode = next(c.value for c in changes if c.path == info.path).split(":")
        group = info.group if int(gid) == info.gid else "root"
        fixed.append(replace(info, uid=int(uid), gid=int(gid), mode=S_IFREG | int(mode, 8), group=group))
    cleared = VmFacts(name="vm", driver="libvirt", guest=GuestFacts(file_infos=tuple(fixed)))
    assert list(account_files(POLICY, cleared)) == []
    assert len(list(account_files(POLICY, facts))) == 4  # control: all four flagged before
