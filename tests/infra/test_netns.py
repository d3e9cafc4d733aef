"""The shared network-namespace helper: real namespaces, always deleted."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.support.netns import NetnsCommandError, namespace_names, netns, owner_pid, veth_pair
from tests.support.require import require_root, require_tools


@pytest.fixture(autouse=True)
def _root():
    require_root()
    require_tools("ip")


def test_namespace_exists_inside_and_is_gone_after():
    with netns("infra") as ns:
        assert ns.name in namespace_names()
        assert owner_pid(ns.name) == os.getpid()
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
        deadline = time.monotonic() + 10  # `ip netns exec` enters the namespace after fork
        while sleeper.pid not in ns.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sleeper.pid in ns.pids()
    assert sleeper.wait(timeout=10) == -9


def test_veth_pair_carries_traffic_between_namespaces_only():
    with netns("a") as a, netns("b") as b:
        veth_pair(a, b, "10.231.0.1/30", "10.231.0.2/30")
        a.run("busybox", "ping", "-c", "1", "-W", "2", "10.231.0.2")
        root_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                                    check=True).stdout
        assert "veth-a" not in root_links and "veth-b" not in root_links


def test_failed_command_reports_stderr():
    with netns("err") as ns, pytest.raises(NetnsCommandError, match="exited"):
        ns.run("ip", "link", "set", "no-such-dev", "up")
