"""Cache of inspection results, keyed by what the images are (not by their names).

The key of a VM's disks is, per image: its size, its mtime and a SHA-256 of its first
blocks, so an hourly audit re-reads only disks that changed. A changed image always
changes its mtime; the hash of the first blocks also catches an image replaced by
another with the mtime forged back (a restored copy).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from vmguard.core.atomicfile import write_atomic
from vmguard.core.errors import GuestError
from vmguard.guest import codec
from vmguard.guest.model import GuestFacts

HEAD_BYTES = 4 * 1024 * 1024
FORMAT_VERSION = "3"  # bump when GuestFacts or what is collected changes


def fingerprint(path: Path) -> tuple[int, int, str]:
    """(size, mtime, SHA-256 of the first blocks); GuestError when unreadable."""
    try:
        with path.open("rb") as image:
            info = os.fstat(image.fileno())
            head = hashlib.sha256(image.read(HEAD_BYTES)).hexdigest()
    except OSError as err:
        raise GuestError(f"cannot read disk image {path}: {err.strerror}") from err
    return info.st_size, info.st_mtime_ns, head


def cache_key(disks: Sequence[tuple[str, str]], scan_files: bool) -> str:
    parts = [FORMAT_VERSION, str(scan_files)]
    for path, fmt in disks:
        parts += [str(Path(path).resolve()), fmt, repr(fingerprint(Path(path)))]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def default_dir() -> Path:
    base = os.environ.get("VMGUARD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vmguard"
    )
    return Path(base) / "guest"


class GuestCache:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_dir()

    def get(self, key: str) -> GuestFacts | None:
        try:
            return codec.load(json.loads((self.folder / f"{key}.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or unreadable: inspect again

    def put(self, key: str, facts: GuestFacts) -> None:
        """Atomic: a concurrent audit reads the old entry or the new one (GuestError)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as err:
            raise GuestError(f"cannot create the guest cache {self.folder}: {err.strerror}") from err
        data = json.dumps(codec.dump(facts)).encode()
        write_atomic(self.folder / f"{key}.json", data, 0o600, GuestError)
