"""Phase 2 of a vet: copy every walked file into staging, then decide on its bytes.

Walk order guarantees each directory node comes before its files, and a directory's
files are contiguous, so exactly one source directory and one staging directory are
open at a time. Source directories are reopened component by component from the
quarantine root with O_NOFOLLOW and checked against the inode the walk saw.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from vmguard.core import progress
from vmguard.policy.model import QuarantinePolicy, SparseFiles
from vmguard.quarantine import hooks, served, structure
from vmguard.quarantine.content import (
    EMPTY_TYPE,
    chosen_type,
    content_reasons,
    executable_format,
    script_guess_as_text,
)
from vmguard.quarantine.copy import Content, Copier, Place, open_source
from vmguard.quarantine.destination import Destination
from vmguard.quarantine.detect import Detector, Pending
from vmguard.quarantine.holes import data_ranges
from vmguard.quarantine.model import Entry, Kind, Reason, Verdict
from vmguard.quarantine.opening import Opener, Refused
from vmguard.quarantine.scanners import ScannerSet, ScanResult
from vmguard.quarantine.walk import Node
from vmguard.quarantine.writer import Writer

MAX_WALKS = 2  # HDF5 structure walks running beside the copy (walk_worker.py)


@dataclass(slots=True)
class _Outcome:
    node: Node
    content: Content | None = None
    refused: Refused | None = None
    mime: Pending | None = None
    executable: str | None = None  # the executable format the file starts with
    scans: tuple[Future[ScanResult], ...] = ()
    held: int = -1  # the scanned descriptor, duplicated: unchanged after the scans?
    before: os.stat_result | None = None  # what the copy phase checked
    walked: structure.Walking | None = None  # the structure walk (None: not walked)

    def ready(self) -> bool:
        if self.mime is not None and not self.mime.ready():
            return False
        if self.walked is not None and not self.walked.ready():
            return False
        return not self.scans or all(f.done() for f in self.scans)

    def release(self) -> None:
        if self.held != -1:
            os.close(self.held)
            self.held = -1
        _stop(self.walked)  # if still running: its answer is no longer wanted


class _Dirs:
    """The open source directory and its staging twin."""

    def __init__(
        self,
        root_fd: int,
        opener: Opener,
        dest: Destination | None,
        out_fd: int | None,
        writer: Writer | None,
    ) -> None:
        self.root_fd, self.opener, self.dest, self.out_fd = root_fd, opener, dest, out_fd
        self.writer = writer  # its queued files are written into the staging twin
        self.dirs: dict[tuple[str, ...], Node] = {}
        self.src, self.dst = root_fd, out_fd
        self.broken: dict[tuple[str, ...], Refused] = {}

    def enter(self, node: Node) -> Refused | None:
        self.close()
        self.dirs[node.parts] = node
        try:
            self.src = self._open_source(node.parts)
        except Refused as refused:
            self.broken[node.parts] = Refused(refused.reasons, f"directory: {refused.detail}")
            return self.broken[node.parts]
        if self.dest is not None:
            parent = self.dest.open_staged_dir(node.parts[:-1])
            try:
                self.dst = self.dest.make_dir(parent, node.parts[-1])
            finally:
                os.close(parent)
        return None

    def _open_source(self, parts: tuple[str, ...]) -> int:
        fd = self.root_fd
        for depth in range(1, len(parts) + 1):
            seen = self.dirs[parts[:depth]]
            try:
                child = self.opener.open_dir(parts[depth - 1], fd, seen.dev, seen.ino)
            finally:
                if fd != self.root_fd:
                    os.close(fd)
            fd = child
        return fd

    def broken_parent(self, parts: tuple[str, ...]) -> Refused | None:
        if not self.broken:
            return None  # nearly always: no generator per file
        return next((r for p, r in self.broken.items() if parts[: len(p)] == p), None)

    def close(self) -> None:
        if self.src not in (self.root_fd, -1):
            os.close(self.src)
        if self.dst not in (self.out_fd, None, -1):
            self.writer.release(self.dst)  # after the files queued in it
        self.src, self.dst = -1, None


class CopyPhase:
    def __init__(
        self,
        policy: QuarantinePolicy,
        opener: Opener,
        dest: Destination | None,
        detector: Detector,
        scanners: ScannerSet | None = None,
    ) -> None:
        self.policy = policy
        self.opener = opener
        self.forbid = frozenset(policy.forbid)
        self.dest = dest
        self.detector = detector
        self.scanners = scanners
        self.scanning = bool(scanners)  # asked twice per file
        self.copier: Copier | None = None
        self.walks: deque[structure.Walking] = deque()  # started, oldest first

    def run(self, root_fd: int, nodes: tuple[Node, ...], out_fd: int | None) -> list[Entry]:
        """An entry per node. Each outcome is decided as soon as its type is known, so
        only the files still waiting for a worker's answer are held in full."""
        writer = None if out_fd is None else Writer()
        dirs = _Dirs(root_fd, self.opener, self.dest, out_fd, writer)
        entries: list[Entry] = []
        waiting: deque[_Outcome] = deque()
        self.copier = Copier(writer, self.opener)
        try:
            with progress.step(f"vetting {len(nodes)} entries", total=len(nodes)) as advance:
                for node in nodes:
                    waiting.append(self._outcome(node, dirs))
                    advance(1)
                    while waiting and waiting[0].ready():
                        entries.append(self._settle(waiting.popleft()))
            dirs.close()
            if writer is not None:
                writer.wait()  # every staged byte is written (or the vet fails, exit 3)
            while waiting:
                entries.append(self._settle(waiting.popleft()))
        finally:
            dirs.close()
            if writer is not None:
                writer.close()
            self.copier.close()
            for outcome in waiting:  # a scanner failed: the vet stops
                outcome.release()
        return entries

    def _settle(self, outcome: _Outcome) -> Entry:
        try:
            return decide(outcome, self.policy)
        finally:
            outcome.release()

    def _outcome(self, node: Node, dirs: _Dirs) -> _Outcome:
        refused = dirs.broken_parent(node.parts[:-1])
        if node.kind is Kind.DIRECTORY and refused is None:
            refused = dirs.enter(node)
        elif refused is None:
            return self.copy(node, dirs)
        return _Outcome(node, refused=refused)

    def copy(self, node: Node, dirs: _Dirs) -> _Outcome:
        hooks.reach("open", node.parts)
        try:
            src, before = open_source(self.opener, dirs.src, node, self.forbid)
        except Refused as refused:
            return _Outcome(node, refused=refused)
        upload = self.detector.begin()
        walked = None
        try:
            ranges = self._data_ranges(src, before.st_size)
            place = (
                None
                if dirs.dst is None
                else Place(self.dest, dirs.dst, node.parts[-1], self.policy.promote.file_mode)
            )
            content, head, own = self.copier.copy(
                src, before, place, node.parts, upload.feed, ranges, keep=self._keep(before.st_size)
            )
            try:
                walked = self._walk(own, head, content.size)
            except BaseException:
                if own != -1:
                    os.close(own)
                raise
            scans, held = self._scan(src, own, node)
        except Refused as refused:
            _stop(walked)
            upload.end().discard()  # the worker's answer for a refused copy is never asked for
            return _Outcome(node, refused=refused)
        except BaseException:
            _stop(walked)
            upload.end()  # the worker's stream stays in step for whoever handles the error
            raise
        finally:
            os.close(src)
        hooks.reach("staged", node.parts)
        return _Outcome(
            node,
            content,
            mime=upload.end(),
            executable=executable_format(head),
            scans=scans,
            held=held,
            before=before,
            walked=walked,
        )

    def _walk(self, own: int, head: bytes, size: int) -> structure.Walking | None:
        """Start a file's structure walk, which runs while the next files are copied; at
        most MAX_WALKS at once (each may take 512 MiB): else the copy waits for the oldest."""
        while self.walks and (self.walks[0].ready() or len(self.walks) >= MAX_WALKS):
            self.walks.popleft().result()
        walked = structure.walk(own, head, size)
        if walked is not None:
            self.walks.append(walked)
        return walked

    def _keep(self, size: int) -> Callable[[bytes], bool]:
        """Whether vmguard's own copy of a file is kept, by its head: for the scanners, or
        the structure walk."""
        return lambda head: self.scanning or structure.needs_walk(head, size)

    def _data_ranges(self, src: int, size: int) -> list[tuple[int, int]] | None:
        """A sparse file's data ranges (copied with its holes), or Refused by the policy."""
        ranges = data_ranges(src, size)
        if ranges is not None and self.policy.sparse_files is SparseFiles.REFUSE:
            data = sum(end - start for start, end in ranges)
            raise Refused(
                [Reason.SPARSE_FILE],
                f"{size - data} of its {size} bytes are "
                "holes; the policy refuses sparse files (sparse_files: refuse)",
            )
        return ranges

    def _scan(self, src: int, own: int, node: Node) -> tuple[tuple[Future[ScanResult], ...], int]:
        """Hand the scanners `own`, vmguard's copy of the bytes that were hashed and are
        published (Copier.copy keep=True), never a name and never the guest's source, which
        it may rewrite through a shared mapping without moving its mtime or ctime. A
        duplicate of the source is kept: changed once they answer -> changed during vet."""
        if not self.scanning:
            if own != -1:
                os.close(own)  # kept for the walk only
            return (), -1
        hooks.reach("scan", node.parts)
        held = -1
        try:
            held = os.dup(src)
            return self.scanners.submit(own), held
        except BaseException:
            if held != -1:
                os.close(held)
            raise
        finally:
            os.close(own)  # the engines keep their own duplicates


