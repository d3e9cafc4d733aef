"""HDF5 to the last byte: every byte up to the end-of-file address belongs to exactly one
structure reached from the root group, or is zero (validators/hdf5/, run by the pipeline
on vmguard's own copy: structure.py).

Real files written by h5py in the test (libver 'earliest' and 'latest', chunked with
gzip/shuffle/fletcher32, string attributes, nested groups, resizable datasets) pass
untouched (the control for every attack below); a payload appended, prepended, under a
raised end-of-file address, in a gap, in a fake chunk, in an overlapping extent or in a
heap's free space is refused with the rule it breaks; B-tree and continuation loops
and huge declared counts fail fast."""

from __future__ import annotations

import gzip
import io
import os
import struct
import time
import tracemalloc
from pathlib import Path

import pytest

from tests.quarantine.test_attack_independent_content import _lookup3
from tests.quarantine.test_elision import vet
from vmguard.quarantine.model import Verdict
from vmguard.quarantine.validators import Invalid, Stream
from vmguard.quarantine.validators import vet as vet_stream
from vmguard.quarantine.validators.hdf5 import WALKED_HERE, walk
from vmguard.quarantine.validators.hdf5.ledger import File, Ledger
from vmguard.quarantine.validators.hdf5.objects import Walker, header

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

PAYLOAD = b"\x7fELF" + b"PAYLOAD!" * 16
UNDEFINED = 0xFFFFFFFFFFFFFFFF


def _h5(libver: str, where: Path | None = None, **kinds: bool) -> bytes:
    """A file by h5py, in memory or (where) on disk: on disk HDF5 aligns the raw data
    and leaves gaps of zeros between structures."""
    tmp = io.BytesIO() if where is None else where / f"{libver}.h5"
    with h5py.File(tmp, "w", libver=libver) as f:
        f["x"] = np.arange(64.0)
        f.create_dataset("c", data=np.arange(40), chunks=(10,))
        f.attrs["s"] = "a variable-length string"
        if kinds.get("rich"):
            g = f.create_group("a/b/c")
            g.attrs["list"] = ["one", "two", "three"]
            g.attrs["n"] = np.arange(5)
            g.create_dataset(
                "z", data=np.arange(10000).reshape(100, 100), chunks=(10, 10),
                compression="gzip", shuffle=True, fletcher32=True,
            )  # fmt: skip
            g.create_dataset("one", data=np.arange(1000), chunks=(1000,), compression="gzip")
            g.create_dataset("empty", shape=(10,), dtype="f4")
            f.create_dataset("small", data=np.arange(4))
            f["s"] = np.array([b"fixed", b"strings"])
            f.create_dataset("grow", data=np.arange(10), maxshape=(None,), chunks=(4,))
            f["grow"].resize((100,))
            f.create_dataset("vlen", data=np.array(["ab", "cde"], dtype=h5py.string_dtype()))
            # 'latest': thousands of chunks in an extensible array's super and data blocks
            f.create_dataset(
                "many", data=np.arange(20000), maxshape=(None,), chunks=(16,), compression="gzip"
            )
    return tmp.getvalue() if where is None else tmp.read_bytes()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    where = tmp_path_factory.mktemp("h5")
    return {
        "disk-v0": _h5("earliest", where),
        "disk-v3": _h5("latest", where),
        "v0": _h5("earliest"),
        "v3": _h5("latest"),
        "rich-v0": _h5("earliest", rich=True),
        "rich-v3": _h5("latest", rich=True),
    }


def _refusal(data: bytes) -> str:
    """The walk's reason for refusing `data` ("" when it passes); shared with test_hdf5_exact."""
    try:
        walk(data, len(data))
    except Invalid as err:
        return str(err)
    return ""


def _extent(data: bytes, what: str) -> tuple[int, int]:
    """(start, end) of the first structure whose name starts with `what`."""
    return next((s, e) for s, (e, w) in sorted(walk(data, len(data)).items()) if w.startswith(what))


