"""The apply worker: one libguestfs appliance changes one stopped VM's guest files.

Runs as `python -m vmguard.guest.apply_worker` (in its own session, killed with its
parent). Reads {"disks": [[path, format, read_only], ...], "changes": [...],
"fingerprints": [[size, mtime_ns, head_sha256], ...]} on stdin; writes {"records": [...]}
or {"error": "..."} on stdout. The guest's file systems are mounted inside the
appliance only, first read-only: every edit is computed and checked against the plan
before anything is mounted for writing, so a guest that changed since the plan (or
whose files do not parse) is left as it was.

The race with a VM started meanwhile: the appliance's qemu holds QEMU's image lock on
each writable image from its launch on (the lock libvirt's qemu takes too), so a domain
that starts later fails to start, and one that started first makes the launch fail.
A domain that ran and stopped between vmguard's last look and the launch changed its
disk: the fingerprints (vmguard.guest.cache.fingerprint) are compared again once the
lock is held, before anything is read, and a mismatch stops the apply.
"""

from __future__ import annotations

import json
import stat
import sys
import tempfile
from pathlib import Path

from vmguard.checks.guest_fix import GuestAction, GuestChange, owner_mode
from vmguard.core.errors import GuestError
from vmguard.guest import disks as guest_disks
from vmguard.guest import edit, services
from vmguard.guest.cache import fingerprint
from vmguard.guest.edit import EditError
from vmguard.guest.guestfs_files import MAX_TEXT, GuestFileError, GuestfsFiles
from vmguard.guest.model import ServiceKind
from vmguard.guest.worker import MESSAGES, NoOperatingSystem, _remember, error_text, module_missing


class GuestEdits:
    """The new contents of guest files and the links to remove, computed before writing."""

    def __init__(self, files: GuestfsFiles, handle) -> None:
        self.files = files
        self.g = handle
        self.texts: dict[str, str] = {}
        self.originals: dict[str, str] = {}
        self.removals: list[str] = []
        self.links: list[tuple[str, str]] = []  # (target, new link)
        self.renames: list[tuple[str, str]] = []  # (path, new path)
        self.modes: list[tuple[str, int, int, int]] = []  # (path, uid, gid, mode)
        self.records: list[dict] = []

    def text(self, path: str) -> str:
        if path not in self.texts:
            found = self.files.lstat(path)
            if found is None or not stat.S_ISREG(found[0]):
                raise EditError(f"{path}: not a regular file in the guest (left alone)")
            local = self.files.copy_out(path, MAX_TEXT)
            self.originals[path] = local.read_bytes().decode("utf-8", "surrogateescape")
            local.unlink()
            self.texts[path] = self.originals[path]
        return self.texts[path]

    def record(self, change: GuestChange, path: str, before: str, after: str) -> None:
        self.records.append(
            {
                "rule": change.rule,
                "action": change.action.value,
                "subject": change.subject,
                "file": path,  # not "path": the event log's append() has its own
                "before": before,
                "after": after,
            }  # fmt: skip
        )

    def changed(self) -> dict[str, bytes]:
        return {
            p: t.encode("utf-8", "surrogateescape") for p, t in self.texts.items() if t != self.originals[p]
        }


def lock(edits: GuestEdits, change: GuestChange) -> None:
    text, before, after = edit.lock_password(edits.text(change.path), change.target, change.path)
    edits.texts[change.path] = text
    edits.record(change, change.path, f"password {before}", f"password {after}")


def shell(edits: GuestEdits, change: GuestChange) -> None:
    text, before, after = edit.set_shell(edits.text(change.path), change.target, change.value, change.path)
    edits.texts[change.path] = text
    edits.record(change, change.path, f"shell {before}", f"shell {after}")


def comment_out(edits: GuestEdits, change: GuestChange) -> None:
    text, before = edit.comment_out(edits.text(change.path), change.line, change.target, change.path)
    edits.texts[change.path] = text
    edits.record(change, f"{change.path}:{change.line}", before, edit.COMMENTED + before.lstrip())


def drop_nullok(edits: GuestEdits, change: GuestChange) -> None:
    text, before, after = edit.drop_nullok(edits.text(change.path), change.line, change.path)
    edits.texts[change.path] = text
    edits.record(change, f"{change.path}:{change.line}", before, after)


