"""The end-of-job hook every runner shares: vet, then tell the user and the admins.

A Slurm epilog that exits non-zero drains the node, and an LSF post-exec failure marks
the job POST_ERR: so `end_of_job` never raises and the hooks always exit 0. Whatever
goes wrong is in the verdict (FAILED) and in vmguard's log.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from vmguard import log
from vmguard.batch.config import BatchConfig, load_batch_config
from vmguard.batch.job import SAFE_NAME, BatchJob
from vmguard.batch.userfile import write_as_user
from vmguard.batch.verdict import Outcome, Verdict, record_path, save_record, verdict_file_name
from vmguard.batch.vetting import vet_job
from vmguard.display import shown
from vmguard.errors import ExitCode, VetInputError, VmguardError

# A runner's own way to show the verdict (Slurm job comment, LSF bpost); returns a
# warning when it could not, or "".
Notify = Callable[[Verdict], str]


def _beside_output(verdict: Verdict) -> str:
    job = verdict.job
    if job.output_path is None:
        return "job has no output directory: no verdict file written"
    path = job.output_path / verdict_file_name(job)
    try:
        write_as_user(job.uid, job.gid, path, verdict.text())
    except VmguardError as err:
        return str(err)
    return ""


def publish(verdict: Verdict, config: BatchConfig, notify: Notify | None = None) -> Verdict:
    """Record the verdict for admins, write it beside the job output, notify, log."""
    noted = notify(verdict) if notify and config.comment else ""
    warnings = [w for w in (_beside_output(verdict), noted) if w]
    verdict = replace(verdict, warnings=tuple(warnings))
    record = save_record(verdict, config.state_dir)
    log.append(
        "batch-vet",
        job=verdict.job.key,
        vm=verdict.vm,
        outcome=verdict.outcome.value,
        promoted=verdict.promoted,
        rejected=len(verdict.rejected),
        message=verdict.message,
        record=str(record),
        warnings=warnings,
    )
    return verdict


def end_of_job(job: BatchJob, config_path: Path | None, notify: Notify | None = None) -> int:
    """Vet and publish; always returns 0, because the node must not be blocked."""
    try:
        config = load_batch_config(config_path)
        verdict = vet_job(job, config)
        if verdict.outcome is not Outcome.SKIPPED:  # most jobs on a node are not VM jobs
            verdict = publish(verdict, config, notify)
        print(f"vmguard: job {shown(job.key)}: {verdict.summary()}", file=sys.stderr)
    except Exception as err:  # noqa: BLE001 - any failure, even a bug, must not drain the node
        _log_failure(job, err)
    return ExitCode.OK


def _log_failure(job: BatchJob, err: Exception) -> None:
    print(f"vmguard: job {shown(job.key)}: vetting not done: {shown(err)}", file=sys.stderr)
    detail = "" if isinstance(err, VmguardError) else traceback.format_exc()
    try:
        log.append("batch-vet", job=job.key, outcome=Outcome.FAILED.value, message=str(err), traceback=detail)
    except VmguardError as log_err:
        print(f"vmguard: {shown(log_err)}", file=sys.stderr)


def load_record(key: str, config: BatchConfig) -> Verdict:
    """A job's recorded verdict, by key ("slurm-42") from the admins' state directory."""
    if not SAFE_NAME.match(key):
        raise VetInputError(f"{key!r} is not a job key such as slurm-42 or lsf-1234")
    path = record_path(config.state_dir, key)
    try:
        return Verdict.from_dict(json.loads(path.read_text()))
    except OSError as err:
        raise VetInputError(
            f"no verdict recorded for job {key} in {config.state_dir}: {err.strerror}"
        ) from err
    except (ValueError, KeyError, TypeError) as err:
        raise VetInputError(f"{path}: not a vmguard verdict record ({err})") from err


def revet(key: str, config: BatchConfig) -> Verdict:
    """Vet a job's quarantine again (after a fix) with the current inventory and policy."""
    previous = load_record(key, config)
    return publish(vet_job(previous.job, config), config)


def exit_code(verdict: Verdict) -> int:
    return {
        Outcome.PROMOTED: ExitCode.OK,
        Outcome.SKIPPED: ExitCode.OK,
        Outcome.REJECTED: ExitCode.FINDINGS,
    }.get(verdict.outcome, ExitCode.CANNOT_RUN)


def pending(config: BatchConfig) -> list[Verdict]:
    """Jobs whose latest verdict is rejected or failed: what admins still have to look at."""
    records = (p for p in sorted(config.state_dir.glob("*.json")) if not p.name.endswith(".vet.json"))
    verdicts = (load_record(path.stem, config) for path in records)
    return [v for v in verdicts if v.outcome in (Outcome.REJECTED, Outcome.FAILED)]
