"""The session-end safety check finds vmguard state, planted only inside namespaces."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support import leaks
from tests.support.netns import delete, namespace_names, netns
from tests.support.require import require_root, require_tools


@pytest.fixture(autouse=True)
def _root():
    require_root()
    require_tools("ip", "nft", "iptables-legacy", "iptables-nft", "iptables-legacy-save", "iptables-nft-save")


def test_clean_namespace_has_no_leaks():
    with netns("clean") as ns:
        assert leaks.firewall_leaks(ns.name) == []


def test_planted_nft_table_and_iptables_chains_are_found():
    with netns("plant") as ns:
        ns.run("nft", "add", "table", "inet", "vmguard")
        ns.run("nft", "add", "table", "ip", "unrelated")
        ns.run("iptables-legacy", "-N", "VMG-FWD")
        ns.run("iptables-nft", "-N", "vmguard_in")
        ns.run("ip6tables-legacy", "-N", "VMG6")
        ns.run("iptables-legacy", "-N", "OTHER")
        found = leaks.firewall_leaks(ns.name)
    assert sorted(found) == sorted(
        [
            "nftables: table inet vmguard",
            "iptables-legacy-save: chain VMG-FWD",
            "iptables-nft-save: chain vmguard_in",
            "ip6tables-legacy-save: chain VMG6",
        ]
    )


def test_namespace_of_this_run_is_a_leak_until_deleted():
    with netns("leak") as ns:
        assert any(ns.name in leak for leak in leaks.namespace_leaks())
    assert not any(ns.name in leak for leak in leaks.namespace_leaks())


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(("owner", "leaked"), [("dead", True), ("live", False)])
def test_namespace_of_dead_run_is_a_leak_of_live_run_is_not(owner, leaked):
    pid = _dead_pid() if owner == "dead" else os.getppid()
    name = f"vmg{pid}-other-run"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert any(name in leak for leak in leaks.namespace_leaks()) == leaked
    finally:
        delete(name)
    assert name not in namespace_names()


def test_unnamed_vmg_namespace_is_a_leak_only_if_new():
    name = "vmg-no-owner-infra"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert any(name in leak for leak in leaks.namespace_leaks())
        assert not any(name in leak for leak in leaks.namespace_leaks(frozenset({name})))
    finally:
        delete(name)


def test_sessionfinish_fails_a_run_that_leaks(pytester):
    # An inner pytest run with our hooks leaves a namespace behind: it must exit 1.
    name = f"vmg{os.getpid()}-inner-leak"
    pytester.makeconftest(
        "from tests.conftest import pytest_sessionfinish, pytest_sessionstart  # noqa: F401\n"
    )
    pytester.makepyfile(f"""
        import subprocess
        def test_leaks():
            subprocess.run(["ip", "netns", "add", "{name}"], check=True)
    """)
    try:
        result = pytester.runpytest_inprocess()
    finally:
        delete(name)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*SAFETY CHECK FAILED*", f"*{name} left over*"])
    result.assert_outcomes(passed=1)
