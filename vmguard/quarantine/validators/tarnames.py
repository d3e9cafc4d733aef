"""How a tar member is named by the readers vmguard answers for (issue #13): Python's
tarfile, whose reading vmguard judges (names.archive_reasons gets it), and GNU tar 1.34,
what `tar x` creates. A member both do not read as one path of one kind is refused:
what vmguard judged is not what is unpacked.

Both take the name from the pax `path` record, else the GNU long name, else the ustar
prefix, '/', and the name field. Then they part:
- a trailing '/': GNU tar strips it and makes a regular member (types '0', '\\0', '7')
  a directory (`had_trailing_slash`), whose data it then reads as the archive's next
  headers; tarfile keeps a type '0' or '7' member a file named `d/` (type '\\0': a
  directory), and strips the slashes of a pax path whatever the type;
- a leading '/': GNU tar strips every one (safer_name_suffix: "Removing leading `/'");
- a '..' component: GNU tar skips the member ("Member name contains '..'");
- a name that is empty once stripped: GNU tar says '.'.
Neither rewrites `./`, `//` or `/.` inside a name: the walk's rules refuse the empty and
dot components those make (names.name_reasons), and the leading '/' and '..' GNU tar
drops: those are left to them (name-empty, name-traversal), the rest refused here.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass

_REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)


@dataclass(frozen=True, slots=True)
class Reading:
    """A member as one reader names it: its path and whether it is a directory."""

    path: bytes
    directory: bool


def written(own: bytes, pax_path: bytes | None, long_name: bytes | None) -> bytes:
    """The name as the headers hold it (`own`: the member's own header block): the pax
    path, else the long name, else the ustar prefix and the name field (GNU tar 1.34's
    read_header and path_decoder: an empty pax path keeps the name before it)."""
    if pax_path:
        return pax_path
    if long_name is not None:
        return long_name
    name = own[:100].partition(b"\0")[0]
    prefix = own[345:500].partition(b"\0")[0] if own[257:265] == b"ustar\x0000" else b""
    return prefix + b"/" + name if prefix else name


def gnu_tar(name: bytes, kind: bytes) -> Reading | None:
    """What GNU tar 1.34 extracts from a member written as `name` of type `kind`; None:
    it skips the member."""
    stripped = name.rstrip(b"/") or name[:1]  # strip_trailing_slashes keeps a root '/'
    directory = kind == tarfile.DIRTYPE or (kind in _REGULAR and stripped != name)
    if b".." in stripped.split(b"/"):
        return None
    return Reading(stripped.lstrip(b"/") or b".", directory)


def tarfile_reading(member: tarfile.TarInfo) -> Reading:
    """The member as tarfile read it (vmguard's worker decodes names as UTF-8 with
    surrogate escapes: these are the header's bytes)."""
    return Reading(member.name.encode("utf-8", "surrogateescape"), member.isdir())


def readings(member: tarfile.TarInfo, name: bytes, kind: bytes) -> dict[str, Reading | None]:
    """Each reader's reading of a member written as `name` of type `kind`."""
    return {"tarfile": tarfile_reading(member), "GNU tar 1.34": gnu_tar(name, kind)}


def disagreement(member: tarfile.TarInfo, name: bytes, kind: bytes) -> str | None:
    """How the readers differ on the member's name or kind, or None when they agree."""
    seen = readings(member, name, kind)
    if len(set(seen.values())) == 1 or _named_by_the_walk(seen["tarfile"].path):
        return None
    return "; ".join(f"{who}: {_shown(r)}" for who, r in seen.items())


def _named_by_the_walk(path: bytes) -> bool:
    """Whether the walk's name rules (names.archive_reasons, in the parent) refuse the path
    tarfile reads under their own, more telling reason: an empty component (a leading
    '/', `a//b`: name-empty) or a '..' (name-traversal). A trailing '/' is not one: the
    parent takes it for a directory's."""
    parts = path.rstrip(b"/").split(b"/")
    return b"" in parts or b".." in parts


def _shown(reading: Reading | None) -> str:
    if reading is None:
        return "skips it"
    return f"{'a directory' if reading.directory else 'a file'} {reading.path!r}"
