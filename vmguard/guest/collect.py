"""Gather GuestFacts from a guest's mounted file systems (read-only, no guest code run)."""

from __future__ import annotations

from vmguard.guest import access, dpkg, passwd, scan, services, sshd, xinetd
from vmguard.guest.guestfs_files import GuestFileError, GuestfsFiles
from vmguard.guest.model import (
    Account,
    GuestFacts,
    GuestSource,
    Package,
    Service,
    ServiceKind,
    SshdConfig,
)
from vmguard.guest.rpmdb import RpmDbError, read_packages

RPM_DATABASES = (
    "/var/lib/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
    "/var/lib/rpm/Packages",  # Berkeley DB: RHEL 5, 6, 7
)
DPKG_STATUS = "/var/lib/dpkg/status"
SSHD_CONFIG = "/etc/ssh/sshd_config"
DEFAULT_KEY_FILES = ".ssh/authorized_keys .ssh/authorized_keys2"
# Where programs live, including where hand-installed ones go (/opt/firefox,
# /usr/lib64/thunderbird, /usr/local/bin/...).
PROGRAM_DIRS = (
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/games",
    "/opt",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local",
    "/usr/local/lib",
    "/usr/local/lib64",
    "/usr/local/share",
)


def collect(files: GuestfsFiles, os_name: str, *, scan_files: bool = True) -> GuestFacts:
    problems: list[str] = []
    packages = _guarded(problems, "packages", lambda: _packages(files, problems), [])
    config = _guarded(problems, "sshd", lambda: _sshd(files, packages), SshdConfig())
    accounts = _guarded(problems, "accounts", lambda: _accounts(files, config, problems), [])
    marks = _guarded(problems, "file scan", lambda: scan.scan(files, packages), []) if scan_files else None
    return GuestFacts(
        os=os_name,
        packages=tuple(packages),
        accounts=tuple(accounts),
        sshd=config,
        services=tuple(_guarded(problems, "services", lambda: _services(files), [])),
        programs=tuple(_guarded(problems, "programs", lambda: _programs(files), [])),
        file_marks=None if marks is None else tuple(marks),
        file_infos=tuple(_guarded(problems, "file modes", lambda: access.collect_file_infos(files), [])),
        pam_nullok=tuple(_guarded(problems, "PAM", lambda: access.collect_pam(files), [])),
        sudo_nopasswd=tuple(_guarded(problems, "sudoers", lambda: access.collect_sudo(files), [])),
        trust_files=tuple(
            _guarded(problems, "trust files", lambda: access.collect_trust_files(files, accounts), [])
        ),
        problems=tuple(problems),
    )


def _guarded(problems: list[str], what: str, read, empty):
    """One unreadable part of the guest is reported and does not hide the others."""
    try:
        return read()
    except (GuestFileError, RpmDbError, RuntimeError, ValueError) as err:
        problems.append(f"{what}: {err}")
        return empty


def _packages(files: GuestfsFiles, problems: list[str]) -> list[Package]:
    found: list[Package] = []
    status = files.read_text(DPKG_STATUS)
    if status is not None:
        found += dpkg.parse_status(status, DPKG_STATUS)
    for path in RPM_DATABASES:
        local = files.copy_out(path)
        if local is None:
            continue
        wal = files.copy_out(path + "-wal")  # uncheckpointed sqlite transactions
        sqlite = path.endswith(".sqlite")
        kind = "rpm database (sqlite)" if sqlite else "rpm database (Berkeley DB)"
        rpms, bad = read_packages(local, sqlite=sqlite)
        problems += [f"{path}: {b}" for b in bad]
        found += [Package(p.name, p.evr, GuestSource(kind, path), p.setid_files) for p in rpms]
        for copied in (local, wal):
            if copied:
                copied.unlink(missing_ok=True)  # SQLite removes the -wal it has applied
        break  # the first database found is the one rpm uses
    return found


