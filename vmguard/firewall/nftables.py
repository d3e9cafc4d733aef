"""The nftables backend: tables `inet vmguard` and `arp vmguard`, loaded as one
transaction by one `nft -f` reading a pipe.

vmguard owns exactly those tables. Other tables (libvirt's, firewalld's, Docker's,
iptables-nft's) are never listed for changes, flushed or deleted: every command here
names one of them. An accept in another table cannot undo our drop (nftables
evaluates every base chain of a hook), so only our own table decides.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable
from typing import IO, Any

from vmguard.core.errors import FirewallError
from vmguard.firewall import nftables_elements as ne
from vmguard.firewall import nftables_render as nr
from vmguard.firewall import state
from vmguard.firewall.interface import FirewallRule, Hook, RulesetSnapshot
from vmguard.firewall.model import Ruleset, VmRules, gc_paused

TIMEOUT = 300


def _binary() -> str:
    binary = shutil.which("nft")
    if binary is None:
        raise FirewallError("nft not found: install the nftables package")
    return binary


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_binary(), *args], capture_output=True, text=True, timeout=TIMEOUT, check=False)


# `-f -` makes nft read all of stdin before parsing any of it; a path to the same pipe
# makes it parse as the text arrives, while apply renders the rest (replace_stream).
STDIN = "/proc/self/fd/0"
PIPE_SIZE = 1 << 20  # the default /proc/sys/fs/pipe-max-size
Loading = tuple[subprocess.Popen[bytes], IO[bytes]]


def _start(args: list[str]) -> Loading:
    """nft reading a script from its stdin, fed by _feed while the caller works on.
    Its messages go to a file: a pipe nobody reads could block it."""
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - _wait closes it
    proc = subprocess.Popen(
        [_binary(), *args], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors
    )
    with contextlib.suppress(OSError):  # a larger pipe lets us render ahead of nft's parser
        fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)  # type: ignore[union-attr]
    return proc, errors


def _feed(loading: Loading, pieces: Iterable[str]) -> None:
    """Write each piece with one os.write call where it fits in the pipe's atomic size."""
    stdin = loading[0].stdin
    assert stdin is not None  # noqa: S101 - _start always opens it
    # BrokenPipeError: nft quit early, _wait reports why.
    with contextlib.suppress(BrokenPipeError), stdin:
        for piece in pieces:
            data = memoryview(piece.encode())
            while data:
                data = data[os.write(stdin.fileno(), data) :]


def _stop(loading: Loading) -> None:
    """nft killed before it could commit: the script it had so far was incomplete."""
    proc, errors = loading
    proc.kill()
    proc.wait()
    errors.close()


