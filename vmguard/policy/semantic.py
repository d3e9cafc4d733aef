"""Checks a policy must pass that JSON Schema cannot express.

Each check is a small function of (policy, document) yielding located problems: errors
make the policy unusable, warnings are printed and (with --strict) fail the check.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import combinations
from typing import Any

from vmguard.core.errors import Problem, Severity
from vmguard.core.paths import is_under, overlaps
from vmguard.core.schema import dotted
from vmguard.core.yamlsource import Document, Path_
from vmguard.policy import model as m

# The YARA checks and the validators (about 17 ms of imports) are loaded only by a policy
# that names site rules or a MIME type: every command reads a policy.

# Never shareable whatever the policy says: the host's system and home directories.
SYSTEM_ROOTS = (
    "/home",
    "/root",
    "/etc",
    "/boot",
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/run",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/var/lib/libvirt",
    "/var/log",
)
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
# Where a placeholder may appear (a path prefix) and which ones it may use.
_PLACEHOLDERS: dict[Path_, set[str]] = {
    ("spec", "shared_folders", "allow"): {"{vm}"},
    ("spec", "quarantine", "promote", "to"): {"{vm}", "{job}"},
    ("spec", "quarantine", "scanners", "command", "argv"): {"{path}", "{fd}"},
}
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

Check = Callable[[m.Policy, Document], Iterator[Problem]]


def _at(doc: Document, path: Path_, message: str, warn: bool = False) -> Problem:
    pos = doc.pos(path)
    severity = Severity.WARNING if warn else Severity.ERROR
    return Problem(pos.file, pos.line, pos.col, dotted(path), message, severity)


def _share_path(i: int) -> Path_:
    return ("spec", "shared_folders", "allow", i, "host_path")


def forbidden_shares(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    roots = [*policy.shared_folders.forbid_host_paths, *SYSTEM_ROOTS]
    for i, share in enumerate(policy.shared_folders.allow):
        path = share.host_path_for("vm")
        if posixpath.normpath(path) == "/":
            yield _at(doc, _share_path(i), "sharing the host's root directory is never allowed")
        elif root := next((r for r in roots if is_under(path, r)), None):
            yield _at(
                doc,
                _share_path(i),
                f"'{share.host_path}' is under the forbidden host "
                f"path '{root}' (share a dedicated directory such as /vmdata/...)",
            )


def share_access(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    for i, share in enumerate(policy.shared_folders.allow):
        access: Path_ = ("spec", "shared_folders", "allow", i, "access")
        rw = share.access is m.Access.READ_WRITE
        if rw and share.purpose in (m.SharePurpose.INPUT, m.SharePurpose.SOFTWARE):
            yield _at(
                doc,
                access,
                f"shares for {share.purpose.value} must be read-only "
                "(a guest could alter what other jobs read)",
            )
        if share.purpose is m.SharePurpose.OUTPUT and not rw:
            yield _at(doc, access, "an output share must be read-write (jobs write into it)")
        if share.purpose is m.SharePurpose.OUTPUT and "{" not in share.host_path:
            yield _at(
                doc,
                _share_path(i),
                "an output share should contain {vm} so each VM "
                "has its own quarantine (VMs could tamper with each other's output)",
                True,
            )


def _duplicates(names: list[str]) -> set[str]:
    return {n for n, count in Counter(names).items() if count > 1}


def duplicate_names(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    lists: list[tuple[Path_, list[str], str]] = [
        (("spec", "network", "egress"), [e.name for e in policy.network.egress], "name"),
        (("spec", "network", "ingress"), [e.name for e in policy.network.ingress], "name"),
        (("spec", "shared_folders", "allow"), [s.name for s in policy.shared_folders.allow], "name"),
        (
            ("spec", "shared_folders", "allow"),
            [posixpath.normpath(s.host_path) for s in policy.shared_folders.allow],
            "host_path",
        ),
    ]
    for base, names, key in lists:
        dups = _duplicates(names)
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in dups and name in seen:
                yield _at(doc, (*base, i, key), f"duplicate {key} '{name}' (each must be unique)")
            seen.add(name)


def _strings(data: Any, path: Path_) -> Iterator[tuple[Path_, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _strings(value, (*path, i))
    elif isinstance(data, str):
        yield path, data


def placeholders(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    for path, text in _strings(doc.data, ()):
        used = _PLACEHOLDER.findall(text)
        if not used:
            continue
        allowed = next((v for p, v in _PLACEHOLDERS.items() if path[: len(p)] == p), set())
        if path[:3] == ("spec", "shared_folders", "allow") and path[-1] != "host_path":
            allowed = set()
        for name in used:
            if name not in allowed:
                hint = f"use {', '.join(sorted(allowed))}" if allowed else "no placeholder is expanded here"
                yield _at(doc, path, f"unknown placeholder {name} ({hint})")


def network_shape(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    net = policy.network
    if net.mode is m.NetworkMode.NONE and (net.egress or net.ingress):
        yield _at(
            doc,
            ("spec", "network", "mode"),
            "mode is 'none' but egress/ingress entries "
            "are listed (a VM without network cannot use them; use 'host-only')",
        )
    for kind, entries in (("egress", net.egress), ("ingress", net.ingress)):
        for i, entry in enumerate(entries):
            yield from _entry_shape(doc, ("spec", "network", kind, i), entry)


def _entry_shape(doc: Document, path: Path_, entry: m.Egress | m.Ingress) -> Iterator[Problem]:
    nets = entry.to if isinstance(entry, m.Egress) else entry.sources
    if entry.protocol is m.Protocol.ICMP and entry.ports:
        yield _at(doc, (*path, "ports"), "icmp has no ports (remove 'ports')")
    if entry.protocol is not m.Protocol.ICMP and not entry.ports:
        yield _at(doc, path, f"'{entry.name}' lists no ports (add e.g. ports: [443])")
    for net in nets:
        if net.prefixlen == 0:
            yield _at(doc, path, f"'{entry.name}' allows every address ({net}); name the hosts")
        elif any(net.version == lo.version and net.overlaps(lo) for lo in _LOOPBACK):
            yield _at(
                doc,
                path,
                f"'{entry.name}' reaches loopback ({net}): a VM must never reach the host's local services",
            )


def _ports_overlap(a: tuple[m.PortRange, ...], b: tuple[m.PortRange, ...]) -> bool:
    if not a or not b:
        return not a and not b
    return any(x.first <= y.last and y.first <= x.last for x in a for y in b)


def overlapping_egress(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    entries = list(enumerate(policy.network.egress))
    for (i, a), (_, b) in combinations(entries, 2):
        nets = any(x.version == y.version and x.overlaps(y) for x in a.to for y in b.to)
        if nets and a.protocol is b.protocol and _ports_overlap(a.ports, b.ports):
            yield _at(
                doc,
                ("spec", "network", "egress", i),
                f"'{a.name}' overlaps '{b.name}' (same addresses, protocol and ports; merge them)",
                True,
            )


def users(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    u = policy.users
    if "root" in u.interactive_login and not u.root_login:
        yield _at(
            doc,
            ("spec", "users", "interactive_login"),
            "root is listed for interactive "
            "login but root_login is false (remove root, or set root_login: true)",
        )
    if u.ssh.x11_forwarding and policy.devices.clipboard is m.TransferMode.DISABLED:
        yield _at(
            doc,
            ("spec", "users", "ssh", "x11_forwarding"),
            "X11 forwarding carries the X clipboard out of the VM, and devices.clipboard is disabled "
            "(set x11_forwarding: false, or allow a clipboard direction)",
            True,
        )


def guest_scan(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    if not policy.software.file_scan:
        yield _at(
            doc,
            ("spec", "software", "file_scan"),
            "the permission scan is off: world-writable and stray set-id files in the guest go unseen "
            "(VMG-SW-004, VMG-SW-005)",
            True,
        )


def _has_no_validator(mime: str) -> bool:
    from vmguard.quarantine.validators import validator_for

    return validator_for(mime) is None


def quarantine(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    q, base = policy.quarantine, ("spec", "quarantine")
    if q.max_file_size > q.max_total_size:
        yield _at(doc, (*base, "max_file_size"), "max_file_size is larger than max_total_size")
    if not q.allow_types:
        yield _at(doc, (*base, "allow_types"), "no content type is allowed: nothing can be promoted", True)
    for i, entry in enumerate(q.allow_types):
        unchecked = "/" in entry and not entry.endswith("/*") and _has_no_validator(entry)
        if unchecked and entry not in q.head_only:
            yield _at(
                doc,
                (*base, "allow_types", i),
                f"{entry} has no validator: no file of this type is "
                "admitted unless the entry says {type: ..., validate: head-only}",
                True,
            )
        if entry == "text/plain" and "text" not in q.allow_types:
            yield _at(
                doc,
                (*base, "allow_types", i),
                "text/plain is only what libmagic calls plain: "
                "a CSV (text/csv) or Fortran-looking text (text/x-fortran) is not; `text` admits all",
                True,
            )
    if m.FileKind.EXECUTABLES not in q.forbid:
        yield _at(
            doc,
            (*base, "forbid"),
            "executables are not forbidden: a compromised guest could publish programs",
            True,
        )
    if q.promote.file_mode & 0o022:
        yield _at(
            doc, (*base, "promote", "file_mode"), "promoted files would be group- or world-writable", True
        )
    yield from _promote_target(policy, doc)


def _promote_target(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    target = policy.quarantine.promote.to
    if target is None:
        return
    path = ("spec", "quarantine", "promote", "to")
    expanded = target.replace("{vm}", "vm").replace("{job}", "job")
    for share in policy.shared_folders.allow:
        share_path = share.host_path_for("vm")
        if overlaps(expanded, share_path):
            yield _at(
                doc,
                path,
                f"the public area overlaps the share '{share.name}' "
                f"({share.host_path}): a guest could write past the vetting",
            )


def yara_rules(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    """Site rule files compile (each alone), located at their own line and at the policy's."""
    yara, base = policy.quarantine.scanners.yara, ("spec", "quarantine", "scanners", "yara")
    if yara is None:
        return
    if not yara.shipped and not yara.rules:
        yield _at(
            doc,
            base,
            "shipped: false and no site rules: the yara scanner would look for nothing "
            "(list rule files, or remove the section)",
        )
    from vmguard.quarantine.scanners.yara import check_rule_file

    for i, path in enumerate(yara.rules):
        at, pos = (*base, "rules", i), doc.pos((*base, "rules", i))
        for note in check_rule_file(path):
            if note.file is None:
                yield _at(doc, at, note.text, note.warning)
                continue
            severity = Severity.WARNING if note.warning else Severity.ERROR
            yield Problem(
                note.file,
                note.line,
                1,
                dotted(at),
                f"{note.text} (named at {pos.file}:{pos.line}:{pos.col})",
                severity,
            )


def waivers(policy: m.Policy, doc: Document) -> Iterator[Problem]:
    today = dt.date.today()
    for i, waiver in enumerate(policy.waivers):
        if not waiver.active(today):
            yield _at(
                doc,
                ("spec", "waivers", i, "expires"),
                f"waiver for {waiver.rule} on '{waiver.vm}' expired on {waiver.expires} (renew or remove it)",
                True,
            )


CHECKS: tuple[Check, ...] = (
    forbidden_shares,
    share_access,
    duplicate_names,
    placeholders,
    network_shape,
    overlapping_egress,
    users,
    guest_scan,
    quarantine,
    yara_rules,
    waivers,
)


def semantic_problems(policy: m.Policy, doc: Document) -> list[Problem]:
    return [problem for check in CHECKS for problem in check(policy, doc)]
