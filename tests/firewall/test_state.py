"""The record of loaded per-VM elements: the last line for a name wins, found from the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmguard.firewall import state


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path))
    return tmp_path


def test_lookup_finds_first_and_last_lines_and_later_updates() -> None:
    vms = {"vm-1": {"ids4": ["a"]}, "vm-10": {"ids4": ["b"]}, "vm-\u00e9": {"ids4": ["c"]}}
    state.commit("nftables", state.prepare("nftables", vms))
    assert state.lookup("nftables", "vm-1") == {"ids4": ["a"]}, "the first line, not vm-10's"
    assert state.lookup("nftables", "vm-\u00e9") == {"ids4": ["c"]}, "the last line, escaped name"
    state.record("nftables", "vm-1", {"ids4": ["a2"]})
    state.record("nftables", "vm-10", None)
    assert state.lookup("nftables", "vm-1") == {"ids4": ["a2"]}
    assert state.lookup("nftables", "vm-10") is None
    assert state.lookup("nftables", "vm-2") is None
    assert state.lookup("nftables", "vm") is None, "a prefix of a name is not that name"


def test_no_record_or_a_damaged_one_means_a_full_apply(folder: Path) -> None:
    with pytest.raises(state.NoRecord):
        state.lookup("nftables", "vm-1")
    state.commit("nftables", state.prepare("nftables", {"vm-1": {}}))
    path = next(folder.glob("firewall-nftables-*.jsonl"))
    path.write_text('["vm-1", {"ids4": [\n')
    with pytest.raises(state.NoRecord):
        state.lookup("nftables", "vm-1")
