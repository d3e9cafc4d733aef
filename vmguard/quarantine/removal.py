"""--remove-promoted: delete from quarantine exactly the files that were published.

Only after the promotion is committed, and only a file that is still the very inode
(same size and mtime) that was copied: a file the guest replaced since is left alone.
Directories are removed only when empty, deepest first.
"""

from __future__ import annotations

import contextlib
import os

from vmguard.quarantine.model import Kind
from vmguard.quarantine.opening import Opener, Refused
from vmguard.quarantine.walk import Node


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


def _remove_file(dir_fd: int, node: Node) -> bool:
    try:
        st = os.stat(node.parts[-1], dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if (st.st_ino, st.st_size, st.st_mtime_ns) != (node.ino, node.size, node.mtime_ns):
        return False
    os.unlink(node.parts[-1], dir_fd=dir_fd)
    return True


def remove_sources(opener: Opener, root_fd: int, nodes: tuple[Node, ...], published: set[str]) -> int:
    """Unlink the published files (paths joined with "/"); return how many."""
    dirs = {n.parts: n for n in nodes if n.kind is Kind.DIRECTORY}
    removed = 0
    for node in nodes:
        if node.kind is Kind.FILE and "/".join(node.parts) in published:
            with contextlib.suppress(OSError, Refused):
                fd = _open_dir(opener, root_fd, node.parts[:-1], dirs)
                try:
                    removed += _remove_file(fd, node)
                finally:
                    os.close(fd)
    for parts in sorted(dirs, key=len, reverse=True):
        with contextlib.suppress(OSError, Refused):  # not empty, or replaced: leave it
            fd = _open_dir(opener, root_fd, parts[:-1], dirs)
            try:
                os.rmdir(parts[-1], dir_fd=fd)
            finally:
                os.close(fd)
    return removed
