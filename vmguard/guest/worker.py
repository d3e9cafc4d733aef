"""The inspection worker: one libguestfs appliance, one VM's disks, read-only.

Runs as `python -m vmguard.guest.worker` in its own session so that offline.py can
end it, the appliance's qemu included, when the time for one VM runs out. Reads
{"disks": [[path, format], ...], "scan_files": bool} on stdin; writes
{"facts": ...} or {"error": "..."} on stdout.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from vmguard.guest import codec
from vmguard.guest.collect import collect
from vmguard.guest.guestfs_files import GuestfsFiles
from vmguard.guest.model import GuestFacts


class NoOperatingSystem(Exception):
    """Nothing to inspect on these disks, or no way to inspect them here."""


def inspect(disks: list[tuple[str, str]], scan_files: bool) -> GuestFacts:
    try:
        import guestfs  # Debian's python3-guestfs, outside PyPI: imported where needed
    except ImportError:
        raise NoOperatingSystem(
            f"libguestfs's Python module is not importable by {sys.executable}: "
            "apt-get install python3-guestfs libguestfs-tools (a venv needs --system-site-packages)"
        ) from None

    g = guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
    try:
        for path, fmt in disks:
            # readonly: libguestfs puts a throw-away overlay over the image, so nothing
            # (not even a journal replay) can reach it. The format is never probed: a
            # raw guest disk could claim to be qcow2 with a host file as its backing.
            g.add_drive_opts(path, readonly=True, format=fmt or "raw")
        g.launch()
        root = _mount_root(g)
        with tempfile.TemporaryDirectory(prefix="vmguard-guest-") as scratch:
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


def main() -> int:
    request = json.load(sys.stdin)
    try:
        facts = inspect([tuple(d) for d in request["disks"]], bool(request["scan_files"]))
    except (RuntimeError, NoOperatingSystem) as err:  # guestfs raises RuntimeError
        first_line = (str(err).splitlines() or ["unknown error"])[0]  # libguestfs adds debug advice
        json.dump({"error": first_line}, sys.stdout)
        return 1
    json.dump({"facts": codec.dump(facts)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
