"""ROOT codec headers pinned to what ROOT and uproot write (issue #13, attack f): a zlib
header's window (0x78), an xz stream's check and block header (LZMA2 alone), a zstd
frame header as libzstd writes it (no checksum, the fewest content-size bytes, a window
byte only when the window is below the content), in every record, baskets too; a zstd
block of a record that is no basket is decoded to its content. Real writers at every
level and size pass; each field set otherwise by the real library (Python's zlib and
lzma, cramjam's zstd) is refused naming the rule."""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Callable

import numpy as np
import pytest

from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid

uproot = pytest.importorskip("uproot")
cramjam = pytest.importorskip("cramjam")

ROOT = "application/x-root"
OK = [(ROOT, "root")]


def _columns(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(n)
    return {"x": np.arange(n, dtype=np.int64) % 97, "y": rng.integers(0, 50, n).astype(np.float64)}


def _file(tmp_path, codec, fn: Callable[[bytes], bytes] | None = None, entries: int = 5000) -> bytes:
    """A histogram, a tree (one basket a branch of `entries`) and an RNTuple written by
    uproot with `codec`, its compress replaced by fn if given."""
    if fn is not None:
        codec.compress = fn
    path = tmp_path / "f.root"
    with uproot.recreate(path, compression=codec) as f:
        f["h"] = (np.arange(400, dtype=np.float64) % 7, np.linspace(0, 1, 401))
        f.mktree("t", {"x": np.int64, "y": np.float64})
        f["t"].extend(_columns(entries))
        f["n"] = _columns(1000)
    return path.read_bytes()


@pytest.mark.parametrize("level", range(10))
def test_zlib_at_every_level_passes(tmp_path, level):
    assert vet(_file(tmp_path, uproot.ZLIB(1), lambda data: zlib.compress(data, level)), ROOT) == OK


@pytest.mark.parametrize("wbits", [9, 12, 14])
def test_a_zlib_window_zlib_never_writes_is_refused_in_baskets_too(tmp_path, wbits):
    def small_window(data: bytes) -> bytes:
        c = zlib.compressobj(6, zlib.DEFLATED, wbits)
        return c.compress(data) + c.flush()

    with pytest.raises(Invalid, match="zlib block .* does not start as zlib writes a stream"):
        vet(_file(tmp_path, uproot.ZLIB(6), small_window), ROOT)
    def baskets_only(data: bytes) -> bytes:  # the tree's baskets: 40,000 bytes each
        return small_window(data) if len(data) == 40000 else zlib.compress(data, 6)

    with pytest.raises(Invalid, match="zlib block .* does not start as zlib writes a stream"):
        vet(_file(tmp_path, uproot.ZLIB(6), baskets_only), ROOT)


@pytest.mark.parametrize("check", [lzma.CHECK_CRC32, lzma.CHECK_CRC64])
@pytest.mark.parametrize("preset", [0, 5, 9 | lzma.PRESET_EXTREME])
def test_xz_as_root_and_python_write_it_passes(tmp_path, check, preset):
    def xz(data: bytes) -> bytes:
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=check, preset=preset)

    assert vet(_file(tmp_path, uproot.LZMA(5), xz), ROOT) == OK


def _root_xz(data: bytes, dictionary: int | None = None) -> bytes:
    """ROOT's ZipLZMA.c (6.16 on): level 5's LZMA2 with its dictionary cut to a quarter of
    the input (at least 4 KiB) when that is less, CRC32; or the dictionary given."""
    size = dictionary or min(8 << 20, max(len(data) // 4, 4096))
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 5, "dict_size": size}]
    return lzma.compress(bytes(data), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, filters=filters)


def test_xz_with_roots_reduced_dictionary_passes_and_another_is_refused(tmp_path):
    assert vet(_file(tmp_path, uproot.LZMA(5), _root_xz), ROOT) == OK
    for size in (6 << 10, 3 << 20):  # neither a preset's nor a quarter of each input
        with pytest.raises(Invalid, match="xz block .* a preset's dictionary or"):
            vet(_file(tmp_path, uproot.LZMA(5), lambda d, size=size: _root_xz(d, size)), ROOT)


@pytest.mark.parametrize(
    "filters",
    [
        [{"id": lzma.FILTER_X86, "start_offset": 0x444E5750}, {"id": lzma.FILTER_LZMA2}],
        [{"id": lzma.FILTER_DELTA, "dist": 77}, {"id": lzma.FILTER_LZMA2}],
        [{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2}],
    ],
)
def test_an_xz_filter_chain_no_writer_writes_is_refused(tmp_path, filters):
    def xz(data: bytes) -> bytes:
        return lzma.compress(data, format=lzma.FORMAT_XZ, filters=filters)

    with pytest.raises(Invalid, match="xz block .* block header .* one LZMA2 filter alone"):
        vet(_file(tmp_path, uproot.LZMA(5), xz), ROOT)


