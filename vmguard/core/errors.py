"""The exception tree and the exit codes it maps to.

Each subsystem raises one base exception (PolicyError, InventoryError, DriverError,
FirewallError, VetError, AuditError, GuestError). The CLI catches VmguardError once and
exits with the error's exit_code; library callers can catch the subsystem they use.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class ExitCode(IntEnum):
    """The documented exit codes (README, `vmguard --help`)."""

    OK = 0
    FINDINGS = 1  # findings at or above the threshold, or files rejected by vet
    BAD_INPUT = 2  # policy, inventory or arguments are wrong
    CANNOT_RUN = 3  # hypervisor unreachable, no permission, missing tool; or incomplete:
    # something vmguard was asked to cover (a VM, a disk, the firewall) went unseen
    CHANGES = 1  # plan: apply would change something (same code as FINDINGS)
    MANUAL_ONLY = 4  # plan: apply would change nothing, but settings are left to do by hand


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One located mistake in a user's file: `file:line:col: where: what, and the fix`."""

    file: str
    line: int
    col: int
    where: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        tag = "" if self.severity is Severity.ERROR else "warning: "
        where = f"{self.where}: " if self.where else ""
        if not self.file:  # a command-line argument: no file position to give
            return f"vmguard: error: {tag}{where}{self.message}"
        return f"{self.file}:{self.line}:{self.col}: {tag}{where}{self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "where": self.where,
            "message": self.message,
            "severity": self.severity.value,
        }


class VmguardError(Exception):
    """Base of every error vmguard raises on purpose."""

    exit_code: ExitCode = ExitCode.CANNOT_RUN


class InputError(VmguardError):
    """The user's input is wrong. Carries every problem found, not only the first."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem("", 0, 0, "", problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PolicyError(InputError):
    """A policy file is unreadable, malformed, or contradicts itself."""


class InventoryError(InputError):
    """An inventory file is unreadable, malformed, or names what does not exist."""


class UsageError(InputError):
    """Bad command-line arguments."""


class DriverError(VmguardError):
    """A hypervisor could not be reached or refused an operation (exit 3)."""


class FirewallError(VmguardError):
    """The host firewall could not be read or changed (exit 3)."""


class VetError(VmguardError):
    """Vetting could not run (exit 3; bad paths are VetInputError, exit 2)."""


class VetInputError(VetError):
    exit_code = ExitCode.BAD_INPUT


class AuditError(VmguardError):
    """An audit run could not complete (lock held, report folder unwritable)."""


class GuestError(VmguardError):
    """A guest's disk or agent could not be inspected."""


class LogError(VmguardError):
    """vmguard's own log could not be written or read."""


def os_reason(err: OSError) -> str:
    """Why an OS call failed, in words, never None: its strerror; else its message (io's
    UnsupportedOperation, what seeking a FIFO or tty raises, carries no errno); else its
    kind."""
    return err.strerror or str(err).rstrip(".") or type(err).__name__


class GateError(VmguardError):
    """The start gate or watch --enforce could not do its job (vmguard.gate)."""


class BatchError(VmguardError):
    """A batch job could not be given a VM, or its output could not be sealed (exit 3)."""


class BatchRefused(BatchError):
    """The job may not have a VM: unknown pool, not allowed, none free (exit 1)."""

    exit_code = ExitCode.FINDINGS


class SystemInstallError(VmguardError):
    """`vmguard system install` could not put a file in place (exit 3)."""
