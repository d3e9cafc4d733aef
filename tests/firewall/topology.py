"""The firewall test network, all inside namespaces named vmg<pid>-...:

    vm1 (10.70.0.11, 52:54:00:70:00:11) --veth--+
    vm2 (10.70.0.12, 52:54:00:70:00:12) --veth--+ br0 10.70.0.1   host (ip_forward on)
                                                  h-svc 10.80.0.1 ---- services 10.80.0.10
                                                                                10.80.0.20
                                                  h-out 10.90.0.1 ---- outside  10.90.0.10

Listeners (tests/firewall/listen.py) on services:3306,2401,22,8080 (TCP) and 5514 (UDP,
records what arrives), on each VM:22,8080, on host:9000, on outside:22. vmguard runs in `host` only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.netns import Netns, netns, veth_pair

HERE = Path(__file__).parent
LISTEN = HERE / "listen.py"
PROBE = HERE / "probe.py"
VMS = {"vm1": ("10.70.0.11", "52:54:00:70:00:11"), "vm2": ("10.70.0.12", "52:54:00:70:00:12")}
SERVICES = ("10.80.0.10", "10.80.0.20")


@dataclass
class Topology:
    host: Netns
    services: Netns
    outside: Netns
    vms: dict[str, Netns]
    udp_log: Path

    def reach(self, src: Netns, *targets: str, source: str | None = None) -> dict[str, bool]:
        """Which "addr:port" TCP targets `src` can connect to (0.5 s timeout each, in parallel)."""
        argv = [sys.executable, str(PROBE), *(["--source", source] if source else []), *targets]
        out = src.run(*argv, timeout=30).stdout
        return json.loads(out)

    def send_udp(
        self, src: Netns, tag: str, source: str | None = None, target: str = "10.80.0.10:5514"
    ) -> None:
        argv = [sys.executable, str(PROBE), "--udp", tag, *(["--source", source] if source else []), target]
        src.run(*argv, timeout=30)

    def udp_seen(self, tag: str, wait: float = 10.0) -> bool:
        """Whether the listener logged `tag` within `wait` s: a datagram that passes is
        awaited (a fixed 0.3 s lost to a busy machine); `assert not` checks pass a short
        wait, as nothing marks a datagram that never comes."""
        deadline = time.monotonic() + wait
        while tag not in self.udp_log.read_text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


def _vm(host: Netns, ns: Netns, name: str, addr: str, mac: str) -> None:
    veth_pair(ns, host, f"{addr}/24", "0.0.0.0/32", names=("eth0", f"p-{name}"))
    host.run("ip", "addr", "flush", "dev", f"p-{name}")
    host.run("ip", "link", "set", f"p-{name}", "master", "br0")
    ns.run("ip", "link", "set", "eth0", "address", mac)
    ns.run("ip", "route", "add", "default", "via", "10.70.0.1")


def _listen(stack: ExitStack, ns: Netns, *ports: str, log: Path | None = None) -> None:
    argv = [sys.executable, str(LISTEN), *(["--udp-log", str(log)] if log else []), *ports]
    proc = ns.popen(*argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    stack.callback(proc.kill)


@contextmanager
def topology(tmp: Path) -> Iterator[Topology]:
    with ExitStack() as stack:
        host, services, outside = (stack.enter_context(netns(t)) for t in ("host", "svc", "out"))
        vms = {name: stack.enter_context(netns(name)) for name in VMS}
        host.run("ip", "link", "add", "br0", "type", "bridge")
        host.run("ip", "addr", "add", "10.70.0.1/24", "dev", "br0")
        host.run("ip", "link", "set", "br0", "up")
        host.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        for name, (addr, mac) in VMS.items():
            _vm(host, vms[name], name, addr, mac)
        veth_pair(host, services, "10.80.0.1/24", "10.80.0.10/24", names=("h-svc", "eth0"))
        services.run("ip", "addr", "add", "10.80.0.20/24", "dev", "eth0")
        services.run("ip", "route", "add", "default", "via", "10.80.0.1")
        veth_pair(host, outside, "10.90.0.1/24", "10.90.0.10/24", names=("h-out", "eth0"))
        outside.run("ip", "route", "add", "default", "via", "10.90.0.1")
        udp_log = tmp / "udp.log"
        udp_log.write_text("")
        _listen(stack, services, "3306", "2401", "22", "8080", "u5514", log=udp_log)
        for ns in vms.values():
            _listen(stack, ns, "22", "8080")
        _listen(stack, host, "9000")
        _listen(stack, outside, "22")
        yield Topology(host, services, outside, vms, udp_log)
