"""A member's extended header (pax `x`, GNU long name `L`) and the member header behind
it, pinned to what tarfile and GNU tar write (issue #13).

A reader takes a member's name, size, owner and time from its extended header, so the
fields of the header behind it that a record overrides reach no reader: each must be
what a writer derives from the record. tarfile writes the text ASCII-replaced and cut
to the field, GNU tar its bytes cut (a name to 100 bytes, 99 in `--format=oldgnu`; an
owner name to 31 and a NUL), both an empty ustar prefix, and a number that does not fit
its field as 0 (a time rounded by tarfile, truncated by GNU tar). The extended header's
own fields are the writer's constants: tarfile's mode, owner and time zero, its names
empty; GNU tar's mode 0644, owner 0, a pax header's time the member's, a long name's
owner names those of uid and gid 0 on its machine; device fields empty in both. A pax
header's records come in one writer's order; a member has at most one extended header.

The writer is one an archive (Archive.written_by): the first member whose headers show
tarfile's way or GNU tar's (a pax header's name, a header mtime rounded or truncated, a
text field ASCII-replaced or cut, a ustar path split at the first slash that fits or the
last, a long name's header or its name cut to 99) pins it, and a later member written
the other's way is refused (session 39, attack p content: each member choosing its
writer was a free bit a member).
"""

from __future__ import annotations

import math
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

from .stream import Invalid
from .writeclock import WriteClock

USTAR, GNU = b"ustar\x0000", b"ustar  \x00"
TARFILE_NAME = b"././@PaxHeader"
LONG_NAME = b"././@LongLink"
# The order each writer gives its records (tarfile: its own after those of a TarInfo's
# pax_headers, which a member read from a GNU tar archive carries in GNU tar's order).
ORDERS = (
    ("path", "linkpath", "uname", "gname", "uid", "gid", "size", "mtime"),
    ("path", "uid", "gid", "size", "mtime", "atime", "ctime", "uname", "gname"),
)
# GNU tar names a long name's owner by uid and gid 0 on its machine: root, or nothing
# where it has no name; gid 0 is wheel on BSD and macOS.
ROOT_NAMES = {"uname": (b"root", b""), "gname": (b"root", b"wheel", b"")}
_FIELDS = {"name": (0, 100), "uid": (108, 116), "gid": (116, 124), "size": (124, 136), "mtime": (136, 148)}
_FIELDS |= {"mode": (100, 108), "uname": (265, 297), "gname": (297, 329), "devices": (329, 345)}
_FIELDS |= {"magic": (257, 265), "prefix": (345, 500)}
_NO_DEVICES, _EMPTY = b"\0" * 16, b"\0" * 32
TARFILE, GNU_TAR = "tarfile", "GNU tar"
BOTH = frozenset({TARFILE, GNU_TAR})