def _stop(walked: structure.Walking | None) -> None:
    """Stop a file's walk if it still runs: its answer will not be asked for."""
    if walked is not None:
        walked.close()


def decide(outcome: _Outcome, policy: QuarantinePolicy) -> Entry:
    """The entry for one walked node, once its type is known."""
    path = "/".join(outcome.node.parts)
    kind = outcome.node.kind
    if outcome.refused is not None:
        return Entry(
            path,
            kind,
            Verdict.REJECTED,
            tuple(outcome.refused.reasons),
            outcome.refused.detail,
            size=outcome.node.size or None,
        )
    if kind is Kind.DIRECTORY:
        return Entry(path, kind, Verdict.ACCEPTED)
    content = outcome.content
    answer = structure.judged(outcome.mime.result(), outcome.walked, content.size)
    answer = script_guess_as_text(answer, outcome.executable, outcome.node.parts[-1])
    mime = EMPTY_TYPE if content.size == 0 else answer.mime if answer else None
    found = content_reasons(content, answer, outcome.executable, policy, outcome.node.parts[-1])
    if content.size and answer is not None:  # what a client makes of the name (served.py)
        validators = tuple([v for _, v in answer.parts])
        chosen = chosen_type(answer, policy)
        found += served.name_reasons(outcome.node.parts[-1], validators, not found, chosen, answer.not_json)
        if not found:  # text's escapes of the format its name announces
            found += served.escape_reasons(outcome.node.parts[-1], answer.named)
    elif not content.size:  # no bytes to compare the name with: only names a client runs
        found += served.name_reasons(outcome.node.parts[-1], (), admitted=False)
    if answer is None and content.size:  # why: the worker crashed, or ran out of time
        lost = Reason.DETECTOR_TIMEOUT if outcome.mime.timed_out() else Reason.TYPE_UNKNOWN
        found = [(lost, outcome.mime.why_none()) if r is Reason.TYPE_UNKNOWN else (r, d) for r, d in found]
    found += scan_reasons(outcome)
    verdict = Verdict.REJECTED if found else Verdict.ACCEPTED
    return Entry(
        path,
        kind,
        verdict,
        tuple([r for r, _ in found]),
        "; ".join([d for _, d in found]),
        content.size,
        content.sha256,
        mime,
        "; ".join([f.result().note for f in outcome.scans]) or None,
    )


def scan_reasons(outcome: _Outcome) -> list[tuple[Reason, str]]:
    """What the scanners found (ScanError if one failed), and whether the file changed
    while they read it: a rewrite after the copy means they may have seen other bytes."""
    if not outcome.scans:
        return []
    found: list[tuple[Reason, str]] = []
    for result in (f.result() for f in outcome.scans):
        found += [(Reason.SCANNER_FLAGGED, str(hit)) for hit in result.hits]
        if result.failure is not None:
            found.append((Reason.SCANNER_FAILED, f"{result.engine}: {result.failure}"))
    after, before = os.fstat(outcome.held), outcome.before
    if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (
        before.st_size,
        before.st_mtime_ns,
        before.st_ctime_ns,
    ):
        found.append((Reason.CHANGED_DURING_VET, "rewritten while it was scanned"))
    return found
