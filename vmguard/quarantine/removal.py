"""--remove-promoted: delete from quarantine exactly the files that were published.

Only after the promotion is committed, and only a file that is still exactly what was
copied: the same inode, size, mtime and ctime as the copy saw while reading it (the copy
refuses a file whose ctime moved while it read). A guest can put back a file's size and
mtime (utimensat) after rewriting it, never its ctime; but a store through a shared
mapping moves neither, and timestamps are coarse: so the file is also read again and
must hash to the published sha256. A file rewritten since its copy is left alone (and
named in the report: its new bytes were never published). A file
that could not be removed (an immutable file, an append-only directory) is named with
its reason, and the vet exits 3: a job runner never takes the quarantine as cleared.
Directories are removed only when empty, deepest first.

What the removal needs (each published file's identity at its copy, and the identities
of the directories on its way) is recorded with the commit (`record`), in vmguard's
private staging directory, until the removal is done: a vet killed after its renames
leaves it for the rerun, which removes with the same checks (`from_record`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass

from vmguard.core.errors import os_reason
from vmguard.quarantine import hooks
from vmguard.quarantine.model import Kind
from vmguard.quarantine.opening import Opener, Refused
from vmguard.quarantine.walk import Node


@dataclass(frozen=True, slots=True)
class Identity:
    """What a file was when its bytes were copied; the ctime is the part no guest sets."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Identity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    @classmethod
    def of_node(cls, node: Node) -> Identity:
        """A copied file's: the copy refuses a file that is not what the walk saw."""
        return cls(node.dev, node.ino, node.size, node.mtime_ns, node.ctime_ns)


@dataclass(frozen=True, slots=True)
class Kept:
    """A published file --remove-promoted left in the quarantine, and why."""

    path: str
    reason: str
    changed: bool  # rewritten since its copy: kept on purpose; else removing it failed


def _open_dir(opener: Opener, root_fd: int, parts: tuple[str, ...], dirs: dict[tuple[str, ...], Node]) -> int:
    fd = os.dup(root_fd)
    for depth in range(1, len(parts) + 1):
        seen = dirs[parts[:depth]]
        try:
            child = opener.open_dir(parts[depth - 1], fd, seen.dev, seen.ino)
        finally:
            os.close(fd)
        fd = child
    return fd


CHANGED = "changed since its copy (its new bytes were never published); kept"
REWRITTEN = (
    "its bytes are not the published ones, its times unchanged (rewritten in place, "
    "as through a shared mapping): never published; kept"
)
_CHUNK = 1 << 20


def _remove_file(opener: Opener, dir_fd: int, name: str, copied: Identity, sha256: str | None) -> str | None:
    """Unlink name if it is still what was copied, bytes and all; else (or if unlink
    fails) say why. Opened only if it is still the copied inode (never a device or
    FIFO put in its place, never through a symlink)."""
    try:
        fd, _ = opener.open_checked(name, dir_fd, Kind.FILE, copied.dev, copied.ino)
    except Refused as refused:
        if isinstance(refused.__cause__, FileNotFoundError):
            return None  # the guest removed it: nothing of it is left
        return CHANGED
    try:
        return _unlink_if_published(dir_fd, name, fd, copied, sha256)
    finally:
        os.close(fd)


def _still_published(fd: int, copied: Identity, sha256: str | None) -> str | None:
    """Timestamps cannot prove the bytes unchanged (a store through a shared mapping after
    the copy moves neither mtime nor ctime): they are read again from `fd` (the page
    cache, mostly) and must hash to the published sha256, the identity unchanged across
    the read. None if so; else CHANGED or REWRITTEN."""
    if Identity.of(os.fstat(fd)) != copied:
        return CHANGED
    if _sha256(fd, copied.size) != sha256:
        return REWRITTEN
    return CHANGED if Identity.of(os.fstat(fd)) != copied else None


def _unlink_if_published(dir_fd: int, name: str, fd: int, copied: Identity, sha256: str | None) -> str | None:
    """Unlink `name` if `fd` is still published (_still_published) and the name still
    `fd`'s inode when it is unlinked."""
    if (why := _still_published(fd, copied, sha256)) is not None:
        return why
    st = os.fstat(fd)
    try:
        now = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return CHANGED  # replaced by another inode while it was read
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"could not be removed: {err.strerror}"
    return None


def _sha256(fd: int, size: int) -> str:
    """The bytes from fd's offset to its end, hashed: a buffer no larger than a file of
    `size` needs (zeroing 1 MiB for a 100-byte file costs more than its hash)."""
    digest = hashlib.sha256()
    buffer = bytearray(min(_CHUNK, size + 1))
    view = memoryview(buffer)
    while count := os.readv(fd, [buffer]):
        digest.update(view[:count])
    return digest.hexdigest()


def _remove(
    opener: Opener, root_fd: int, node: Node, dirs: dict, copied: Identity, sha256: str | None
) -> str | None:
    try:
        fd = _open_dir(opener, root_fd, node.parts[:-1], dirs)
    except Refused as refused:
        if isinstance(refused.__cause__, FileNotFoundError):
            return None  # its directory is gone, and the file with it (as in _remove_file)
        return f"could not be removed: its directory changed since the walk ({refused.detail})"
    except OSError as err:
        return f"could not be removed: its directory could not be opened ({err.strerror})"
    try:
        return _remove_file(opener, fd, node.parts[-1], copied, sha256)
    finally:
        os.close(fd)


