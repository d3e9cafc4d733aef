"""`vmguard batch install-hooks`: the scripts slurm.conf and lsb.queues name.

Slurm runs its Prolog and Epilog with only SLURM_* variables and LSF its pre/post-exec
with a bare PATH: neither reaches a virtualenv's `vmguard` or VMGUARD_* settings. So
each script names vmguard's own interpreter and the settings file by absolute path,
written in when it is installed. Python runs isolated (-I) from `/`: LSF runs its
hooks in /tmp, and a plain `python -m` would import a user's /tmp/vmguard as root.
The Slurm scripts and LSF's POST_EXEC exit 0 whatever
happens (a failing prolog or epilog drains a Slurm node), leaving a note in syslog if
even Python could not start; then the Slurm prolog also cancels the job, which may have
asked for a VM pool. LSF's PRE_EXEC passes vmguard's "no" on (LSF requeues).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from vmguard.batch import slurm
from vmguard.core.atomicfile import write_atomic
from vmguard.core.errors import BatchError

HOOKS = ("slurm-prolog", "slurm-epilog", "lsf-pre-exec", "lsf-post-exec")  # = `vmguard batch` commands
_SCRIPT = """\
#!/bin/sh
# {name} for vmguard, written by `vmguard batch install-hooks`; do not edit.
# Exits 0 whatever happens (a failing Slurm prolog/epilog drains the node).
cd / && {python} -I -m vmguard batch {name} --config {config} </dev/null >>{output} 2>&1 ||
    logger -t vmguard "{name}, job ${{SLURM_JOB_ID:-${{LSB_JOBID:-?}}}}: vmguard did not run (exit $?)" \\
        2>/dev/null
exit 0
"""
# The Slurm prolog fails closed too: when vmguard did not run (no Python, an import
# error, a crash), the job is cancelled and the prolog waits as vmguard's own cancel
# does at most (slurmd starts the job when the prolog returns unless the kill came first).
_PROLOG = """\
#!/bin/sh
# {name} for vmguard, written by `vmguard batch install-hooks`; do not edit.
# Exits 0 whatever happens (a failing Slurm prolog drains the node); when vmguard did
# not run, the job is cancelled: it may have asked for a VM pool.
cd / && {python} -I -m vmguard batch {name} --config {config} </dev/null >>{output} 2>&1 || {{
    logger -t vmguard "{name}, job ${{SLURM_JOB_ID:-?}}: vmguard did not run (exit $?): job cancelled" \\
        2>/dev/null
    [ -n "$SLURM_JOB_ID" ] && scancel "$SLURM_JOB_ID" 2>/dev/null && sleep {wait}
}}
exit 0
"""
# LSF's PRE_EXEC must say no: its non-zero exit requeues the job (no host is closed),
# and the job must not start without its VM, also when vmguard could not even start.
_PRE_EXEC = """\
#!/bin/sh
# {name} for vmguard, written by `vmguard batch install-hooks`; do not edit.
# Exits 0 when the job may start, else non-zero: LSF requeues the job.
cd / || exit 1
exec {python} -I -m vmguard batch {name} --config {config} </dev/null >>{output} 2>&1
"""


def default_dir() -> Path:
    """<prefix>/libexec/vmguard: beside the virtualenv vmguard runs from."""
    return Path(sys.prefix) / "libexec/vmguard"


@dataclass(frozen=True, kw_only=True)
class InstalledHooks:
    """What install_hooks() wrote; the CLI prints it as text or JSON."""

    directory: Path
    config: Path  # absolute: the scripts run from /
    output: str
    python: str
    scripts: tuple[tuple[str, Path], ...]  # (the `vmguard batch` command it runs, its path)


def install_hooks(config: Path, directory: Path | None = None, output: str = "/dev/null") -> InstalledHooks:
    """Write the four hook scripts."""
    directory = directory or default_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    scripts = []
    for name in HOOKS:
        template = {"lsf-pre-exec": _PRE_EXEC, "slurm-prolog": _PROLOG}.get(name, _SCRIPT)
        text = template.format(
            name=name,
            python=shlex.quote(sys.executable),
            config=shlex.quote(str(config.absolute())),
            output=shlex.quote(output),
            wait=f"{slurm.TIMEOUT + slurm._KILL_GRACE:g}",
        )
        path = directory / name
        write_atomic(path, text.encode(), 0o755, BatchError)
        scripts.append((name, path))
    return InstalledHooks(
        directory=directory,
        config=config.absolute(),
        output=output,
        python=sys.executable,
        scripts=tuple(scripts),
    )
