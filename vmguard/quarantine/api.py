"""`vmguard.vet(...)`: vet a quarantine directory and promote what passes.

walk (metadata, by directory fds) -> free-space check -> copy phase (one read per file:
hash + stage + type detection in sandboxed workers + the policy's scanners) -> decide ->
commit (syncfs, COMMITTED, renameat2 NOREPLACE) or abort -> log. See docs/quarantine.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import NoReturn

from vmguard.core import eventlog as log
from vmguard.core.errors import ExitCode, LogError, VetError, VetInputError, VmguardError
from vmguard.policy.model import Policy, PromoteMode, QuarantinePolicy
from vmguard.quarantine import mounts, removal, report
from vmguard.quarantine.destination import STAGING, Destination
from vmguard.quarantine.detect import Detector
from vmguard.quarantine.manifest import Manifest
from vmguard.quarantine.model import Entry, Kind, Status, Verdict, VetResult
from vmguard.quarantine.opening import Opener, atime_note, open_quarantine
from vmguard.quarantine.pipeline import CopyPhase
from vmguard.quarantine.publicpath import check_names, open_public
from vmguard.quarantine.removal import Identity, remove_empty_dirs, remove_files
from vmguard.quarantine.rerun import (
    NOT_RECORDED,
    Origin,
    ToRemove,
    check_bytes,
    check_contents,
    check_source,
    pending_removal,
    published_entries,
)
from vmguard.quarantine.scanners import ScannerSet
from vmguard.quarantine.walk import Walk, walk

_JOB = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
LOGGED_REJECTIONS = 100


def vet(
    quarantine: str | Path,
    policy: Policy | QuarantinePolicy,
    to: str | Path | None = None,
    *,
    job: str | None = None,
    dry_run: bool = False,
    per_file: bool | None = None,
    remove_promoted: bool = False,
    events: log.EventLog | None = None,
) -> VetResult:
    """Vet `quarantine` against the policy and, unless dry_run, publish to `to`.

    `to` is the job's output directory (it must not exist yet); by default the policy's
    quarantine.promote.to with {job} filled in. The decision is logged to `events`
    (the CLI passes its own; library callers default to the log $VMGUARD_LOG names).
    Raises VetInputError (exit 2) for bad paths or arguments, VetError (exit 3) when
    vetting cannot run; either is logged first, as a `failed` event (failed()).
    """
    events = events or log.EventLog.from_environment()
    qpath = Path(quarantine)
    try:
        result = _vet(qpath, policy, to, job, per_file, dry_run, remove_promoted)
    except OSError as err:  # a write that failed: ENOSPC, EIO, EDQUOT, ...
        error = VetError(f"vet of {qpath} could not run: {err}; nothing was published")
        failed(events, job, qpath, error, err)
    except VetError as err:
        failed(events, job, qpath, err)
    try:
        _log(events, result, dry_run)
    except LogError as err:  # done all the same: the report must still say what was done
        return replace(result, notes=(*result.notes, unlogged(result, err)), log_error=str(err))
    return result


def unlogged(result: VetResult, err: LogError) -> str:
    """The note (and the CLI's line on stderr) for a vet whose event was not logged."""
    return (
        f"{err}: this vet ({result.status.value}) is done as this report says, "
        "but its event is missing from the log (exit 3); make the log writable"
    )


def _vet(
    qpath: Path,
    policy: Policy | QuarantinePolicy,
    to: str | Path | None,
    job: str | None,
    per_file: bool | None,
    dry_run: bool,
    remove_promoted: bool,
) -> VetResult:
    source = policy.source if isinstance(policy, Policy) else "<policy>"
    rules = policy.quarantine if isinstance(policy, Policy) else policy
    job = _job_name(job, qpath)
    target = _target(to, rules, job)
    if per_file is None:
        per_file = rules.promote.mode is PromoteMode.PER_FILE
    root_fd, root_kept = open_quarantine(qpath)
    try:
        judge = partial(mounts.check_apart, quarantine_fd=root_fd, to=to or target)
        if dry_run:
            _judge_dry(target, rules, judge)
        vetting = _Vet(rules, source, qpath, job, per_file, target, judge)
        return vetting.vet(root_fd, root_kept, None if dry_run else target, remove_promoted)
    finally:
        os.close(root_fd)


def _job_name(job: str | None, qpath: Path) -> str:
    name = job if job is not None else qpath.resolve().name
    if not _JOB.fullmatch(name):
        raise VetInputError(
            f"job id {name!r}: use letters, digits and . _ @ + - only "
            "(at most 128, not starting with a dot); pass --job"
        )
    return name


def _target(to: str | Path | None, rules: QuarantinePolicy, job: str) -> Path:
    if to is None:
        if not rules.promote.to or "{vm}" in rules.promote.to:
            raise VetInputError(
                "no destination: pass --to (the policy's quarantine.promote.to is unset or needs a VM name)"
            )
        to = rules.promote.to.replace("{job}", job)
    target = Path.cwd() / to  # `..` kept: the kernel resolves it after any symlink before it
    if Path(to).name in ("", ".", "..") or target.name.startswith("."):
        raise VetInputError(f"--to {to}: name the job's output directory, e.g. /public/{job}")
    if STAGING in target.parts:  # another job's lock or staging could be named there
        raise VetInputError(
            f"--to {to}: inside vmguard's own {STAGING} directory; "
            "name the job's output directory, e.g. /public/{job}"
        )
    check_names(target)
    return target


def _judge_dry(target: Path, rules: QuarantinePolicy, judge: Callable[[int], None]) -> None:
    """A dry run refuses a --to in the quarantine as the run would, making nothing: its
    nearest existing directory is judged. One it cannot open is left to the run."""
    try:
        fd = open_public(target.parent, rules.promote.dir_mode, judge, make=False)
    except OSError:
        return
    os.close(fd)


class _Vet:
    def __init__(
        self,
        rules: QuarantinePolicy,
        source: str,
        qpath: Path,
        job: str,
        per_file: bool,
        target: Path,
        judge: Callable[[int], None],
    ) -> None:
        self.rules, self.source, self.qpath = rules, source, qpath
        self.job, self.per_file = job, per_file
        self.target = target  # where it is (or, in a dry run, would be) published
        self.judge = judge  # refuses a public directory in the quarantine
        self.walked: Walk | None = None
        self.opener: Opener | None = None
        self.origin: Origin | None = None  # the quarantine directory read (set by vet)
        self.remove_promoted = False

    def result(self, status: Status, entries, dest: Destination | None, notes=()) -> VetResult:
        published = status in (Status.PROMOTED, Status.PARTIAL, Status.ALREADY_PROMOTED)
        return VetResult(
            self.job,
            str(self.qpath),
            status,
            tuple(sorted(entries, key=lambda e: e.path)),
            output=str(dest.target) if published else None,
            manifest=str(dest.public / dest.sidecars[0]) if published else None,
            notes=tuple(dest.notes if dest else ()) + tuple(notes) + self.atime_notes(),
        )

    def atime_notes(self) -> tuple[str, ...]:
        moved = self.opener.atime_moved if self.opener else 0
        return (atime_note(moved),) if moved else ()

    def vet(self, root_fd: int, root_kept: bool, target: Path | None, remove_promoted: bool) -> VetResult:
        self.origin, self.remove_promoted = Origin.of(root_fd), remove_promoted
        with Opener(root_fd) as self.opener:
            self.opener.atime_moved += not root_kept
            if target is None:
                return self.run(root_fd, None)
            with Destination(target, self.job, self.rules.promote, self.judge) as dest:
                return left_behind(self.promote(root_fd, dest), dest)

    def promote(self, root_fd: int, dest: Destination) -> VetResult:
        previous = dest.previous_manifest()
        if previous is not None:
            with previous:
                return self.rerun(root_fd, dest, previous)
        result = self.run(root_fd, dest)
        if self.remove_promoted and result.status in (Status.PROMOTED, Status.PARTIAL):
            pending = ToRemove(self.walked.nodes, self.published(result))
            return self.remove(root_fd, dest, result, pending)
        return result

    def rerun(self, root_fd: int, dest: Destination, manifest: Manifest) -> VetResult:
        """This job is published: by a vet of this quarantine (else exit 2, rerun.py)."""
        check_source(dest, manifest, self.origin)
        walked = walk(root_fd, self.rules, self.opener, str(self.target))
        check_contents(dest, manifest, walked)
        check_bytes(dest, manifest, walked, self.opener, root_fd)
        present = _files(walked) if self.remove_promoted else frozenset()
        del walked  # its nodes go before the manifest's entries come (published_entries)
        done = "this job was already promoted; nothing was copied"
        result = self.result(Status.ALREADY_PROMOTED, published_entries(dest, manifest), dest, [done])
        pending = pending_removal(dest, self.origin)
        if not self.remove_promoted:
            unfinished = "an earlier --remove-promoted is unfinished: rerun with it to finish"
            return replace(result, notes=(*result.notes, unfinished)) if pending else result
        if pending is not None:
            return self.remove(root_fd, dest, result, pending)
        if manifest.fields.get("remove_promoted"):
            return replace(result, notes=(*result.notes, "its files were removed by the earlier vet"))
        left = [e.path for e in result.accepted if e.kind is Kind.FILE and e.path in present]  # never removed
        if not left:
            return result
        note = f"--remove-promoted left {len(left)} published file(s) in the quarantine: {NOT_RECORDED}"
        not_removed = tuple((path, NOT_RECORDED) for path in left)
        return replace(result, notes=(*result.notes, note), not_removed=not_removed)

    def run(self, root_fd: int, dest: Destination | None) -> VetResult:
        if dest is not None:
            dest.check_free()
            dest.drop_record()  # of a job no longer published
        with Detector() as detector:
            detector.start(1)  # it loads libmagic while the tree is walked; begin() adds the others
            self.walked = walk(root_fd, self.rules, self.opener, str(self.target))
            early = any(e.verdict is Verdict.REJECTED for e in self.walked.entries)
            stage = dest is not None and (self.per_file or not early)
            entries = self.copy_phase(root_fd, dest if stage else None, detector)
        entries += self.walked.entries
        if not stage:
            return self.result(Status.DRY_RUN if dest is None else Status.REJECTED, entries, dest)
        try:
            return self.finish(entries, dest)
        except BaseException:
            dest.abort()
            raise

    def copy_phase(self, root_fd: int, dest: Destination | None, detector: Detector) -> tuple[Entry, ...]:
        # The scanners start first: one that cannot (clamd down, bad site rules) stops
        # the vet before anything is staged.
        with ScannerSet(self.rules.scanners) as scanners:
            return self._copy(root_fd, dest, scanners, detector)

    def _copy(
        self, root_fd: int, dest: Destination | None, scanners: ScannerSet, detector: Detector
    ) -> tuple[Entry, ...]:
        nodes = self.walked.nodes
        out_fd = None
        try:
            if dest is not None:
                dest.check_space([n.written for n in nodes], len(nodes))
                out_fd = dest.begin()
            phase = CopyPhase(self.rules, self.opener, dest, detector, scanners)
            return tuple(phase.run(root_fd, nodes, out_fd))
        except BaseException:
            if dest is not None:
                dest.abort()
            raise
        finally:
            if out_fd is not None:
                os.close(out_fd)

    def finish(self, entries: tuple[Entry, ...], dest: Destination) -> VetResult:
        rejected = [e for e in entries if e.verdict is Verdict.REJECTED]
        accepted = [e for e in entries if e.verdict is Verdict.ACCEPTED and e.kind is Kind.FILE]
        if rejected and (not self.per_file or not accepted):
            dest.abort()
            return self.result(Status.REJECTED, entries, dest)
        for entry in rejected:
            self.unstage(dest, entry)
        result = self.result(Status.PARTIAL if rejected else Status.PROMOTED, entries, dest)
        origin = self.origin.to_dict()
        record = None
        if self.remove_promoted:  # kept with the commit until the removal is done (rerun.py)
            record = removal.record(self.walked.nodes, self.published(result), origin)
        dest.commit(
            {
                dest.sidecars[0]: report.manifest(
                    result,
                    self.source,
                    {"source": origin, "remove_promoted": self.remove_promoted},
                    self.walked.stamps(),
                ),
                dest.sidecars[1]: report.report_json(result),
                dest.sidecars[2]: [report.report_text(result).encode()],
            },
            record,
        )
        return result

    def unstage(self, dest: Destination, entry: Entry) -> None:
        """Remove a rejected file's staged copy, if it was staged (per-file mode)."""
        if entry.kind is not Kind.FILE or entry.sha256 is None:
            return
        parts = tuple(entry.path.split("/"))
        fd = dest.open_staged_dir(parts[:-1])
        try:
            os.unlink(parts[-1], dir_fd=fd)
        finally:
            os.close(fd)

    def published(self, result: VetResult) -> dict[str, Identity]:
        """What each published file was when copied (for --remove-promoted)."""
        accepted = {e.path for e in result.accepted if e.kind is Kind.FILE}
        files = (("/".join(n.parts), n) for n in self.walked.nodes if n.kind is Kind.FILE)
        return {path: Identity.of_node(n) for path, n in files if path in accepted}

    def remove(self, root_fd: int, dest: Destination, result: VetResult, pending: ToRemove) -> VetResult:
        """Remove the published files; each one left in the quarantine is named, with why.
        The commit's record then names only those a rerun may still remove (none: gone)
        before the directories left empty go: a kill there leaves nothing to retry."""
        digests = {e.path: e.sha256 for e in result.accepted if e.kind is Kind.FILE}
        kept = remove_files(self.opener, root_fd, pending.nodes, pending.published, digests)
        not_removed = tuple((k.path, k.reason) for k in kept if not k.changed)
        notes = [f"--remove-promoted left {k.path!r} in the quarantine: {k.reason}" for k in kept]
        try:
            if not_removed:
                failed = {path: pending.published[path] for path, _ in not_removed}
                dest.write_record(removal.record(pending.nodes, failed, self.origin.to_dict()))
            else:
                dest.drop_record()
        except OSError as err:  # published all the same: say so, never "nothing was published"
            notes.append(f"the record of what is left to remove could not be updated: {err.strerror}")
        remove_empty_dirs(self.opener, root_fd, pending.nodes)
        if not notes:
            return result
        return replace(result, notes=result.notes + tuple(notes), not_removed=not_removed)


def _files(walked: Walk) -> frozenset[str]:
    return frozenset("/".join(n.parts) for n in walked.nodes if n.kind is Kind.FILE)


def left_behind(result: VetResult, dest: Destination) -> VetResult:
    """A published job whose staging could not be removed afterwards: done as reported,
    and the staging named with its remedy (exit 3, as a vet not logged)."""
    if dest.left_behind is None:
        return result
    note = (
        f"the job is published, but its staging {dest.left_behind} could not be removed: "
        "the next vet of this job removes it (rerun the same command), or remove it by hand (exit 3)"
    )
    return replace(result, notes=(*result.notes, note), staging_left=dest.left_behind)


def failed(
    events: log.EventLog, job: str | None, qpath: Path, error: VmguardError, cause: OSError | None = None
) -> NoReturn:
    """Log a vet that could not run or finish, then raise its error (exit 2 or 3, one
    line). Every exit 2 and 3 of a vet passes here: vet() for its own, the CLI for a
    policy it could not load. `job` is as given (None: the quarantine's name)."""
    try:
        events.append("vet", job=job or qpath.name, quarantine=str(qpath), status="failed", error=str(error))
    except LogError as err:
        again = VetInputError if error.exit_code == ExitCode.BAD_INPUT else VetError
        raise again(f"{error}; and {err}") from cause or error
    raise error from cause


def _log(events: log.EventLog, result: VetResult, dry_run: bool) -> None:
    events.append(
        "vet",
        job=result.job,
        quarantine=result.quarantine,
        status=result.status.value,
        output=result.output,
        dry_run=dry_run,
        promoted=result.promoted,
        rejected=[
            {"path": e.path, "reasons": [r.value for r in e.reasons]}
            for e in result.rejected[:LOGGED_REJECTIONS]
        ],
        rejected_total=len(result.rejected),
        not_removed=[{"path": p, "reason": r} for p, r in result.not_removed],
        staging_left=result.staging_left,
    )
