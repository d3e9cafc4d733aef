"""gzip and tar: formats that hold other files, each inner file vetted by the same rules.

gzip is inflated as it streams, every member to its end (CRC and length checked by
zlib), with nothing after the last member; the inflated bytes are a file of their own,
typed and validated like any other. Inflation stops as soon as the output outgrows
RATIO times the input read so far (plus FLOOR, so a mostly-zero mask of a few hundred
MiB still passes): a bomb is refused after a few hundred MiB of work, in bounded memory
(one STEP of output at a time). A member's header may not carry an extra field (FEXTRA):
nothing reads or checks those bytes, so they could hold any payload. A tar (read as a stream)
may hold only regular files and directories with relative names that stay inside it;
each file is vetted as a file, and after the end-of-archive marker only zeros follow.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable, Iterator

from .stream import Invalid, Stream

Parts = list[tuple[str, str | None]]  # (MIME type, validator) of the file and what it holds
RATIO = 200  # a real gzip of text or data inflates 3-20 times; deflate's maximum is ~1030
FLOOR = 256 << 20
STEP = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
FEXTRA = 0x04  # RFC 1952 FLG bit: XLEN bytes of free-form data after the header
MAX_MEMBERS = 10_000  # files and directories in one archive (tar, zip)


def gzip(stream: Stream, inner: Callable[[Stream], Parts]) -> Parts:
    inflated = Stream(_inflate(stream))
    parts = inner(inflated)
    for _ in inflated.chunks():  # to the end: the last CRC, and nothing after
        pass
    return [("application/gzip", "gzip"), *parts]


def _inflate(stream: Stream) -> Iterator[bytes]:
    d, carry, inflated, head = zlib.decompressobj(31), b"", 0, b""
    for chunk in stream.chunks():
        data = carry + bytes(chunk)
        carry = b""
        while data:
            head = _member_head(head, data)
            if d.eof:
                if len(data) < len(GZIP_MAGIC):
                    carry = data
                    break
                if not data.startswith(GZIP_MAGIC):
                    raise Invalid(f"gzip: bytes after the last member (offset {stream.pos - len(data)})")
                d, head = zlib.decompressobj(31), _member_head(b"", data)
            try:
                out = d.decompress(data, STEP)
            except zlib.error as err:
                raise Invalid(f"gzip: not a valid deflate stream ({err})") from None
            data = d.unused_data if d.eof else d.unconsumed_tail
            inflated += len(out)
            if inflated > RATIO * (stream.pos - len(data)) + FLOOR:
                raise Invalid(f"gzip: inflates more than {RATIO} times (a compression bomb)")
            yield out
    if not d.eof or carry:
        raise Invalid("gzip: the file ends inside a member")


def _member_head(head: bytes, data: bytes) -> bytes:
    """A member's first 4 bytes, gathered across chunks; refused once its FLG says FEXTRA."""
    if len(head) >= 4:
        return head
    head += data[: 4 - len(head)]
    if len(head) >= 4 and head[3] & FEXTRA:
        raise Invalid("gzip: a member header carries an extra field (FEXTRA), bytes nothing checks")
    return head


class _Reader:
    """The file object tarfile's stream mode reads from."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        data = self.stream.peek(size if size >= 0 else 1 << 30)
        self.stream.skip(len(data), "", "tar")
        return data


def tar(stream: Stream, inner: Callable[[Stream], Parts]) -> Parts:
    parts: Parts = [("application/x-tar", "tar")]
    count = 0
    try:
        with tarfile.open(fileobj=_Reader(stream), mode="r|") as archive:
            while (member := archive.next()) is not None:
                archive.members.clear()  # one member at a time, however many there are
                count += 1
                if count > MAX_MEMBERS:
                    raise Invalid(f"tar: more than {MAX_MEMBERS} members")
                _member_allowed(member)
                if member.isreg():
                    fh = archive.extractfile(member)
                    inside = inner(Stream(iter(lambda fh=fh: fh.read(STEP), b"")))
                    parts += [part for part in inside if part not in parts]
            rest = archive.fileobj.buf  # read ahead by tarfile's stream, past the end marker
    except (tarfile.TarError, EOFError) as err:
        raise Invalid(f"tar: not a valid tar stream ({err})") from None
    if rest.strip(b"\0") or any(bytes(c).strip(b"\0") for c in stream.chunks()):
        raise Invalid("tar: bytes other than zeros after the end-of-archive marker")
    return parts


def _member_allowed(member: tarfile.TarInfo) -> None:
    if not (member.isreg() or member.isdir()):
        raise Invalid(f"tar: member {member.name!r} is a link or special file")
    name = member.name
    member_allowed_name(name, "tar")
    if member.mode & (0o7111 if member.isreg() else 0o7000):
        raise Invalid(f"tar: member {name!r} is executable or set-id")


def member_allowed_name(name: str, fmt: str) -> None:
    """An archive member's name stays inside the directory it is unpacked in."""
    if name.startswith("/") or ".." in name.split("/") or "\\" in name or "\0" in name or not name:
        raise Invalid(f"{fmt}: member name {name!r} leaves the archive's directory")
