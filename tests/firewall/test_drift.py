"""Audit finds drift; a failed apply changes nothing; foreign rules stay byte-for-byte."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firewall.conftest import REPO, Firewall, make_firewall
from tests.firewall.topology import Topology

pytestmark = pytest.mark.root

# Each tampering, and the drift kind `vmguard firewall audit` must report for it. They are
# applied together (one audit), which also shows one kind does not hide another.
NFT_TAMPER = {
    "jump-missing": "nft delete rule inet vmguard forward handle {forward_jump}",
    "jump-shadowed": "nft insert rule inet vmguard forward accept",
    "set-elements-missing": "nft delete element inet vmguard ids4 { 10.70.0.11 . 52:54:00:70:00:11 }",
    "set-elements-extra": "nft add element inet vmguard out4 { 10.70.0.12 . tcp . 10.80.0.10 . 8080 }",
    "rule-extra": "nft add rule inet vmguard from_vm accept",
    "rule-missing": "nft flush chain inet vmguard to_vm",
}
FOREIGN_NFT = """\
table inet foreign {
	chain forwarding {
		type filter hook forward priority -10; policy accept;
		tcp dport 9999 accept comment "someone else's"
	}
}
table ip filter {
	chain FORWARD {
		type filter hook forward priority filter; policy accept;
		ip saddr 10.99.0.0/16 drop
	}
}
"""


@pytest.fixture
def nft(topo: Topology, tmp_path: Path) -> Iterator[Firewall]:
    firewall = make_firewall(topo, tmp_path, "nftables")
    yield firewall
    firewall("remove")


def _forward_jump(topo: Topology) -> str:
    out = topo.host.run("nft", "-j", "-a", "list", "chain", "inet", "vmguard", "forward").stdout
    rules = [o["rule"] for o in json.loads(out)["nftables"] if "rule" in o]
    return str(next(r["handle"] for r in rules if r.get("comment", "").startswith("vmguard jump")))


def _tamper(topo: Topology, commands: dict[str, str]) -> None:
    for command in commands.values():
        if "{forward_jump}" in command:
            command = command.replace("{forward_jump}", _forward_jump(topo))
        topo.host.run("sh", "-c", command)


def _assert_reported(fw: Firewall, kinds: list[str]) -> None:
    audit = fw("audit", check=False)
    assert audit.returncode == 1, audit.stdout + audit.stderr
    reported = {line.split(":", 1)[0] for line in audit.stdout.splitlines()}
    assert set(kinds) <= reported, audit.stdout


def test_audit_reports_each_kind_of_drift(nft: Firewall, topo: Topology) -> None:
    nft("apply")
    _tamper(topo, NFT_TAMPER)
    _assert_reported(nft, list(NFT_TAMPER))
    nft("apply")
    assert nft("audit").returncode == 0, "apply repairs the drift"


def test_deleted_table_is_reported(nft: Firewall, topo: Topology) -> None:
    nft("apply")
    topo.host.run("nft", "delete", "table", "inet", "vmguard")
    _assert_reported(nft, ["table-missing"])


def test_audit_is_clean_after_apply(nft: Firewall) -> None:
    nft("apply")
    audit = nft("audit")
    assert "live rules match the policy (2 VMs)" in audit.stdout


def test_flushed_table_is_reported(nft: Firewall, topo: Topology) -> None:
    nft("apply")
    topo.host.run("nft", "flush", "table", "inet", "vmguard")
    audit = nft("audit", check=False)
    assert audit.returncode == 1
    assert "rule-missing:" in audit.stdout and "jump-missing:" in audit.stdout


def test_failure_late_in_the_batch_leaves_previous_rules(
    nft: Firewall, topo: Topology, tmp_path: Path
) -> None:
    nft("apply")
    before = nft("show").stdout
    bad = _ruleset_with_duplicate_last_vm(nft)
    proc = subprocess.run(
        ["ip", "netns", "exec", topo.host.name, sys.executable, "-m", "vmguard.firewall.scratch", "nftables"],
        input=json.dumps(bad),
        capture_output=True,
        text=True,
        env=nft.env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert "nothing changed" in proc.stderr
    assert nft("show").stdout == before
    assert topo.reach(topo.vms["vm1"], "10.80.0.10:3306", "10.80.0.10:8080") == {
        "10.80.0.10:3306": True,
        "10.80.0.10:8080": False,
    }


def _compiled(fw: Firewall) -> dict:
    code = (
        "import json,sys;from vmguard.inventory.loader import load_inventory;"
        "from vmguard.firewall.compile import compile_ruleset;"
        "print(json.dumps(compile_ruleset(load_inventory(sys.argv[1])).to_dict()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(fw.inventory)], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    return json.loads(out)


def _ruleset_with_duplicate_last_vm(fw: Firewall) -> dict:
    """A ruleset whose only flaw is in its last VM, which the kernel alone detects: it
    reuses vm1's address with an ingress network starting where vm1's does (10.90.0.0,
    port 22) but ending elsewhere, which an interval set refuses (EEXIST)."""
    data = _compiled(fw)
    late = {"name": "admin-wide", "protocol": "tcp", "nets": ["10.90.0.0/16"], "ports": [[22, 22]]}
    data["vms"].append(
        dict(data["vms"][0], name="zz-late", mac="52:54:00:70:00:99", egress=[], ingress=[late])
    )
    return data


def test_foreign_tables_are_untouched(nft: Firewall, topo: Topology) -> None:
    topo.host.run("nft", "-f", "-", input=FOREIGN_NFT)
    try:
        listing = [
            topo.host.run("nft", "list", "table", *t).stdout for t in (("inet", "foreign"), ("ip", "filter"))
        ]
        for step in ("apply", "apply", "remove"):
            nft(step)
            assert [
                topo.host.run("nft", "list", "table", *t).stdout
                for t in (("inet", "foreign"), ("ip", "filter"))
            ] == listing, step
    finally:
        topo.host.run("nft", "delete", "table", "inet", "foreign")
        topo.host.run("nft", "delete", "table", "ip", "filter")


def test_not_root_is_a_clear_error_and_changes_nothing(nft: Firewall, topo: Topology) -> None:
    readable = Path(tempfile.mkdtemp(prefix="vmg-fw-"))
    readable.chmod(0o755)
    for file in nft.inventory.parent.glob("*.yaml"):
        shutil.copy(file, readable)
    proc = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            topo.host.name,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "vmguard",
            "firewall",
            "apply",
            "--inventory",
            str(readable / "inventory.yaml"),
            "--backend",
            "nftables",
        ],
        capture_output=True,
        text=True,
        env=nft.env,
        check=False,
        timeout=60,
    )
    shutil.rmtree(readable)
    assert proc.returncode == 3
    assert "root" in proc.stderr and "Traceback" not in proc.stderr
    assert "no vmguard table" in nft("show").stdout


def test_missing_nft_binary_is_a_clear_error(nft: Firewall) -> None:
    no_tools = dataclasses.replace(nft, env={**nft.env, "PATH": "/nonexistent"})
    proc = no_tools("apply", check=False)
    assert proc.returncode == 3
    assert "nft not found" in proc.stderr and "Traceback" not in proc.stderr


IPT_TAMPER = {
    "rule-missing": "iptables-legacy -F VMG-EGRESS",
    "rule-modified": "iptables-legacy -R VMG-TO-VM 4 -m comment --comment 'default deny to VMs' -j ACCEPT",
    "jump-missing": "iptables-legacy -D FORWARD -m comment --comment "
    "'vmguard jump VMG-FORWARD' -j VMG-FORWARD",
    "jump-shadowed": "iptables-legacy -I INPUT 1 -j ACCEPT",
    "set-elements-missing": "ipset del vmg-ids4-a 10.70.0.11,52:54:00:70:00:11",
    "set-elements-extra": "ipset add vmg-out4-a 10.70.0.12,tcp:8080,10.80.0.10",
}


@pytest.fixture
def ipt(topo: Topology, tmp_path: Path) -> Iterator[Firewall]:
    firewall = make_firewall(topo, tmp_path, "iptables")
    yield firewall
    firewall("remove")
    topo.host.run("iptables-legacy", "-D", "INPUT", "-j", "ACCEPT", check=False)


def test_iptables_audit_reports_each_kind_of_drift(ipt: Firewall, topo: Topology) -> None:
    ipt("apply")
    _tamper(topo, IPT_TAMPER)
    _assert_reported(ipt, list(IPT_TAMPER))
    ipt("apply")
    assert ipt("audit").returncode == 0, "apply repairs the drift"
    # ...by putting our jump back on top, without deleting the foreign ACCEPT.
    save = topo.host.run("iptables-legacy", "-S", "INPUT").stdout.splitlines()
    assert save[1:] == [
        '-A INPUT -m comment --comment "vmguard jump VMG-INPUT" -j VMG-INPUT',
        "-A INPUT -j ACCEPT",
    ]


def test_iptables_flushed_chains_are_reported(ipt: Firewall, topo: Topology) -> None:
    ipt("apply")
    topo.host.run("sh", "-c", "iptables-legacy -F && iptables-legacy -X")
    _assert_reported(ipt, ["jump-missing", "chain-missing"])


def test_iptables_foreign_chains_are_untouched(ipt: Firewall, topo: Topology) -> None:
    rules = [
        ["-N", "LIBVIRT_FWI"],
        ["-A", "LIBVIRT_FWI", "-d", "10.99.0.0/16", "-j", "REJECT"],
        ["-A", "FORWARD", "-j", "LIBVIRT_FWI"],
        ["-A", "INPUT", "-p", "tcp", "--dport", "9999", "-j", "ACCEPT"],
    ]
    for rule in rules:
        topo.host.run("iptables-legacy", *rule)
    try:

        def foreign() -> list[str]:
            save = topo.host.run("iptables-legacy-save", "-t", "filter").stdout
            return [
                ln
                for ln in save.splitlines()
                if not ln.startswith("#") and "VMG-" not in ln and not ln.startswith(":")
            ]

        listing = foreign()
        for step in ("apply", "apply", "remove"):
            ipt(step)
            assert foreign() == listing, step
    finally:
        topo.host.run("iptables-legacy", "-D", "FORWARD", "-j", "LIBVIRT_FWI")
        topo.host.run("iptables-legacy", "-D", "INPUT", "-p", "tcp", "--dport", "9999", "-j", "ACCEPT")
        topo.host.run("iptables-legacy", "-F", "LIBVIRT_FWI")
        topo.host.run("iptables-legacy", "-X", "LIBVIRT_FWI")


def test_iptables_refuses_nft_based_iptables(ipt: Firewall) -> None:
    nft_based = dataclasses.replace(ipt, env={**ipt.env, "PATH": ipt.env["PATH"].split(":", 1)[1]})
    proc = nft_based("apply", check=False)
    assert proc.returncode == 3
    assert "nft-based" in proc.stderr and "--backend nftables" in proc.stderr
    assert "no vmguard chains" in ipt("show").stdout


def test_iptables_failure_late_in_the_batch_leaves_previous_rules(ipt: Firewall, topo: Topology) -> None:
    ipt("apply")
    before = ipt("show").stdout
    bad = _compiled(ipt)
    bad["vm_interfaces"].append("x" * 20)  # longer than IFNAMSIZ: the very last rules fail
    proc = subprocess.run(
        ["ip", "netns", "exec", topo.host.name, sys.executable, "-m", "vmguard.firewall.scratch", "iptables"],
        input=json.dumps(bad),
        capture_output=True,
        text=True,
        env=ipt.env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "nothing changed" in proc.stderr
    assert ipt("show").stdout == before
    assert "vmg-ids4-b" not in topo.host.run("ipset", "list", "-n").stdout, "unused slot"
    assert topo.reach(topo.vms["vm1"], "10.80.0.10:3306", "10.80.0.10:8080") == {
        "10.80.0.10:3306": True,
        "10.80.0.10:8080": False,
    }


AUDIT_HOST = """
import sys
from vmguard.audit.host import audit_host
from vmguard.inventory.loader import load_inventory
report = audit_host(load_inventory(sys.argv[1]), lambda findings: tuple(findings))
print(report.note)
for finding in report.outcomes:
    print(finding.rule, finding.subject, finding.message)
