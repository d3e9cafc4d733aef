"""The offline VirtualBox driver: facts from .vbox settings files, no VirtualBox needed.

Read-only by design: VBoxSVC owns a registered machine's settings file and would
overwrite an outside edit, so changes go through the live `virtualbox` driver.
"""

from __future__ import annotations

import glob
from collections import Counter
from pathlib import Path

from vmguard.core.errors import DriverError
from vmguard.drivers import safexml
from vmguard.drivers.interface import ApplyResult
from vmguard.drivers.vbox.settings import facts_from_settings
from vmguard.enforce.plan import Capabilities, Plan
from vmguard.facts.vm import VmFacts
from vmguard.inventory.model import DriverKind

READ_ONLY = "vbox-file connections are read-only; apply through a 'virtualbox' connection"


def read_settings_file(path: Path) -> VmFacts:
    """The facts of one .vbox file; DriverError if it is unreadable or not one."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DriverError(f"cannot read {path}: {err.strerror}") from None
    root = safexml.strip_namespaces(safexml.parse(data, str(path)))
    try:
        return facts_from_settings(root, str(path))
    except DriverError as err:
        where = str(path)
        raise DriverError(str(err) if str(err).startswith(where) else f"{where}: {err}") from None


class VboxFileDriver:
    kind = DriverKind.VBOX_FILE
    capabilities = Capabilities(supported=frozenset())  # every difference is manual

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
        named = [(read_settings_file(f).name, f) for f in files]
        counts = Counter(name for name, _ in named)
        # VM names are unique per VirtualBox host, not across a folder of copied files.
        self.files = {name if counts[name] == 1 else f"{name} ({f.name})": f for name, f in named}

    def list_vms(self) -> list[str]:
        return sorted(self.files)

    def _file(self, name: str) -> Path:
        if name not in self.files:
            raise DriverError(f"no .vbox file for VM {name!r} in {self.pattern}")
        return self.files[name]

    def read_facts(self, name: str) -> VmFacts:
        return read_settings_file(self._file(name))

    def apply(self, name: str, plan: Plan, *, dry_run: bool) -> ApplyResult:
        if plan.changes:
            raise DriverError(READ_ONLY)
        return ApplyResult(name, dry_run=dry_run)

    def backup(self, name: str) -> bytes:
        return self._file(name).read_bytes()

    def restore(self, name: str, config: bytes) -> None:
        raise DriverError(READ_ONLY)

    def power_off(self, name: str, *, hard: bool = False) -> None:
        raise DriverError(READ_ONLY)

    def pause(self, name: str) -> None:
        raise DriverError(READ_ONLY)

    def start(self, name: str) -> None:
        raise DriverError(READ_ONLY)

    def close(self) -> None:
        """Nothing held open."""
