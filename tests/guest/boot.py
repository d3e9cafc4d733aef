"""Boot a test guest's own disk under TCG: a busybox initramfs that mounts /dev/vda (the
guest's ext4 root) and hands over to the guest's /sbin/init (switch_root).

The planted images have no init of their own: `bootable_image` makes an image from a
copy of a planted root with a static busybox and a /sbin/init script added (mkfs -d: no
mount, no appliance launch); the init prints BOOT_MARK and the lines of `probe`, then
powers off.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.guest.images import ext4_image
from tests.support.appliance import boot_kernel
from tests.support.guest_image import (
    BUSYBOX,
    CACHE_ROOT,
    TCG_BOOT_ARGS,
    GuestImage,
    _copy_module,
    _module_order,
    _pack,
    _write,
    newest_kernel,
)

MODULES = ("virtio_pci", "virtio_blk", "crc32c_generic", "ext4")  # ext4's checksums need crc32c
BOOT_MARK = "vmguard-boot: the guest's own init runs"
INITRAMFS_INIT = """#!/bin/sh
/bin/busybox --install -s
mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for module in @MODULES@; do insmod "/lib/vmguard-modules/$module"; done
tries=0
while [ ! -b /dev/vda ] && [ "$tries" -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
if mount -t ext4 /dev/vda /newroot; then
  exec switch_root /newroot /sbin/init
fi
echo "vmguard-boot: cannot mount the guest's root"
poweroff -f
"""
GUEST_INIT = """#!/bin/busybox sh
echo "{mark}"
/bin/busybox sh -c '{probe}'
echo "vmguard-boot: done"
/bin/busybox poweroff -f
"""


def boot_initramfs() -> GuestImage:
    """Kernel and initramfs (built once per run, in the cache libvirt's qemu can read)."""
    kernel = newest_kernel()
    release = kernel.name.removeprefix("vmlinuz-")
    folder = Path(tempfile.mkdtemp(prefix="boot-", dir=CACHE_ROOT))
    folder.chmod(0o755)
    root = folder / "root"
    for tree in ("bin", "sbin", "usr/bin", "usr/sbin"):  # busybox --install links here
        (root / tree).mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    (root / "bin/sh").symlink_to("busybox")
    moddir = root / "lib/vmguard-modules"
    moddir.mkdir(parents=True)
    names = [_copy_module(src, moddir) for src in _module_order(release, MODULES)]
    _write(root / "init", INITRAMFS_INIT.replace("@MODULES@", " ".join(names)), 0o755)
    _pack(root, folder / "initrd.gz")
    shutil.rmtree(root)
    boot_kernel(kernel, folder / "kernel")  # uncompressed: boots faster under TCG
    for path in folder.iterdir():
        path.chmod(0o644)
    return GuestImage(kernel=folder / "kernel", initrd=folder / "initrd.gz", cmdline=f"console=ttyS0 {TCG_BOOT_ARGS}")


def bootable_image(root: Path, image: Path, probe: str) -> Path:
    """An ext4 image of `root` plus busybox and an init that runs `probe` (root unchanged)."""
    copy = image.with_name(image.name + ".root")
    subprocess.run(["cp", "-a", str(root), str(copy)], check=True)  # owners and modes kept
    try:
        for tree in ("bin", "sbin"):
            (copy / tree).mkdir(exist_ok=True)
        shutil.copyfile(BUSYBOX, copy / "bin/busybox")
        (copy / "bin/busybox").chmod(0o755)
        _write(copy / "sbin/init", GUEST_INIT.format(mark=BOOT_MARK, probe=probe), 0o755)
        return ext4_image(copy, image)
    finally:
        shutil.rmtree(copy)


def wait_poweroff(domain, timeout: float = 300) -> str:
    """The console once the guest powered itself off (on_poweroff: destroy)."""
    deadline = time.monotonic() + timeout
    while domain.dom.isActive() and time.monotonic() < deadline:
        time.sleep(0.5)
    return domain.console_text()
