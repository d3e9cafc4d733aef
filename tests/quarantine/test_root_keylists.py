"""What a directory's keys list leaves when uproot deletes from it (session 36, rkeys):
the list rewritten shorter in place keeps the deleted objects' keys behind the live ones,
and an older list (moved when it outgrew its place, its head maybe written over by a
later record) holds them too. Real uproot output passes (every second of 12 histograms
deleted in later jobs; strings; a subdirectory; every codec), refused before; a key
there whose name, title, class, datime, cycle, position or lengths are not the deleted
record's own is refused (root_keylists: only whole copies of the history's keys, and
tails of them, are taken as uproot's), and so is a payload spelled in tails where no
version of the list ended (session 37), an older list dated after the live one or
counting more keys than follow; and (rootlists) older lists whose key's cycle is not the
live list's or dated before the file, a key repeated beyond the deletions."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tests.quarantine.test_root_datimes import shifted
from tests.quarantine.test_validators import vet
from tests.support import attack_lroot_files
from vmguard.quarantine.validators import Invalid, root_remains

uproot = pytest.importorskip("uproot")

ROOT = "application/x-root"
FREE = "the free space at .* holds data that is not the remains of a record the writer moved"
CODECS = {"none": None, "zlib": uproot.ZLIB(1), "lzma": uproot.LZMA(1), "lz4": uproot.LZ4(1),
          "zstd": uproot.ZSTD(1)}
# every second histogram of 12 (names h0..h11: keys of two lengths) deleted in later jobs
PLANS = {"one-job": [[1, 3, 5, 2, 4]], "two-jobs": [[1, 3, 5], [2, 4]],
         "each-alone": [[1], [3], [5], [2], [4]], "seven-of-12": [[1, 3, 5, 7], [2, 4, 6]]}


def _made(path, codec, plan: list[list[int]], kind: str = "h", where: str = "") -> bytes:
    with uproot.recreate(path, compression=codec) as f:
        if where:
            f.mkdir(where.rstrip("/"))
        for i in range(12):
            f[f"{where}{kind}{i}"] = (f"text {i} " * (i + 1) if kind == "s" else
                                      np.histogram(np.arange(3.0 + i), bins=3 + i))
    for job in plan:
        with uproot.update(path) as f:
            for i in job:
                del f[f"{where}{kind}{i}"]
    return path.read_bytes()


def _keys(data: bytes) -> dict[int, bytes]:
    """The own key of every whole record of a small file (a key naming its position)."""
    out = {}
    for at in range(100, len(data) - 26):
        nbytes, version, _, _, keylen, _ = struct.unpack_from(">ihiIhh", data, at)
        if version == 4 and 26 < keylen < nbytes and struct.unpack_from(">i", data, at + 18)[0] == at:
            out[at] = data[at : at + keylen]
    return out


def _name(key: bytes) -> str:
    at = 27 + key[26]  # after the class
    return key[at + 1 : at + 1 + key[at]].decode()


def _stale(data: bytes, names: set[str]) -> list[tuple[int, int]]:
    """(where, whose) of each copy of a deleted record's key (its name in names) elsewhere
    in the file: behind a keys list or in what is left of an older one."""
    found = []
    for at, key in _keys(data).items():
        if _name(key) not in names:
            continue
        start = data.find(key)
        while start >= 0:
            if start != at:
                found.append((start, at))
            start = data.find(key, start + 1)
    return found


@pytest.mark.parametrize("codec", sorted(CODECS))
@pytest.mark.parametrize("plan", sorted(PLANS))
def test_uproot_deletions_leave_keys_that_pass(tmp_path, codec, plan):
    data = _made(tmp_path / "f.root", CODECS[codec], PLANS[plan])
    assert _stale(data, {f"h{i}" for job in PLANS[plan] for i in job})  # the keys of deleted histograms stay behind (refused before)
    assert vet(data, ROOT)


@pytest.mark.parametrize("kind,where", [("h", "d/"), ("s", "d/")])
def test_strings_and_subdirectories_pass(tmp_path, kind, where):
    data = _made(tmp_path / "f.root", None, PLANS["two-jobs"], kind, where)
    assert _stale(data, {f"{kind}{i}" for job in PLANS["two-jobs"] for i in job})
    assert vet(data, ROOT)


def _base(tmp_path) -> tuple[bytes, list[tuple[int, int]]]:
    """4 histograms, d deleted in job 2, c in job 3: both keys stay behind the live list
    (a and b), whole; their records whole in free space."""
    path = tmp_path / "base.root"
    with uproot.recreate(path) as f:
        for name in "abcd":
            f[name] = np.histogram(np.arange(5.0), bins=5)
    for name in "dc":
        with uproot.update(path) as f:
            del f[name]
    data = path.read_bytes()
    stale = sorted(_stale(data, {"c", "d"}))
    assert len(stale) == 2 and vet(data, ROOT)
    return data, stale


# Fields of a key (offset, bytes) chosen in a stale copy: a payload's bits.
FIELDS = {
    "nbytes": (0, lambda b: struct.pack(">i", struct.unpack(">i", b[:4])[0] + 1)),
    "objlen": (6, lambda b: struct.pack(">i", struct.unpack(">i", b[6:10])[0] + 1)),
    "datime-later": (10, lambda b: struct.pack(">I", struct.unpack(">I", b[10:14])[0] + 1)),
    "datime-earlier": (10, lambda b: struct.pack(">I", struct.unpack(">I", b[10:14])[0] - 1)),
    "cycle": (16, lambda b: b"\0\2"),
    "seek": (18, lambda b: struct.pack(">i", struct.unpack(">i", b[18:22])[0] + 1)),
    "parent": (22, lambda b: struct.pack(">i", struct.unpack(">i", b[22:26])[0] + 1)),
    "class": (27, lambda b: b"TH1F"),
    "name": (32, lambda b: b"x"),
    "title": (31, lambda b: b"\0\1" + b[32:33]),  # name "", title the name
}


def _padded(data: bytes, stale: list[tuple[int, int]]) -> bytes:
    """PAD nonzero bytes in the zeros after the stale keys: within the file's 24 loose
    bytes of free space (docs), so a key that is not uproot's tips it over."""
    end = max(at for at, _ in stale) + 34 + 40
    assert data[end : end + len(PAD)] == bytes(len(PAD))
    return data[:end] + PAD + data[end + len(PAD) :]


