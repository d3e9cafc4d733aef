"""Shared, session-scoped guest images and their (expensive) offline inspection.

libguestfs's appliance runs under TCG here (/dev/kvm cannot run guests on these
machines): LIBGUESTFS_BACKEND=direct and force_tcg are set for these tests only, with
an appliance whose kernel is uncompressed (tests/support/appliance.py, faster under TCG);
vmguard itself leaves libguestfs's defaults (KVM) alone for users.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.guest import images
from tests.support.appliance import tcg_env
from tests.support.require import require, require_root, require_tools
from vmguard.facts.vm import Disk, PowerState, VmFacts
from vmguard.guest import inspect
from vmguard.guest.cache import GuestCache
from vmguard.guest.model import GuestFacts
from vmguard.policy.model import Metadata, Policy, SoftwarePolicy, UsersPolicy

# The batch role the image tests audit against (what the planted images violate).
POLICY = Policy(
    metadata=Metadata("batch"),
    source="policy/batch.yaml",
    users=UsersPolicy(interactive_login=("vmadmin1",)),
    software=SoftwarePolicy(
        forbid=("firefox", "thunderbird", "evolution", "mutt", "sendmail", "postfix", "exim4"),
        allowed_services=("ssh", "sshd", "cron", "crond", "rsyslog", "xinetd"),
    ),
)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="session")
def libguestfs_tcg():
    """Needs Debian's python3-guestfs; the environment is restored afterwards."""
    require_root()
    require_tools("mkfs.ext4", "rpm", "rpmbuild", "db5.3_load", "qemu-img")
    try:
        import guestfs  # noqa: F401
    except ImportError:
        require(False, "python3-guestfs not installed (./dev setup)")
    env = tcg_env()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@dataclass(frozen=True)
class Inspected:
    image: Path
    facts: GuestFacts
    hash_before: str
    hash_after: str
    vm: VmFacts


FORMATS = {".img": "raw", ".qcow2": "qcow2", ".vdi": "vdi"}


def vm_facts(name: str, image: Path, state: PowerState = PowerState.OFF) -> VmFacts:
    disk = Disk(str(image), FORMATS[image.suffix])
    return VmFacts(name=name, driver="libvirt", power_state=state, disks=(disk,))


def converted(image: Path, fmt: str) -> Path:
    """The image in another format: VirtualBox's VDI, QEMU's qcow2."""
    target = image.with_suffix(f".{fmt}")
    images.run(["qemu-img", "convert", "-f", "raw", "-O", fmt, str(image), str(target)])
    return target


@pytest.fixture(scope="session")
def guest_images(tmp_path_factory, libguestfs_tcg) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("guest-images")
    dpkg = images.dpkg_root(work / "dpkg-root")
    (work / "rpm-work").mkdir()
    rpm = images.rpm_root(work / "rpm-root", work / "rpm-work")
    (work / "rpm9-work").mkdir()
    rpm9 = images.rpm_sqlite_root(work / "rpm9-root", work / "rpm9-work")
    # The clean twins: the same guests without any of the violations.
    dpkg_clean = images.dpkg_root(work / "dpkg-clean-root", planted=False)
    (work / "rpm-clean-work").mkdir()
    rpm_clean = images.rpm_root(work / "rpm-clean-root", work / "rpm-clean-work", planted=False)
    return {
        "dpkg": images.ext4_image(dpkg, work / "debian12.img"),
        "rpm": images.ext4_image(rpm, work / "rhel6.img"),
        "rpm-sqlite": images.ext4_image(rpm9, work / "rhel9.img"),
        "hostile": images.ext4_image(images.hostile_root(work / "hostile-root"), work / "hostile.img"),
        "dpkg-clean": images.ext4_image(dpkg_clean, work / "debian12-clean.img"),
        "rpm-clean": images.ext4_image(rpm_clean, work / "rhel6-clean.img"),
    }


@pytest.fixture(scope="session")
def disk_images(guest_images) -> dict[str, Path]:
    """What the inspection reads: each format a driver can hand over (libvirt raw and
    qcow2, VirtualBox VDI), one per guest."""
    return {
        "dpkg": converted(guest_images["dpkg"], "vdi"),
        "rpm": guest_images["rpm"],
        "rpm-sqlite": converted(guest_images["rpm-sqlite"], "qcow2"),
        "hostile": guest_images["hostile"],
        "dpkg-clean": guest_images["dpkg-clean"],
        "rpm-clean": guest_images["rpm-clean"],
    }


@pytest.fixture(scope="session")
def guest_cache(tmp_path_factory) -> GuestCache:
    """Where the CLI looks with VMGUARD_CACHE set to this folder's parent (it adds "guest")."""
    return GuestCache(tmp_path_factory.mktemp("guest-cache") / "guest")


FEW = 4  # tests using `inspected` up to which each image is inspected only when asked for


class Inspections(Mapping[str, Inspected]):
    """Each image inspected once, when a test first asks for it (one appliance boot),
    hashed in full before and after; asking for all of them (values, items) inspects the
    rest three at once (a TCG appliance uses about one core). A test that needs one guest
    (the pool-volume test) so boots one appliance, not six: under load on 2 cores the six
    did not finish in CI's time."""

    def __init__(self, disks: dict[str, Path], cache: GuestCache) -> None:
        self._disks, self._cache, self._done = disks, cache, {}

    def __getitem__(self, kind: str) -> Inspected:
        if kind not in self._done:
            self._done[kind] = self._inspect(kind)
        return self._done[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._disks)

    def __len__(self) -> int:
        return len(self._disks)

    def values(self) -> ValuesView[Inspected]:
        self._all()
        return super().values()

    def items(self) -> ItemsView[str, Inspected]:
        self._all()
        return super().items()

    def _all(self) -> None:
        todo = [kind for kind in self._disks if kind not in self._done]
        with ThreadPoolExecutor(max_workers=3) as pool:
            self._done.update(zip(todo, pool.map(self._inspect, todo), strict=True))

    def _inspect(self, kind: str) -> Inspected:
        item = _inspect_once((kind, self._disks[kind]), self._cache)
        print(f"\n{kind}: inspected in {item.facts.seconds:.1f} s")
        return item


@pytest.fixture(scope="session")
def inspected(request, disk_images, guest_cache) -> Inspections:
    """Lazy for a few selected tests; when many use it (a module, the suite), all six at
    once first, three in parallel, as the whole run needs them anyway."""
    found = Inspections(disk_images, guest_cache)
    users = [t for t in request.session.items if "inspected" in getattr(t, "fixturenames", ())]
    if len(users) > FEW:
        found.values()
    return found


def _inspect_once(kind_image: tuple[str, Path], cache: GuestCache) -> Inspected:
    kind, image = kind_image
    before = sha256(image)
    vm = vm_facts(f"vm-{kind}", image)
    # The permission scan is on by default; the RHEL 9 guest is read with it off
    # (spec.software.file_scan: false), as the audit does for images too large to walk.
    facts = inspect(vm, cache=cache, timeout=900, scan_files=kind != "rpm-sqlite")
    return Inspected(image, facts, before, sha256(image), vm)
