"""A ROOT directory record's every field as ROOT and uproot write it, and FreeSegments'
end entry by one rule (session 40, attack q root: a directory's version and fNbytesName,
and the live FreeSegments record's last end, were free). Real uproot files (top and
nested directories, several update jobs, every codec) and ROOT's own nesteddirs.root pass;
each field changed to a value no writer writes is refused naming the rule."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.quarantine.test_root_exact import _put, _top_directory
from tests.quarantine.test_validators import vet
from tests.support import root_cxx_corpus
from vmguard.quarantine.validators import Invalid

uproot = pytest.importorskip("uproot")

ROOT = "application/x-root"
OK = [(ROOT, "root")]
CODECS = {
    "none": None,
    "zlib": uproot.ZLIB(1),
    "lz4": uproot.LZ4(1),
    "zstd": uproot.ZSTD(3),
    "lzma": uproot.LZMA(1),
}
START_BIG_FILE = 2000000000


def _hist(seed: int):
    return np.histogram(np.random.default_rng(seed).normal(size=50), bins=4 + seed % 3)


def _write(path: Path, compression) -> bytes:
    """Top and nested directories over three jobs: made, extended, one object deleted."""
    with uproot.recreate(path, compression=compression) as f:
        f["a/b/c/h"] = _hist(1)
        f["d/h"] = _hist(2)
        f["s"] = "text"
    with uproot.update(path) as f:
        f["a/e/h"] = _hist(3)
        f["d/x/y/h"] = _hist(4)
    with uproot.update(path) as f:
        del f["d/h"]
        f["a/b/h2"] = _hist(5)
    return path.read_bytes()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    made = tmp_path_factory.mktemp("rootdirs")
    out = {codec: _write(made / f"{codec}.root", c) for codec, c in CODECS.items()}
    out["root-cxx"] = root_cxx_corpus.files()["nesteddirs.root"].read_bytes()  # ROOT's own
    return out


def _subdirectories(data: bytes) -> list[int]:
    """Where each subdirectory's TDirectory fields start: after a key of class
    TDirectory (small seeks) whose record's fSeekDir is its own position."""
    out, tag = [], b"\x0aTDirectory"
    at = data.find(tag)
    while at >= 0:
        start = at - 26
        if start >= 0:
            keylen = struct.unpack_from(">h", data, start + 14)[0]
            fields = start + keylen
            own = struct.unpack_from(">i", data, start + 18)[0] == start
            if own and fields + 22 <= len(data) and struct.unpack_from(">i", data, fields + 18)[0] == start:
                out.append(fields)
        at = data.find(tag, at + 1)
    return out


def _directories(data: bytes) -> dict[str, int]:
    """The top directory's fields and each subdirectory's, by a name for the test id."""
    subs = _subdirectories(data)
    assert len(subs) >= 3, len(subs)
    return {"top": _top_directory(data)} | {f"sub{i}": at for i, at in enumerate(subs)}


def _refused(data: bytes, match: str) -> None:
    with pytest.raises(Invalid, match=match):
        vet(data, ROOT)


@pytest.mark.parametrize("name", [*CODECS, "root-cxx"])
def test_the_written_files_pass(files, name):
    data = files[name]
    assert vet(data, ROOT) == OK
    for at in _directories(data).values():
        assert struct.unpack_from(">h", data, at)[0] == 5  # what both writers write


_VERSION_RULE = r"ROOT and uproot write 5 \(ROOT 4.00 to 5.15: 4\), plus 1000 .* kStartBigFile"


@pytest.mark.parametrize("name", [*CODECS, "root-cxx"])
@pytest.mark.parametrize("version", [0, 1, 3, 6, 999, -16038])
def test_a_directory_version_no_writer_writes_is_refused(files, name, version):
    data = files[name]
    for at in _directories(data).values():
        _refused(_put(data, at, struct.pack(">h", version)), _VERSION_RULE)


