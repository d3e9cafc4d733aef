"""The iptables backend, through python-iptables (legacy iptables only) and ipset.

vmguard owns the chains named VMG-* in the filter tables and the ipsets named vmg-*;
it adds exactly one jump each to INPUT, FORWARD and OUTPUT, at their top. Rules are
committed per table with autocommit off, so a failure leaves the previous rules in
force; EAGAIN (another tool committing at the same moment) is retried.

IPv4 only: IPv6 from and to the VM interfaces is dropped, and a policy with an IPv6
endpoint is refused here (the nftables backend supports it).

Frames on the VM bridges (port binding, VLAN tags, ethertypes, ARP between VMs and to
the host) are filtered by nftables' bridge family here too (nftables_bridge.py, loaded
by `nft` after the iptables commit). ARP on a VM interface that is no bridge (vboxnet0)
is not filtered by this backend (it would take arptables); `plan` says so.

`show` and `restore` (what `apply` saves and `rollback` puts back): iptables_restore.py.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from vmguard.core.errors import FirewallError
from vmguard.firewall import ipsets, iptables_restore
from vmguard.firewall import nftables as nft
from vmguard.firewall import nftables_render as nr
from vmguard.firewall.interface import FirewallRule, Hook, RulesetSnapshot
from vmguard.firewall.iptables_rules import JUMP, JUMPS, as_text, chains_v4, chains_v6
from vmguard.firewall.iptables_save import SAVE, parse_save
from vmguard.firewall.model import Ruleset, VmRules

# A tool that commits without the lock in a tight loop can win many times in a row on a
# busy machine: many short tries (backoff capped at 1 s, about 30 s in all) before exit 3.
RETRIES = 40
XTABLES_LOCK = "/run/xtables.lock"
NO_ARP = (
    "# ARP anti-spoofing: on bridges only (table bridge vmguard); ARP on a VM interface "
    "that is no bridge is not filtered by the iptables backend: use nftables"
)
LOCK_WAIT = 10.0


def _iptc() -> Any:
    try:
        import iptc  # python-iptables: optional extra vmguard[iptables]
    except ImportError as err:
        raise FirewallError(
            "python-iptables is not installed: pip install 'vmguard[iptables]', or use --backend nftables"
        ) from err
    return iptc


def nft_based() -> bool:
    """True when this host's `iptables` command is iptables-nft."""
    binary = shutil.which("iptables")
    if binary is None:
        return False
    proc = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=30, check=False)
    return "nf_tables" in proc.stdout


