"""Build the guest disk images the tests inspect: hand-made roots turned into ext4 images.

Two roots (and, built with planted=False, their clean twins, which have none of the
violations), each with the same deliberate violations (the tests expect exactly these):
- an extra user with a login shell and a password (intruder / operator2),
- PermitRootLogin yes,
- a browser and a mail transfer agent package,
- an enabled telnet service under xinetd.
The rpm root adds a hand-installed mail client (/opt/thunderbird), a world-writable
/etc/cron.d and NIS and rlogin (rsh-server); tests/guest/planted.py adds what issue #22
asks about (sshd, account files, PAM, sudo, trust files, cron, set-id programs) to both.
Everything else is what a compliant guest has, including near misses that must NOT be
flagged (a removed package's leftover config, a locked account with a shell, a
disabled xinetd service, a SysV service killed in the default runlevel).

The rpm root's database is a real one: packages built with Debian's rpmbuild,
installed with `rpm --justdb`, then turned into the RHEL 5/6 Berkeley DB `Packages`
file with db5.3_load (the on-disk format of those systems).
"""

from __future__ import annotations

import os
import sqlite3
import struct
import subprocess
from pathlib import Path

# A SHA-512 crypt hash (of "secret"): what `passwd` writes on RHEL 6 and Debian.
HASH = "$6$vmguard$" + "x" * 86
ALLOWED = "vmadmin1"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq6Qf6xvTm0K2d8JwZ1cN4H0Zr9g0b3Yk3l3f0Jc8aP admin@site"

SPEC = """\
Name: %{pname}
Version: %{pver}
Release: %{prel}
Summary: vmguard test package %{pname}
License: MIT
BuildArch: noarch
%description
A package with no files: only its database entry matters to the tests.
%files
"""


def write(root: Path, path: str, text: str, mode: int = 0o644) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(mode)


