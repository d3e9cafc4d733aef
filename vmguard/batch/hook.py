"""The start- and end-of-job hooks every runner shares.

A Slurm prolog or epilog that exits non-zero drains the node, and an LSF pre/post-exec
failure requeues the job or marks it POST_ERR: so these functions never raise. A job
that may not have a VM is refused (the runner cancels it) with the reason in its error
output; whatever goes wrong at the end is in the verdict and in vmguard's log.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from vmguard.batch import binding
from vmguard.batch.binding import Alive, Sealed
from vmguard.batch.config import BatchConfig, load_batch_config
from vmguard.batch.job import BatchJob
from vmguard.batch.userfile import write_as_user
from vmguard.batch.verdict import JobOutcome, JobVerdict, save_record, verdict_file_name
from vmguard.batch.vetting import vet_held
from vmguard.core import eventlog as log
from vmguard.core.display import shown
from vmguard.core.errors import BatchRefused, ExitCode, InputError, VmguardError

# A runner's own way to show the verdict (Slurm job comment, LSF bpost); returns a
# warning when it could not, or "".
Notify = Callable[[JobVerdict], str]


def _beside_output(verdict: JobVerdict) -> str:
    job = verdict.job
    if job.output_path is None or job.uid == 0:
        return "job has no output directory: no verdict file written"
    try:
        write_as_user(job.uid, job.gid, job.output_path / verdict_file_name(job), verdict.text())
    except VmguardError as err:
        return str(err)
    return ""


def report(
    verdict: JobVerdict, config: BatchConfig, events: log.EventLog, notify: Notify | None = None
) -> JobVerdict:
    """Record the verdict for admins, write it beside the job output, notify, log."""
    noted = notify(verdict) if notify and config.comment else ""
    warnings = [w for w in (_beside_output(verdict), noted) if w]
    verdict = replace(verdict, warnings=tuple(warnings), finished=time.time())
    record = save_record(verdict, config.state_dir)
    events.append(
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


def held_unvetted(sealed: Sealed, config: BatchConfig, events: log.EventLog) -> JobVerdict:
    """Output sealed by a later hook because its own epilog never came: held, not vetted."""
    holder = sealed.holder
    verdict = JobVerdict(
        holder.job, JobOutcome.FAILED, sealed.note, holder.vm, holder.pool, quarantine=str(sealed.held)
    )
    return report(verdict, config, events)


def events_of(config: BatchConfig | None) -> log.EventLog:
    """The hook's one event log: hooks run with no environment, so the settings name it
    (else, or before the settings are read, the log $VMGUARD_LOG names)."""
    if config is not None and config.log:
        return log.EventLog(Path(config.log))
    return log.EventLog.from_environment()


def start_of_job(job: BatchJob, config_path: Path | None, alive: Alive) -> str:
    """Assign the job its VM. Returns "" (a VM, or no VM job) or why the job is refused;
    the reason is then already in the job's error output and in vmguard's log."""
    events = events_of(None)
    try:
        config = load_batch_config(config_path)
        events = events_of(config)
        holder = binding.start(job, config, alive, lambda sealed: held_unvetted(sealed, config, events))
    except Exception as err:  # noqa: BLE001 - whatever fails, the job must not run unvetted
        return _refuse(job, err, events)
    if holder is not None:
        events.append("batch-assign", job=job.key, vm=holder.vm, pool=holder.pool, user=job.user)
    return ""


def refuse_unread(job: BatchJob, err: Exception, config_path: Path | None) -> str:
    """Refuse a job the runner could not describe (a variable missing, a busy controller):
    it may have been meant for a VM pool, so it must not start as a plain job. `job` holds
    what was read; the reason goes to its error file only if it names one and an owner."""
    try:
        events = events_of(load_batch_config(config_path))
    except Exception:  # noqa: BLE001 - the refusal stands; its log is then $VMGUARD_LOG's
        events = events_of(None)
    what = "; ".join(p.message for p in err.problems) if isinstance(err, InputError) else repr(err)
    return _refuse(job, BatchRefused(f"vmguard could not read the job (retry it): {what}"), events)


def _refuse(job: BatchJob, err: Exception, events: log.EventLog) -> str:
    reason = str(err).splitlines()[0] if isinstance(err, VmguardError) else f"vmguard failed: {err!r}"
    message = f"vmguard: job {job.id} refused: {reason}"
    if job.error_file and job.uid > 0:
        try:
            write_as_user(job.uid, job.gid, Path(job.error_file), message + "\n", append=True)
        except VmguardError as write_err:
            message += f" ({write_err})"
    print(shown(message), file=sys.stderr)
    _log_failure(job, err, "batch-refuse", events)
    return message


def end_of_job(job: BatchJob, config_path: Path | None, notify: Notify | None = None) -> int:
    """Seal, vet, publish and record; always returns 0, because the node must not be blocked."""
    events = events_of(None)
    try:
        config = load_batch_config(config_path)
        events = events_of(config)
        done = []
        binding.finish(
            job, config, lambda sealed: done.append(_vet_and_report(sealed, config, events, notify))
        )
        summary = done[0].summary() if done else "no VM was assigned to this job: nothing to vet"
        print(f"vmguard: job {shown(job.key)}: {summary}", file=sys.stderr)  # summary() shows its message
    except Exception as err:  # noqa: BLE001 - any failure, even a bug, must not drain the node
        print(f"vmguard: job {shown(job.key)}: vetting not done: {shown(str(err))}", file=sys.stderr)
        _log_failure(job, err, "batch-vet", events)
    return ExitCode.OK


def _vet_and_report(
    sealed: Sealed, config: BatchConfig, events: log.EventLog, notify: Notify | None
) -> JobVerdict:
    holder = sealed.holder
    return report(vet_held(holder.job, holder.vm, holder.pool, sealed.held, config), config, events, notify)


def _log_failure(job: BatchJob, err: Exception, kind: str, events: log.EventLog) -> None:
    detail = "" if isinstance(err, VmguardError) else traceback.format_exc()
    try:
        events.append(kind, job=job.key, outcome=JobOutcome.FAILED.value, message=str(err), traceback=detail)
    except VmguardError as log_err:
        print(f"vmguard: {shown(str(log_err))}", file=sys.stderr)
