"""What vmguard last loaded into this network namespace's firewall, per VM.

Only the incremental path reads it: to take one VM out it must name that VM's exact set
elements, and listing sets of 10,000 VMs to find them is what it must not do. The
kernel stays the truth: a missing, unreadable or stale record only makes vmguard fall
back to a full, atomic apply (which rewrites the record), and `audit` never reads it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vmguard.firewall.model import Ruleset, VmRules

DEFAULT_DIR = "/run/vmguard"


def _path(backend: str) -> Path:
    # One record per network namespace: the namespace's inode names it.
    netns = os.stat("/proc/self/ns/net").st_ino
    folder = Path(os.environ.get("VMGUARD_STATE_DIR", DEFAULT_DIR))
    return folder / f"firewall-{backend}-{netns}.json"


def load(backend: str) -> dict[str, VmRules] | None:
    try:
        data = json.loads(_path(backend).read_text())
        return {vm.name: vm for vm in Ruleset.from_dict(data).vms}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(backend: str, interfaces: tuple[str, ...], vms: dict[str, VmRules]) -> None:
    path = _path(backend)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(Ruleset(interfaces, tuple(vms.values())).to_dict()))
    os.replace(tmp, path)


def forget(backend: str) -> None:
    _path(backend).unlink(missing_ok=True)