def link(root: Path, path: str, to: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(to)


def _common(root: Path, *, intruder: str, shells: str, planted: bool = True) -> None:
    """Accounts, sshd and xinetd settings both roots share."""
    root_group = 500 if planted else 0
    extra = (
        [
            f"{intruder}:x:501:501:not in the policy:/home/{intruder}:{shells}/bash",
            f"legacy:{HASH}:504:504:hash in passwd:/home/legacy:/sbin/nologin",
            "guest:x:505:505:empty password, no shell:/home/guest:/sbin/nologin",
        ]
        if planted
        else []
    )
    write(root, "/etc/fstab", "LABEL=guestroot / ext4 defaults 1 1\n")
    write(
        root,
        "/etc/passwd",
        "\n".join(
            [
                f"root:x:0:{root_group}:root:/root:{shells}/bash",
                "bin:x:1:1:bin:/bin:/sbin/nologin",
                "daemon:x:2:2:daemon:/sbin:/usr/sbin/nologin",
                f"{ALLOWED}:x:500:500:allowed admin:/home/{ALLOWED}:{shells}/bash",
                *extra,
                f"retired:x:502:502:locked, shell kept:/home/retired:{shells}/bash",
                "deploy:x:503:503:keys but no shell:/home/deploy:/sbin/nologin",
                "",
            ]
        ),
    )
    write(
        root,
        "/etc/shadow",
        "\n".join(
            [
                f"root:{HASH}:19000:0:99999:7:::",
                "bin:*:19000:0:99999:7:::",
                "daemon:*:19000:0:99999:7:::",
                f"{ALLOWED}:{HASH}:19000:0:99999:7:::",
                f"{intruder}:{HASH}:19000:0:99999:7:::",
                "guest::19000:0:99999:7:::",
                f"retired:!{HASH}:19000:0:99999:7:::",
                "deploy:!!:19000:0:99999:7:::",
                "",
            ]
        ),
        0o000,
    )
    write(root, f"/home/{ALLOWED}/.ssh/authorized_keys", f"# admin key\n{SSH_KEY}\n", 0o600)
    write(root, "/home/deploy/.ssh/authorized_keys", f"{SSH_KEY}\n", 0o600)
    write(root, "/etc/services", "ssh\t\t22/tcp\ntelnet\t\t23/tcp\nrsync\t\t873/tcp\n")
    write(root, "/etc/xinetd.conf", "defaults\n{\n\tinstances = 60\n}\nincludedir /etc/xinetd.d\n")
    write(
        root,
        "/etc/xinetd.d/telnet",
        "# default: on\nservice telnet\n{\n\tflags = REUSE\n"
        "\tsocket_type = stream\n\twait = no\n\tuser = root\n"
        f"\tserver = /usr/sbin/in.telnetd\n\tdisable = {'no' if planted else 'yes'}\n}}\n",
    )
    write(root, "/etc/xinetd.d/rsync", "service rsync\n{\n\tsocket_type = stream\n\tdisable = yes\n}\n")


def sshd_config(extra: str = "", planted: bool = True) -> str:
    from tests.guest.planted import SSHD_CLEAN, SSHD_PLANTED

    return (
        "# vmguard test guest\nPort 22\nProtocol 2\n"
        f"PermitRootLogin {'yes' if planted else 'no'}\n"
        # planted: passwords accepted (VMG-USR-003; its fix also asks the PAM question)
        f"PasswordAuthentication {'yes' if planted else 'no'}\nChallengeResponseAuthentication no\nUsePAM yes\n"
        f"X11Forwarding no\nAllowUsers {ALLOWED}\n{extra}"
        + (SSHD_PLANTED if planted else SSHD_CLEAN)
        + ("Match Address 192.0.2.0/24\n\tX11Forwarding yes\n" if planted else "")
    )


def dpkg_root(root: Path, *, planted: bool = True) -> Path:
    """A Debian 12-like root: dpkg status, systemd wants links."""
    from tests.guest.planted import ways_in

    _common(root, intruder="intruder", shells="/bin", planted=planted)
    write(root, "/etc/debian_version", "12.5\n")
    write(
        root, "/etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
    )
    write(root, "/etc/ssh/sshd_config", sshd_config("Include /etc/ssh/sshd_config.d/*.conf\n", planted))
    write(root, "/etc/ssh/sshd_config.d/local.conf", "KbdInteractiveAuthentication no\n")
    packages = [
        ("base-files", "12.4"),
        ("bash", "5.2.15-2"),
        ("openssh-server", "1:9.2p1-2"),
        ("passwd", "1:4.13+dfsg1-1"),
        ("xinetd", "1:2.3.15.3-1"),
    ]
    if planted:
        packages += [
            ("firefox-esr", "115.6.0esr-1"),
            ("exim4-daemon-light", "4.96-15"),
            ("telnetd", "0.17+2.4-2"),
            ("nis", "4.17"),
        ]
    stanzas = [
        f"Package: {n}\nStatus: install ok installed\nVersion: {v}\n"
        f"Description: test\n multi-line description\n"
        for n, v in packages
    ]
    stanzas.append("Package: mutt\nStatus: deinstall ok config-files\nVersion: 2.2.9-1\n")
    write(root, "/var/lib/dpkg/status", "\n".join(stanzas))
    wants = "/etc/systemd/system/multi-user.target.wants"
    for unit in ("ssh.service", "cron.service", "xinetd.service", "rsyslog.service"):
        link(root, f"{wants}/{unit}", f"/lib/systemd/system/{unit}")
    for folder in ("bin", "sbin", "usr/bin", "usr/sbin", "opt"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    if planted:
        write(root, "/usr/lib/firefox-esr/firefox-esr", "#!/bin/sh\n", 0o755)
        link(root, "/usr/bin/firefox-esr", "/usr/lib/firefox-esr/firefox-esr")
        write(root, "/usr/sbin/exim4", "#!/bin/sh\n", 0o755)
        write(root, "/etc/xinetd.d/rsh", "service shell\n{\n\tsocket_type = stream\n\tdisable = no\n}\n")
    write(root, "/usr/bin/bash", "#!/bin/sh\n", 0o755)
    ways_in(root, "dpkg", planted=planted)
    return root


def rpm_root(root: Path, work: Path, *, planted: bool = True) -> Path:
    """A RHEL 6-like root: Berkeley DB rpm database, SysV runlevel links, inittab."""
    from tests.guest.planted import ways_in

    _common(root, intruder="operator2", shells="/bin", planted=planted)
    write(root, "/etc/redhat-release", "Red Hat Enterprise Linux Server release 6.10 (Santiago)\n")
    write(root, "/etc/inittab", "# runlevel 3: multi-user, no X\nid:3:initdefault:\n")
    write(root, "/etc/ssh/sshd_config", sshd_config(planted=planted))
    boot = [("sshd", "S55"), ("crond", "S90"), ("xinetd", "S56"), ("rsyslog", "S12"), ("sendmail", "K30")]
    for name, level_links in boot + ([("ypbind", "S27")] if planted else []):
        header = "# chkconfig: - 27 73\n" if name == "ypbind" else ""  # RHEL 6's own
        write(root, f"/etc/rc.d/init.d/{name}", "#!/bin/sh\n" + header, 0o755)
        for level in "0123456":
            prefix = level_links if level in "2345" else "K70"
            link(root, f"/etc/rc.d/rc{level}.d/{prefix}{name}", f"../init.d/{name}")
    for level in "0123456":
        link(root, f"/etc/rc{level}.d", f"rc.d/rc{level}.d")
    (root / "etc/cron.d").mkdir(parents=True)
    if planted:
        # Hand-installed, outside any package: must be found by its path.
        write(root, "/opt/thunderbird/thunderbird", "#!/bin/sh\n", 0o755)
        (root / "etc/cron.d").chmod(0o777)
        write(root, "/etc/xinetd.d/rlogin", "service login\n{\n\tsocket_type = stream\n\tdisable = no\n}\n")
    for folder in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/lib64"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    packages = [
        ("setup", "2.8.14", "20.el6"),
        ("bash", "4.1.2", "48.el6"),
        ("openssh-server", "5.3p1", "124.el6_10"),
        ("xinetd", "2.3.14", "40.el6"),
        ("passwd", "0.77", "4.el6_2.2", ((0o4755, "/usr/bin/passwd"),)),
        ("findutils", "4.4.2", "9.el6", ((0o755, "/usr/bin/find"), (0o755, "/usr/bin/xargs"))),
    ]
    if planted:
        packages += [
            ("firefox", "52.8.0", "1.el6_9"),
            ("sendmail", "8.14.4", "9.el6"),
            ("telnet-server", "0.17", "48.el6"),
            ("rsh-server", "0.17", "60.el6"),
            ("ypbind", "1.20.4", "31.el6"),
        ]
    dbdir = root / "var/lib/rpm"
    install_rpms(root, work, packages)
    packages_file(dbdir / "rpmdb.sqlite", dbdir / "Packages")
    for leftover in dbdir.glob("rpmdb.sqlite*"):
        leftover.unlink()
    (dbdir / ".rpm.lock").unlink(missing_ok=True)
    ways_in(root, "rpm", planted=planted)
    return root


def rpm_sqlite_root(root: Path, work: Path) -> Path:
    """A RHEL 9-like root: rpm's current sqlite database under /usr/lib/sysimage/rpm
    (with the /var/lib/rpm link of Fedora and newer RHEL), systemd units, telnet.socket."""
    _common(root, intruder="contractor", shells="/usr/bin")
    write(root, "/etc/redhat-release", "Red Hat Enterprise Linux release 9.3 (Plow)\n")
    write(root, "/etc/ssh/sshd_config", sshd_config("Include /etc/ssh/sshd_config.d/*.conf\n"))
    for unit in ("sshd.service", "crond.service", "rsyslog.service"):
        link(root, f"/etc/systemd/system/multi-user.target.wants/{unit}", f"/usr/lib/systemd/system/{unit}")
    link(
        root,
        "/etc/systemd/system/sockets.target.wants/telnet.socket",
        "/usr/lib/systemd/system/telnet.socket",
    )
    for folder in ("usr/bin", "usr/sbin", "usr/lib64"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    link(root, "/bin", "usr/bin")
    link(root, "/var/lib/rpm", "../../usr/lib/sysimage/rpm")
    packages = [
        ("bash", "5.1.8", "6.el9"),
        ("openssh-server", "8.7p1", "34.el9"),
        ("firefox", "115.5.0", "1.el9_3"),
        ("postfix", "3.5.9", "24.el9"),
        ("telnet-server", "0.17", "85.el9"),
    ]
    install_rpms(root, work, packages, dbpath="/usr/lib/sysimage/rpm")
    (root / "usr/lib/sysimage/rpm/.rpm.lock").unlink(missing_ok=True)
    return root


def hostile_root(root: Path) -> Path:
    """A guest that fights back: a symlink aiming at the host, a corrupt rpm database, an
    oversized sshd_config, an unterminated xinetd block, binary junk in passwd."""
    write(root, "/etc/fstab", "LABEL=guestroot / ext4 defaults 1 1\n")
    write(root, "/etc/redhat-release", "Red Hat Enterprise Linux Server release 5.11 (Tikanga)\n")
    for folder in ("bin", "sbin", "usr/bin"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    # Aims at a host file that would give root a password; resolved inside the guest,
    # where it does not exist.
    bait = root.parent / "host-bait-shadow"
    bait.write_text(f"root:{HASH}:19000:0:99999:7:::\n")
    link(root, "/etc/shadow", f"/../../../../../..{bait}")
    link(root, "/etc/inittab", "/etc/inittab")  # a loop
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n\x00\xff\x1b[2Jjunk\nmallory:x:0\n")
    write(root, "/var/lib/rpm/Packages", "\x00" * 12 + "not a database" * 400)
    write(root, "/etc/ssh/sshd_config", "PermitRootLogin no\n" + "#" * (9 * 1024 * 1024))
    write(root, "/etc/xinetd.conf", "includedir /etc/xinetd.d\n")
    write(root, "/etc/xinetd.d/telnet", "service telnet\n{\n disable = no\n")  # no closing brace
    return root


def spec_text(files: tuple[tuple[int, str], ...]) -> str:
    """SPEC, plus an %install that creates `files` (mode, path) and lists them with that mode."""
    if not files:
        return SPEC
    made = "".join(
        f"mkdir -p %{{buildroot}}{p.rsplit('/', 1)[0]}\ntouch %{{buildroot}}{p}\n" for _, p in files
    )
    listed = "".join(f"%attr({m:o},root,root) {p}\n" for m, p in files)
    head = "%global __os_install_post %{nil}\n%define _build_id_links none\n"
    return head + SPEC.replace("%files\n", f"%install\n{made}%files\n{listed}")


def install_rpms(root: Path, work: Path, packages: list[tuple], dbpath: str = "/var/lib/rpm") -> None:
    """Build packages (empty, or with (mode, path) files as a fourth item) and install
    them into root's database (sqlite), --justdb: the files are in the database only."""
    top = work / "rpmbuild"
    for name, version, release, *files in packages:
        spec = work / f"{name}.spec"
        spec.write_text(spec_text(files[0] if files else ()))
        run(
            [
                "rpmbuild",
                "-bb",
                "--quiet",
                "--define",
                f"_topdir {top}",
                "--define",
                "_rpmfilename %{name}.rpm",
                "--define",
                f"pname {name}",
                "--define",
                f"pver {version}",
                "--define",
                f"prel {release}",
                str(spec),
            ]
        )
    rpms = [str(top / "RPMS" / f"{name}.rpm") for name, *_ in packages]
    db = ["--root", str(root), "--dbpath", dbpath]
    run(["rpm", *db, "--initdb"])
    run(["rpm", *db, "-i", "--justdb", "--nodeps", "--noscripts", "--ignorearch", *rpms])


def packages_file(sqlite_db: Path, target: Path, page_size: int = 4096) -> None:
    """Write the headers of an rpm sqlite database as a Berkeley DB hash `Packages`
    file, keyed by instance number (native byte order), as rpm 4.4-4.16 did."""
    con = sqlite3.connect(sqlite_db)
    rows = con.execute("SELECT hnum, blob FROM Packages").fetchall()
    con.close()
    dump = target.with_suffix(".dump")
    lines = ["VERSION=3", "format=bytevalue", "type=hash", "HEADER=END"]
    for hnum, blob in rows:
        lines += [" " + struct.pack("<I", hnum).hex(), " " + bytes(blob).hex()]
    dump.write_text("\n".join([*lines, "DATA=END", ""]))
    target.unlink(missing_ok=True)
    run(["db5.3_load", "-c", f"db_pagesize={page_size}", "-f", str(dump), str(target)])
    dump.unlink()


def ext4_image(root: Path, image: Path, size_mib: int = 64) -> Path:
    """An ext4 file system image made from root (no mount, no root needed)."""
    with image.open("wb") as f:
        f.truncate(size_mib * 1024 * 1024)
    run(["mkfs.ext4", "-q", "-F", "-L", "guestroot", "-E", "root_owner=0:0", "-d", str(root), str(image)])
    return image


def run(argv: list[str]) -> str:
    env = {**os.environ, "LC_ALL": "C"}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()[-800:]}")
    return proc.stdout