def rename_away(edits: GuestEdits, change: GuestChange) -> None:
    """The file must still be there, and its new name free (nothing is overwritten)."""
    found = edits.files.lstat(change.path)
    if found is None or not stat.S_ISREG(found[0]):
        raise EditError(f"{change.path}: not a regular file any more (the plan saw one)")
    new = edit.disabled_name(change.path)
    if edits.files.lstat(new) is not None or any(n == new for _, n in edits.renames):
        raise EditError(f"{new}: exists already: {change.path} left in place")
    edits.renames.append((change.path, new))
    edits.record(change, change.path, "present", f"renamed to {new}")


def owner_and_mode(edits: GuestEdits, change: GuestChange) -> None:
    """The file must be the regular file with the owner, group and mode the plan saw."""
    found = edits.files.lstat(change.path)
    if (
        found is None
        or not stat.S_ISREG(found[0])
        or owner_mode(found[1], found[2], found[0]) != change.current
    ):
        raise EditError(f"{change.path}: not the regular file with {change.current} the plan saw")
    uid, gid, mode = change.value.split(":")
    edits.modes.append((change.path, int(uid), int(gid), int(mode, 8)))
    edits.record(change, change.path, change.current, change.wanted)


def sudo_comment_out(edits: GuestEdits, change: GuestChange) -> None:
    text, before = edit.comment_out_sudo(edits.text(change.path), change.line, change.current, change.path)
    edits.texts[change.path] = text
    after = [edit.COMMENTED + line for line in before]
    edits.record(change, f"{change.path}:{change.line}", "\n".join(before), "\n".join(after))


def sshd_block(edits: GuestEdits, changes: list[GuestChange]) -> None:
    path = changes[0].path
    old = edits.text(path)
    before = edit.managed_settings(old)
    edits.texts[path] = edit.with_managed_block(old, [(c.target, c.value) for c in changes])
    for c in changes:
        was = before.get(c.target.lower())
        edits.record(
            c, path, f"{c.current}" + (f", block had {was[1]}" if was else ""), f"{c.target} {c.value}"
        )


def disable(edits: GuestEdits, change: GuestChange) -> None:
    if change.kind == "xinetd":
        text, before = edit.xinetd_disable(edits.text(change.path), change.target, change.path)
        edits.texts[change.path] = text
        edits.record(change, change.path, f"disable = {', '.join(before)}", "disable = yes")
        return
    kind = ServiceKind(change.kind)
    listing = _listing(edits, change.kind)
    runs = services.entries_run(edits.files, listing, kind)
    links = edit.start_links(runs, change.target)
    if not links:
        raise EditError(f"service {change.target}: no start link any more (the plan saw {change.path})")
    odd = [why for why in (_not_a_link(edits, link) for link in links) if why]
    if odd:  # every one named at once; nothing removed
        raise EditError(
            f"service {change.target}: start entries that are not symlinks to an init script: "
            f"{'; '.join(odd)}: vmguard does not delete them (one may be the only copy of the script); "
            "remove them by hand, or turn the service off with chkconfig/update-rc.d"
        )
    for link in links:
        edits.removals.append(link)
        edits.record(change, link, f"link to {edits.g.readlink(link)}", "removed")
    if change.kind == "sysv":
        _kill_links(edits, change, links[0])


def _not_a_link(edits: GuestEdits, entry: str) -> str:
    """What is odd about a start entry that is not a symlink ("" for a symlink): init runs
    a copy or a hard link of the script as well."""
    found = edits.g.lstatns(entry)
    mode = found["st_mode"]
    if stat.S_ISLNK(mode):
        return ""
    if not stat.S_ISREG(mode):
        return f"{entry} is not a file or link (mode {mode:o})"
    if found["st_nlink"] > 1:
        return f"{entry} is a hard link ({found['st_nlink']} names for one file)"
    return f"{entry} is a regular file"


def _kill_links(edits: GuestEdits, change: GuestChange, start_link: str) -> None:
    """K links where a runlevel has none: the service off for chkconfig in every level."""
    listing = _listing(edits, "sysv")
    target = edits.g.readlink(start_link)
    stop = edit.stop_priority(_script(edits, start_link), start_link)
    for link in edit.kill_links(listing, change.target, stop):
        edits.links.append((target, link))
        edits.record(change, link, "absent", f"link to {target}")


def _script(edits: GuestEdits, start_link: str) -> str:
    """The init script the S link names ("" when it is missing or not a file)."""
    try:
        return edits.text(edits.g.realpath(start_link))
    except (EditError, RuntimeError):
        return ""


def _listing(edits: GuestEdits, kind: str) -> dict[str, list[str]]:
    """Real folders (RHEL's /etc/rcN.d are links to /etc/rc.d/rcN.d) and their names."""
    if kind == "sysv":
        folders = [d.format(n) for d in services.SYSV_DIRS for n in range(7)]
    else:
        folders = services.systemd_folders(edits.files)
    real = {edits.g.realpath(f) for f in folders if edits.files.is_dir(f)}
    return {f: edits.files.listdir(f) for f in sorted(real)}


