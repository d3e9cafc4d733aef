"""A private libvirtd inside its own network and mount namespace, for tests that need
libvirt networks (bridges, dnsmasq, libvirt's own firewall rules) without touching the
machine's namespace or its libvirtd.

    with private_libvirtd(root) as plv:       # root: a directory this test owns
        conn = libvirt.open(plv.uri)          # qemu+unix:///system?socket=<root>/run/libvirt-sock
        plv.ns.run("ip", "link")              # its bridges live only in plv.ns

Inside `ip netns exec NS unshare -m --propagation private`, /run/libvirt, /var/lib/libvirt,
/etc/libvirt, /var/log/libvirt and /var/cache/libvirt are bind mounts of directories under
`root`, so the daemon starts empty (no networks, no domains) and its sockets appear under
root/run, reachable from the test. Deleting the namespace kills libvirtd, virtlogd,
dnsmasq and any QEMU it started; the mounts go with the mount namespace.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.netns import Netns, netns

START_WAIT = 30.0
STATE = ("run", "lib", "etc", "log", "cache")
MOUNTS = {
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "etc": "/etc/libvirt",
    "log": "/var/log/libvirt",
    "cache": "/var/cache/libvirt",
}
# The daemon's own settings only: the machine's networks and domains stay behind.
CONFIGS = ("libvirtd.conf", "qemu.conf", "virtlogd.conf", "libvirt.conf")
SCRIPT = """set -eu
{mounts}
virtlogd -d -p {root}/virtlogd.pid
exec libvirtd -p {root}/libvirtd.pid
"""


@dataclass(frozen=True)
class PrivateLibvirtd:
    ns: Netns
    root: Path

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.root}/run/libvirt-sock"

    def log(self) -> str:
        path = self.root / "libvirtd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _prepare(root: Path) -> str:
    for part in STATE:
        (root / part).mkdir(parents=True, exist_ok=True)
    for sub in ("lib/qemu", "lib/network", "lib/dnsmasq", "cache/qemu", "log/qemu", "etc/qemu/networks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name in CONFIGS:
        src = Path("/etc/libvirt") / name
        if src.is_file():
            (root / "etc" / name).write_bytes(src.read_bytes())
    return "\n".join(f"mount --bind {root / part} {MOUNTS[part]}" for part in STATE)


@contextmanager
def private_libvirtd(root: Path) -> Iterator[PrivateLibvirtd]:
    """Start it (in a fresh namespace), wait for its socket, always tear it down."""
    script = SCRIPT.format(mounts=_prepare(root), root=root)
    with netns("plv") as ns:
        with open(root / "libvirtd.log", "wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv; killed with the namespace
                ns.argv("unshare", "-m", "--propagation", "private", "sh", "-c", script),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        plv = PrivateLibvirtd(ns, root)
        deadline = time.monotonic() + START_WAIT
        while not (root / "run" / "libvirt-sock").is_socket():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"private libvirtd did not start: {plv.log()}")
            time.sleep(0.2)
        yield plv
    proc.wait(timeout=10)  # killed when its namespace was deleted
