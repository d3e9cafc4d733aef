"""ROOT, every byte accounted for (issue #13): real uproot output in many orders passes;
each field the tables pin, changed, is refused naming the rule."""

from __future__ import annotations

import struct
import uuid

import numpy as np
import pytest

from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid

uproot = pytest.importorskip("uproot")
orders = pytest.importorskip("tests.support.root_orders")
ROOT = "application/x-root"
OK = [(ROOT, "root")]
# Seeds of orders that once failed (RNTuple anchors moved, old FreeSegments records, keys
# lists allocated over remains, a FreeSegments record that shrank in place), and more.
SEEDS = [0, 5, 9, 12, 13, 18, 19, 33, 130, 178, 195, 311, 319, 352, 374, 384, 391, *range(40, 64)]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return tmp_path_factory.mktemp("root-orders")


@pytest.mark.parametrize("seed", SEEDS)
def test_uproot_in_many_orders_passes(made, seed):
    data, calls = orders.build(made, seed)
    assert vet(data, ROOT, 4096 if seed % 2 else 7) == OK, calls


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> bytes:
    """A histogram, a tree extended twice and a subdirectory, then a second job."""
    path = tmp_path_factory.mktemp("root") / "r.root"
    rng = np.random.default_rng(3)
    with uproot.recreate(path) as f:
        f["h"] = np.histogram(rng.normal(size=100), bins=5)
        f.mktree("t", {"x": "f8"})
        for _ in range(2):
            f["t"].extend({"x": rng.normal(size=500)})
        f["dir/h"] = np.histogram(rng.normal(size=100), bins=5)
    with uproot.update(path) as f:
        f["h2"] = np.histogram(rng.normal(size=100), bins=5)
    return path.read_bytes()


def _key(data: bytes, klass: bytes, name: bytes, nth: int = 0) -> int:
    """The offset of a record's own key (it names itself at 18, small or large seeks)."""
    found, pattern = -1, bytes([len(klass)]) + klass + bytes([len(name)]) + name
    while True:
        found = data.find(pattern, found + 1)
        assert found > 0, (klass, name)
        for start in (found - 26, found - 34):
            wide = struct.unpack_from(">h", data, start + 4)[0] == 1004
            seek = struct.unpack_from(">q" if wide else ">i", data, start + 18)[0]
            if seek == start and (nth := nth - 1) < 0:
                return start


