"""python-iptables commits race with other tools: EAGAIN is retried, never half-applied."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firewall.conftest import Firewall, make_firewall
from tests.firewall.topology import Topology

pytestmark = pytest.mark.root

# Another python-iptables user: commits without the xtables lock, as fast as it can.
WRITER = """
import iptc, time
rule = iptc.easy.encode_iptc_rule({"protocol": "tcp", "tcp": {"dport": "9"}, "target": "ACCEPT"})
chain = iptc.Chain(iptc.Table(iptc.Table.FILTER), "INPUT")
end = time.monotonic() + 180  # killed at the end of the test; long enough on a busy machine
while time.monotonic() < end:
    try:
        chain.append_rule(rule)
        chain.delete_rule(rule)
    except iptc.IPTCError:  # it lost a race with vmguard: EAGAIN hits both sides
        iptc.Table(iptc.Table.FILTER).refresh()
"""


@pytest.fixture
def ipt(topo: Topology, tmp_path: Path) -> Iterator[Firewall]:
    firewall = make_firewall(topo, tmp_path, "iptables")
    yield firewall
    firewall("remove")


def test_apply_succeeds_while_another_tool_keeps_committing(ipt: Firewall, topo: Topology) -> None:
    writer = topo.host.popen(sys.executable, "-c", WRITER, env=ipt.env, stderr=subprocess.PIPE)
    try:
        time.sleep(0.3)
        for _ in range(2):
            ipt("apply")
            ipt("remove")
        ipt("apply")
        assert writer.poll() is None, "the concurrent writer must still be running"
    finally:
        writer.kill()
        writer.wait()
    assert ipt("audit").returncode == 0
    assert topo.reach(topo.vms["vm1"], "10.80.0.10:3306", "10.80.0.10:8080") == {
        "10.80.0.10:3306": True,
        "10.80.0.10:8080": False,
    }
