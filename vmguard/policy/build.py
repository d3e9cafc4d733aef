"""Turn a schema-valid, merged policy document into the typed Policy model.

The schema has already checked shapes; what remains here are values the schema cannot
parse (networks with host bits, reversed port ranges, sizes and durations with units).
Each bad value becomes a located problem; building goes on so all are reported at once.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from typing import Any

from vmguard.core.errors import Problem
from vmguard.core.findings import Level
from vmguard.core.schema import dotted
from vmguard.core.yamlsource import Document, Path_
from vmguard.policy import model as m

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "PB": 10**15,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
    "PIB": 2**50,
}
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def parse_size(value: int | str) -> int:
    """20GiB -> 21474836480; 20GB -> 20000000000; plain numbers are bytes."""
    if not isinstance(value, str):  # JSON Schema's "integer" admits 1.0
        return int(value)
    number, unit = re.fullmatch(r"([0-9.]+) ?([A-Za-z]*)", value.strip()).groups()  # type: ignore[union-attr]
    return int(float(number) * _UNITS[unit.upper()])


def parse_duration(value: float | str) -> float:
    if isinstance(value, int | float):
        return float(value)
    number, unit = re.fullmatch(r"([0-9.]+)(ms|s|m|h)", value).groups()  # type: ignore[union-attr]
    return float(number) * _SECONDS[unit]


def parse_mode(value: int | str) -> int:
    """Permission bits: an int (YAML 1.1 reads 0644 as octal) or an octal string '0644'."""
    return int(value, 8) if isinstance(value, str) else int(value)


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class Builder:
    """Builds one Policy from a merged document, collecting problems as it goes."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def problem(self, path: Path_, message: str) -> None:
        pos = self.doc.pos(path)
        self.problems.append(Problem(pos.file, pos.line, pos.col, dotted(path), message))

    def policy(self) -> m.Policy:
        data, spec = self.doc.data, self.doc.data.get("spec", {})
        return m.Policy(
            metadata=m.Metadata(data["metadata"]["name"], data["metadata"].get("description", "")),
            source=self.doc.file,
            network=self.network(spec.get("network", {})),
            shared_folders=self.shares(spec.get("shared_folders", {})),
            devices=self.devices(spec.get("devices", {})),
            users=self.users(spec.get("users", {})),
            software=self.software(spec.get("software", {})),
            quarantine=self.quarantine(spec.get("quarantine", {})),
            waivers=tuple(self.waiver(w, i) for i, w in enumerate(spec.get("waivers", []))),
            enforcement=_enforcement(spec.get("enforcement", {})),
            origins=self.origins(),
        )

    def origins(self) -> dict[str, str]:
        return {dotted(p): f"{pos.file}:{pos.line}:{pos.col}" for p, pos in self.doc.values.items()}

    # -- network -------------------------------------------------------------------
    def networks(self, value: Any, path: Path_) -> tuple[m.IPNetwork, ...]:
        out = []
        for i, text in enumerate(_listify(value)):
            where = (*path, i) if isinstance(value, list) else path
            try:
                out.append(ipaddress.ip_network(text, strict=True))
            except ValueError:
                out.append(self._loose_network(text, where))
        return tuple(n for n in out if n is not None)

    def _loose_network(self, text: str, path: Path_) -> m.IPNetwork | None:
        try:
            fixed = ipaddress.ip_network(text, strict=False)
        except ValueError:
            self.problem(path, f"'{text}' is not an IP address or network")
            return None
        self.problem(path, f"'{text}' has host bits set (did you mean '{fixed}'?)")
        return None

    def ports(self, values: list[Any], path: Path_) -> tuple[m.PortRange, ...]:
        out = []
        for i, value in enumerate(values):
            if isinstance(value, str):
                first, _, last = value.partition("-")
                lo, hi = int(first), int(last or first)
            else:  # JSON Schema's "integer" admits 1.0
                lo = hi = int(value)
            if not (1 <= lo <= hi <= 65535):
                self.problem((*path, i), f"'{value}' is not a port range from 1 to 65535, low-high")
                continue
            out.append(m.PortRange(lo, hi))
        return tuple(out)

    def network(self, d: dict[str, Any]) -> m.NetworkPolicy:
        base: Path_ = ("spec", "network")
        egress = tuple(
            m.Egress(
                e["name"],
                self.networks(e["to"], (*base, "egress", i, "to")),
                self.ports(e.get("ports", []), (*base, "egress", i, "ports")),
                m.Protocol(e.get("protocol", "tcp")),
            )
            for i, e in enumerate(d.get("egress", []))
        )
        ingress = tuple(
            m.Ingress(
                e["name"],
                self.ports(e["ports"], (*base, "ingress", i, "ports")),
                self.networks(e["from"], (*base, "ingress", i, "from")),
                m.Protocol(e.get("protocol", "tcp")),
            )
            for i, e in enumerate(d.get("ingress", []))
        )
        return m.NetworkPolicy(
            m.NetworkMode(d.get("mode", "none")), egress, ingress, d.get("log_denied", True)
        )

    # -- the other sections --------------------------------------------------------
    def shares(self, d: dict[str, Any]) -> m.SharedFoldersPolicy:
        allow = tuple(
            m.ShareRule(
                s["name"], s["host_path"], m.Access(s["access"]), m.SharePurpose(s.get("purpose", "other"))
            )
            for s in d.get("allow", [])
        )
        return m.SharedFoldersPolicy(
            allow,
            tuple(d.get("forbid_host_paths", ())),
            d.get("automount", False),
            d.get("allow_symlinks", False),
        )

    def devices(self, d: dict[str, Any]) -> m.DevicesPolicy:
        kinds = {
            "clipboard": m.TransferMode,
            "drag_and_drop": m.TransferMode,
            "remote_display": m.RemoteDisplay,
        }
        return m.DevicesPolicy(**{k: kinds.get(k, m.Toggle)(v) for k, v in d.items()})

    def users(self, d: dict[str, Any]) -> m.UsersPolicy:
        return m.UsersPolicy(
            tuple(d.get("interactive_login", ())),
            d.get("root_login", False),
            d.get("password_authentication", False),
            m.SshPolicy(**d.get("ssh", {})),
            d.get("nologin_shell"),
        )

    def software(self, d: dict[str, Any]) -> m.SoftwarePolicy:
        services = d.get("allowed_services")
        return m.SoftwarePolicy(
            tuple(d.get("forbid", ())),
            None if services is None else tuple(services),
            d.get("file_scan", True),
        )

    def quarantine(self, d: dict[str, Any]) -> m.QuarantinePolicy:
        q = m.QuarantinePolicy()
        return m.QuarantinePolicy(
            max_file_size=parse_size(d.get("max_file_size", q.max_file_size)),
            max_total_size=parse_size(d.get("max_total_size", q.max_total_size)),
            max_files=int(d.get("max_files", q.max_files)),
            max_depth=int(d.get("max_depth", q.max_depth)),
            max_name_length=int(d.get("max_name_length", q.max_name_length)),
            allow_types=tuple(_type_entry(t) for t in d.get("allow_types", q.allow_types)),
            head_only=tuple(t["type"] for t in d.get("allow_types", ()) if _head_only(t)),
            forbid=tuple(m.FileKind(k) for k in d.get("forbid", [k.value for k in q.forbid])),
            scanners=self.scanners(d.get("scanners", {})),
            promote=self.promote(d.get("promote", {})),
            names=m.NameRules(d.get("names", q.names.value)),
            dot_names=tuple(d.get("dot_names", q.dot_names)),
            sparse_files=m.SparseFiles(d.get("sparse_files", q.sparse_files.value)),
            text_encodings=tuple(m.TextEncoding(e) for e in d.get("text_encodings", q.text_encodings)),
        )

    def scanners(self, d: dict[str, Any]) -> m.Scanners:
        def timeout(s: dict[str, Any], cls: type) -> float:
            return parse_duration(s.get("timeout", cls.timeout))

        clamd, yara, command = d.get("clamd"), d.get("yara"), d.get("command")
        return m.Scanners(
            clamd=None
            if clamd is None
            else m.ClamdScanner(
                socket=clamd.get("socket", m.DEFAULT_CLAMD_SOCKET),
                timeout=timeout(clamd, m.ClamdScanner),
                in_flight=int(clamd.get("in_flight", m.ClamdScanner.in_flight)),
                peer_uids=tuple(int(uid) for uid in clamd.get("peer_uids", ())),
            ),
            yara=None
            if yara is None
            else m.YaraScanner(
                rules=tuple(yara.get("rules", ())),
                shipped=yara.get("shipped", True),
                timeout=timeout(yara, m.YaraScanner),
            ),
            command=None
            if command is None
            else m.CommandScanner(argv=tuple(command["argv"]), timeout=timeout(command, m.CommandScanner)),
        )

    def promote(self, d: dict[str, Any]) -> m.PromotePolicy:
        p = m.PromotePolicy()
        return m.PromotePolicy(
            d.get("to"),
            m.PromoteMode(d.get("mode", p.mode.value)),
            parse_mode(d.get("file_mode", p.file_mode)),
            parse_mode(d.get("dir_mode", p.dir_mode)),
            d.get("owner"),
            d.get("group"),
        )

    def waiver(self, w: dict[str, Any], i: int) -> m.Waiver:
        try:
            expires = dt.date.fromisoformat(w["expires"])
        except ValueError:
            self.problem(("spec", "waivers", i, "expires"), f"'{w['expires']}' is not a date")
            expires = dt.date.min
        return m.Waiver(w["rule"], w["vm"], w["justification"], w["owner"], expires)


def _type_entry(entry: str | dict[str, str]) -> str:
    """An allow_types entry: a type name, a MIME type, or {type: MIME, validate: ...}."""
    return entry if isinstance(entry, str) else entry["type"]


def _head_only(entry: str | dict[str, str]) -> bool:
    return isinstance(entry, dict) and entry.get("validate") == "head-only"


def _enforcement(d: dict[str, Any]) -> m.Enforcement:
    return m.Enforcement(
        block_at=Level(d.get("block_at", Level.HIGH)),
        on_drift=m.DriftAction(d.get("on_drift", m.DriftAction.REAPPLY)),
    )
