"""Compressed chunks rewritten elsewhere (session 34, attack g): a gzip table appended to
over sessions leaves earlier versions of its edge chunks where libhdf5 freed them
(oldchunks.py).

h5py tables grown a session at a time (chunks of 16 rows, 6 or 8 sessions: those the
attacker's sweep found refused), with shuffle and fletcher32 or not, under both libver
bounds, pass, and each case leaves such remains (without the rule it is refused). A
byte of an old stream changed, a payload in its place, or a chunk whose values were
overwritten since (its old version is no cut of today's) is refused, naming h5repack."""

from __future__ import annotations

import re

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.attack_fbinary_hdf5 import sessions
from tests.support.hdf5_attack_c_bytes import PAYLOAD
from vmguard.quarantine.validators.hdf5 import oldchunks

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

FREED = "chunk data libhdf5 freed without clearing it"


def _append(dtype: str, filters: dict, overwrite: bool = False):
    """333 random rows appended to /m (7 columns, chunks of 16 rows, gzip): a logger's
    session; `overwrite`: first the session rewrites the first rows of the last chunk."""
    def step(f) -> None:
        rng = np.random.default_rng(len(f["m"]) if "m" in f else 0)
        if "m" not in f:
            f.create_dataset("m", shape=(0, 7), maxshape=(None, 7), chunks=(16, 7), dtype=dtype,
                             compression="gzip", **filters)
        m = f["m"]
        n = m.shape[0]
        if overwrite and n:
            last = n // 16 * 16
            m[last : last + 1] = (rng.random((1, 7)) * 1000).astype(dtype) + 1
        m.resize((n + 333, 7))
        m[n:] = (rng.random((333, 7)) * 1000).astype(dtype)
    return step


CASES = {  # (dtype, sessions, libver, filters)
    "f4-6": ("f4", 6, "earliest", {}),
    "f4-8": ("f4", 8, "earliest", {}),
    "f4-6-shuffle": ("f4", 6, "earliest", {"shuffle": True}),
    "f4-6-fletcher32": ("f4", 6, "earliest", {"fletcher32": True}),
    "f4-8-shuffle-fletcher32": ("f4", 8, "earliest", {"shuffle": True, "fletcher32": True}),
    "i2-6-latest": ("i2", 6, "latest", {}),
}


def _file(case: str, overwrite: bool = False) -> bytes:
    dtype, count, libver, filters = CASES[case]
    return sessions([_append(dtype, filters, overwrite)] * count, libver=libver)


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {case: _file(case) for case in CASES}


def _without_rule(data: bytes, monkeypatch) -> str:
    with monkeypatch.context() as m:
        m.setattr(oldchunks.OldChunks, "explains", lambda *_: False)
        return _refusal(data)


def _remains(data: bytes, monkeypatch) -> tuple[int, int]:
    """The first range of unclaimed non-zero bytes (what the rule admits)."""
    found = re.search(r"bytes (\d+)\.\.(\d+) \(after a chunk of /m\)", _without_rule(data, monkeypatch))
    assert found, _without_rule(data, monkeypatch)
    return int(found[1]), int(found[2])


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_table_appended_to_in_sessions_passes(files, case, monkeypatch):
    assert FREED in _without_rule(files[case], monkeypatch)  # the case has such remains
    assert _refusal(files[case]) == ""


@pytest.mark.parametrize("case", ["f4-6", "f4-6-shuffle", "f4-6-fletcher32", "i2-6-latest"])
def test_a_byte_of_an_old_stream_changed_is_refused(files, case, monkeypatch):
    start, end = _remains(files[case], monkeypatch)
    data = bytearray(files[case])
    at = next(i for i in range(end - 1, start - 1, -1) if data[i])  # its last non-zero byte
    data[at] ^= 0x01
    assert FREED in _refusal(bytes(data))


def test_a_payload_in_an_old_stream_is_refused(files, monkeypatch):
    start, end = _remains(files["f4-6"], monkeypatch)
    data = bytearray(files["f4-6"])
    size = min(len(PAYLOAD), end - start)
    data[start : start + size] = PAYLOAD[:size]
    assert FREED in _refusal(bytes(data))


def test_values_overwritten_since_are_refused():
    """Each session first rewrites a row of the last (partly filled) chunk: its older
    copies are no cut of today's chunk."""
    assert FREED in _refusal(_file("f4-6", overwrite=True))


@pytest.mark.parametrize("case", ["f4-6", "f4-8-shuffle-fletcher32"])
def test_a_byte_in_the_zeros_after_an_old_stream_is_refused(files, case, monkeypatch):
    """A stream's trailer may show in part only at the gap's start (its head under the
    structures before it): a byte set among the zeros after the remains is no stream."""
    start, end = _remains(files[case], monkeypatch)
    data = bytearray(files[case])
    last = next(i for i in range(end - 1, start - 1, -1) if data[i])
    assert last + 4 < end, (start, last, end)
    data[last + 3] = 0x41
    assert FREED in _refusal(bytes(data))


def _columns(f) -> None:
    """333 columns appended to /m (7 rows, chunks of 16 columns): the cut is along the
    second dimension."""
    rng = np.random.default_rng(len(f["m"][0]) if "m" in f else 0)
    if "m" not in f:
        f.create_dataset("m", shape=(7, 0), maxshape=(7, None), chunks=(7, 16), dtype="f4", compression="gzip")
    m = f["m"]
    n = m.shape[1]
    m.resize((7, n + 333))
    m[:, n:] = (rng.random((7, 333)) * 1000).astype("f4")


def test_a_table_grown_by_columns_in_sessions_passes(monkeypatch):
    data = sessions([_columns] * 6)
    assert FREED in _without_rule(data, monkeypatch)
    assert _refusal(data) == ""
