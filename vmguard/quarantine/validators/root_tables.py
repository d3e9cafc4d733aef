"""A ROOT file's tables, checked once the walk (root.py) has seen every byte.

The FreeSegments record lists the free space exactly (root_free.py). The top directory
(at fBEGIN) and each subdirectory name their keys list; every record outside the free
segments is a directory, a keys list, FreeSegments, the StreamerInfo (fSeekInfo), a
basket, or listed once in its directory's keys list with a key equal to its own byte for
byte (readers use the list's copy: a record's own key is otherwise free). The header's
fCompress is a setting ROOT stores (_compress); UUIDs are pinned as far as the writer makes
them (root_uuids), each directory's version and fNbytesName to what it writes (_as_written)."""

from __future__ import annotations

import struct

from . import root_free, root_uuids
from .root_model import (
    KEY,
    Header,
    Record,
    RootWalk,
    check_datime,
    key_fields,
    read_string,
    strings_at,
)
from .stream import Invalid

_DIR_SMALL = struct.Struct(">hIIiiiii")  # version, datimes, fNbytesKeys, fNbytesName, 3 seeks
_DIR_LARGE = struct.Struct(">hIIiiqqq")
_DIRECTORY = (b"TDirectory", b"TDirectoryFile")
MAX_ALGORITHM = 5  # ROOT's last compression algorithm (kZSTD; kUndefined is 6)
MAX_DIRECTORIES = 100_000
# TDirectoryFile's class version: 5 from ROOT 5.16 on and uproot, 4 from ROOT 4.00 to 5.15
# (the same 60-byte record: the RHEL5 era's ROOT the lab's legacy jobs may still run).
_DIR_VERSIONS = (4, 5)


def resolve(walk: RootWalk) -> set[int]:
    """The tables' checks; returns the starts of what lies in free space."""
    _compress(walk.header)
    free = root_free.free_items(walk, root_free.free_segments(walk))
    listed = _directories(walk, free)
    free -= listed  # the directories uproot's del left whole, walked as any (_deleted)
    for record in walk.records.values():
        if record.offset not in free and record.offset not in listed:
            raise Invalid(
                f"root: the record at {record.offset} ({record.klass.decode('latin-1')}) is in no "
                "directory's keys list"
            )
    return free


def _compress(header: Header) -> None:
    """fCompress is a setting (the one the next object written would use), not a fact about
    the blocks: ROOT writes objects and each branch's baskets with their own settings, and
    keeps the file's as it was set (0 over zlib blocks, 1 old style, 403...). So it is
    bounded to what ROOT's setters store (TFile::SetCompressionAlgorithm takes 0 (the
    global default) to 5 (ZSTD), SetCompressionLevel clamps to 0..99): 100 x algorithm +
    level, 0 to 599 (uproot's levels, up to 22, are among them)."""
    algorithm, level = divmod(header.compress, 100)
    if header.compress < 0 or algorithm > MAX_ALGORITHM:
        raise Invalid(
            f"root: the header's fCompress {header.compress} is no compression setting ROOT writes "
            f"(100 x algorithm 0-{MAX_ALGORITHM} + level 0-99)"
        )