ONE_BY_ONE = {
    GuestAction.LOCK_PASSWORD: lock,
    GuestAction.SET_SHELL: shell,
    GuestAction.SSHD_COMMENT_OUT: comment_out,
    GuestAction.DISABLE_SERVICE: disable,
    GuestAction.DROP_NULLOK: drop_nullok,
    GuestAction.RENAME_AWAY: rename_away,
    GuestAction.SET_OWNER_MODE: owner_and_mode,
    GuestAction.SUDO_COMMENT_OUT: sudo_comment_out,
}


def compute(edits: GuestEdits, changes: list[GuestChange]) -> None:
    """Every edit, in memory; EditError when the guest is not as planned."""
    for change in changes:
        if change.action in ONE_BY_ONE:
            ONE_BY_ONE[change.action](edits, change)
    block = [c for c in changes if c.action is GuestAction.SSHD_SETTING]
    if block:  # after the comment-outs: the block shifts every line number
        sshd_block(edits, block)


def _roots(g) -> dict[str, str]:
    roots = [r for r in g.inspect_os() if g.inspect_get_format(r) == "installed"]
    if not roots or g.inspect_get_type(roots[0]) != "linux":
        raise NoOperatingSystem("no Linux system found on the disks")
    return g.inspect_get_mountpoints(roots[0])


def _mount(g, mounts: dict[str, str], writable: bool) -> None:
    for mountpoint in sorted(mounts, key=len):  # "/" before "/usr"
        (g.mount if writable else g.mount_ro)(mounts[mountpoint], mountpoint)


def same_disks(disks: list[tuple[str, str, bool]], seen: list | None) -> None:
    """EditError when a writable image is not the one vmguard inspected and backed up."""
    if seen is None:
        return
    writable = [Path(p) for p, _, read_only in disks if not read_only]
    if [list(fingerprint(p)) for p in writable] != [list(f) for f in seen]:
        raise EditError("a disk image changed since it was inspected (did the VM run meanwhile?)")


def apply(
    disks: list[tuple[str, str, bool]], changes: list[GuestChange], seen: list | None = None
) -> list[dict]:
    try:
        import guestfs  # Debian's python3-guestfs, outside PyPI: imported where needed
    except ImportError:
        raise NoOperatingSystem(module_missing()) from None
    g = guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
    g.set_event_callback(_remember, guestfs.EVENT_APPLIANCE | guestfs.EVENT_LIBRARY | guestfs.EVENT_WARNING)
    try:
        with tempfile.TemporaryDirectory(prefix="vmguard-guest-") as scratch:
            guest_disks.add(g, disks, Path(scratch))  # the format is never probed
            g.launch()  # from here on QEMU's image lock keeps a starting domain off the disks
            same_disks(disks, seen)
            mounts = _roots(g)
            _mount(g, mounts, writable=False)
            edits = GuestEdits(GuestfsFiles(g, Path(scratch)), g)
            compute(edits, changes)
            g.umount_all()
            _mount(g, mounts, writable=True)
            _write(g, edits)
        return edits.records
    finally:
        g.close()


def _write(g, edits: GuestEdits) -> None:
    """In place (the inode keeps its owner, mode and SELinux label), then synced."""
    for path, data in edits.changed().items():
        g.write(path, data)
    for path, uid, gid, mode in edits.modes:  # after the writes, which keep the old ones
        g.chown(uid, gid, path)
        g.chmod(mode, path)
    for path, new in edits.renames:
        g.mv(path, new)
    for link in edits.removals:
        g.rm(link)
    for target, link in edits.links:
        g.ln_s(target, link)
    g.sync()
    g.umount_all()
    g.shutdown()  # the appliance flushes and exits: the images are whole when this returns


def main() -> int:
    request = json.load(sys.stdin)
    disks = [(p, f, bool(ro)) for p, f, ro in request["disks"]]
    try:
        changes = [GuestChange.from_dict(c) for c in request["changes"]]
        records = apply(disks, changes, request.get("fingerprints"))
    except (RuntimeError, NoOperatingSystem, EditError, GuestFileError, GuestError) as err:
        json.dump({"error": error_text(err) if isinstance(err, RuntimeError) else str(err)}, sys.stdout)
        return 1
    json.dump({"records": records}, sys.stdout)
    return 0


if __name__ == "__main__":
    MESSAGES.clear()
    sys.exit(main())
