"""VMG-VET: the policy's quarantine settings, assessed for each VM that follows it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from vmguard.checks.common import wanted
from vmguard.core.findings import Finding
from vmguard.facts.vm import VmFacts
from vmguard.policy.model import FileKind, Policy

TIB = 1024**4
# Above these a limit no longer bounds a runaway or hostile job (see VMG-VET-003).
SANE_LIMITS = {
    "max_file_size": 1 * TIB,
    "max_total_size": 10 * TIB,
    "max_files": 10_000_000,
    "max_depth": 256,
}
CATCH_ALL_TYPES = frozenset(
    {
        "*",
        "*/*",
        "application/*",
        "application/octet-stream",
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-pie-executable",
        "application/x-dosexec",
        "text/x-shellscript",
    }
)
DANGEROUS_MODE_BITS = 0o6002  # setuid, setgid, world-writable


def _missing(policy: Policy, rule: str, kinds: tuple[FileKind, ...], facts: VmFacts) -> Iterable[Finding]:
    allowed = [k.value for k in kinds if k not in policy.quarantine.forbid]
    if allowed:
        yield Finding(
            rule,
            facts.name,
            f"quarantine policy allows {', '.join(allowed)}",
            policy.origin("spec.quarantine.forbid"),
            f"spec.quarantine.forbid includes {', '.join(k.value for k in kinds)}",
        )


def executables(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    yield from _missing(policy, "VMG-VET-001", (FileKind.EXECUTABLES, FileKind.SETUID), facts)


def links(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    kinds = (FileKind.SYMLINKS, FileKind.HARDLINKS, FileKind.SPECIAL_FILES)
    yield from _missing(policy, "VMG-VET-002", kinds, facts)


def limits(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    for name, sane in SANE_LIMITS.items():
        value = getattr(policy.quarantine, name)
        if value > sane:
            yield Finding(
                "VMG-VET-003",
                facts.name,
                f"quarantine {name} is {value:,} (sane: at most {sane:,})",
                policy.origin(f"spec.quarantine.{name}"),
                wanted(policy, f"spec.quarantine.{name}", f"<= {sane:,}"),
            )


def types(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    broad = [t for t in policy.quarantine.allow_types if t.lower() in CATCH_ALL_TYPES]
    if broad:
        yield Finding(
            "VMG-VET-004",
            facts.name,
            f"quarantine allows catch-all types: {', '.join(broad)}",
            policy.origin("spec.quarantine.allow_types"),
            "concrete MIME types only",
        )


def promote_modes(policy: Policy, facts: VmFacts) -> Iterable[Finding]:
    promote = policy.quarantine.promote
    for name, mode in (("file_mode", promote.file_mode), ("dir_mode", promote.dir_mode)):
        if mode & DANGEROUS_MODE_BITS:
            yield Finding(
                "VMG-VET-005",
                facts.name,
                f"promote {name} is {mode:#o}",
                policy.origin(f"spec.quarantine.promote.{name}"),
                "no setuid, setgid or world-write bits (e.g. 0644 / 0755)",
            )


CHECKS: dict[str, Callable[[Policy, VmFacts], Iterable[Finding]]] = {
    "VMG-VET-001": executables,
    "VMG-VET-002": links,
    "VMG-VET-003": limits,
    "VMG-VET-004": types,
    "VMG-VET-005": promote_modes,
}