@dataclass
class Archive:
    """What the GNU tar pax headers of one archive share. The writing process's uid and
    gid and how it spells empty device fields (GNU tar 1.26 writes its own uid and gid,
    later ones 0): alike in every header. A time other than the member's: the archive's
    clock (GNU tar 1.26: when it writes each header; `--clamp-mtime`: the `--mtime`
    value), never earlier than the header before, all within a span the members' bytes
    bound, the first no later than the vet's clock and a day."""

    owner: bytes | None = None
    clock: WriteClock = field(default_factory=WriteClock)
    # The magic and device fields of the members' own headers, and of extended headers:
    # a writer spells each one way for a whole archive (session 39, attack o content:
    # empty device fields in one member and zeros in the next, a GNU header then a ustar
    # one, each a free bit a member).
    spellings: dict[bool, bytes] = field(default_factory=dict)
    # tarfile or GNU tar, once a member showed which (written_by)
    writer: str | None = None
    # what a writer writes alike in every header of one kind (kept: one_way)
    ways: dict[str, bytes] = field(default_factory=dict)

    def one_way(self, what: str, way: bytes, member: tarfile.TarInfo) -> None:
        if self.ways.setdefault(what, way) != way:
            raise Invalid(
                f"tar: {member.name!r}'s {what} is not written as the archive's first (tarfile and GNU tar "
                "write one way an archive)"
            )

    def written_by(self, writers: Iterable[str], what: str, member: tarfile.TarInfo) -> None:
        """`writers`: those that write `what` of the member as it is (both: it shows neither
        way). The first member that shows one writer's way pins it for the archive."""
        writers = frozenset(writers)
        if not writers:
            raise Invalid(
                f"tar: {member.name!r}'s {what} is written neither as tarfile nor as GNU tar writes it"
            )
        if self.writer is not None and self.writer not in writers:
            raise Invalid(
                f"tar: {member.name!r}'s {what} is written as {min(writers)} writes it, an earlier member or "
                f"header as {self.writer} does (tarfile and GNU tar write one way an archive)"
            )
        if len(writers) == 1:
            (self.writer,) = writers

    def spelled(self, block: bytes, extended: bool, member: tarfile.TarInfo) -> None:
        spelling = block[257:265] + block[329:345]
        if self.spellings.setdefault(extended, spelling) != spelling:
            raise Invalid(
                f"tar: {member.name!r}'s header has another format (magic) or device fields than the "
                "archive's first (tarfile and GNU tar write one format an archive, device fields alike)"
            )

    def gnu_header(self, block: bytes, behind: bytes, member: tarfile.TarInfo) -> None:
        owner = block[108:124] + block[329:345]
        self.owner = owner if self.owner is None else self.owner
        if owner != self.owner:
            raise Invalid(
                f"tar: {member.name!r}'s pax header has another uid, gid or device fields than the archive's "
                "first (GNU tar writes its process's in every one)"
            )
        mtime = int(_field(block, "mtime")[:-1], 8)
        if mtime != int(_field(behind, "mtime")[:-1], 8) and (why := self.clock.broken(mtime)):
            raise Invalid(
                f"tar: {member.name!r}'s pax header has mtime {mtime}, neither the member's nor the "
                f"archive's clock ({why}): GNU tar writes one of them"
            )

    def wrote(self, size: int) -> None:
        self.clock.written += size


def _field(block: bytes, name: str) -> bytes:
    start, end = _FIELDS[name]
    return block[start:end]


def _octal(value: int, width: int) -> bytes:
    """A number as both writers write it in a field of `width` bytes: octal digits and a
    NUL, 0 when it does not fit (the record holds it)."""
    digits = width - 1
    return b"%0*o\0" % (digits, value if 0 <= value < 8**digits else 0)


def _padded(value: bytes, width: int) -> bytes:
    return value[:width].ljust(width, b"\0")


def _ascii(value: bytes) -> bytes:
    """tarfile's ustar copy of a pax text: each character not ASCII a '?'."""
    return value.decode("utf-8", "surrogateescape").encode("ascii", "replace")


def _own_fields(block: bytes, want: dict[str, set[bytes]], what: str, member: tarfile.TarInfo) -> None:
    """`want`: each field's values the writers write."""
    wrong = [name for name, values in want.items() if _field(block, name) not in values]
    if wrong:
        raise Invalid(
            f"tar: {member.name!r}'s {what} header holds in its {', '.join(wrong)} not what tarfile or "
            "GNU tar write there (fields no reader lists)"
        )


# tarfile's extended headers (pax and long name): mode, owner and time zero
_TARFILE_OWN = {
    "mode": {_octal(0, 8)},
    "uid": {_octal(0, 8)},
    "gid": {_octal(0, 8)},
    "mtime": {_octal(0, 12)},
    "devices": {_NO_DEVICES},
}


