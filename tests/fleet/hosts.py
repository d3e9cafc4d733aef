"""VM hosts for the Ansible tests: network namespaces, each with its own sshd.

    ctl  --veth--  host a (198.18.8.2)      the controller runs inside `ctl`, so nothing
    ctl  --veth--  host b (198.18.8.6)      is added to the machine's own namespace.

Addresses are in 198.18.0.0/15 (reserved for benchmarking), inside namespaces this
test creates and always deletes. Every sshd takes the test's own host key and only the
test's client key.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.batch.slurm_cluster import wait_for
from tests.support.netns import Netns, netns, veth_pair
from tests.support.require import sshd_runtime_dir

SSHD_CONFIG = """\
ListenAddress {address}:22
HostKey {root}/ssh_host_ed25519_key
PidFile {root}/sshd-{name}.pid
AuthorizedKeysFile {root}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
"""


@dataclass(frozen=True)
class Host:
    name: str
    address: str


@dataclass(frozen=True)
class Fleet:
    ctl: Netns
    hosts: tuple[Host, ...]
    key: Path  # the controller's private key


def _keys(root: Path) -> Path:
    for name in ("ssh_host_ed25519_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True, timeout=30
        )
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    return root / "client_key"


def _listening(ns: Netns, address: str) -> bool:
    return f"{address}:22" in ns.run("ss", "-ltn", check=False).stdout


def _sshd(ns: Netns, host: Host, root: Path) -> subprocess.Popen:
    config = root / f"sshd-{host.name}.conf"
    config.write_text(SSHD_CONFIG.format(address=host.address, root=root, name=host.name))
    sshd_runtime_dir()
    log = open(root / f"sshd-{host.name}.log", "ab")  # noqa: SIM115 - sshd keeps it open
    proc = ns.popen("/usr/sbin/sshd", "-D", "-e", "-f", str(config), stdout=log, stderr=log)
    wait_for(lambda: _listening(ns, host.address), 15, f"sshd on {host.address}")
    return proc


@contextmanager
def fleet(root: Path, names: tuple[str, ...] = ("a", "b")) -> Iterator[Fleet]:
    """Namespaces `ctl` and one per host, linked by veth pairs, sshd in each host."""
    key = _keys(root)
    with ExitStack() as stack:
        ctl = stack.enter_context(netns("ctl"))
        hosts = []
        for index, name in enumerate(names):
            ns = stack.enter_context(netns(f"h{name}"))
            base = 4 * index
            veth_pair(
                ctl, ns, f"198.18.8.{base + 1}/30", f"198.18.8.{base + 2}/30", names=(f"vmgc{name}", "eth0")
            )
            host = Host(f"vmhost-{name}", f"198.18.8.{base + 2}")
            proc = _sshd(ns, host, root)
            stack.callback(proc.wait, 10)
            stack.callback(proc.terminate)
            hosts.append(host)
        yield Fleet(ctl, tuple(hosts), key)
