"""The Linux calls Python's os module lacks: renameat2, syncfs, sync_file_range."""

from __future__ import annotations

import ctypes
import os

_RENAME_NOREPLACE = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def rename_noreplace(src_dir: int, src: str, dst_dir: int, dst: str) -> None:
    ret = _libc.renameat2(src_dir, os.fsencode(src), dst_dir, os.fsencode(dst), _RENAME_NOREPLACE)
    _check(ret, f"rename {src} -> {dst}")


def syncfs(fd: int) -> None:
    """One flush of the whole destination filesystem instead of one fsync per file."""
    _check(_libc.syncfs(fd), "syncfs")


_SYNC_FILE_RANGE_WRITE = 2
_libc.sync_file_range.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing a range of a file to disk without waiting, so the disk works while
    the copy goes on and the final syncfs has little left to do. Best effort."""
    _libc.sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)
