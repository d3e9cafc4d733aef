"""A record deleted and written over (issue #13, session 36): uproot's `del` frees a
histogram's record, a later job puts a smaller record at the start of its free segment, and
the deleted record's last bytes stay behind it, a free stretch of their own (root_tails).
Where the same object was written again, those bytes are the end of a live record's
payload, and the file is published (it was refused before, for any codec but none and lz4,
depending on the file name's length: every record shifts with it). A payload in the tail,
the tail of a record that never was (a live payload's bytes shifted by one, or reaching
into its key), and chosen block headers with their stream are refused naming the rule.
ROOT's older StreamerInfo written over at its start (its key's rest and its zlib block
whole, behind ROOT's negated length) is published where its list is runs of the live one's;
chosen bytes in that list, recompressed to the same length, are refused."""

from __future__ import annotations

import itertools
import struct
import zlib

import numpy as np
import pytest

from tests.quarantine.test_root_datakeys import _put, _refused
from tests.quarantine.test_root_deleted_trees import _segments
from tests.quarantine.test_validators import vet
from tests.support import root_cxx_corpus
from vmguard.quarantine.validators import root_tails

uproot = pytest.importorskip("uproot")

ROOT = "application/x-root"
OK = [(ROOT, "root")]
CODECS = {"none": None, "zlib": uproot.ZLIB(1), "lz4": uproot.LZ4(1), "lzma": uproot.LZMA(1), "zstd": uproot.ZSTD(3)}
WRITTEN_OVER = ("zlib", "lzma", "zstd")  # the codecs whose files hold tails (measured)
FREE = "the free space at .* holds data that is not the remains of a record the writer moved"
STEMS = ("r0", "ctl-j-hists-refilled-zlib", "a" * 40)  # the name is in the keys: records shift
LOOSE = 24  # root_remains.LOOSE_STRETCHES: a shorter stretch changed may pass as loose bytes


def _refilled(path, codec, count: int = 12) -> bytes:
    """`count` histograms; job 2 deletes every second; job 3 writes them again, the same."""
    def fill(f, step: int) -> None:
        for i in range(0, count, step):
            f[f"h{i:02d}"] = (np.arange(10.0) + i, np.arange(11.0))

    with uproot.recreate(path, compression=codec) as f:
        fill(f, 1)
    with uproot.update(path) as f:
        for i in range(0, count, 2):
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


# Where the stretch starts inside the deleted key (measured, uproot 5.7: in its fSeekKey, the
# last 3 bytes of it and the last one; in its datime, the last 2): (codec, stem, histograms).
INTO_SEEK = (("lz4", "s" * 13, 12), ("zlib", "s" * 31, 20), ("zlib", "s" * 40, 20))


@pytest.fixture(scope="module")
def refilled(tmp_path_factory) -> dict[tuple[str, str], bytes]:
    base = tmp_path_factory.mktemp("tails")
    files = {(c, s): _refilled(base / f"{s}-{c}.root", CODECS[c]) for c in CODECS for s in STEMS}
    files.update({(c, s): _refilled(base / f"{s}-{c}.root", CODECS[c], n) for c, s, n in INTO_SEEK})
    return files


@pytest.mark.parametrize(
    ("codec", "stem"), [(c, s) for c in CODECS for s in STEMS] + [(c, s) for c, s, _ in INTO_SEEK]
)
def test_histograms_written_again_are_published_with_their_older_tails(refilled, codec, stem):
    data = refilled[(codec, stem)]
    assert vet(data, ROOT) == OK
    for first, end in _tails(data):  # each the end of a live histogram, its fSeekKey where it ends
        assert any(_position(end, p).endswith(data[max(first, end - len(p) - 4) : end]) for p in _payloads(data))
    if codec in WRITTEN_OVER or (codec, stem) in {("lz4", "r0"), *((c, s) for c, s, _ in INTO_SEEK)}:
        assert _tails(data)  # were refused


def _position(end: int, rest: bytes) -> bytes:
    """A live histogram from its fSeekPdir on (rest), behind the fSeekKey a deleted one of
    the same length ending at `end` held."""
    return struct.pack(">i", end - len(rest) - 22) + rest