class Rereader:
    """Reads the walk's files again: why one no longer holds the published bytes
    (CHANGED, REWRITTEN, or that it could not be read), or None: it does, or it is gone
    (which hides nothing). Opened as the removal opens it (its way from the root by the
    walked directories' identities, then only as the walked inode); the last directory
    is kept open, as a rerun asks in the manifest's order, a directory's files together.
    What a rerun asks of every published file before it says already-promoted."""

    def __init__(self, opener: Opener, root_fd: int, nodes: tuple[Node, ...]) -> None:
        self.opener, self.root_fd, self.dirs = opener, root_fd, directories(nodes)
        self.way: tuple[str, ...] | None = None
        self.way_fd = -1

    def __enter__(self) -> Rereader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._leave()

    def check(self, node: Node, sha256: str | None) -> str | None:
        """`node`: a copied file's identity (the rerun found it as the manifest records it)."""
        try:
            fd, _ = self.opener.open_checked(
                node.parts[-1], self._way(node.parts[:-1]), Kind.FILE, node.dev, node.ino
            )
            try:
                return _still_published(fd, Identity.of_node(node), sha256)
            finally:
                os.close(fd)
        except Refused as refused:
            return None if isinstance(refused.__cause__, FileNotFoundError) else CHANGED
        except OSError as err:  # EIO, say: what it holds cannot be told
            return f"could not be read again: {os_reason(err)}"

    def _way(self, parts: tuple[str, ...]) -> int:
        if parts != self.way:
            self._leave()
            self.way_fd = _open_dir(self.opener, self.root_fd, parts, self.dirs)
            self.way = parts
        return self.way_fd

    def _leave(self) -> None:
        if self.way_fd >= 0:
            os.close(self.way_fd)
        self.way, self.way_fd = None, -1


def remove_files(
    opener: Opener,
    root_fd: int,
    nodes: tuple[Node, ...],
    published: dict[str, Identity],
    digests: dict[str, str | None],
) -> tuple[Kept, ...]:
    """Unlink the published files (by path joined with "/", as copied) whose bytes
    still hash to their published sha256 (`digests`, the manifest's); return those left
    in the quarantine with why. Directories stay (remove_empty_dirs), so a vet killed
    here leaves every directory its record names."""
    dirs = directories(nodes)
    kept = []
    for node in nodes:
        path = "/".join(node.parts)
        if node.kind is Kind.FILE and path in published:
            hooks.reach("remove", node.parts)
            why = _remove(opener, root_fd, node, dirs, published[path], digests.get(path))
            if why is not None:
                kept.append(Kept(path, why, why in (CHANGED, REWRITTEN)))
    return tuple(kept)


def remove_empty_dirs(opener: Opener, root_fd: int, nodes: tuple[Node, ...]) -> None:
    """Remove the directories left empty, deepest first; leave any other (a rejected or
    kept file in it, replaced, or gone)."""
    dirs = directories(nodes)
    for parts in sorted(dirs, key=len, reverse=True):
        try:
            fd = _open_dir(opener, root_fd, parts[:-1], dirs)
        except (OSError, Refused):
            continue
        try:
            with contextlib.suppress(OSError):
                os.rmdir(parts[-1], dir_fd=fd)
        finally:
            os.close(fd)


def directories(nodes: tuple[Node, ...]) -> dict[tuple[str, ...], Node]:
    """The walk's directories by their parts: how a file's way is opened again."""
    return {n.parts: n for n in nodes if n.kind is Kind.DIRECTORY}


RECORD_VERSION = 1


def record(nodes: tuple[Node, ...], published: dict[str, Identity], origin: dict[str, object]) -> bytes:
    """What a later vet needs to remove `published` from the quarantine `origin`."""
    dirs = [[list(n.parts), n.dev, n.ino] for n in nodes if n.kind is Kind.DIRECTORY]
    files = []
    for node in nodes:
        c = published.get("/".join(node.parts)) if node.kind is Kind.FILE else None
        if c is not None:
            files.append([list(node.parts), c.dev, c.ino, c.size, c.mtime_ns, c.ctime_ns])
    doc = {"version": RECORD_VERSION, "source": origin, "dirs": dirs, "files": files}
    return json.dumps(doc, ensure_ascii=True).encode()


def from_record(data: bytes) -> tuple[dict[str, object], tuple[Node, ...], dict[str, Identity]]:
    """The quarantine, the nodes (directories before their files) and the identities
    a record holds; ValueError if it is not one."""
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("version") != RECORD_VERSION:
        raise ValueError("not a vmguard removal record")
    nodes = [Node(tuple(parts), Kind.DIRECTORY, dev, ino, 0, 0, 0) for parts, dev, ino in doc["dirs"]]
    published = {}
    for parts, dev, ino, size, mtime_ns, ctime_ns in doc["files"]:
        nodes.append(Node(tuple(parts), Kind.FILE, dev, ino, size, mtime_ns, ctime_ns))
        published["/".join(parts)] = Identity(dev, ino, size, mtime_ns, ctime_ns)
    return doc["source"], tuple(nodes), published
