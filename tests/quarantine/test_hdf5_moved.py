"""HDF5 files whose links or attributes moved to dense storage after a flush or a reopen
(issue #13): libhdf5 leaves stale message headers and pieces of messages in the null
message that replaces the moved ones (validators/hdf5/moved.py). What h5py's files hold
there passes; a payload, a name that is no link's, a wrong copy, too many pieces, or any
data in a null message of an object without dense storage, is refused."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import pytest

from tests.quarantine.test_hdf5_append import _check, _refusal
from tests.support import attack_lh5_ordinary as ordinary
from tests.support.hdf5_bytes import fix_v2_checksum, v2_header
from vmguard.quarantine.validators import Invalid
from vmguard.quarantine.validators.hdf5 import dense, moved, nullpieces
from vmguard.quarantine.validators.hdf5.checksum import lookup3

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

LONG = "run_{:02d}_appended_in_a_later_session"
NOT_LEFT = "holds bytes that are not what libhdf5 leaves when it moves messages"
MODES = ("flush", "reopen", "every")  # every: f.flush() after each addition


def _add(f, what: str, numbers: range, name: str, every: bool) -> None:
    for i in numbers:
        if what == "datasets":
            f.create_dataset(name.format(i), data=np.arange(i % 4 + 1))
        elif what == "groups":
            f.create_group(name.format(i))
        elif what == "attributes":
            f.attrs[name.format(i)] = np.arange(i % 3 + 1)
        else:  # a dataset's attributes
            f["d"].attrs[name.format(i)] = i
        if every:
            f.flush()


def _stepped(mode: str, what: str, before: int, after: int, name: str = LONG, **kw) -> bytearray:
    """`before` links or attributes, then a flush (or a close and a reopen with 'a'),
    then `after` more: past 8 they move to dense storage."""
    with tempfile.TemporaryDirectory(prefix="h5moved-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", libver=kw.pop("libver", "latest"), **kw) as f:
            if what == "dataset attributes":
                f.create_dataset("d", data=np.arange(3), track_order=kw.get("track_order"))
            _add(f, what, range(before), name, mode == "every")
            if mode != "reopen":
                f.flush()
                _add(f, what, range(before, before + after), name, mode == "every")
        if mode == "reopen":
            with h5py.File(path, "a") as f:
                _add(f, what, range(before, before + after), name, False)
        return bytearray(path.read_bytes())


def _root_null(data: bytes) -> tuple[int, int, int]:
    """(the root's header address, its null message's data address and size)."""
    root = struct.unpack_from("<Q", data, 36)[0]  # superblock version 2-3
    nulls = [(at, size) for kind, size, at in v2_header(data, root)[2] if kind == 0]
    return root, *max(nulls, key=lambda n: n[1])


def _patched(data: bytearray, offset: int, raw: bytes) -> bytearray:
    """The file with `raw` written `offset` bytes into the root's null message."""
    root, at, size = _root_null(data)
    assert offset >= 0 and offset + len(raw) <= size
    bad = bytearray(data)
    bad[at + offset : at + offset + len(raw)] = raw
    fix_v2_checksum(bad, root)
    return bad


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("what", ["datasets", "groups", "attributes", "dataset attributes"])
@pytest.mark.parametrize("order", [False, True])
def test_what_libhdf5_leaves_in_null_messages_passes(mode, what, order, monkeypatch):
    """The sweep: 0, 3 or 8 before, 1, 6 or 12 after, short and long names, links and
    attributes, tracking creation order or not. Every file's null messages pass; a file
    refused is refused for the next thing such files hold (docs/quarantine.md: bytes
    libhdf5 left in space it freed, an old free-space section list or header block)."""
    explained, check = [], moved.check

    def counted(w, *rest) -> None:  # noqa: ANN001
        check(w, *rest)
        explained.extend(w.stale)

    monkeypatch.setattr(moved, "check", counted)
    admitted = 0
    for before in (0, 3, 8):
        for after in (1, 6, 12):
            for name in (LONG, "r{}"):
                data = _stepped(mode, what, before, after, name, track_order=order)
                try:
                    _check(data)
                    admitted += 1
                except Invalid as e:
                    assert "reached from no structure of the file" in str(e), (before, after, name)
    print(mode, what, order, "admitted", admitted, "null messages with data", len(explained))
    assert explained and admitted


