"""What uproot leaves in free space when it moves a TTree (its basket arrays full: 10
slots, then ten times as many: mktree's resize_factor) or an RNTuple's footer (on every extend):
the older copy, whole or behind records later written over its head, recomputed from
the live tree and envelopes (runs of them, and the counts that changed: one loose byte
per 128 bytes of live TTree payload, and one older copy's 48 + 48 a branch for a tree that
moved). Real uproot output passes in every codec; chosen
bytes in that free space beyond the bound are refused naming the rule."""

from __future__ import annotations

import struct

import awkward as ak
import numpy as np
import pytest

from tests.quarantine.test_validators import vet
from tests.support import attack_ibinary_root as rootfiles
from vmguard.quarantine.validators import Invalid

uproot = pytest.importorskip("uproot")

ROOT = "application/x-root"
OK = [(ROOT, "root")]
CODECS = {
    "none": None,
    "zlib1": uproot.ZLIB(1),
    "lzma": uproot.LZMA(5),
    "lz4": uproot.LZ4(1),
    "zstd": uproot.ZSTD(5),
}
FREE = "the free space at .* holds data that is not the remains of a record the writer moved"


def _tree(path, codec, branches: int, extends: int, trees: int = 1) -> bytes:
    """mktree and `extends` batches, as an event loop writes them; every third branch jagged."""
    rng = np.random.default_rng(branches + extends)
    kinds = [np.float64, np.int32, "var * float64"]
    with uproot.recreate(path, compression=codec) as f:
        for t in range(trees):
            f.mktree(f"t{t}", {f"b{i}": kinds[i % 3] for i in range(branches)})
        for k in range(extends):
            for t in range(trees):
                f[f"t{t}"].extend({f"b{i}": _column(i, k, rng) for i in range(branches)})
    return path.read_bytes()


def _column(i: int, k: int, rng):  # noqa: ANN202 - a numpy or awkward array
    if i % 3 == 2:
        return ak.Array([[float(k)] * (j % 3) for j in range(50)])
    return np.arange(50, dtype=np.int32) + k if i % 3 == 1 else rng.random(50)


def _ntuple(path, codec, extends: int) -> bytes:
    with uproot.recreate(path, compression=codec) as f:
        f["n"] = {"x": np.arange(10, dtype=np.int32), "y": np.linspace(0, 1, 10)}
        for k in range(extends):
            f["n"].extend({"x": np.arange(10, dtype=np.int32) + k, "y": np.linspace(k, 1, 10)})
    return path.read_bytes()


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    ("branches", "extends", "trees"), [(1, 30, 1), (2, 10, 1), (5, 24, 1), (12, 40, 1), (3, 20, 3)]
)
def test_trees_uproot_moved_pass(tmp_path, codec, branches, extends, trees):
    assert vet(_tree(tmp_path / "t.root", CODECS[codec], branches, extends, trees), ROOT) == OK


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("extends", [1, 2, 5, 12])
def test_ntuples_uproot_extended_pass(tmp_path, codec, extends):
    assert vet(_ntuple(tmp_path / "n.root", CODECS[codec], extends), ROOT) == OK


def _segments(data: bytes) -> list[tuple[int, int]]:
    """The free segments [first, last + 1) the FreeSegments record lists, but the last (fEND on)."""
    seek_free, nbytes_free = struct.unpack_from(">ii", data, 16)  # small layout: fSeekFree, fNbytesFree
    keylen = struct.unpack_from(">h", data, seek_free + 14)[0]
    body = data[seek_free + keylen : seek_free + nbytes_free]
    return [(first, last + 1) for _, first, last in struct.iter_unpack(">hii", body)][:-1]


def _stale(data: bytes) -> tuple[int, int]:
    """The free segment holding the most bytes that are not zero (the older copy)."""
    return max(_segments(data), key=lambda s: len(data[s[0] : s[1]].replace(b"\0", b"")))


def _overwrite(data: bytes, at: int, payload: bytes) -> bytes:
    return data[:at] + payload + data[at + len(payload) :]


