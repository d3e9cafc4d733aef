"""Text shared by every nftables table vmguard renders (nftables_render, nftables_bridge)."""

from __future__ import annotations

from collections.abc import Iterator

from vmguard.firewall.model import LOG_BURST, LOG_RATE_PER_MINUTE

JUMP = "vmguard jump"  # comment prefix of the rules that hook our chains into the kernel
LIMIT = f"limit rate {LOG_RATE_PER_MINUTE}/minute burst {LOG_BURST} packets"


def quote(text: str) -> str:
    """An nftables string literal (comments, prefixes) that cannot break the syntax."""
    return '"' + text.replace("\\", "/").replace('"', "'")[:120] + '"'


def log(prefix: str, group: int | None) -> str:
    """A rate-limited log statement: to the kernel log, or with a group to nfnetlink_log
    group N, which (unlike the kernel log) works in every network namespace."""
    where = "level warn" if group is None else f"group {group}"
    return f"{LIMIT} log prefix {quote(prefix)} {where}"


def chain(name: str, rules: list[str], head: str = "") -> Iterator[str]:
    """One chain block of a table, its head line (type, hook, policy) first."""
    yield f"\tchain {name} {{"
    if head:
        yield f"\t\t{head}"
    yield from (f"\t\t{r}" for r in rules)
    yield "\t}"