@pytest.mark.parametrize("check", [lzma.CHECK_NONE, lzma.CHECK_SHA256])
def test_an_xz_check_no_writer_writes_is_refused(tmp_path, check):
    def xz(data: bytes) -> bytes:
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=check)

    with pytest.raises(Invalid, match="xz block .* has stream flags"):
        vet(_file(tmp_path, uproot.LZMA(5), xz), ROOT)


@pytest.mark.parametrize("level", [-5, 1, 3, 9, 19, 22])
@pytest.mark.parametrize("entries", [5000, 200_000])
def test_zstd_at_every_level_and_size_passes(tmp_path, level, entries):
    """200,000 entries: 1.6 MB baskets, whose frames at low levels carry a window byte
    (-5: libzstd's fast levels, which ROOT passes on; uproot allows 0 to 22)."""
    codec = _zstd(level, bytes) if level < 0 else None
    assert vet(_file(tmp_path, uproot.ZSTD(max(level, 0)), codec, entries=entries), ROOT) == OK


def _zstd(level: int, patch: Callable[[bytearray], bytes]) -> Callable[[bytes], bytes]:
    def compress(data: bytes) -> bytes:
        return patch(bytearray(cramjam.zstd.compress(data, level=level)))

    return compress


def _window(frame: bytearray, byte: int = 0x50) -> bytes:
    """The single-segment flag dropped and a Window_Descriptor inserted."""
    return bytes(frame[:4]) + bytes([frame[4] & ~0x20, byte]) + bytes(frame[5:])


def _widen(frame: bytearray) -> bytes:
    """The content size in 8 bytes instead of the fewest (frames of 256 to 65791 bytes)."""
    code = frame[4] >> 6
    assert code == 1, frame[:8].hex()
    size = int.from_bytes(frame[5:7], "little") + 256
    return bytes(frame[:4]) + bytes([frame[4] | 0xC0]) + size.to_bytes(8, "little") + bytes(frame[7:])


def _checksum(frame: bytearray) -> bytes:
    frame[4] |= 0x04
    return bytes(frame) + b"PWND"


def _unused_bit(frame: bytearray) -> bytes:
    frame[4] |= 0x10
    return bytes(frame)


@pytest.mark.parametrize(
    "patch, rule",
    [
        (_window, "Window_Descriptor"),
        (_widen, "frame header descriptor"),
        (_checksum, "frame header descriptor"),
        (_unused_bit, "frame header descriptor"),
    ],
)
def test_a_zstd_frame_header_libzstd_never_writes_is_refused(tmp_path, patch, rule):
    with pytest.raises(Invalid, match=f"zstd block of the record at .* has {rule}"):
        vet(_file(tmp_path, uproot.ZSTD(3), _zstd(3, patch)), ROOT)


def test_a_window_byte_libzstd_would_not_choose_is_refused_in_a_large_basket(tmp_path):
    """A 1.6 MB basket at level 1 has window byte 0x48 (2^19): 0x49 (a mantissa) and 0x40
    (2^18, below any level's table) are refused; 0x48 itself passes."""
    frame = bytearray(cramjam.zstd.compress(bytes(1600000), level=1))
    assert frame[4] & 0x20 == 0 and frame[5] == 0x48
    for byte in (0x49, 0x40, 0x70):
        def rewindow(data: bytes, byte: int = byte) -> bytes:
            made = bytearray(cramjam.zstd.compress(data, level=1))
            return bytes(made[:5]) + bytes([byte]) + bytes(made[6:]) if not made[4] & 0x20 else bytes(made)

        with pytest.raises(Invalid, match="has Window_Descriptor"):
            vet(_file(tmp_path, uproot.ZSTD(1), rewindow, entries=200_000), ROOT)


def _frame(data: bytes, kind: int, body: bytes) -> bytes:
    """A frame as libzstd heads one for `data` (single segment, the fewest content-size
    bytes), holding one last block of `kind` and `body`."""
    code = (len(data) >= 256) + (len(data) >= 65792)
    size = (len(data) - (256 if code == 1 else 0)).to_bytes((1, 2, 4)[code], "little")
    head = (1 | kind << 1 | len(body) << 3).to_bytes(3, "little")
    return b"\x28\xb5\x2f\xfd" + bytes([code << 6 | 0x20]) + size + head + body


