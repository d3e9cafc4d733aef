"""A record deleted and written over (issue #13, session 36): uproot's `del` frees a
histogram's record, a later job puts a smaller record at the start of its free segment, and
the deleted record's last bytes stay behind it, a free stretch of their own (root_tails).
Where the same object was written again, those bytes are the end of a live record's
payload, and the file is published (it was refused before, for any codec but none and lz4,
depending on the file name's length: every record shifts with it). A payload in the tail,
the tail of a record that never was (a live payload's bytes shifted by one, or reaching
into its key), and chosen block headers with their stream are refused naming the rule."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from tests.quarantine.test_root_datakeys import _put, _refused
from tests.quarantine.test_root_deleted_trees import _segments
from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import root_tails

uproot = pytest.importorskip("uproot")

ROOT = "application/x-root"
OK = [(ROOT, "root")]
CODECS = {"none": None, "zlib": uproot.ZLIB(1), "lz4": uproot.LZ4(1), "lzma": uproot.LZMA(1), "zstd": uproot.ZSTD(3)}
WRITTEN_OVER = ("zlib", "lzma", "zstd")  # the codecs whose files hold tails (measured)
FREE = "the free space at .* holds data that is not the remains of a record the writer moved"
STEMS = ("r0", "ctl-j-hists-refilled-zlib", "a" * 40)  # the name is in the keys: records shift
LOOSE = 24  # root_remains.LOOSE_STRETCHES: a shorter stretch changed may pass as loose bytes


def _refilled(path, codec) -> bytes:
    """12 histograms; job 2 deletes every second; job 3 writes them again, the same."""
    def fill(f, step: int) -> None:
        for i in range(0, 12, step):
            f[f"h{i:02d}"] = (np.arange(10.0) + i, np.arange(11.0))

    with uproot.recreate(path, compression=codec) as f:
        fill(f, 1)
    with uproot.update(path) as f:
        for i in range(0, 12, 2):
            del f[f"h{i:02d}"]
    with uproot.update(path) as f:
        fill(f, 2)
    return path.read_bytes()


def _tails(data: bytes) -> list[tuple[int, int]]:
    """The free segments [first, end) that hold bytes other than zeros and no whole
    record (a deleted one: its key names its own position)."""
    return [
        (first, end)
        for first, end in _segments(data)
        if data[first:end].strip(b"\0") and data[first + 18 : first + 22] != struct.pack(">i", first)
    ]


def _payloads(data: bytes) -> list[bytes]:
    """The histograms' records (whose keys name their own position) from their fSeekPdir
    on: the same directory, class, name, title and payload for the same object."""
    out = []
    at = data.find(b"\x04TH1D")
    while at >= 0:
        key = at - 26
        nbytes = struct.unpack_from(">i", data, key)[0]
        if struct.unpack_from(">i", data, key + 18)[0] == key:
            out.append(data[key + 22 : key + nbytes])
        at = data.find(b"\x04TH1D", at + 1)
    return out


@pytest.fixture(scope="module")
def refilled(tmp_path_factory) -> dict[tuple[str, str], bytes]:
    base = tmp_path_factory.mktemp("tails")
    return {(c, s): _refilled(base / f"{s}-{c}.root", CODECS[c]) for c in CODECS for s in STEMS}


@pytest.mark.parametrize("stem", STEMS)
@pytest.mark.parametrize("codec", CODECS)
def test_histograms_written_again_are_published_with_their_older_tails(refilled, codec, stem):
    data = refilled[(codec, stem)]
    assert vet(data, ROOT) == OK
    for first, end in _tails(data):  # each the end of a live histogram's payload, no longer
        assert any(p.endswith(data[first:end]) and end - first <= len(p) for p in _payloads(data))
    if codec in WRITTEN_OVER or (codec, stem) == ("lz4", "r0"):  # were refused
        assert _tails(data)


def test_the_codecs_that_leave_tails_leave_long_ones(refilled):
    """The tests below are not vacuous: each of these files holds a tail longer than the
    loose bytes free space may hold (so it was refused before root_tails)."""
    long = {key for key, data in refilled.items() if any(end - first > LOOSE for first, end in _tails(data))}
    assert {(codec, STEMS[1]) for codec in WRITTEN_OVER} | {("lz4", "r0")} <= long, long


def _longest(data: bytes) -> tuple[int, int]:
    return max(_tails(data), key=lambda t: t[1] - t[0])


@pytest.mark.parametrize("codec", WRITTEN_OVER)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_byte_of_payload_in_the_tail_is_refused(refilled, codec, where):
    data = refilled[(codec, STEMS[1])]
    first, end = _longest(data)
    at = {"first": first, "middle": (first + end) // 2, "last": end - 1}[where]
    _refused(_put(data, at, bytes([data[at] ^ 0x5A])), FREE)


@pytest.mark.parametrize("codec", WRITTEN_OVER)
def test_a_tail_of_a_record_that_never_was_is_refused(refilled, codec):
    """The live payload's bytes one short of its end (the same bytes, shifted by one)."""
    data = refilled[(codec, STEMS[1])]
    first, end = _longest(data)
    source = next(p for p in _payloads(data) if p.endswith(data[first:end]))
    shifted = source[-(end - first) - 1 : -1]
    assert shifted != data[first:end]
    _refused(_put(data, first, shifted), FREE)


@pytest.mark.parametrize("codec", WRITTEN_OVER)
def test_chosen_block_headers_and_stream_in_the_tail_are_refused(refilled, codec):
    """A ROOT block (its 9-byte header and a stream of the codec) of chosen bytes, as long
    as the tail, in its place."""
    data = refilled[(codec, STEMS[1])]
    first, end = _longest(data)
    stream = zlib.compress(b"exfiltrated " * 4)[: end - first - 9]
    header = {"zlib": b"ZL\x08", "lzma": b"XZ\x00", "zstd": b"ZS\x01"}[codec]
    header += len(stream).to_bytes(3, "little") + (48).to_bytes(3, "little")
    block = (header + stream).ljust(end - first, b"\0")
    _refused(_put(data, first, block), FREE)


def test_a_stretch_reaching_into_a_live_records_position_is_no_tail(refilled):
    """A live record from its fSeekPdir on is a tail; one byte more, the last of its
    fSeekKey, is not (the deleted key's position is not the live one's)."""
    data = refilled[("zlib", STEMS[1])]
    rest = _payloads(data)[0]
    at = data.find(rest)
    keylen = struct.unpack_from(">h", data, at - 22 + 14)[0]
    live = root_tails.ends([(data[at - 22 : at - 22 + keylen], data[at - 22 + keylen : at + len(rest)])])
    assert root_tails.written_over(rest, live)
    assert root_tails.written_over(rest[-3:], live)
    assert not root_tails.written_over(data[at - 1 : at + len(rest)], live)
    assert not root_tails.written_over(rest[-3:-1], live)