PAD = b"P" * 12


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("field", sorted(FIELDS))
def test_a_chosen_field_in_a_stale_key_is_refused(tmp_path, field, which):
    """Each stale key (c's, d's) with one field not the deleted record's own: not taken
    as uproot's, so its bytes count against the loose bytes (the file as uproot wrote
    it, with the same PAD, passes)."""
    data, stale = _base(tmp_path)
    assert vet(_padded(data, stale), ROOT)
    at, _ = stale[which]
    offset, make = FIELDS[field]
    key = data[at : at + 34]
    assert key[26:31] == b"\x04TH1D"  # the layout FIELDS assumes
    patch = make(key)
    forged = data[: at + offset] + patch + data[at + offset + len(patch) :]
    assert forged != data
    with pytest.raises(Invalid, match=FREE):
        vet(_padded(forged, stale), ROOT)


def test_chosen_bytes_where_a_stale_key_was_are_refused(tmp_path):
    data, stale = _base(tmp_path)
    at, _ = stale[0]
    with pytest.raises(Invalid, match=FREE):
        vet(data[:at] + bytes(range(1, 41)) + data[at + 40 :], ROOT)


def test_payload_after_stale_keys_beyond_the_loose_bytes_is_refused(tmp_path):
    data, stale = _base(tmp_path)
    end = max(at for at, _ in stale) + 34
    assert data[end : end + 30] == bytes(30)
    with pytest.raises(Invalid, match=FREE):
        vet(data[:end] + b"P" * 30 + data[end + 30 :], ROOT)


def _tails(data: bytes, stale: list[tuple[int, int]], bits: str) -> bytes:
    """After the stale keys, one tail of a live key a bit: a's last 7 bytes (its class and
    name) for 0, b's for 1 (a payload spelled in tails of the history's keys)."""
    keys = {_name(k): k for k in _keys(data).values()}
    end = max(at for at, _ in stale) + 34
    spelled = b"".join(keys["ab"[int(bit)]][-7:] for bit in bits)
    assert data[end : end + len(spelled)] == bytes(len(spelled))
    return data[:end] + spelled + data[end + len(spelled) :]


