"""An RNTuple's anchor and envelopes, checked once the walk (root.py) has kept them.

The anchor (the ROOT::RNTuple record a keys list names; uproot writes it uncompressed):
its byte count (the 66 bytes of its version and fields), class version 2, format
version 1.0.0.x, the header's and footer's position and lengths (uncompressed: the
envelope of that type kept at that position, of that length), fMaxKeySize 0 (uproot)
or ROOT's default of 1 GiB, and its XXH3-64 (big-endian) of its 64 bytes of fields.
Every live uncompressed envelope (header, footer, page list: root.py keeps an
uncompressed blob that starts with an envelope's type and length) ends with the XXH3-64
(little-endian) of its bytes before it."""

from __future__ import annotations

import struct

from . import root_strings, terminal
from .root_data import key_name as _key_name
from .root_model import FMT, RootWalk, key_fields, windows
from .stream import Invalid
from .xxh3 import xxh3_64

_ANCHOR = struct.Struct(">IhHHHHQQQQQQQQ")  # byte count, class version, format, fields, checksum
_BYTE_COUNT = 0x40000000 | 66  # kByteCountMask | the class version and the 64 bytes of fields
_MAX_KEY_SIZES = (0, 1 << 30)  # uproot's, ROOT's default (RNTupleWriteOptions)
_MAX_PATCH = 9  # ROOT writes format 1.0.0.x
_HEADER, _FOOTER = 1, 2
_FIELDS = struct.Struct(">HHHHQQQQQQQ")  # format, header and footer (position, bytes, length), fMaxKeySize
# A stretch left of an anchor is looked up by its last bytes (the anchor's XXH3-64 ends it),
# however few: each byte is recomputed, so a short one lets through no more than a long one.
_SUFFIX = 1
_CLASS = b"\x0dROOT::RNTuple"  # the anchor key's class string


# The header envelope's strings (session 40, _header_strings):
_RNTUPLE_STRINGS = 16  # an RNTuple header's name: after its preamble and feature flags
# A field record frame: its size (8), field and type versions, parent (4 each), role and
# flags (2 each); then per flag: repetition (8), source field (4), type checksum (4).
_FIELD_LEAST, _FIELD_FLAGS = 8 + 16, 8 + 14
_FIELD_EXTRAS = ((0x01, 8), (0x02, 4), (0x04, 4))


def check(walk: RootWalk, free: set[int]) -> None:
    live = {at: body for offset, (at, body) in walk.envelopes.items() if offset not in free}
    for at, body in live.items():
        if xxh3_64(body[:-8]) != struct.unpack_from("<Q", body, len(body) - 8)[0]:
            raise Invalid(
                f"root: the RNTuple envelope at {at} does not end with the XXH3-64 of its bytes, as ROOT "
                "and uproot write it (rewrite the file with uproot)"
            )
    for record in walk.records.values():
        if record.klass == b"ROOT::RNTuple" and record.offset not in free and record.body is not None:
            _anchor(record.offset, record.body, live)
    if walk.envelopes:
        _linked(walk, free)


def _linked(walk: RootWalk, free: set[int]) -> None:
    """Each live blob is one an RNTuple links to: its payload's position is the anchor's
    header or footer (big-endian), or a locator (8 bytes, little-endian) in an envelope
    an anchor reaches (a footer's page lists, a page list's pages), or it is what uproot's
    del leaves (_deleted). An orphan blob no reader reads is refused (two envelopes that
    link each other and nothing else too), or the header and footer of an anchor deleted
    and written over (written_over). Where the envelopes are compressed (none kept) this
    is not checked."""
    envelopes, known = _anchored(walk)
    blobs = walk.data.blobs
    orphans = [
        blobs[i + 1] for i in range(0, len(blobs), 2) if blobs[i] not in free and blobs[i + 1] not in known
    ]
    if orphans:
        deleted = _deleted(orphans, envelopes, _names(walk, free))
        deleted.update(*written_over(walk, free).values())
        known = _reach(known | deleted, envelopes)
    for i in range(0, len(blobs), 2):
        if blobs[i] not in free and blobs[i + 1] not in known:
            raise Invalid(
                f"root: the RBlob at {blobs[i]} is linked from no RNTuple envelope or anchor: an orphan "
                "record no reader reads (rewrite the file with uproot)"
            )


def _anchored(walk: RootWalk) -> tuple[dict[int, bytes], set[int]]:
    """The envelopes by their payload's position, and the positions an anchor reaches
    (a live one, or one del left whole in free space), in turn."""
    envelopes = dict(walk.envelopes.values())
    roots: set[int] = set()
    for record in walk.records.values():
        if record.klass == b"ROOT::RNTuple" and record.body is not None:
            roots.update(windows(record.body, big=True))
    return envelopes, _reach(roots, envelopes)


