"""A TTree uproot moved (its basket arrays full) and then deleted with `del` (session 34,
after attack g): its last copy stays whole in free space (a deleted record, explained by
the file's history) and its older copies, whole or behind baskets written over their
head, are the remains of it (root_remains.py), as of a live tree: no live tree of that
name is needed. Real uproot output passes in every codec, same job or a later update, in
a subdirectory, beside a live tree; chosen bytes in those remains beyond the bound are
refused naming the rule."""

from __future__ import annotations

import struct
import time

import awkward as ak
import numpy as np
import pytest

from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid

uproot = pytest.importorskip("uproot")

ROOT = "application/x-root"
OK = [(ROOT, "root")]
CODECS = {
    "none": None,
    "zlib1": uproot.ZLIB(1),
    "lz4": uproot.LZ4(1),
    "zstd": uproot.ZSTD(5),
    "lzma": uproot.LZMA(1),
}
FREE = "the free space at .* holds data that is not the remains of a record the writer moved"
KINDS = [np.float64, np.int32, "var * float64"]


def _batch(branches: int, n: int, rng: np.random.Generator) -> dict:
    """n entries of each branch: doubles, ints, and every third branch jagged."""
    counts = rng.integers(0, 4, n)
    jagged = ak.unflatten(rng.random(int(counts.sum())), counts)
    columns = [rng.random(n), rng.integers(0, 9, n).astype(np.int32), jagged]
    return {f"b{i}": columns[i % 3] for i in range(branches)}


def _deleted(
    path, codec, branches: int, extends: int, n: int, later: bool, where: str = "", keep: bool = True
) -> bytes:
    """mktree `{where}t`, `extends` batches of n entries (it moves: 10 basket slots, then half
    as many again each time), a histogram and (if keep) a live tree `{where}keep` beside
    it, then `del` of the tree in the same job or a later update."""
    rng = np.random.default_rng(branches * 100 + extends)
    name = f"{where}t"
    with uproot.recreate(path, compression=codec) as f:
        f.mktree(name, {f"b{i}": KINDS[i % 3] for i in range(branches)})
        if keep:
            f.mktree(f"{where}keep", {"k": np.int32})
        for k in range(extends):
            f[name].extend(_batch(branches, n, rng))
            if keep and k % 7 == 0:
                f[f"{where}keep"].extend({"k": np.arange(5, dtype=np.int32) + k})
        f["h"] = np.histogram(np.arange(100.0) % 7, bins=7)
        if not later:
            _del(f, where)
    if later:
        with uproot.update(path) as f:
            _del(f, where)
    assert name.rsplit("/", 1)[-1] not in {k.rsplit("/", 1)[-1] for k in uproot.open(path).keys(cycle=False)}
    return path.read_bytes()


def _del(f, where: str) -> None:
    """del of the tree `t` (uproot 5.7 ignores `del f["a/b/t"]`: its directory's `del`)."""
    directory = f[where.rstrip("/")] if where else f
    del directory["t"]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("later", [False, True], ids=["same-job", "update"])
@pytest.mark.parametrize("keep", [False, True], ids=["alone", "beside-a-live-tree"])
@pytest.mark.parametrize(("branches", "extends"), [(1, 30), (6, 30), (4, 60)])
def test_a_moved_tree_deleted_passes(tmp_path, codec, later, keep, branches, extends):
    """Alone, its older copies were refused before (session 34): nothing live held their
    runs of a tree's structure."""
    data = _deleted(tmp_path / "t.root", CODECS[codec], branches, extends, 20, later, keep=keep)
    assert vet(data, ROOT) == OK


@pytest.mark.parametrize("later", [False, True], ids=["same-job", "update"])
@pytest.mark.parametrize("keep", [False, True], ids=["alone", "beside-a-live-tree"])
def test_a_moved_tree_deleted_in_a_subdirectory_passes(tmp_path, later, keep):
    data = _deleted(tmp_path / "t.root", uproot.ZLIB(1), 5, 40, 20, later, "run1/calib/", keep)
    assert vet(data, ROOT) == OK


def _trees(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, KeyLen, Nbytes) of every TTree record whose key names its own position."""
    out, at = [], data.find(b"\x05TTree")
    while at >= 0:
        for key in (at - 26, at - 34):
            version = struct.unpack_from(">h", data, key + 4)[0] if key >= 0 else 0
            seek = (
                struct.unpack_from(">q" if version == 1004 else ">i", data, key + 18)[0] if key >= 0 else -1
            )
            if version in (4, 1004) and seek == key:
                nbytes, keylen = (
                    struct.unpack_from(">i", data, key)[0],
                    struct.unpack_from(">h", data, key + 14)[0],
                )
                out.append((key, keylen, nbytes))
        at = data.find(b"\x05TTree", at + 1)
    return out


def _named_t(data: bytes, key: int) -> bool:
    at = key + (34 if struct.unpack_from(">h", data, key + 4)[0] == 1004 else 26)
    return data[at : at + 8] == b"\x05TTree\x01t"


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> bytes:
    """A tree of 3 branches (one jagged) whose older copy stays whole (its baskets too
    large for its old place), deleted in a later job: two TTree records `t` in free space."""
    path = tmp_path_factory.mktemp("whole") / "w.root"
    return _deleted(path, None, 3, 16, 2000, later=True, keep=False)


def test_an_older_copy_of_a_deleted_tree_left_whole_passes_and_is_bounded(whole):
    assert vet(whole, ROOT) == OK
    copies = sorted((nbytes, key, keylen) for key, keylen, nbytes in _trees(whole) if _named_t(whole, key))
    assert len(copies) == 2, copies
    (nbytes, old, keylen), _ = copies
    branches = 4  # baskets of 3 branches, the jagged one counted twice (its counts branch)
    chosen = (bytes(range(1, 256)) * 4)[: 48 + 48 * branches + 1]
    assert nbytes - keylen > len(chosen) + 40
    with pytest.raises(Invalid, match=FREE):
        vet(whole[: old + keylen + 20] + chosen + whole[old + keylen + 20 + len(chosen) :], ROOT)


def test_the_deleted_trees_last_copy_must_be_one_the_history_explains(whole):
    """The last copy is a deleted record: its key's datime set to 1996 is refused."""
    _, key = max((nbytes, key) for key, _, nbytes in _trees(whole) if _named_t(whole, key))
    patched = whole[: key + 10] + struct.pack(">I", 1 << 26 | 1 << 22 | 1 << 17) + whole[key + 14 :]
    with pytest.raises(Invalid, match="none the file's history explains"):
        vet(patched, ROOT)


