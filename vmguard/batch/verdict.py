"""A job's vetting verdict: what the user reads beside the job output, what admins keep."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from vmguard.batch.job import BatchJob
from vmguard.core.atomicfile import write_atomic
from vmguard.core.display import is_plain, shown
from vmguard.core.errors import BatchError, ExitCode


class JobOutcome(StrEnum):
    PROMOTED = "promoted"  # every file passed and is in the public area
    REJECTED = "rejected"  # some or all files were refused; they are held for admins
    FAILED = "failed"  # vetting could not run or did not finish; the files are held
    SKIPPED = "skipped"  # not a VM job: nothing to vet

    @classmethod
    def from_exit(cls, code: int) -> JobOutcome:
        if code == ExitCode.OK:
            return cls.PROMOTED
        return cls.REJECTED if code == ExitCode.FINDINGS else cls.FAILED


@dataclass(frozen=True)
class Rejection:
    path: str
    reason: str


@dataclass(frozen=True)
class JobVerdict:
    job: BatchJob
    outcome: JobOutcome
    message: str  # one line: why, or what happened
    vm: str = ""
    pool: str = ""
    policy: str = ""  # policy file the vet used
    quarantine: str = ""  # the job's sealed output: held here until published or expired
    public: str = ""
    promoted: int = 0
    rejected: tuple[Rejection, ...] = ()
    manifest: str = ""  # what was promoted, with checksums (written by vet)
    report: str = ""  # the vet's full JSON report, kept in the state directory
    elapsed: float = 0.0
    warnings: tuple[str, ...] = field(default=())
    finished: float = 0.0  # time.time() when recorded: retention counts from here

    @property
    def rerun(self) -> str:
        """The one command that vets this job's quarantine again, after a fix."""
        return f"vmguard batch revet {self.job.key}"

    def summary(self) -> str:
        """One line for a job comment or a log."""
        head = f"vmguard {self.outcome.value}"
        if self.outcome in (JobOutcome.PROMOTED, JobOutcome.REJECTED):
            head += f": {self.promoted} promoted, {len(self.rejected)} rejected"
        return f"{head} ({shown(self.message)})" if self.message else head

    def text(self) -> str:
        """The verdict file beside the job's output."""
        job, vm = shown(self.job.id), shown(self.vm or "-")
        lines = [f"job {job} ({self.job.runner}), VM {vm}: {self.summary()}"]
        if self.public and self.promoted:
            lines.append(f"promoted to: {shown(self.public)} (manifest: {shown(self.manifest or '-')})")
        lines += [f"rejected: {_path(r.path)}: {shown(r.reason)}" for r in self.rejected]
        if self.outcome in (JobOutcome.REJECTED, JobOutcome.FAILED) and self.quarantine:
            kept = "rejected files" if self.outcome is JobOutcome.REJECTED else "the files"
            lines.append(
                f"{kept} are held in {shown(self.quarantine)}; after a fix an admin runs: {shown(self.rerun)}"
            )
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, object]:
        return {
            "job": self.job.to_dict(),
            "outcome": self.outcome.value,
            "message": self.message,
            "vm": self.vm,
            "pool": self.pool,
            "policy": self.policy,
            "quarantine": self.quarantine,
            "public": self.public,
            "promoted": self.promoted,
            "rejected": [{"path": r.path, "reason": r.reason} for r in self.rejected],
            "manifest": self.manifest,
            "report": self.report,
            "elapsed": round(self.elapsed, 3),
            "warnings": list(self.warnings),
            "finished": self.finished,
            "rerun": self.rerun,
        }

    @classmethod
    def from_dict(cls, data: dict) -> JobVerdict:
        return cls(
            job=BatchJob.from_dict(data["job"]),
            outcome=JobOutcome(data["outcome"]),
            message=data["message"],
            vm=data["vm"],
            pool=data.get("pool", ""),
            policy=data["policy"],
            quarantine=data["quarantine"],
            public=data["public"],
            promoted=data["promoted"],
            rejected=tuple(Rejection(**r) for r in data["rejected"]),
            manifest=data["manifest"],
            report=data["report"],
            elapsed=data["elapsed"],
            warnings=tuple(data["warnings"]),
            finished=data.get("finished", 0.0),
        )


def _path(path: str) -> str:
    """A vet entry path: already shown by the vet (escaping it again would double its
    escapes), unless something else wrote it."""
    return path if is_plain(path) else shown(path)


def record_path(state_dir: Path, job_key: str) -> Path:
    return state_dir / f"{job_key}.json"


def save_record(verdict: JobVerdict, state_dir: Path) -> Path:
    """Keep the verdict where only admins write: `revet` trusts this file, not the user's."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    path = record_path(state_dir, verdict.job.key)
    _keep_other_run(path, verdict)
    write_atomic(path, (json.dumps(verdict.to_dict(), indent=2) + "\n").encode(), 0o640, BatchError)
    return path


def _keep_other_run(path: Path, verdict: JobVerdict) -> None:
    """A reused job id must not erase another run's record (its held output would drop
    out of `batch pending`): that record moves aside to <key>.<n>.json."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(old, dict) or old.get("quarantine") in (None, "", verdict.quarantine):
        return
    n = 1
    while (aside := path.with_name(f"{path.stem}.{n}.json")).exists():
        n += 1
    os.rename(path, aside)


def verdict_file_name(job: BatchJob) -> str:
    return f"vmguard-{job.id}.verdict"
