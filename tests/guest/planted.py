"""The problems issue #22 is about, planted in a test guest's root, or their clean twin.

`ways_in(root, family, planted=...)` writes, for a "dpkg" (Debian 12-like) or "rpm"
(RHEL 6-like) root, the account files, PAM, sudoers, trust files, cron files, set-id and
world-writable files. Planted, each of VMG-USR-010..015 and VMG-SW-004/005/007 has a
violation; clean, none has. Both carry the same near misses (a nullok in a comment, a
sudoers file sudo skips, a user's own crontab, a packaged setuid program, a world-writable
file inside sticky /var/tmp), which must never be flagged.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.guest.images import write

# sshd lines (after AllowUsers, before the Match block) each rule must find.
SSHD_PLANTED = (
    "PermitEmptyPasswords yes\nAllowTcpForwarding yes\nPermitUserEnvironment yes\n"
    "IgnoreRhosts no\nHostbasedAuthentication yes\nRhostsRSAAuthentication yes\n"
)
SSHD_CLEAN = (
    "PermitEmptyPasswords no\nAllowTcpForwarding no\nPermitUserEnvironment no\n"
    "IgnoreRhosts yes\nHostbasedAuthentication no\n"
)
SHADOW_GID = 42  # Debian's "shadow" group
# Set-id programs: (path, mode, the package that installs it so, or "" for none).
SETID = (
    ("/usr/bin/passwd", 0o4755, "passwd"),  # packaged: never flagged
    ("/usr/local/bin/rootsh", 0o4755, ""),  # a shell made setuid by hand
    ("/usr/bin/find", 0o4755, ""),  # in a system folder, but its package says 0755
)


def ways_in(root: Path, family: str, *, planted: bool) -> None:
    _account_files(root, family, planted)
    _pam(root, family, planted)
    _sudo(root, planted)
    _trust_files(root, planted)
    _cron(root, family, planted)
    _scan_targets(root, family, planted)


def _account_files(root: Path, family: str, planted: bool) -> None:
    """passwd/shadow written by images._common; here group, gshadow and the modes."""
    write(root, "/etc/group", "root:x:0:\nshadow:x:42:\nvmadmin1:x:500:\ncrontab:x:107:\n")
    write(root, "/etc/gshadow", "root:::\nshadow:::\nvmadmin1:!::\n", 0o000)
    secret = 0o640 if family == "dpkg" else 0o000
    for path in ("/etc/shadow", "/etc/gshadow"):
        os.chown(root / path.lstrip("/"), 0, SHADOW_GID if family == "dpkg" else 0)
        (root / path.lstrip("/")).chmod(secret)
    (root / "etc/passwd").chmod(0o644)
    (root / "etc/group").chmod(0o644)
    if planted:
        (root / "etc/shadow").chmod(0o644)  # every user reads the hashes
        os.chown(root / "etc/gshadow", 501, 0)  # an ordinary user owns it
        (root / "etc/group").chmod(0o666)  # anyone joins any group


def _pam(root: Path, family: str, planted: bool) -> None:
    path = "/etc/pam.d/common-auth" if family == "dpkg" else "/etc/pam.d/system-auth"
    unix = (
        "auth\t[success=1 default=ignore]\tpam_unix.so"
        if family == "dpkg"
        else "auth\tsufficient\tpam_unix.so"
    )
    write(
        root,
        path,
        "# auth sufficient pam_unix.so nullok (the distribution's default, removed)\n"
        "auth\trequired\tpam_env.so\n"
        f"{unix}{' nullok' if planted else ''} try_first_pass\n"
        "password\tsufficient\tpam_unix.so sha512 shadow use_authtok\n",
    )


def _sudo(root: Path, planted: bool) -> None:
    write(root, "/etc/sudoers", "Defaults env_reset\nroot ALL=(ALL) ALL\n#includedir /etc/sudoers.d\n", 0o440)
    rule = "vmadmin1 ALL=(ALL) \\\n    NOPASSWD: /sbin/reboot, /sbin/service\n" if planted else ""
    write(
        root,
        "/etc/sudoers.d/admins",
        f"# ops ALL=(ALL) NOPASSWD: ALL  (a comment)\nvmadmin1 ALL=(ALL) ALL\n{rule}",
        0o440,
    )
    write(root, "/etc/sudoers.d/old.rpmsave", "ALL ALL=(ALL) NOPASSWD: ALL\n", 0o440)  # sudo skips it


def _trust_files(root: Path, planted: bool) -> None:
    write(root, "/home/vmadmin1/.netrc.example", "machine example login x password y\n", 0o600)
    if planted:
        write(root, "/root/.rhosts", "+ +\n", 0o600)
        write(
            root, "/home/vmadmin1/.netrc", "machine cvs.example.org login vmadmin1 password s3cret\n", 0o600
        )
        write(root, "/etc/hosts.equiv", "trusted.example.org\n")


def _cron(root: Path, family: str, planted: bool) -> None:
    write(root, "/etc/crontab", "SHELL=/bin/sh\n17 * * * * root run-parts /etc/cron.hourly\n")
    write(root, "/etc/cron.daily/logrotate", "#!/bin/sh\n", 0o755)
    write(root, "/etc/cron.d/backup", "0 2 * * * root /usr/local/sbin/backup\n")
    spool = "/var/spool/cron/crontabs" if family == "dpkg" else "/var/spool/cron"
    write(root, f"{spool}/vmadmin1", "0 * * * * date\n", 0o600)
    os.chown(root / f"{spool.lstrip('/')}/vmadmin1", 500, 0)  # a user's own crontab: fine
    if planted:
        (root / "etc/crontab").chmod(0o666)
        os.chown(root / "etc/cron.daily/logrotate", 501, 501)
        (root / "etc/cron.d/backup").chmod(0o664)


def _scan_targets(root: Path, family: str, planted: bool) -> None:
    (root / "var/tmp").mkdir(parents=True, exist_ok=True)
    (root / "var/tmp").chmod(0o1777)
    write(root, "/var/tmp/scratch/data", "x\n", 0o666)  # inside sticky /var/tmp: fine
    (root / "var/tmp/scratch").chmod(0o777)
    for path, mode, package in SETID:
        if package or planted:
            write(root, path, "#!/bin/sh\n", mode)
    if family == "dpkg":
        write(root, "/var/lib/dpkg/info/passwd.list", "/.\n/usr\n/usr/bin\n/usr/bin/passwd\n")
        write(root, "/usr/bin/crontab", "#!/bin/sh\n", 0o2755)
        write(root, "/var/lib/dpkg/statoverride", "root crontab 2755 /usr/bin/crontab\n")
    if planted:
        write(root, "/etc/profile.d/site.sh", "export SITE=1\n", 0o666)
        (root / "usr/local/share/drop").mkdir(parents=True, exist_ok=True)
        (root / "usr/local/share/drop").chmod(0o777)
