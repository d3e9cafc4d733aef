"""The shared network-namespace helper: real namespaces, always deleted."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.support.netns import (
    PREFIX,
    Netns,
    NetnsCommandError,
    delete,
    namespace_names,
    netns,
    reap_stale,
    veth_pair,
)
from tests.support.ownership import owner_pid
from tests.support.require import require_root, require_tools


@pytest.fixture(autouse=True)
def _root():
    require_root()
    require_tools("ip")


def _wait_inside(ns: Netns, pid: int) -> None:
    deadline = time.monotonic() + 10  # `ip netns exec` enters the namespace after fork
    while pid not in ns.pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid in ns.pids()


def test_namespace_exists_inside_and_is_gone_after():
    with netns("infra") as ns:
        assert ns.name in namespace_names()
        assert owner_pid(ns.name, PREFIX) == os.getpid()
        links = ns.run("ip", "-o", "link").stdout
        assert "lo:" in links and "state UNKNOWN" in links  # lo is up
    assert ns.name not in namespace_names()


def test_deleted_even_when_the_body_raises():
    with pytest.raises(ZeroDivisionError), netns("raise") as ns:
        name = ns.name
        _ = 1 / 0
    assert name not in namespace_names()


def test_processes_left_inside_are_killed_on_delete():
    with netns("proc") as ns:
        sleeper = ns.popen("sleep", "600")
        _wait_inside(ns, sleeper.pid)
    assert sleeper.wait(timeout=10) == -9


def test_veth_pair_carries_traffic_between_namespaces_only():
    with netns("a") as a, netns("b") as b:
        veth_pair(a, b, "10.231.0.1/30", "10.231.0.2/30")
        a.run("busybox", "ping", "-c", "1", "-W", "2", "10.231.0.2")
        root_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
        assert "veth-a" not in root_links and "veth-b" not in root_links


def test_failed_command_reports_stderr():
    with netns("err") as ns, pytest.raises(NetnsCommandError, match="exited"):
        ns.run("ip", "link", "set", "no-such-dev", "up")


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_reap_stale_deletes_idle_namespaces_of_dead_runs_only():
    dead = f"{PREFIX}{_dead_pid()}-reap"
    busy = f"{PREFIX}{_dead_pid()}-busy"
    for name in (dead, busy):
        subprocess.run(["ip", "netns", "add", name], check=True)
    sleeper = Netns(busy).popen("sleep", "600")
    try:
        with netns("mine") as mine:
            _wait_inside(Netns(busy), sleeper.pid)
            reaped = reap_stale()
            assert dead in reaped
            assert busy not in reaped and mine.name not in reaped  # busy; alive owner
            assert mine.name in namespace_names() and busy in namespace_names()
    finally:
        for name in (dead, busy):
            if name in namespace_names():
                delete(name)  # kills our own sleeper
    assert sleeper.wait(timeout=10) == -9