def _reach(known: set[int], envelopes: dict[int, bytes]) -> set[int]:
    """known and the positions the envelopes at known positions link to, in turn."""
    known, todo = set(known), [at for at in envelopes if at in known]
    seen = set(todo)
    while todo:
        for at in windows(envelopes[todo.pop()], big=False):
            known.add(at)
            if at in envelopes and at not in seen:
                seen.add(at)
                todo.append(at)
    return known


def _deleted(orphans: list[int], envelopes: dict[int, bytes], names: set[bytes]) -> set[int]:
    """The blobs uproot's del leaves when a job deletes an RNTuple (it frees the anchor
    alone) and a later one makes one of that name again, whose anchor is written over the
    deleted one's: footers no anchor reaches, each carrying the XXH3-64 of a header no
    anchor reaches (the footer's first field after its feature flags), as many headers of
    that checksum as such footers (one each deleted RNTuple; a rerun writes the same
    header again), each naming a live RNTuple. Their positions, from which the
    footers' page lists and pages are reached; every envelope's checksum is checked as
    any (check)."""
    headers: dict[bytes, list[int]] = {}
    footers: dict[bytes, list[int]] = {}
    for at in orphans:
        body = envelopes.get(at, b"\0")
        if body[0] == _HEADER and _header_name(body) in names:
            headers.setdefault(body[-8:], []).append(at)
        elif body[0] == _FOOTER:
            footers.setdefault(body[16:24], []).append(at)
    out: set[int] = set()
    for checksum, found in headers.items():
        if len(found) == len(footers.get(checksum, ())):
            out.update(found, footers[checksum])
    return out


def written_over(walk: RootWalk, free: set[int]) -> dict[int, set[int]]:
    """What is left of the anchor of an RNTuple uproot's del deleted (it frees the anchor
    alone) where a later record was written over its start: the free stretches that are
    the last bytes of the anchor uproot writes (_rebuilt: recomputed; one byte at least)
    for a footer no anchor reaches and a header of the checksum the footer
    carries, from inside its key at most (its fSeekPdir one a live key names, then the
    class and the header's name as name and title); each with that header and footer,
    which are then reached as an anchor's (their page lists, pages)."""
    stretches: dict[bytes, list[int]] = {}
    for at, gap in walk.gaps.items():
        if len(gap) >= _SUFFIX:
            stretches.setdefault(gap[-_SUFFIX:], []).append(at)
    if not stretches or not walk.envelopes:
        return {}
    envelopes, known = _anchored(walk)
    headers: dict[bytes, list[int]] = {}
    for at, body in envelopes.items():
        if at not in known and body[0] == _HEADER:
            headers.setdefault(body[-8:], []).append(at)
    live = (r for r in walk.records.values() if r.offset not in free)
    parents = {walk.header.begin} | {key_fields(r.key)[1] for r in live}
    out: dict[int, set[int]] = {}
    for footer, body in envelopes.items():
        if footer in known or body[0] != _FOOTER:
            continue
        for header in headers.get(body[16:24], ()):
            for anchor in _rebuilt(envelopes[header], header, body, footer):
                for at in stretches.get(anchor[-_SUFFIX:], ()):
                    if _tail_of(walk.gaps[at], anchor, _header_name(envelopes[header]), parents):
                        out.setdefault(at, set()).update((header, footer))
    return out


def _rebuilt(header: bytes, seek_header: int, footer: bytes, seek_footer: int) -> list[bytes]:
    """The anchors written for an uncompressed header and footer at those positions:
    byte count, class version 2, format 1.0.0.x (each x up to _MAX_PATCH), the envelopes'
    positions and lengths, fMaxKeySize 0 (uproot) or 1 GiB (ROOT), their XXH3-64."""
    out = []
    for patch in range(_MAX_PATCH + 1):
        for max_key in _MAX_KEY_SIZES:
            sizes = (seek_header, len(header), len(header), seek_footer, len(footer), len(footer))
            fields = _FIELDS.pack(1, 0, 0, patch, *sizes, max_key)
            out.append(struct.pack(">Ih", _BYTE_COUNT, 2) + fields + struct.pack(">Q", xxh3_64(fields)))
    return out


def _tail_of(stretch: bytes, anchor: bytes, name: bytes, parents: set[int]) -> bool:
    """Whether a free stretch is the end of a deleted anchor record: of its payload, or
    reaching back into its key's strings and fSeekPdir (4 or 8 bytes: a directory's)."""
    if len(stretch) <= len(anchor):
        return anchor.endswith(stretch)
    strings = _CLASS + bytes([len(name)]) + name + bytes([len(name)]) + name + anchor
    return any(
        (parent.to_bytes(width, "big") + strings).endswith(stretch)
        for parent in parents
        for width in (4, 8)
        if parent < 1 << (8 * width - 1)
    )