def _exits(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for the exit itself: Popen.wait(timeout) polls with sleeps of up to 50 ms,
    which is more than a one-VM update takes."""
    fd = os.pidfd_open(proc.pid)
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _wait(loading: Loading, args: list[str]) -> None:
    proc, errors = loading
    with errors:
        if not _exits(proc, TIMEOUT):
            proc.kill()
            proc.wait()
            raise FirewallError(
                f"nft {' '.join(args)} took over {TIMEOUT} s and was stopped, nothing changed"
            )
        code = proc.wait()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if code != 0:
        raise FirewallError(f"nft {' '.join(args)} failed, nothing changed: {_first_error(stderr)}")


def _nft(args: list[str], script: str) -> None:
    loading = _start(args)
    _feed(loading, [script])
    _wait(loading, args)


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("Error", STDIN)) or "Error:" in ln]
    return (errors or lines or ["no message"])[0]


class NftablesBackend:
    name = "nftables"

    def check(self) -> None:
        if os.geteuid() != 0:
            raise FirewallError("changing the host firewall needs root (run with sudo)")
        # --check runs a throw-away transaction in the kernel: a kernel without
        # nf_tables, or without the inet family, fails here before anything changes.
        probe = (
            "table inet vmguard_probe { set s { type ipv4_addr . ether_addr; }; }\n"
            "table arp vmguard_probe { chain c { type filter hook input priority filter; "
            "arp saddr ether . arp saddr ip { 52:54:00:00:00:01 . 192.0.2.1 } accept; }; }\n"
        )
        _nft(["--check", "-f", STDIN], probe)

    def render(self, ruleset: Ruleset) -> str:
        return nr.render(ruleset)

    def apply(self, ruleset: Ruleset) -> None:
        """One transaction, streamed to nft as it is rendered. The record of what it
        loads (state.py) is written while nft commits, put in place once nft succeeded."""
        args = ["-f", STDIN]
        with gc_paused():
            per_vm: dict[str, dict[str, list[str]]] = {}
            loading = _start(args)
            try:
                _feed(loading, nr.replace_stream(ruleset, per_vm))
            except BaseException:
                _stop(loading)  # e.g. overlapping endpoints found half-way
                raise
            try:
                pending = state.prepare(self.name, per_vm)
            except BaseException:
                _wait(loading, args)
                raise
            try:
                _wait(loading, args)
            except BaseException:
                pending.discard()  # nft loaded nothing: the old record still holds
                raise
        state.commit(self.name, pending)

    def restore(self, text: str, *, check: bool = False) -> None:
        """Put back a listing `show` made: our tables replaced by it in one transaction
        (none of them, when it listed none). check: nft --check only, nothing changes.
        The per-VM record no longer says what is loaded: the next update does a full apply."""
        args = ["--check", "-f", STDIN] if check else ["-f", STDIN]
        if not check:
            state.forget(self.name)
        _nft(args, nr.heads() + text)

    def remove(self) -> bool:
        state.forget(self.name)
        removed = [_table_command(["delete", "table", *t.split()]) for t in nr.TABLES]
        return any(r is not None for r in removed)

    def _require_loaded(self) -> None:
        """Cheap: listing one small set does not make nft fetch the whole ruleset, which
        `nft list tables` does (seconds with 10,000 VMs' elements loaded)."""
        if _run(["list", "set", *nr.TABLE.split(), "vm_ifaces"]).returncode != 0:
            raise FirewallError("table inet vmguard is missing: run a full apply first")

    def update_vm(self, ruleset: Ruleset, vm: VmRules | None, name: str) -> None:
        """One transaction of element deletions and additions; never lists a set.

        The VM's old elements come from the record of what was loaded (state.py); if
        there is none, or the kernel disagrees with it, a full apply is done instead.
        A missing table is only looked for when something failed (or nothing changes).
        """
        try:
            old = state.lookup(self.name, name) or {}
        except state.NoRecord:
            self._require_loaded()
            return self.apply(ruleset)
        new = ne.vm_elements(vm) if vm is not None else {}
        gone = {s: [e for e in items if e not in new.get(s, ())] for s, items in old.items()}
        ports = {nr.quote(p) for p in ruleset.bridge_ports}  # still on a VM bridge: kept
        gone["br_ports"] = [p for p in gone.get("br_ports", ()) if p not in ports]
        added = {s: [e for e in items if e not in old.get(s, ())] for s, items in new.items()}
        script = nr.element_script("delete", ne.keys_only(gone)) + nr.element_script("add", added)
        if not script:
            return self._require_loaded()  # nothing to change, but the table must be there
        try:
            _nft(["-f", STDIN], "\n".join(script) + "\n")
        except FirewallError:
            self._require_loaded()
            return self.apply(ruleset)  # the record was stale: reload everything at once
        state.record(self.name, name, new or None)
        return None

    def show(self) -> str:
        listings = {t: _table_command(["list", "table", *t.split()]) for t in nr.TABLES}
        return "".join(text or f"# no vmguard table loaded: {t}\n" for t, text in listings.items())

    def snapshot(self) -> RulesetSnapshot:
        """Both tables; without the inet one (a firewall reload flushes it) none is loaded."""
        listings = [_table_command(["-j", "list", "table", *t.split()]) for t in nr.TABLES]
        if listings[0] is None:
            return RulesetSnapshot(False)
        return snapshot_from_json(
            [obj for text in listings if text is not None for obj in json.loads(text)["nftables"]]
        )


def load_bridge_table(ruleset: Ruleset) -> None:
    """Replace only `bridge vmguard` (the iptables backend's frame filter)."""
    _nft(["-f", STDIN], nr.bridge_script(ruleset))


def bridge_listing() -> str:
    """`bridge vmguard` as nft lists it ("" when not loaded): what load_bridge_text takes."""
    return _table_command(["list", "table", *nr.nb.TABLE.split()]) or ""


def load_bridge_text(listing: str, *, check: bool = False) -> None:
    """Replace `bridge vmguard` by a listing of it in one transaction ("": remove it).
    check: nft --check only, nothing changes."""
    args = ["--check", "-f", STDIN] if check else ["-f", STDIN]
    _nft(args, f"table {nr.nb.TABLE}\ndelete table {nr.nb.TABLE}\n{listing}")


def remove_bridge_table() -> bool:
    return _table_command(["delete", "table", *nr.nb.TABLE.split()]) is not None


def bridge_snapshot() -> RulesetSnapshot:
    text = _table_command(["-j", "list", "table", *nr.nb.TABLE.split()])
    if text is None:
        return RulesetSnapshot(False)
    return snapshot_from_json(json.loads(text)["nftables"])


def _table_command(args: list[str]) -> str | None:
    """Run a command on our table; None when the table does not exist."""
    proc = _run(args)
    if proc.returncode != 0 and "No such file or directory" in proc.stderr:
        return None
    if proc.returncode != 0:
        raise FirewallError(f"nft {' '.join(args)} failed: {_first_error(proc.stderr)}")
    return proc.stdout


def _normal(obj: Any) -> Any:
    """JSON with what changes by itself (handles, counters, limits' state) taken out."""
    if isinstance(obj, dict):
        if "counter" in obj and isinstance(obj["counter"], dict):
            return {"counter": {}}
        return {k: _normal(v) for k, v in obj.items() if k not in ("handle", "index")}
    if isinstance(obj, list):
        return [_normal(v) for v in obj]
    return obj


def _rule(obj: dict[str, Any], seen: Counter[str]) -> FirewallRule:
    expr = _normal(obj["expr"])
    base = obj.get("comment") or json.dumps(expr, sort_keys=True)
    seen[base] += 1
    key = base if seen[base] == 1 else f"{base} #{seen[base]}"
    accepts = bool(expr) and expr[-1] == {"accept": None}
    return FirewallRule(key, json.dumps(expr, sort_keys=True), accepts)


def _chain_head(chain: dict[str, Any]) -> list[FirewallRule]:
    keys = ("type", "hook", "prio", "policy", "comment")
    head = {k: chain[k] for k in keys if k in chain}
    return [FirewallRule("(chain)", json.dumps(head, sort_keys=True))] if head else []


def _name(obj: dict[str, Any], key: str = "name") -> str:
    """inet objects by their name, the arp table's as e.g. "arp input"."""
    return obj[key] if obj.get("family") == "inet" else f"{obj.get('family')} {obj[key]}"


def snapshot_from_json(data: list[dict[str, Any]]) -> RulesetSnapshot:
    chains: dict[str, list[FirewallRule]] = {}
    seen: dict[str, Counter[str]] = {}
    sets: dict[str, frozenset[str]] = {}
    for obj in data:
        if "chain" in obj:
            chains[_name(obj["chain"])] = _chain_head(obj["chain"])
        elif "rule" in obj:
            name = _name(obj["rule"], "chain")
            chains[name].append(_rule(obj["rule"], seen.setdefault(name, Counter())))
        elif "set" in obj or "map" in obj:
            s = obj.get("set") or obj["map"]
            head = json.dumps({k: s.get(k) for k in ("type", "map", "flags")}, sort_keys=True)
            elems = {json.dumps(_normal(e), sort_keys=True) for e in s.get("elem", [])}
            sets[_name(s)] = frozenset({f"(type) {head}", *elems})
    frozen = {c: tuple(rs) for c, rs in chains.items()}
    return RulesetSnapshot(True, frozen, sets, _hooks(frozen))


def _hooks(chains: dict[str, tuple[FirewallRule, ...]]) -> tuple[Hook, ...]:
    hooks = []
    for name in (*nr.BASE_CHAINS, "arp input", "bridge prerouting"):
        rules = [r for r in chains.get(name, ()) if r.key != "(chain)"]
        for i, rule in enumerate(rules):
            if rule.key.startswith(nr.JUMP):
                earlier = tuple(r.key for r in rules[:i] if r.accepts)
                hooks.append(Hook(name, rule.key, True, earlier))
    return tuple(hooks)
