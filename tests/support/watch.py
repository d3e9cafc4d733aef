"""`vmguard watch` as a child process for the live tests, and reading its output up to a line.
(The gate lab's `Watch` reads in a thread instead: its tests wait on several lines at once.)"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def read_until(proc: subprocess.Popen[str], needle: str) -> tuple[str, float]:
    """The first output line containing `needle`, and when it arrived."""
    line = ""
    while needle not in line:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
    return line, time.monotonic()


@contextmanager
def watching(
    inventory: Path | str,
    env: Mapping[str, str],
    firewall_every: int = 600,
    inside: Callable[..., list[str]] = lambda *argv: list(argv),
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`vmguard watch` on `inventory` for at most a minute, the firewall checked every
    `firewall_every` seconds, run through `inside` (e.g. a namespace's argv); yields it
    and the line in which it said it is watching, and terminates it on the way out."""
    argv = [sys.executable, "-m", "vmguard", "watch", "--inventory", str(inventory)]
    argv += ["--duration", "60", "--firewall-every", str(firewall_every)]
    proc = subprocess.Popen(
        inside(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env)
    )
    try:
        started, _ = read_until(proc, "watching")
        yield proc, started
    finally:
        proc.terminate()
        proc.wait(timeout=10)