def _header_name(body: bytes) -> bytes:
    """A header envelope's RNTuple name: after its preamble and feature flags, a string
    (its length, 4 bytes little-endian, then its bytes)."""
    length = int.from_bytes(body[16:20], "little")
    return body[20 : 20 + length]


def _names(walk: RootWalk, free: set[int]) -> set[bytes]:
    """The names of the live RNTuples (their anchors' keys)."""
    anchors = (r for r in walk.records.values() if r.klass == b"ROOT::RNTuple" and r.offset not in free)
    return {_key_name(r.key) for r in anchors}


def _anchor(offset: int, body: bytes, live: dict[int, bytes]) -> None:
    if len(body) != _ANCHOR.size:
        raise _refused(offset, f"is {len(body)} bytes, not {_ANCHOR.size}")
    count, version, epoch, major, minor, patch, *fields, max_key, checksum = _ANCHOR.unpack(body)
    if (count, version, epoch, major, minor) != (_BYTE_COUNT, 2, 1, 0, 0) or patch > _MAX_PATCH:
        raise _refused(offset, f"has version {version}, format {epoch}.{major}.{minor}.{patch}")
    if max_key not in _MAX_KEY_SIZES:
        raise _refused(offset, f"has fMaxKeySize {max_key}, not 0 (uproot) or 1 GiB (ROOT)")
    if xxh3_64(body[6:70]) != checksum:
        raise _refused(offset, "does not end with the XXH3-64 of its fields")
    for kind, (seek, nbytes, length) in ((_HEADER, fields[:3]), (_FOOTER, fields[3:])):
        envelope = live.get(seek)
        if nbytes == length and (envelope is None or len(envelope) != nbytes or envelope[0] != kind):
            raise _refused(offset, f"names at {seek} no envelope of type {kind} and {nbytes} bytes")
        if kind == _HEADER and nbytes == length and envelope:  # the header readers read: its field names
            _header_strings(envelope, seek)  # and descriptions (session 40)


def _refused(offset: int, rule: str) -> Invalid:
    return Invalid(
        f"root: the RNTuple anchor at {offset} {rule}: ROOT and uproot write its fields, lengths and "
        "checksum (rewrite the file with uproot)"
    )


def _header_strings(body: bytes, at: int) -> None:
    """An RNTuple's header envelope (uncompressed, uproot's; at: its payload's position),
    as RNTuple format 1.0 lays it out (little-endian; a string its 4-byte length, then its
    bytes): after its preamble and feature flags, the RNTuple's name, description and
    writer, then the field list (a list frame: its size negated, the count), each field a
    record frame (its size; versions, parent, role, flags and what they add) whose name,
    type name, type alias and description are judged. A frame past its envelope (the
    checksum its last 8 bytes) is refused."""
    where = f"the RNTuple header at {at}"
    pos, end = _RNTUPLE_STRINGS, len(body) - 8
    for what in ("name", "description", "writer"):
        pos = _field_string(body, (pos, end), what, where)
    size, count = struct.unpack_from("<qI", body.ljust(pos + 12, b"\0"), pos)
    if size >= 0 or pos - size > end:
        raise root_strings.ObjectLayout(f"root: {where} has no field list frame inside it")
    stop, pos = pos - size, pos + 12
    for _ in range(count):
        frame = struct.unpack_from("<q", body.ljust(pos + 8, b"\0"), pos)[0]
        if not _FIELD_LEAST <= frame <= stop - pos:
            raise root_strings.ObjectLayout(f"root: {where} has a field record frame past its list")
        flags = struct.unpack_from("<H", body, pos + _FIELD_FLAGS)[0]
        inner = pos + _FIELD_LEAST + sum(size for bit, size in _FIELD_EXTRAS if flags & bit)
        for what in ("name", "type name", "type alias", "description"):
            inner = _field_string(body, (inner, pos + frame), f"{what} of a field", where)
        pos += frame


def _field_string(body: bytes, span: tuple[int, int], what: str, where: str) -> int:
    """Judge the RNTuple string at span[0] (its 4-byte length, its bytes) that must end by
    span[1]; where it ends."""
    at, end = span
    length = int.from_bytes(body[at : at + 4], "little") if at + 4 <= end else end
    if at + 4 + length > end:
        raise root_strings.ObjectLayout(f"root: {where} has a string past its frame")
    terminal.check(body[at + 4 : at + 4 + length], f"the {what} of {where}", FMT)
    return at + 4 + length
