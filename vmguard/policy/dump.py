"""The effective policy as plain data in the policy file's own shape (`policy show`)."""

from __future__ import annotations

from typing import Any

from vmguard.policy import model as m


def _ports(ports: tuple[m.PortRange, ...]) -> list[int | str]:
    return [p.first if p.first == p.last else str(p) for p in ports]


def _network(n: m.NetworkPolicy) -> dict[str, Any]:
    return {
        "mode": n.mode.value,
        "egress": [
            {
                "name": e.name,
                "to": [str(x) for x in e.to],
                "ports": _ports(e.ports),
                "protocol": e.protocol.value,
            }
            for e in n.egress
        ],
        "ingress": [
            {
                "name": i.name,
                "ports": _ports(i.ports),
                "from": [str(x) for x in i.sources],
                "protocol": i.protocol.value,
            }
            for i in n.ingress
        ],
        "log_denied": n.log_denied,
    }


def _quarantine(q: m.QuarantinePolicy) -> dict[str, Any]:
    p = q.promote
    out: dict[str, Any] = {
        "max_file_size": q.max_file_size,
        "max_total_size": q.max_total_size,
        "max_files": q.max_files,
        "max_depth": q.max_depth,
        "max_name_length": q.max_name_length,
        "allow_types": [
            {"type": t, "validate": "head-only"} if t in q.head_only else t for t in q.allow_types
        ],
        "forbid": [k.value for k in q.forbid],
        "promote": {"mode": p.mode.value, "file_mode": f"{p.file_mode:04o}", "dir_mode": f"{p.dir_mode:04o}"},
    }
    out["promote"].update({k: v for k, v in (("to", p.to), ("owner", p.owner), ("group", p.group)) if v})
    out.update(
        names=q.names.value,
        dot_names=list(q.dot_names),
        sparse_files=q.sparse_files.value,
        text_encodings=[e.value for e in q.text_encodings],
    )
    scanners = _scanners(q.scanners)
    if scanners:
        out["scanners"] = scanners
    return out


def _scanners(s: m.Scanners) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if s.clamd:
        out["clamd"] = {"socket": s.clamd.socket, "timeout": s.clamd.timeout, "in_flight": s.clamd.in_flight}
        if s.clamd.peer_uids:
            out["clamd"]["peer_uids"] = list(s.clamd.peer_uids)
    if s.yara:
        out["yara"] = {"rules": list(s.yara.rules), "shipped": s.yara.shipped, "timeout": s.yara.timeout}
    if s.command:
        out["command"] = {"argv": list(s.command.argv), "timeout": s.command.timeout}
    return out


def to_data(policy: m.Policy) -> dict[str, Any]:
    """Every effective setting, defaults included; loading the result gives the same policy."""
    s, d, u, sw = policy.shared_folders, policy.devices, policy.users, policy.software
    software: dict[str, Any] = {"forbid": list(sw.forbid), "file_scan": sw.file_scan}
    if sw.allowed_services is not None:
        software["allowed_services"] = list(sw.allowed_services)
    return {
        "apiVersion": "vmguard/v1",
        "kind": "Policy",
        "metadata": {"name": policy.metadata.name, "description": policy.metadata.description},
        "spec": {
            "network": _network(policy.network),
            "shared_folders": {
                "allow": [
                    {
                        "name": r.name,
                        "host_path": r.host_path,
                        "access": r.access.value,
                        "purpose": r.purpose.value,
                    }
                    for r in s.allow
                ],
                "forbid_host_paths": list(s.forbid_host_paths),
                "automount": s.automount,
                "allow_symlinks": s.allow_symlinks,
            },
            "devices": {k: getattr(d, k).value for k in d.__dataclass_fields__},
            "users": {
                "interactive_login": list(u.interactive_login),
                "root_login": u.root_login,
                "password_authentication": u.password_authentication,
                "ssh": {"x11_forwarding": u.ssh.x11_forwarding, "tcp_forwarding": u.ssh.tcp_forwarding},
                **({"nologin_shell": u.nologin_shell} if u.nologin_shell else {}),
            },
            "software": software,
            "quarantine": _quarantine(policy.quarantine),
            "waivers": [
                {
                    "rule": w.rule,
                    "vm": w.vm,
                    "justification": w.justification,
                    "owner": w.owner,
                    "expires": w.expires.isoformat(),
                }
                for w in policy.waivers
            ],
            "enforcement": {
                "block_at": policy.enforcement.block_at.value,
                "on_drift": policy.enforcement.on_drift.value,
            },
        },
    }