def _sshd(files: GuestfsFiles, packages: list[Package]) -> SshdConfig:
    version = next((p.version for p in packages if p.name in ("openssh-server", "openssh")), "")
    text = files.read_text(SSHD_CONFIG)
    if text is None:
        return SshdConfig(openssh_version=version)

    def include(pattern: str) -> list[tuple[str, str]]:
        return [(p, files.read_text(p) or "") for p in files.glob(pattern) if files.is_file(p)]

    settings = sshd.parse_sshd_config(text, SSHD_CONFIG, include)
    return SshdConfig(tuple(settings), version, GuestSource("sshd_config", SSHD_CONFIG))


def _accounts(files: GuestfsFiles, config: SshdConfig, problems: list[str]) -> list[Account]:
    entries, bad = passwd.parse_passwd(files.read_text("/etc/passwd") or "")
    problems += bad
    # A shadow that cannot be read must not hide the accounts: their passwords are unknown.
    shadow = passwd.parse_shadow(
        _guarded(problems, "shadow", lambda: files.read_text("/etc/shadow"), None) or ""
    )
    key_files = config.global_line("authorizedkeysfile")
    patterns = (key_files.value if key_files else DEFAULT_KEY_FILES).split()
    return [_account(files, e, shadow.get(e.name), patterns) for e in entries]


def _account(files: GuestfsFiles, entry, shadow_entry, patterns: list[str]) -> Account:
    state = passwd.account_password(entry, shadow_entry)
    keys, keys_source = 0, None
    if passwd.interactive(entry.shell):
        for path in _key_paths(patterns, entry.name, entry.home):
            count = passwd.count_keys(files.read_text(path, limit=1024 * 1024) or "")
            if count and not keys_source:
                keys_source = GuestSource("authorized_keys", path)
            keys += count
    return Account(
        name=entry.name,
        uid=entry.uid,
        login_shell=entry.shell,
        home=entry.home,
        password=state,
        authorized_keys=keys,
        interactive_shell=passwd.interactive(entry.shell),
        source=GuestSource("passwd", "/etc/passwd", entry.line),
        password_source=passwd.shadow_source(shadow_entry),
        keys_source=keys_source,
        gid=entry.gid,
        shadowed=passwd.shadowed(entry),
    )


def _key_paths(patterns: list[str], user: str, home: str) -> list[str]:
    """AuthorizedKeysFile patterns with sshd's %h, %u and %% expanded."""
    paths = []
    for pattern in patterns:
        path = pattern.replace("%%", "\0").replace("%h", home).replace("%u", user).replace("\0", "%")
        paths.append(path if path.startswith("/") else f"{home.rstrip('/')}/{path}")
    return paths


def _services(files: GuestfsFiles) -> list[Service]:
    """Judged by what each start entry runs (services.entry_runs), not by its name."""
    levels = services.default_runlevel(files.read_text("/etc/inittab") or "")
    links = {d.format(n): files.listdir(d.format(n)) for d in services.SYSV_DIRS for n in range(7)}
    links = {d: names for d, names in links.items() if names}
    found = services.sysv_services(links, levels, services.entries_run(files, links, ServiceKind.SYSV))
    wants = {d: files.listdir(d) for d in services.systemd_folders(files)}
    found += services.systemd_services(wants, services.entries_run(files, wants, ServiceKind.SYSTEMD))
    return found + _xinetd(files)


def _xinetd(files: GuestfsFiles) -> list[Service]:
    main = files.read_text("/etc/xinetd.conf")
    if main is None:
        return []
    blocks = xinetd.parse_blocks(main, "/etc/xinetd.conf")
    for folder in xinetd.includedirs(main):
        for name in files.listdir(folder):
            if "." not in name and not name.endswith("~"):  # xinetd skips these too
                path = f"{folder.rstrip('/')}/{name}"
                blocks += xinetd.parse_blocks(files.read_text(path) or "", path)
    ports = xinetd.parse_etc_services(files.read_text("/etc/services") or "")
    return xinetd.enabled_services(blocks, ports)


def _programs(files: GuestfsFiles) -> list[str]:
    found = []
    for folder in PROGRAM_DIRS:
        found += [f"{folder}/{name}" for name in files.listdir(folder)]
    for folder in ("/opt", "/usr/local"):  # /opt/mozilla/firefox, /usr/local/firefox/...
        for name in files.listdir(folder):
            found += [f"{folder}/{name}/{sub}" for sub in files.listdir(f"{folder}/{name}")]
    return sorted(set(found))
