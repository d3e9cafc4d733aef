"""The iptables backend's `show` listing, and putting such a listing back (`rollback`).

The listing has one section per part vmguard owns, each in its own tool's syntax:

    # iptables filter        VMG-* chains (`:` lines, `-A VMG-...`) and the jumps into
    # ip6tables filter       them, as `-I INPUT <position>` (position among all rules)
    # ipset                  the live generation's sets
    # nftables (frames on the VM bridges)    table bridge vmguard

Set names are listed without their generation ("-a", "-b"), in the rules too, so the
same ruleset lists the same whichever generation holds it.

Putting it back: the sets go into the generation the live rules do not use (one
`ipset restore`); each filter table is changed by one `iptables-restore --noflush` that
names only vmguard's chains and jumps (a rule an admin added elsewhere stays), tried
first with --test; IPv6, then IPv4, whose commit switches rules and sets at once; the
old generation is destroyed; the bridge table is replaced in one nft transaction. So a
listing that does not load leaves the old ruleset, as an apply does (README).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from vmguard.core.errors import FirewallError
from vmguard.firewall import ipsets
from vmguard.firewall import nftables as nft
from vmguard.firewall import nftables_bridge as nb
from vmguard.firewall.iptables_rules import JUMP, JUMPS
from vmguard.firewall.iptables_save import SAVE

RESTORE = {4: "iptables-legacy-restore", 6: "ip6tables-legacy-restore"}
HEADS = {
    4: "# iptables filter",
    6: "# ip6tables filter",
    "sets": "# ipset",
    "bridge": "# nftables (frames on the VM bridges)",
}
NONE = "# no vmguard chains loaded\n"
TIMEOUT = 120
_JUMP_LINE = re.compile(
    rf'^-I (INPUT|FORWARD|OUTPUT) (\d+) (-m comment --comment "{JUMP} (VMG-[A-Z-]+)" -j \4)$'
)
_OURS = re.compile(r"^(?::VMG-\S+ - \[0:0\]|-A VMG-\S+ .*)$")
_SET_LINE = re.compile(rf"^(?:create|add) (?:{'|'.join(ipsets.NAMES)}) ")
_QUOTED = re.compile(r'"[^"\n]*"')


@dataclass(frozen=True)
class SavedRuleset:
    """A listing split by section; `v4`/`v6` hold iptables-restore lines of ours only."""

    v4: tuple[str, ...] = ()
    v6: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    bridge: str = ""

    def table(self, version: int) -> tuple[str, ...]:
        return self.v4 if version == 4 else self.v6


def _save(version: int) -> list[str]:
    proc = subprocess.run(
        [SAVE[version], "-t", "filter"], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if proc.returncode != 0:
        raise FirewallError(f"{SAVE[version]} failed: {proc.stderr.strip()}")
    return proc.stdout.splitlines()


def _table_lines(save: list[str]) -> list[str]:
    """Our chains and jumps from an iptables-save listing; a jump with its position."""
    out: list[str] = []
    position = dict.fromkeys(JUMPS, 0)
    for line in save:
        if line.startswith(":VMG-"):
            out.append(f"{line.split()[0]} - [0:0]")  # counters of a user chain: none
        elif line.startswith("-A VMG-"):
            out.append(line)
        elif line.startswith("-A ") and (chain := line.split()[1]) in position:
            position[chain] += 1
            if line.split()[-2:-1] == ["-j"] and line.split()[-1].startswith("VMG-"):
                out.append(f"-I {chain} {position[chain]} {line[4 + len(chain) :]}")
    return out


def show() -> str:
    tables = {v: [ipsets.unslotted(ln) for ln in _table_lines(_save(v))] for v in (4, 6)}
    sets = ipsets.unslotted(ipsets.show())
    bridge = nft.bridge_listing()
    if not (tables[4] or tables[6] or sets.strip() or bridge):
        return NONE
    parts = [HEADS[4], *tables[4], HEADS[6], *tables[6], HEADS["sets"], *sets.splitlines(), HEADS["bridge"]]
    return "\n".join(parts) + "\n" + bridge


def parse(text: str) -> SavedRuleset:
    """The sections of a listing `show` made; FirewallError naming the first line that is
    not one of vmguard's own (a record must not add rules to chains vmguard does not own)."""
    if text == NONE:
        return SavedRuleset()
    lines = text.splitlines()
    heads = [lines.index(h) if h in lines else -1 for h in HEADS.values()]
    if heads != sorted(heads) or heads[0] != 0:
        raise FirewallError(
            "the saved ruleset is not a listing of this vmguard's iptables backend (an older "
            "vmguard's?): load the inventory wanted with `vmguard firewall apply` instead"
        )
    v4, v6, sets = (lines[heads[i] + 1 : heads[i + 1]] for i in range(3))
    rules = [ln for ln in (*v4, *v6) if not (_OURS.match(ln) or _JUMP_LINE.match(ln))]
    foreign = rules + [ln for ln in sets if not _SET_LINE.match(ln)]
    if foreign:
        raise FirewallError(f"the saved ruleset has a line that is none of vmguard's: {foreign[0][:120]!r}")
    bridge = "\n".join(lines[heads[3] + 1 :])
    _require_bridge_only(bridge)
    return SavedRuleset(tuple(v4), tuple(v6), tuple(sets), bridge + "\n" if bridge else "")