def _put(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


def _top_directory(data: bytes) -> int:
    """Where the top directory's TDirectory part starts (after its key and TNamed)."""
    begin = struct.unpack_from(">i", data, 8)[0]
    at = begin + struct.unpack_from(">h", data, begin + 14)[0]
    return at + 2 + data[at] + data[at + 1 + data[at]]


def test_the_control_passes(real):
    assert vet(real, ROOT) == OK


@pytest.mark.parametrize("setting", [0, 1, 4, 9, 101, 109, 403, 505, 522, 599])
def test_fcompress_is_a_setting_root_writes_whatever_the_blocks(real, setting):
    """ROOT keeps the file's setting whatever its objects and branches used (0 or 1 over
    zlib blocks, 403...): bounded to what its setters store, not tied to the blocks."""
    assert vet(_put(real, 33, struct.pack(">i", setting)), ROOT) == OK


@pytest.mark.parametrize("setting", [-1, 600, 699, 10001, 2**31 - 1])
def test_fcompress_root_cannot_write_is_refused(real, setting):
    with pytest.raises(Invalid, match=f"fCompress {setting} is no compression setting ROOT writes"):
        vet(_put(real, 33, struct.pack(">i", setting)), ROOT)


def test_the_top_directory_uuid_may_be_the_files_as_root_writes_it(real):
    at = _top_directory(real) + 30
    assert vet(_put(real, at + 2, real[47:63]), ROOT) == OK
    made = uuid.UUID(bytes=real[47:63])
    time = made.time + 10**8  # 10 s later: not made right after the file's
    fields = (time & 0xFFFFFFFF, (time >> 32) & 0xFFFF, (time >> 48) | 0x1000, *made.fields[3:])
    shifted = uuid.UUID(fields=fields)
    with pytest.raises(Invalid, match="was not made right after the file's"):
        vet(_put(real, at + 2, shifted.bytes), ROOT)


def test_a_subdirectory_uuid_is_time_based(real):
    sub = _key(real, b"TDirectory", b"dir")
    body = sub + struct.unpack_from(">h", real, sub + 14)[0]
    with pytest.raises(Invalid, match="is not time-based"):
        vet(_put(real, body + 32, uuid.uuid4().bytes), ROOT)
    with pytest.raises(Invalid, match="12 zeros"):
        vet(_put(real, body + 50, b"\1"), ROOT)


def test_a_record_in_no_keys_list_is_refused(real):
    """The keys list's count lowered by one: its last key's record is listed nowhere."""
    seek_keys = struct.unpack_from(">i", real, _top_directory(real) + 26)[0]
    at = seek_keys + struct.unpack_from(">h", real, seek_keys + 14)[0]
    count = struct.unpack_from(">i", real, at)[0]
    with pytest.raises(Invalid, match="is in no directory.s keys list"):
        vet(_put(real, at, struct.pack(">i", count - 1)), ROOT)


def test_the_keys_no_list_holds_are_the_ones_the_writer_writes(real):
    """The StreamerInfo's, FreeSegments' and the top directory's own keys: no reader
    compares them with anything; their strings and cycle are pinned."""
    info = struct.unpack_from(">i", real, 37)[0]
    with pytest.raises(Invalid, match="is not the one ROOT and uproot write"):
        vet(_put(real, real.index(b"Doubly linked list", info), b"PAYLOAD-d-"), ROOT)
    seek_free = struct.unpack_from(">i", real, 16)[0]
    with pytest.raises(Invalid, match="is not the one ROOT and uproot write"):
        vet(_put(real, seek_free + 16, b"\0\7"), ROOT)  # its cycle


def test_the_header_counts_are_the_records(real):
    nbytes_info = struct.unpack_from(">i", real, 41)[0]
    with pytest.raises(Invalid, match="fNbytesInfo"):
        vet(_put(real, 41, struct.pack(">i", nbytes_info + 1)), ROOT)
    nfree = struct.unpack_from(">i", real, 24)[0]
    with pytest.raises(Invalid, match="nfree"):
        vet(_put(real, 24, struct.pack(">i", nfree + 1)), ROOT)


def test_a_compressed_payload_is_its_blocks_exactly(real):
    hist = _key(real, b"TH1D", b"h2")
    keylen = struct.unpack_from(">h", real, hist + 14)[0]
    with pytest.raises(Invalid, match="has a block of algorithm"):
        vet(_put(real, hist + keylen, b"QQ"), ROOT)
    objlen = struct.unpack_from(">i", real, hist + 6)[0]
    with pytest.raises(Invalid, match="inflate to"):
        vet(_put(real, hist + 6, struct.pack(">i", objlen + 1)), ROOT)


def test_remains_of_moved_metadata_pass_a_payload_in_them_does_not(real):
    """uproot's StreamerInfo moved when the tree came: its old bytes stay in a segment."""
    seek_free = struct.unpack_from(">i", real, 16)[0]
    keylen = struct.unpack_from(">h", real, seek_free + 14)[0]
    first, last = struct.unpack_from(">ii", real, seek_free + keylen + 2)
    remains = [o for o in range(first, last) if real[o]]
    assert len(remains) > 1000, "control: the segment holds remains, not zeros"
    with pytest.raises(Invalid, match="holds data that is not the remains"):
        vet(_put(real, remains[len(remains) // 2], b"PAYLOAD-d-" * 3), ROOT)


@pytest.fixture(scope="module")
def codecs(tmp_path_factory) -> dict[str, bytes]:
    where, out = tmp_path_factory.mktemp("codecs"), {}
    for name in ("LZMA", "ZSTD"):
        with uproot.recreate(where / f"{name}.root", compression=getattr(uproot, name)(1)) as f:
            f.mktree("t", {"x": "f8"})
            f["t"].extend({"x": np.repeat(np.arange(200.0), 20)})
        out[name] = (where / f"{name}.root").read_bytes()
    return out


def _junk_after_stream(data: bytes, compress) -> bytes:
    """The basket's block recompressed smaller; the bytes it frees, still inside the block
    (its declared size unchanged), hold a payload after the codec's stream."""
    import lzma

    import cramjam

    basket = _key(data, b"TBasket", b"x")
    nbytes, keylen = struct.unpack_from(">i", data, basket)[0], struct.unpack_from(">h", data, basket + 14)[0]
    block = data[basket + keylen : basket + nbytes]
    raw = lzma.decompress(block[9:]) if block[:2] == b"XZ" else bytes(cramjam.zstd.decompress(block[9:]))
    packed = compress(raw)
    assert len(packed) < len(block) - 9, "control: the recompressed stream is smaller"
    return _put(data, basket + keylen + 9, (packed + b"PAYLOAD-d-" * 1000)[: len(block) - 9])


def test_a_codec_stream_is_its_block_exactly(codecs):
    import lzma

    import cramjam

    for name, data in codecs.items():
        assert vet(data, ROOT) == OK, name
    with pytest.raises(
        Invalid, match="an xz block of the record at .* does not start and end as an xz stream"
    ):
        vet(
            _junk_after_stream(
                codecs["LZMA"], lambda raw: lzma.compress(raw, preset=9, check=lzma.CHECK_CRC32)
            ),
            ROOT,
        )
    with pytest.raises(Invalid, match="zstd block of the record at .* holds bytes after its frame"):
        vet(_junk_after_stream(codecs["ZSTD"], lambda raw: bytes(cramjam.zstd.compress(raw, level=19))), ROOT)
    footer = codecs["LZMA"].rindex(b"YZ")
    with pytest.raises(Invalid, match="CRC32"):
        vet(_put(codecs["LZMA"], footer - 6, b"\xff"), ROOT)


def test_a_baskets_counts_are_its_entries(real):
    """fNevBuf and fLast (no reader needs them: the tree's own counts are read) pinned."""
    basket = _key(real, b"TBasket", b"x")
    end = basket + struct.unpack_from(">h", real, basket + 14)[0]  # ...fNevBuf, fLast, flag
    count = struct.unpack_from(">i", real, end - 9)[0]
    with pytest.raises(Invalid, match="the counts of its entries"):
        vet(_put(real, end - 9, struct.pack(">i", count + 1)), ROOT)
    with pytest.raises(Invalid, match="the counts of its entries"):
        vet(_put(real, end - 5, struct.pack(">i", 7)), ROOT)


def test_the_streamer_info_holds_its_list_then_zeros(tmp_path):
    """An RNTuple alone: the StreamerInfo's empty list in the 1 KiB uproot reserves."""
    with uproot.recreate(tmp_path / "n.root") as f:
        f["n"] = {"x": np.arange(10.0)}
    data = (tmp_path / "n.root").read_bytes()
    assert vet(data, ROOT) == OK
    info, nbytes = struct.unpack_from(">ii", data, 37)
    with pytest.raises(Invalid, match="holds data that is not the remains"):
        vet(_put(data, info + nbytes - 40, b"PAYLOAD-d-" * 3), ROOT)


def test_a_deleted_object_written_over_is_refused_naming_the_remedy(tmp_path):
    """docs: a later job's smaller object over the start of one deleted with `del` leaves
    the deleted object's compressed tail, which is not recomputable."""
    path, rng = tmp_path / "d.root", np.random.default_rng(0)
    with uproot.recreate(path) as f:
        for i in range(40):
            f[f"h{i}"] = np.histogram(rng.normal(size=10), bins=3)
    for k in range(3):
        with uproot.update(path) as f:
            del f[f"h{k}"]
            f[f"g{k}"] = np.histogram(rng.normal(size=10), bins=300)
    with pytest.raises(Invalid, match="copy the objects into a new file"):
        vet(path.read_bytes(), ROOT)
