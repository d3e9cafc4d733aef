"""`vmguard system install`: put the shipped units, the logrotate snippet, the command
link and vmguard's folders in place on a host (Debian 12: from a virtualenv under
/opt/vmguard, PEP 668).

The units name this installation's own `vmguard` by absolute path, so they run the
same code whatever PATH systemd has. Files vmguard wrote earlier (they carry its
marker) are replaced; anything else in their place is left alone and reported.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from vmguard.core.atomicfile import link_atomic, write_atomic
from vmguard.core.errors import SystemInstallError

UNITS = ("vmguard-audit.service", "vmguard-audit.timer", "vmguard-watch.service")
# The start gate's warm server (`vmguard hook serve`, docs/gate.md): only with --gate, as
# it goes with `vmguard hook install --server`, which decides whether VMs may start.
GATE_UNIT = "vmguard-gate.service"
MARKER = "Written by `vmguard system install`"
LINK = Path("usr/local/bin/vmguard")
MAN_LINK = Path("usr/local/share/man/man1/vmguard.1")  # the units' Documentation=man:vmguard(1)
FOLDERS = {  # relative to the root, and their modes
    Path("etc/vmguard"): 0o755,
    Path("var/lib/vmguard/audit_reports"): 0o750,
    Path("var/log/vmguard"): 0o750,
}


@dataclass(frozen=True)
class InstalledSystem:
    """What one install wrote, for the command's summary."""

    written: tuple[Path, ...]
    folders: tuple[Path, ...]
    link: Path
    command: Path
    manual: Path | None = None  # the man page's link; None where the package has none
    changed: tuple[Path, ...] = ()  # what this run created or rewrote (none: all in place)


def command_path() -> Path:
    """This installation's `vmguard` (the virtualenv's console script)."""
    candidate = Path(sys.prefix) / "bin" / "vmguard"
    if candidate.is_file():
        return candidate
    raise SystemInstallError(
        f"no vmguard command in {candidate.parent}: install vmguard into this environment first"
    )


def shipped(name: str) -> str:
    """A file shipped in the package (vmguard/system/files/)."""
    return resources.files("vmguard.system").joinpath("files", name).read_text("utf-8")


def unit_text(name: str, command: Path) -> str:
    return shipped(name).replace("@VMGUARD@", str(command))


def units(gate: bool = False) -> tuple[str, ...]:
    """The units an install writes: the gate's only when asked for."""
    return (*UNITS, GATE_UNIT) if gate else UNITS


def man_page(command: Path) -> Path | None:
    """The man page the wheel installed beside the command (share/man/man1), if any."""
    page = command.parent.parent / "share/man/man1/vmguard.1"
    return page if page.is_file() else None


def install(root: Path = Path("/"), command: Path | None = None, *, gate: bool = False) -> InstalledSystem:
    """Install under `root` (/ on a host; another folder for packaging or a test);
    gate: also the start gate's server unit."""
    command = command or command_path()
    files = {Path("etc/systemd/system") / unit: unit_text(unit, command) for unit in units(gate)}
    files[Path("etc/logrotate.d/vmguard")] = shipped("logrotate")
    _refuse_foreign(root, files)
    page = man_page(command)
    links = {root / LINK: command, **({root / MAN_LINK: page} if page else {})}
    try:
        changed = [root / r for r, mode in FOLDERS.items() if _folder(root / r, mode)]
        changed += [root / r for r, text in files.items() if _write(root / r, text)]
        changed += [link for link, target in links.items() if _link(link, target)]
    except OSError as err:  # not root, a read-only /usr, ...
        raise SystemInstallError(f"cannot install into {root}: {err.filename}: {err.strerror}") from err
    written, folders = tuple(root / r for r in files), tuple(root / r for r in FOLDERS)
    manual = root / MAN_LINK if page else None
    return InstalledSystem(written, folders, root / LINK, command, manual, tuple(changed))


def _refuse_foreign(root: Path, files: dict[Path, str]) -> None:
    foreign = [
        str(root / r) for r in files if (root / r).exists() and MARKER not in (root / r).read_text("utf-8")
    ]
    foreign += [
        str(root / link)
        for link in (LINK, MAN_LINK)
        if (root / link).exists() and not (root / link).is_symlink()
    ]
    if foreign:
        raise SystemInstallError(
            "not written by vmguard, left alone (move them away to install): " + ", ".join(foreign)
        )


def _folder(path: Path, mode: int) -> bool:
    """Create the folder if missing; True when it was."""
    if path.is_dir():
        return False
    path.mkdir(parents=True, mode=mode)
    return True


def _write(path: Path, text: str) -> bool:
    """Write atomically unless the file already holds `text` (mode 0644); True if written."""
    if path.is_file() and not path.is_symlink():
        same = path.read_text("utf-8") == text and path.stat().st_mode & 0o7777 == 0o644
        if same:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"), 0o644, SystemInstallError)
    return True


def _link(link: Path, target: Path) -> bool:
    """Point `link` at `target` (atomically replacing an older link); True if it changed."""
    if link.is_symlink() and os.readlink(link) == str(target):
        return False
    link.parent.mkdir(parents=True, exist_ok=True)
    link_atomic(link, str(target))
    return True
