"""What a vet decides, as frozen dataclasses and enums: the library's return value.

Every rejected entry carries one or more named Reasons, so a job runner (or a test) can
tell *why* a file stayed in quarantine without parsing messages.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import StrEnum

from vmguard.core.errors import ExitCode


class Reason(StrEnum):
    """Why an entry is not promoted."""

    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    SPECIAL_FILE = "special-file"  # FIFO, socket, character or block device
    MOUNT_POINT = "mount-point"  # another filesystem mounted inside the quarantine
    SETUID = "setuid"
    SETGID = "setgid"
    STICKY = "sticky"
    EXECUTABLE_MODE = "executable-mode"
    EXECUTABLE_CONTENT = "executable-content"  # ELF, Mach-O, PE or #! whatever the name
    NAME_TRAVERSAL = "name-traversal"  # ".", "..", "/" or "\\" in a name
    NAME_EMPTY = "name-empty"
    NAME_CONTROL = "name-control-characters"
    NAME_NOT_UTF8 = "name-not-utf8"
    NAME_COLLISION = "name-collision"  # equal to a sibling after NFKC and full case folding
    NAME_NOT_PORTABLE = "name-not-portable"  # names: portable; Windows cannot hold it
    NAME_TOO_LONG = "name-too-long"
    NAME_TYPE = "name-type"  # its extension makes a client run it, or announces another type
    NAME_DOTFILE = "name-dotfile"  # a leading dot: servers, shells, VCS and tools read it as config
    NAME_OPTION = "name-option"  # a leading - + or @: an option to a tool given a wildcard
    NAME_CONFIG = "name-config"  # a name a server or tool reads as its directory's configuration
    PATH_TOO_LONG = "path-too-long"  # the published path would not fit in PATH_MAX
    TOO_DEEP = "too-deep"
    FILE_TOO_LARGE = "file-too-large"
    TOTAL_TOO_LARGE = "total-too-large"
    TOO_MANY_FILES = "too-many-files"
    TYPE_NOT_ALLOWED = "type-not-allowed"
    BINARY_IN_TEXT = "binary-in-text"  # detected as text, but has NUL bytes further on
    SNIFFED_AS_PAGE = "sniffed-as-page"  # its first bytes make a browser render it as a page
    INVALID_FORMAT = "invalid-format"  # its type's validator found a broken rule (named)
    TYPE_UNKNOWN = "type-unknown"  # the content detector crashed or could not tell
    # its worker computed 10 s of CPU time without progress, or its HDF5 walk 300 s (structure.py)
    DETECTOR_TIMEOUT = "detector-timeout"
    SCANNER_FLAGGED = "scanner-flagged"
    SCANNER_FAILED = "scanner-failed"  # the scanner timed out or could not run
    CHANGED_DURING_VET = "changed-during-vet"  # replaced, grew, shrank or rewritten
    UNREADABLE = "unreadable"
    SPARSE_FILE = "sparse-file"  # has holes, and the policy says sparse_files: refuse


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SKIPPED = "skipped"  # a kind the policy does not forbid but vmguard never publishes


class Kind(StrEnum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"  # FIFO, socket, device


class Status(StrEnum):
    PROMOTED = "promoted"  # everything accepted and published
    PARTIAL = "partial"  # per-file mode: the accepted part was published
    REJECTED = "rejected"  # something rejected, nothing published
    DRY_RUN = "dry-run"
    ALREADY_PROMOTED = "already-promoted"  # a rerun after a completed promotion


@dataclass(frozen=True, slots=True)  # one per file: slots keep 100,000 small
class Entry:
    """One quarantine entry and what vet decided about it."""

    path: str  # relative to the quarantine, shown safely (see display.shown)
    kind: Kind
    verdict: Verdict
    reasons: tuple[Reason, ...] = ()
    detail: str = ""
    size: int | None = None
    sha256: str | None = None
    mime: str | None = None
    scanner: str | None = None

    def to_dict(self) -> dict[str, object]:
        # _value_, not .value (a Python-level property): twice per entry of a job
        return {
            "path": self.path,
            "kind": self.kind._value_,
            "verdict": self.verdict._value_,
            "reasons": [r._value_ for r in self.reasons],
            "detail": self.detail,
            "size": self.size,
            "sha256": self.sha256,
            "type": self.mime,
            "scanner": self.scanner,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Entry:
        return cls(
            path=data["path"],
            kind=Kind(data["kind"]),
            verdict=Verdict(data["verdict"]),
            reasons=tuple(Reason(r) for r in data.get("reasons", ())),
            detail=data.get("detail", ""),
            size=data.get("size"),
            sha256=data.get("sha256"),
            mime=_interned(data.get("type")),
            scanner=_interned(data.get("scanner")),
        )


def _interned(name: object) -> object:
    # One string per type or scanner, not one per file: 100,000 "text/plain" are 6 MB.
    return sys.intern(name) if isinstance(name, str) else name


@dataclass(frozen=True)
class VetResult:
    job: str
    quarantine: str
    status: Status
    entries: tuple[Entry, ...]
    output: str | None = None  # the published directory, when something was published
    manifest: str | None = None
    notes: tuple[str, ...] = field(default=())
    # --remove-promoted: published files left in the quarantine, (path, why): exit 3
    not_removed: tuple[tuple[str, str], ...] = field(default=())
    # the vet's event could not be appended to the log (why): done as reported, exit 3
    log_error: str | None = None
    # published, but its staging could not be removed afterwards (path and why): exit 3
    staging_left: str | None = None

    @property
    def accepted(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.verdict is Verdict.ACCEPTED)

    @property
    def rejected(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.verdict is Verdict.REJECTED)

    @property
    def promoted(self) -> int:
        """How many files this result says are in the public area."""
        if self.status not in (Status.PROMOTED, Status.PARTIAL, Status.ALREADY_PROMOTED):
            return 0
        return sum(1 for e in self.accepted if e.kind is Kind.FILE)

    @property
    def exit_code(self) -> ExitCode:
        if self.not_removed or self.log_error or self.staging_left:  # done, not all as asked: fail closed
            return ExitCode.CANNOT_RUN
        return ExitCode.FINDINGS if self.rejected else ExitCode.OK

    def to_dict(self) -> dict[str, object]:
        return {**self.summary(), "entries": [e.to_dict() for e in self.entries]}

    def summary(self) -> dict[str, object]:
        """Everything but the entries (report.py streams those)."""
        return {
            "job": self.job,
            "quarantine": self.quarantine,
            "status": self.status.value,
            "output": self.output,
            "manifest": self.manifest,
            "accepted": len(self.accepted),
            "promoted": self.promoted,
            "rejected": [
                {"path": e.path, "reasons": [r.value for r in e.reasons], "detail": e.detail}
                for e in self.rejected
            ],
            "notes": list(self.notes),
            "not_removed": [{"path": p, "reason": r} for p, r in self.not_removed],
        }
