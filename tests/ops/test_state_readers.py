"""Files vmguard writes and reads back (the firewall's record, the guest cache, the batch
hooks' records, a fleet's host reports): one it did not write, a symlink or a FIFO in
its place is refused or ignored as the reader documents, never a traceback or a hang."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hang import no_hang
from vmguard.batch.state import State
from vmguard.core.errors import BatchError, FirewallError
from vmguard.firewall import state as firewall_state
from vmguard.fleet.merge import load_host_report
from vmguard.guest.cache import GuestCache

DEEP = b"[" * 100_000 + b"]" * 100_000  # deeper than json.loads can recurse
NOT_WRITTEN = [b"{}", b"[1]", b"5", b"\xff", DEEP]


@pytest.fixture(autouse=True)
def deadline() -> Iterator[None]:
    with no_hang():
        yield


def plant(path: Path, kind: str, secret: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(secret)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret"
    path.write_bytes(b'["vm", {"s": ["x"]}]\n')
    return path


@pytest.mark.parametrize("elements", [DEEP, b"[1]", b"5", b'{"s": 5}', b'{"s": [1]}', b'{"s": ["x"]'])
def test_firewall_record_not_written_by_vmguard_means_a_full_apply(tmp_path, monkeypatch, elements) -> None:
    """The VM's line is found (its prefix is right) but is not what _line writes."""
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path))
    firewall_state._path("nft").write_bytes(b'["other", null]\n["vm", ' + elements + b"]\n")
    with pytest.raises(firewall_state.NoRecord):
        firewall_state.lookup("nft", "vm")


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_firewall_record_planted_is_refused_and_forgotten(tmp_path, monkeypatch, secret, kind) -> None:
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "run"))
    path = firewall_state._path("nft")
    plant(path, kind, secret)
    with pytest.raises(firewall_state.NoRecord):
        firewall_state.lookup("nft", "vm")
    with pytest.raises(FirewallError, match="next firewall change will be a full apply"):
        firewall_state.record("nft", "vm", {"s": ["y"]})
    assert secret.read_bytes() == b'["vm", {"s": ["x"]}]\n' and not os.path.lexists(path)


@pytest.mark.parametrize("data", NOT_WRITTEN)
def test_guest_cache_entry_not_written_by_vmguard_is_a_miss(tmp_path, data) -> None:
    (tmp_path / "k.json").write_bytes(data)
    assert GuestCache(tmp_path).get("k") is None


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_guest_cache_entry_planted_is_a_miss(tmp_path, secret, kind) -> None:
    plant(tmp_path / "cache" / "k.json", kind, secret)
    assert GuestCache(tmp_path / "cache").get("k") is None


@pytest.mark.parametrize("data", NOT_WRITTEN)
def test_batch_record_not_written_by_vmguard_is_a_batch_error(tmp_path, data) -> None:
    state = State(tmp_path / "state")
    state.ensure()
    (state.root / "vms" / "vm.json").write_bytes(data)
    with pytest.raises(BatchError, match="assignment record is unreadable"):
        state.holder("vm")


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_batch_files_planted_are_refused(tmp_path, secret, kind) -> None:
    state = State(tmp_path / "state")
    state.ensure()
    plant(state.root / "vms" / "vm.json", kind, secret)
    plant(state.root / "assigned" / "job-1", kind, secret)
    with pytest.raises(BatchError, match="assignment record is unreadable"):
        state.holder("vm")
    assert state.assigned_note("job-1") == ""


def test_a_fleet_host_report_nested_too_deep_is_a_problem(tmp_path) -> None:
    (tmp_path / "host.json").write_bytes(DEEP)
    report, problems = load_host_report(tmp_path / "host.json")
    assert report is None and "nested deeper" in str(problems)
