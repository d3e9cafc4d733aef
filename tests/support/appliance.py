"""libguestfs's appliance for the tests, with its kernel uncompressed (built once, cached).

Under TCG the appliance's bzImage spends about 4 s of CPU (10 s of wall time under load)
decompressing itself before Linux prints its first line, at every launch; the guest
tests launch it some 40 times. The same kernel, uncompressed (an ELF vmlinux), boots
through its PVH entry point (QEMU's -kernel loads it directly) and starts at once. The
appliance is otherwise libguestfs's own: the initrd and root supermin built for this
machine, hard-linked, handed over as a "fixed appliance" (LIBGUESTFS_PATH).

Cached under $VMGUARD_TEST_CACHE/appliance/<hash of kernel and initrd>/, built in a
staging directory and renamed into place, so concurrent runs never see half of one.
Where it cannot be built (another compression, no PVH entry), the tests use libguestfs's
default appliance: slower, the same coverage. The small test guests (guest_image.py,
tests/guest/boot.py) boot the same uncompressed kernel (boot_kernel).
"""

from __future__ import annotations

import functools
import hashlib
import lzma
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

CACHE_ROOT = Path(os.environ.get("VMGUARD_TEST_CACHE", "/var/tmp/vmguard-test-cache")) / "appliance"
TCG_ENV = {"LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}
PARTS = ("kernel", "initrd", "root")
XEN_ELFNOTE_PHYS32_ENTRY = 18  # the PVH entry point QEMU's -kernel needs for an ELF
PT_NOTE = 4


def tcg_env() -> dict[str, str]:
    """libguestfs under TCG, with the fast appliance when this machine allows one."""
    fixed = fast_appliance()
    return {**TCG_ENV, "LIBGUESTFS_PATH": str(fixed)} if fixed else dict(TCG_ENV)


@functools.cache
def fast_appliance() -> Path | None:
    source = _supermin_appliance() or _fixed_appliance()
    if source is None:
        return None
    kernel = source / "kernel"
    key = hashlib.sha256(kernel.read_bytes() + (source / "initrd").read_bytes()).hexdigest()[:16]
    target = CACHE_ROOT / key
    if (target / "README.fixed").exists():
        return target
    vmlinux = uncompressed(kernel.read_bytes())
    if vmlinux is None or not has_pvh_entry(vmlinux):
        return None
    return _install(source, vmlinux, target)


def _cachedir() -> Path:
    # where libguestfs keeps supermin's appliance (guestfs_get_cachedir)
    return Path(os.environ.get("LIBGUESTFS_CACHEDIR") or os.environ.get("TMPDIR") or "/var/tmp")


def _supermin_appliance() -> Path | None:
    built = _cachedir() / f".guestfs-{os.geteuid()}" / "appliance.d"
    return built if all((built / p).is_file() for p in PARTS) else None


def _fixed_appliance() -> Path | None:
    """A machine that never launched libguestfs: its own tool builds the appliance."""
    tool = shutil.which("libguestfs-make-fixed-appliance")
    if tool is None:
        return None
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix="supermin-", dir=CACHE_ROOT))
    done = subprocess.run([tool, str(built)], capture_output=True, check=False, timeout=1800)
    return built if done.returncode == 0 and all((built / p).is_file() for p in PARTS) else None


def _install(source: Path, vmlinux: bytes, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    for part in ("initrd", "root"):  # a hard link: this appliance's own files, no 4 GiB copy
        try:
            os.link(source / part, staging / part)
        except OSError:
            subprocess.run(["cp", "--sparse=always", str(source / part), str(staging / part)], check=True)
    (staging / "kernel").write_bytes(vmlinux)
    staging.chmod(0o755)
    (staging / "README.fixed").write_text("libguestfs's appliance, its kernel uncompressed (tests)\n")
    try:
        staging.rename(target)
    except OSError:  # another run installed it first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def boot_kernel(kernel: Path, dest: Path) -> None:
    """`kernel` at `dest` as QEMU boots it fastest under TCG: uncompressed when it can
    start through its PVH entry, else as it is (the test guests boot it directly)."""
    vmlinux = uncompressed(kernel.read_bytes())
    if vmlinux is not None and has_pvh_entry(vmlinux):
        dest.write_bytes(vmlinux)
    else:
        shutil.copyfile(kernel, dest)


def uncompressed(bzimage: bytes) -> bytes | None:
    """The ELF vmlinux inside a bzImage compressed with xz or gzip (Debian's: xz)."""
    for magic, unpack in ((b"\xfd7zXZ\x00", _unxz), (b"\x1f\x8b\x08\x00", _gunzip)):
        at = bzimage.find(magic)
        if at >= 0:
            elf = unpack(bzimage[at:])
            if elf.startswith(b"\x7fELF\x02\x01"):
                return elf
    return None


def _unxz(data: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)


def _gunzip(data: bytes) -> bytes:
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


def has_pvh_entry(elf: bytes) -> bool:
    """Whether a 64-bit little-endian ELF has the Xen PVH entry note QEMU boots it by."""
    phoff, phentsize, phnum = struct.unpack_from("<Q", elf, 32)[0], *struct.unpack_from("<HH", elf, 54)
    for i in range(phnum):
        kind, _flags, offset, _va, _pa, size = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if kind == PT_NOTE and _notes_have(elf[offset : offset + size], b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY):
            return True
    return False


def _notes_have(notes: bytes, name: bytes, kind: int) -> bool:
    at = 0
    while at + 12 <= len(notes):
        namesz, descsz, note = struct.unpack_from("<III", notes, at)
        if note == kind and notes[at + 12 : at + 12 + namesz] == name:
            return True
        at += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False
