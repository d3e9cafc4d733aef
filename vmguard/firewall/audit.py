"""Live firewall vs compiled ruleset: what is missing, extra, modified, unhooked, shadowed.

The expected side is not guessed from our own text: the same backend loads the compiled
ruleset into a scratch network namespace (`unshare --net`, gone when the child exits)
and reads it back, so the kernel and the tool normalize both sides the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from vmguard.core.errors import FirewallError
from vmguard.firewall.interface import FirewallRule, Hook, RulesetSnapshot
from vmguard.firewall.model import Ruleset

SCRATCH_TIMEOUT = 600


class DriftKind(StrEnum):
    TABLE_MISSING = "table-missing"  # everything vmguard added is gone (firewall reload)
    CHAIN_MISSING = "chain-missing"
    CHAIN_EXTRA = "chain-extra"
    JUMP_MISSING = "jump-missing"  # our chains are no longer reached
    JUMP_SHADOWED = "jump-shadowed"  # an earlier ACCEPT lets traffic skip our chains
    RULE_MISSING = "rule-missing"
    RULE_EXTRA = "rule-extra"
    RULE_MODIFIED = "rule-modified"
    SET_MISSING = "set-missing"
    SET_ELEMENTS_MISSING = "set-elements-missing"
    SET_ELEMENTS_EXTRA = "set-elements-extra"


@dataclass(frozen=True)
class RulesetDrift:
    kind: DriftKind
    where: str  # chain or set name
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.where}: {self.detail}"


@dataclass(frozen=True)
class FirewallAudit:
    """The typed result the firewall host checks (VMG-FW-*) read."""

    backend: str
    drifts: tuple[RulesetDrift, ...]
    vm_count: int
    unfiltered_bridges: tuple[str, ...] = ()  # "BRIDGE: SETTING": bridged traffic skips netfilter
    unseen: tuple[str, ...] = ()  # what could not be learned from the hypervisors (HostFacts)

    @property
    def clean(self) -> bool:
        return not self.drifts and not self.unfiltered_bridges

    def of(self, *kinds: DriftKind) -> tuple[RulesetDrift, ...]:
        return tuple(d for d in self.drifts if d.kind in kinds)


def compare(expected: RulesetSnapshot, live: RulesetSnapshot) -> tuple[RulesetDrift, ...]:
    if expected.present and not live.present:
        return (RulesetDrift(DriftKind.TABLE_MISSING, "-", "vmguard's rules are not loaded at all"),)
    hooks = list(_hook_drifts(expected.hooks, live.hooks))
    reported = {(d.where, d.detail) for d in hooks}
    return (*hooks, *_chain_drifts(expected, live, reported), *_set_drifts(expected, live))


def _hook_drifts(expected: tuple[Hook, ...], live: tuple[Hook, ...]) -> Iterator[RulesetDrift]:
    found = {(h.chain, h.jump): h for h in live}
    for hook in expected:
        got = found.get((hook.chain, hook.jump))
        if got is None:
            yield RulesetDrift(DriftKind.JUMP_MISSING, hook.chain, hook.jump)
            continue
        for rule in got.shadowed_by:
            yield RulesetDrift(DriftKind.JUMP_SHADOWED, hook.chain, rule)


def _chain_drifts(
    expected: RulesetSnapshot, live: RulesetSnapshot, reported: set[tuple[str, str]]
) -> Iterator[RulesetDrift]:
    for name in sorted(set(live.chains) - set(expected.chains)):
        yield RulesetDrift(DriftKind.CHAIN_EXTRA, name, f"{len(live.chains[name])} rules")
    for name, rules in expected.chains.items():
        if name not in live.chains:
            yield RulesetDrift(DriftKind.CHAIN_MISSING, name, f"{len(rules)} rules")
            continue
        yield from _rule_drifts(name, rules, live.chains[name], reported)


def _rule_drifts(
    chain: str, want: tuple[FirewallRule, ...], have: tuple[FirewallRule, ...], reported: set[str]
) -> Iterator[RulesetDrift]:
    have_by = {r.key: r for r in have}
    want_by = {r.key: r for r in want}
    for rule in want:
        got = have_by.get(rule.key)
        if got is None and (chain, rule.key) not in reported:
            yield RulesetDrift(DriftKind.RULE_MISSING, chain, rule.key)
        elif got is not None and got.text != rule.text:
            yield RulesetDrift(DriftKind.RULE_MODIFIED, chain, f"{rule.key}: now {got.text}")
    for rule in have:
        if rule.key not in want_by and (chain, rule.key) not in reported:
            yield RulesetDrift(DriftKind.RULE_EXTRA, chain, rule.key)


def _set_drifts(expected: RulesetSnapshot, live: RulesetSnapshot) -> Iterator[RulesetDrift]:
    for name, want in expected.sets.items():
        have = live.sets.get(name)
        if have is None:
            yield RulesetDrift(DriftKind.SET_MISSING, name, f"{len(want)} elements")
            continue
        if missing := want - have:
            yield RulesetDrift(DriftKind.SET_ELEMENTS_MISSING, name, _sample(missing))
        if extra := have - want:
            yield RulesetDrift(DriftKind.SET_ELEMENTS_EXTRA, name, _sample(extra))


def _sample(items: frozenset[str], limit: int = 5) -> str:
    shown = sorted(items)[:limit]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(shown) + more


def expected_snapshot(backend: str, ruleset: Ruleset) -> RulesetSnapshot:
    """Load `ruleset` with `backend` into a throw-away namespace and read it back."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise FirewallError("unshare (util-linux) not found: needed to normalize the ruleset")
    argv = [unshare, "--net", "--", sys.executable, "-m", "vmguard.firewall.scratch", backend]
    with tempfile.TemporaryDirectory(prefix="vmguard-scratch-") as records:
        # The scratch load's record of what it loaded dies with it, like its namespace.
        env = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "VMGUARD_STATE_DIR": records,
        }
        proc = subprocess.run(
            argv,
            input=json.dumps(ruleset.to_dict()),
            capture_output=True,
            text=True,
            timeout=SCRATCH_TIMEOUT,
            check=False,
            env=env,
        )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["no message"]
        raise FirewallError(f"could not load the compiled ruleset in a scratch namespace: {lines[-1]}")
    return RulesetSnapshot.from_dict(json.loads(proc.stdout))


BR_NETFILTER = ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables")


def unfiltered_bridges(interfaces: tuple[str, ...]) -> tuple[str, ...]:
    """ "BRIDGE: SETTING" for each VM interface that is a bridge while one of br_netfilter's
    settings is off (or br_netfilter is not loaded): bridged IPv4 or IPv6 then skips
    the IP hooks, so nothing there stops VM-to-VM traffic of that family.
    VLAN-tagged frames need no setting: the bridge table drops them."""
    bridges = [i for i in interfaces if Path(f"/sys/class/net/{i}/bridge").exists()]
    off = [f"net.bridge.{s}" for s in BR_NETFILTER if not _enabled(s)]
    return tuple(f"{b}: {s} is not 1" for b in bridges for s in off)


def _enabled(setting: str) -> bool:
    path = Path("/proc/sys/net/bridge") / setting
    return path.exists() and path.read_text().strip() == "1"
