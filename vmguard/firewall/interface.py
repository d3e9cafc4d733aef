"""What a firewall backend (nftables, iptables) offers, and the normalized state it reads.

A backend reads what it owns into a RulesetSnapshot; audit.py compares the live RulesetSnapshot with
the RulesetSnapshot of the compiled ruleset (loaded by the same backend into a scratch network
namespace), so both sides are normalized by the kernel and the tool alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from vmguard.firewall.model import Ruleset, VmRules


@dataclass(frozen=True)
class FirewallRule:
    """One rule in normalized form: `key` identifies it (its comment), `text` is all of it."""

    key: str
    text: str
    accepts: bool = False  # an unconditional-enough ACCEPT: would shadow a later jump


@dataclass(frozen=True)
class Hook:
    """How our rules are reached from the kernel hooks: the jump in INPUT/FORWARD/..."""

    chain: str  # where the jump lives: "forward" (our nftables base chain), "ip filter FORWARD"
    jump: str  # the jump rule's key
    present: bool = True
    shadowed_by: tuple[str, ...] = ()  # earlier ACCEPT rules in front of the jump


@dataclass(frozen=True)
class RulesetSnapshot:
    """The part of the live firewall that vmguard owns, normalized for comparison."""

    present: bool  # False: our table / chains are gone (flushed by a firewall reload)
    chains: dict[str, tuple[FirewallRule, ...]] = field(default_factory=dict)
    sets: dict[str, frozenset[str]] = field(default_factory=dict)
    hooks: tuple[Hook, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "chains": {c: [[r.key, r.text, r.accepts] for r in rs] for c, rs in self.chains.items()},
            "sets": {s: sorted(e) for s, e in self.sets.items()},
            "hooks": [[h.chain, h.jump, h.present, list(h.shadowed_by)] for h in self.hooks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RulesetSnapshot:
        return cls(
            data["present"],
            {c: tuple(FirewallRule(*r) for r in rs) for c, rs in data["chains"].items()},
            {s: frozenset(e) for s, e in data["sets"].items()},
            tuple(Hook(c, j, p, tuple(s)) for c, j, p, s in data["hooks"]),
        )


class Backend(Protocol):
    """One firewall implementation. Every method touches only what vmguard owns."""

    name: str

    def check(self) -> None:
        """Raise FirewallError (exit 3) if this host cannot run the backend at all."""

    def render(self, ruleset: Ruleset) -> str:
        """The ruleset in the backend's own readable syntax (for `plan` and `show`)."""

    def snapshot(self) -> RulesetSnapshot:
        """Read the live state vmguard owns."""

    def show(self) -> str:
        """The live state vmguard owns, in the backend's own listing format."""

    def apply(self, ruleset: Ruleset) -> None:
        """Replace everything vmguard owns with `ruleset`, atomically."""

    def restore(self, text: str, *, check: bool = False) -> None:
        """Replace everything vmguard owns with a listing `show` made (check: only try)."""

    def update_vm(self, ruleset: Ruleset, vm: VmRules | None, name: str) -> None:
        """Add, replace (vm given) or remove (vm None) one VM's rules, incrementally."""

    def remove(self) -> bool:
        """Remove everything vmguard added; False if there was nothing."""
