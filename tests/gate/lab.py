"""The gate's lab, shared by the hook tests, watch --enforce tests and the benchmark: a
private libvirtd (own network and mount namespace) whose /etc/libvirt/hooks holds
vmguard's hook, installed before the daemon starts (libvirtd looks for hooks at start),
an isolated network, a site (policies + inventory) and a firewall loaded inside the
namespace. Domains are TCG busybox guests; none gets a network outside the namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import libvirt

from tests.support.labnet import host_only_policy, network_nic, network_xml, user_nic
from tests.support.private_libvirtd import PrivateLibvirtd, private_libvirtd
from vmguard.cli import main

POLICIES = Path(__file__).parents[2] / "policy"
BRIDGE = f"vmggate{os.getpid() % 10000}"
HOST, MAC, ADDRESS = "10.78.0.1", "52:54:00:78:00:11", "10.78.0.11"
NETWORK = network_xml(BRIDGE, HOST)
GOOD_NIC = network_nic(MAC)
BAD_NIC = user_nic("52:54:00:78:00:99")
POLICY = host_only_policy("lab-gate", HOST, "  enforcement: {block_at: high, on_drift: {on_drift}}\n")
GOOD, BAD, SPARE = "vmg-test-gate-good", "vmg-test-gate-bad", "vmg-test-gate-spare"


def inventory_text(uri: str, gate: str = "{}", on_drift: str = "reapply") -> str:
    return (
        "apiVersion: vmguard/v1\nkind: Inventory\nconnections:\n"
        f"  - {{name: lab, driver: libvirt, uri: '{uri}', host_only: {{network: lab-hostonly}}}}\n"
        f"firewall: {{backend: nftables}}\ngate: {gate}\nvms:\n"
        f"  - {{name: {GOOD}, connection: lab, policy: lab-{on_drift}.yaml, address: {ADDRESS}, mac: '{MAC}'}}\n"
        f"  - {{name: 'vmg-test-gate-*', connection: lab, policy: lab-{on_drift}.yaml}}\n"
    )


@dataclass(frozen=True)
class Lab:
    plv: PrivateLibvirtd
    conn: libvirt.virConnect
    site: Path
    hooks: Path
    factory: object  # tests.support.domains.TcgDomainFactory

    def write_inventory(self, name: str, gate: str = "{}", on_drift: str = "reapply") -> Path:
        path = self.site / name
        path.write_text(inventory_text(self.plv.uri, gate, on_drift))
        return path

    @property
    def server(self) -> Path:
        return self.site.parent / "gate-run" / "gate.sock"

    def install(self, inventory: Path, *, served: bool = True) -> None:
        argv = ["hook", "install", "--inventory", str(inventory), "--hooks-dir", str(self.hooks)]
        assert main(argv + (["--server", str(self.server)] if served else [])) == 0

    def virsh(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = ["virsh", "-q", "-c", self.plv.uri, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)

    def vmguard(self, *args: str) -> subprocess.CompletedProcess[str]:
        """vmguard inside the lab's namespace (the firewall commands)."""
        argv = self.plv.ns.argv(sys.executable, "-m", "vmguard", *args)
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ)
        )

    def set_elements(self) -> str:
        """vmguard's two tables in the lab namespace (inet: addresses, bridge: ports)."""
        tables = (("inet", "vmguard"), ("bridge", "vmguard"))
        return "".join(self.plv.ns.run("nft", "list", "table", *t).stdout for t in tables)


def _site(site: Path) -> None:
    for policy in POLICIES.glob("*.yaml"):
        shutil.copy(policy, site)
    for on_drift in ("reapply", "pause", "poweroff", "report"):
        (site / f"lab-{on_drift}.yaml").write_text(POLICY.replace("{on_drift}", on_drift))


@contextmanager
def gate_lab(root: Path, image) -> Iterator[Lab]:
    """The lab; VMGUARD_LOG / VMGUARD_STATE_DIR must point under root (they are baked into
    the hook)."""
    from tests.support.domains import TcgDomainFactory

    site, plv_root = root / "site", root / "plv"
    site.mkdir()
    _site(site)
    hooks = plv_root / "etc" / "hooks"
    uri = f"qemu+unix:///system?socket={plv_root}/run/libvirt-sock"
    (site / "inv.yaml").write_text(inventory_text(uri))
    sock = root / "gate-run" / "gate.sock"
    argv = ["hook", "install", "--inventory", str(site / "inv.yaml"), "--hooks-dir", str(hooks)]
    assert main([*argv, "--server", str(sock)]) == 0
    with private_libvirtd(plv_root) as plv:
        conn = libvirt.open(plv.uri)
        factory = TcgDomainFactory(conn, image)
        # in libvirtd's own network and mount namespaces: its firewall, its /etc/libvirt
        daemon = (plv_root / "libvirtd.pid").read_text().strip()
        serve = [sys.executable, "-m", "vmguard", "hook", "serve", "--socket", str(sock)]
        server = subprocess.Popen(["nsenter", "-t", daemon, "-m", "-n", *serve])
        try:
            wait_for(sock.is_socket, timeout=60)
            conn.networkDefineXML(NETWORK).create()
            lab = Lab(plv, conn, site, hooks, factory)
            fw = lab.vmguard("firewall", "apply", "--inventory", str(site / "inv.yaml"))
            # The tests define their domains later: until then their ports are unknown
            # (dropped), which the firewall reports as incomplete (exit 3).
            unseen = [ln for ln in fw.stderr.splitlines() if ln.startswith("vmguard: incomplete:")]
            assert fw.returncode in (0, 3) and "applied rules" in fw.stdout, fw.stdout + fw.stderr
            assert all("no VM named" in ln for ln in unseen), fw.stderr
            yield lab
        finally:
            factory.cleanup()
            conn.close()
            server.kill()
            server.wait(timeout=10)


def wait_for(predicate, timeout: float = 10.0, step: float = 0.02) -> float:
    """Seconds until predicate() is true; AssertionError after timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(step)
    return time.monotonic() - start


SPICE_CLIPBOARD = (
    "<graphics type='spice' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/>"
    "</graphics><channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>\n"
)


class Watch:
    """`vmguard watch [--enforce]` as a process; each output line with when it arrived."""

    def __init__(self, inventory: Path, *extra: str) -> None:
        import threading

        argv = [sys.executable, "-m", "vmguard", "watch", "--inventory", str(inventory), *extra]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[tuple[float, str]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        wait_for(lambda: any("watching" in line for _, line in self.lines), timeout=60)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def first(self, needle: str, after: float, timeout: float = 10.0) -> float:
        """When the first line containing `needle` arrived after `after`."""
        found: list[float] = []

        def seen() -> bool:
            found[:] = [t for t, line in list(self.lines) if t >= after and needle in line]
            return bool(found)

        wait_for(seen, timeout=timeout)
        return found[0]

    def close(self) -> str:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.reader.join(timeout=5)
        return "\n".join(line for _, line in self.lines)


def domain_xml_with(lab: Lab, name: str, devices: str) -> str:
    """The domain's persistent XML with `devices` added (what an admin's `virsh define` does)."""
    xml = lab.conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    return xml.replace("</devices>", devices + "</devices>", 1)