def _directories(walk: RootWalk, free: set[int]) -> set[int]:
    """Walk the directories from the top one; returns the offsets of the records they
    account for (directories, keys lists, listed records, FreeSegments, StreamerInfo)."""
    h = walk.header
    top = walk.record_at(h.begin, "fBEGIN")
    name, title, at = _named(top)
    if top.klass != b"TFile" or at != h.nbytes_name - len(top.key):
        raise Invalid(f"root: the record at fBEGIN ({h.begin}) is not the file's directory (fNbytesName)")
    listed = {h.begin, h.seek_free}
    last = _last_name(name, walk.records[h.seek_free])
    expected = {
        top: (name, title, b"TFile", 0),
        walk.records[h.seek_free]: (last, title, b"TFile", h.begin),
    }
    info = _streamer_info(walk)
    if info is not None:
        listed.add(info.offset)
        expected[info] = (b"StreamerInfo", b"Doubly linked list", b"TList", h.begin)
    for record, (*strings, parent) in expected.items():
        if record.offset in free or (*_strings(record.key), *key_fields(record.key)[1:]) != (
            *strings,
            parent,
            1,
        ):
            raise Invalid(
                f"root: the key of the record at {record.offset} is not the one ROOT and uproot write "
                "(the file's name and title, the top directory as parent, cycle 1)"
            )
    todo = [(top, at, last, title)]
    for deleted in (False, True):
        todo += _deleted(walk, free, listed) if deleted else []
        walk.unlisted.update(directory.offset for directory, *_ in todo if deleted)
        while todo:
            if len(listed) > MAX_DIRECTORIES * 64:
                raise Invalid("root: too many records in directories")
            directory, at, name, title = todo.pop()
            for sub in _keys_list(walk, free, listed, directory, at, (name, title)):
                sub_name, sub_title, _ = _strings(sub.key)
                todo.append((sub, 0, sub_name, sub_title))
    return listed


def _deleted(walk: RootWalk, free: set[int], listed: set[int]) -> list[tuple[Record, int, bytes, bytes]]:
    """The subdirectories uproot's del left: del frees a directory's record alone, whole,
    and leaves its keys list and what it lists as they were (no longer reached). Each is
    walked as a live one (its fields, keys list and records checked alike) once the live
    directories are: a directory record in free space whose keys list is live and no live
    directory's."""
    out = []
    for record in walk.records.values():
        if record.offset in free and record.klass in _DIRECTORY and record.body is not None:
            try:
                seek_keys = _directory_part(walk.header, record, 0)[0]
            except Invalid:  # no directory's fields: free space's to check (root_remains)
                continue
            if seek_keys not in free and seek_keys not in listed and seek_keys in walk.records:
                listed.add(record.offset)
                out.append((record, 0, *_strings(record.key)[:2]))
    return out


def _last_name(name: bytes, free_segments: Record) -> bytes:
    """The name the FreeSegments record and the top keys list carry: the TFile's name when
    it was last written, the top directory's (the name it was created with), or, after
    ROOT reopened it in UPDATE mode by another path, that path: one that ends in the
    created name's last component (ROOT keeps the path it is given; "C:/.../f.root" for a
    file made as "f.root"). Its directory part is free, as the created name is."""
    last = _strings(free_segments.key)[0]
    base = name.rsplit(b"/", 1)[-1]
    return last if last == name or (base and last.endswith(b"/" + base)) else name


def _streamer_info(walk: RootWalk) -> Record | None:
    """The StreamerInfo record fSeekInfo names, or None where ROOT wrote none: a file no
    object of a class with streamers was written to (only directories, or nothing) has
    fSeekInfo and fNbytesInfo 0 (TFile::WriteStreamerInfo writes no empty list)."""
    h = walk.header
    if h.seek_info == 0 and h.nbytes_info == 0:
        return None
    info = walk.record_at(h.seek_info, "fSeekInfo")
    if info.klass != b"TList" or info.nbytes != h.nbytes_info or not _list_slack(walk, info):
        raise Invalid(
            f"root: the StreamerInfo record at {h.seek_info} is not fNbytesInfo ({h.nbytes_info}) bytes "
            "holding its list"
        )
    return info


def _list_slack(walk: RootWalk, record: Record) -> bool:
    """Whether an uncompressed TList's byte count (with ROOT's kByteCountMask) fits in its
    payload; what follows it (the space uproot reserved) is kept as slack, to hold zeros
    or remains like a keys list's. A compressed one is its blocks."""
    if record.body is None:
        return True
    count = struct.unpack_from(">I", record.body.ljust(4, b"\0"))[0]
    end = (count & ~0x40000000) + 4
    walk.slack[record.offset] = record.body[end:]
    return count & 0x40000000 != 0 and end <= len(record.body)