"""


def test_audit_reports_feed_vmg_fw_findings(nft: Firewall, topo: Topology) -> None:
    nft("apply")
    nft.ns.run("nft", "insert", "rule", "inet", "vmguard", "forward", "accept")
    nft.ns.run("nft", "delete", "element", "inet", "vmguard", "ids4", "{ 10.70.0.11 . 52:54:00:70:00:11 }")
    out = subprocess.run(
        nft.ns.argv(sys.executable, "-c", AUDIT_HOST, str(nft.inventory)),
        capture_output=True,
        text=True,
        env=nft.env,
        check=True,
    ).stdout
    lines = out.splitlines()
    assert lines[0] == "nftables firewall audited"
    assert {line.split()[0] for line in lines[1:]} == {"VMG-FW-002", "VMG-FW-004"}
    assert all(line.split()[1] == "host" for line in lines[1:])


@pytest.mark.parametrize("setting", ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"])
def test_audit_reports_either_br_netfilter_setting_off(nft: Firewall, topo: Topology, setting: str) -> None:
    """br_netfilter's settings are per network namespace: this changes only `host`."""
    nft("apply")
    assert nft("audit").returncode == 0, "control: both on"
    topo.host.run("sysctl", "-qw", f"net.bridge.{setting}=0")
    try:
        audit = nft("audit", check=False)
    finally:
        topo.host.run("sysctl", "-qw", f"net.bridge.{setting}=1")
    assert audit.returncode == 1
    assert f"unfiltered-bridge: br0: net.bridge.{setting} is not 1" in audit.stdout


