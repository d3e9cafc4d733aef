"""Attack q root (session 40): real uproot output and a reader of ROOT's own layout.

The reader here parses only what the attack needs to place bytes (the file header, keys,
the directory records' fields, FreeSegments' last entry), from ROOT's documented layout
(TFile, TKey, TDirectoryFile::Streamer, TFree), never from vmguard. The controls are
uproot 5.7 writing as a job does, some jobs on another clock (a later day, a host 9 hours
west): the writer's own `datetime.now()` is shifted, nothing in its output is touched.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import struct
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uproot
import uproot.writing._cascade as _cascade
import uproot.writing._cascadentuple as _cascadentuple
import uproot.writing._cascadetree as _cascadetree
import uproot.writing.writable as _writable

_CLOCKED = (_cascade, _cascadentuple, _cascadetree, _writable)


@dataclass(frozen=True)
class Key:
    """One record's key as TKey::Streamer lays it out (small or large seeks)."""

    pos: int
    nbytes: int
    objlen: int
    keylen: int
    cls: bytes
    name: bytes


def tstring(data: bytes, at: int) -> tuple[bytes, int]:
    """A TString: one length byte, or 255 then a 4-byte length."""
    n = data[at]
    at += 1
    if n == 255:
        (n,) = struct.unpack_from(">i", data, at)
        at += 4
    return data[at:at + n], at + n


def key_at(data: bytes, pos: int) -> Key:
    nbytes, version, objlen, _datime, keylen = struct.unpack_from(">ihiIh", data, pos)
    at = pos + 18 + (16 if version > 1000 else 8)
    cls, at = tstring(data, at)
    name, _ = tstring(data, at)
    return Key(pos, nbytes, objlen, keylen, cls, name)


def keys_of(data: bytes, cls: bytes) -> list[Key]:
    """Every record of class `cls` that a byte-wise search finds naming its own position."""
    found = []
    for pos in range(100, len(data) - 30):
        version = struct.unpack_from(">h", data, pos + 4)[0]
        if version not in (4, 1004):
            continue
        seek = struct.unpack_from(">q" if version > 1000 else ">i", data, pos + 18)[0]
        if seek == pos:
            key = key_at(data, pos)
            if key.cls == cls and key.nbytes > 0:
                found.append(key)
    return found


def directory_fields(data: bytes, key: Key) -> int:
    """Where a directory record's TDirectory fields start: after the key, and after the
    TNamed in the top directory's record (class TFile)."""
    at = key.pos + key.keylen
    if key.cls == b"TFile":
        _, at = tstring(data, at)
        _, at = tstring(data, at)
    return at