def _named(record: Record) -> tuple[bytes, bytes, int]:
    """The top directory's TNamed (name, title) and where its TDirectory part starts."""
    body = _body(record)
    name, at = _string(body, 0, record.offset)
    title, at = _string(body, at, record.offset)
    return name, title, at


def _strings(key: bytes) -> tuple[bytes, bytes, bytes]:
    """A key's (name, title, class)."""
    klass, at = _string(key, strings_at(key), 0)
    name, at = _string(key, at, 0)
    title, _ = _string(key, at, 0)
    return name, title, klass


def _string(data: bytes, at: int, offset: int) -> tuple[bytes, int]:
    return read_string(data, at, f"the record at {offset}")


def _body(record: Record) -> bytes:
    if record.body is None:
        raise Invalid(f"root: the directory record at {record.offset} is compressed")
    return record.body


def _keys_list(
    walk: RootWalk, free: set[int], listed: set[int], directory: Record, at: int, names: tuple[bytes, bytes]
) -> list[Record]:
    """A directory's TDirectory part (from `at` in its payload) and its keys list: each
    listed record's own key is the list's copy; returns the subdirectories."""
    seek_keys, nbytes_keys = _directory_part(walk.header, directory, at)
    if seek_keys == nbytes_keys == 0:  # ROOT wrote no keys list for it: an empty directory
        return []
    keys = walk.record_at(seek_keys, f"the keys list of the directory at {directory.offset}")
    name, title, klass = _strings(keys.key)
    if (
        seek_keys in free
        or seek_keys in listed
        or keys.nbytes != nbytes_keys
        or (name, title) != names
        or klass != directory.klass
        or key_fields(keys.key)[1] not in _keys_parents(directory)
        or key_fields(keys.key)[2] != key_fields(directory.key)[2]
    ):
        raise Invalid(
            f"root: the keys list at {seek_keys} is not the one of the directory at {directory.offset}"
        )
    listed.add(seek_keys)
    body, subdirectories, copy = _body(keys), [], b""
    count, at = struct.unpack_from(">i", body.ljust(4, b"\0"))[0], 4
    for _ in range(count):
        copy = _listed_key(body, at, seek_keys)
        record = walk.records.get(key_fields(copy)[0])
        if record is None or not _same_key(record.key, copy) or record.offset in free:
            raise Invalid(f"root: a key in the keys list at {seek_keys} is not the key of a record ({at})")
        if record.offset in listed or key_fields(copy)[1] != directory.offset:
            raise Invalid(f"root: the record at {record.offset} is listed twice or in another directory")
        listed.add(record.offset)
        if record.klass in _DIRECTORY:
            subdirectories.append(record)
        at += len(copy)
    if count < 0:
        raise Invalid(f"root: the keys list at {seek_keys} has {count} keys")
    walk.slack[seek_keys] = body[at:]  # zeros, or what the space held before
    walk.lists[seek_keys] = (directory.offset, copy)
    return subdirectories


def _listed_key(body: bytes, at: int, seek_keys: int) -> bytes:
    """The key at `at` in a keys list's payload, to the end of its title (a reader parses
    it; its KeyLen is the record's own, see _same_key)."""
    head = body[at : at + KEY.size + 16]
    if len(head) < KEY.size + 8 or struct.unpack_from(">h", head, 14)[0] <= KEY.size:
        raise Invalid(f"root: a key in the keys list at {seek_keys} is not the key of a record ({at})")
    end = at + strings_at(head)
    for _ in range(3):
        end = read_string(body, end, f"the keys list at {seek_keys}")[1]
    return body[at:end]


def _same_key(own: bytes, copy: bytes) -> bool:
    """Whether a keys list's copy is the record's own key: byte for byte, or, for a
    directory, with the class TDirectoryFile where its own key says TDirectory and the
    same KeyLen: ROOT before 5.34 lists a key it read back from the file (UPDATE) under
    its in-memory class, 4 bytes longer than the KeyLen it keeps (1 bit a directory)."""
    if own == copy:
        return True
    at = strings_at(own)
    old, new = b"\x0aTDirectory", b"\x0eTDirectoryFile"
    return own[at : at + len(old)] == old and copy == own[:at] + new + own[at + len(old) :]