def test_tails_of_keys_stand_only_where_a_version_of_the_list_ended(tmp_path, monkeypatch):
    """The live list's slack is its older versions' ends (root_versions): here c's key
    and d's (each deleted one a version of the list, as long as its key), then zeros. A
    payload spelled in tails of keys after them is refused, with no loose bytes even three
    tails (passed before session 37: tails were capped at one per record of the file and
    one per deleted record, 10 here, wherever they stood)."""
    data, stale = _base(tmp_path)
    with pytest.raises(Invalid, match=FREE):
        vet(_tails(data, stale, "1011001110001011"), ROOT)
    monkeypatch.setattr(root_remains, "LOOSE_STRETCHES", 0)
    monkeypatch.setattr(root_remains, "LOOSE", 0)
    assert vet(data, ROOT)
    for bits in ("1", "101"):
        with pytest.raises(Invalid, match=FREE):
            vet(_tails(data, stale, bits), ROOT)


def test_a_version_shorter_than_its_deleted_key_costs_loose_bytes(tmp_path, monkeypatch):
    """A key added between two deletions leaves a version shorter than the key deleted
    after it: "longer" deleted, then "c" written (its key 5 bytes shorter) leaves the last
    5 bytes of "longer"'s key behind c's. uproot's output passes; the tail is any key's, so it
    costs the bytes naming one byte of the history's keys (2 here): refused without
    loose bytes."""
    path = tmp_path / "f.root"
    with uproot.recreate(path, compression=None) as f:
        for name in ("a", "b", "longer"):
            f[name] = np.histogram(np.arange(5.0), bins=5)
    with uproot.update(path) as f:
        del f["longer"]
        f["c"] = np.histogram(np.arange(500.0), bins=500)  # larger: not written over longer's record
    data = path.read_bytes()
    keys = {_name(k): (at, k) for at, k in _keys(data).items()}
    at, own = keys["c"]
    listed = data.find(own, 0 if data.find(own) != at else at + 1)  # its copy in the live list
    behind = listed + len(own)
    assert data[listed - len(keys["b"][1]) : listed] == keys["b"][1]  # c last, after a and b
    assert data[behind : behind + 5] == keys["longer"][1][-5:]
    assert vet(data, ROOT)
    monkeypatch.setattr(root_remains, "LOOSE_STRETCHES", 0)
    monkeypatch.setattr(root_remains, "LOOSE", 0)
    with pytest.raises(Invalid, match=FREE):
        vet(data, ROOT)


@pytest.mark.parametrize("codec,plan", [("none", "each-alone"), ("lzma", "one-job"), ("zlib", "two-jobs")])
def test_each_stale_copy_renamed_is_refused(tmp_path, monkeypatch, codec, plan):
    """Wherever the copies are (behind the live list, in an older list whole in free
    space, behind a record written over an older list's head), the copy of a deleted
    histogram's key with its name's last character changed is no key of the file. No
    loose bytes here (uproot's output needs none), so that a renamed key is not hidden
    in them (the last one of a stretch would be: 24 are allowed, FIELDS above)."""
    monkeypatch.setattr(root_remains, "LOOSE_STRETCHES", 0)
    monkeypatch.setattr(root_remains, "LOOSE", 0)
    data = _made(tmp_path / "f.root", CODECS[codec], PLANS[plan])
    stale = _stale(data, {f"h{i}" for job in PLANS[plan] for i in job})
    assert stale and vet(data, ROOT)
    for at, whose in stale:
        keylen = struct.unpack_from(">h", data, whose + 14)[0]
        forged = data[: at + keylen - 2] + b"z" + data[at + keylen - 1 :]  # h3 -> hz
        with pytest.raises(Invalid, match=FREE):
            vet(forged, ROOT)


def _older_lists(data: bytes) -> list[int]:
    """Where keys lists uproot moved from lie whole in free space: TFile records that are
    not the top directory, the live keys list (its fSeekKeys) or FreeSegments."""
    top = _keys(data)[100]
    at = 100 + len(top)
    at += 1 + data[at]  # name
    at += 1 + data[at]  # title
    seek_keys = struct.unpack_from(">i", data, at + 2 + 4 + 4 + 4 + 4 + 4 + 4)[0]
    seek_free = struct.unpack_from(">i", data, 16)[0]
    return [p for p, key in _keys(data).items()
            if key[26:32] == b"\x05TFile" and p not in (100, seek_keys, seek_free)]


