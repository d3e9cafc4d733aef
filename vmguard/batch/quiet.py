"""Run a batch system's own command (scontrol, sacctmgr, bpost) for a best-effort note."""

from __future__ import annotations

import subprocess

TIMEOUT = 15  # seconds: the batch system's controller may be busy; the hook must go on


def run_quiet(argv: list[str]) -> str:
    """Run `argv`; "" when it worked, else its one-line error."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"{argv[0]}: {err}"
    error = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return "" if proc.returncode == 0 else f"{argv[0]}: {error[-1] if error else proc.returncode}"
