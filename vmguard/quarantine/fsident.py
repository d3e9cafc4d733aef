"""Which filesystem a directory is on, told so that one disk attached twice is one
filesystem: an ext4 or xfs image on a second loop device gets a superblock and a device
number of its own (xfs with -o nouuid), a btrfs a temporary fsid of its own (and f_fsid,
which derives from it, and from the subvolume, differs too); what the two attaches
share is the UUID written on the disk. So a filesystem is its superblock's device and,
where one can be told, that UUID; two are the same if either is.

The UUID is taken only where it is the disk's: a filesystem on a block device (a
device number with a major other than 0) that reports one through FS_IOC_GETFSUUID
(ext4, xfs, f2fs...), and btrfs (anonymous device numbers) through its own FS_INFO
(metadata_uuid: the on-disk fsid, whatever fsid the mount was given). tmpfs, overlay,
sysfs report UUIDs made up per mount, nfs and proc none: those are told by device, as
an all-zero UUID (a filesystem made without one) is. Two disks made as copies of one
image share a UUID: a --to on one, beside a quarantine at the same path on the other,
is refused (a false refusal, never a false "outside").
"""

from __future__ import annotations

import fcntl
import os
import sys
import uuid
from dataclasses import dataclass

_FS_IOC_GETFSUUID = 0x80111500  # _IOR(0x15, 0, struct fsuuid2 {u8 len; u8 uuid[16]})
_BTRFS_IOC_FS_INFO = 0x8400941F  # _IOR(0x94, 31, struct btrfs_ioctl_fs_info_args): 1 KiB
_BTRFS_FLAGS = slice(48, 56)  # in: what to fill in; out: what was
_BTRFS_FSID, _BTRFS_METADATA_UUID = slice(16, 32), slice(64, 80)
_BTRFS_WANT_METADATA_UUID = 4
_NO_UUID = bytes(16)


@dataclass(frozen=True)
class Filesystem:
    """A filesystem as its superblock's device (mountinfo's) and the UUID on its disk
    (None where none can be told)."""

    dev: int
    uuid: bytes | None = None

    def same(self, other: Filesystem) -> bool:
        return self.dev == other.dev or (self.uuid is not None and self.uuid == other.uuid)

    def __str__(self) -> str:
        told = f"device {os.major(self.dev)}:{os.minor(self.dev)}"
        return f"{told}, filesystem UUID {uuid.UUID(bytes=self.uuid)}" if self.uuid else told


def filesystem(fd: int, dev: int, fstype: str) -> Filesystem:
    """The filesystem of the directory open at fd (O_PATH too), whose mount's device
    (mountinfo's) is `dev` and type `fstype`."""
    if fstype != "btrfs" and not os.major(dev):
        return Filesystem(dev)
    try:  # ioctl wants a descriptor opened for reading: the same directory, opened again
        readable = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return Filesystem(dev)
    try:
        found = _btrfs_uuid(readable) if fstype == "btrfs" else _disk_uuid(readable)
    finally:
        os.close(readable)
    return Filesystem(dev, found if found and found != _NO_UUID else None)


def _disk_uuid(fd: int) -> bytes | None:
    args = bytearray(17)
    args[0] = 16
    try:
        fcntl.ioctl(fd, _FS_IOC_GETFSUUID, args, True)
    except OSError:  # ENOTTY: a filesystem that keeps no UUID (or a kernel before 6.5)
        return None
    return bytes(args[1 : 1 + args[0]]) if args[0] == 16 else None


def _btrfs_uuid(fd: int) -> bytes | None:
    args = bytearray(1024)
    args[_BTRFS_FLAGS] = _BTRFS_WANT_METADATA_UUID.to_bytes(8, sys.byteorder)
    try:
        fcntl.ioctl(fd, _BTRFS_IOC_FS_INFO, args, True)
    except OSError:
        return None
    told = int.from_bytes(args[_BTRFS_FLAGS], sys.byteorder) & _BTRFS_WANT_METADATA_UUID
    return bytes(args[_BTRFS_METADATA_UUID] if told else args[_BTRFS_FSID])
