"""The nftables backend: table `inet vmguard`, loaded as one transaction by `nft -f -`.

vmguard owns exactly that table. Other tables (libvirt's, firewalld's, Docker's,
iptables-nft's) are never listed for changes, flushed or deleted: every command here
names `inet vmguard`. An accept in another table cannot undo our drop (nftables
evaluates every base chain of a hook), so only our own table decides.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from typing import Any

from vmguard.errors import FirewallError
from vmguard.firewall import nftables_render as nr
from vmguard.firewall.interface import Hook, Rule, Snapshot
from vmguard.firewall.model import Ruleset, VmRules

TIMEOUT = 300
_VM_COMMENT = re.compile(r'comment "(addr=[^"]*)"')


def _run(args: list[str], script: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("nft")
    if binary is None:
        raise FirewallError("nft not found: install the nftables package")
    return subprocess.run(
        [binary, *args], input=script, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _nft(args: list[str], script: str | None = None) -> str:
    proc = _run(args, script)
    if proc.returncode != 0:
        raise FirewallError(f"nft {' '.join(args)} failed, nothing changed: {_first_error(proc.stderr)}")
    return proc.stdout


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("Error", "/dev/stdin")) or "Error:" in ln]
    return (errors or lines or ["no message"])[0]


class NftablesBackend:
    name = "nftables"

    def check(self) -> None:
        if os.geteuid() != 0:
            raise FirewallError("changing the host firewall needs root (run with sudo)")
        # --check runs a throw-away transaction in the kernel: a kernel without
        # nf_tables, or without the inet family, fails here before anything changes.
        probe = "table inet vmguard_probe { set s { type ipv4_addr . ether_addr; }; }\n"
        _nft(["--check", "-f", "-"], probe)

    def render(self, ruleset: Ruleset) -> str:
        return nr.render(ruleset)

    def apply(self, ruleset: Ruleset) -> None:
        _nft(["-f", "-"], nr.replace_script(ruleset))

    def remove(self) -> bool:
        if not self._exists():
            return False
        _nft(["delete", "table", *nr.TABLE.split()])
        return True

    def _exists(self) -> bool:
        out = _nft(["-j", "list", "tables"])
        tables = [o["table"] for o in json.loads(out)["nftables"] if "table" in o]
        return any(t["family"] == "inet" and t["name"] == "vmguard" for t in tables)

    def update_vm(self, ruleset: Ruleset, vm: VmRules | None, name: str) -> None:
        """One small transaction; reads only the VM's own chain, never a large set."""
        if not self._exists():
            raise FirewallError("table inet vmguard is missing: run a full apply first")
        probe = VmRules(name, (), "")
        old = self._vm_comment(nr.out_chain(probe))
        script = _forget(probe, old) if old is not None else []
        if vm is not None:
            script += _add_vm(vm)
        if script:
            _nft(["-f", "-"], "\n".join(script) + "\n")

    def _vm_comment(self, chain: str) -> str | None:
        """The VM chain's comment (addresses, MAC); text listing: nft's JSON omits it."""
        proc = _run(["list", "chain", *nr.TABLE.split(), chain])
        if proc.returncode != 0:
            return None
        found = _VM_COMMENT.search(proc.stdout)
        return found.group(1) if found else ""

    def show(self) -> str:
        if not self._exists():
            return "# no vmguard table loaded\n"
        return _nft(["list", "table", *nr.TABLE.split()])

    def snapshot(self) -> Snapshot:
        if not self._exists():
            return Snapshot(False)
        data = json.loads(_nft(["-j", "list", "table", *nr.TABLE.split()]))["nftables"]
        return snapshot_from_json(data)


def _forget(probe: VmRules, comment: str) -> list[str]:
    """Commands removing a VM's elements and chains, from its chain comment."""
    fields = dict(part.split("=", 1) for part in comment.split() if "=" in part)
    addrs = tuple(ipaddress.ip_address(a) for a in fields.get("addr", "").split(",") if a)
    old = VmRules(probe.name, addrs, fields.get("mac", ""))
    script = [f"delete element {nr.TABLE} {s} {{ {', '.join(items)} }}"
              for s, items in _elements(old, keys_only=True) if items]
    for chain in (nr.out_chain(old), nr.in_chain(old)):
        script += [f"flush chain {nr.TABLE} {chain}", f"delete chain {nr.TABLE} {chain}"]
    return script


