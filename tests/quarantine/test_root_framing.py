"""ROOT compressed blocks framed as the writers frame them (issue #13): a block's method
byte is the one ROOT and uproot write for its codec (ZL 8, XZ 0, L4 and ZS 1), and the
blocks of every record, baskets and blobs too, are inflated: a zlib stream ends at the
block's end with its Adler-32, an LZ4 block's checksum is its XXH64 and its sequences end
at the block's end. Real uproot output of every codec passes; each field set to what no
writer writes is refused naming the rule."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest

from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid, inside, root_lz4

uproot = pytest.importorskip("uproot")
cramjam = pytest.importorskip("cramjam")

ROOT = "application/x-root"
OK = [(ROOT, "root")]
CODECS = {"ZL": uproot.ZLIB(1), "XZ": uproot.LZMA(5), "L4": uproot.LZ4(1), "ZS": uproot.ZSTD(5)}
METHODS = {b"ZL": 8, b"XZ": 0, b"L4": 1, b"ZS": 1}


def _write(path, codec) -> bytes:
    """A histogram (a record that is no basket), a TTree (its baskets) and an RNTuple
    (uproot 5.7's `f[name] = dict`: its blobs), compressible."""
    columns = {"x": np.arange(5000, dtype=np.int32) % 13, "y": np.repeat(np.arange(50.0), 100)}
    with uproot.recreate(path, compression=codec) as f:
        f["h"] = (np.arange(400, dtype=np.float64) % 7, np.linspace(0, 1, 401))
        f["r"] = (
            np.arange(400, dtype=np.float64),
            np.linspace(0, 1, 401),
        )  # LZ4 leaves room for a shorter block
        f.mktree("t", {"x": np.int32, "y": np.float64})
        f["t"].extend(columns)
        f["n"] = columns
    return path.read_bytes()


def _block(data: bytes, klass: bytes, name: bytes = b"") -> tuple[int, int]:
    """(the offset of the first compressed block, the payload's length) of the first record
    of that class (and name, if given): a key naming its own position (version 4, or 1004
    with 64-bit seeks: uproot's baskets) whose payload is shorter than its object."""
    strings = bytes([len(klass)]) + klass + (bytes([len(name)]) + name if name else b"")
    for at in range(100, len(data) - 50):
        nbytes, version, objlen, _, keylen, _ = struct.unpack_from(">ihiIhh", data, at)
        seek, where = (">i", at + 26) if version == 4 else (">q", at + 34)
        if (
            version in (4, 1004)
            and 0 < nbytes - keylen < objlen
            and struct.unpack_from(seek, data, at + 18)[0] == at
            and data[where : where + len(strings)] == strings
        ):
            return at + keylen, nbytes - keylen
    raise AssertionError(f"no compressed {klass!r} record")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    made = tmp_path_factory.mktemp("framing")
    return {tag: _write(made / f"{tag}.root", codec) for tag, codec in CODECS.items()}


@pytest.mark.parametrize("tag", CODECS)
def test_every_codec_as_uproot_writes_it_passes(files, tag):
    assert vet(files[tag], ROOT) == OK
    at, _ = _block(files[tag], b"TH1D")
    assert files[tag][at : at + 3] == tag.encode() + bytes([METHODS[tag.encode()]])


@pytest.mark.parametrize("klass", [b"TH1D", b"TBasket", b"RBlob"])
@pytest.mark.parametrize("tag", CODECS)
def test_a_method_byte_no_writer_writes_is_refused(files, tag, klass):
    at, _ = _block(files[tag], klass)
    for method in {0, 1, 8, 255} - {METHODS[tag.encode()]}:
        patched = files[tag][: at + 2] + bytes([method]) + files[tag][at + 3 :]
        with pytest.raises(Invalid, match=f"{tag} block of the record at .* has method byte {method}, not"):
            vet(patched, ROOT)


def _zlib_block(data: bytes, stream: bytes, tail: bytes) -> bytes:
    """The histogram's one ZL block replaced by `stream` and `tail`, the block's size kept."""
    at, size = _block(data, b"TH1D", b"h")
    assert len(stream) + len(tail) == size - 9, (len(stream), len(tail), size)
    return data[: at + 9] + stream + tail + data[at + size :]


def test_bytes_after_a_histograms_zlib_stream_are_refused_even_zeros(files):
    data = files["ZL"]
    at, size = _block(data, b"TH1D", b"h")
    raw = zlib.decompress(data[at + 9 : at + size])
    shorter = zlib.compress(raw, 9)
    assert len(shorter) < size - 9
    for fill in (b"\0", b"\xa5"):
        patched = _zlib_block(data, shorter, fill * (size - 9 - len(shorter)))
        with pytest.raises(
            Invalid, match="zlib block .* is not one zlib stream of .* ending at the block's end"
        ):
            vet(patched, ROOT)


def test_a_zlib_stream_with_another_adler32_or_header_is_refused(files):
    data = files["ZL"]
    at, size = _block(data, b"TH1D", b"h")
    stream = data[at + 9 : at + size]
    with pytest.raises(Invalid, match="Adler-32 that is not its data's"):
        vet(_zlib_block(data, stream[:-1] + bytes([stream[-1] ^ 1]), b""), ROOT)
    fdict = bytes([0x78, 0x20 | (31 - (0x7820 % 31))])  # a preset dictionary flag, check bits right
    with pytest.raises(Invalid, match="does not start as zlib writes a stream"):
        vet(_zlib_block(data, fdict + stream[2:], b""), ROOT)


def test_a_basket_zlib_block_is_still_framed(files):
    """A basket's block framing is checked before it is inflated."""
    data = files["ZL"]
    at, size = _block(data, b"TBasket")
    grown = data[: at + 3] + (size - 8).to_bytes(3, "little") + data[at + 6 :]
    with pytest.raises(Invalid, match="runs past the record's end"):
        vet(grown, ROOT)


def _lz4_block(data: bytes, body: bytes) -> bytes:
    at, size = _block(data, b"TH1D", b"r")
    assert len(body) == size - 9 - 8
    return data[: at + 9] + struct.pack(">Q", root_lz4.xxh64(body)) + body + data[at + size :]


def test_an_lz4_block_with_another_checksum_is_refused(files):
    data = files["L4"]
    at, _ = _block(data, b"TH1D", b"h")
    patched = data[: at + 9] + bytes([data[at + 9] ^ 1]) + data[at + 10 :]
    with pytest.raises(Invalid, match="LZ4 block .* has a checksum that is not the XXH64 of its bytes"):
        vet(patched, ROOT)


def _lz4(raw: bytes) -> bytes:
    """A greedy LZ4 block of raw (matches start 12 bytes and end 5 bytes before its end, as
    LZ4's decoder requires), each match the longest from the nearest earlier position."""
    out, last, start, at = bytearray(), {}, 0, 0
    while at + 12 <= len(raw):
        seen, last[raw[at : at + 4]] = last.get(raw[at : at + 4]), at
        if seen is None:
            at += 1
            continue
        length = 4
        while at + length < len(raw) - 5 and raw[seen + length] == raw[at + length]:
            length += 1
        _sequence(out, raw[start:at], at - seen, length)
        at = start = at + length
    _sequence(out, raw[start:], 0, 0)
    return bytes(out)


def _sequence(out: bytearray, literals: bytes, distance: int, length: int) -> None:
    extra = length - 4 if distance else 0
    out.append(min(len(literals), 15) << 4 | min(extra, 15))
    _more(out, len(literals))
    out += literals
    if distance:
        out += distance.to_bytes(2, "little")
        _more(out, extra)


def _more(out: bytearray, n: int) -> None:
    if n >= 15:
        out += b"\xff" * ((n - 15) // 255) + bytes([(n - 15) % 255])


def test_bytes_after_a_histograms_lz4_sequences_are_refused(files):
    """The attacker's way: a shorter encoding that a real decoder reads, then chosen bytes,
    the checksum recomputed over all of them (as ROOT's reader checks it)."""
    data = files["L4"]
    at, size = _block(data, b"TH1D", b"r")
    full = int.from_bytes(data[at + 6 : at + 9], "little")
    raw = bytes(cramjam.lz4.decompress_block(data[at + 17 : at + size], output_len=full))
    shorter = _lz4(raw)
    assert bytes(cramjam.lz4.decompress_block(shorter, output_len=full)) == raw
    room = size - 17 - len(shorter)
    assert room > 0, room
    for tail in (bytes(room), os.urandom(room)):
        with pytest.raises(Invalid, match="LZ4 block of the record at"):
            vet(_lz4_block(data, shorter + tail), ROOT)


def test_xxh64_is_xxhash():
    xxhash = pytest.importorskip("xxhash")
    for n in (0, 1, 3, 4, 7, 8, 31, 32, 33, 63, 64, 65, 1000, 4099):
        data = os.urandom(n)
        assert root_lz4.xxh64(data) == xxhash.xxh64(data).intdigest(), n


@pytest.mark.parametrize("level", [1, 9, 12])
def test_lz4_sequences_of_real_blocks_end_at_their_end(level):
    for raw in (b"", b"xy", b"a" * 5000, bytes(range(256)) * 40, os.urandom(3000)):
        block = bytes(cramjam.lz4.compress_block(raw, compression=level, store_size=False))
        assert root_lz4._produced(block, len(raw), 0) == raw  # the pure-Python decoder's own output
        with pytest.raises(Invalid):
            root_lz4._produced(block + b"\0\0\0", len(raw) + 3, 0)
        if len(raw) > 16:  # room for less than it makes: refused before it is built
            with pytest.raises(Invalid, match="produces more than"):
                root_lz4._produced(block, len(raw) - 16, 0)


def test_without_liblz4_the_pure_python_decoder_decides_alike(files, monkeypatch):
    """Where liblz4 is missing, blocks are decoded in Python (root_lz4._produced): the
    same file passes, a byte of a block changed is refused."""
    monkeypatch.setattr(root_lz4, "_DECOMPRESS", None)
    assert vet(files["L4"], ROOT) == OK
    at = files["L4"].index(b"L4\x01") + 9 + 8 + 4
    with pytest.raises(Invalid, match="LZ4 block"):
        vet(files["L4"][:at] + bytes([files["L4"][at] ^ 1]) + files["L4"][at + 1 :], ROOT)


@pytest.mark.parametrize("tag", ["ZL", "L4"])
def test_the_objects_inflated_are_bounded_like_a_gzips(files, tag, monkeypatch):
    """The walk inflates records that are no basket within the budget a gzip has (200 times
    the bytes read, plus 256 MiB): without the floor, real output stays far inside the
    ratio, and a ratio of 1 stops it before inflating."""
    monkeypatch.setattr(inside, "FLOOR", 0)
    assert vet(files[tag], ROOT) == OK
    monkeypatch.setattr(inside, "RATIO", 1)
    with pytest.raises(Invalid, match="inflate to more than 1 times the file's size"):
        vet(files[tag], ROOT)


def test_an_xz_block_of_a_histogram_decodes_to_its_size(files):
    """Its header, index and footer are right, a byte of its data is not: the decoder
    (and its CRC32 check) refuses it; a basket's xz block is checked to its frame only."""
    data = files["XZ"]
    at, size = _block(data, b"TH1D", b"h")
    middle = at + 9 + 12 + (size - 9 - 12 - 40) // 2  # inside the stream's block, before its index
    patched = data[:middle] + bytes([data[middle] ^ 0x55]) + data[middle + 1 :]
    with pytest.raises(Invalid, match="xz block of the record at .* does not decode"):
        vet(patched, ROOT)