def _put(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


def _raise_eof(data: bytes, tail: bytes) -> bytes:
    """The tail appended and the superblock's end-of-file address raised over it (the
    checksum of a version 2/3 superblock recomputed: the attack h5py itself would read)."""
    out = bytearray(data + tail)
    if out[8] < 2:
        at = out.find(struct.pack("<Q", len(data)), 8, 96)
        out[at : at + 8] = struct.pack("<Q", len(out))
    else:
        out[28:36] = struct.pack("<Q", len(out))
        out[44:48] = struct.pack("<I", _lookup3(bytes(out[:44])))
    return bytes(out)


@pytest.mark.parametrize("name", ["v0", "v3", "rich-v0", "rich-v3", "disk-v0", "disk-v3"])
def test_h5py_files_pass_and_h5py_reads_what_the_attacks_change(files, name):
    """The control: untouched files pass, and every extent lies under the end."""
    data = files[name]
    assert _refusal(data) == ""
    extents = walk(data, len(data))
    assert max(end for end, _ in extents.values()) <= len(data)


@pytest.mark.parametrize("name", ["v0", "v3"])
def test_a_payload_under_a_raised_end_of_file_address_is_refused(files, name):
    attacked = _raise_eof(files[name], PAYLOAD)
    with h5py.File(io.BytesIO(attacked), "r") as f:  # the attack is real: h5py reads the file
        assert list(f["x"][:3]) == [0.0, 1.0, 2.0]
    assert "reached from no structure of the file and are not zeros" in _refusal(attacked)
    assert _refusal(_raise_eof(files[name], bytes(len(PAYLOAD)))) == ""  # control: zeros


def test_a_payload_appended_or_prepended_is_refused(files):
    data = files["v0"]
    assert "is not the end of the file" in _refusal(data + PAYLOAD)
    assert "superblock" in _refusal(PAYLOAD + data)


@pytest.mark.parametrize("name", ["disk-v0", "disk-v3"])
def test_a_payload_in_a_gap_between_structures_is_refused(files, name):
    data = files[name]
    extents = sorted(walk(data, len(data)).items())
    gap = next(
        (end, nxt) for (_, (end, _)), (nxt, _) in zip(extents, extents[1:], strict=False) if nxt - end >= 16
    )
    assert _refusal(_put(data, gap[0] + 4, bytes(8))) == ""  # control: the gap is zeros
    attacked = _put(data, gap[0] + 4, b"\x7fELF\1\1\1\0")
    assert "are reached from no structure" in _refusal(attacked)


def test_a_contiguous_dataset_shrunk_leaves_its_tail_unclaimed(files):
    """The layout's size is lowered: refused as not what the dataspace needs (before the
    dataset's last bytes, reached from nothing, would be)."""
    data = files["v0"]
    start, end = _extent(data, "the data of /x")
    at = data.find(struct.pack("<QQ", start, end - start))
    attacked = _put(data, at + 8, struct.pack("<Q", end - start - 64))
    assert "448 bytes where its dataspace and datatype need 512" in _refusal(attacked)


def test_a_fake_chunk_in_a_b_tree_node_beyond_its_entries_is_refused(files):
    data = files["v0"]
    node, _ = _extent(data, "the chunk B-tree of /c")
    used = struct.unpack_from("<H", data, node + 6)[0]
    key = 8 + 8 * 2  # size, filter mask, offsets of a 1-d dataset (plus the element)
    at = node + 24 + used * (key + 8) + key
    attacked = _raise_eof(data, PAYLOAD)
    attacked = _put(attacked, at, struct.pack("<Q", len(data)))  # a child past the used entries
    assert "unused entries of the node" in _refusal(attacked)


def test_overlapping_extents_are_refused(files):
    """A chunk's address moved onto the previous chunk: both claim the same bytes."""
    data = files["v0"]
    chunks = [s for s, (_, w) in sorted(walk(data, len(data)).items()) if w == "a chunk of /c"]
    at = data.find(struct.pack("<Q", chunks[1]))
    attacked = _put(data, at, struct.pack("<Q", chunks[1] - 8))
    assert "overlaps" in _refusal(attacked)


def test_a_chunk_pointing_outside_the_file_is_refused(files):
    data = files["v0"]
    chunks = [s for s, (_, w) in sorted(walk(data, len(data)).items()) if w == "a chunk of /c"]
    at = data.find(struct.pack("<Q", chunks[0]))
    attacked = _put(data, at, struct.pack("<Q", len(data) + 4096))
    assert "does not lie under the end-of-file address" in _refusal(attacked)


def test_a_payload_in_a_local_heaps_free_space_is_refused(files):
    data = files["v0"]
    heap, _ = _extent(data, "the local heap of /")
    size, free, segment = struct.unpack_from("<QQQ", data, heap + 8)
    assert free + 24 < size, "the heap has a free block"
    assert "free block" in _refusal(_put(data, segment + free + 16, b"\x7fELF"))


@pytest.mark.parametrize("name", ["v0", "v3"])
def test_a_payload_in_a_global_heaps_free_space_is_refused(files, name):
    data = files[name]
    start, end = _extent(data, "the global heap collection")
    attacked = _put(data, end - 64, PAYLOAD[:32])
    assert "free space of the global heap collection" in _refusal(attacked)


def test_a_global_heap_object_nothing_refers_to_is_refused(files):
    """The attribute's reference moved to another object index: the real one is orphaned."""
    data = files["v0"]
    start, _ = _extent(data, "the global heap collection")
    ref = data.find(struct.pack("<QI", start, 1))
    assert "holds objects nothing refers to" in _refusal(_put(data, ref + 8, struct.pack("<I", 2)))


def test_a_null_message_holding_data_is_refused(files):
    """HDF5 pads a header with null messages (zeros); a payload there is refused."""
    data = files["v0"]
    f = File(data, len(data))
    w = Walker(f, Ledger(f))
    start, _ = _extent(data, "the object header of /x")
    null = next(m for m in header(w, start, "/x") if m.kind == 0 and m.size >= 4)
    assert "a null message in the object header of /x" in _refusal(_put(data, null.at, b"\x7fELF"))


def test_a_b_tree_loop_fails_fast(files):
    """The chunk B-tree's root made a level-1 node whose first child is itself."""
    data = files["v0"]
    node, _ = _extent(data, "the chunk B-tree of /c")
    attacked = _put(data, node + 5, b"\x01")
    for i in range(struct.unpack_from("<H", data, node + 6)[0]):
        attacked = _put(attacked, node + 24 + i * 32 + 24, struct.pack("<Q", node))
    started = time.monotonic()
    assert "(a loop)" in _refusal(attacked)
    assert time.monotonic() - started < 1


def test_a_continuation_loop_fails_fast(files):
    data = files["v0"]
    block, end = _extent(data, "a continuation block of the object header of /")
    # the block's first message becomes a continuation back to the block itself
    attacked = _put(data, block, struct.pack("<HHB3xQQ", 0x10, 16, 0, block, end - block))
    assert "(a loop)" in _refusal(attacked) or "overlaps" in _refusal(attacked)


@pytest.mark.parametrize(
    ("what", "field"),
    [("the global heap collection", 8), ("the local heap of /", 8)],
)
def test_huge_declared_sizes_fail_fast_with_bounded_memory(files, what, field):
    data = files["v0"]
    start, _ = _extent(data, what)
    attacked = _put(data, start + field, struct.pack("<Q", 1 << 60))
    tracemalloc.start()
    started = time.monotonic()
    try:
        assert "does not lie under the end-of-file address" in _refusal(attacked)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.monotonic() - started < 1 and peak < 8 << 20


def test_a_huge_count_of_variable_length_values_fails_fast(files):
    """The string attribute's dataspace claims 2**40 values."""
    data = files["v0"]
    name = data.find(b"s\0", _extent(data, "the object header of /")[0])
    space = data.find(b"\x01\x00\x00\x00", name)  # a scalar dataspace (version 1, rank 0)
    attacked = _put(data, space, b"\x01\x01\x00\x00\x00\x00\x00\x00" + struct.pack("<Q", 1 << 40))
    started = time.monotonic()
    assert _refusal(attacked)
    assert time.monotonic() - started < 1


def test_dense_groups_are_walked():
    """h5py 'latest' keeps a group of more than 8 links in a fractal heap: walked, its
    heap and indexes claimed (tests/quarantine/test_hdf5_dense.py attacks them)."""
    tmp = io.BytesIO()
    with h5py.File(tmp, "w", libver="latest") as f:
        for i in range(12):
            f[f"d{i}"] = i
    data = tmp.getvalue()
    assert _refusal(data) == ""
    names = {w for _, w in walk(data, len(data)).values()}
    assert {"the fractal heap of the links of /", "the version 2 B-tree (type 5) of the links of /"} <= names


def test_inside_a_gzip_the_file_is_walked_in_memory(files):
    good = gzip.compress(files["v0"])
    bad = gzip.compress(_raise_eof(files["v0"], PAYLOAD))

    def mime(head: bytes) -> str:
        return "application/gzip" if head[:2] == b"\x1f\x8b" else "application/x-hdf5"

    assert vet_stream(Stream(iter([good])), mime)[-1] == ("application/x-hdf5", "hdf5")
    with pytest.raises(Invalid, match="reached from no structure"):
        vet_stream(Stream(iter([bad])), mime)


def test_the_pipeline_walks_its_own_copy_of_large_and_small_files(tmp_path: Path, files):
    """Through vet: a small file (walked in the worker, on the bytes it holds) and a large
    one (walked in its sandbox on the staged file) with a payload under a raised
    end-of-file address are refused; the untouched ones promoted."""
    tmp = io.BytesIO()
    with h5py.File(tmp, "w") as f:
        f.create_dataset("x", data=np.arange(1_200_000.0), chunks=(1 << 15,))
        f.attrs["s"] = "a string"
    large = tmp.getvalue()
    attacked = {"small.h5": _raise_eof(files["v3"], PAYLOAD), "large.h5": _raise_eof(large, PAYLOAD)}
    entries = vet(tmp_path, {"ok-small.h5": files["v3"], "ok-large.h5": large, **attacked})
    assert len(large) > WALKED_HERE
    for name in ("ok-small.h5", "ok-large.h5"):
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]
    for name in attacked:
        assert entries[name].verdict is Verdict.REJECTED
        assert "reached from no structure of the file" in entries[name].detail, entries[name]