@pytest.mark.parametrize("name", ["zlib", "root-cxx"])
def test_roots_older_directory_version_passes(files, name):
    """Version 4 (ROOT 4.00 to 5.15, the same 60-byte record) is ROOT's too: the RHEL5
    era's ROOT, which the lab's legacy jobs may run, wrote it."""
    data = files[name]
    for at in _directories(data).values():
        data = _put(data, at, struct.pack(">h", 4))
    assert vet(data, ROOT) == OK


@pytest.mark.parametrize("name", ["zlib", "root-cxx"])
def test_the_large_layout_on_small_seeks_is_refused(files, name):
    """1005 with the fields moved to 64-bit seeks (all below kStartBigFile): the layout
    neither writer uses for them, 1 bit a directory."""
    data = files[name]
    for at in _directories(data).values():
        small = struct.unpack_from(">hIIiiiii", data, at)
        large = struct.pack(">hIIiiqqq", 1005, *small[1:]) + data[at + 30 : at + 48]
        _refused(_put(data, at, large), "has version 1005: " + _VERSION_RULE)


@pytest.mark.parametrize("name", [*CODECS, "root-cxx"])
@pytest.mark.parametrize("change", [1, -1, "zero", "QRT!"])
def test_a_directory_fnbytesname_is_where_its_fields_start(files, name, change):
    """The top directory's is the header's fNbytesName, a subdirectory's its KeyLen."""
    data = files[name]
    for where, at in _directories(data).items():
        old = struct.unpack_from(">i", data, at + 14)[0]
        new = {"zero": b"\0\0\0\0", "QRT!": b"QRT!"}.get(change) or struct.pack(">i", old + change)
        what = "the header's fNbytesName" if where == "top" else "KeyLen"
        _refused(_put(data, at + 14, new), f"has fNbytesName .*, not {old}, {what}")


def _free_end(data: bytes) -> int:
    """Where the live FreeSegments record's last entry's fLast lies (the header's
    fSeekFree and fNbytesFree: the record's last 4 bytes)."""
    seek_free, nbytes_free = struct.unpack_from(">ii", data, 16)
    return seek_free + nbytes_free - 4


@pytest.mark.parametrize("name", [*CODECS, "root-cxx"])
@pytest.mark.parametrize("last", [START_BIG_FILE - 1, START_BIG_FILE + 1, 0x7F515254, 2**31 - 1])
def test_the_free_segments_end_is_kstartbigfile(files, name, last):
    data = files[name]
    at = _free_end(data)
    assert struct.unpack_from(">i", data, at)[0] == START_BIG_FILE
    _refused(_put(data, at, struct.pack(">i", last)), "FreeSegments record at .*kStartBigFile")


def _shrunk(path: Path) -> bytes:
    """uproot's FreeSegments shrunk at the file's end, its older end entry after fEND."""
    with uproot.recreate(path) as f:
        for i in range(6):
            f[f"h{i}"] = _hist(i)
    for i in (2, 5, 4, 3):
        with uproot.update(path) as f:
            del f[f"h{i}"]
    return path.read_bytes()


def test_an_older_end_entry_is_held_by_the_same_rule(tmp_path):
    """The entries a FreeSegments record leaves after fEND end where the live one's does
    (root_free.ends_free, one answer for both): kStartBigFile, nothing else."""
    data = _shrunk(tmp_path / "shrunk.root")
    fend = struct.unpack_from(">i", data, 12)[0]
    assert len(data) > fend and data[-4:] == struct.pack(">I", START_BIG_FILE)
    assert vet(data, ROOT) == OK
    for last in (START_BIG_FILE + 1, 0x7F515254):
        _refused(data[:-4] + struct.pack(">i", last), "bytes after fEND")
        live = _put(data, _free_end(data), struct.pack(">i", last))
        _refused(live, "FreeSegments record at .*kStartBigFile")
