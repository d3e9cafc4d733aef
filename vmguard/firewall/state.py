"""What vmguard last loaded into this network namespace's nftables table, per VM.

Only the incremental path reads it: to take one VM out it must name that VM's exact set
elements, and listing the sets of 10,000 VMs to find them is what it must not do. The
kernel stays the truth: a missing or stale record only makes vmguard fall back to a
full, atomic apply (which rewrites the record), and `audit` never reads it.

Format: one JSON line per VM, `[name, {set: [element, ...]}]`; an update appends a line
(the last one for a name wins, `null` elements mean removed), a full apply rewrites all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_DIR = "/run/vmguard"
Elements = dict[str, list[str]]


class NoRecord(Exception):
    """No usable record: do a full apply."""


def _path(backend: str) -> Path:
    # One record per network namespace: the namespace's inode names it.
    netns = os.stat("/proc/self/ns/net").st_ino
    folder = Path(os.environ.get("VMGUARD_STATE_DIR", DEFAULT_DIR))
    return folder / f"firewall-{backend}-{netns}.jsonl"


def _line(name: str, elements: Elements | None) -> str:
    return json.dumps([name, elements]) + "\n"


def prepare(backend: str, vms: dict[str, Elements]) -> Path:
    """Write the record of a full apply beside the current one; `commit` puts it in place
    once the apply succeeded (the caller writes it while nft is still loading)."""
    path = _path(backend)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pending = path.with_suffix(".tmp")
    pending.write_text("".join(_line(n, e) for n, e in vms.items()))
    return pending


def commit(pending: Path) -> None:
    os.replace(pending, pending.with_suffix(".jsonl"))


def lookup(backend: str, name: str) -> Elements | None:
    """The VM's loaded elements, None if it is not loaded; NoRecord if unknown.
    Searches the bytes from the end: no decoding or splitting of 10,000 VMs' lines."""
    try:
        data = _path(backend).read_bytes()
    except OSError as err:
        raise NoRecord(str(err)) from err
    prefix = f"[{json.dumps(name)}, ".encode()  # json.dumps escapes to ASCII
    start = data.rfind(b"\n" + prefix) + 1  # 0: not found after a newline
    if start == 0 and not data.startswith(prefix):
        return None
    end = data.find(b"\n", start)
    try:
        return json.loads(data[start : end if end != -1 else len(data)])[1]
    except (ValueError, IndexError) as err:
        raise NoRecord(f"unreadable record of {name}") from err


def record(backend: str, name: str, elements: Elements | None) -> None:
    with open(_path(backend), "a") as fh:
        fh.write(_line(name, elements))


def forget(backend: str) -> None:
    _path(backend).unlink(missing_ok=True)
