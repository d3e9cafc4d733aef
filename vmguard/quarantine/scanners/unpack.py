"""What a content scanner must also see inside a file: gzip's inflated stream and each
member of a tar (also nested, up to MAX_DEPTH containers deep), as byte windows.

A secret compressed into a gzip (an allowed type in the lab's batch policy) is not in the
file's own bytes. The yara engine scans each inner file here as a file of its own, in
windows of WINDOW bytes that overlap by OVERLAP, so that a match up to OVERLAP bytes long
is never cut in two, and rules about a file's start (a keytab's header) see the inner
file's first bytes in its first window. Inflation and tar reading are the validators' own
(vmguard.quarantine.validators.containers): the same bomb bound, the same stream reader.
A container that is not valid stops the inner scan; its validator rejects the file.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator

from vmguard.display import shown
from vmguard.quarantine.validators.containers import GZIP_MAGIC, STEP, _inflate, _Reader
from vmguard.quarantine.validators.stream import Invalid, Stream

WINDOW = 16 << 20
OVERLAP = 64 << 10  # longer than any match of the shipped rules
MAX_DEPTH = 3  # containers inside containers, as the validators allow
TAR_MAGIC_AT, TAR_MAGICS = 257, (b"ustar\x0000", b"ustar  \x00")
HEAD = TAR_MAGIC_AT + 8  # enough of a file to tell whether it is a container
Inner = Iterator[tuple[str, Iterator[bytes]]]  # (where: "gzip:tar:NAME", the inner file's chunks)


def is_container(head: bytes) -> bool:
    return head.startswith(GZIP_MAGIC) or head[TAR_MAGIC_AT:TAR_MAGIC_AT + 8] in TAR_MAGICS


def inner_files(chunks: Iterator[bytes], where: str = "", depth: int = 0) -> Inner:
    """(where, its chunks) for each file inside the container read from `chunks`."""
    stream = Stream(chunks)
    head = stream.peek(HEAD)
    if depth >= MAX_DEPTH or not is_container(head):
        return
    try:
        if head.startswith(GZIP_MAGIC):
            yield from _inner_or_self(_inflate(stream), f"{where}gzip:", depth)
            return
        with tarfile.open(fileobj=_Reader(stream), mode="r|") as archive:
            while (member := archive.next()) is not None:
                archive.members.clear()
                if member.isreg():
                    fh = archive.extractfile(member)
                    chunks = iter(lambda fh=fh: fh.read(STEP), b"")
                    yield from _inner_or_self(chunks, f"{where}tar:{shown(member.name[:200])}:", depth)
    except (Invalid, tarfile.TarError, EOFError):
        return  # not valid: its validator rejects the file


def _inner_or_self(chunks: Iterator[bytes], where: str, depth: int) -> Inner:
    """An inner file, or if it is a container itself, what that holds (its own bytes are
    compressed or headers; one that is not valid makes its validator reject the file)."""
    stream = Stream(chunks)
    if is_container(stream.peek(HEAD)):
        yield from inner_files(_chunks(stream), where, depth + 1)
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
            start, buf, fresh = start + WINDOW - OVERLAP, buf[WINDOW - OVERLAP:], len(buf) > WINDOW
    if fresh:
        yield start, buf
