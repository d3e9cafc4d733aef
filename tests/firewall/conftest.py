"""Fixtures of the firewall tests: the namespace topology, policies, and the CLI in `host`.

Every firewall change happens inside namespaces these fixtures create; a session-wide
check fails the run if a vmguard table or chain ever shows up in the machine's own
namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.firewall.topology import VMS, Topology, topology
from tests.support.netns import Netns
from tests.support.require import require_root, require_tools

REPO = Path(__file__).resolve().parents[2]
IP = shutil.which("ip") or "/usr/sbin/ip"

POLICIES = {
    "vm1": """\
      - {name: calib-db, to: 10.80.0.10/32, ports: [3306], protocol: tcp}
      - {name: cvs, to: [10.80.0.20/32], ports: [2401, 22], protocol: tcp}
      - {name: syslog, to: 10.80.0.10/32, ports: [5514], protocol: udp}
      - {name: peer-ssh, to: 10.70.0.12/32, ports: [22], protocol: tcp}""",
    "vm2": """\
      - {name: cvs, to: 10.80.0.20/32, ports: [2401], protocol: tcp}
      - {name: syslog, to: 10.80.0.10/32, ports: [5514], protocol: udp}""",
}
INGRESS = "      - {name: admin-ssh, ports: [22], from: [10.90.0.0/24]}"
PEER_INGRESS = "      - {name: peer-ssh, ports: [22], from: [10.70.0.11/32]}"  # vm2's, from vm1


def write_policy(folder: Path, name: str, egress: str, ingress: str | None = None) -> None:
    if ingress is None:
        ingress = INGRESS + ("\n" + PEER_INGRESS if name == "vm2" else "")
    (folder / f"{name}.yaml").write_text(
        f"apiVersion: vmguard/v1\nkind: Policy\nmetadata: {{name: {name}}}\nspec:\n"
        f"  network:\n    mode: host-only\n    log_denied: true\n    egress:\n{egress}\n"
        f"    ingress:\n{ingress}\n"
    )


def write_inventory(folder: Path, backend: str) -> Path:
    vms = "".join(
        f'  - {{name: {n}, connection: kvm, policy: {n}.yaml, address: {a}, mac: "{m}", interface: p-{n}}}\n'
        for n, (a, m) in VMS.items()
    )
    path = folder / "inventory.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\n"
        'connections: [{name: kvm, driver: libvirt, uri: "test:///default"}]\n'
        f"firewall: {{backend: {backend}, vm_interfaces: [br0]}}\nvms:\n{vms}"
        '  - {name: "batch-*", connection: kvm, policy: vm2.yaml}\n'
    )
    for name, egress in POLICIES.items():
        write_policy(folder, name, egress)
    return path


def legacy_bin(folder: Path) -> Path:
    """A PATH entry whose iptables* are the legacy ones (python-iptables' backend)."""
    folder.mkdir(exist_ok=True)
    for tool in (
        "iptables",
        "iptables-save",
        "iptables-restore",
        "ip6tables",
        "ip6tables-save",
        "ip6tables-restore",
    ):
        link = folder / tool
        if not link.exists():
            link.symlink_to(shutil.which(tool.replace("tables", "tables-legacy", 1)) or "/missing")
    return folder


@dataclass
class Firewall:
    """The vmguard CLI run inside the host namespace with one backend."""

    ns: Netns
    backend: str
    inventory: Path
    env: dict[str, str]

    def __call__(
        self, *args: str, inventory: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [
            IP,
            "netns",
            "exec",
            self.ns.name,
            sys.executable,
            "-m",
            "vmguard",
            "firewall",
            *args,
            "--inventory",
            str(inventory or self.inventory),
            "--backend",
            self.backend,
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=120, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc


def _own_ns_clean() -> list[str]:
    found = []
    nft = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
    found += [line for line in nft.stdout.splitlines() if "vmguard" in line]
    for tool in ("iptables-legacy-save", "ip6tables-legacy-save"):
        if shutil.which(tool):
            out = subprocess.run([tool], capture_output=True, text=True, check=False).stdout
            found += [line for line in out.splitlines() if "VMG-" in line]
    if shutil.which("ipset"):
        out = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True, check=False).stdout
        found += [line for line in out.splitlines() if line.startswith("vmg")]
    return found


@pytest.fixture(scope="session", autouse=True)
def machine_namespace_untouched() -> Iterator[None]:
    """The machine's own namespace never gets a vmguard table, chain or set."""
    before = _own_ns_clean()
    yield
    after = _own_ns_clean()
    assert after == before == [], f"vmguard state in the machine's own namespace: {after}"


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    require_root()
    require_tools("nft", "ip", "unshare")
    with topology(tmp_path_factory.mktemp("topo")) as topo:
        yield topo


def make_firewall(topo: Topology, tmp: Path, backend: str) -> Firewall:
    env = {
        **os.environ,
        "VMGUARD_LOG": str(tmp / "events.jsonl"),
        "VMGUARD_STATE_DIR": str(tmp / "state"),
        "PYTHONPATH": str(REPO),
    }
    if backend == "iptables":
        env["PATH"] = f"{legacy_bin(tmp / 'legacy-bin')}:{env['PATH']}"
    return Firewall(topo.host, backend, write_inventory(tmp, backend), env)