def test_a_tail_from_inside_the_deleted_key_holds_what_it_held(refilled):
    """The stretches that start inside the deleted key: its first byte changed (of the
    fSeekKey or the datime) is refused."""
    for codec, stem, _ in INTO_SEEK:
        data = refilled[(codec, stem)]
        first, end = next((a, b) for a, b in _tails(data) if not any(p.endswith(data[a:b]) for p in _payloads(data)))
        _refused(_put(data, first, bytes([data[first] ^ 1])), FREE)


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


def test_a_stretch_reaching_into_a_live_records_key_holds_what_its_copy_held(refilled):
    """A live record from its fSeekPdir on is a tail; from further back only where its
    fSeekKey is the position a record as long ending where the stretch ends had, its
    datime one a live key holds, its other fields the live key's."""
    data = refilled[("zlib", STEMS[1])]
    rest = _payloads(data)[0]
    at = data.find(rest) - 22  # the live record's own position
    keylen = struct.unpack_from(">h", data, at + 14)[0]
    end = at + 22 + len(rest)
    key = data[at : at + keylen]
    live = root_tails.ends([(key, data[at + keylen : end])], [key])
    assert root_tails.written_over(rest, end + 7, live)
    assert root_tails.written_over(rest[-3:], end, live)
    assert not root_tails.written_over(rest[-3:-1], end, live)
    for start in (21, 18, 14, 12, 10, 3):
        assert root_tails.written_over(data[at + start : end], end, live), start
        assert not root_tails.written_over(data[at + start : end], end + 1, live), start
    for field, value in ((10, b"\0\0\0\1"), (6, b"\0\0\0\1"), (16, b"\0\7")):  # datime, fObjLen, fCycle
        changed = _put(data, at + field, value)
        assert not root_tails.written_over(changed[at + 3 : end], end, live), field
    assert not root_tails.written_over(data[at:end], end, live)  # a whole record is no tail


# ROOT's own: test_csv.root (rootpy 1.0.1's test data) holds, behind a smaller record and
# ROOT's negated length of the rest, an older StreamerInfo: the end of its key (its
# fSeekPdir's last 2 bytes, TList, StreamerInfo, Doubly linked list) and its zlib block
# whole, which inflates to runs of the live StreamerInfo's list (root_tails.older_copy).
@pytest.fixture(scope="module")
def older_info() -> tuple[bytes, int, int]:
    """test_csv.root, where its older StreamerInfo's rest starts (after the negated length)
    and where its block starts."""
    data = root_cxx_corpus.files()["test_csv.root"].read_bytes()
    first = next(a for a, end in _segments(data) if data[a : a + 4] == struct.pack(">i", a - end))
    return data, first + 4, data.index(b"Doubly linked listZL\x08", first) + 18


def test_an_older_compressed_streamerinfo_root_left_is_published(older_info):
    data, _, block = older_info
    assert vet(data, ROOT) == OK
    assert zlib.decompress(data[block + 9 : block + 9 + int.from_bytes(data[block + 3 : block + 6], "little")])


def _refit(data: bytes, block: int, change) -> bytes:
    """The file with the older StreamerInfo's block replaced by one of `change(inflated,
    noise)`, compressed to the same length (the noise grown from about where it fits until
    a level fits), so the file's layout stays: what a writer hiding bytes there would do."""
    length = int.from_bytes(data[block + 3 : block + 6], "little")
    inflated = zlib.decompress(data[block + 9 : block + 9 + length])
    noise = np.random.default_rng(5).integers(0, 256, 8192, dtype=np.uint8).tobytes()
    low, high = 32, len(noise)
    while high - low > 1:  # the noise's length where level 1 reaches the block's length
        middle = (low + high) // 2
        low, high = (middle, high) if len(zlib.compress(change(inflated, noise[:middle]), 1)) < length else (low, middle)
    for n in range(max(32, low - 64), len(noise)):
        content = change(inflated, noise[:n])
        for level, memory in itertools.product(range(1, 10), (8, 9, 7)):
            packer = zlib.compressobj(level, zlib.DEFLATED, 15, memory)
            stream = packer.compress(content) + packer.flush()
            if len(stream) == length:
                header = b"ZL\x08" + length.to_bytes(3, "little") + len(content).to_bytes(3, "little")
                return _put(data, block, header + stream)
    raise AssertionError("no compression of the changed content fits")


