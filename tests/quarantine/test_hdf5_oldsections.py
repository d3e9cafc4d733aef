"""Dense storage reopened and added to (session 33, attack f): the free-space section
lists libhdf5 leaves of a fractal heap's earlier states (oldsections.py).

h5py groups and objects whose links or attributes are in dense storage, written in
several sessions under both libver bounds, pass; the lists they leave are claimed as
old states of their heap. A list that no state of the heap had (a section that is no
block's tail, a payload, a state listed twice, another manager's address), or a hidden
list's tail changed, is refused."""

from __future__ import annotations

import struct

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.attack_fbinary_hdf5 import sessions
from tests.support.hdf5_attack_c_bytes import PAYLOAD, lookup3
from vmguard.quarantine.validators.hdf5 import oldsections, oldstates, walk

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

OLD = "an old free-space section list of"
ROOT = "an old root indirect block of"


def _members(k: int, kinds: str, track: bool, n: int, long: bool):
    """n datasets and/or attributes of group /g a session (past 8: dense storage)."""
    def step(f) -> None:
        g = f["g"] if "g" in f else f.create_group("g", track_order=track)
        for i in range(n):
            if "l" in kinds:
                g.create_dataset(f"s{k}_{i}" + "x" * (i * 7 % 40 if long else 0), data=np.arange(i + 1))
            if "a" in kinds:
                g.attrs[f"p{k}_{i}"] = np.arange(i * 3 % 50 if long else 1, dtype=float)
    return step


CASES = {  # (libver, links/attributes, track_order, n a session, sessions, long names/values)
    "tracked-links-12x2": ("earliest", "l", True, 12, 2, False),
    "tracked-attrs-12x2": ("earliest", "a", True, 12, 2, False),
    "tracked-both-12x3": ("earliest", "la", True, 12, 3, False),
    "latest-tracked-attrs-long-9x2": ("latest", "a", True, 9, 2, True),
    "latest-both-12x2": ("latest", "la", False, 12, 2, False),
    "latest-attrs-30x2": ("latest", "a", False, 30, 2, False),
    "latest-attrs-12x3": ("latest", "a", False, 12, 3, False),
    "latest-attrs-30x3": ("latest", "a", False, 30, 3, False),  # an old root indirect block
    "latest-tracked-links-12x3": ("latest", "l", True, 12, 3, False),
    "latest-tracked-both-12x2": ("latest", "la", True, 12, 2, False),
    "tracked-both-long-12x2": ("earliest", "la", True, 12, 2, True),  # a list showing 3 bytes
    "tracked-both-long-30x2": ("earliest", "la", True, 30, 2, True),  # an old root under a list
    "latest-both-long-20x2": ("latest", "la", False, 20, 2, True),  # an untracked heap's state
}


def _file(case: str) -> bytes:
    libver, kinds, track, n, count, long = CASES[case]
    return sessions([_members(k, kinds, track, n, long) for k in range(count)], libver=libver)


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {case: _file(case) for case in CASES}


@pytest.mark.parametrize("case", sorted(CASES))
def test_dense_storage_added_to_in_later_sessions_passes(files, case):
    assert _refusal(files[case]) == ""


def _olds(data: bytes) -> list[tuple[int, int, str]]:
    return [(s, e, w) for s, (e, w) in sorted(walk(data, len(data)).items()) if w.startswith(OLD)]


def test_the_lists_left_are_claimed_as_old_states(files):
    lists = _olds(files["tracked-attrs-12x2"])
    assert len(lists) == 1 and files["tracked-attrs-12x2"][lists[0][0] : lists[0][0] + 4] == b"FSSE"
    assert any("its start under" in w for _, _, w in _olds(files["latest-tracked-both-12x2"]))


def _old_list(files) -> tuple[bytearray, int, int]:
    """The file, its old list's start and end (before the checksum)."""
    data = files["tracked-attrs-12x2"]
    start, end, _ = _olds(data)[0]
    return bytearray(data), start, end - 4


def _resum(data: bytearray, start: int, end: int) -> bytes:
    struct.pack_into("<I", data, end, lookup3(bytes(data[start:end])))
    return bytes(data)


def test_zeroing_an_old_list_passes(files):
    data, start, end = _old_list(files)
    data[start : end + 4] = bytes(end + 4 - start)
    assert _refusal(bytes(data)) == ""


@pytest.mark.parametrize("field", ["size", "offset"])
def test_a_section_no_state_had_is_refused(files, field):
    """13: the prefix; then count (1), size (3 bytes), offset (5): 8 more, a tail no longer."""
    data, start, end = _old_list(files)
    at, width = (start + 14, 3) if field == "size" else (start + 17, 5)
    value = int.from_bytes(data[at : at + width], "little") + 8
    data[at : at + width] = value.to_bytes(width, "little")
    assert "a free-space section list nothing refers to" in _refusal(_resum(data, start, end))