def packed(data: bytes, at: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


@contextlib.contextmanager
def clock(offset: _dt.timedelta):
    """uproot's writer on a host whose clock reads `offset` from this one's."""

    class Shifted(_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return _dt.datetime.now(tz) + offset

    shim = types.SimpleNamespace(**{k: getattr(_dt, k) for k in dir(_dt) if not k.startswith("__")})
    shim.datetime = Shifted
    before = [m.datetime for m in _CLOCKED]
    for module in _CLOCKED:
        module.datetime = shim
    try:
        yield
    finally:
        for module, old in zip(_CLOCKED, before, strict=True):
            module.datetime = old


def hist(seed: int = 5):
    return np.histogram(np.random.default_rng(seed).normal(size=100), bins=seed)


def _days(path: Path) -> None:
    with uproot.recreate(path, compression=uproot.ZLIB(4)) as f:
        f["a"] = hist()
        f["b"] = hist(6)
    for i, days in enumerate((2, 9, 40)):
        with clock(_dt.timedelta(days=days)), uproot.update(path) as f:
            f[f"n{i}"] = hist(7 + i)
            if i == 1:
                del f["a"]


def _tree_days(path: Path) -> None:
    with uproot.recreate(path, compression=uproot.ZSTD(5)) as f:
        f.mktree("t", {"x": "f8", "n": "i4"})
        for k in range(12):
            f["t"].extend({"x": np.arange(50.0) + k, "n": np.arange(50, dtype="i4")})
    for days in (1, 3):
        with clock(_dt.timedelta(days=days)), uproot.update(path) as f:
            f["t"].extend({"x": np.arange(10.0), "n": np.arange(10, dtype="i4")})


def _long_names(path: Path) -> None:
    """TString's long form (a name over 254 bytes) and a LaTeX title, as uproot writes them."""
    with uproot.recreate(path) as f:
        f["h"] = hist()
        f.mktree("t" * 300, {"x": "f8"}, title="#mu^{+} p_{T} [GeV] " * 20)
        f["t" * 300].extend({"x": np.arange(5.0)})


def _rntuple_days(path: Path) -> None:
    with uproot.recreate(path, compression=uproot.LZ4(1)) as f:
        f.mkrntuple("r", {"x": "float64", "i": "int32"})
        f["r"].extend({"x": np.arange(30.0), "i": np.arange(30, dtype="i4")})
    with clock(_dt.timedelta(days=1)), uproot.update(path) as f:
        f["r"].extend({"x": np.arange(30.0), "i": np.arange(30, dtype="i4")})


def _west(path: Path) -> None:
    with uproot.recreate(path, compression=uproot.LZMA(2)) as f:
        f["a"] = hist()
    with clock(_dt.timedelta(hours=-9)), uproot.update(path) as f:
        f["b"] = hist(8)
        del f["a"]


def _dirs(path: Path) -> None:
    with uproot.recreate(path) as f:
        for i in range(30):
            f[f"d{i}/h"] = hist()
    with clock(_dt.timedelta(days=1)), uproot.update(path) as f:
        for i in range(0, 30, 3):
            del f[f"d{i}/h"]
        f["d1/x/y"] = hist(9)


def _small_alloc(path: Path) -> None:
    """Keys list and StreamerInfo given less room than they need: uproot moves both."""
    with uproot.recreate(path, initial_directory_bytes=64, initial_streamers_bytes=128,
                         compression=uproot.ZLIB(9)) as f:
        for i in range(20):
            f[f"h{i}"] = hist(i + 2)


def _jagged(path: Path) -> None:
    import awkward as ak

    with uproot.recreate(path, compression=uproot.LZMA(9)) as f:
        f["t"] = {"j": ak.Array([[1.0, 2.0], [], [3.0]]), "n": np.arange(3)}
        for k in range(11):
            f["t"].extend({"j": ak.Array([[float(k)], [1.0, 2.0]]), "n": np.arange(2)})


def _resized(path: Path) -> None:
    with uproot.recreate(path, compression=uproot.ZSTD(19)) as f:
        f.mktree("t", {"x": "f4"}, resize_factor=2.0)
        for _ in range(25):
            f["t"].extend({"x": np.arange(7, dtype="f4")})


def _nested(path: Path) -> None:
    with uproot.create(path, compression=None) as f:
        f["a/b/c/h"] = hist(4)
        f["s"] = "a string"
        f["a/b/s2"] = "another"


def _del_then_add(path: Path) -> None:
    """Three uncompressed histograms deleted in one job, a smaller one added in the next:
    uproot writes it over the start of the merged free segment (a deleted one's tail stays)."""
    with uproot.recreate(path, compression=None) as f:
        for i in range(6):
            f[f"h{i}"] = hist(i + 2)
    with uproot.update(path) as f:
        for i in (4, 5, 3):
            del f[f"h{i}"]
    with uproot.update(path) as f:
        f["z"] = hist(3)


def _shrunk_at_end(path: Path) -> None:
    """Four jobs each deleting one histogram: FreeSegments shrinks at the file's end and
    leaves an older end entry (1, its end, 2000000000) after fEND."""
    with uproot.recreate(path) as f:
        for i in range(6):
            f[f"h{i}"] = hist(i + 2)
    for i in (2, 5, 4, 3):
        with uproot.update(path) as f:
            del f[f"h{i}"]


def _one_job(path: Path, compression) -> None:
    with uproot.recreate(path, compression=compression) as f:
        f["d/h"] = hist(3)
        f["s"] = "hello"
        f.mktree("t", {"x": "f8"})
        f["t"].extend({"x": np.arange(3.0)})
        f["t"].extend({"x": np.arange(2.0)})


CONTROLS = {
    "ctl/days.root": _days,
    "ctl/tree-days.root": _tree_days,
    "ctl/long-names.root": _long_names,
    "ctl/rntuple-days.root": _rntuple_days,
    "ctl/west.root": _west,
    "ctl/dirs.root": _dirs,
    "ctl/small-alloc.root": _small_alloc,
    "ctl/jagged-lzma9.root": _jagged,
    "ctl/resized-zstd19.root": _resized,
    "ctl/nested-create.root": _nested,
    "ctl/shrunk-at-end.root": _shrunk_at_end,
}
# Ordinary uproot output a documented rule refuses: the detail's start.
DOCUMENTED = {"ctl/del-then-add.root": (_del_then_add, "root: the free space at ")}
CODECS = {"zlib": uproot.ZLIB(1), "lz4": uproot.LZ4(1), "zstd": uproot.ZSTD(3),
          "lzma": uproot.LZMA(1), "none": None}


def controls(made: Path) -> dict[str, bytes]:
    """Each control written by uproot in `made`, under the name it has in the quarantine."""
    made.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, write in CONTROLS.items():
        path = made / Path(name).name
        write(path)
        out[name] = path.read_bytes()
    for name, (write, _) in DOCUMENTED.items():
        path = made / Path(name).name
        write(path)
        out[name] = path.read_bytes()
    for codec, compression in CODECS.items():
        path = made / f"job-{codec}.root"
        _one_job(path, compression)
        out[f"ctl/job-{codec}.root"] = path.read_bytes()
    return out