def pax_allowed(
    block: bytes, records: dict[str, bytes], behind: bytes, member: tarfile.TarInfo, archive: Archive
) -> None:
    """A pax header's own fields and records, and the fields of `behind` they override."""
    own = {"uname": {_EMPTY}, "gname": {_EMPTY}, "magic": {USTAR}}
    if _field(block, "name").rstrip(b"\0") == TARFILE_NAME:
        own |= _TARFILE_OWN
        archive.written_by({TARFILE}, "pax header (its name)", member)
    else:  # GNU tar's: its time, owner and device fields are the archive's (Archive)
        own |= {"mode": {_octal(0o644, 8)}}
        archive.written_by({GNU_TAR}, "pax header (its name)", member)
        archive.gnu_header(block, behind, member)
    _own_fields(block, own, "pax", member)
    _own_fields(behind, {"magic": {USTAR}}, "member's own", member)
    _records_behind(records, behind, member, archive)


def _records_behind(
    records: dict[str, bytes], behind: bytes, member: tarfile.TarInfo, archive: Archive
) -> None:
    """The records in one writer's order; each field of `behind` one overrides derived from it."""
    keys = list(records)
    if not any(_in_order(keys, order) for order in ORDERS):
        raise Invalid(
            f"tar: {member.name!r}'s pax records {', '.join(keys)} are in an order neither tarfile "
            f"({', '.join(ORDERS[0])}) nor GNU tar ({', '.join(ORDERS[1])}) writes"
        )
    writers = {
        key: {
            who
            for who, spelled in _WRITTEN[key](value).items()
            if _field(behind, _FIELD_OF.get(key, key)) == spelled
        }
        for key, value in records.items()
        if key in _WRITTEN
    }
    wrong = [key for key, who in writers.items() if not who]
    if "path" in records and _field(behind, "prefix").strip(b"\0"):
        wrong.append("path (the prefix)")
    if wrong:
        raise Invalid(
            f"tar: the ustar field behind {member.name!r}'s pax record {', '.join(wrong)} is not what "
            "tarfile or GNU tar write there (the record's value, ASCII-replaced or cut; 0 for a number "
            "that does not fit): readers show the record, never the field"
        )
    for key, who in writers.items():
        archive.written_by(who, f"{_FIELD_OF.get(key, key)} field behind its pax {key} record", member)


_FIELD_OF = {"path": "name"}


def _time(value: bytes) -> dict[str, bytes]:
    return {who: _octal(t, 12) for who, t in _seconds(value).items()}


def _both(spelled: bytes) -> dict[str, bytes]:
    return dict.fromkeys(BOTH, spelled)


# The bytes of the field a record overrides, as each writer derives them (ustar has no
# atime or ctime field; links are refused).
_WRITTEN = {
    "path": lambda v: {TARFILE: _padded(_ascii(v), 100), GNU_TAR: _padded(v, 100)},
    "uname": lambda v: {TARFILE: _padded(_ascii(v), 32), GNU_TAR: _padded(v[:31], 32)},
    "gname": lambda v: {TARFILE: _padded(_ascii(v), 32), GNU_TAR: _padded(v[:31], 32)},
    "size": lambda v: _both(_octal(int(v), 12)),
    "uid": lambda v: _both(_octal(int(v), 8)),
    "gid": lambda v: _both(_octal(int(v), 8)),
    "mtime": _time,
}
_DERIVED = {key: (lambda v, f=f: set(f(v).values())) for key, f in _WRITTEN.items()}


def _seconds(value: bytes) -> dict[str, int]:
    """tarfile rounds a time to whole seconds, GNU tar truncates it."""
    try:
        exact = Decimal(value.decode("ascii"))
        rounded = round(float(exact)) if math.isfinite(float(exact)) else 0
    except (InvalidOperation, ValueError, OverflowError):
        return {}
    return {TARFILE: rounded, GNU_TAR: int(exact.to_integral_value(rounding=ROUND_FLOOR))}


def _in_order(keys: list[str], order: tuple[str, ...]) -> bool:
    places = [order.index(key) for key in keys if key in order]
    return len(places) == len(keys) and places == sorted(places)


