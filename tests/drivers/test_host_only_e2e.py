"""End to end, as an admin would run it: a TCG busybox guest with a user-mode (NAT) NIC on
a private libvirtd (its own network and mount namespace, tests/support/private_libvirtd.py);
`vmguard apply` moves the NIC live onto the isolated libvirt network; the guest gets its
fixed address by DHCP from that network; `vmguard firewall apply` (nftables, run inside the
namespace) then lets the guest reach its one allowed endpoint on the host and drops the
rest, and the drops are logged to nfnetlink_log group LOG_GROUP (`firewall.log_group`: the
kernel log needs a machine-wide sysctl in a namespace), read with `tcpdump -i nflog:N`.
Nothing of it exists in the machine's own namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.firewall.conftest import legacy_bin
from tests.support.labnet import host_only_policy, network_nic, network_xml, user_nic
from tests.support.private_libvirtd import private_libvirtd
from tests.support.watch import read_until, watching
from vmguard.cli import main

libvirt = pytest.importorskip("libvirt")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("dnsmasq"), reason="needs root (namespaces) and dnsmasq"
)
POLICIES = Path(__file__).parents[2] / "policy"
BRIDGE = f"vmgee{os.getpid() % 100000}"
MAC, ADDRESS, HOST = "52:54:00:77:00:11", "10.77.0.11", "10.77.0.1"
OTHER = "10.77.0.2"  # another address of the host on the same network, not allowed
PEER_MAC, PEER = "52:54:00:77:00:12", "10.77.0.12"  # another VM on the same network
NETWORK = network_xml(
    BRIDGE,
    HOST,
    "<dhcp><range start='10.77.0.100' end='10.77.0.200'/>"
    f"<host mac='{MAC}' ip='{ADDRESS}'/><host mac='{PEER_MAC}' ip='{PEER}'/></dhcp>",
)
NIC = user_nic(MAC)
PEER_NIC = network_nic(PEER_MAC)
POLICY = host_only_policy("lab-e2e", HOST)
LOG_GROUP = 7
DHCP_SCRIPT = '[ "$1" = bound ] && ifconfig "$interface" "$ip" netmask "$subnet"; exit 0'


@pytest.fixture(scope="module")
def lab(tmp_path_factory, guest_kernel_initrd):
    from tests.support.domains import TcgDomainFactory

    root = tmp_path_factory.mktemp("e2e")
    with private_libvirtd(root / "plv") as plv:
        conn = libvirt.open(plv.uri)
        factory = TcgDomainFactory(conn, guest_kernel_initrd)
        try:
            conn.networkDefineXML(NETWORK).create()
            # Both boot at once (TCG keeps one core busy each; CI has two), then both answer.
            guest = factory.start(extra_devices=NIC, wait_agent=False)
            peer = factory.start(extra_devices=PEER_NIC)
            guest.wait_agent()
            plv.ns.run("ip", "addr", "add", f"{OTHER}/24", "dev", BRIDGE)
            for host, port in ((HOST, 8080), (HOST, 8081), (OTHER, 8080)):  # allowed, controls
                plv.ns.popen(
                    sys.executable,
                    "-m",
                    "http.server",
                    str(port),
                    "--bind",
                    host,
                    "--directory",
                    str(root),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            _dhcp(peer, PEER)
            peer.exec(
                [
                    "/bin/sh",
                    "-c",
                    "(while true; do printf 'HTTP/1.0 200 peer\\r\\n' | "
                    "nc -l -p 8080; done) >/dev/null 2>&1 &",
                ]
            )
            yield plv, guest, root
        finally:
            factory.cleanup()
            conn.close()


def _inventory(plv, guest, root: Path) -> Path:
    for policy in POLICIES.glob("*.yaml"):
        shutil.copy(policy, root)
    (root / "lab.yaml").write_text(POLICY)
    path = root / "inv.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nconnections:\n"
        f"  - {{name: lab, driver: libvirt, uri: '{plv.uri}', host_only: {{network: lab-hostonly}}}}\n"
        f"firewall: {{backend: nftables, log_group: {LOG_GROUP}}}\n"
        f"vms:\n  - {{name: {guest.name}, connection: lab, policy: lab.yaml, address: {ADDRESS}, mac: '{MAC}'}}\n"
    )
    return path


def _fetch(guest, port: int, host: str = HOST) -> bool:
    """An HTTP answer from host:port (busybox nc; the static busybox's wget crashes)."""
    got = guest.exec(
        ["/bin/sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port}"], timeout=20
    )
    return got.stdout.startswith("HTTP/1.0 200")


def _dhcp(guest, address: str = ADDRESS) -> str:
    guest.exec(["/bin/sh", "-c", f"printf '%s\\n' '{DHCP_SCRIPT}' > /tmp/dhcp.sh; chmod +x /tmp/dhcp.sh"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        iface = guest.exec(["/bin/sh", "-c", "ls /sys/class/net | grep -v lo | head -1"]).stdout.strip()
        if iface:
            guest.exec(
                ["/bin/sh", "-c", f"ifconfig {iface} up; udhcpc -i {iface} -n -q -t 5 -s /tmp/dhcp.sh"],
                timeout=40,
            )
            shown = guest.exec(["/bin/sh", "-c", f"ifconfig {iface}"]).stdout
            if address in shown:
                return iface
        time.sleep(1)
    raise AssertionError(f"no DHCP lease in the guest: {guest.console_text()[-1500:]}")


def _firewall(plv, inv: Path, action: str, backend: str) -> None:
    """`vmguard firewall ACTION` inside the namespace; iptables through its legacy tools,
    python-iptables' backend (as the firewall tests do)."""
    env = dict(os.environ)
    if backend == "iptables":
        env["PATH"] = f"{legacy_bin(inv.parent / 'legacy-bin')}:{env['PATH']}"
    argv = plv.ns.argv(
        sys.executable, "-m", "vmguard", "firewall", action, "--backend", backend, "--inventory", str(inv)
    )
    fw = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert fw.returncode == 0, fw.stdout + fw.stderr


@contextmanager
def _nflog(plv, root: Path) -> Iterator[list[str]]:
    """What `tcpdump -i nflog:LOG_GROUP` in the namespace printed meanwhile (lines, after)."""
    out, lines = root / "nflog.txt", []
    with open(out, "w") as sink:
        proc = plv.ns.popen(
            "tcpdump", "-i", f"nflog:{LOG_GROUP}", "-n", "-l", "-U", stdout=sink, stderr=subprocess.PIPE
        )
    try:
        said = [proc.stderr.readline() for _ in range(2)]  # a hint line, then this
        assert any(b"listening on" in line for line in said), said  # bound before traffic
        yield lines
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        lines += out.read_text().splitlines()


def _as(guest, iface: str, *, ip: str = ADDRESS, mac: str = MAC) -> None:
    """Give the guest's NIC another address or MAC (what a hostile guest can do)."""
    guest.exec(
        [
            "/bin/sh",
            "-c",
            f"ifconfig {iface} down; ifconfig {iface} hw ether {mac}; "
            f"ifconfig {iface} {ip} netmask 255.255.255.0 up",
        ]
    )


@pytest.fixture(scope="module")
def moved(lab):
    """The admin's first steps: apply moves the NIC (live), the guest takes its lease."""
    plv, guest, root = lab
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VMGUARD_LOG", str(root / "events.jsonl"))
        mp.setenv("VMGUARD_STATE_DIR", str(root / "state"))
        inv = _inventory(plv, guest, root)
        # the firewall is applied by the tests below, in the namespace (this process is not)
        assert main(["apply", "--inventory", str(inv), "--next-boot", "--no-firewall"]) == 0
    return plv, guest, inv, _dhcp(guest)


def test_apply_moved_the_nic_live_and_dhcp_came_from_the_host_only_network(moved) -> None:
    _plv, guest, _inv, _iface = moved
    live = guest.dom.XMLDesc(0)
    assert "<source network='lab-hostonly'" in live and MAC in live  # moved while running
    assert "type='user'" not in live
    assert _fetch(guest, 8080) and _fetch(guest, 8081) and _fetch(guest, 8080, OTHER)  # no firewall yet
    assert _fetch(guest, 8080, PEER)  # and the other VM answers


@pytest.mark.parametrize(
    "backend",
    [
        "nftables",
        "iptables",  # its anti-spoofing bitmap over one VM's address: a range, not a /32
    ],
)
def test_the_firewall_lets_the_guest_reach_only_its_endpoint(moved, backend) -> None:
    plv, guest, inv, iface = moved
    _firewall(plv, inv, "apply", backend)
    try:
        with _nflog(plv, inv.parent) as allowed:
            assert _fetch(guest, 8080)  # the allowed endpoint (control: nothing logged)
        with _nflog(plv, inv.parent) as logged:
            _drops(guest, iface)
    finally:
        _as(guest, iface)
        _firewall(plv, inv, "remove", backend)
    assert _fetch(guest, 8081)  # removed: vmguard's rules were what dropped it
    text = "\n".join(logged)  # the first drops of each log rule (rate-limited, burst 5)
    assert f"IP {ADDRESS}." in text and f" > {HOST}.8081:" in text, text  # log_denied: the drops
    assert f" > {OTHER}.8080:" in text, text
    assert not any(f" > {HOST}.8080:" in line for line in allowed), allowed  # control: allowed, not logged


def _drops(guest, iface: str) -> None:
    """Each case the firewall must drop, then a control that is allowed again."""
    assert _fetch(guest, 8080)  # the allowed endpoint
    assert not _fetch(guest, 8081)  # another port of the same host: dropped
    assert not _fetch(guest, 8080, OTHER)  # the same port on another address: dropped
    assert not _fetch(guest, 8080, PEER)  # another VM on the same network: dropped
    _as(guest, iface, ip="10.77.0.50")
    assert not _fetch(guest, 8080)  # a spoofed source address: dropped
    _as(guest, iface, mac="52:54:00:77:00:99")
    assert not _fetch(guest, 8080)  # a spoofed MAC: dropped
    _as(guest, iface)
    assert _fetch(guest, 8080)  # control: itself again, allowed again


DRIFT_NIC = user_nic("52:54:00:77:00:21")


def test_drift_a_nat_nic_added_is_flagged_by_watch_within_2s_and_moved_by_apply(moved, tmp_path) -> None:
    plv, guest, inv, _iface = moved
    env = {
        **os.environ,
        "VMGUARD_LOG": str(tmp_path / "events.jsonl"),
        "VMGUARD_STATE_DIR": str(tmp_path / "state"),
    }
    with watching(inv, env) as (proc, _):
        added = time.monotonic()
        flags = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
        guest.dom.attachDeviceFlags(DRIFT_NIC, flags)  # what `virsh attach-interface` does
        _, seen = read_until(proc, "VMG-NET-002")
        assert seen - added < 2.0, f"flagged after {seen - added:.2f}s"
        apply = subprocess.run(
            [
                sys.executable,
                "-m",
                "vmguard",
                "apply",
                "--inventory",
                str(inv),
                "--next-boot",
                "--no-firewall",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert apply.returncode == 0, apply.stdout + apply.stderr
        read_until(proc, "resolved VMG-NET-002")
    live = guest.dom.XMLDesc(0)
    assert "type='user'" not in live and live.count("<source network='lab-hostonly'") == 2