def _require_bridge_only(text: str) -> None:
    """The nftables part defines `bridge vmguard` and nothing else: its first line opens
    that table and its braces (outside strings) close only at the very end."""
    if not text:
        return
    depth, body = 0, _QUOTED.sub('""', text).rstrip()
    for n, char in enumerate(body):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0 and char == "}" and n != len(body) - 1:
            break
    else:
        if body.startswith(f"table {nb.TABLE} {{\n") and depth == 0:
            return
    raise FirewallError(f"the saved nftables part defines more than table {nb.TABLE}")


def _script(saved: tuple[str, ...], live: list[str], slot: str) -> str:
    """One table's iptables-restore --noflush input: our live jumps deleted, our chains
    flushed (declared), those not saved deleted, the saved rules and jumps added."""
    live_ours = _table_lines(live)
    live_chains = {ln.split()[0] for ln in live_ours if ln.startswith(":")}
    saved_chains = {ln.split()[0] for ln in saved if ln.startswith(":")}
    lines = ["*filter", *(f"{c} - [0:0]" for c in sorted(live_chains | saved_chains))]
    jumps_live = [ln.split(" ", 3) for ln in live_ours if ln.startswith("-I ")]  # any of them
    lines += [f"-D {chain} {spec}" for _, chain, _, spec in jumps_live]
    lines += [f"-X {c[1:]}" for c in sorted(live_chains - saved_chains)]
    rules = [ln for ln in saved if ln.startswith("-A ")]
    jumps = sorted((m for ln in saved if (m := _JUMP_LINE.match(ln))), key=lambda m: int(m[2]))
    lines += [ipsets.reslotted(r, slot) for r in rules]
    lines += [f"-I {m[1]} {_position(m, live)} {m[3]}" for m in jumps]
    return "\n".join([*lines, "COMMIT", ""])


def _position(jump: re.Match[str], live: list[str]) -> int:
    """The saved position, or the end of the chain when it has fewer foreign rules now."""
    ours = tuple(JUMPS.values())
    foreign = [ln for ln in live if ln.startswith(f"-A {jump[1]} ") and not ln.endswith(ours)]
    return min(int(jump[2]), len(foreign) + 1)


def _restore_table(version: int, script: str, *, test: bool) -> None:
    args = [RESTORE[version], "--noflush", "-w", "10", *(["--test"] if test else [])]
    proc = subprocess.run(args, input=script, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if proc.returncode != 0:
        what = "the saved ruleset does not load, nothing changed" if test else "commit failed"
        raise FirewallError(f"{RESTORE[version]}: {what}: {proc.stderr.strip()[:300]}")


def restore(text: str, *, check: bool = False) -> None:
    """Put back a listing `show` made; check: try every part, change nothing."""
    listing = parse(text)
    slot = ipsets.free_slot()
    ipsets.discard(slot)  # left by an apply or restore killed before its commit
    ipsets.load(slot, [ipsets.reslotted(ln, slot) for ln in listing.sets])
    try:
        scripts = {v: _script(listing.table(v), _save(v), slot) for v in (6, 4)}
        for version, script in scripts.items():
            _restore_table(version, script, test=True)
        nft.load_bridge_text(listing.bridge, check=True)
        if not check:
            for version, script in scripts.items():
                _restore_table(version, script, test=False)
    finally:
        if check or ipsets.live_slot() != slot:
            ipsets.discard(slot)
    if not check:
        ipsets.retire(slot)
        nft.load_bridge_text(listing.bridge)