def test_iptables_audit_follows_jumps_into_foreign_chains(ipt: Firewall, topo: Topology) -> None:
    """A foreign chain jumped to before vmguard's jump, whose ACCEPT (two chains deep)
    would let VM traffic skip vmguard's rules."""
    ipt("apply")
    assert ipt("audit").returncode == 0, "control"
    rules = [
        ["-N", "FOREIGN_A"],
        ["-N", "FOREIGN_B"],
        ["-A", "FOREIGN_B", "-j", "ACCEPT"],
        ["-A", "FOREIGN_A", "-s", "10.99.0.0/16", "-j", "FOREIGN_B"],
        ["-I", "FORWARD", "1", "-j", "FOREIGN_A"],
    ]
    for rule in rules:
        topo.host.run("iptables-legacy", *rule)
    try:
        audit = ipt("audit", check=False)
    finally:
        topo.host.run("iptables-legacy", "-D", "FORWARD", "-j", "FOREIGN_A")
        for chain in ("FOREIGN_A", "FOREIGN_B"):
            topo.host.run("iptables-legacy", "-F", chain)
        for chain in ("FOREIGN_A", "FOREIGN_B"):
            topo.host.run("iptables-legacy", "-X", chain)
    assert audit.returncode == 1
    shadowed = [ln for ln in audit.stdout.splitlines() if ln.startswith("jump-shadowed")]
    assert shadowed == [
        "jump-shadowed: ip filter FORWARD: -j FOREIGN_A [FOREIGN_A] -> "
        "-s 10.99.0.0/16 -j FOREIGN_B [FOREIGN_B] -> -j ACCEPT"
    ], audit.stdout
