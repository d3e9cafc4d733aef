"""`vmguard` command lines run in processes forked from servers that imported vmguard once.

A fresh interpreter spends about 0.4 s of CPU importing vmguard (the policy schema, the
quarantine, the validators) before a vet does anything; a test that runs a command line
dozens of times (killed at each of its steps) pays that once per server instead. Each
run is still a process of its own, running `vmguard.cli.main` as `python -m vmguard`
does: its own pid, exit status and signals (a SIGKILL is seen as -9), the environment
the test gives it, modules that read the environment when imported (the kill hook)
imported again in it, its output in a file. A server forks from one thread only: it
runs apart from pytest's threads, and serves one run at a time.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Modules whose import reads the environment: a run imports them again with its own.
READS_ENVIRONMENT = ("vmguard.quarantine.hooks",)


class Server:
    """One forking server (a process group of its own, so a hung run can be killed)."""

    def __init__(self, preload: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.forked_cli", *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            start_new_session=True,
        )

    def run(self, argv: Sequence[str], env: dict[str, str], output: Path, timeout: float) -> int:
        """The run's exit code as subprocess gives it (-N: killed by signal N)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = {"argv": list(argv), "env": env, "output": str(output)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        if not select.select([self.proc.stdout], [], [], timeout)[0]:
            self.close(kill=True)
            raise TimeoutError(f"vmguard {' '.join(argv)}: no exit within {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the forking server exited: {self.proc.wait()}")
        return int(json.loads(line)["code"])

    def close(self, kill: bool = False) -> None:
        if kill:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@contextmanager
def servers(count: int, preload: Sequence[str]) -> Iterator[queue.Queue[Server]]:
    """`count` servers (one per thread that runs command lines), closed afterwards."""
    started = [Server(preload) for _ in range(count)]
    idle: queue.Queue[Server] = queue.Queue()
    for server in started:
        idle.put(server)
    try:
        yield idle
    finally:
        for server in started:
            if server.proc.poll() is None:
                server.close()


def run(
    idle: queue.Queue[Server], argv: Sequence[str], env: dict[str, str], output: Path, timeout: float
) -> int:
    server = idle.get()
    try:
        return server.run(argv, env, output, timeout)
    finally:
        idle.put(server)


def _child(request: dict) -> None:
    """In the forked process: the run's environment, output and command line, then exit."""
    code = 70  # EX_SOFTWARE, if main raises
    try:
        os.environ.clear()
        os.environ.update(request["env"])
        for name in READS_ENVIRONMENT:
            if name in sys.modules:
                importlib.reload(sys.modules[name])
        out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        sys.argv = ["vmguard", *request["argv"]]
        from vmguard.cli import main

        try:
            code = main(request["argv"])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve(preload: Sequence[str]) -> None:
    for name in preload:
        importlib.import_module(name)
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            _child(json.loads(line))
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve(sys.argv[1:])
