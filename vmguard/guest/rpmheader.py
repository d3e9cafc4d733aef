"""Strict parser of the rpm header blobs that rpm databases store, one per package.

A blob is: index length il (u32 BE), data length dl (u32 BE), il index entries of
16 bytes (tag, type, offset, count; all u32 BE), then dl bytes of data. Every offset
and count is checked against the blob, so a hostile database can only be rejected.
"""

from __future__ import annotations

import stat
import struct
from dataclasses import dataclass

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH = 1000, 1001, 1002, 1003, 1022
# File lists: old rpm (before 4.0) stores whole names, later ones directory + base name.
TAG_OLDFILENAMES, TAG_FILEMODES = 1027, 1030
TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES = 1116, 1117, 1118
TYPE_INT16, TYPE_INT32, TYPE_STRING, TYPE_STRING_ARRAY = 3, 4, 6, 8
MAX_FILES = 1_000_000  # files of one package; far beyond any real one
MAX_PATH = 4096
SETID = stat.S_ISUID | stat.S_ISGID
MAX_INDEX = 0xFFFF  # rpm's own HEADER_TAGS_MAX
MAX_DATA = 256 * 1024 * 1024  # rpm's own HEADER_DATA_MAX
MAX_STRING = 4096  # names and versions are short; longer is not a real package


class HeaderError(ValueError):
    """The blob is not a well-formed rpm header."""


@dataclass(frozen=True)
class RpmPackage:
    name: str
    epoch: int | None
    version: str
    release: str
    arch: str
    setid_files: tuple[str, ...] = ()  # regular files the package installs setuid/setgid

    @property
    def evr(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{epoch}{self.version}-{self.release}"


def parse_header(blob: bytes) -> RpmPackage:
    """The package identity in one header blob; HeaderError when malformed."""
    entries, data = _split(blob)
    name = _string(entries, data, TAG_NAME, required=True)
    return RpmPackage(
        name=name,
        epoch=_int32(entries, data, TAG_EPOCH),
        version=_string(entries, data, TAG_VERSION, required=True),
        release=_string(entries, data, TAG_RELEASE, required=True),
        arch=_string(entries, data, TAG_ARCH, required=False),
        setid_files=_setid_files(entries, data),
    )


def _setid_files(entries: dict, data: bytes) -> tuple[str, ...]:
    if TAG_FILEMODES not in entries:
        return ()
    modes = _ints(entries, data, TAG_FILEMODES, TYPE_INT16, 2)
    names = _file_names(entries, data)
    if len(names) != len(modes):
        raise HeaderError(f"{len(names)} file names but {len(modes)} file modes")
    return tuple(n for n, m in zip(names, modes, strict=True) if stat.S_ISREG(m) and m & SETID)


def _file_names(entries: dict, data: bytes) -> list[str]:
    if TAG_BASENAMES not in entries:
        return _strings(entries, data, TAG_OLDFILENAMES)
    bases, dirs = _strings(entries, data, TAG_BASENAMES), _strings(entries, data, TAG_DIRNAMES)
    indexes = _ints(entries, data, TAG_DIRINDEXES, TYPE_INT32, 4)
    if len(indexes) != len(bases) or any(i >= len(dirs) for i in indexes):
        raise HeaderError("file directory indexes do not match the names")
    return [dirs[i] + base for i, base in zip(indexes, bases, strict=True)]


def _strings(entries: dict, data: bytes, tag: int) -> list[str]:
    if tag not in entries:
        return []
    typ, offset, count = entries[tag]
    if typ != TYPE_STRING_ARRAY or count > MAX_FILES:
        raise HeaderError(f"tag {tag}: type {typ} count {count}, expected a string array")
    found, position = [], offset
    for _ in range(count):
        end = data.find(b"\0", position, position + MAX_PATH + 1)
        if end < 0:
            raise HeaderError(f"tag {tag}: string not terminated within {MAX_PATH} bytes")
        found.append(data[position:end].decode("utf-8", errors="replace"))
        position = end + 1
    return found


def _ints(entries: dict, data: bytes, tag: int, typ: int, size: int) -> list[int]:
    found_typ, offset, count = entries.get(tag, (typ, 0, 0))
    if found_typ != typ or count > MAX_FILES or offset % size or offset + size * count > len(data):
        raise HeaderError(f"tag {tag}: not {count} aligned {8 * size}-bit integers inside the data")
    return list(struct.unpack_from(f">{count}{'H' if size == 2 else 'I'}", data, offset))


def _split(blob: bytes) -> tuple[dict[int, tuple[int, int, int]], bytes]:
    if len(blob) < 8:
        raise HeaderError("shorter than a header preamble")
    il, dl = struct.unpack_from(">II", blob)
    if not 1 <= il <= MAX_INDEX or dl > MAX_DATA:
        raise HeaderError(f"implausible index/data length {il}/{dl}")
    if len(blob) != 8 + 16 * il + dl:
        raise HeaderError(f"length {len(blob)} does not match index/data length {il}/{dl}")
    entries: dict[int, tuple[int, int, int]] = {}
    for i in range(il):
        tag, typ, offset, count = struct.unpack_from(">IIiI", blob, 8 + 16 * i)
        if offset < 0 or offset >= max(dl, 1):
            raise HeaderError(f"tag {tag}: offset {offset} outside the data ({dl} bytes)")
        entries.setdefault(tag, (typ, offset, count))
    return entries, blob[8 + 16 * il :]


def _string(entries: dict, data: bytes, tag: int, *, required: bool) -> str:
    if tag not in entries:
        if required:
            raise HeaderError(f"tag {tag} missing")
        return ""
    typ, offset, count = entries[tag]
    if typ != TYPE_STRING or count != 1:
        raise HeaderError(f"tag {tag}: type {typ} count {count}, expected one string")
    end = data.find(b"\0", offset, offset + MAX_STRING + 1)
    if end < 0:
        raise HeaderError(f"tag {tag}: string not terminated within {MAX_STRING} bytes")
    text = data[offset:end].decode("utf-8", errors="replace")
    if not text or not text.isprintable():
        raise HeaderError(f"tag {tag}: empty or unprintable string {text!r}")
    return text


def _int32(entries: dict, data: bytes, tag: int) -> int | None:
    if tag not in entries:
        return None
    typ, offset, count = entries[tag]
    if typ != TYPE_INT32 or count != 1 or offset % 4 or offset + 4 > len(data):
        raise HeaderError(f"tag {tag}: not one aligned int32 inside the data")
    return struct.unpack_from(">I", data, offset)[0]
