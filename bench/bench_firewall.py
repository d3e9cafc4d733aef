"""Benchmark: loading the host firewall for 10 .. 10,000 VMs (3-5 endpoints each).

Everything runs inside network namespaces this script creates and deletes (vmg<pid>-*);
the machine's own firewall is never touched. Measured in the same run:
  nft apply    vmguard's nftables apply (library: compile + load, one transaction)
  nft -f       `nft -f FILE` of the very same ruleset text (the floor for one transaction)
  ipt apply    vmguard's iptables apply (python-iptables + ipset restore of the unused slot)
  naive        one `iptables-legacy -A` process per rule (per VM, per endpoint, per port,
               plus one anti-spoofing rule per VM); it grows worse than linearly, so it is
               measured while it stays under --naive-budget seconds and fitted beyond
  update       add, then remove, one VM at the largest size (nftables, incremental)
  data plane   iperf3 TCP throughput VM -> services with 1 VM's rules vs the largest set
Targets: nft apply >= 50x faster than naive at 1,000 VMs; nft apply <= 1.5x nft -f at
10,000; one-VM update >= 10x faster than a full apply at 10,000; throughput >= 0.9x.

    python bench/bench_firewall.py [--sizes 10 100 1000 10000] [--naive-budget 60]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.netns import netns, veth_pair  # noqa: E402
from vmguard.firewall.backends import backend_for  # noqa: E402
from vmguard.firewall.compile import compile_ruleset  # noqa: E402
from vmguard.firewall.model import Ruleset  # noqa: E402
from vmguard.firewall.nftables_render import replace_script  # noqa: E402
from vmguard.inventory.model import (  # noqa: E402
    Connection,
    DriverKind,
    FirewallBackend,
    FirewallSettings,
    Inventory,
    VmEntry,
)
from vmguard.policy.model import (  # noqa: E402
    Egress,
    Ingress,
    Metadata,
    NetworkMode,
    NetworkPolicy,
    Policy,
    PortRange,
)

BRIDGE = "br0"
ROUNDS = 3  # vmguard apply, nft -f and the one-VM updates are each the median of 3 runs


def _addr(i: int) -> str:
    return f"10.100.{i // 250}.{i % 250 + 2}"


def _mac(i: int) -> str:
    return "52:54:00:" + ":".join(f"{(i >> s) & 0xFF:02x}" for s in (16, 8, 0))


def _policy(rng: random.Random, i: int) -> Policy:
    """3-5 endpoints: 2-4 egress (1-2 ports each) and one ingress."""
    egress = [
        Egress(
            f"svc-{i}-{k}",
            (ipaddress.ip_network(f"10.200.{rng.randrange(250)}.{rng.randrange(1, 250)}/32"),),
            tuple(PortRange(p, p) for p in rng.sample(range(1000, 9000), rng.randint(1, 2))),
        )
        for k in range(rng.randint(2, 4))
    ]
    if i == 0:  # the data-plane VM may reach iperf3 on the services namespace
        egress[0] = Egress("iperf3", (ipaddress.ip_network("10.201.0.2/32"),), (PortRange(5201, 5201),))
    ingress = (Ingress("admin-ssh", (PortRange(22, 22),), (ipaddress.ip_network("10.202.0.0/24"),)),)
    net = NetworkPolicy(NetworkMode.HOST_ONLY, tuple(egress), ingress, log_denied=True)
    return Policy(Metadata(f"p{i}"), "bench", network=net)


def inventory(n: int, backend: str) -> Inventory:
    rng = random.Random(n)  # noqa: S311 - reproducible synthetic data
    vms = tuple(
        VmEntry(f"vm-{i:05d}", "kvm", _policy(rng, i), (ipaddress.ip_address(_addr(i)),), _mac(i))
        for i in range(n)
    )
    return Inventory(
        "bench",
        (Connection("kvm", DriverKind.LIBVIRT),),
        vms,
        FirewallSettings(FirewallBackend(backend), (BRIDGE,)),
    )


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _median(fn, undo=lambda: None) -> float:
    """Median of ROUNDS timings (one run is at the mercy of a busy machine)."""
    times = []
    for _ in range(ROUNDS):
        times.append(_timed(fn))
        undo()
    return statistics.median(times)


def naive_rules(ruleset: Ruleset) -> list[list[str]]:
    """One rule per VM, endpoint, network and port, plus one anti-spoofing rule per VM."""
    rules = []
    for vm in ruleset.vms:
        addr = str(vm.addresses[0])
        rules.append(["-s", addr, "-m", "mac", "!", "--mac-source", vm.mac, "-j", "DROP"])
        for own, peer, flows in (("-s", "-d", vm.egress), ("-d", "-s", vm.ingress)):
            rules += [
                [
                    own,
                    addr,
                    peer,
                    str(net),
                    "-p",
                    flow.protocol.value,
                    "--dport",
                    str(port.first),
                    "-j",
                    "ACCEPT",
                ]
                for flow in flows
                for net in flow.nets
                for port in flow.ports
            ]
    return rules


# --------------------------------------------------------------- inside the namespace


def inside(args: argparse.Namespace) -> None:
    """Runs in the bench namespace: prints one JSON object of timings."""
    out: dict[str, object] = {"sizes": {}}
    nft, ipt = backend_for("nftables"), backend_for("iptables")
    for n in args.sizes:
        inv = inventory(n, "nftables")
        ruleset = compile_ruleset(inv)
        row: dict[str, float] = {"rules_naive": len(naive_rules(ruleset))}
        row["nft_apply"] = _median(lambda inv=inv: nft.apply(compile_ruleset(inv)), nft.remove)
        with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as fh:
            fh.write(replace_script(ruleset))
        row["nft_f"] = _median(lambda: subprocess.run(["nft", "-f", fh.name], check=True), nft.remove)
        os.unlink(fh.name)
        row["ipt_apply"] = _timed(lambda inv=inv: ipt.apply(compile_ruleset(inv)))
        ipt.remove()
        out["sizes"][n] = row
    big = max(args.sizes)
    out["update"] = _update(nft, big)
    out["naive"] = _naive(args)
    print(json.dumps(out))


def _update(nft, n: int) -> dict[str, float]:
    full = compile_ruleset(inventory(n, "nftables"))
    more = compile_ruleset(inventory(n + 1, "nftables"))
    nft.apply(full)
    new = more.vms[-1]
    add, remove = [], []
    for _ in range(ROUNDS):
        add.append(_timed(lambda: nft.update_vm(more, new, new.name)))
        remove.append(_timed(lambda: nft.update_vm(full, None, new.name)))
    full_apply = _median(lambda: nft.apply(full))
    return {"vms": n, "add": statistics.median(add), "remove": statistics.median(remove), "full": full_apply}


def _naive(args: argparse.Namespace) -> dict[str, object]:
    """Time one process per rule while it fits the budget; the rest is fitted."""
    measured: dict[int, float] = {}
    for n in sorted(args.sizes):
        rules = naive_rules(compile_ruleset(inventory(n, "nftables")))
        estimate = _fit(measured, len(rules)) if len(measured) >= 2 else 0.0
        if estimate > args.naive_budget:
            break
        subprocess.run(["iptables-legacy", "-N", "NAIVE"], check=True)
        start = time.perf_counter()
        for rule in rules:
            subprocess.run(["iptables-legacy", "-A", "NAIVE", *rule], check=True)
        measured[len(rules)] = time.perf_counter() - start
        subprocess.run(["iptables-legacy", "-F", "NAIVE"], check=True)
        subprocess.run(["iptables-legacy", "-X", "NAIVE"], check=True)
    return {"measured": measured}


def _fit(measured: dict[int, float], rules: int) -> float:
    """t(r) = a*r + b*r^2 through the two largest measured points (each call copies the table)."""
    (r1, t1), (r2, t2) = sorted(measured.items())[-2:]
    b = (t2 / r2 - t1 / r1) / (r2 - r1)
    a = t1 / r1 - b * r1
    return max(a * rules + b * rules * rules, t2 * rules / r2)


# --------------------------------------------------------------- outside: set up, report


def _in_ns(ns, *argv: str, env: dict[str, str]) -> str:
    cmd = ns.argv(sys.executable, __file__, *argv)
    return subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout


def _throughput(vm, seconds: int) -> float:
    out = vm.run("iperf3", "-c", "10.201.0.2", "-t", str(seconds), "-J", timeout=seconds + 30)
    return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9


def dataplane(host, vm, services, big: int, env: dict[str, str]) -> dict[str, float]:
    server = services.popen("iperf3", "-s", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        runs: dict[str, list[float]] = {"one": [], "big": []}
        for label, n in (("one", 1), ("big", big)) * 3:
            _in_ns(host, "--apply", str(n), env=env)
            runs[label].append(_throughput(vm, 3))
        return {label: statistics.median(values) for label, values in runs.items()}
    finally:
        server.kill()


def topology(stack, tmp: Path):
    host, vm, services = (stack.enter_context(netns(t)) for t in ("bench", "benchvm", "benchsvc"))
    host.run("ip", "link", "add", BRIDGE, "type", "bridge")
    host.run("ip", "addr", "add", "10.100.0.1/16", "dev", BRIDGE)
    host.run("ip", "link", "set", BRIDGE, "up")
    host.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    veth_pair(vm, host, f"{_addr(0)}/16", "0.0.0.0/32", names=("eth0", "p-vm"))
    host.run("ip", "addr", "flush", "dev", "p-vm")
    host.run("ip", "link", "set", "p-vm", "master", BRIDGE)
    vm.run("ip", "link", "set", "eth0", "address", _mac(0))
    vm.run("ip", "route", "add", "default", "via", "10.100.0.1")
    veth_pair(host, services, "10.201.0.1/24", "10.201.0.2/24", names=("h-svc", "eth0"))
    services.run("ip", "route", "add", "default", "via", "10.201.0.1")
    return host, vm, services


def legacy_env(tmp: Path) -> dict[str, str]:
    """python-iptables drives legacy iptables: put the legacy tools first on PATH."""
    folder = tmp / "legacy"
    folder.mkdir()
    for tool in ("iptables", "ip6tables", "iptables-save", "ip6tables-save"):
        (folder / tool).symlink_to(f"/usr/sbin/{tool.replace('tables', 'tables-legacy', 1)}")
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}


def report(data: dict, plane: dict[str, float], budget: float) -> None:
    sizes = {int(k): v for k, v in data["sizes"].items()}
    measured = {int(k): v for k, v in data["naive"]["measured"].items()}
    print(f"{'VMs':>6} {'rules':>7} {'nft apply':>10} {'nft -f':>8} {'ipt apply':>10} {'naive':>10}")
    for n, row in sorted(sizes.items()):
        r = int(row["rules_naive"])
        naive = measured.get(r)
        shown = f"{naive:9.2f}s" if naive is not None else f"~{_fit(measured, r):8.1f}s*"
        print(f"{n:>6} {r:>7} {row['nft_apply']:9.3f}s {row['nft_f']:7.3f}s {row['ipt_apply']:9.3f}s {shown}")
    print(f"* naive fitted as a*r+b*r^2 from the measured sizes (budget {budget:.0f}s each)")
    _ratios(sizes, measured, data["update"], plane)


def _ratios(sizes: dict, measured: dict, update: dict, plane: dict[str, float]) -> None:
    k = 1000 if 1000 in sizes else max(sizes)
    r = int(sizes[k]["rules_naive"])
    naive = measured.get(r, _fit(measured, r))
    big = max(sizes)
    lines = [
        (f"naive / nft apply at {k} VMs", naive / sizes[k]["nft_apply"], ">= 50"),
        (f"nft apply / nft -f at {big} VMs", sizes[big]["nft_apply"] / sizes[big]["nft_f"], "<= 1.5"),
        (f"naive / ipt apply at {k} VMs", naive / sizes[k]["ipt_apply"], "(info)"),
        (f"full apply / add one VM at {update['vms']}", update["full"] / update["add"], ">= 10"),
        (f"full apply / remove one VM at {update['vms']}", update["full"] / update["remove"], ">= 10"),
        (
            f"throughput {big} VMs / 1 VM ({plane['big']:.2f} / {plane['one']:.2f} Gbit/s)",
            plane["big"] / plane["one"],
            ">= 0.9",
        ),
    ]
    print(
        f"one-VM update at {update['vms']}: add {update['add'] * 1000:.0f} ms, "
        f"remove {update['remove'] * 1000:.0f} ms, full apply {update['full']:.2f} s"
    )
    for label, value, target in lines:
        print(f"  {label:<58} {value:8.2f}x   target {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--naive-budget", type=float, default=60.0)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--apply", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        return inside(args)
    if args.apply is not None:
        return backend_for("nftables").apply(compile_ruleset(inventory(args.apply, "nftables")))
    from contextlib import ExitStack

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        env = legacy_env(Path(tmp))
        host, vm, services = topology(stack, Path(tmp))
        data = json.loads(
            _in_ns(
                host,
                "--inside",
                "--sizes",
                *map(str, args.sizes),
                "--naive-budget",
                str(args.naive_budget),
                env=env,
            )
        )
        plane = dataplane(host, vm, services, max(args.sizes), env)
        report(data, plane, args.naive_budget)


if __name__ == "__main__":
    main()
