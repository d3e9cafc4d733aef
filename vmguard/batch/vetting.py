"""Vet one job's sealed output: run `vmguard vet` on it under a time limit, then move
out what was published so that nothing is ever published twice.

The vet runs as a child process (`python -m vmguard vet ... --format json`) so that a
hung or crashing vet can be killed at the time limit without taking the hook with it,
and so that what the hook ran is exactly the command an admin can run by hand.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from vmguard.batch import sealing
from vmguard.batch.config import AfterPublish, BatchConfig
from vmguard.batch.job import BatchJob
from vmguard.batch.verdict import JobOutcome, JobVerdict, Rejection
from vmguard.core.errors import InputError, VmguardError
from vmguard.inventory.loader import load_inventory
from vmguard.policy.model import Policy

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class VetTarget:
    """What to vet for a job: its sealed output, the VM's policy, the owner's area."""

    vm: str
    pool: str
    policy: str
    quarantine: str  # the sealed folder
    public: str


def resolve(job: BatchJob, vm: str, pool: str, held: Path, config: BatchConfig) -> VetTarget:
    """The policy the inventory gives the VM now, and the public area of the job's owner."""
    entry = load_inventory(config.inventory).entry_for(vm)
    if entry is None:
        raise InputError(f"{config.inventory}: VM {vm} is no longer in the inventory")
    public = _public(job, config, entry.policy, vm, pool)
    return VetTarget(vm, pool, entry.policy.source, str(held), public)


def _public(job: BatchJob, config: BatchConfig, policy: Policy, vm: str, pool: str) -> str:
    """The batch settings' public area, else the policy's promote.to for this VM and job."""
    if config.public:
        return job.expand(config.public, vm=vm, pool=pool)
    if not policy.quarantine.promote.to:
        raise InputError(
            f"{config.source}: no `public:` here and policy {policy.source} "
            "has no quarantine.promote.to: nowhere to promote to"
        )
    return policy.quarantine.promote.to.replace("{vm}", vm).replace("{job}", job.key)


def vet_command(target: VetTarget, job: BatchJob, config: BatchConfig) -> list[str]:
    delete = ["--remove-promoted"] if config.after_publish is AfterPublish.DELETE else []
    return [
        sys.executable,
        "-I",  # isolated: never a module from the working directory or PYTHON* variables
        "-m",
        "vmguard",
        "vet",
        target.quarantine,
        "--policy",
        target.policy,
        "--to",
        target.public,
        "--job",
        job.key,
        "--format",
        "json",
        *delete,
    ]


def _die_with_parent() -> None:
    """In the vet child: a killed hook takes its vet along, so no vet outlives the VM's lock."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _run(argv: list[str], time_limit: float) -> subprocess.CompletedProcess[str]:
    """Run `argv` in its own process group; on time-out kill the whole group."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd="/",
        preexec_fn=_die_with_parent,
    )
    try:
        out, err = proc.communicate(timeout=time_limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _rejections(report: dict) -> tuple[Rejection, ...]:
    """The vet report's rejected entries: {"path", "reasons": [...], "detail"}."""
    found = []
    for item in report.get("rejected", []):
        detail = f" ({item['detail']})" if item.get("detail") else ""
        found.append(Rejection(str(item["path"]), ", ".join(item["reasons"]) + detail))
    return tuple(found)


def _parse(stdout: str) -> dict:
    try:
        report = json.loads(stdout)
    except ValueError:
        return {}
    return report if isinstance(report, dict) else {}


def _verdict_from(proc: subprocess.CompletedProcess[str], base: JobVerdict, report_path: Path) -> JobVerdict:
    report = _parse(proc.stdout)
    outcome = JobOutcome.from_exit(proc.returncode)
    if outcome is JobOutcome.FAILED or not report:
        last = (proc.stderr.strip().splitlines() or ["no report"])[-1]
        return _with(base, JobOutcome.FAILED, f"vet exited {proc.returncode}: {last}")
    report_path.write_text(proc.stdout)
    again = report.get("status") == "already-promoted"
    return _with(
        base,
        outcome,
        "published before, not again; what is held stays for admins" if again else "",
        promoted=int(report.get("promoted", 0)),
        rejected=_rejections(report),
        manifest=str(report.get("manifest") or ""),
        report=str(report_path),
    )


def _with(base: JobVerdict, outcome: JobOutcome, message: str, **changes: object) -> JobVerdict:
    return replace(base, outcome=outcome, message=message, **changes)


def vet_held(job: BatchJob, vm: str, pool: str, held: Path, config: BatchConfig) -> JobVerdict:
    """Vet a job's sealed output. Expected failures become a FAILED verdict, not an error."""
    started = time.monotonic()
    base = JobVerdict(job, JobOutcome.FAILED, "", vm, pool, quarantine=str(held))
    try:
        if not any(held.iterdir()):
            held.rmdir()
            return _with(base, JobOutcome.PROMOTED, "the job left no files", quarantine="")
        target = resolve(job, vm, pool, held, config)
        base = replace(base, policy=target.policy, public=target.public)
        base = _vet(job, target, config, base)
        base = _move_out(base, config)
    except (VmguardError, OSError) as err:
        base = _with(base, JobOutcome.FAILED, str(err).splitlines()[0])
    return _with(base, base.outcome, base.message, elapsed=time.monotonic() - started)


def _move_out(verdict: JobVerdict, config: BatchConfig) -> JobVerdict:
    """Published: the sealed folder leaves at once (kept or deleted), never vetted again."""
    if verdict.outcome is not JobOutcome.PROMOTED or verdict.message:
        return verdict
    held = Path(verdict.quarantine)
    keep = config.after_publish is AfterPublish.KEEP
    sealing.move_out(held, sealing.published_dir(held) if keep else None)
    return replace(verdict, quarantine="")


def _vet(job: BatchJob, target: VetTarget, config: BatchConfig, base: JobVerdict) -> JobVerdict:
    config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    report_path = config.state_dir / f"{job.key}.vet.json"
    try:
        proc = _run(vet_command(target, job, config), config.time_limit)
    except subprocess.TimeoutExpired:
        return _with(
            base,
            JobOutcome.FAILED,
            f"vet did not finish within {config.time_limit:g} s and was stopped; the files are held",
        )
    except OSError as err:
        return _with(base, JobOutcome.FAILED, f"cannot start vet: {err.strerror}")
    return _verdict_from(proc, base, report_path)
