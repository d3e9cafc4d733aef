"""The iptables backend's rules, as python-iptables (iptc.easy) rule dicts.

Per-VM data lives in the ipsets (ipsets.py), so these rules are the same few whatever
the number of VMs: one set lookup per packet.

  INPUT   -> VMG-INPUT:   DHCP to the host, then VMG-FROM-VM, then accept
  FORWARD -> VMG-FORWARD: from VM interfaces VMG-FROM-VM, towards them VMG-TO-VM (both,
                          for traffic between VMs), then accept
  OUTPUT  -> VMG-OUTPUT:  DHCP replies, then VMG-TO-VM, then accept
  VMG-FROM-VM: source address+MAC must be a known VM's (else log, drop) -> VMG-EGRESS
  VMG-EGRESS:  replies, then (VM, port, destination) in vmg-out4 return, else log, drop
  VMG-TO-VM:   replies, then (VM, port, source) in vmg-in4 return, else log, drop
"""

from __future__ import annotations

from typing import Any

from vmguard.firewall import ipsets
from vmguard.firewall.model import LOG_BURST, LOG_RATE_PER_MINUTE, Ruleset

JUMP = "vmguard jump"
JUMPS = {"INPUT": "VMG-INPUT", "FORWARD": "VMG-FORWARD", "OUTPUT": "VMG-OUTPUT"}
Rules = dict[str, list[dict[str, Any]]]


def _c(text: str) -> dict[str, str]:
    return {"comment": text}


def _log(prefix: str, group: int | None, match: dict[str, Any] | None = None) -> dict[str, Any]:
    """A rate-limited LOG rule, or NFLOG to nfnetlink_log `group` (works per namespace).
    NFLOG gets no prefix: python-iptables 1.0.1 crashes (SIGSEGV) on --nflog-prefix."""
    limit = {"limit": f"{LOG_RATE_PER_MINUTE}/minute", "limit-burst": str(LOG_BURST)}
    target = (
        {"LOG": {"log-prefix": prefix, "log-level": "4"}}
        if group is None
        else {"NFLOG": {"nflog-group": str(group)}}
    )
    return {**(match or {}), "limit": limit, "comment": _c(f"log {prefix.strip(': ')}"), "target": target}


def _drop(what: str) -> dict[str, Any]:
    return {"comment": _c(what), "target": "DROP"}


# Allowed traffic RETURNs: forwarded traffic between VMs is judged by the sender's
# egress (VMG-FROM-VM) and then by the receiver's ingress (VMG-TO-VM); the per-interface
# chains accept what came back from both.
REPLIES = {"conntrack": {"ctstate": "RELATED,ESTABLISHED"}, "comment": _c("replies"), "target": "RETURN"}


def _per_interface(ruleset: Ruleset) -> Rules:
    ifaces = ruleset.vm_interfaces
    dhcp_in = {"protocol": "udp", "udp": {"sport": "68", "dport": "67"}}
    dhcp_out = {"protocol": "udp", "udp": {"sport": "67", "dport": "68"}}
    return {
        "VMG-INPUT": [
            r
            for i in ifaces
            for r in (
                {
                    "in-interface": i,
                    **dhcp_in,
                    "comment": _c("DHCP requests to the host"),
                    "target": "ACCEPT",
                },
                {"in-interface": i, "comment": _c(f"VM traffic to the host on {i}"), "target": "VMG-FROM-VM"},
                _passed({"in-interface": i}, f"allowed to the host on {i}"),
            )
        ],
        "VMG-FORWARD": [
            *(
                {"in-interface": i, "comment": _c(f"forwarded from VMs on {i}"), "target": "VMG-FROM-VM"}
                for i in ifaces
            ),
            *(
                {"out-interface": i, "comment": _c(f"forwarded to VMs on {i}"), "target": "VMG-TO-VM"}
                for i in ifaces
            ),
            *(
                _passed({d: i}, f"allowed by both sides on {i}")
                for d in ("in-interface", "out-interface")
                for i in ifaces
            ),
        ],
        "VMG-OUTPUT": [
            r
            for i in ifaces
            for r in (
                {
                    "out-interface": i,
                    **dhcp_out,
                    "comment": _c("DHCP replies from the host"),
                    "target": "ACCEPT",
                },
                {"out-interface": i, "comment": _c(f"host traffic to VMs on {i}"), "target": "VMG-TO-VM"},
                _passed({"out-interface": i}, f"allowed to VMs on {i}"),
            )
        ],
    }


