"""Detect vmguard firewall state or test namespaces left behind: the session-end check.

Tests may change firewalls only inside namespaces they create. Anything named like
vmguard in the machine's own nftables/iptables, or a leftover vmg* namespace, is a leak.
Every function only reads; pass `netns` to look inside a namespace instead (for tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.support.netns import PREFIX, Netns, namespace_names
from tests.support.ownership import owner_pid, pid_alive

IPTABLES_SAVES = ("iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save")


def _read(command: list[str], netns: str | None) -> str:
    argv = Netns(netns).argv(*command) if netns else command
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        return f"<{command[0]} failed: {proc.stderr.strip()}>"
    return proc.stdout


def _unchecked(tool: str) -> list[str]:
    """A missing tool hides leaks: in CI that counts as a failure, locally it is noted."""
    note = f"{tool} not installed: could not check"
    return [note] if os.environ.get("CI") else []


def nft_leaks(netns: str | None = None) -> list[str]:
    if shutil.which("nft") is None:
        return _unchecked("nft")
    out = _read(["nft", "list", "tables"], netns)
    # Lines read "table <family> <name>".
    return [
        f"nftables: {line.strip()}"
        for line in out.splitlines()
        if line.startswith("table ") and "vmguard" in line.split()[-1].lower()
    ]


def iptables_leaks(netns: str | None = None) -> list[str]:
    leaks: list[str] = []
    for tool in IPTABLES_SAVES:
        if shutil.which(tool) is None:
            leaks += _unchecked(tool)
            continue
        # Chains are declared as ":<name> <policy> [packets:bytes]".
        chains = [line[1:].split()[0] for line in _read([tool], netns).splitlines() if line.startswith(":")]
        leaks += [f"{tool}: chain {chain}" for chain in chains if chain.lower().startswith("vmg")]
    return leaks


def firewall_leaks(netns: str | None = None) -> list[str]:
    return nft_leaks(netns) + iptables_leaks(netns)


MACHINE_HOOK = "/etc/libvirt/hooks/qemu.d/vmguard"


def hook_leaks() -> list[str]:
    """A start-gate hook in the machine's own libvirt: tests install hooks only into the
    private libvirtd's hooks directory (tests/gate/lab.py)."""
    return (
        [f"libvirt hook {MACHINE_HOOK} installed on the machine (rm it)"]
        if os.path.lexists(MACHINE_HOOK)
        else []
    )


def namespace_leaks(existed_before: frozenset[str] = frozenset()) -> list[str]:
    """vmg* namespaces this process or a dead one made, or new ones of unknown origin.

    A namespace whose creator (see ownership.owner_pid) still runs belongs to a concurrent
    test run and is not ours to judge.
    """
    return [
        f"network namespace {name} left over (ip netns delete {name})"
        for name in namespace_names()
        if _is_leak(name, existed_before)
    ]


def _is_leak(name: str, existed_before: frozenset[str]) -> bool:
    if not name.startswith(PREFIX):
        return False
    owner = owner_pid(name, PREFIX)
    if owner is None:
        return name not in existed_before
    return owner == os.getpid() or not pid_alive(owner)
