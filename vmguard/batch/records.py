"""Root's verdict records: what admins still hold, vetting again, and retention."""

from __future__ import annotations

import json
import time
from pathlib import Path

from vmguard.batch import sealing
from vmguard.batch.config import BatchConfig
from vmguard.batch.hook import report
from vmguard.batch.job import SAFE_NAME
from vmguard.batch.verdict import JobOutcome, JobVerdict, record_path
from vmguard.batch.vetting import vet_held
from vmguard.core.errors import ExitCode, VetInputError
from vmguard.core.eventlog import EventLog

DAY = 86400.0


def load_record(key: str, config: BatchConfig) -> JobVerdict:
    """A job's recorded verdict, by key ("slurm-42") from the admins' state directory."""
    if not SAFE_NAME.match(key):
        raise VetInputError(f"{key!r} is not a job key such as slurm-42 or lsf-1234")
    path = record_path(config.state_dir, key)
    try:
        return JobVerdict.from_dict(json.loads(path.read_text()))
    except OSError as err:
        raise VetInputError(
            f"no verdict recorded for job {key} in {config.state_dir}: {err.strerror}"
        ) from err
    except (ValueError, KeyError, TypeError) as err:
        raise VetInputError(f"{path}: not a vmguard verdict record ({err})") from err


def revet(key: str, config: BatchConfig, events: EventLog) -> JobVerdict:
    """Vet a job's held output again (after a fix) with the current inventory and policy;
    the verdict is logged to `events`."""
    previous = load_record(key, config)
    if not previous.quarantine or not Path(previous.quarantine).is_dir():
        raise VetInputError(f"job {key}: nothing is held (outcome {previous.outcome.value})")
    if previous.job.runner == "leftover":
        raise VetInputError(
            f"{key}: files of no job cannot be published; look at them in "
            f"{previous.quarantine} and delete them"
        )
    job, vm, pool = previous.job, previous.vm, previous.pool
    return report(vet_held(job, vm, pool, Path(previous.quarantine), config), config, events)


def exit_code(verdict: JobVerdict) -> int:
    return {
        JobOutcome.PROMOTED: ExitCode.OK,
        JobOutcome.SKIPPED: ExitCode.OK,
        JobOutcome.REJECTED: ExitCode.FINDINGS,
    }.get(verdict.outcome, ExitCode.CANNOT_RUN)


def held_until(verdict: JobVerdict, config: BatchConfig) -> float:
    return verdict.finished + config.retention_days * DAY


def _records(config: BatchConfig) -> list[JobVerdict]:
    paths = sorted(config.state_dir.glob("*.json"))
    return [load_record(p.stem, config) for p in paths if not p.name.endswith(".vet.json")]


def pending(config: BatchConfig) -> list[JobVerdict]:
    """Jobs whose output is still held (rejected, not vetted, not published)."""
    return [v for v in _records(config) if v.quarantine and Path(v.quarantine).is_dir()]


def prune(config: BatchConfig, now: float | None = None) -> list[JobVerdict]:
    """Delete held output past its retention; the records stay, marked expired."""
    now = time.time() if now is None else now
    expired = [v for v in pending(config) if held_until(v, config) < now]
    for verdict in expired:
        sealing.remove_expired(Path(verdict.quarantine))
    return expired
