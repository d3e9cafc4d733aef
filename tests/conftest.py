"""Fixtures shared by every area's tests, and the session-end safety check.

- libvirt_uri / libvirt_conn: a real qemu:///system libvirtd (started if not running).
- guest_kernel_initrd: the small TCG test guest (kernel + initramfs running qemu-ga).
- tcg_domain / tcg_domain_module: factories of booted test domains, always removed.
- vmguard_wheel / wheelhouse: vmguard's wheel (and its dependencies' wheels), built once
  for the run's installs.
- events: the event log the test's environment names (VMGUARD_LOG, as the area's log
  fixture set it), to pass as `events=` where the product takes one.
- helpers to import: tests.support.require.require, tests.support.netns.netns.

A guest test, for example:

    def test_policy_applied(tcg_domain):
        xml = apply_policy(tcg_domain.xml())     # or tcg_domain.start() for the default
        vm = tcg_domain.start(xml)               # booted; its agent answered guest-ping
        vm.qmp("query-pci")                      # QEMU's own view of the devices
        vm.agent("guest-info"); vm.exec(["/bin/busybox", "uname", "-r"])
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import leaks
from tests.support.netns import namespace_names
from tests.support.netns import reap_stale as reap_stale_namespaces
from tests.support.require import require, require_root, require_tools
from vmguard.core.eventlog import EventLog

LIBVIRTD_SH = Path(__file__).parent / "support" / "libvirtd.sh"
QEMU_URI = "qemu:///system"

pytest_plugins = ["pytester"]  # tests/infra runs inner sessions to test the hooks below

_NAMESPACES_AT_START = pytest.StashKey[frozenset[str]]()


def _silence_libvirt(libvirt) -> None:
    """libvirt prints every error to stderr by default; tests read the exceptions."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


@pytest.fixture
def events(request: pytest.FixtureRequest) -> EventLog:
    """The event log VMGUARD_LOG names once the area's log fixture has set it."""
    if "log_path" in request.fixturenames:  # tests/drivers' log fixture is not autouse
        request.getfixturevalue("log_path")
    return EventLog.from_environment()


@pytest.fixture(scope="session")
def libvirt_uri() -> str:
    """qemu:///system, answering: started with tests/support/libvirtd.sh if needed."""
    require_root()
    require_tools("virsh", "libvirtd", "virtlogd")
    proc = subprocess.run(
        ["bash", str(LIBVIRTD_SH)], capture_output=True, text=True, timeout=120, check=False
    )
    require(proc.returncode == 0, f"libvirtd not available: {proc.stderr.strip()}")
    return QEMU_URI


@pytest.fixture(scope="session")
def libvirt_conn(libvirt_uri: str):
    try:
        import libvirt
    except ImportError:
        libvirt = None
    require(libvirt is not None, "libvirt-python not installed (./dev setup)")
    _silence_libvirt(libvirt)
    conn = libvirt.open(libvirt_uri)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def guest_kernel_initrd():
    """The shared test guest, built once and cached across runs (see guest_image.py)."""
    require_tools("busybox", "cpio", "dpkg-deb", "apt-get", "ldd")
    from tests.support.guest_image import build_guest_image

    return build_guest_image()


@pytest.fixture(scope="session", autouse=True)
def _wheels_started_early(request, tmp_path_factory) -> Iterator:
    """vmguard's wheel (and the wheelhouse, if a selected test uses it) made in a thread
    from the session's first test on: pip spends ~20 s of it waiting on the package index
    and ~3 s of CPU, which the tests before the first user (tests/audit) hide."""
    from tests.support.wheelhouse import Early, start_early

    needed = set().union(*(getattr(i, "fixturenames", ()) for i in request.session.items))
    if "vmguard_wheel" not in needed:
        yield Early(None, None)
        return
    with start_early(tmp_path_factory.mktemp("wheelhouse"), "wheelhouse" in needed) as early:
        yield early


@pytest.fixture(scope="session")
def vmguard_wheel(_wheels_started_early, tmp_path_factory) -> Path:
    from tests.support.wheelhouse import build_wheel

    early = _wheels_started_early.wheel  # None: only a test not selected at the start asks
    return early.result() if early else build_wheel(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture(scope="session")
def wheelhouse(_wheels_started_early, vmguard_wheel):
    from tests.support.wheelhouse import with_dependencies

    early = _wheels_started_early.wheelhouse
    return early.result() if early else with_dependencies(vmguard_wheel)


def _factory(conn, image) -> Iterator:
    from tests.support.domains import TcgDomainFactory, reap_stale

    reap_stale(conn)
    factory = TcgDomainFactory(conn, image)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def tcg_domain(libvirt_conn, guest_kernel_initrd):
    """Factory: tcg_domain.start() boots a guest and waits for its agent (about 10-20 s)."""
    yield from _factory(libvirt_conn, guest_kernel_initrd)


@pytest.fixture(scope="module")
def tcg_domain_module(libvirt_conn, guest_kernel_initrd):
    """Same factory, its domains shared by a module's tests: boot once, use many times."""
    yield from _factory(libvirt_conn, guest_kernel_initrd)


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        if os.geteuid() == 0:
            reap_stale_namespaces()
        names = frozenset(namespace_names())
    except (OSError, RuntimeError):  # no iproute2: the namespace check reports that later
        names = frozenset()
    session.config.stash[_NAMESPACES_AT_START] = names


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if vmguard state leaked into the machine's own namespace."""
    if os.geteuid() != 0:
        return  # reading nftables/iptables needs root; CI runs as root
    found = (
        leaks.firewall_leaks()
        + leaks.hook_leaks()
        + leaks.namespace_leaks(session.config.stash.get(_NAMESPACES_AT_START, frozenset()))
    )
    if not found:
        print("\nsafety check: no vmguard firewall state, machine hook or test namespace left behind")
        return
    lines = ["", "SAFETY CHECK FAILED: vmguard state leaked into the machine's own namespace:"]
    lines += [f"  - {leak}" for leak in found]
    print("\n".join(lines), flush=True)
    if session.exitstatus == pytest.ExitCode.OK:  # a failing run keeps its own reason
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