def _passed(match: dict[str, str], what: str) -> dict[str, Any]:
    return {**match, "comment": _c(what), "target": "ACCEPT"}


def _set(name: str, flags: str) -> dict[str, Any]:
    return {"set": [{"match-set": [name, flags]}]}


def chains_v4(ruleset: Ruleset, slot: str = "") -> Rules:
    """The IPv4 chains, naming the ipsets of `slot` (ipsets.py)."""
    ids, out, in_, logs = (ipsets.slotted(n, slot) for n in ipsets.NAMES)
    log, group = ruleset.log_denied, ruleset.log_group
    known = _set(ids, "src,src")
    return {
        **_per_interface(ruleset),
        "VMG-FROM-VM": [
            {
                **known,
                "comment": _c("anti-spoofing: address and MAC of a known VM"),
                "target": {"goto": "VMG-EGRESS"},
            },
            *([_log("vmguard spoofed: ", group)] if log else []),
            _drop("anti-spoofing: unknown address or MAC"),
        ],
        "VMG-EGRESS": [
            REPLIES,
            {**_set(out, "src,dst,dst"), "comment": _c("per-VM egress endpoints"), "target": "RETURN"},
            _log("vmguard deny out: ", group, _set(logs, "src")),
            _drop("default deny from VMs"),
        ],
        "VMG-TO-VM": [
            REPLIES,
            {**_set(in_, "dst,dst,src"), "comment": _c("per-VM ingress"), "target": "RETURN"},
            _log("vmguard deny in: ", group, _set(logs, "dst")),
            _drop("default deny to VMs"),
        ],
    }


def chains_v6(ruleset: Ruleset) -> Rules:
    """No IPv6 for VMs on this backend: drop it both ways on the VM interfaces."""
    ifaces = ruleset.vm_interfaces
    deny = "IPv6 denied: the iptables backend allows IPv4 endpoints only"
    return {
        "VMG-INPUT": [{"in-interface": i, **_drop(deny)} for i in ifaces],
        "VMG-FORWARD": [
            r
            for i in ifaces
            for r in ({"in-interface": i, **_drop(deny)}, {"out-interface": i, **_drop(deny)})
        ],
        "VMG-OUTPUT": [{"out-interface": i, **_drop(deny)} for i in ifaces],
    }


_FLAGS = {"in-interface": "-i", "out-interface": "-o", "protocol": "-p"}


def as_text(rule: dict[str, Any]) -> str:
    """One rule dict in iptables syntax, for `plan` (iptables-save prints the same)."""
    words: list[str] = []
    for key, value in rule.items():
        if key in _FLAGS:
            words += [_FLAGS[key], str(value)]
        elif key == "target":
            words += _target(value)
        else:
            for match in value if isinstance(value, list) else [value]:
                words += ["-m", key, *_options(match)]
    return " ".join(words)


def _options(match: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in match.items():
        out += [
            f"--{key}",
            *(value if isinstance(value, list) else [f'"{value}"' if " " in value else value]),
        ]
    return out


def _target(value: str | dict[str, Any]) -> list[str]:
    if isinstance(value, str):
        return ["-j", value]
    if "goto" in value:
        return ["-g", value["goto"]]
    name, options = next(iter(value.items()))
    return ["-j", name, *_options(options)]