def long_name_allowed(
    block: bytes, name: bytes, behind: bytes, member: tarfile.TarInfo, archive: Archive
) -> None:
    """A GNU long name's own header, and the name field of `behind`: its first 100 bytes
    (tarfile, GNU tar) for a name longer than 100, or its first 99 (GNU tar's oldgnu) for
    one longer than 99; neither writes a long name for a shorter name."""
    own = {"name": {_padded(LONG_NAME, 100)}, "magic": {GNU}, "mtime": {_octal(0, 12)}}
    own |= {"uid": {_octal(0, 8)}, "gid": {_octal(0, 8)}, "devices": {_NO_DEVICES}}
    own |= {"mode": {_octal(0, 8), _octal(0o644, 8)}}  # tarfile and GNU tar 1.26; GNU tar since
    if _field(block, "uname") == _EMPTY:  # tarfile's, or GNU tar's where uid 0 has no name
        own |= {"gname": {_EMPTY}}
    else:
        own |= {key: {_padded(n, 32) for n in names} for key, names in ROOT_NAMES.items()}
    _own_fields(block, own, "long name", member)
    _own_fields(behind, {"magic": {GNU}}, "member's own", member)
    widths = {(TARFILE, 100), (GNU_TAR, 100), (GNU_TAR, 99)}
    writers = {
        who
        for who, width in widths
        if len(name) > width and _field(behind, "name") == _padded(name[:width], 100)
    }
    if not writers:
        raise Invalid(
            f"tar: the name field behind {member.name!r}'s long name is not its first 100 (or 99) bytes, "
            "as tarfile and GNU tar write it, or the name is one they write without a long name: readers "
            "show the long name, never the field"
        )
    gnu_own = _field(block, "uname") != _EMPTY or _field(block, "mode") != _octal(0, 8)
    # its own fields but the size and checksum, and the width of the cut (gnu or oldgnu):
    # alike in every long name of an archive (GNU tar 1.26's mode 0 or later ones' 0644)
    cut = b"99" if _field(behind, "name") == _padded(name[:99], 100) else b"100"
    archive.one_way(
        "long name header (its mode, owner, the name cut)",
        block[100:124] + block[136:148] + block[156:] + cut,
        member,
    )
    archive.written_by({GNU_TAR} if gnu_own else BOTH, "long name header (its owner names, mode)", member)
    archive.written_by(writers, "name field behind its long name", member)


def split_allowed(own: bytes, extended: bool, member: tarfile.TarInfo, archive: Archive) -> None:
    """A ustar header's prefix: a path longer than 100 bytes split as its writer splits it.
    tarfile (TarFile._posix_split_name) at the first slash that leaves a name of at most
    100 bytes, GNU tar (split_long_name) at the last slash in the first 156 bytes but a
    trailing one; neither splits a shorter path or one it writes a pax path record for
    (session 39, attack p content: a split at a middle slash, which readers join alike,
    was a choice no writer makes)."""
    prefix = own[345:500].partition(b"\0")[0]
    if not prefix or own[257:265] != USTAR:
        return
    path = prefix + b"/" + own[:100].partition(b"\0")[0]
    splits = {TARFILE: _tarfile_split(path), GNU_TAR: _gnu_split(path)}
    writers = {who for who, split in splits.items() if split == prefix and len(path) > 100 and not extended}
    archive.written_by(writers, f"path split into prefix and name at byte {len(prefix)}", member)


def _tarfile_split(path: bytes) -> bytes | None:
    parts = path.split(b"/")
    for i in range(1, len(parts)):
        prefix, name = b"/".join(parts[:i]), b"/".join(parts[i:])
        if len(prefix) <= 155 and len(name) <= 100:
            return prefix
    return None


def _gnu_split(path: bytes) -> bytes | None:
    end = 156 if len(path) > 156 else len(path) - path.endswith(b"/")
    at = max(path.rfind(b"/", 1, end), 0)
    return path[:at] if at and 0 < len(path) - at - 1 <= 100 else None