def test_every_chunk_of_an_extensible_array_is_claimed(files):
    """The control that the extensible array's block arithmetic is HDF5's: all 1250
    chunks are reached (a block misplaced would leave them unclaimed, or overlap)."""
    data = files["rich-v3"]
    kinds = [w for _, w in walk(data, len(data)).values()]
    assert kinds.count("a chunk of /many") == 1250
    assert kinds.count("a super block of the extensible array chunk index of /many") >= 3


def test_a_payload_in_an_extensible_array_data_block_gap_is_refused(files):
    """A data block's address moved (the checksum of the block holding it recomputed):
    the header counts a data block the walk does not reach (its statistics are
    recomputed before the ledger would find the real block reached from nothing)."""
    data = files["rich-v3"]
    extents = walk(data, len(data))
    blocks = [s for s, (_, w) in extents.items() if w.startswith("a data block of the ext")]
    at = data.find(struct.pack("<Q", max(blocks)))
    attacked = _put(data, at, struct.pack("<Q", UNDEFINED))
    assert "checksum" in _refusal(attacked)  # the control: a block's checksum covers its addresses
    start, end = next((s, e) for s, (e, _) in extents.items() if s <= at < e)
    attacked = _put(attacked, end - 4, struct.pack("<I", _lookup3(attacked[start : end - 4])))
    assert "data blocks, their bytes" in _refusal(attacked)