@pytest.mark.parametrize("mode", ["flush", "reopen"])
@pytest.mark.parametrize("libver", ["latest", "v110", "v112"])
def test_a_root_given_twelve_datasets_after_a_flush_passes(mode, libver):
    """The lead's case (tests/support/hdf5_attack_c_ctl.py: ctl-*-add12-latest.h5): the
    root's null message holds stale headers and the old link info's undefined addresses."""
    data = _stepped(mode, "datasets", 1, 12, libver=libver)
    _, at, size = _root_null(data)
    assert bytes(data[at : at + size]).strip(b"\0")  # something was left there
    _check(data)


def _base(name: str = LONG) -> bytearray:
    data = _stepped("flush", "datasets", 1, 12, name)
    _check(data)
    return data


def test_a_payload_in_a_null_message_is_refused():
    data = _base()
    _, at, size = _root_null(data)
    zeros = bytes(data[at : at + size]).rfind(b"\0" * 24)
    assert NOT_LEFT in _refusal(_patched(data, zeros, b"\x7fELF" + b"PAYLOAD!" * 2))


def test_a_name_no_link_has_is_refused():
    data = _base()
    _, at, size = _root_null(data)
    zeros = bytes(data[at : at + size]).rfind(b"\0" * 24)
    assert NOT_LEFT in _refusal(_patched(data, zeros, b"run_99_never_a_link_here"))


def test_a_wrong_or_shuffled_copy_of_a_moved_link_is_refused():
    """A copy of a link as it is in dense storage passes (libhdf5 leaves such pieces);
    the same link pointing elsewhere, or with its name's bytes shuffled, does not."""
    data = _base("link_{}")
    _, at, size = _root_null(data)
    heap = bytes(data)
    name = b"link_7"
    link = heap[heap.index(name) - 3 : heap.index(name) + len(name) + 8]  # version, flags, length...
    zeros = bytes(data[at : at + size]).rfind(b"\0" * (len(link) + 4))
    _check(_patched(data, zeros, link))
    wrong = link[:-8] + struct.pack("<Q", 0x123456789A)
    assert NOT_LEFT in _refusal(_patched(data, zeros, wrong))
    shuffled = link[:3] + name[::-1] + link[-8:]
    assert NOT_LEFT in _refusal(_patched(data, zeros, shuffled))


