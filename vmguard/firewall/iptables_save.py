"""Reading `iptables-legacy-save`: vmguard's chains, normalized, and how they are hooked.

A hook is shadowed when traffic can be accepted before it reaches vmguard's jump: by an
ACCEPT earlier in the built-in chain, or by an ACCEPT reached through a jump (or goto)
there into a foreign chain, followed through every chain it jumps to in turn.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Iterator

from vmguard.firewall import ipsets
from vmguard.firewall.interface import FirewallRule, Hook
from vmguard.firewall.iptables_rules import JUMP, JUMPS

SAVE = {4: "iptables-legacy-save", 6: "ip6tables-legacy-save"}
_COMMENT = re.compile(r'--comment (?:"([^"]*)"|(\S+))')
_TARGET = re.compile(r"(?:^| )-[jg] (\S+)$")


def _rule(line: str, seen: Counter[str]) -> FirewallRule:
    found = _COMMENT.search(line)
    key = (found.group(1) or found.group(2)) if found else line
    seen[key] += 1
    key = key if seen[key] == 1 else f"{key} #{seen[key]}"
    return FirewallRule(key, ipsets.unslotted(line), line.endswith("-j ACCEPT"))


def parse_save(version: int) -> tuple[dict[str, tuple[FirewallRule, ...]], list[Hook]]:
    out = subprocess.run(
        [SAVE[version], "-t", "filter"], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    family = "ip6" if version == 6 else "ip"
    chains: dict[str, list[FirewallRule]] = {}
    seen: dict[str, Counter[str]] = {}
    every: dict[str, list[str]] = {b: [] for b in JUMPS}  # all chains' rules, foreign too
    for line in out.splitlines():
        if line.startswith(":VMG-"):
            chains.setdefault(f"{family} {line[1:].split()[0]}", [])
        elif line.startswith("-A "):
            chain, rest = line[3:].split(" ", 1)
            every.setdefault(chain, []).append(rest)
            if chain.startswith("VMG-"):
                name = f"{family} {chain}"
                chains.setdefault(name, []).append(_rule(rest, seen.setdefault(name, Counter())))
    return {c: tuple(rs) for c, rs in chains.items()}, _hooks(family, every)


def _accepts(rest: str, every: dict[str, list[str]], path: tuple[str, ...]) -> Iterator[str]:
    """The ACCEPTs that rule `rest` can end in, each with the chains it passed through."""
    if rest.endswith("-j ACCEPT"):
        yield " -> ".join((*path, rest))
        return
    found = _TARGET.search(rest)
    target = found.group(1) if found else ""
    if target in every and not target.startswith("VMG-") and target not in path:
        for sub in every[target]:
            yield from _accepts(sub, every, (*path, f"{rest} [{target}]"))


def _hooks(family: str, every: dict[str, list[str]]) -> list[Hook]:
    hooks = []
    for builtin, target in JUMPS.items():
        rules = every[builtin]
        for i, rest in enumerate(rules):
            if rest.endswith(f"-j {target}"):
                earlier = tuple(a for r in rules[:i] for a in _accepts(r, every, ()))
                hooks.append(Hook(f"{family} filter {builtin}", f"{JUMP} {target}", True, earlier))
    return hooks
