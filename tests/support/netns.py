"""Named network namespaces for tests: the only place tests may change a firewall.

    with netns("fw") as ns:             # creates vmg<pid>-fw-<random>, lo up
        ns.run("nft", "add", "table", "inet", "vmguard")
    # deleted here, even when the body raised; processes left inside are killed

Names carry the creating process id so the session-end leak check can tell this run's
leftovers (and those of dead runs) from namespaces a concurrent test run still uses.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from tests.support.ownership import left_by_dead_run, owned_name

PREFIX = "vmg"


class NetnsCommandError(RuntimeError):
    """A command inside (or about) a namespace failed; carries its stderr."""


def _run(
    argv: Sequence[str], *, check: bool = True, input: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(argv), input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise NetnsCommandError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


@dataclass(frozen=True)
class Netns:
    name: str

    def argv(self, *command: str) -> list[str]:
        """The argv that runs `command` inside this namespace."""
        return ["ip", "netns", "exec", self.name, *command]

    def run(
        self, *command: str, check: bool = True, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return _run(self.argv(*command), check=check, input=input, timeout=timeout)

    def popen(self, *command: str, **kwargs) -> subprocess.Popen:
        """Start a long-running command inside (a server); deletion kills it if still up."""
        return subprocess.Popen(self.argv(*command), **kwargs)

    def pids(self) -> list[int]:
        out = _run(["ip", "netns", "pids", self.name], check=False).stdout
        return [int(pid) for pid in out.split()]


def namespace_names() -> list[str]:
    out = _run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def delete(name: str) -> None:
    """Kill what still runs inside (only processes our tests started there), then delete."""
    for pid in Netns(name).pids():
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _run(["ip", "netns", "delete", name])


def reap_stale() -> list[str]:
    """Delete the namespaces of test runs killed before their clean-up, if idle.

    One with a process still inside is left alone (and the session-end check names it):
    only its owner may stop what runs there.
    """
    stale = [name for name in namespace_names() if left_by_dead_run(name, PREFIX) and not Netns(name).pids()]
    for name in stale:
        _run(["ip", "netns", "delete", name])
    return stale


@contextmanager
def netns(tag: str = "t") -> Iterator[Netns]:
    """A fresh namespace with loopback up, always deleted on exit."""
    ns = Netns(owned_name(PREFIX, tag))
    _run(["ip", "netns", "add", ns.name])
    try:
        ns.run("ip", "link", "set", "lo", "up")
        yield ns
    finally:
        delete(ns.name)


def veth_pair(
    a: Netns, b: Netns, addr_a: str, addr_b: str, names: tuple[str, str] = ("veth-a", "veth-b")
) -> tuple[str, str]:
    """Link namespaces `a` and `b` with a veth pair, addresses in CIDR form ("10.9.0.1/24").

    The pair is created inside `a` with its peer moved straight into `b`: it never
    exists in the machine's own namespace. Deleting either namespace removes it.
    """
    name_a, name_b = names
    a.run("ip", "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", b.name)
    for ns, dev, addr in ((a, name_a, addr_a), (b, name_b, addr_b)):
        ns.run("ip", "addr", "add", addr, "dev", dev)
        ns.run("ip", "link", "set", dev, "up")
    return name_a, name_b
