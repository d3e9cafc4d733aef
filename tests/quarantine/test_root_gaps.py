"""ROOT free space: what the FreeSegments record lists, holding zeros, a record ROOT
deleted (its length negated) or the remains of moved metadata; a payload put in free
space is refused naming the rule. The deletions are made the way ROOT makes them (the
length negated, the segment listed, the key out of the keys list) in a real file
written by uproot."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid

uproot = pytest.importorskip("uproot")

ROOT = "application/x-root"
OK = [(ROOT, "root")]


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("root") / "h.root"
    with uproot.recreate(path, compression=None) as f:
        f["a"] = np.histogram(np.arange(100.0), bins=50)
        f["b"] = np.histogram(np.arange(10.0), bins=3)
        f["c"] = np.histogram(np.arange(10.0), bins=4)
    return path.read_bytes()


def _record(data: bytes, name: bytes) -> tuple[int, int]:
    """(offset, length) of the TH1D record of that name (small layout: its class name
    starts 26 bytes into its key, which gives its own offset at 18)."""
    found = data.find(b"\4TH1D" + bytes([len(name)]) + name)
    while struct.unpack_from(">i", data, found - 8)[0] != found - 26:  # a keys list's copy
        found = data.find(b"\4TH1D" + bytes([len(name)]) + name, found + 1)
        assert found > 0
    return found - 26, struct.unpack_from(">i", data, found - 26)[0]


def _unlist(out: bytearray, offset: int) -> None:
    """Take the key of the record at offset out of the top keys list (ROOT rewrites it)."""
    top = struct.unpack_from(">i", out, 8)[0]
    keylen = struct.unpack_from(">h", out, top + 14)[0]
    body = top + keylen + 2 + out[top + keylen] + out[top + keylen + 1 + out[top + keylen]]
    seek_keys = struct.unpack_from(">i", out, body + 26)[0]
    at = seek_keys + struct.unpack_from(">h", out, seek_keys + 14)[0]
    count, end = struct.unpack_from(">i", out, at)[0], seek_keys + struct.unpack_from(">i", out, seek_keys)[0]
    pos = at + 4
    for _ in range(count):
        length = struct.unpack_from(">h", out, pos + 14)[0]
        if struct.unpack_from(">i", out, pos + 18)[0] == offset:
            out[pos:end] = out[pos + length : end] + bytes(length)
            struct.pack_into(">i", out, at, count - 1)
            return
        pos += length
    raise AssertionError("not listed")


def _list_free(data: bytes, first: int, stop: int) -> bytes:
    """One more free segment [first, stop) in the FreeSegments record (the file's last)."""
    seek_free, nbytes_free, nfree = struct.unpack_from(">iii", data, 16)
    end = struct.unpack_from(">i", data, 12)[0]
    keylen = struct.unpack_from(">h", data, seek_free + 14)[0]
    entries = [struct.unpack_from(">hii", data, p) for p in range(seek_free + keylen, end, 10)]
    entries = sorted([*entries[:-1], (1, first, stop - 1)], key=lambda e: e[1]) + [(1, end + 10, 2000000000)]
    out = bytearray(data[:seek_free] + data[seek_free : seek_free + keylen])
    out += b"".join(struct.pack(">hii", *e) for e in entries)
    struct.pack_into(">i", out, seek_free, nbytes_free + 10)  # the key's Nbytes and ObjLen
    struct.pack_into(">i", out, seek_free + 6, nbytes_free + 10 - keylen)
    struct.pack_into(">iiii", out, 12, end + 10, seek_free, nbytes_free + 10, nfree + 1)  # the header's
    return bytes(out)


def _deleted(data: bytes, name: bytes, body: bytes | None = None) -> bytes:
    """The TH1D `name` deleted as ROOT deletes it: its length negated, its segment listed
    in FreeSegments, its key out of the keys list; its bytes after the length replaced by
    `body` if given."""
    offset, nbytes = _record(data, name)
    out = bytearray(data)
    struct.pack_into(">i", out, offset, -nbytes)
    if body is not None:
        out[offset + 4 : offset + nbytes] = body.ljust(nbytes - 4, b"\0")
    _unlist(out, offset)
    return _list_free(bytes(out), offset, offset + nbytes)


def test_a_record_deleted_as_root_deletes_it_passes(real):
    assert vet(real, ROOT) == OK
    assert vet(_deleted(real, b"b"), ROOT, 7) == OK
    offset, nbytes = _record(real, b"b")
    zeros = bytearray(_deleted(real, b"b"))
    zeros[offset : offset + nbytes] = bytes(nbytes)  # zeros, as uproot leaves space it reserved
    assert vet(bytes(zeros), ROOT, 7) == OK


@pytest.mark.parametrize(
    "payload",
    [
        b"PK\3\4" + b"PAYLOAD-d-" * 3,
        b"\x7fELF\2\1\1" + bytes(60) + b"PAYLOAD-d-" * 3,
        b"\0" * 100 + b"PAYLOAD-d-" * 4,
    ],
)
@pytest.mark.parametrize("chunk", [5, 4096])
def test_a_payload_in_free_space_is_refused_naming_the_rule(real, payload, chunk):
    offset, _ = _record(real, b"b")
    with pytest.raises(Invalid, match=f"root: the free space at {offset} holds data that is not the remains"):
        vet(_deleted(real, b"b", payload), ROOT, chunk)


def test_free_space_holds_at_most_24_bytes_that_are_no_remains(real):
    """The bound (root_remains.LOOSE_STRETCHES): an older RNTuple envelope's tail that
    uproot leaves in a segment too short to reuse is not recomputed."""
    offset, nbytes = _record(real, b"b")
    for size, refused in ((24, False), (25, True)):
        out = bytearray(_deleted(real, b"b"))
        out[offset : offset + nbytes] = bytes(nbytes)
        out[offset + 200 : offset + 200 + size] = bytes(range(1, size + 1))
        if refused:
            with pytest.raises(Invalid, match=f"byte {offset + 200 + 24} is none"):
                vet(bytes(out), ROOT)
        else:
            assert vet(bytes(out), ROOT) == OK


def test_a_deleted_record_still_listed_or_not_in_free_segments_is_refused(real):
    offset, nbytes = _record(real, b"b")
    negated = bytearray(real)
    struct.pack_into(">i", negated, offset, -nbytes)
    with pytest.raises(Invalid, match="free segment .* does not start|not in a segment the FreeSegments"):
        vet(bytes(negated), ROOT)
    listed = _list_free(bytes(negated), offset, offset + nbytes)
    with pytest.raises(Invalid, match="keys list at .* is not the key of a record"):
        vet(listed, ROOT)


def test_a_forged_key_must_name_the_gaps_own_offset(real):
    """A deleted record's payload is a record's; behind a key copied from elsewhere
    (naming another offset) the same bytes are free space, refused."""
    offset, nbytes = _record(real, b"b")
    other, _ = _record(real, b"a")
    payload = b"PAYLOAD-d-" * 8
    own = real[offset + 4 : offset + 60] + payload
    assert vet(_deleted(real, b"b", own), ROOT) == OK
    with pytest.raises(Invalid, match=f"root: the free space at {offset} holds data"):
        vet(_deleted(real, b"b", real[other + 4 : other + 60] + payload), ROOT)