@pytest.mark.parametrize("codec", ["none", "zlib1"])
def test_a_payload_in_a_moved_trees_remains_is_refused(tmp_path, codec):
    """Chosen bytes one more than the file's share (_share) in the older copy's remains."""
    data = _tree(tmp_path / "t.root", CODECS[codec], 2, 10)
    first, stop = _stale(data)
    payload = (bytes(range(7, 256, 2)) * 4)[: _share(data, 2) + 1]
    assert stop - first > len(payload) * 5 // 4 and data[first:stop].strip(b"\0"), (first, stop)
    assert vet(data, ROOT) == OK
    with pytest.raises(Invalid, match=FREE):
        vet(_overwrite(data, first + (stop - first) // 4, payload), ROOT)


def _tree_payload(data: bytes) -> int:
    """The payload of the largest TTree record (the live one: its basket arrays the longest)."""
    sizes = []
    for at in range(100, len(data) - 50):
        nbytes, version, _, _, keylen, _ = struct.unpack_from(">ihiIhh", data, at)
        seek, where = (">i", at + 26) if version == 4 else (">q", at + 34)
        own = version in (4, 1004) and struct.unpack_from(seek, data, at + 18)[0] == at
        if own and data[where : where + 6] == b"\5TTree":
            sizes.append(nbytes - keylen)
    return max(sizes)


def _share(data: bytes, branches: int) -> int:
    """The loose bytes the file's free space may hold beside a moved tree: 24, 1 per 128
    bytes of its payload, and one older copy's 48 + 48 a branch with baskets (a jagged
    one, every third, has two)."""
    return 24 + _tree_payload(data) // 128 + 48 + 48 * (branches + branches // 3)


def test_the_trees_share_is_no_more_than_its_bound(tmp_path):
    """Chosen bytes, one more than the bound (_share), in the free segment where the older
    copy lay: refused."""
    data = _tree(tmp_path / "t.root", None, 5, 100)
    first, stop = _stale(data)
    budget = _share(data, 5)
    payload = (bytes(range(1, 256)) * 8)[: budget + 1]
    assert stop - first > len(payload), (stop - first, budget)
    assert vet(data, ROOT) == OK
    with pytest.raises(Invalid, match=FREE):
        vet(_overwrite(data, first, payload), ROOT)


@pytest.mark.parametrize("codec", ["none", "zlib1"])
def test_payloads_in_an_ntuples_older_footers_are_refused(tmp_path, codec):
    """Every free segment of a file extended 5 times filled with chosen bytes: more than
    the bound (24 per page list: 6 of them)."""
    data = _ntuple(tmp_path / "n.root", CODECS[codec], 5)
    assert vet(data, ROOT) == OK
    pattern = bytes(range(1, 256))
    segments = [(first, stop) for first, stop in _segments(data) if data[first:stop].strip(b"\0")]
    assert sum(stop - first for first, stop in segments) > 24 * 6, segments
    for n, (first, stop) in enumerate(segments):
        data = _overwrite(data, first, pattern[n * 7 :][: stop - first])
    with pytest.raises(Invalid, match=FREE):
        vet(data, ROOT)


def _names_itself(data: bytes, at: int) -> bool:
    version = struct.unpack_from(">h", data, at + 4)[0]
    seek = struct.unpack_from(">i" if version == 4 else ">q", data, at + 18)[0]
    return version in (4, 1004) and seek == at


def test_a_freed_free_segments_tail_is_segments_only(tmp_path):
    """uproot frees its FreeSegments record as it last was; the entries it had shrunk from
    stay behind it, never freed (12 extends, uncompressed, leave one): segments of
    version 1, zeros, nothing else."""
    data = _ntuple(tmp_path / "n.root", None, 12)
    assert vet(data, ROOT) == OK
    ends = [stop for _, stop in _segments(data) if not _names_itself(data, stop)]
    assert ends, "no free segment ends inside a stretch"
    for stop in ends:
        with pytest.raises(Invalid, match="does not start and end where records do"):
            vet(_overwrite(data, stop, b"\0\7"), ROOT)


def test_a_gap_root_marked_free_gets_no_tree_share(tmp_path):
    """The TTree share is for what uproot leaves: in a gap that starts with its negated
    length (ROOT's mark), 40 chosen bytes are refused although the tree's share is larger."""
    data = _tree(tmp_path / "t.root", None, 5, 100)
    first, stop = _stale(data)
    assert 24 + _tree_payload(data) // 128 > 100
    payload = bytes(range(60, 100))
    assert vet(_overwrite(data, first + 8, payload), ROOT) == OK  # in uproot's gap: the share
    marked = _overwrite(data, first, struct.pack(">i", first - stop) + bytes(4) + payload)
    with pytest.raises(Invalid, match=FREE):
        vet(marked, ROOT)


@pytest.mark.parametrize("extends", [8, 9, 10, 11, 12])
def test_only_a_tree_uproot_moved_gets_an_older_copys_budget(tmp_path, extends):
    """uproot 5.7 moves a tree at its 10th extend (its basket arrays hold 10 slots, the
    last kept free). A tree of 30 branches, a later job's `del` freeing the StreamerInfo:
    the file passes; 1450 bytes written over that StreamerInfo (one older copy's 48 + 48
    a branch is 1488) pass beside a tree uproot moved and are refused beside one it did
    not (session 35, attack i: before, 9 baskets a branch were taken for a move)."""
    assert vet(rootfiles._unmoved(tmp_path / "plain.root", 30, extends), ROOT) == OK
    data = rootfiles._budget(tmp_path / "u.root", 30, extends, 1450)
    if extends >= 10:
        assert vet(data, ROOT) == OK  # the bound documented: one copy's loose bytes
    else:
        with pytest.raises(Invalid, match=FREE):
            vet(data, ROOT)
