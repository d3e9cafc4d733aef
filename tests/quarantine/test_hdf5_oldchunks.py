"""Compressed chunks rewritten elsewhere (session 34, attack g): a gzip table appended to
over sessions leaves earlier versions of its edge chunks where libhdf5 freed them
(oldchunks.py).

h5py tables grown a session at a time (chunks of 16 rows, 6 or 8 sessions: those the
attacker's sweep found refused), with shuffle and fletcher32 or not, under both libver
bounds, pass, and each case leaves such remains (without the rule it is refused). A
byte of an old stream changed, a payload in its place, or a chunk whose values were
overwritten since (its old version is no cut of today's) is refused, naming h5repack."""

from __future__ import annotations

import io
import re
import struct
import zlib

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support import attack_ibinary_hdf5 as tables
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


# ---------------------------------------------------------------- what the history allows (session 35)
# Attack i put earlier versions after the last structure (end-of-file raised) of files no
# history moved a chunk in. libhdf5 gives freed space that ends the file back, so those are
# refused; here the streams lie where a rule must judge them: before the table's last chunk,
# moved to the end (its B-tree entry rewritten: a v1 B-tree has no checksum).


def _one_session(maxshape=(None, 7)) -> bytes:
    return tables._table(maxshape)  # /m: 64 x 7 float32, chunks of 16 rows, gzip 4, one session


def _behind_last_chunk(buf: bytes, streams: list[bytes]) -> bytes:
    """streams put where the file's last chunk was, that chunk moved after them."""
    with h5py.File(io.BytesIO(buf), "r") as f:
        last = max((f["m"].id.get_chunk_info(i) for i in range(4)), key=lambda c: c.byte_offset)
    assert last.byte_offset + last.size == len(buf)  # the table's last chunk ends the file
    old = struct.pack("<Q", last.byte_offset)
    assert buf.count(old) == 1  # its B-tree entry
    gap = b"".join(streams)
    out = bytearray(buf[: last.byte_offset] + gap + buf[last.byte_offset :])
    at = out.index(old)
    out[at : at + 8] = struct.pack("<Q", last.byte_offset + len(gap))
    struct.pack_into("<Q", out, tables.EOF_FIELD[0], len(out))
    return bytes(out)


def _cuts(buf: bytes, ks, level: int = 4, cols: bool = False, chunk: int = 3) -> list[bytes]:
    data = tables._chunk(buf, chunk)
    return [zlib.compress(tables._cut(data, cols=k) if cols else tables._cut(data, rows=k), level) for k in ks]


def test_earlier_versions_behind_the_moved_chunk_pass():
    """The history the rule admits: earlier extents of the chunk after the gap, in any
    order (libhdf5 puts each version where it finds room), at the pipeline's level (at
    most 15 for this chunk: one per earlier extent)."""
    base = _one_session()
    assert _refusal(_behind_last_chunk(base, _cuts(base, (3, 9)))) == ""
    assert _refusal(_behind_last_chunk(base, _cuts(base, (9, 3)))) == ""
    assert _refusal(_behind_last_chunk(base, _cuts(base, range(1, 16)))) == ""
    assert FREED in _refusal(_behind_last_chunk(base, _cuts(base, [*range(1, 16), 7])))


@pytest.mark.parametrize("case", ["twice", "apart", "level", "fixed-dimension", "chunk-before"])
def test_earlier_versions_no_history_wrote_are_refused(case):
    base = _one_session((None, None) if case == "apart" else (None, 7))
    streams = {
        "twice": _cuts(base, (3, 3)),  # each earlier extent of a chunk is written once
        # 3 rows then 3 columns: neither extent grew from the other
        "apart": _cuts(base, (3,)) + _cuts(base, (3,), cols=True),
        "level": _cuts(base, (3,), level=6),  # the pipeline deflates at 4
        "fixed-dimension": _cuts(base, (3,), cols=True),  # maxshape (None, 7): columns never grew
        "chunk-before": _cuts(base, (3,), chunk=0),  # today's chunk 0 lies before the gap
    }[case]
    assert FREED in _refusal(_behind_last_chunk(base, streams))


def test_a_dataset_that_cannot_grow_has_no_earlier_versions():
    base = _one_session(maxshape=None)
    assert FREED in _refusal(_behind_last_chunk(base, _cuts(base, (3,))))


@pytest.mark.parametrize("count", [1, 1000])
def test_earlier_versions_after_the_last_structure_are_refused(count):
    """libhdf5 gives freed space that ends the file back: no old stream lies after the
    last structure (attack i's class), however many (1000 answered at once, with a reason)."""
    base = _one_session()
    streams = [_cuts(base, (1 + k % 15,), level=k // 15 % 10)[0] for k in range(count)]
    assert FREED in _refusal(tables._appended(base, streams))


def test_a_thousand_streams_behind_the_moved_chunk_are_refused_with_a_reason():
    base = _one_session()
    streams = [_cuts(base, (1 + k % 15,))[0] for k in range(1000)]
    assert FREED in _refusal(_behind_last_chunk(base, streams))


def test_a_dataset_grown_along_two_dimensions_passes(monkeypatch):
    """maxshape (None, None), both dimensions grown each session (attack i's control, refused
    before): a corner chunk's versions are cut along both; a version that shrank took free
    space holding the old one's start, whose tail stays after it."""
    data = sessions([tables._grow2d(k) for k in range(4)])
    assert FREED in _without_rule(data, monkeypatch)
    assert _refusal(data) == ""