@pytest.fixture()
def older(tmp_path, monkeypatch) -> tuple[bytes, int]:
    """8 histograms, the last 5 deleted one a job: the list moved, the older one whole in
    free space names deleted histograms. No loose bytes (uproot's output needs none)."""
    monkeypatch.setattr(root_remains, "LOOSE_STRETCHES", 0)
    monkeypatch.setattr(root_remains, "LOOSE", 0)
    path = tmp_path / "f.root"
    with uproot.recreate(path) as f:
        for name in "abcdefgh":
            f[name] = np.histogram(np.arange(5.0), bins=5)
    for name in "hgfed":
        with uproot.update(path) as f:
            del f[name]
    data = path.read_bytes()
    (at,) = _older_lists(data)
    assert vet(data, ROOT)
    return data, at


def test_an_older_lists_datime_later_than_the_live_lists_is_refused(older):
    data, at = older
    datime = struct.unpack_from(">I", data, at + 10)[0]
    with pytest.raises(Invalid, match="copies of the key of the keys list"):
        vet(data[: at + 10] + struct.pack(">I", shifted(datime, 86400)) + data[at + 14 :], ROOT)


def test_an_older_lists_count_past_its_keys_is_refused(older):
    data, at = older
    keylen = struct.unpack_from(">h", data, at + 14)[0]
    with pytest.raises(Invalid, match=FREE):
        vet(data[: at + keylen] + struct.pack(">i", 200) + data[at + keylen + 4 :], ROOT)


def test_an_older_list_holds_one_tail_after_its_keys(older):
    """An older list whole in free space was moved when an added key overflowed it, so
    what an older version left behind its keys is less than a key: one tail of a key
    passes, a payload spelled in two is refused (passed before session 37: tails were
    capped per file, not per list)."""
    data, at = older
    end = at + struct.unpack_from(">h", data, at + 14)[0]  # its key
    count, end = struct.unpack_from(">i", data, end)[0], end + 4
    for _ in range(count):
        end += struct.unpack_from(">h", data, end + 14)[0]
    keys = {_name(k): k for k in _keys(data).values()}
    for bits, passes in (("1", True), ("10", False)):
        spelled = b"".join(keys["de"[int(bit)]][-7:] for bit in bits)  # deleted: in no live record
        assert data[end : end + len(spelled)] == bytes(len(spelled))
        forged = data[:end] + spelled + data[end + len(spelled) :]
        if passes:
            assert vet(forged, ROOT)
        else:
            with pytest.raises(Invalid, match=FREE):
                vet(forged, ROOT)


def _live_slack(data: bytes) -> tuple[int, int]:
    """Where the top directory's live keys list's slack starts and its record ends."""
    top = _keys(data)[100]
    at = 100 + len(top)
    at += 1 + data[at]  # name
    at += 1 + data[at]  # title
    seek_keys = struct.unpack_from(">i", data, at + 2 + 4 + 4 + 4 + 4 + 4 + 4)[0]
    at = seek_keys + struct.unpack_from(">h", data, seek_keys + 14)[0]
    count, at = struct.unpack_from(">i", data, at)[0], at + 4
    for _ in range(count):
        at += struct.unpack_from(">h", data, at + 14)[0]
    return at, seek_keys + struct.unpack_from(">i", data, seek_keys)[0]


def test_many_deletions_leave_versions_and_no_room_for_a_tail(tmp_path, monkeypatch):
    """120 histograms (keys of 35 to 37 bytes), every second deleted in 3 jobs in a
    shuffled order: 60 versions behind the live list, tails of its last key and deleted
    keys whole, pass with no loose bytes; a tail of a deleted key put where the live list
    ends (the versions after it moved on) is refused (passed before session 37)."""
    monkeypatch.setattr(root_remains, "LOOSE_STRETCHES", 0)
    monkeypatch.setattr(root_remains, "LOOSE", 0)
    path = tmp_path / "f.root"
    with uproot.recreate(path) as f:
        for i in range(120):
            f[f"h{i}"] = np.histogram(np.arange(5.0), bins=5)
    order = [93, 1, 117, 45, 7, 61, 29, 105, 13, 77, 55, 3, 89, 37, 111, 21, 69, 9, 99, 51]
    gone = order + [i for i in range(1, 120, 2) if i not in order]
    for job in (gone[:20], gone[20:45], gone[45:]):
        with uproot.update(path) as f:
            for i in job:
                del f[f"h{i}"]
    data = path.read_bytes()
    start, end = _live_slack(data)
    assert data[start:end].rstrip(b"\0") and vet(data, ROOT)
    keys = {_name(k): k for k in _keys(data).values()}
    tail = keys["h93"][-10:]  # deleted: in no live record
    forged = data[:start] + tail + data[start : end - len(tail)] + data[end:]
    assert data[end - len(tail) : end] == bytes(len(tail))
    with pytest.raises(Invalid, match=FREE):
        vet(forged, ROOT)