def _keys_parents(directory: Record) -> tuple[int, ...]:
    """What a keys list's key may give as its directory: the directory itself (ROOT, and
    uproot's top directory) or the directory's parent (uproot's subdirectories)."""
    parent = key_fields(directory.key)[1]
    return (directory.offset, parent) if parent else (directory.offset,)


def _directory_part(header: Header, directory: Record, at: int) -> tuple[int, int]:
    """A TDirectory's fields from `at` to the end of its payload: its own seek, its parent's,
    its UUID, the 12 zeros of the small layout; returns (fSeekKeys, fNbytesKeys)."""
    body = _body(directory)
    wide = struct.unpack_from(">h", body.ljust(at + 2, b"\0"), at)[0] > 1000
    layout = _DIR_LARGE if wide else _DIR_SMALL
    rest = body[at + layout.size :]
    if len(rest) != (18 if wide else 30) or rest[:2] != b"\0\1" or rest[18:].strip(b"\0"):
        raise Invalid(
            f"root: the directory at {directory.offset} is not its fields, a UUID and "
            f"{'' if wide else '12 '}zeros (its reserved bytes)"
        )
    fields = layout.unpack_from(body, at)
    version, created, modified, nbytes_keys, nbytes_name, seek_dir, seek_parent, seek_keys = fields
    for datime in (created, modified):  # fDatimeC, fDatimeM: root_trees dates the file by them
        check_datime(datime, f"the directory at {directory.offset}")
    parent = key_fields(directory.key)[1]
    _as_written(header, directory, (version, nbytes_name, seek_dir, seek_parent, seek_keys), top=parent == 0)
    # uproot and ROOT 6.38+ give a subdirectory's parent; older ROOT the top directory's
    # position (TDirectoryFile::Init: fSeekParent = f->GetSeekDir()): 1 bit a nested one.
    parents = (parent, header.begin) if parent else (0,)
    if seek_dir != directory.offset or seek_parent not in parents:
        raise Invalid(f"root: the directory at {directory.offset} gives another position or parent")
    root_uuids.check(header.uuid, rest[:18], top=parent == 0)
    return seek_keys, nbytes_keys


def _as_written(header: Header, directory: Record, fields: tuple[int, ...], top: bool) -> None:
    """A directory's version and fNbytesName as ROOT and uproot write them (session 40,
    attack q root: any version up to 1000 and any fNbytesName passed, 47 chosen bits a
    directory; uproot reads neither, ROOT's TDirectoryFile::ReadKeys(kTRUE) re-reads the
    fields at fSeekDir + fNbytesName). The version is TDirectoryFile's class version, 5 (4
    before ROOT 5.16), plus 1000 in the large layout (TDirectoryFile::FillBuffer, uproot's DirectoryHeader),
    which both write only where a seek (fSeekDir, fSeekParent, fSeekKeys) needs it: one at
    or past kStartBigFile. fNbytesName is where the fields start in the record: the top
    directory's the header's (its key, name and title: TFile::Init), a subdirectory's its
    key's length (TDirectoryFile::Init: key->GetKeylen(); uproot: the key's num_bytes)."""
    version, nbytes_name, *seeks = fields
    large = version > 1000
    if version - 1000 * large not in _DIR_VERSIONS or (large and max(seeks) < root_free.START_BIG_FILE):
        raise Invalid(
            f"root: the directory at {directory.offset} has version {version}: ROOT and uproot write "
            "5 (ROOT 4.00 to 5.15: 4), plus 1000 (64-bit seeks) where a seek reaches kStartBigFile"
        )
    own, what = (header.nbytes_name, "the header's fNbytesName") if top else (len(directory.key), "KeyLen")
    if nbytes_name != own:
        raise Invalid(
            f"root: the directory at {directory.offset} has fNbytesName {nbytes_name}, not {own}, "
            f"{what}: where its fields start in its record, as ROOT and uproot write it"
        )
