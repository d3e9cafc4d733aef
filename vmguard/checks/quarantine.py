"""VMG-VET: the policy's quarantine settings, assessed for each VM that follows it."""

from __future__ import annotations

from collections.abc import Iterable

from vmguard.checks.common import wanted
from vmguard.checks.unit import Violation
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


def _missing(policy: Policy, kinds: tuple[FileKind, ...]) -> Iterable[Violation]:
    allowed = [k.value for k in kinds if k not in policy.quarantine.forbid]
    if allowed:
        yield Violation(
            message=f"quarantine policy allows {', '.join(allowed)}",
            evidence=policy.origin("spec.quarantine.forbid"),
            wanted=f"spec.quarantine.forbid includes {', '.join(k.value for k in kinds)}",
        )


def executables(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    yield from _missing(policy, (FileKind.EXECUTABLES, FileKind.SETUID))


def links(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    kinds = (FileKind.SYMLINKS, FileKind.HARDLINKS, FileKind.SPECIAL_FILES)
    yield from _missing(policy, kinds)


def limits(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    for name, sane in SANE_LIMITS.items():
        value = getattr(policy.quarantine, name)
        if value > sane:
            yield Violation(
                message=f"quarantine {name} is {value:,} (sane: at most {sane:,})",
                evidence=policy.origin(f"spec.quarantine.{name}"),
                wanted=wanted(policy, f"spec.quarantine.{name}", f"<= {sane:,}"),
            )


def types(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    broad = [t for t in policy.quarantine.allow_types if t.lower() in CATCH_ALL_TYPES]
    if broad:
        yield Violation(
            message=f"quarantine allows catch-all types: {', '.join(broad)}",
            evidence=policy.origin("spec.quarantine.allow_types"),
            wanted="concrete MIME types only",
        )


def promote_modes(policy: Policy, facts: VmFacts) -> Iterable[Violation]:
    promote = policy.quarantine.promote
    for name, mode in (("file_mode", promote.file_mode), ("dir_mode", promote.dir_mode)):
        if mode & DANGEROUS_MODE_BITS:
            yield Violation(
                message=f"promote {name} is {mode:#o}",
                evidence=policy.origin(f"spec.quarantine.promote.{name}"),
                wanted="no setuid, setgid or world-write bits (e.g. 0644 / 0755)",
            )
