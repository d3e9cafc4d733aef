"""Build (once, cached) the small bootable test guest: Debian kernel + busybox initramfs.

The initramfs mounts proc/sys/dev, loads the virtio modules the Debian kernel ships as
modules, and runs qemu-ga on the virtio-serial port org.qemu.guest_agent.0. qemu-ga
comes from the qemu-guest-agent .deb (downloaded, never installed on the host) with its
shared libraries copied from the host via ldd. The guest has no network.

Cached under $VMGUARD_TEST_CACHE (default /var/tmp/vmguard-test-cache)/<hash of inputs>/;
built in a staging directory and renamed into place, so concurrent runs never see half.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.appliance import boot_kernel

CACHE_ROOT = Path(os.environ.get("VMGUARD_TEST_CACHE", "/var/tmp/vmguard-test-cache"))
AGENT_PORT = "org.qemu.guest_agent.0"
BUSYBOX = Path("/bin/busybox")
# virtio_pci finds the devices, virtio_console serves the agent port, virtio_blk lets
# a test attach a disk, virtio_net a NIC (host-only tests). Their dependencies come from
# modules.dep.
MODULES = ("virtio_pci", "virtio_console", "virtio_blk", "virtio_net")
# What libguestfs gives its appliance under TCG too: no crypto self-tests (about 0.5 s of
# the 3.4 s of CPU a boot costs under TCG), no timer and TSC checks. Every test guest
# (some 60 boots a run: the system libvirtd's, the gate's and the host-only labs') has them.
TCG_BOOT_ARGS = "cryptomgr.notests no_timer_check tsc=reliable"
CMDLINE = f"console=ttyS0 loglevel=4 {TCG_BOOT_ARGS}"
READY_MARK = "vmguard-guest: agent started"


class GuestImageError(RuntimeError):
    """The guest image could not be built; the message says what is missing."""


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    cmdline: str = CMDLINE


def _tool(argv: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GuestImageError(f"{' '.join(argv)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def _version_key(path: Path) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", path.name)]


def newest_kernel() -> Path:
    kernels = sorted(Path("/boot").glob("vmlinuz-*"), key=_version_key)
    if not kernels:
        raise GuestImageError("no /boot/vmlinuz-*: apt-get install linux-image-amd64")
    return kernels[-1]


def agent_deb(debs: Path) -> Path:
    """The cached qemu-guest-agent .deb; downloaded with apt (refreshing lists) if absent."""
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob("qemu-guest-agent_*.deb"))
    if found:
        return found[-1]
    try:
        _tool(["apt-get", "download", "qemu-guest-agent"], cwd=debs)
    except GuestImageError:
        _tool(["apt-get", "update", "-q"])
        _tool(["apt-get", "download", "qemu-guest-agent"], cwd=debs)
    return sorted(debs.glob("qemu-guest-agent_*.deb"))[-1]


INIT_TEMPLATE = Path(__file__).with_name("guest_init.sh")


def _input_hash(*paths: Path) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes() + INIT_TEMPLATE.read_bytes())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _module_order(release: str, modules: tuple[str, ...] = MODULES) -> list[Path]:
    """Module files for `modules`, each after its dependencies (modules.dep lists them)."""
    moddir = Path("/lib/modules") / release
    deps: dict[str, list[str]] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
    by_name = {re.sub(r"\.ko(\.\w+)?$", "", Path(p).name).replace("-", "_"): p for p in deps}
    order: list[str] = []

    def visit(path: str) -> None:
        for dep in reversed(deps[path]):  # the last listed must load first
            visit(dep)
        if path not in order:
            order.append(path)

    for name in modules:
        if name not in by_name:
            raise GuestImageError(f"module {name} not in {moddir}/modules.dep")
        visit(by_name[name])
    return [moddir / p for p in order]


def _copy_module(src: Path, dest_dir: Path) -> str:
    if src.suffix != ".ko":
        raise GuestImageError(f"{src}: compressed modules are not supported by this builder")
    shutil.copyfile(src, dest_dir / src.name)
    return src.name


def _ldd(binary: Path) -> str:
    """ldd's report; empty for a static binary (Debian's busybox-static)."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    if "not a dynamic executable" in proc.stdout + proc.stderr:
        return ""
    if proc.returncode != 0:
        raise GuestImageError(f"ldd {binary} failed: {proc.stderr.strip()}")
    return proc.stdout