def test_a_deleted_subdirectory_is_a_version_of_its_parents_list(tmp_path, monkeypatch):
    """uproot's del of a subdirectory frees its record alone (walked as a live one) and
    rewrites the parent's list without its key: one version of that list, as long as the
    directory's key (41 bytes here, beside histograms' 34), behind the live keys."""
    monkeypatch.setattr(root_remains, "LOOSE_STRETCHES", 0)
    monkeypatch.setattr(root_remains, "LOOSE", 0)
    path = tmp_path / "f.root"
    with uproot.recreate(path) as f:
        f.mkdir("e")
        f["e/x"] = np.histogram(np.arange(5.0), bins=5)
        for name in "abc":
            f[name] = np.histogram(np.arange(5.0), bins=5)
    with uproot.update(path) as f:
        del f["e"]
        del f["b"]
    data = path.read_bytes()
    start, end = _live_slack(data)
    c = {_name(k): k for k in _keys(data).values()}["c"]
    assert data[start : start + 34] == data[start + 41 : start + 75] == c  # b's tail between
    assert not data[start + 75 : end].strip(b"\0")
    assert vet(data, ROOT)


@pytest.fixture()
def grown(tmp_path, monkeypatch) -> tuple[bytes, list[int]]:
    """3, then 6, then 11 histograms over three jobs, nothing deleted (attack l's
    grown_base): the keys list moved twice and both older lists stay whole in free
    space. No loose bytes."""
    monkeypatch.setattr(root_remains, "LOOSE_STRETCHES", 0)
    monkeypatch.setattr(root_remains, "LOOSE", 0)
    data = attack_lroot_files.grown_base(tmp_path / "g.root")
    lists = _older_lists(data)
    assert len(lists) == 2 and vet(data, ROOT)
    return data, lists


def _datime(data: bytes, at: int) -> int:
    return struct.unpack_from(">I", data, at + 10)[0]


def test_uproot_keeps_a_lists_key_and_grows_it_by_half(grown):
    """What root_keylists.older_lists holds uproot to, measured: each older list's key
    has the live list's datime and cycle, and each allocation is over 1.5 times the one
    before (the live list's last)."""
    data, lists = grown
    live = next(at for at, key in _keys(data).items()
                if key[26:32] == b"\x05TFile" and at not in lists and at != 100
                and struct.unpack_from(">i", data, 16)[0] != at)
    lengths = [struct.unpack_from(">i", data, at + 6)[0] for at in [*sorted(lists), live]]
    assert {_datime(data, at) for at in lists} == {_datime(data, live)}
    assert {data[at + 16 : at + 18] for at in lists} == {data[live + 16 : live + 18]}
    assert all(b > 1.5 * (a + 8) for a, b in zip(lengths, lengths[1:], strict=False))


@pytest.mark.parametrize("field", ["cycle", "datime-before-the-file"])
def test_an_older_lists_cycle_or_a_datime_before_the_file_is_refused(grown, field):
    """An older list's key has the live list's cycle, and no writer dates it before the
    file was made (uproot: the live list's datime, the file's; ROOT: one earlier list)."""
    data, lists = grown
    earlier = struct.pack(">I", _datime(data, 100) - 1)  # the top directory's key: the file's
    patch = (lists[0] + 16, b"\0\7") if field == "cycle" else (lists[0] + 10, earlier)
    with pytest.raises(Invalid, match="copies of the key of the keys list"):
        vet(data[: patch[0]] + patch[1] + data[patch[0] + len(patch[1]) :], ROOT)


def test_a_key_repeated_in_an_older_list_is_refused(grown):
    """A list holds each key once; with nothing deleted no older version shows behind
    it, so an older list's second key made its first is refused."""
    data, lists = grown
    at = max(lists, key=lambda p: struct.unpack_from(">i", data, p)[0])
    first = at + struct.unpack_from(">h", data, at + 14)[0] + 4  # its key, then its count
    size = struct.unpack_from(">h", data, first + 14)[0]
    assert struct.unpack_from(">h", data, first + size + 14)[0] == size  # h00, h01
    with pytest.raises(Invalid, match="keys repeat in a chain"):
        vet(data[: first + size] + data[first : first + size] + data[first + 2 * size :], ROOT)


