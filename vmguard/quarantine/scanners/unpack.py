"""What a content scanner must also see inside a file: gzip's inflated stream and each
member of a tar (also nested, up to MAX_DEPTH containers deep), as byte windows.

A secret compressed into a gzip (an allowed type in the lab's batch policy) is not in the
file's own bytes. The yara engine scans each inner file here as a file of its own, in
windows of WINDOW bytes that overlap by OVERLAP, so that a match up to OVERLAP bytes long
is never cut in two, and rules about a file's start (a keytab's header) see the inner
file's first bytes in its first window. Inflation is the validators' own
(vmguard.quarantine.validators.gzipfmt): the same bomb bound. Tar headers are read
here, in bounded memory (this runs in the vet process, not in a sandboxed worker).
A container that is not valid stops the inner scan; its validator rejects the file.
"""

from __future__ import annotations

from collections.abc import Iterator

from vmguard.core.display import shown
from vmguard.quarantine.validators.gzipfmt import GZIP_MAGIC, inflate
from vmguard.quarantine.validators.inside import STEP, Inside
from vmguard.quarantine.validators.stream import Invalid, Stream

WINDOW = 16 << 20
OVERLAP = 64 << 10  # longer than any match of the shipped rules
MAX_DEPTH = 3  # containers inside containers, as the validators allow
TAR_MAGIC_AT, TAR_MAGICS = 257, (b"ustar\x0000", b"ustar  \x00")
HEAD = TAR_MAGIC_AT + 8  # enough of a file to tell whether it is a container
Inner = Iterator[tuple[str, Iterator[bytes]]]  # (where: "gzip:tar:NAME", the inner file's chunks)


def is_container(head: bytes) -> bool:
    return head.startswith(GZIP_MAGIC) or head[TAR_MAGIC_AT : TAR_MAGIC_AT + 8] in TAR_MAGICS


def inner_files(
    chunks: Iterator[bytes], where: str = "", depth: int = 0, inside: Inside | None = None
) -> Inner:
    """(where, its chunks) for each file inside the container read from `chunks`; the
    inflation bound is the validators' own, one budget for every level."""
    stream = Stream(chunks)
    inside = inside or Inside(stream)
    head = stream.peek(HEAD)
    if depth >= MAX_DEPTH or not is_container(head):
        return
    try:
        if head.startswith(GZIP_MAGIC):
            yield from _inner_or_self(inflate(stream, inside), f"{where}gzip:", depth, inside)
            return
        for name, chunks in _tar_members(stream):
            yield from _inner_or_self(chunks, f"{where}tar:{shown(name[:200])}:", depth, inside)
    except Invalid:
        return  # not valid: its validator rejects the file


def _tar_members(stream: Stream) -> Iterator[tuple[str, Iterator[bytes]]]:
    """(name, content) of each regular file in a tar read as a stream. Headers are read
    here, not by tarfile: a pax or GNU long-name header is skipped as data, never held
    in memory (tarfile would read a header claiming gigabytes whole, in this process)."""
    while (header := stream.read(512, "a tar header", "tar")) != bytes(512):
        size, kind = _tar_size(header[124:136]), header[156:157]
        name = header[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
        member = _Member(stream, size)
        if kind in (b"0", b"\0", b"7"):  # regular files; links, folders, pax/GNU headers are not
            yield name, iter(member)
        member.drain()
        stream.skip(-size % 512, "a tar block's padding", "tar")


def _tar_size(field: bytes) -> int:
    if field[0] & 0x80:  # GNU base-256
        return int.from_bytes(field[1:], "big")
    try:
        return int(field.split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        raise Invalid("tar: a size field that is not a number") from None


class _Member:
    """A member's bytes, STEP at a time; drain() passes over whatever was not read."""

    def __init__(self, stream: Stream, size: int) -> None:
        self.stream, self.left = stream, size

    def __iter__(self) -> Iterator[bytes]:
        while self.left:
            data = self.stream.peek(min(STEP, self.left))
            if not data:
                raise Invalid("tar: the file ends inside a member")
            self.stream.skip(len(data), "a member", "tar")
            self.left -= len(data)
            yield data

    def drain(self) -> None:
        self.stream.skip(self.left, "a member", "tar")
        self.left = 0


def _inner_or_self(chunks: Iterator[bytes], where: str, depth: int, inside: Inside) -> Inner:
    """An inner file, or if it is a container itself, what that holds (its own bytes are
    compressed or headers; one that is not valid makes its validator reject the file)."""
    stream = Stream(chunks)
    if is_container(stream.peek(HEAD)):
        yield from inner_files(_chunks(stream), where, depth + 1, inside)
    else:
        yield where.rstrip(":"), _chunks(stream)


def _chunks(stream: Stream) -> Iterator[bytes]:
    while data := stream.peek(STEP):
        stream.skip(len(data), "", "stream")
        yield data


def windows(chunks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) windows of WINDOW bytes (the last may be shorter), each starting
    OVERLAP bytes before the previous one ended; an empty file is one empty window."""
    buf, start, fresh = b"", 0, True
    for chunk in chunks:
        buf, fresh = buf + chunk, fresh or bool(chunk)
        while len(buf) >= WINDOW:
            yield start, buf[:WINDOW]
            start, buf, fresh = start + WINDOW - OVERLAP, buf[WINDOW - OVERLAP :], len(buf) > WINDOW
    if fresh:
        yield start, buf
