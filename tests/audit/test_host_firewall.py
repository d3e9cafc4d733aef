"""The host section, in a network namespace of the test's own: the audit reads the
firewall there and leaves it byte-for-byte as it was; without firewall settings the
report says plainly that the firewall was not audited."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import time

from tests.support.netns import netns
from tests.support.require import require_root, require_tools
from tests.support.watch import read_until, watching
from vmguard.demo.lab import mac_of

FAMILY = "vmguard.checks.firewall"


def with_firewall(lab, interfaces: str = "vm_interfaces: [virbr-demo]") -> None:
    text = lab.inventory.read_text()
    text = text.replace("vms:\n", f"firewall: {{backend: nftables, {interfaces}}}\nvms:\n")
    text = text.replace(
        '{name: "vm1", connection: lab, policy: batch.yaml}',
        f'{{name: "vm1", connection: lab, policy: batch.yaml, address: 192.0.2.11, mac: "{mac_of("vm1")}"}}',
    )
    lab.inventory.write_text(text)


def ruleset_hash(ns) -> str:
    return hashlib.sha256(ns.run("nft", "list", "ruleset").stdout.encode()).hexdigest()


def test_firewall_is_audited_read_only_in_a_namespace(lab, tmp_path, event_log):
    require_root()
    require_tools("nft", "ip")
    with_firewall(lab)
    out = tmp_path / "out"
    with netns("audit") as ns:
        ns.run("nft", "add", "table", "inet", "other")  # someone else's table, not ours
        ns.run("nft", "add", "chain", "inet", "other", "input", "{ type filter hook input priority 0; }")
        before = ruleset_hash(ns)
        proc = subprocess.run(
            ns.argv(
                sys.executable,
                "-m",
                "vmguard",
                "audit",
                "-i",
                str(lab.inventory),
                "--out",
                str(out),
                "--format",
                "json",
            ),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={"VMGUARD_LOG": str(event_log), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        assert ruleset_hash(ns) == before
    assert "Traceback" not in proc.stderr, proc.stderr
    host = json.loads((out / "latest" / "report.json").read_text())["host"]
    if importlib.util.find_spec(FAMILY) is None:
        assert host == {
            "audited": False,
            "findings": [],
            "note": "firewall not audited: this build has no firewall checks",
        }
    else:  # nothing applied in this namespace: vmguard's table is missing
        assert host["audited"], host["note"]
        assert any(f["rule"].startswith("VMG-FW-") for f in host["findings"])
        assert proc.returncode == 1


def test_interfaces_derived_from_host_only_are_audited(lab, event_log):
    """No vm_interfaces: a VM with an address asks for a firewall, whose interfaces follow
    from the connection's host_only network (the lab's: libvirt network `hostonly`), the
    same derivation `vmguard firewall` uses; an audit that skipped it would look clean."""
    require_root()
    require_tools("nft", "ip")
    with_firewall(lab, interfaces="vm_networks: [192.0.2.0/24]")
    code = (
        "from vmguard.audit.engine import audit; from vmguard.inventory.loader import load_inventory;"
        f"h = audit(load_inventory({str(lab.inventory)!r})).host; print(h.audited, h.note)"
    )
    with netns("derived") as ns:
        proc = ns.run(sys.executable, "-c", code)
    assert proc.stdout.startswith("True nftables firewall audited"), proc.stdout + proc.stderr


def test_no_firewall_settings_means_not_audited(lab, tmp_path):
    from vmguard.audit.engine import audit
    from vmguard.inventory.loader import load_inventory

    host = audit(load_inventory(lab.inventory)).host
    assert not host.audited and "configures no firewall" in host.note


def test_watch_reports_a_flushed_firewall(lab, tmp_path, event_log):
    """A firewall reload that drops vmguard's table shows up at the next periodic check."""
    require_root()
    require_tools("nft", "ip")
    with_firewall(lab)
    env = {"VMGUARD_LOG": str(event_log), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    vmguard = [sys.executable, "-m", "vmguard"]
    with netns("watchfw") as ns:
        applied = ns.run(*vmguard, "firewall", "apply", "--inventory", str(lab.inventory))
        assert applied.returncode == 0
        with watching(lab.inventory, env, firewall_every=1, inside=ns.argv) as (proc, started):
            assert "0 findings open" in started, started
            ns.run("nft", "delete", "table", "inet", "vmguard")
            flushed = time.monotonic()
            line, _ = read_until(proc, "VMG-FW-001")
            assert time.monotonic() - flushed < 5  # the next 1 s sweep, plus the audit itself
            assert "NEW" in line and "host" in line