@pytest.fixture(scope="module")
def five_jobs(tmp_path_factory) -> tuple[bytes, int]:
    """Attack n root's ctl-n-five-jobs-no-del (session 38; uncompressed, its own name: the
    records' places depend on the name's length), nothing deleted: job 3 makes TTree t and
    extends it 11 times (uproot moves it), job 4 adds a TH3D (the top keys list outgrows its
    place and moves: the older list stays in free space, its last key t's as it was), job 5
    extends t (uproot writes it anew elsewhere; later records take its old place from its
    start). Returns the file and where the older list's key of t is."""
    from tests.support import attack_nroot_files as jobs

    steps, gaps = jobs.WORKFLOWS["five-jobs-no-del"]
    path = tmp_path_factory.mktemp("fivejobs") / "ctl-n-five-jobs-no-del-none.root"
    data = jobs.jobs(path, None, steps, gaps)
    (tree,) = [k for k in _keys_named(data, b"t") if _no_record_at_its_place(data, k)]
    return data, tree


def _no_record_at_its_place(data: bytes, at: int) -> bool:
    keylen, seek = struct.unpack_from(">h", data, at + 14)[0], struct.unpack_from(">i", data, at + 18)[0]
    return data[seek : seek + keylen] != data[at : at + keylen]


def _keys_named(data: bytes, name: bytes) -> list[int]:
    """Where a TTree key named name starts (its own or a copy in a keys list; 64-bit seeks
    or 32-bit)."""
    pattern, out, at = b"\x05TTree" + bytes([len(name)]) + name, [], 0
    while (at := data.find(pattern, at + 1)) > 0:
        if struct.unpack_from(">h", data, at - 30)[0] == 1004:
            out.append(at - 34)
        elif struct.unpack_from(">h", data, at - 22)[0] == 4:
            out.append(at - 26)
    return out


def _seek_format(data: bytes, at: int) -> str:
    return ">q" if struct.unpack_from(">h", data, at + 4)[0] == 1004 else ">i"


def _no_record_at_its_place(data: bytes, at: int) -> bool:
    keylen, seek = struct.unpack_from(">h", data, at + 14)[0], struct.unpack_from(_seek_format(data, at), data, at + 18)[0]
    return data[seek : seek + keylen] != data[at : at + keylen]


def test_an_older_lists_key_of_a_tree_uproot_moved_since_passes(five_jobs):
    """The older list's key of t names t's place before job 5 moved it: no record is there
    now (later records took its start, its tail is free space). It is t's live key but for
    its lengths, position and datime: admitted where its record ended where a free stretch
    ends, no longer than the live tree, dated from the file's making to the live key."""
    data, at = five_jobs
    assert vet(data, ROOT) == [(ROOT, "root")]
    live = [k for k in _keys_named(data, b"t") if not _no_record_at_its_place(data, k)]
    longest = max(struct.unpack_from(">i", data, k)[0] for k in live)
    assert struct.unpack_from(">i", data, at)[0] <= longest


@pytest.mark.parametrize("change", ["position", "later", "longer", "no-date"])
def test_an_older_lists_key_of_a_moved_tree_changed_is_refused(five_jobs, change):
    """The same key at a position whose record ends at no free stretch's end, dated after
    the live tree, longer than it (its position moved back as much), or at hour 24."""
    data, at = five_jobs
    nbytes, _, objlen, stamp = struct.unpack_from(">ihiI", data, at)
    form = _seek_format(data, at)
    seek = struct.unpack_from(form, data, at + 18)[0]
    patches = {
        "position": [(at + 18, struct.pack(form, seek + 8))],
        "later": [(at + 10, struct.pack(">I", shifted(stamp, 60)))],
        "longer": [(at, struct.pack(">ihi", nbytes + 100000, 4 if form == ">i" else 1004, objlen + 100000)),
                   (at + 18, struct.pack(form, seek - 100000))],
        "no-date": [(at + 10, struct.pack(">I", stamp & ~0x1F000 | 24 << 12))],
    }[change]
    bad = data
    for where, patch in patches:
        bad = bad[:where] + patch + bad[where + len(patch) :]
    with pytest.raises(Invalid, match=FREE):
        vet(bad, ROOT)
