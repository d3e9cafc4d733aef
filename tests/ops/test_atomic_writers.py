"""Every writer that replaces a file, outside vet, through its own subsystem's function.

On a real full tmpfs (64k, unmounted in finally): the subsystem's error (exit 3) saying
why, the old file intact (the firewall record: dropped, so that the next change is a
full apply), no temporary left anywhere. A symlink planted at the fixed temporary name
each writer used before (NAME.tmp, .NAME.vmguard-tmp, ...) is not written through."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gate.test_settings import INVENTORY
from tests.ops.test_atomic_file import fill
from tests.support.attack_ffs_cases import tmpfs
from tests.support.require import require_root
from vmguard.audit import history
from vmguard.audit.reports import metrics
from vmguard.audit.result import AuditResult, HostReport
from vmguard.batch.install import install_hooks
from vmguard.batch.job import BatchJob
from vmguard.batch.state import Holder, Phase, State
from vmguard.cli import main
from vmguard.core.errors import (
    AuditError,
    BatchError,
    DriverError,
    ExitCode,
    FirewallError,
    GateError,
    GuestError,
    LogError,
    SystemInstallError,
    VmguardError,
)
from vmguard.core.eventlog import EventLog
from vmguard.enforce.apply import BackupStore
from vmguard.firewall import state
from vmguard.fleet.report import write_fleet_report
from vmguard.gate import install as gate
from vmguard.guest.cache import GuestCache
from vmguard.guest.model import GuestFacts
from vmguard.inventory.loader import load_inventory
from vmguard.quarantine.scanners.interface import ScanError
from vmguard.quarantine.scanners.setup import install_database
from vmguard.system import install as system

NETNS = os.stat("/proc/self/ns/net").st_ino


def _inventory(fs: Path) -> Path:
    (fs.parent / "p.yaml").write_text("apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: p}\nspec: {}\n")
    (fs.parent / "inv.yaml").write_text(INVENTORY)
    return fs.parent / "inv.yaml"


def _gate(fs: Path, n: int) -> None:
    events = EventLog(fs.parent / "events.jsonl", syslog=None)
    gate.install(load_inventory(_inventory(fs)), None, fs / "hooks", events=events)


def _history(fs: Path, n: int) -> None:
    (fs / "out").mkdir(exist_ok=True)
    run = AuditResult(f"r{n}", dt.datetime.now(dt.UTC), "inv.yaml", (), HostReport(True, "audited"))
    history.record(run, fs / "out", keep=5)


def _metrics(fs: Path, n: int) -> None:
    summary = {"by_severity": {"high": n}, "rules": {"passed": 1}, "waived": 0, "score": 90, "unreachable": []}
    doc = {"started": "2026-12-05T06:00:00+00:00", "inventory": "inv.yaml", "trend": [], "summary": summary}
    metrics.write(doc, fs / "vmguard.prom")


def _scanners(fs: Path, n: int) -> None:
    (fs / "db").mkdir(exist_ok=True)
    install_database(str(fs / "db"))
    if n == 0:  # an older database: the next call replaces it
        (fs / "db" / "vmguard.hdb").write_text("old\n")


def _batch_state(fs: Path, n: int) -> None:
    job = BatchJob("slurm", f"{n}", "alice", 1000, 1000)
    state_dir = State(fs / "state")
    with state_dir.locked():
        state_dir.hold(Holder("vm1", "pool", "/q/vm1", job, Phase.ASSIGNED, "boot"))


@dataclass(frozen=True)
class Writer:
    name: str
    write: Callable[[Path, int], object]  # the subsystem's own call; n changes the bytes
    target: str  # relative to the folder written into; {netns} is this namespace's inode
    old_temp: str  # the fixed temporary it used before ("" for none)
    error: type[VmguardError]
    kept: bool = True  # the old file stays after a failure

    def path(self, fs: Path, name: str) -> Path:
        return fs / name.format(netns=NETNS, pid=os.getpid())


WRITERS = [
    Writer("gate", _gate, "hooks/qemu.d/vmguard", "hooks/qemu.d/.vmguard.tmp", GateError),
    Writer(
        "enforce",
        lambda fs, n: BackupStore(fs).mark_restart("c", "vm"),
        "pending/c/vm.restart",
        "pending/c/vm.tmp",
        DriverError,
    ),
    Writer(
        "guest-cache",
        lambda fs, n: GuestCache(fs / "guest").put("k", GuestFacts(os=f"linux {n}")),
        "guest/k.json",
        "guest/k.{pid}.tmp",
        GuestError,
    ),
    Writer("audit-history", _history, "out/history.jsonl", "out/.history.jsonl.tmp", AuditError),
    Writer("audit-metrics", _metrics, "vmguard.prom", "", AuditError),
    Writer(
        "fleet",
        lambda fs, n: write_fleet_report({"n": n}, fs / "fleet", ["json"]),
        "fleet/fleet.json",
        "fleet/.fleet.json.tmp",
        AuditError,
    ),
    Writer(
        "system",
        lambda fs, n: system.install(fs / "root", Path(f"/opt/v{n}/bin/vmguard")),
        "root/etc/systemd/system/vmguard-audit.service",
        "root/etc/systemd/system/.vmguard-audit.service.vmguard-tmp",
        SystemInstallError,
    ),
    Writer("scanners", _scanners, "db/vmguard.hdb", "db/.vmguard.hdb.vmguard-tmp", ScanError),
    Writer(
        "firewall",
        lambda fs, n: state.commit("nftables", state.prepare("nftables", {f"vm{n}": {}})),
        "run/firewall-nftables-{netns}.jsonl",
        "run/firewall-nftables-{netns}.tmp",
        FirewallError,
        kept=False,  # a record that no longer says what is loaded goes
    ),
    Writer(
        "batch",
        lambda fs, n: install_hooks(fs.parent / "batch.yaml", fs / "libexec", f"/log{n}"),
        "libexec/slurm-prolog",
        "libexec/.slurm-prolog.tmp",
        BatchError,
    ),
    Writer("batch-state", _batch_state, "state/vms/vm1.json", "state/vms/.vm1.json.tmp", BatchError),
    Writer(
        "eventlog",
        lambda fs, n: EventLog(fs / "events.jsonl", syslog=None).append("test", n=n),
        "events.jsonl.head",
        "events.jsonl.tmp",
        LogError,
    ),
]


@pytest.fixture
def fs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder every writer writes into (the firewall record's too)."""
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "fs" / "run"))
    return tmp_path / "fs"


