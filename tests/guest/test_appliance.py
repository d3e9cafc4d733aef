"""The tests' fast appliance and guest kernel (tests/support/appliance.py): the kernel
they boot is this machine's own, uncompressed, and QEMU can start it (a PVH entry)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.support import appliance
from tests.support.guest_image import newest_kernel


def _vmlinux() -> bytes:
    try:
        kernel = newest_kernel()
    except Exception as err:  # noqa: BLE001 - no kernel installed: nothing to check here
        pytest.skip(str(err))
    vmlinux = appliance.uncompressed(kernel.read_bytes())
    assert vmlinux is not None, f"{kernel}: neither xz nor gzip inside"
    return vmlinux


def test_the_machines_kernel_uncompresses_to_an_elf_with_a_pvh_entry():
    vmlinux = _vmlinux()
    assert vmlinux.startswith(b"\x7fELF") and len(vmlinux) > 10 << 20
    assert appliance.has_pvh_entry(vmlinux)


def test_an_elf_without_the_xen_note_has_no_pvh_entry():
    """The control: an ordinary program's notes (build id, ABI tag) are not taken for one."""
    assert not appliance.has_pvh_entry(Path("/bin/sh").resolve().read_bytes())
    assert appliance.uncompressed(b"no compressed kernel in here") is None


def test_boot_kernel_writes_the_uncompressed_kernel(tmp_path):
    vmlinux = _vmlinux()
    appliance.boot_kernel(newest_kernel(), tmp_path / "kernel")
    assert hashlib.sha256((tmp_path / "kernel").read_bytes()).digest() == hashlib.sha256(vmlinux).digest()
