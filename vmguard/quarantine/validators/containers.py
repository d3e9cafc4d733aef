"""tar, read as a stream: only regular files and directories, each file vetted as a file
by the same rules, every byte between them pinned (tarheader.py), and after the
end-of-archive marker only zeros. Member names go to the parent (inside.py), which holds
them to the walk's name rules and collision check.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable

from . import tarnames
from .inside import MAX_MEMBERS, STEP, Inside, KnownAs
from .stream import Invalid, Stream
from .tarextended import Archive
from .tarheader import BLOCK, headers_allowed, padded

Parts = list[tuple[str, str | None]]  # (MIME type, validator) of the file and what it holds


class _Reader:
    """The file object tarfile's stream mode reads from. It keeps the raw bytes from the
    end of the last member's data on (padding, headers), never a member's data."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.base = stream.pos
        self.kept = bytearray()
        self.kept_from = 0  # tar offset of kept[0]; nothing before it is kept

    def read(self, size: int = -1) -> bytes:
        start = self.stream.pos - self.base
        data = self.stream.peek(size if size >= 0 else 1 << 30)
        self.stream.skip(len(data), "", "tar")
        end = start + len(data)
        if end > self.kept_from:
            self.kept += data[max(0, self.kept_from - start) :]  # kept ends where this read starts
        return data

    def span(self, start: int, end: int) -> bytes:
        """The raw bytes [start, end) of the tar, which must still be kept."""
        if start < self.kept_from or end > self.kept_from + len(self.kept):
            raise Invalid(f"tar: bytes at {start} were read past (a header too large)")
        return bytes(self.kept[start - self.kept_from : end - self.kept_from])

    def drop(self, until: int) -> None:
        """Keep nothing before `until` (the end of a member's data)."""
        cut = until - self.kept_from
        self.kept = self.kept[cut:] if 0 <= cut <= len(self.kept) else bytearray()
        self.kept_from = until


def tar(stream: Stream, inner: Callable[[Stream, KnownAs], Parts], inside: Inside) -> Parts:
    parts: Parts = [("application/x-tar", "tar")]
    archive, count, end = inside.archive(), 0, 0
    reader, headers = _Reader(stream), Archive()
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tarred:
            while (member := tarred.next()) is not None:
                tarred.members.clear()  # one member at a time, however many there are
                count += 1
                if count > MAX_MEMBERS:
                    raise Invalid(f"tar: more than {MAX_MEMBERS} members")
                _member_allowed(member)
                _between(reader, end, member, headers)
                headers.wrote(member.size)
                end = member.offset_data + member.size
                reader.drop(end)
                if member.isdir():
                    inside.member(archive, member.name + "/")
                else:
                    fh = tarred.extractfile(member)
                    known = (os.path.basename(member.name), 0)
                    inside_parts = inner(Stream(iter(lambda fh=fh: fh.read(STEP), b"")), known)
                    inside.member(archive, member.name, inside_parts)  # a client types it by its name
                    parts += [part for part in inside_parts if part not in parts]
            tail = reader.span(end, reader.kept_from + len(reader.kept))  # all tarfile read past it
    except (tarfile.TarError, EOFError) as err:
        raise Invalid(f"tar: not a valid tar stream ({err})") from None
    if tail.strip(b"\0") or any(bytes(c).strip(b"\0") for c in stream.chunks()):
        raise Invalid("tar: bytes other than zeros after the end-of-archive marker (or the last member)")
    return parts


def _between(reader: _Reader, end: int, member: tarfile.TarInfo, headers: Archive) -> None:
    """The previous member's padding (zeros), then this member's header blocks."""
    if reader.span(end, padded(end)).strip(b"\0"):
        raise Invalid(f"tar: the padding after a member's data (at {end}) is not zeros")
    if padded(end) != member.offset:
        raise Invalid(f"tar: bytes between members at {padded(end)} (a global header or another record)")
    raw = reader.span(member.offset, member.offset_data)
    name = headers_allowed(raw, member, headers)
    if differ := tarnames.disagreement(member, name, raw[-BLOCK + 156 : -BLOCK + 157]):
        raise Invalid(
            f"tar: member {member.name!r} is named otherwise by its readers ({differ}): what is "
            "unpacked is not what vmguard judged (a regular member named with a trailing / is a "
            "directory to GNU tar, which reads its data as the archive's next headers); name a file "
            "without a trailing /, a path without a leading / or a .. component"
        )


def _member_allowed(member: tarfile.TarInfo) -> None:
    if not (member.isreg() or member.isdir()):
        raise Invalid(f"tar: member {member.name!r} is a link or special file")
    if member.isdir() and member.size:  # tarfile and GNU tar read its data as headers
        raise Invalid(f"tar: directory member {member.name!r} holds data ({member.size} bytes)")
    if member.mode & (0o7111 if member.isreg() else 0o7000):
        raise Invalid(f"tar: member {member.name!r} is executable or set-id")


__all__ = ["BLOCK", "tar"]