@contextmanager
def _xtables_lock() -> Iterator[None]:
    """The lock `iptables -w` takes: python-iptables does not, so we take it ourselves."""
    fd = os.open(XTABLES_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as err:
                if time.monotonic() > deadline:
                    raise FirewallError(
                        f"another tool has held {XTABLES_LOCK} for {LOCK_WAIT:.0f} s; nothing changed"
                    ) from err
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _commit(builds: dict[int, Callable[[Any], None]]) -> None:
    """Stage every table first, then commit each; retry all when another tool won (EAGAIN).

    A mistake found while staging leaves every table as it was; a commit replaces one
    table's rules at once in the kernel. Tools that skip the xtables lock (other
    python-iptables users) can still commit in between: that is the EAGAIN retried here.
    """
    with _xtables_lock():
        _commit_locked(builds)


def _commit_locked(builds: dict[int, Callable[[Any], None]]) -> None:
    iptc = _iptc()
    for attempt in range(RETRIES):
        tables = {v: _fresh(iptc, v) for v in builds}
        try:
            for version, build in builds.items():
                build(tables[version])
            for table in tables.values():
                table.commit()
            return
        except ValueError as err:
            raise FirewallError(f"invalid iptables rule, nothing changed: {err}") from err
        except iptc.IPTCError as err:
            if os.strerror(errno.EAGAIN) not in str(err):
                raise FirewallError(f"iptables commit failed: {err}") from err
            time.sleep(min(0.05 * 2**attempt, 1.0))
    raise FirewallError("iptables stayed busy (EAGAIN: another tool kept committing); try again")


def _fresh(iptc: Any, version: int) -> Any:
    cls = iptc.Table if version == 4 else iptc.Table6
    table = cls(cls.FILTER)
    table.autocommit = False
    table.refresh()
    return table


def _install(chains: dict[str, list[dict[str, Any]]], version: int) -> Callable[[Any], None]:
    iptc = _iptc()
    ipv6 = version == 6

    def build(table: Any) -> None:
        for name in chains:
            if not table.is_chain(name):
                table.create_chain(name)
            iptc.Chain(table, name).flush()
        for name, rules in chains.items():
            chain = iptc.Chain(table, name)
            for rule in rules:
                chain.append_rule(iptc.easy.encode_iptc_rule(rule, ipv6))
        for builtin, target in JUMPS.items():
            _ensure_jump(iptc, table, builtin, target, ipv6)

    return build


def _is_ours(rule: Any) -> bool:
    return rule.target is not None and rule.target.name.startswith("VMG-")


def _ensure_jump(iptc: Any, table: Any, builtin: str, target: str, ipv6: bool) -> None:
    chain = iptc.Chain(table, builtin)
    for rule in [r for r in chain.rules if _is_ours(r)]:
        chain.delete_rule(rule)  # one jump, always first: re-inserted below
    jump = {"comment": {"comment": f"{JUMP} {target}"}, "target": target}
    chain.insert_rule(iptc.easy.encode_iptc_rule(jump, ipv6))


def _uninstall(table: Any) -> None:
    iptc = _iptc()
    for builtin in JUMPS:
        chain = iptc.Chain(table, builtin)
        for rule in [r for r in chain.rules if _is_ours(r)]:
            chain.delete_rule(rule)
    ours = [c for c in table.chains if c.name.startswith("VMG-")]
    for chain in ours:
        chain.flush()
    for chain in ours:
        table.delete_chain(chain.name)


class IptablesBackend:
    name = "iptables"

    def check(self) -> None:
        if os.geteuid() != 0:
            raise FirewallError("changing the host firewall needs root (run with sudo)")
        if nft_based():
            raise FirewallError(
                "this host's iptables is nft-based (iptables-nft); python-iptables writes "
                "legacy rules that it would not show: use --backend nftables"
            )
        for tool in ("ipset", "nft", *SAVE.values(), *iptables_restore.RESTORE.values()):
            if shutil.which(tool) is None:
                raise FirewallError(f"{tool} not found: install the iptables and ipset packages")
        _iptc()

    def render(self, ruleset: Ruleset) -> str:
        _refuse_ipv6(ruleset)
        lines = [NO_ARP, *(f"# ipset {line}" for line in ipsets.describe(ruleset))]
        for version, chains in ((4, chains_v4(ruleset)), (6, chains_v6(ruleset))):
            lines.append(f"# {'ip6tables' if version == 6 else 'iptables'} filter")
            for name, rules in chains.items():
                lines += [f"-A {name} {as_text(rule)}" for rule in rules]
        lines += [f"-I {b} 1 -j {t}  # {JUMP} {t}" for b, t in JUMPS.items()]
        return "\n".join(lines) + "\n# nftables (frames on the VM bridges)\n" + nr.bridge_script(ruleset)

    def apply(self, ruleset: Ruleset) -> None:
        """Sets of the unused slot filled; IPv6 table committed, then the IPv4 table,
        whose one commit switches its rules and every set at once (ipsets.py); the old
        slot destroyed; the bridge table replaced. What a kill between these steps can
        leave, and how the next apply repairs it: README, "The host firewall"."""
        _refuse_ipv6(ruleset)
        slot = ipsets.prepare(ruleset)
        try:
            _commit({6: _install(chains_v6(ruleset), 6), 4: _install(chains_v4(ruleset, slot), 4)})
        except FirewallError:
            ipsets.discard(slot)
            raise
        ipsets.retire(slot)
        nft.load_bridge_table(ruleset)

    def update_vm(self, ruleset: Ruleset, vm: VmRules | None, name: str) -> None:
        """A full apply: the per-VM data is all in ipsets, so this is one `ipset restore`,
        three swaps and a fixed handful of rules (3 s for 10,000 VMs), never a process per
        rule. Per-element updates like the nftables backend's are not done here yet."""
        self.apply(ruleset)

    def restore(self, text: str, *, check: bool = False) -> None:
        """Put back a listing `show` made, table by table (iptables_restore.py)."""
        iptables_restore.restore(text, check=check)

    def remove(self) -> bool:
        present = self.snapshot().present
        _commit({4: _uninstall, 6: _uninstall})
        bridge = nft.remove_bridge_table()
        return ipsets.destroy() or present or bridge

    def show(self) -> str:
        return iptables_restore.show()

    def snapshot(self) -> RulesetSnapshot:
        chains: dict[str, tuple[FirewallRule, ...]] = {}
        hooks: list[Hook] = []
        for version in (4, 6):
            found, version_hooks = parse_save(version)
            chains.update(found)
            hooks += version_hooks
        sets = ipsets.snapshot()
        bridge = nft.bridge_snapshot()
        chains.update(bridge.chains)
        hooks += bridge.hooks
        return RulesetSnapshot(bool(chains) or bool(sets), chains, {**sets, **bridge.sets}, tuple(hooks))


def _refuse_ipv6(ruleset: Ruleset) -> None:
    wanting = [vm.name for vm in ruleset.vms if vm.ipv6]
    if wanting:
        raise FirewallError(
            f"{', '.join(wanting[:3])}: IPv6 endpoints need the nftables "
            "backend (the iptables backend drops all IPv6 of VMs)"
        )
