"""What vmguard last loaded into this network namespace's nftables table, per VM.

Only the incremental path reads it: to take one VM out it must name that VM's exact set
elements, and listing the sets of 10,000 VMs to find them is what it must not do. The
kernel stays the truth: a missing or stale record only makes vmguard fall back to a
full, atomic apply (which rewrites the record), and `audit` never reads it.

Format: one JSON line per VM, `[name, {set: [element, ...]}]`; an update appends a line
(the last one for a name wins, `null` elements mean removed), a full apply rewrites all.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from vmguard.core.atomicfile import Staged, stage
from vmguard.core.errors import FirewallError

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


def prepare(backend: str, vms: dict[str, Elements]) -> Staged:
    """The record of a full apply, written but not in place: the caller writes it while
    nft is still loading, then `commit`s it once the apply succeeded, or discards it."""
    path = _path(backend)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return stage(path, "".join(_line(n, e) for n, e in vms.items()).encode(), 0o600)
    except OSError as err:
        raise _unrecorded(backend, err) from err


def commit(backend: str, pending: Staged) -> None:
    try:
        pending.commit()
    except OSError as err:
        raise _unrecorded(backend, err) from err


def _unrecorded(backend: str, err: OSError) -> FirewallError:
    """The old record no longer says what is loaded: it goes, so the next change is a
    full apply; the error says so."""
    with contextlib.suppress(OSError):
        forget(backend)
    return FirewallError(
        f"cannot write the record of the loaded ruleset {_path(backend)}: {err.strerror or err}; "
        "the next firewall change will be a full apply"
    )


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
