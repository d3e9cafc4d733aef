"""The permission scan: world-writable files and set-id programs, and which of the
set-id ones the guest's package database accounts for.

World-writable means a regular file or a folder anyone may change, outside the
sticky, world-writable folders (/tmp, /var/tmp) where users keep their own files. A
set-id program is accounted for when an rpm database lists that very file as set-id;
dpkg keeps no file modes, so on dpkg guests a set-id file is accounted for when a
package owns it (its /var/lib/dpkg/info/*.list) or dpkg-statoverride gives it that mode.
"""

from __future__ import annotations

import posixpath
import stat

from vmguard.guest.guestfs_files import GuestfsFiles
from vmguard.guest.model import FileMark, Package

SCAN_ROOT = "/"
# Read-only trees of a running system that an image does not hold (or holds empty).
SKIP = ("/proc", "/sys", "/dev")
DPKG_INFO = "/var/lib/dpkg/info"
DPKG_STATOVERRIDE = "/var/lib/dpkg/statoverride"
# merged-/usr guests: /bin/su in a package list is /usr/bin/su on disk, and back.
MERGED = ("/bin/", "/sbin/", "/lib/", "/lib64/")


def scan(files: GuestfsFiles, packages: list[Package]) -> list[FileMark]:
    """Every finding of the scan, set-id marks with the package that accounts for them."""
    paths = [p for p in files.find(SCAN_ROOT) if not any(p == s or p.startswith(s + "/") for s in SKIP)]
    modes = dict(zip(paths, files.lstat_many(paths), strict=True))
    marks = marks_of(modes)
    if any(m.problem != "world-writable" for m in marks):
        marks = with_packages(marks, _setid_owners(files, packages, marks))
    return marks


def marks_of(modes: dict[str, tuple[int, int]]) -> list[FileMark]:
    """path -> (mode, uid) of every scanned path; the marks, sorted by path."""
    sticky = {p for p, (mode, _) in modes.items() if _shared_tmp(mode)}
    marks = []
    for path in sorted(modes):
        mode, uid = modes[path]
        marks += [FileMark(path, mode, uid, p) for p in problems(mode) if p != "world-writable"]
        if "world-writable" in problems(mode) and not _inside(path, sticky):
            marks.append(FileMark(path, mode, uid, "world-writable"))
    return marks


def problems(mode: int) -> list[str]:
    found = []
    if mode & stat.S_IWOTH and (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and not _shared_tmp(mode):
        found.append("world-writable")
    if stat.S_ISREG(mode) and mode & stat.S_ISUID:
        found.append("setuid")
    if stat.S_ISREG(mode) and mode & stat.S_ISGID:
        found.append("setgid")
    return found


def _shared_tmp(mode: int) -> bool:
    return stat.S_ISDIR(mode) and bool(mode & stat.S_ISVTX) and bool(mode & stat.S_IWOTH)


def _inside(path: str, folders: set[str]) -> bool:
    parent = posixpath.dirname(path)
    while parent not in ("/", ""):
        if parent in folders:
            return True
        parent = posixpath.dirname(parent)
    return False


def aliases(path: str) -> set[str]:
    """The names one file has on a merged-/usr system."""
    if path.startswith(MERGED):
        return {path, "/usr" + path}
    if path.startswith("/usr/") and ("/" + path[5:]).startswith(MERGED):
        return {path, path[4:]}
    return {path}


def with_packages(marks: list[FileMark], owners: dict[str, str]) -> list[FileMark]:
    def owner(path: str) -> str:
        return next((owners[a] for a in sorted(aliases(path)) if a in owners), "")

    return [
        m if m.problem == "world-writable" else FileMark(m.path, m.mode, m.uid, m.problem, owner(m.path))
        for m in marks
    ]


def _setid_owners(files: GuestfsFiles, packages: list[Package], marks: list[FileMark]) -> dict[str, str]:
    owners = {path: p.name for p in packages for path in p.setid_files}
    if any(p.source.where == "dpkg status" for p in packages):
        owners.update(statoverride_setid(files.read_text(DPKG_STATOVERRIDE) or ""))
        wanted = {a for m in marks if m.problem != "world-writable" for a in aliases(m.path)}
        owners.update(_dpkg_owners(files, wanted - set(owners)))
    return owners


def statoverride_setid(text: str) -> dict[str, str]:
    """`user group mode path` lines of dpkg-statoverride whose mode is set-id."""
    found = {}
    for line in text.splitlines():
        fields = line.split(None, 3)
        if len(fields) == 4 and _octal(fields[2]) & (stat.S_ISUID | stat.S_ISGID):
            found[fields[3].strip()] = "dpkg-statoverride"
    return found


def _octal(text: str) -> int:
    try:
        return int(text, 8)
    except ValueError:
        return 0


def _dpkg_owners(files: GuestfsFiles, wanted: set[str]) -> dict[str, str]:
    """Which package's file list names each wanted path (read only when one is wanted)."""
    found: dict[str, str] = {}
    for listing in files.glob(f"{DPKG_INFO}/*.list") if wanted else ():
        package = posixpath.basename(listing)[: -len(".list")].split(":")[0]
        named = set((files.read_text(listing) or "").splitlines()) & wanted
        found.update({path: package for path in named})
    return found
