"""ROOT free gaps (a record's length negated: ROOT's deleted space) hold zeros or the
remains of the record deleted there; a payload put in one is refused, naming the rule.
The gaps are made the way ROOT makes them, in a real file written by uproot."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid

uproot = pytest.importorskip("uproot")
ZIP_TAIL = b"PK\x05\x06" + b"\0" * 18


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("root") / "h.root"
    with uproot.recreate(path, compression=None) as f:
        f["a"] = np.histogram(np.arange(100.0), bins=50)
        f["b"] = np.histogram(np.arange(10.0), bins=3)
    return path.read_bytes()


def _record(data: bytes, class_name: bytes) -> tuple[int, int]:
    """(offset, length) of the first record of a class (small layout), walked from fBEGIN."""
    pos = struct.unpack_from(">i", data, 8)[0]
    while (nbytes := struct.unpack_from(">i", data, pos)[0]) > 0:
        start = pos + 26  # Nbytes, version, ObjLen, datime, KeyLen, cycle, 32-bit seeks
        if data[start + 1 : start + 1 + data[start]] == class_name:
            return pos, nbytes
        pos += nbytes
    raise AssertionError(f"no {class_name!r} record")


def _freed(data: bytes, body: bytes | None = None) -> bytes:
    """The first TH1D record turned into a free gap: its length negated (what ROOT's
    delete does), and its bytes after the length replaced by `body` if given."""
    offset, nbytes = _record(data, b"TH1D")
    out = bytearray(data)
    struct.pack_into(">i", out, offset, -nbytes)
    if body is not None:
        out[offset + 4 : offset + nbytes] = body.ljust(nbytes - 4, b"\0")
    return bytes(out)


def test_a_deleted_record_or_zeros_in_a_free_gap_pass(real):
    assert vet(real, "application/x-root") == [("application/x-root", "root")]
    assert vet(_freed(real), "application/x-root", 7) == [("application/x-root", "root")]  # ROOT's delete
    assert vet(_freed(real, b""), "application/x-root", 7) == [
        ("application/x-root", "root")
    ]  # uproot's zeros


@pytest.mark.parametrize("payload", [ZIP_TAIL, b"\x7fELF" + bytes(60), b"\0" * 100 + b"x"])
@pytest.mark.parametrize("chunk", [5, 4096])
def test_a_payload_in_a_free_gap_is_refused_naming_the_rule(real, payload, chunk):
    offset, _ = _record(real, b"TH1D")
    with pytest.raises(
        Invalid, match=f"root: the free gap at {offset} holds data that is not the record deleted"
    ):
        vet(_freed(real, payload), "application/x-root", chunk)


def test_a_forged_key_must_name_the_gaps_own_offset(real):
    """A key copied from elsewhere (another offset) is not the record deleted there."""
    offset, nbytes = _record(real, b"TH1D")
    other, _ = _record(real, b"TFile")
    forged = real[other + 4 : other + 30]
    with pytest.raises(Invalid, match="free gap"):
        vet(_freed(real, forged), "application/x-root")
