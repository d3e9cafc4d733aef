"""Strict parser of the rpm header blobs that rpm databases store, one per package.

A blob is: index length il (u32 BE), data length dl (u32 BE), il index entries of
16 bytes (tag, type, offset, count; all u32 BE), then dl bytes of data. Every offset
and count is checked against the blob, so a hostile database can only be rejected.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH = 1000, 1001, 1002, 1003, 1022
TYPE_INT32, TYPE_STRING = 4, 6
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
    )


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
