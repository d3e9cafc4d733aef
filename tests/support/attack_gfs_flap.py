"""Run inside a private mount namespace (`unshare -m`): a child binds the quarantine
over the --to's parent and takes it away again as fast as mount(2) allows (the host's
mounts changing while vet runs), while up to N vets run one after another; stops at the
first vet after which the quarantine holds more than the guest wrote. Prints one JSON
line: the vets' exit codes and the quarantine's entries.

    python attack_gfs_flap.py BASE POLICY N
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

MS_BIND, MNT_DETACH = 4096, 2


def flap(source: bytes, target: bytes) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    while True:  # a few hundred microseconds each way: about a vet's check-to-mkdir
        libc.mount(source, target, None, MS_BIND, None)
        time.sleep(0.0003)
        libc.umount2(target, MNT_DETACH)
        time.sleep(0.0003)


def main(base: Path, policy: str, runs: int) -> None:
    q, pub = base / "q", base / "pub"
    first = sorted(os.listdir(q))
    child = os.fork()
    if child == 0:
        flap(os.fsencode(q), os.fsencode(pub))
    codes = []
    try:
        for index in range(runs):
            argv = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", policy]
            argv += ["--to", str(pub / f"r{index}"), "--job", f"r{index}", "--per-file"]
            codes.append(subprocess.run(argv, capture_output=True, timeout=120).returncode)
            if sorted(os.listdir(q)) != first:
                break
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    print(json.dumps({"codes": codes, "q": sorted(os.listdir(q))}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