def _files(root: Path) -> dict[str, bytes | None]:
    """Every name under root, with a file's bytes (None: a folder or a link)."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        plain = path.is_file() and not path.is_symlink()
        found[str(path.relative_to(root))] = path.read_bytes() if plain else None
    return found


@pytest.mark.root
@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.name)
def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(fs: Path, writer: Writer) -> None:
    require_root()
    with tmpfs(fs, "64k"):
        writer.write(fs, 0)
        before = _files(fs)
        fill(fs)
        with pytest.raises(writer.error) as raised:
            writer.write(fs, 1)
        after = _files(fs)
    assert raised.value.exit_code == ExitCode.CANNOT_RUN
    assert "No space left on device" in str(raised.value), str(raised.value)
    target = str(writer.path(fs, writer.target).relative_to(fs))
    expected = before if writer.kept else {k: v for k, v in before.items() if k != target}
    assert {k: v for k, v in after.items() if k != "fill"} == expected


@pytest.mark.parametrize("writer", [w for w in WRITERS if w.old_temp], ids=lambda w: w.name)
def test_a_link_at_the_old_temporary_name_is_not_written_through(fs: Path, writer: Writer) -> None:
    fs.mkdir()
    writer.write(fs, 0)
    victim = fs.parent / "victim"
    victim.write_bytes(b"victim")
    writer.path(fs, writer.old_temp).symlink_to(victim)
    writer.write(fs, 1)
    assert victim.read_bytes() == b"victim"
    target = writer.path(fs, writer.target)
    assert target.is_file() and not target.is_symlink()


@pytest.mark.root
@pytest.mark.parametrize(
    "argv",
    [
        ["hook", "install", "--inventory", "{inv}", "--hooks-dir", "{fs}/hooks"],
        ["system", "install", "--root", "{fs}/root"],
        ["batch", "install-hooks", "--config", "{fs}/../batch.yaml", "--dir", "{fs}/libexec"],
    ],
    ids=["hook", "system", "batch"],
)
def test_the_cli_says_which_file_and_exits_3(fs: Path, argv: list[str], capsys: pytest.CaptureFixture) -> None:
    """Through the CLI: one line naming the file and the reason, exit 3, no traceback."""
    require_root()
    inv = _inventory(fs)
    with tmpfs(fs, "64k"):
        fill(fs)
        code = main([a.format(fs=fs, inv=inv) for a in argv])
        assert [n for n in os.listdir(fs) if n.startswith(".") or n.endswith(".tmp")] == []
    err = capsys.readouterr().err
    assert code == ExitCode.CANNOT_RUN, err
    assert err.startswith("vmguard: cannot write ") and "No space left on device" in err, err
    assert "Traceback" not in err