def test_stale_headers_must_be_of_this_object():
    """A header of a moved link's size passes; one of another size twice (once is a
    stale checksum's 4 free bytes), or more pieces than the object's messages allow, not."""
    data = _base()
    _, at, size = _root_null(data)
    zeros = bytes(data[at : at + size]).rfind(b"\0" * 12)
    good = struct.pack("<BHB", 0x06, 3 + len(LONG.format(0)) + 8, 0)  # version, flags, length, name, address
    _check(_patched(data, zeros, good))
    odd = struct.pack("<BHB", 0x06, 0x0777, 0)
    assert NOT_LEFT in _refusal(_patched(data, zeros, odd + odd + bytes(4)))
    many = struct.pack("<BHB", 0, 1, 0) * (size // 4)  # null headers, one per 4 bytes
    assert NOT_LEFT in _refusal(_patched(data, 0, many))


def test_data_in_a_null_message_of_a_header_nothing_moved_from_is_refused():
    """No continuation block, no dense storage: libhdf5 moved no message of it."""
    data = _stepped("flush", "datasets", 0, 1)
    bad = _patched(data, 8, struct.pack("<BHB", 0x10, 16, 0))
    assert "no message of it moved" in _refusal(bad)


def test_matching_is_bounded(monkeypatch):
    data = _base()
    monkeypatch.setattr(nullpieces, "MAX_WORK", 10)
    monkeypatch.setattr(nullpieces, "WORK_PER_BYTE", 0)
    assert "bytes compared to match what libhdf5 left" in _refusal(data)


def test_attributes_from_before_a_reopen_keep_order_0_in_dense_storage(monkeypatch):
    """libhdf5 reads an untracked compact attribute's creation order as 0 and keeps it
    when the attributes move to dense storage; those added since carry 65535."""
    seen, orders = [], dense.creation_orders
    monkeypatch.setattr(dense, "creation_orders", lambda o, *rest: (seen.append(o), orders(o, *rest)))
    _check(_stepped("reopen", "dataset attributes", 4, 6))
    assert sorted(next(o for o in seen if len(o) == 10)) == [0] * 4 + [0xFFFF] * 6


def _calibrations(sessions: int, track: bool, libver: str, attrs: int, seed: int) -> bytes:
    """/g given 6 long-named subgroups and `attrs` float attributes of 60 to 1000 elements
    a session (session 36's sweep: 37 of 64 such files were refused)."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "f.h5"
        for s in range(sessions):
            with h5py.File(path, "w" if s == 0 else "a", libver=libver) as f:
                g = f["g"] if "g" in f else f.create_group("g", track_order=track or None)
                for i in range(6):
                    g.create_group(f"subgroup_session_{s}_number_{i}_" + "n" * 24)
                for i in range(attrs):
                    g.attrs[f"calib_{s}_{i}"] = rng.random(int(rng.integers(60, 1001)))
        return path.read_bytes()


@pytest.mark.parametrize(("sessions", "track", "libver", "attrs", "seed"), [
    (2, False, "latest", 1, 0), (2, False, "latest", 3, 1), (2, True, "latest", 1, 2),
    (4, True, "latest", 1, 3), (4, False, "latest", 1, 4), (2, True, "latest", 3, 5),
])
def test_float_attributes_moved_in_steps_pass(sessions, track, libver, attrs, seed):
    """An attribute slid forward in steps leaves strips of its last bytes (2 bytes and
    less), a continuation message slid over leaves its length field at the null's start,
    and every double holds 0x3f (the byte-by-byte matching spent its bound)."""
    _check(_calibrations(sessions, track, libver, attrs, seed))


def test_short_pieces_that_end_no_message_are_refused():
    """1 to 5 bytes pass only where they end a message of the header (a strip libhdf5
    leaves as it slides one forward); two bytes of no message's end are refused."""
    data = _base()
    _, at, size = _root_null(data)
    zeros = bytes(data[at : at + size]).rfind(b"\0" * 24)
    assert NOT_LEFT in _refusal(_patched(data, zeros, b"\x99\x98" + bytes(8) + b"\x97\x96"))


def _freed_null(data: bytes) -> tuple[int, int, int, int]:
    """(block start, checksum offset, null data offset, null size) of the first freed
    continuation block whose null message holds data (the untracked /g of attack j)."""
    for start in range(data.find(b"OCHK"), len(data), 1):
        if data[start : start + 4] != b"OCHK":
            continue
        at = start + 4
        while at + 4 <= len(data):
            kind, size = struct.unpack_from("<BH", data, at)
            end = at + 4 + size
            for gap in range(4):
                tail = end + gap
                if tail + 4 <= len(data) and lookup3(data[start:tail]) == struct.unpack_from("<I", data, tail)[0]:
                    if kind == 0 and bytes(data[at + 4 : end]).strip(b"\0"):
                        return start, tail, at + 4, size
                    break
            else:
                at = end
                continue
            break
    raise AssertionError("no freed block with a null holding data")


def test_a_freed_block_s_null_holds_what_a_live_one_may_and_no_payload():
    """libhdf5 condensed the block before it freed it: its null message holds what a live
    header's may (moved.py's pieces, bound and all); a payload there is refused."""
    from tests.support import attack_jh5_ordinary  # noqa: PLC0415 (h5py: skipped above if missing)

    data = bytearray(attack_jh5_ordinary.Shape(3, 7, 4, False, "latest", False).bytes())
    _check(data)
    start, tail, at, size = _freed_null(bytes(data))
    assert size >= 16
    data[at : at + 16] = b"\x7fELF" + b"PAYLOAD!" + b"\x01\x02\x03\x04"
    struct.pack_into("<I", data, tail, lookup3(bytes(data[start:tail])))
    assert "reached from no structure" in _refusal(data)


@pytest.mark.parametrize("count", [2, 5, 6, 8])
def test_a_link_s_tail_of_one_non_zero_byte_passes(count):
    """A tracked 'latest' root given a dataset a session (attack l h5's
    ctl-l-runs6-tracked-latest): a null holds the last 8 bytes of a link, its address of
    one non-zero byte and 7 zeros (ef 00 .. 00) at the null's start: the strip of its end
    the link left as it slid forward (nullpieces._tails), refused before as a slice of too
    few non-zero bytes. (Such a strip inside a null explains nothing: a link copied with
    another address stays refused, test_a_wrong_or_shuffled_copy_of_a_moved_link_is_refused.)"""
    _check(ordinary.datasets_attrs(count, "latest", track=True))