def _segments(data: bytes) -> list[tuple[int, int]]:
    """The free segments [first, last + 1) the FreeSegments record lists, but the last."""
    seek_free, nbytes_free = struct.unpack_from(">ii", data, 16)
    keylen = struct.unpack_from(">h", data, seek_free + 14)[0]
    body = data[seek_free + keylen : seek_free + nbytes_free]
    return [(first, last + 1) for _, first, last in struct.iter_unpack(">hii", body)][:-1]


@pytest.mark.parametrize("later", [False, True], ids=["same-job", "update"])
@pytest.mark.parametrize("keep", [False, True], ids=["alone", "beside-a-live-tree"])
def test_a_payload_in_a_deleted_trees_older_remains_is_refused(tmp_path, later, keep):
    """Chosen bytes over the remains of the older copies (the free stretch before the
    last copy holding the most bytes that are not zeros), one more than the file's loose
    bytes: refused."""
    data = _deleted(tmp_path / "t.root", None, 6, 30, 20, later, keep=keep)
    last = max((nbytes, key, keylen) for key, keylen, nbytes in _trees(data) if _named_t(data, key))
    first, stop = max(
        (s for s in _segments(data) if s[0] != last[1]),
        key=lambda s: len(data[s[0] : s[1]].replace(b"\0", b"")),
    )
    assert data[first:stop].strip(b"\0"), (first, stop)
    live = max(
        (nbytes - keylen for key, keylen, nbytes in _trees(data) if not _named_t(data, key)), default=0
    )
    # 24, 1 per 128 bytes of tree payload, one older copy's 48 + 48 a branch with baskets
    # (6 branches, 2 jagged) of the tree that moved (`keep` never does)
    share = 24 + (last[0] - last[2] + live) // 128 + 48 + 48 * 8
    chosen = (bytes(range(1, 256)) * 8)[: share + 1]
    assert vet(data, ROOT) == OK and stop - first > len(chosen), (first, stop, len(chosen))
    with pytest.raises(Invalid, match=FREE):
        vet(data[:first] + chosen + data[first + len(chosen) :], ROOT)


@pytest.mark.parametrize("later", [None, False, True], ids=["live", "deleted-same-job", "deleted-update"])
def test_an_older_copy_another_trees_basket_wrote_over_passes(tmp_path, later):
    """4 branches of 2000 doubles extended 30 times beside a tree `keep` extended every 7th
    time: `keep`'s basket lands on the head of `t`'s older copy, whose remains hold about
    130 loose bytes, more than 1 per 128 bytes of `t`'s payload (refused before, live or
    deleted): one older copy's 48 + 48 a branch is the file's too."""
    path, rng = tmp_path / "t.root", np.random.default_rng(0)
    with uproot.recreate(path, compression=None) as f:
        f.mktree("t", {f"b{i}": np.float64 for i in range(4)})
        f.mktree("keep", {"k": np.int32})
        for k in range(30):
            f["t"].extend({f"b{i}": rng.random(2000) for i in range(4)})
            if k % 7 == 0:
                f["keep"].extend({"k": np.arange(5, dtype=np.int32)})
        if later is False:
            del f["t"]
    if later:
        with uproot.update(path) as f:
            del f["t"]
    assert vet(path.read_bytes(), ROOT) == OK


@pytest.mark.parametrize("later", [False, True], ids=["same-job", "update"])
def test_a_tree_moved_a_second_after_every_key_left_then_deleted_passes(tmp_path, later):
    """The tree moves (its 9th basket) a second after the file's other keys were written,
    so its last copy's datime is later than every live key's: the history's end is the
    top directory's fDatimeM, which the writer sets on closing (refused before: `none the
    file's history explains`)."""
    path, rng = tmp_path / "t.root", np.random.default_rng(0)
    with uproot.recreate(path, compression=None) as f:
        f.mktree("t", {"x": np.float64, "y": np.int32})
        f["h"] = np.histogram(np.arange(10.0), bins=5)
        for k in range(12):
            if k == 8:
                time.sleep(1.1)  # ROOT's datime counts seconds
            f["t"].extend({"x": rng.random(100), "y": np.arange(100, dtype=np.int32)})
        if not later:
            del f["t"]
    if later:
        with uproot.update(path) as f:
            del f["t"]
    data = path.read_bytes()
    last = max((nbytes, key) for key, _, nbytes in _trees(data) if _named_t(data, key))[1]
    assert struct.unpack_from(">I", data, last + 10)[0] > struct.unpack_from(">I", data, 100 + 10)[0]
    assert vet(data, ROOT) == OK
