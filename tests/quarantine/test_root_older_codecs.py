"""An older copy of compressed metadata in LZ4 or zstd blocks (session 37): ROOT compresses
its StreamerInfo with the file's codec (zstd by default since ROOT 6.30, LZ4 where a job
sets it) and writes it again, larger, as the file is saved again; a later record may take
the start of the older one's place. What is left (the end of its key, then its blocks
whole, behind ROOT's negated length) is decoded by the one decoder of a payload's blocks
(root_codecs.inflated) and published where it is runs of the live list, as a zlib or xz
copy is (root_tails.older_copy; refused before: LZ4 and zstd were not decoded there).

No ROOT-written file with such a copy is at hand (the C++ corpus is ROOT 5.23-6.14, zlib
by default): test_csv.root's own older StreamerInfo is transcoded by the real compressors
(cramjam: liblz4 and libzstd, as uproot writes) into one block exactly as long as its zlib
block, so the file's layout stays. LZ4 and zstd at any level make the whole list shorter or
longer than that block, so the copy holds the list's first n bytes (n found so the block
fits: an older list of fewer streamers, runs of the live one). Chosen bytes in it, fitted
to the same length, a checksum or method byte not the codec's, are refused."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import cramjam
import numpy as np
import pytest

from tests.quarantine.test_root_datakeys import _put, _refused
from tests.quarantine.test_root_deleted_trees import _segments
from tests.quarantine.test_validators import vet
from tests.support import root_cxx_corpus
from vmguard.quarantine.validators import root_lz4

ROOT = "application/x-root"
OK = [(ROOT, "root")]
FREE = "the free space at .* holds data that is not the remains of a record the writer moved"
TAGS = {"lz4": b"L4\x01", "zstd": b"ZS\x01"}


@pytest.fixture(scope="module")
def older() -> tuple[bytes, int, bytes]:
    """test_csv.root, where its older StreamerInfo's zlib block starts, and what it inflates to."""
    data = root_cxx_corpus.files()["test_csv.root"].read_bytes()
    first = next(a for a, end in _segments(data) if data[a : a + 4] == struct.pack(">i", a - end))
    block = data.index(b"Doubly linked listZL\x08", first) + 18
    length = int.from_bytes(data[block + 3 : block + 6], "little")
    return data, block, zlib.decompress(data[block + 9 : block + 9 + length])


def _block(codec: str, content: bytes, level: int) -> bytes:
    """A ROOT block of `content`: its 9-byte header, then liblz4's block behind its XXH64
    (ZipLZ4.cxx) or libzstd's frame."""
    if codec == "lz4":
        packed = bytes(cramjam.lz4.compress_block(content, compression=level, store_size=False))
        packed = struct.pack(">Q", root_lz4.checksum(packed)) + packed
    else:
        packed = bytes(cramjam.zstd.compress(content, level=level))
    return TAGS[codec] + len(packed).to_bytes(3, "little") + len(content).to_bytes(3, "little") + packed


def _fitted(data: bytes, block: int, codec: str, make: Callable[[int], bytes], start: int) -> bytes:
    """The file with the older StreamerInfo's block replaced by a `codec` block of make(n),
    the largest n from `start` down whose block, at some level, is the zlib block's length."""
    length = 9 + int.from_bytes(data[block + 3 : block + 6], "little")
    levels = (1, 4, 9, 12) if codec == "lz4" else (-1, -2, -3, -5, 1, 3)
    for n in range(start, 256, -1):
        for level in levels:
            made = _block(codec, make(n), level)
            if len(made) == length:
                return _put(data, block, made)
    raise AssertionError(f"no {codec} block of the content fits {length} bytes")


@pytest.fixture(scope="module", params=sorted(TAGS))
def transcoded(request, older) -> tuple[str, bytes, int, bytes]:
    data, block, raw = older
    return request.param, _fitted(data, block, request.param, lambda n: raw[:n], len(raw)), block, raw


def test_an_older_streamerinfo_in_lz4_or_zstd_is_published(transcoded):
    codec, data, block, raw = transcoded
    assert data[block : block + 3] == TAGS[codec]
    assert vet(data, ROOT) == OK


@pytest.mark.parametrize("where", [200, 2000, 6000])
def test_a_payload_in_an_lz4_or_zstd_older_copy_is_refused(transcoded, older, where):
    """Chosen bytes (64 random ones) in the copy's list, its block its codec's stream exactly."""
    codec, _, block, _ = transcoded
    data, _, raw = older
    noise = np.random.default_rng(where).integers(0, 256, 64, dtype=np.uint8).tobytes()
    changed = _fitted(data, block, codec, lambda n: raw[:where] + noise + raw[where + 64 : n], len(raw))
    _refused(changed, FREE)


def test_chosen_content_alone_in_an_lz4_or_zstd_copys_place_is_refused(transcoded, older):
    codec, _, block, _ = transcoded
    data, _, _ = older
    noise = np.random.default_rng(3).integers(0, 256, 8192, dtype=np.uint8).tobytes()
    _refused(_fitted(data, block, codec, lambda n: noise[:n], len(noise)), FREE)


def test_a_block_not_its_codecs_is_refused(transcoded):
    """A method byte not the codec's major version, a stream byte changed (an LZ4 checksum
    no longer the XXH64 of its bytes; a zstd frame that no longer decodes to its size)."""
    codec, data, block, _ = transcoded
    _refused(_put(data, block + 2, b"\x02"), FREE)
    _refused(_put(data, block + 9 + 20, bytes([data[block + 29] ^ 0x40])), FREE)