def test_a_payload_in_an_old_list_is_refused(files):
    data, start, end = _old_list(files)
    data[end - 4 : end] = PAYLOAD
    assert "are reached from no structure" in _refusal(_resum(data, start, end))


def _zeros(data: bytes, size: int) -> int:
    """The start of unclaimed zeros of at least `size` bytes (8-aligned)."""
    extents = sorted(walk(data, len(data)).items())
    return next(-(-e // 8) * 8 for (_, (e, _)), (n, _) in zip(extents, extents[1:], strict=False)
                if n - -(-e // 8) * 8 >= size)


def test_the_same_state_twice_is_refused(files):
    data, start, end = _old_list(files)
    copy = bytes(data[start : end + 4])
    at = _zeros(bytes(data), len(copy))
    data[at : at + len(copy)] = copy
    assert "a free-space section list nothing refers to" in _refusal(bytes(data))


def test_an_old_list_of_no_manager_is_refused(files):
    data, start, end = _old_list(files)
    struct.pack_into("<Q", data, start + 5, 96)  # the root's header: no free-space manager
    assert "a free-space section list nothing refers to" in _refusal(_resum(data, start, end))


def test_a_hidden_lists_tail_changed_is_refused(files):
    data = bytearray(files["latest-tracked-both-12x2"])
    start, end, _ = next(o for o in _olds(bytes(data)) if "its start under" in o[2])
    data[end - 6] ^= 0x01  # a byte of its last section
    assert "are reached from no structure" in _refusal(bytes(data))


def _old_root(files) -> tuple[bytearray, int, int]:
    data = files["latest-attrs-30x3"]
    start, end, _ = next((s, e, w) for s, (e, w) in sorted(walk(data, len(data)).items()) if w.startswith(ROOT))
    return bytearray(data), start, end - 4


def test_an_old_root_indirect_block_is_claimed(files):
    data, start, _ = _old_root(files)
    assert data[start : start + 4] == b"FHIB"


def test_an_old_root_naming_another_block_is_refused(files):
    """Its first child moved by 8 (checksum recomputed): no earlier state had it."""
    data, start, end = _old_root(files)
    child = start + 13 + 5
    struct.pack_into("<Q", data, child, struct.unpack_from("<Q", data, child)[0] + 8)
    assert "are reached from no structure" in _refusal(_resum(data, start, end))


def test_an_old_root_twice_is_refused(files, monkeypatch):
    """The same earlier root found twice (its copy in a gap of zeros) explains one of them."""
    data, start, end = _old_root(files)
    found: list[int] = []
    real = oldsections.OldSections._root

    def twice(self, buf, at, stop) -> int:  # noqa: ANN001
        found.append(real(self, buf, at, stop))
        found.append(real(self, buf, at, stop))
        return found[0]

    monkeypatch.setattr(oldsections.OldSections, "_root", twice)
    assert _refusal(bytes(data)) == ""
    assert found == [end + 4 - start, 0]


def test_an_old_root_signature_at_a_gaps_end_is_no_root(files, monkeypatch):
    """Too few bytes left for its header: not a root (and no read past the gap)."""
    data, start, end = _old_root(files)
    seen: list[oldsections.OldSections] = []
    real = oldsections.OldSections.claims

    def keep(self, buf, gaps, roots=True):  # noqa: ANN001
        seen.append(self)
        return real(self, buf, gaps, roots)

    monkeypatch.setattr(oldsections.OldSections, "claims", keep)
    walk(bytes(data), len(data))
    fresh = oldsections.OldSections(roots=seen[0].roots)
    assert fresh._root(bytes(data[: start + 12]), start, start + 12) == 0  # the file ends there
    assert fresh._root(bytes(data), start, end + 4) == end + 4 - start


def _group_add(k: int, track: bool = False):
    """Session k of the attack's group /g under libver='latest' (attack g): 20 datasets
    and 20 integer attributes added, nothing deleted."""
    def step(f) -> None:
        g = f["g"] if "g" in f else f.create_group("g", track_order=track)
        for i in range(20):
            g[f"d{k}_{i}"] = np.arange(i + 1)
            g.attrs[f"a{k}_{i}"] = i
    return step


def test_lists_hidden_under_hidden_lists_are_found_within_the_bound(monkeypatch):
    """Three lists at one address, each session's shorter than the one before (attack g:
    refused, the search spent its bound on starts nearer the shown bytes): the list
    under the later one starts at that one's start, and one hidden under a hidden list
    starts where that one starts; a group whose offset shows costs one try."""
    data = sessions([_group_add(k) for k in range(4)], libver="latest")
    extents = walk(data, len(data)).values()
    assert any(what.count("(its start under") == 2 for _, what in extents)
    spent: list[int] = []
    real = oldsections.OldSections.hidden

    def hidden(self, *args):
        try:
            return real(self, *args)
        finally:
            spent.append(self.work)
    monkeypatch.setattr(oldsections.OldSections, "hidden", hidden)
    assert _refusal(data) == ""
    assert max(spent) < oldsections.MAX_WORK // 4, max(spent)


def test_a_byte_of_a_list_hidden_under_a_hidden_list_changed_is_refused():
    data = bytearray(sessions([_group_add(k) for k in range(4)], libver="latest"))
    extents = sorted(walk(bytes(data), len(data)).items())
    start, end = next((s, e) for s, (e, w) in extents if w.count("(its start under") == 2)
    data[end - 6] ^= 0x01  # a byte of its last section
    assert "are reached from no structure" in _refusal(bytes(data))


def _tracked() -> bytes:
    return sessions([_group_add(k, track=True) for k in range(4)], libver="latest")


def test_a_tracked_heaps_earlier_states_explain_a_list_showing_6_bytes(monkeypatch):
    """The tracked group (attack g): an old list of the attributes' heap shows only its
    last section's type, a byte of its offset and its checksum past the current list of
    the links' heap; without the states (oldstates.py) it is refused, with them it is
    the heap after one of its first n attributes."""
    data = _tracked()
    assert _refusal(data) == ""
    with monkeypatch.context() as m:
        m.setattr(oldstates, "candidates", lambda *_: [])
        assert "are reached from no structure" in _refusal(data)


def test_a_byte_of_a_tracked_heaps_old_list_changed_is_refused():
    data = bytearray(_tracked())
    extents = sorted(walk(bytes(data), len(data)).items())
    olds = [(s, e) for s, (e, w) in extents if "attributes of /g (its start under the free-space" in w]
    assert olds, [w for _, (_, w) in extents if "old" in w]
    start, end = olds[0]
    data[end - 1] ^= 0x01  # its checksum's last byte
    assert "are reached from no structure" in _refusal(bytes(data))


UNDER_LINKS = "(its start under the free-space section list of the fractal heap of the links of /g)"


def _hidden(data: bytes, what: str) -> tuple[int, int]:
    """(start, end) of the claimed tail of a structure of `what` hidden under the links' list."""
    return next((s, e) for s, (e, w) in sorted(walk(data, len(data)).items())
                if w.startswith(what) and w.endswith(UNDER_LINKS))


def test_another_heaps_list_showing_3_bytes_of_its_checksum_is_a_tracked_state(files, monkeypatch):
    """Session 35's sweep: at close libhdf5 frees both heaps' lists and allocates the
    links' new list (44 bytes) where the attributes' old one (47) was: 3 bytes of its
    checksum show, one of the attributes heap's states recomputed whole."""
    data = files["tracked-both-long-12x2"]
    start, end = _hidden(data, OLD + " the fractal heap of the attributes of /g")
    assert end - start == 3
    monkeypatch.setattr(oldstates, "candidates", lambda *_: [])
    assert "are reached from no structure" in _refusal(data)


def test_a_byte_of_a_list_showing_3_bytes_changed_is_refused(files):
    data = bytearray(files["tracked-both-long-12x2"])
    start, _ = _hidden(bytes(data), OLD + " the fractal heap of the attributes of /g")
    data[start + 1] ^= 0x01
    assert "are reached from no structure" in _refusal(bytes(data))


def test_an_old_root_under_a_later_list_is_recomputed_whole(files):
    """The attributes heap's first root indirect block, freed when the root gained rows,
    under the links' list (28 bytes show): each (rows, children) recomputed whole. A
    state of the links' heap that fits the first shown byte by chance does not take it
    (the candidate showing the most is claimed)."""
    data = files["tracked-both-long-30x2"]
    start, end = _hidden(data, ROOT + " the fractal heap of the attributes of /g")
    assert end - start > 20


@pytest.mark.parametrize("at", [0, -5, -1])
def test_a_byte_of_an_old_root_under_a_later_list_changed_is_refused(files, at):
    """A child address (0), the last entry's top byte (-5), the checksum (-1)."""
    data = bytearray(files["tracked-both-long-30x2"])
    start, end = _hidden(bytes(data), ROOT + " the fractal heap of the attributes of /g")
    data[(start if at == 0 else end) + at] ^= 0x01
    assert "are reached from no structure" in _refusal(bytes(data))


def test_an_untracked_heaps_hidden_list_is_one_of_its_fills(files, monkeypatch):
    """Untracked links and attributes under 'latest': the attributes' old list (67
    bytes) under the links' new one (44) shows 23 bytes, too few past 44 hidden for the
    search over tails (it spent its bound); it is one of the attributes heap's states
    recomputed from its blocks' fills (oldstates.fills), refused without them."""
    data = files["latest-both-long-20x2"]
    start, end = _hidden(data, OLD + " the fractal heap of the attributes of /g")
    assert end - start == 23
    monkeypatch.setattr(oldstates, "fills", lambda *_: ())
    assert "are reached from no structure" in _refusal(data)


def test_a_byte_of_an_untracked_heaps_hidden_list_changed_is_refused(files):
    data = bytearray(files["latest-both-long-20x2"])
    start, end = _hidden(bytes(data), OLD + " the fractal heap of the attributes of /g")
    data[end - 7] ^= 0x01  # a byte of its last section's offset
    assert "are reached from no structure" in _refusal(bytes(data))


def test_fills_keep_each_earlier_blocks_tail_smaller_than_a_later_first_object():
    """Block 0 (to 512) holds objects ending at 120, 300, 480; block 1 (to 1024), whose
    first object is 150 bytes, ends them at 700, 900. With block 1 allocated, block 0's
    tail was under 150 bytes (else the object would have gone there): only 480 (32 left).
    States: block 0 alone (3), both blocks (1 x 2)."""
    blocks = ((512, 100, (120, 300, 480)), (1024, 150, (700, 900)))
    got = oldstates.fills(b"P", (2, 4), blocks)
    assert len(got) == 5
    T = oldstates._TAIL  # noqa: N806 (a single section's type byte)
    body = b"P" + oldstates._groups(sorted([(212, 300, T), (324, 700, T)]), (2, 4))
    assert not any(whole.startswith(body) for whole in got)
    body = b"P" + oldstates._groups(sorted([(32, 480, T), (324, 700, T)]), (2, 4))
    assert any(whole[:-4] == body for whole in got)


def test_an_untracked_heap_of_many_states_hidden_list_is_found_by_what_it_shows(monkeypatch):
    """30 links and 30 attributes with long names and values a session, untracked,
    'latest', 3 sessions: the attributes heap (15 blocks) has 173,931 states by fill,
    more than the 4,096 computed; the old list under the links' list is among those
    whose blocks end where the sections it shows start (oldstates.pins), refused
    without that search."""
    data = sessions([_members(k, "la", False, 30, True) for k in range(3)], libver="latest")
    assert _refusal(data) == ""
    monkeypatch.setattr(oldsections, "MAX_PINNED", 0)
    assert "are reached from no structure" in _refusal(data)


def test_pins_are_offsets_where_a_tail_starts_followed_by_a_single_section():
    shown = bytes([7]) + (300).to_bytes(4, "little") + bytes(1) + (480).to_bytes(4, "little") + b"\x01"
    assert oldstates.pins(shown, 4, {300: 512, 480: 512}) == {300}


def test_a_freed_continuation_block_under_two_lists():
    """Session 35's sweep, 2 of 360 left: 3 links and 3 attributes a session, tracked,
    'latest', 3 or 4 sessions. /g's continuation block of session 2 (906..1040) is freed
    in session 3 and both heaps' new lists take its start (906..932, 932..959): its
    last 81 bytes show (messages, checksum); oldblocks.py spent its bound on the wrong
    starts and refused them naming h5repack. Session 39: each start is tried in passes of
    growing reach (oldsearch.REACH) and each try capped until the ledger's last round
    (TRY_WORK): it passes (bench/bench_hdf5_sweep.py: 360 of 360)."""
    assert _refusal(sessions([_members(k, "la", True, 3, False) for k in range(3)], libver="latest")) == ""


def _one_state(whole: bytes) -> oldsections.OldSections:
    heaps = oldsections.OldSections()
    heaps.add(1, oldsections.Tails(what="h", widths=(1, 2), ends={}, objects=3, states=(whole,),
                                   known=frozenset({whole})))
    return heaps


@pytest.mark.parametrize("shown", [1, 2, 3])
@pytest.mark.parametrize("pinned", [True, False])
def test_a_recomputed_hidden_list_shows_two_bytes_unless_it_starts_where_the_later_one_does(
        shown, pinned):
    """Session 39, attack ph5: a list hidden but for the last byte of its checksum fits
    one byte of anything by chance (one of a heap's 15 states: 15/256); the stale size
    0x22 of a freed block's message, for 0x23, was taken as one starting a byte after
    the live list's start. Two bytes at least, or its start the later structure's (the
    sweep's 3 lists or roots showing one byte: libhdf5 allocates from a freed start)."""
    whole = b"FSSE" + bytes(9) + b"\x01\x05\x00\x10\x00" + b"\xaa\xbb\xcc\xdd"
    hidden = len(whole) - shown
    at = (len(whole), hidden if pinned else hidden + 1)
    size, what = _one_state(whole)._recomputed(whole[-shown:] + b"\x07" * 8, 100, at)
    admitted = pinned or shown >= oldsections.MIN_SHOWN
    assert size == (shown if admitted else 0)
    assert what.startswith(OLD) == admitted
