"""What every scanner engine takes and gives back: an ABC, frozen values, one error type.

An engine is handed the descriptor the copy phase checked and hashed (read-only), never
a path, and answers with a Future of a ScanResult, so an engine that works elsewhere
(clamd) keeps several files in flight while the copy goes on. An engine that cannot
scan raises ScanError: the vet stops with exit 3 and publishes nothing, because a scan
that did not happen is neither a pass nor a finding about the file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass
from typing import ClassVar

from vmguard.core.errors import ExitCode, VetError


class ScanError(VetError):
    """An engine could not scan: unreachable, failing, timed out, or (exit 2) its rules
    are wrong, in which case the message is located as file:line:col."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.CANNOT_RUN) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class Hit:
    """One thing an engine found in a file: a signature or rule name, and where."""

    engine: str
    name: str
    offset: int | None = None  # byte offset of the first match, when the engine says

    def __str__(self) -> str:
        where = "" if self.offset is None else f" at offset {self.offset}"
        return f"{self.engine}: {self.name}{where}"


@dataclass(frozen=True, slots=True)
class ScanResult:
    """An engine's answer about one file. `failure` is set when the engine ran but could
    not decide about this file (a command scanner's error exit): the file is rejected."""

    engine: str
    hits: tuple[Hit, ...] = ()
    failure: str | None = None
    note: str = ""  # the engine's verdict, as the report shows it


class Engine(ABC):
    """One scanning engine, open for the length of a vet."""

    name: ClassVar[str]

    @abstractmethod
    def submit(self, fd: int) -> Future[ScanResult]:
        """Start scanning the regular file open read-only at `fd`. The descriptor is only
        borrowed for the call: an engine that needs it longer duplicates it. May raise
        ScanError at once (an earlier file already showed the engine is failing)."""

    def close(self) -> None:  # noqa: B027 - most engines hold nothing
        """Release connections and threads; answers still in flight are abandoned."""


def done(result: ScanResult) -> Future[ScanResult]:
    """An already answered Future, for engines that scan in the calling thread."""
    future: Future[ScanResult] = Future()
    future.set_result(result)
    return future