def _copy_with_libs(binary: Path, root: Path, dest: str) -> None:
    """Copy `binary` to root/dest, and every shared library ldd resolves to its own path."""
    target = root / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, target)
    for line in _ldd(binary).splitlines():
        if "not found" in line:
            raise GuestImageError(f"{binary}: {line.strip()} (install its Debian package)")
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            lib = root / match.group(1).lstrip("/")
            lib.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(match.group(1), lib)  # follows symlinks on the host
            lib.chmod(0o755)


def _init_script(modules: list[str]) -> str:
    return (
        INIT_TEMPLATE.read_text()
        .replace("@MODULES@", " ".join(modules))
        .replace("@AGENT_PORT@", AGENT_PORT)
        .replace("@READY_MARK@", READY_MARK)
    )


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _populate(root: Path, release: str, deb: Path, scratch: Path) -> None:
    for tree in ("bin", "sbin", "usr/bin", "usr/sbin"):  # busybox --install links here
        (root / tree).mkdir(parents=True)
    _copy_with_libs(BUSYBOX, root, "/bin/busybox")
    (root / "bin/sh").symlink_to("busybox")
    moddir = root / "lib/vmguard-modules"
    moddir.mkdir(parents=True)
    modules = [_copy_module(src, moddir) for src in _module_order(release)]
    _tool(["dpkg-deb", "-x", str(deb), str(scratch)])
    _copy_with_libs(scratch / "usr/sbin/qemu-ga", root, "/usr/sbin/qemu-ga")
    _write(root / "init", _init_script(modules), 0o755)
    # qemu-ga's guest-shutdown runs /sbin/shutdown, which busybox lacks.
    _write(
        root / "sbin/shutdown",
        '#!/bin/sh\nsync\ncase " $* " in *" -r "*) reboot -f ;; *) poweroff -f ;; esac\n',
        0o755,
    )
    _write(root / "etc/os-release", 'ID=vmguard-test\nNAME="vmguard test guest"\n')
    _write(root / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    _write(root / "etc/group", "root:x:0:\n")


def _pack(root: Path, out: Path) -> None:
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    archive = subprocess.run(
        ["cpio", "--quiet", "-o", "-H", "newc"],
        cwd=root,
        input="\n".join(names).encode(),
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise GuestImageError(f"cpio failed: {archive.stderr.decode().strip()}")
    out.write_bytes(gzip.compress(archive.stdout, compresslevel=6))


def _publish(staging: Path, final: Path) -> None:
    """Atomically move a finished build into place; a concurrent winner's copy is kept."""
    for path in [staging, *staging.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # libvirt-qemu must read them
    try:
        staging.rename(final)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not final.is_dir():
            raise


def build_guest_image(cache_root: Path = CACHE_ROOT) -> GuestImage:
    kernel = newest_kernel()
    release = kernel.name.removeprefix("vmlinuz-")
    cache_root.mkdir(parents=True, exist_ok=True)
    cache_root.chmod(0o755)
    deb = agent_deb(cache_root / "debs")
    final = cache_root / _input_hash(kernel, BUSYBOX, deb)
    if not final.is_dir():
        _build(kernel, release, deb, final)
    return GuestImage(kernel=final / "kernel", initrd=final / "initrd.gz")


def _build(kernel: Path, release: str, deb: Path, final: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
    try:
        with tempfile.TemporaryDirectory() as scratch:
            _populate(staging / "root", release, deb, Path(scratch))
        boot_kernel(kernel, staging / "kernel")  # uncompressed: boots faster under TCG
        _pack(staging / "root", staging / "initrd.gz")
        shutil.rmtree(staging / "root")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _publish(staging, final)
