"""Run inside a private mount namespace (`unshare -m`): for each of up to N vets run one
after another, a child watches the job's staging (PUB/.vmguard-staging/rN.staging) and
binds the quarantine over it the moment the job's output appears (its first rename) (left there until
the vet ends, then detached); stops at the first vet after which the quarantine lost or
gained an entry.
The quarantine holds a file named COMMITTED (the name of the marker vet unlinks from
its staging after the renames). Prints one JSON line: the vets' exit codes, the tails of their stderr, and the
quarantine's entries before and after.

    python attack_ifs_flap.py BASE POLICY N
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

MS_BIND, MNT_DETACH = 4096, 2


def watch_and_bind(source: bytes, staging: Path, marker: str) -> None:
    """Spin until `marker` exists, then bind `source` over the staging once."""
    libc = ctypes.CDLL(None, use_errno=True)
    target = os.fsencode(staging)
    exists = os.path.exists
    while not exists(marker):
        pass
    libc.mount(source, target, None, MS_BIND, None)
    os._exit(0)


def detach(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    while libc.umount2(os.fsencode(path), MNT_DETACH) == 0:
        pass


def tree(top: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(base, name), top)
        for base, dirs, files in os.walk(top)
        for name in dirs + files
    )


def main(base: Path, policy: str, runs: int) -> None:
    q, pub = base / "q", base / "pub"
    before = tree(q)
    codes, errors = [], []
    for index in range(runs):
        staging = pub / ".vmguard-staging" / f"r{index}.staging"
        child = os.fork()
        if child == 0:
            watch_and_bind(os.fsencode(q), staging, str(pub / f"r{index}"))
        argv = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", policy]
        argv += ["--to", str(pub / f"r{index}"), "--job", f"r{index}", "--per-file", *sys.argv[4:]]
        try:
            run = subprocess.run(argv, capture_output=True, text=True, timeout=120)  # noqa: S603
            codes.append(run.returncode)
            errors.append(run.stderr[-400:])
        finally:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            detach(staging)
        if tree(q) != before:
            break
    print(json.dumps({"codes": codes, "errors": errors, "before": before, "after": tree(q)}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
