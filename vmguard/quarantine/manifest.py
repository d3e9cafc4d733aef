"""A published job's manifest, as a rerun reads it (rerun.py), one value at a time.

At 100,000 files the manifest is ~30 MB on one line; json.loads of it built ~93 MB of
dicts and lists, which took a rerun's peak RSS to 183 MiB against a first vet's 110.
Read here, nothing of its two long lists is kept: read() parses the file through and
notes where "entries" and "walked" start; after its walk the rerun reads the walked
rows again from there, one at a time, and compares each (rerun.check_contents); then,
the walk gone, the entries, each made an Entry as it comes (the result holds those).
The format is the one report.manifest writes, unchanged; any JSON json.loads reads the
same way is read (whitespace, key order, a key given twice: the last one counts)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from vmguard.core.errors import VetInputError
from vmguard.core.jsonstream import JsonStream
from vmguard.core.regular import open_regular
from vmguard.quarantine.model import Entry, Kind, Verdict

LISTS = ("entries", "walked")  # read one item at a time, after the walk


@dataclass(frozen=True)
class Manifest:
    """`fields`: every key but "entries" and "walked"; `entries_at`, `walked_at`: the
    byte offsets in `file` of those lists (None: there is none; an earlier vmguard's
    manifest has no "walked"). The caller closes `file` (it is a context manager)."""

    fields: dict[str, object]
    entries_at: int | None
    walked_at: int | None
    file: BinaryIO

    def entries(self) -> Iterator[Entry]:
        """The "entries", one at a time (read again from the file). Raises ValueError,
        TypeError, KeyError or AttributeError if one is no vet's entry."""
        return map(Entry.from_dict, self._items(self.entries_at) or ())

    def published_files(self) -> Iterator[tuple[object, object]]:
        """(path, sha256) of each accepted file of "entries", one at a time, as its row
        holds them (no Entry made: a rerun reads them again while its walk is kept; a
        row that is no entry is skipped here, and refused by entries()). Raises
        ValueError if the file no longer parses."""
        published = (Verdict.ACCEPTED, Kind.FILE)
        for row in self._items(self.entries_at) or ():
            if isinstance(row, dict) and (row.get("verdict"), row.get("kind")) == published:
                yield row.get("path"), row.get("sha256")

    def walked(self) -> Iterator[object] | None:
        """The "walked" rows, one at a time (read again from the file), or None.
        Raises ValueError if the file no longer parses."""
        return self._items(self.walked_at)

    def _items(self, offset: int | None) -> Iterator[object] | None:
        return None if offset is None else JsonStream(self.file, offset).items()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def published(public_fd: int, public: str, name: str, job: str) -> Manifest | None:
    """The manifest `name` in the public directory `public_fd` (`public`, as shown), of
    job `job`, open; None if there is none. Raises VetInputError for another file."""
    try:
        fd = open_regular(name, os.O_RDONLY, dir_fd=public_fd)
    except FileNotFoundError:
        return None
    except OSError as err:  # a symlink (ELOOP), a directory, a FIFO (not a regular file)
        raise _not_ours(public, name, "is not a vmguard manifest") from err
    file = os.fdopen(fd, "rb")
    try:
        found = read(file)
    except (OSError, ValueError) as err:
        file.close()
        raise _not_ours(public, name, "is not a vmguard manifest") from err
    if found.fields.get("job") != job:
        file.close()
        raise _not_ours(public, name, "belongs to another job")
    return found


def _not_ours(public: str, name: str, what: str) -> VetInputError:
    return VetInputError(f"{public}/{name}: already exists and {what}; never overwritten")


def read(file: BinaryIO) -> Manifest:
    """The manifest in `file` (left open): its fields, and where its lists are, which
    are only parsed here. Raises ValueError for a file that is no JSON object."""
    stream = JsonStream(file)
    fields: dict[str, object] = {}
    lists: dict[str, int] = {}
    for key in stream.members():
        fields.pop(key, None)  # a key given again: its last value counts
        lists.pop(key, None)
        if key in LISTS and stream.peek() == "[":
            lists[key] = stream.offset
            for _ in stream.items():
                pass
        elif key == "entries":
            raise ValueError(f"its entries are no list (byte {stream.offset})")
        else:
            fields[key] = stream.value()
    stream.end()
    return Manifest(fields, lists.get("entries"), lists.get("walked"), file)
