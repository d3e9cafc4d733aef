"""Is a host path under a root? The one answer the policy checks, the audit and so the
plan (which is built from the audit's rules) share.

Component-wise on normalised POSIX paths: /home/x is under /home, /homework is not, and
everything is under /. Symlinks are the caller's to resolve (a share's real_path is
resolved by its driver); `forms` gives both spellings of a path to compare.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable


def is_under(path: str, root: str) -> bool:
    """path is root, or lies below it."""
    path, root = posixpath.normpath(path), posixpath.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def overlaps(path: str, root: str) -> bool:
    """Either holds the other: a share of / contains a forbidden root as much as
    /home/x lies in one."""
    return is_under(path, root) or is_under(root, path)


def forms(paths: Iterable[str]) -> tuple[str, ...]:
    """Each absolute path as written and with its symlinks resolved on this host."""
    found = [posixpath.normpath(p) for p in paths if p]
    found += [os.path.realpath(p) for p in found if posixpath.isabs(p)]
    return tuple(dict.fromkeys(found))
