"""HDF5 files written in steps (issue #13): a file reopened with 'a', or flushed and then
given more, and a root group that tracks link order under the default superblock.

libhdf5 leaves bytes of earlier states in such files. What the walk can recompute passes
(validators/hdf5/remains.py: the copies of a local heap left where its data block was,
before the block moved); a payload put there, or in anything else such a file leaves, is
refused. The null messages libhdf5 leaves when links or attributes move to dense storage
are test_hdf5_moved.py's."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import pytest

from tests.quarantine.test_elision import vet
from vmguard.quarantine.model import Verdict
from vmguard.quarantine.validators import Invalid, Stream
from vmguard.quarantine.validators.hdf5 import remains, validate, walk
from vmguard.quarantine.validators.hdf5.remains import MovedHeap, Remains, moved_heap

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

PAYLOAD = b"\x7fELF" + b"PAYLOAD!" * 4
LONG = "run_{:02d}_appended_in_a_later_session"


def _check(data: bytes | bytearray) -> None:
    validate(Stream(iter([bytes(data)])))
    walk(bytes(data), len(data))


def _refusal(data: bytes | bytearray) -> str:
    with pytest.raises(Invalid) as caught:
        _check(data)
    return str(caught.value)


def _add(f, kind: str, n: int, name: str) -> None:
    for i in range(n):
        if kind == "datasets":
            f.create_dataset(name.format(i), data=np.arange(i + 1))
        elif kind == "groups":
            f.create_group(name.format(i))
        else:
            f.attrs[name.format(i)] = i


def _stepped(mode: str, kind: str, n: int, libver: str = "earliest", name: str = LONG) -> bytes:
    """A file written in two steps: closed and reopened with 'a' (reopen), or one session
    with f.flush() between (flush); the second step adds n datasets, groups or attributes."""
    with tempfile.TemporaryDirectory(prefix="h5append-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", libver=libver) as f:
            f.create_dataset("a", data=np.arange(5))
            if mode == "flush":
                f.flush()
                _add(f, kind, n, name)
            else:
                f.create_dataset("log", shape=(0,), maxshape=(None,), chunks=(64,), dtype="f8")
        if mode == "reopen":
            with h5py.File(path, "a") as f:
                _add(f, kind, n, name)
        return path.read_bytes()


def _ordered(**kw) -> bytes:
    with tempfile.TemporaryDirectory(prefix="h5append-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", track_order=True, **kw) as f:
            for i in range(12):
                f.create_dataset(f"d{i}", data=np.arange(i + 1))
            f.create_group("g").attrs["x"] = 1
        return path.read_bytes()


@pytest.mark.parametrize("mode", ["reopen", "flush"])
@pytest.mark.parametrize("kind", ["datasets", "groups", "attributes"])
@pytest.mark.parametrize("name", [LONG, "r{}"])
def test_files_written_in_steps_pass(mode, kind, name):
    """The sweep (counts 1..40, 0, 1 or 3 datasets before, all passed when written);
    here the counts where the local heap moves, once or more, or its old block is reused."""
    for n in (1, 2, 3, 5, 8, 12, 20, 40):
        _check(_stepped(mode, kind, n, name=name))


def _moved(mode: str = "reopen") -> tuple[bytearray, int, int, int]:
    """A file whose root heap moved after a flush: (bytes, where the old block starts, its
    size, where its copy's names end), the old block a copy of the heap's first names and
    its free block."""
    data = bytearray(_stepped(mode, "datasets", 12))
    heap = data.index(b"HEAP")
    assert struct.unpack_from("<Q", data, heap + 24)[0] != heap + 32  # the block moved
    old, size = heap + 32, 88  # h5py's first heap block
    assert bytes(data[old + 8 : old + 10]) == b"a\0"
    free = next(f for f in range(8, size, 8) if struct.unpack_from("<Q", data, old + f)[0] == 1)
    assert struct.unpack_from("<Q", data, old + free + 8)[0] == size - free
    return data, old, size, free


def test_the_old_copy_of_a_moved_heap_is_checked_byte_by_byte():
    data, old, size, free = _moved()
    _check(data)  # the control
    for at, patch in {
        old + free + 16: PAYLOAD[:16],  # in the free block's zeros
        old + 8: b"b",  # a name the heap does not hold there
        old + free + 8: struct.pack("<Q", size - free - 8),  # the free block's size
        old + free: struct.pack("<Q", 0),  # its next free block
        old + 9: b"X",  # the padding after a name
    }.items():
        bad = bytearray(data)
        bad[at : at + len(patch)] = patch
        assert "an earlier state of the file that vmguard cannot check" in _refusal(bad), at


def test_a_copy_whose_names_end_off_a_name_boundary_is_refused():
    """F, where the copy's names end, is one of the heap's name boundaries: a free block
    header moved 8 bytes into a name is no state the heap ever had."""
    data, old, size, _ = _moved()
    bad = bytearray(data)
    free = 12  # in the padding of "a" (8..16)
    bad[old + free : old + size] = struct.pack("<QQ", 1, size - free) + bytes(size - free - 16)
    assert "earlier state" in _refusal(bad)


def test_a_copy_anywhere_but_where_the_block_was_is_refused():
    """A copy only explains the old block of a moved heap, at the heap's header: the same
    bytes 8 further on are a payload's hiding place."""
    data, old, size, _ = _moved()
    bad = bytearray(data)
    bad[old : old + size] = bytes(8) + data[old : old + size - 8]
    assert "earlier state" in _refusal(bad)


def test_a_flushed_heap_copy_passes_and_a_payload_there_is_refused():
    data, old, size, _ = _moved("flush")
    _check(data)
    bad = bytearray(data)
    bad[old + size - 8 : old + size] = PAYLOAD[:8]
    assert "h5repack" in _refusal(bad)


@pytest.mark.parametrize("name", [LONG, "r{}"])
@pytest.mark.parametrize("every", [1, 3])
def test_a_job_flushing_after_each_name_passes(name, every):
    """A job that flushes after every (third) new dataset: the heap moves again and again,
    each block it leaves a whole copy, or the rest of one whose start later structures
    reused."""
    _check(_flushed_each(name, count=40, every=every))


@pytest.mark.parametrize("sessions", [2, 5])
@pytest.mark.parametrize("per", [3, 12])
def test_a_file_appended_to_in_many_sessions_passes(sessions, per):
    with tempfile.TemporaryDirectory(prefix="h5append-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("a", data=np.arange(3))
            f.create_group("g")
        for s in range(sessions):
            with h5py.File(path, "a") as f:
                for i in range(per):
                    f["g"].create_dataset(f"run_{s:02d}_{i:03d}_of_the_job", data=np.arange(3))
                    f.create_dataset(f"run_{s:02d}_{i:03d}", data=np.arange(3))
        _check(path.read_bytes())


def _heap() -> MovedHeap:
    """A heap of 176 bytes that moved: the empty name, "a", "log", a 40-byte name."""
    names = [b"", b"a", b"log", b"x" * 39]
    segment = b"".join(n + bytes(-(len(n) + 1) % 8 + 1) for n in names)
    segment += struct.pack("<QQ", 1, 176 - len(segment)) + bytes(176 - len(segment) - 16)
    heap = moved_heap(1000, 5000, segment, [8, 16, 24], 64)
    assert heap is not None and heap.base == 1032 and heap.bounds == (8, 16, 24, 64)
    return heap


def _remains(*heaps: MovedHeap) -> Remains:
    remains = Remains()
    for heap in heaps or (_heap(),):
        remains.add(heap)
    return remains


def _copy(f: int, size: int = 88) -> bytes:
    return _heap().segment[:f] + struct.pack("<QQ", 1, size - f) + bytes(size - f - 16)


def test_a_copy_is_one_of_the_heap_states_at_a_pinned_place():
    buf = bytes(3000) + _copy(24) + bytes(8)  # a whole copy where the gap starts, zeros after
    one = _remains()
    assert one.explains(buf, (3000, len(buf)), [])
    assert not one.explains(buf, (3000, len(buf)), [])  # one copy of each size per heap
    assert _remains(_heap(), _heap()).explains(buf, (3000, len(buf)), [])
    assert _remains().explains(buf, (3032, len(buf)), [3000])  # its start reused by a structure
    assert not _remains().explains(buf, (3032, len(buf)), [2992])  # not where that one starts
    assert not _remains().explains(buf, (3032, len(buf)), [])
    attached = bytes(1032) + _copy(24)
    assert _remains().explains(attached, (1064, len(attached)), [])  # after the heap's header
    shifted = bytes(1040) + _copy(24)
    assert not _remains().explains(shifted, (1072, len(shifted)), [])  # 8 bytes on
    odd = bytes(3000) + _copy(24, 96)
    assert not _remains().explains(odd, (3000, len(odd)), [])  # 96: no size the block had
    whole = bytes(3000) + _copy(24, 176)
    assert not _remains().explains(whole, (3000, len(whole)), [])  # no smaller than the heap
    off = bytes(3000) + _copy(8)[:8] + _copy(20)[8:]  # names end inside a name's padding
    assert not _remains().explains(off, (3000, len(off)), [])
    dirty = bytearray(buf)
    dirty[3000 + 60 : 3000 + 64] = b"\x7fELF"
    assert not _remains().explains(bytes(dirty), (3000, len(dirty)), [])
    after = buf + b"\x01"
    assert not _remains().explains(after, (3000, len(after)), [])  # zeros after the copy


@pytest.mark.parametrize("how", ["file", "config"])
def test_a_root_group_tracking_link_order_passes(how):
    """track_order=True (or h5py's config) under the default libver: a version 0
    superblock whose root is a v2 (OHDR) header, nothing cached in its entry."""
    if how == "file":
        data = _ordered()
    else:
        config = h5py.get_config()
        before, config.track_order = config.track_order, True
        try:
            with tempfile.TemporaryDirectory(prefix="h5append-") as where:
                with h5py.File(Path(where) / "f.h5", "w") as f:
                    f.create_dataset("d", data=np.arange(3))
                data = (Path(where) / "f.h5").read_bytes()
        finally:
            config.track_order = before
    assert data[8] == 0 and data[96:100] == b"OHDR"
    _check(data)


def test_the_root_entry_caches_exactly_what_libhdf5_caches():
    """The superblock's root entry: cache type 1 and the group's B-tree and heap when the
    root has a symbol table (libhdf5 always caches it), else type 0 and zeros."""
    ordered = bytearray(_ordered())
    entry = 24 + 32  # the root's symbol table entry in a version 0 superblock
    assert struct.unpack_from("<I", ordered, entry + 16)[0] == 0
    bad = bytearray(ordered)
    bad[entry + 16 : entry + 40] = struct.pack("<IIQQ", 1, 0, 800, 680)
    with pytest.raises(Invalid):
        _check(bad)
    plain = bytearray(_stepped("reopen", "datasets", 0))
    assert struct.unpack_from("<I", plain, entry + 16)[0] == 1
    _check(plain)
    bad = bytearray(plain)
    bad[entry + 16 : entry + 40] = bytes(24)  # nothing cached: libhdf5 never writes that
    assert "cache type" in _refusal(bad)


def _flushed_each(name: str, count: int = 12, every: int = 1) -> bytes:
    """A group of `count` datasets, the file flushed after every `every`th."""
    with tempfile.TemporaryDirectory(prefix="h5append-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w") as f:
            g = f.create_group("sub")
            for i in range(count):
                g.create_dataset(name.format(i), data=np.arange(3))
                if i % every == 0:
                    f.flush()
        return path.read_bytes()


def _left_bytes(data: bytes) -> list[int]:
    """The offsets of the non-zero bytes no structure claims: what copies left."""
    extents, pos, out = sorted(walk(data, len(data)).items()), 0, []
    for start, (end, _) in [*extents, (len(data), (len(data), ""))]:
        out += [at for at in range(pos, start) if data[at]]
        pos = max(pos, end)
    return out


@pytest.mark.parametrize(
    "build",
    [lambda: _flushed_each(LONG), lambda: _flushed_each("r{}"), lambda: _stepped("reopen", "datasets", 12)],
)
def test_every_byte_a_copy_left_is_pinned(build):
    """Each non-zero byte that copies of moved heaps left, changed alone, is refused: no
    other copy, size, place or flush point explains the result."""
    data = build()
    left = _left_bytes(data)
    assert left  # the file has copies (the control: they pass)
    for at in left:
        bad = bytearray(data)
        bad[at] = data[at] ^ 0x40 if at % 2 else 0  # another byte, or a byte cleared
        with pytest.raises(Invalid):
            _check(bad)


def test_vet_publishes_files_written_in_steps_small_and_walked_apart(tmp_path):
    """Through vet with the shipped batch policy: a small file (walked in the worker) and
    one over 1 MiB (walked in its own sandbox on vmguard's copy) written in steps are
    published byte-identical; the same with a payload in the heap's old copy is not."""
    with tempfile.TemporaryDirectory(prefix="h5append-") as where:
        path = Path(where) / "big.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("a", data=np.arange(300_000.0))
        with h5py.File(path, "a") as f:
            _add(f, "datasets", 12, LONG)
        big = path.read_bytes()
    small = _moved()[0]
    bad = bytearray(big)
    heap = bad.index(b"HEAP")
    assert struct.unpack_from("<Q", bad, heap + 24)[0] != heap + 32 and len(big) > 1 << 20
    bad[heap + 32 + 80 : heap + 32 + 88] = PAYLOAD[:8]
    files = {"small.h5": bytes(small), "big.h5": big, "bad.h5": bytes(bad)}
    entries = vet(tmp_path, files)
    for name in ("small.h5", "big.h5"):
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]
        assert (tmp_path / "pub" / "run1" / name).read_bytes() == files[name]
    assert entries["bad.h5"].verdict is Verdict.REJECTED
    assert "an earlier state of the file that vmguard cannot check" in entries["bad.h5"].detail


def test_matching_is_bounded(monkeypatch):
    """A crafted file of many heaps and windows fails fast, naming the limit."""
    monkeypatch.setattr(remains, "MAX_TRIES", 3)

    def heap(i: int) -> MovedHeap | None:
        segment = bytes(8) + f"n{i}".encode().ljust(8, b"\0") + struct.pack("<QQ", 1, 160) + bytes(144)
        return moved_heap(1000 + 200 * i, 90_000, segment, [8], 16)

    heaps = _remains(*(heap(i) for i in range(5)))
    with pytest.raises(Invalid, match="more than 3 tries"):
        heaps.explains(bytes(50_000) + b"\x01" * 8, (50_000, 50_008), [])


def _sessions_of_names(width: int, per: int, sessions: int) -> bytes:
    """A group given `per` datasets a session, their names `width` characters long."""
    with tempfile.TemporaryDirectory(prefix="h5append-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w") as f:
            f.create_group("many")
        for s in range(sessions):
            with h5py.File(path, "a") as f:
                for i in range(per):
                    f["many"].create_dataset(f"s{s:03d}_{i:03d}x{'y' * 12}"[:width], data=[i])
        return path.read_bytes()


@pytest.mark.parametrize("width", [8, 9, 10, 13, 15])
def test_names_added_in_later_sessions_pass(width):
    """Attack e: 60 names, then 60 more in a second session: the first new name lands on the
    free block libhdf5 wrote at the close, and H5HL_insert writes no padding: the old
    block header's last bytes stay after the name."""
    _check(_sessions_of_names(width, 60, 3))


def test_a_few_names_a_session_pass():
    """The heap moved in its first session and again later: its 176-byte copy lies right
    before the header allocated after it, zeros before the copy (remains.py)."""
    data = _sessions_of_names(8, 7, 3)
    _check(data)
    copy = data.index(b"s000_000\0") - 8  # the old block's (the live heap lies after it)
    for at in (copy + 8, copy + 120, copy - 16):  # a name, its free block, zeros before it
        bad = bytearray(data)
        bad[at] ^= 0x40
        assert "reached from no structure" in _refusal(bad)


def _heap_with_stale_padding() -> tuple[bytearray, int]:
    """A file whose heap holds a name followed by non-zero padding (the first name of the
    second session, 8 characters: its NUL covers the stale size's low byte), and where
    that padding starts."""
    data = bytearray(_sessions_of_names(8, 60, 2))
    at = data.index(b"s001_000\0") + 9
    assert data[at : at + 7].strip(b"\0"), "control: stale padding after the name"
    return data, at


def test_stale_padding_beyond_a_free_block_header_is_refused():
    data, at = _heap_with_stale_padding()
    _check(data)
    for value in (b"\xff", b"P"):  # a size beyond the heap; a payload byte
        bad = bytearray(data)
        bad[at + 1 : at + 2] = value
        assert "padding after the link name" in _refusal(bad)


@pytest.mark.parametrize(
    ("padding", "covered", "fits"),
    [
        (bytes([1, 0, 0, 0, 0, 0, 0]), 9, True),  # the size's high bytes: 0x1xx, in the heap
        (bytes([8, 0, 0, 0, 0, 0, 0]), 9, False),  # 0x8xx: past the heap's end
        (bytes(7), 9, True),
        (bytes([0, 0, 0, 0]), 4, True),  # the next offset's high bytes
        (bytes([1, 0, 0, 0]), 4, False),  # 2^32 and more: no offset of this heap
        (bytes([0]) * 9, 7, False),  # past the 16-byte header
    ],
)
def test_a_stale_free_block_header_is_bounded(padding, covered, fits):
    assert remains.stale_free_header(padding, covered, offset=1000, size=2816) is fits