@pytest.mark.parametrize(
    "body, kind",
    [(lambda d: d[: len(d) // 2], 0), (lambda d: bytes(len(d) // 2), 2)],
    ids=["raw-block-half-the-content", "compressed-block-of-zeros"],
)
def test_a_zstd_block_of_a_record_that_is_no_basket_is_decoded(tmp_path, body, kind):
    """Every frame well formed to its walk: its header libzstd's, its one block's header
    leading to its end; its content half the size, or no valid block: the
    histogram's and the StreamerInfo's are decoded and refused (baskets: walked)."""
    data = _file(tmp_path, uproot.ZSTD(5), lambda d: _frame(bytes(d), kind, body(bytes(d))))
    with pytest.raises(Invalid, match="zstd block of the record at .* does not decode to its"):
        vet(data, ROOT)


BASKET = 40000  # bytes of each of the tree's baskets (5000 int64 or float64 entries)


def _baskets(real: Callable[[bytes], bytes], hostile: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """The tree's baskets compressed by `hostile`, every other record as uproot does."""
    def compress(data: bytes) -> bytes:
        return hostile(bytes(data)) if len(data) == BASKET else real(bytes(data))

    return compress


def _lz4(data: bytes) -> bytes:
    return bytes(cramjam.lz4.compress_block(data, compression=1, store_size=False))


HOSTILE_BASKETS = {  # codec, its own compress, a basket block no reader returns whole
    "zlib-header-then-payload": (uproot.ZLIB(1), lambda d: zlib.compress(d, 1), lambda d: b"\x78\x01" + b"PWND" * 2000),
    "zlib-stream-then-payload": (
        uproot.ZLIB(1), lambda d: zlib.compress(d, 1), lambda d: zlib.compress(d, 9) + b"PWND" * 50),
    "lz4-payload": (uproot.LZ4(1), _lz4, lambda d: b"PWND" * 2000),
    "lz4-block-then-payload": (uproot.LZ4(1), _lz4, lambda d: _lz4(d) + b"PWND"),
    "zstd-frame-then-garbage-block": (
        uproot.ZSTD(3),
        lambda d: bytes(cramjam.zstd.compress(d, level=3)),
        lambda d: _frame(d, 2, b"PWND" * 2000),
    ),
    "xz-data-altered": (
        uproot.LZMA(1),
        lambda d: lzma.compress(d, preset=1),
        lambda d: (lambda x: x[:40] + bytes([x[40] ^ 0x5A]) + x[41:])(lzma.compress(d, preset=1)),
    ),
}


@pytest.mark.parametrize("case", HOSTILE_BASKETS)
def test_a_baskets_block_is_decoded_to_its_last_byte(tmp_path, case):
    """Every basket's block is inflated as every other record's: a block that is no
    stream, or a stream with bytes after it, is refused (uproot's LZ4 writer makes the
    block's XXH64 of whatever it is given: the checksum is right)."""
    codec, real, hostile = HOSTILE_BASKETS[case]
    assert vet(_file(tmp_path, codec, real), ROOT) == OK
    with pytest.raises(Invalid, match=r"^root: .*(block|deflate)"):
        vet(_file(tmp_path, codec, _baskets(real, hostile)), ROOT)


def test_a_baskets_lz4_checksum_is_checked(tmp_path):
    from tests.support.attack_fbinary_root import PAYLOAD

    data = _file(tmp_path, uproot.LZ4(1))
    at = data.find(b"L4\x01", data.find(b"TBasket"))
    patched = data[: at + 9] + PAYLOAD * 2 + data[at + 17 :]
    with pytest.raises(Invalid, match="LZ4 block of the record at .* checksum that is not the XXH64"):
        vet(patched, ROOT)


def _written(f, columns: dict[str, np.ndarray], writer: str) -> None:
    """uproot 5.7's `f[name] = {...}` writes an RNTuple (its pages); mktree and extend a TTree
    (its baskets)."""
    if writer == "rntuple":
        f["t"] = columns
    else:
        f.mktree("t", {name: array.dtype for name, array in columns.items()})
        f["t"].extend(columns)


@pytest.mark.parametrize("writer", ["rntuple", "mktree"])
def test_baskets_count_in_the_bomb_budget(tmp_path, monkeypatch, writer):
    """A tree of zeros inflates 400,000 x 16 bytes from about 3 KB: within 200 times the
    bytes read plus 256 MiB it passes, and without the floor it is a bomb."""
    from vmguard.quarantine.validators import inside

    path = tmp_path / "z.root"
    with uproot.recreate(path, compression=uproot.ZLIB(9)) as f:
        _written(f, {"z": np.zeros(400_000), "w": np.zeros(400_000)}, writer)
    data = path.read_bytes()
    assert vet(data, ROOT) == OK
    monkeypatch.setattr(inside, "FLOOR", 0)
    with pytest.raises(Invalid, match="inflate to more than 200 times the file's size"):
        vet(data, ROOT)


@pytest.mark.parametrize("case", ["lz4-payload", "lz4-block-then-payload"])
def test_lz4_without_liblz4_and_libxxhash_is_checked_the_same(tmp_path, monkeypatch, case):
    """Where the libraries cannot be loaded, the pure Python walk and XXH64 judge alike."""
    from vmguard.quarantine.validators import root_lz4

    codec, real, hostile = HOSTILE_BASKETS[case]
    good, bad = _file(tmp_path, codec, real), _file(tmp_path, codec, _baskets(real, hostile))
    monkeypatch.setattr(root_lz4, "_DECOMPRESS", None)
    monkeypatch.setattr(root_lz4, "_XXH64", None)
    assert vet(good, ROOT) == OK
    with pytest.raises(Invalid, match="LZ4 block of the record at"):
        vet(bad, ROOT)


@pytest.mark.parametrize("writer", ["rntuple", "mktree"])
@pytest.mark.parametrize("tag", ["ZL", "ZS", "L4"])
def test_a_basket_of_two_full_blocks_is_inflated_whole(tmp_path, tag, writer):
    """2,200,000 doubles: a 17.6 MB basket, which uproot cuts into a block of 16 MiB - 1
    and the rest (a frame of the first carries a window byte at zstd level 1)."""
    codec = {"ZL": uproot.ZLIB(1), "ZS": uproot.ZSTD(1), "L4": uproot.LZ4(1)}[tag]
    path = tmp_path / "big.root"
    with uproot.recreate(path, compression=codec) as f:
        _written(f, {"a": np.round(np.random.default_rng(5).normal(0, 1, 2_200_000), 1)}, writer)
    data = path.read_bytes()
    full = data.find(tag.encode() + bytes([{"ZL": 8, "ZS": 1, "L4": 1}[tag]]))
    while data[full + 6 : full + 9] != b"\xff\xff\xff":  # the basket's first block: 16 MiB - 1
        full = data.index(tag.encode(), full + 1)
    if tag == "ZS":
        assert not data[full + 13] & 0x20, "a frame with a window byte"
    assert vet(data, ROOT, size=1 << 20) == OK


def _zl_blocks(data: bytes, cuts: list[int]) -> bytes:
    """`data` as ZL blocks inflating to the pieces between `cuts`."""
    out, edges = b"", [0, *cuts, len(data)]
    for lo, hi in zip(edges, edges[1:], strict=False):
        packed = zlib.compress(data[lo:hi])
        out += b"ZL\x08" + len(packed).to_bytes(3, "little") + (hi - lo).to_bytes(3, "little") + packed
    return out


@pytest.mark.parametrize(
    "cuts",
    [
        [100, (1 << 24) + 98],
        [1, 2, 3, (1 << 24) + 1],
        [(1 << 24) - 2],
        [(1 << 24) - 1, (1 << 24) + 1000],  # the two blocks ROOT writes, then an empty one
        [0, (1 << 24) - 1],  # an empty block first
    ],
)
def test_blocks_cut_where_root_does_not_are_refused(cuts):
    """ROOT and uproot cut a payload into blocks of 16 MiB - 1 bytes, the last shorter
    (root_codecs.FULL_BLOCK): a shorter block before another is a chosen split (attack m
    root: 6 bits a block), and an empty block (session 38, attack n root: after a payload of
    k x 16 MiB - 1 bytes) is one no writer makes, for a live record (root._blocks) and an
    older copy (inflated)."""
    from vmguard.quarantine.validators import root, root_codecs
    from vmguard.quarantine.validators.stream import Stream

    data = (bytes(range(256)) * ((1 << 24) // 256 + 4))[: (1 << 24) + 1000]  # two blocks as ROOT cuts it
    packed = _zl_blocks(data, cuts)
    assert root_codecs.inflated(packed, 0, len(data)) is None
    with pytest.raises(Invalid, match="blocks of 16777215 bytes, only the last shorter, none empty"):
        root._blocks(Stream(iter((packed,))), 0, len(packed), len(data))
    whole = _zl_blocks(data, [root_codecs.FULL_BLOCK])  # as ROOT writes it
    assert root_codecs.inflated(whole, 0, len(data)) == data
    root._blocks(Stream(iter((whole,))), 0, len(whole), len(data))
