"""The Linux calls Python's os module lacks: renameat2, syncfs, sync_file_range, statx."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
import threading
from typing import NamedTuple

ALIGN = 4096  # what O_DIRECT wants of lengths, offsets and memory (any block size up to 4 KiB)


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


# statx(2): what fstat gives, plus the mount the inode was reached through.
_AT_EMPTY_PATH = 0x1000
_AT_SYMLINK_NOFOLLOW = 0x100
_STATX_BASIC_STATS = 0x7FF
_STATX_MNT_ID = 0x1000
_STATX_ATTR_MOUNT_ROOT = 0x2000
_STATX_SIZE = 256
# struct statx: mask, (blksize), attributes, nlink, uid, gid, mode, ino, size, blocks,
# (attributes_mask, atime, btime), ctime and mtime as (seconds, nanoseconds), (rdev), dev, mnt_id
_STATX = struct.Struct("=I4xQIIIH2xQQQ8x16x16xqI4xqI4x8xIIQ")
_MASK = _STATX_BASIC_STATS | _STATX_MNT_ID
_libc.statx.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_char_p)


class Stat(NamedTuple):
    """fstat's fields that vet uses (same names), and the mount id st_dev cannot give:
    a bind mount inside the quarantine has the same device as the quarantine. A named
    tuple, not a dataclass: one is made per entry, and it is built four times faster."""

    st_mode: int
    st_ino: int
    st_dev: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_size: int
    st_blocks: int
    st_mtime_ns: int
    st_ctime_ns: int
    mount_id: int
    mount_root: bool  # the root of a mount (STATX_ATTR_MOUNT_ROOT)


_buffers = threading.local()  # one statx buffer per thread: vets may run in threads


def statx(fd: int, name: str = "") -> Stat:
    """statx of fd itself (name ""), or of name relative to fd, never following a symlink."""
    buf = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = ctypes.create_string_buffer(_STATX_SIZE)
    flags = _AT_SYMLINK_NOFOLLOW | (0 if name else _AT_EMPTY_PATH)
    if _libc.statx(fd, name.encode("utf-8", "surrogateescape"), flags, _MASK, buf):
        _check(-1, f"statx {name}")
    (
        mask,
        attributes,
        nlink,
        uid,
        gid,
        mode,
        ino,
        size,
        blocks,
        ctime_s,
        ctime_ns,
        mtime_s,
        mtime_ns,
        major,
        minor,
        mount_id,
    ) = _STATX.unpack_from(buf)
    if not mask & _STATX_MNT_ID:
        raise OSError(0, "this kernel's statx gives no mount id (Linux 5.8 or later needed)")
    return Stat(
        mode,
        ino,
        os.makedev(major, minor),
        nlink,
        uid,
        gid,
        size,
        blocks,
        mtime_s * 1_000_000_000 + mtime_ns,
        ctime_s * 1_000_000_000 + ctime_ns,
        mount_id,
        bool(attributes & _STATX_ATTR_MOUNT_ROOT),
    )


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def same_mount(fd: int, parent_fd: int) -> bool:
    """Whether fd is on parent_fd's mount (not a mount put over a name in it)."""
    return statx(fd).mount_id == statx(parent_fd).mount_id


def open_child_dir(parent_fd: int, name: str) -> int:
    """Open the directory `name` of parent_fd, refusing (EXDEV) one that is another mount:
    a mount put over a directory vet just made (or made earlier in its own staging) would
    take what is written below it elsewhere, the quarantine perhaps."""
    child = os.open(name, _DIR, dir_fd=parent_fd)
    if not same_mount(child, parent_fd):
        os.close(child)
        raise OSError(errno.EXDEV, f"{name!r}: a mount appeared over a directory vet made")
    return child


def _set_direct(fd: int, on: bool) -> bool:
    """Large files bypass the page cache: written from our buffer straight to the disk.
    No cache page is allocated and filled for them (on a busy or virtualised host that
    copy costs more than the disk) and the public copy evicts nothing useful. Returns
    whether the descriptor is in direct mode: some filesystems refuse it."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError:
        return False
    return on


def write_all(fd: int, data: memoryview, direct: bool = False) -> bool:
    """Direct I/O takes whole blocks only: the file's tail, or what follows a short read
    or a filesystem's EINVAL, goes through the cache (and the rest of the file with it)."""
    while data:
        if direct and len(data) % ALIGN:
            direct = _set_direct(fd, False)
        try:
            written = os.write(fd, data)
        except OSError as err:
            if not (direct and err.errno == errno.EINVAL):
                raise
            direct = _set_direct(fd, False)
            continue
        if written == 0:
            raise OSError(errno.ENOSPC, "short write")
        data = data[written:]
    return direct


def write_chunks(fd: int, chunks: list[memoryview], direct: bool = False) -> bool:
    """Several buffers in order, in one system call where direct I/O takes them all (a
    large direct write is split by the kernel into requests the disk serves together);
    else one write_all each."""
    if direct and len(chunks) > 1 and not any(len(c) % ALIGN for c in chunks):
        try:
            written = os.writev(fd, chunks)
        except OSError as err:
            if err.errno != errno.EINVAL:
                raise
            written = 0  # write_all meets the EINVAL again and leaves direct mode
        chunks = _after(chunks, written)
    for chunk in chunks:
        direct = write_all(fd, chunk, direct)
    return direct


def _after(chunks: list[memoryview], written: int) -> list[memoryview]:
    """What is left of `chunks` once `written` bytes of them were written."""
    rest = []
    for chunk in chunks:
        skip = min(written, len(chunk))
        written -= skip
        if skip < len(chunk):
            rest.append(chunk[skip:])
    return rest
