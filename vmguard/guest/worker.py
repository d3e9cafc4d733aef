"""The inspection worker: one libguestfs appliance, one VM's disks, read-only.

Runs as `python -m vmguard.guest.worker` in its own session so that offline.py can
end it, the appliance's qemu included, when the time for one VM runs out. Reads
{"disks": [[path, format], ...], "scan_files": bool} on stdin; writes
{"facts": ...} or {"error": "..."} on stdout.
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
from pathlib import Path

from vmguard.core.errors import GuestError
from vmguard.guest import codec
from vmguard.guest import disks as guest_disks
from vmguard.guest.collect import collect
from vmguard.guest.guestfs_files import GuestfsFiles
from vmguard.guest.model import GuestFacts


class NoOperatingSystem(Exception):
    """Nothing to inspect on these disks, or no way to inspect them here."""


# libguestfs's own messages (qemu's stderr, the appliance's console): the real reason a
# launch failed is here, not in the exception ("guestfs_launch failed." and advice).
MESSAGES: collections.deque[str] = collections.deque(maxlen=40)
SYSTEM_MODULE = "/usr/lib/python3/dist-packages/guestfs.py"


def module_missing() -> str:
    """Why `import guestfs` failed, and the fix for this interpreter."""
    where = f"libguestfs's Python module is not importable by {sys.executable}"
    in_venv = sys.prefix != sys.base_prefix
    if in_venv and Path(SYSTEM_MODULE).exists() and str(Path(SYSTEM_MODULE).parent) not in sys.path:
        return (
            f"{where}: python3-guestfs is installed for the system Python, but the virtualenv "
            f"{sys.prefix} does not see system site packages (recreate it with "
            "`python3 -m venv --system-site-packages`, or set include-system-site-packages = true "
            "in its pyvenv.cfg)"
        )
    return f"{where}: apt-get install python3-guestfs libguestfs-tools"


def _remember(_event: int, _handle: int, buf: bytes | str, _array: object) -> None:
    text = buf.decode(errors="replace") if isinstance(buf, bytes) else str(buf)
    MESSAGES.extend(line.strip() for line in text.splitlines() if line.strip())


def inspect(disks: list[tuple[str, str]], scan_files: bool) -> GuestFacts:
    try:
        import guestfs  # Debian's python3-guestfs, outside PyPI: imported where needed
    except ImportError:
        raise NoOperatingSystem(module_missing()) from None

    g = guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
    events = guestfs.EVENT_APPLIANCE | guestfs.EVENT_LIBRARY | guestfs.EVENT_WARNING
    g.set_event_callback(_remember, events)
    try:
        with tempfile.TemporaryDirectory(prefix="vmguard-guest-") as scratch:
            # Read-only, through an overlay vmguard makes with the declared format
            # (vmguard.guest.disks: the format is never probed), in this scratch folder.
            guest_disks.add(g, [(path, fmt, True) for path, fmt in disks], Path(scratch))
            g.launch()
            root = _mount_root(g)
            return collect(GuestfsFiles(g, Path(scratch)), _os_name(g, root), scan_files=scan_files)
    finally:
        g.close()


def _mount_root(g) -> str:
    # Install media (an ISO left in the CD drive) are "installer" roots: not the system.
    roots = [r for r in g.inspect_os() if g.inspect_get_format(r) == "installed"]
    if not roots:
        raise NoOperatingSystem("no operating system found on the disks")
    if g.inspect_get_type(roots[0]) != "linux":
        raise NoOperatingSystem(f"unsupported guest operating system {g.inspect_get_type(roots[0])}")
    mounts = g.inspect_get_mountpoints(roots[0])
    for mountpoint in sorted(mounts, key=len):  # "/" before "/usr"
        try:
            g.mount_ro(mounts[mountpoint], mountpoint)
        except RuntimeError as err:
            if mountpoint == "/":
                raise
            print(f"cannot mount {mountpoint}: {err}", file=sys.stderr)
    return roots[0]


def _os_name(g, root: str) -> str:
    parts = (g.inspect_get_type(root), g.inspect_get_distro(root))
    version = f"{g.inspect_get_major_version(root)}.{g.inspect_get_minor_version(root)}"
    return f"{' '.join(parts)} {version}"


def error_text(err: Exception) -> str:
    """One line: the error's first line (libguestfs appends generic debugging advice) and
    the last messages libguestfs logged before it, which say why."""
    first = (str(err).splitlines() or ["unknown error"])[0]
    tail = [m for m in list(MESSAGES)[-5:] if m != first and not m.startswith("Formatting '")]
    return first + (f" (libguestfs said: {' | '.join(tail)})" if tail else "")


def main() -> int:
    request = json.load(sys.stdin)
    try:
        facts = inspect([tuple(d) for d in request["disks"]], bool(request["scan_files"]))
    except (RuntimeError, NoOperatingSystem, GuestError) as err:  # guestfs raises RuntimeError
        json.dump({"error": error_text(err) if isinstance(err, RuntimeError) else str(err)}, sys.stdout)
        return 1
    json.dump({"facts": codec.dump(facts)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