def _elements(vm: VmRules, keys_only: bool = False) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for v in (4, 6):
        out.append((f"ids{v}", nr.id_elements(vm, v)))
        for d in ("out", "in"):
            items = nr.map_elements(vm, v, d)
            out.append((f"{d}{v}", [i.split(" : ")[0] for i in items] if keys_only else items))
    return out


def _add_vm(vm: VmRules) -> list[str]:
    script = [
        f"add chain {nr.TABLE} {c} {{ comment {nr.quote(nr.vm_comment(vm))}; }}"
        for c in (nr.out_chain(vm), nr.in_chain(vm))
    ]
    for chain, direction in ((nr.out_chain(vm), "out"), (nr.in_chain(vm), "in")):
        script += [f"add rule {nr.TABLE} {chain} {r}" for r in nr.vm_rules(vm, direction)]
    script += [f"add element {nr.TABLE} {s} {{ {', '.join(items)} }}" for s, items in _elements(vm) if items]
    if vm.ipv6:
        script.append(f"add element {nr.TABLE} v6_macs {{ {vm.mac} }}")
    return script


def _normal(obj: Any) -> Any:
    """JSON with what changes by itself (handles, counters, limits' state) taken out."""
    if isinstance(obj, dict):
        if "counter" in obj and isinstance(obj["counter"], dict):
            return {"counter": {}}
        return {k: _normal(v) for k, v in obj.items() if k not in ("handle", "index")}
    if isinstance(obj, list):
        return [_normal(v) for v in obj]
    return obj


def _rule(obj: dict[str, Any], seen: Counter[str]) -> Rule:
    expr = _normal(obj["expr"])
    base = obj.get("comment") or json.dumps(expr, sort_keys=True)
    seen[base] += 1
    key = base if seen[base] == 1 else f"{base} #{seen[base]}"
    accepts = bool(expr) and expr[-1] == {"accept": None}
    return Rule(key, json.dumps(expr, sort_keys=True), accepts)


def _chain_head(chain: dict[str, Any]) -> list[Rule]:
    keys = ("type", "hook", "prio", "policy", "comment")
    head = {k: chain[k] for k in keys if k in chain}
    return [Rule("(chain)", json.dumps(head, sort_keys=True))] if head else []


def snapshot_from_json(data: list[dict[str, Any]]) -> Snapshot:
    chains: dict[str, list[Rule]] = {}
    seen: dict[str, Counter[str]] = {}
    sets: dict[str, frozenset[str]] = {}
    for obj in data:
        if "chain" in obj:
            chains[obj["chain"]["name"]] = _chain_head(obj["chain"])
        elif "rule" in obj:
            name = obj["rule"]["chain"]
            chains[name].append(_rule(obj["rule"], seen.setdefault(name, Counter())))
        elif "set" in obj or "map" in obj:
            s = obj.get("set") or obj["map"]
            head = json.dumps({k: s.get(k) for k in ("type", "map", "flags")}, sort_keys=True)
            elems = {json.dumps(_normal(e), sort_keys=True) for e in s.get("elem", [])}
            sets[s["name"]] = frozenset({f"(type) {head}", *elems})
    frozen = {c: tuple(rs) for c, rs in chains.items()}
    return Snapshot(True, frozen, sets, _hooks(frozen))


def _hooks(chains: dict[str, tuple[Rule, ...]]) -> tuple[Hook, ...]:
    hooks = []
    for name in nr.BASE_CHAINS:
        rules = [r for r in chains.get(name, ()) if r.key != "(chain)"]
        for i, rule in enumerate(rules):
            if rule.key.startswith(nr.JUMP):
                earlier = tuple(r.key for r in rules[:i] if r.accepts)
                hooks.append(Hook(name, rule.key, True, earlier))
    return tuple(hooks)