@pytest.mark.parametrize("where", [2000, 200, 11000])
def test_a_payload_in_an_older_streamerinfo_is_refused(older_info, where):
    """Chosen bytes in the list, its block its codec's stream exactly: refused."""
    data, _, block = older_info
    _refused(_refit(data, block, lambda old, noise: old[:where] + noise + old[where + len(noise) :]), FREE)


def test_chosen_content_in_an_older_streamerinfos_place_is_refused(older_info):
    """A block of chosen bytes alone behind the same key strings: refused."""
    data, _, block = older_info
    _refused(_refit(data, block, lambda old, noise: noise + bytes(len(old) - len(noise))), FREE)


@pytest.mark.parametrize("patch", [b"X", b"\x01"], ids=["name", "parent"])
def test_an_older_copy_of_another_key_is_refused(older_info, patch):
    """Its key's strings (or the fSeekPdir bytes left) not the live StreamerInfo's."""
    data, rest, _ = older_info
    at = data.index(b"StreamerInfo", rest) if patch == b"X" else rest + 1
    _refused(_put(data, at, patch), FREE)


def test_a_block_header_not_roots_is_refused(older_info):
    """The method byte, or the declared size one more than it inflates to."""
    data, _, block = older_info
    _refused(_put(data, block + 2, b"\x09"), FREE)
    size = int.from_bytes(data[block + 6 : block + 9], "little")
    _refused(_put(data, block + 6, (size + 1).to_bytes(3, "little")), FREE)


# uproot moves a directory's keys list as it grows and leaves the older one in free space;
# a later job's `del` removes keys from the live list, so the older list names records
# deleted since: their own keys stay whole in free space, and the older list's keys are
# those byte for byte (root_tails.listed). Refused before: 50 histograms, every second
# deleted in a second job (session 36).
@pytest.fixture(scope="module")
def halved(tmp_path_factory) -> dict[tuple[str, int], bytes]:
    base = tmp_path_factory.mktemp("halved")
    out = {}
    for codec in ("none", "zlib"):
        for count in (50, 400):
            path = base / f"h{count}-{codec}.root"
            with uproot.recreate(path, compression=CODECS[codec]) as f:
                for i in range(count):
                    f[f"h{i}"] = (np.random.default_rng(i).random(100), np.arange(101.0))
            with uproot.update(path) as f:
                for i in range(0, count, 2):
                    del f[f"h{i}"]
            out[(codec, count)] = path.read_bytes()
    return out


@pytest.mark.parametrize("count", [50, 400])
@pytest.mark.parametrize("codec", ["none", "zlib"])
def test_histograms_deleted_every_second_are_published(halved, codec, count):
    assert vet(halved[(codec, count)], ROOT) == OK


def _listed_deleted(data: bytes, count: int) -> list[int]:
    """Where older keys lists in free space name the deleted histograms: each key's start."""
    out = []
    for i in range(0, count, 2):
        name = b"\x04TH1D" + bytes([len(f"h{i}")]) + f"h{i}".encode() + b"\0"
        at = data.find(name)
        while at >= 0:
            if struct.unpack_from(">i", data, at - 26 + 18)[0] != at - 26:  # not its own record
                out.append(at - 26)
            at = data.find(name, at + 1)
    assert len(out) >= 12, out
    return out


@pytest.mark.parametrize("codec", ["none", "zlib"])
def test_changed_keys_in_an_older_keys_list_are_refused(halved, codec):
    """The deleted histograms' keys as older lists name them, each with its name and its
    fSeekKey changed (keys no record of the file has: more bytes than free space may hold
    loose), or one of them all chosen bytes: refused."""
    data = halved[(codec, 50)]
    listed = _listed_deleted(data, 50)
    changed = data
    for at in listed:
        changed = _put(changed, at + 27, b"q")  # h2 -> q2
        changed = _put(changed, at + 21, bytes([data[at + 21] ^ 1]))
    _refused(changed, FREE)
    _refused(_put(data, listed[-1], b"payload! " * 4), FREE)