def test_the_walk_reads_vmguards_own_copy_never_the_guests_file(tmp_path: Path, files, monkeypatch):
    """A large file's walk maps the staged file, never the quarantine's file, which the
    guest may rewrite meanwhile; a small one is walked in the worker (no copy kept)."""
    from vmguard.quarantine import pipeline

    seen: list[os.stat_result] = []
    real = pipeline.structure.walk

    def recording(own: int, head: bytes, size: int) -> pipeline.structure.Walking | None:
        if own != -1:
            seen.append(os.fstat(own))
        return real(own, head, size)

    monkeypatch.setattr(pipeline.structure, "walk", recording)
    tmp = io.BytesIO()
    with h5py.File(tmp, "w") as f:
        f["x"] = np.arange(1_200_000.0)
    entries = vet(tmp_path, {"small.h5": files["v0"], "large.h5": tmp.getvalue()})
    assert all(e.verdict is Verdict.ACCEPTED for e in entries.values()), entries
    sources = {os.stat(tmp_path / "q" / name).st_ino for name in ("small.h5", "large.h5")}
    assert len(seen) == 1
    assert not {st.st_ino for st in seen} & sources


def test_a_walk_runs_while_the_next_file_is_copied(tmp_path: Path, monkeypatch):
    """The copy does not wait for a large file's walk: a walk that can only finish once
    the next file is staged still answers in time (were the walks run one after the
    other, the first would give up and its file be refused)."""
    from vmguard.quarantine import hooks, structure

    staged = tmp_path / "b-staged"
    waiting = tmp_path / "waiting.py"
    waiting.write_text(
        "import os, time\n"
        "for _ in range(200):\n"
        f"    if os.path.exists({str(staged)!r}):\n"
        "        break\n"
        "    time.sleep(0.1)\n"
        "else:\n"
        "    print('hdf5: the next file was never copied', end='')\n"
    )
    monkeypatch.setattr(structure, "WALKER", waiting)
    tmp = io.BytesIO()
    with h5py.File(tmp, "w") as f:
        f["x"] = np.arange(1_200_000.0)
    hooks.set_hook(lambda point, path: staged.touch() if (point, path) == ("staged", ("b.h5",)) else None)
    try:
        entries = vet(tmp_path, {"a.h5": tmp.getvalue(), "b.h5": tmp.getvalue()})
    finally:
        hooks.set_hook(None)
    assert staged.exists(), "control: the hook ran"
    assert all(e.verdict is Verdict.ACCEPTED for e in entries.values()), entries


def test_a_walk_that_does_not_finish_refuses_the_file(tmp_path: Path, monkeypatch):
    """Fail closed: the sandboxed walk of a large file dies -> refused, with the reason."""
    from vmguard.quarantine import structure

    dying = tmp_path / "dying.py"
    dying.write_text("import os\nos.kill(os.getpid(), 9)\n")
    monkeypatch.setattr(structure, "WALKER", dying)
    tmp = io.BytesIO()
    with h5py.File(tmp, "w") as f:
        f["x"] = np.arange(1_200_000.0)
    entries = vet(tmp_path, {"large.h5": tmp.getvalue()})
    assert entries["large.h5"].verdict is Verdict.REJECTED
    assert "hdf5: the structure walk did not finish (exit status -9)" in entries["large.h5"].detail
