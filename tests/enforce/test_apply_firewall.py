"""`vmguard apply` brings the host firewall in line too, and `rollback` undoes it.

As an admin runs it: vmguard under `ip netns exec` in a namespace this module creates
(its nftables is the only firewall changed), on a stopped domain of the real
qemu:///system with one setting its policy forbids (a sound card). The start hook is a
file in a folder of the test's (`--hooks-dir`), written by `vmguard hook install`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from tests.support.netns import Netns, netns
from tests.support.require import require_root, require_tools
from vmguard.cli import main
from vmguard.core import eventlog
from vmguard.core.errors import DriverError
from vmguard.drivers.libvirt.driver import LibvirtDriver

pytestmark = [pytest.mark.root]
REPO = Path(__file__).resolve().parents[2]
MAC, ADDRESS = "52:54:00:77:00:31", "10.77.0.31"
SOUND = "<sound model='ich6'/>\n"
INVENTORY = """\
apiVersion: vmguard/v1
kind: Inventory
connections: [{{name: kvm, driver: libvirt, uri: "qemu:///system"}}]
{firewall}vms: [{{name: {vm}, connection: kvm, policy: batch.yaml{address}}}]
"""
FIREWALL = "firewall: {backend: nftables, vm_interfaces: [vmgfw0], vm_networks: [10.77.0.0/24]}\n"


def schema(kind: str) -> dict:
    return json.loads(resources.files("vmguard.cli").joinpath(f"schema/{kind}-v1.json").read_text())


class Site:
    """One stopped domain, its inventories, a hooks folder and a namespace to run in."""

    def __init__(self, ns: Netns, root: Path, vm: str) -> None:
        self.ns, self.root, self.vm = ns, root, vm
        for policy in (REPO / "policy").glob("*.yaml"):
            shutil.copy(policy, root)
        self.hooks = root / "hooks"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "VMGUARD_STATE_DIR": str(root / "state"),
            "VMGUARD_LOG": str(root / "log.jsonl"),
        }

    def inventory(self, name: str, *, firewall: bool = True, address: str = ADDRESS) -> Path:
        path = self.root / f"{name}.yaml"
        where = f", address: {address}, mac: '{MAC}'" if firewall else ""
        text = INVENTORY.format(firewall=FIREWALL if firewall else "", vm=self.vm, address=where)
        path.write_text(text)
        return path

    def vmguard(self, *argv: str, hooks: Path | None = None) -> subprocess.CompletedProcess[str]:
        """vmguard inside the namespace; --hooks-dir for plan and apply."""
        extra = ["--hooks-dir", str(hooks or self.hooks)] if argv[0] in ("plan", "apply") else []
        command = self.ns.argv(sys.executable, "-m", "vmguard", *argv, *extra)
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=300, check=False)

    def json(self, *argv: str, **kw) -> tuple[int, dict]:
        done = self.vmguard(*argv, "--format", "json", **kw)
        return done.returncode, json.loads(done.stdout or "null") if done.stdout else {"stderr": done.stderr}

    def show(self) -> str:
        return self.ns.run("nft", "list", "table", "inet", "vmguard", check=False).stdout

    def events(self, kind: str) -> list[dict]:
        path = Path(self.env["VMGUARD_LOG"])
        lines = path.read_text().splitlines() if path.exists() else []
        return [e["data"] for e in map(json.loads, lines) if e["kind"] == kind]


def xml_hash(vm: str) -> str:
    driver = LibvirtDriver("qemu:///system")
    try:
        return hashlib.sha256(driver.persistent_xml(vm).encode()).hexdigest()
    finally:
        driver.close()


@pytest.fixture
def site(tcg_domain, tmp_path):
    require_root()
    require_tools("nft", "ip")
    vm = tcg_domain.define(extra_devices=SOUND).name
    with netns("apfw") as ns:
        made = Site(ns, tmp_path, vm)
        yield made


def _hook(site: Site, inventory: Path) -> None:
    done = site.vmguard("hook", "install", "--inventory", str(inventory), "--hooks-dir", str(site.hooks))
    assert done.returncode == 0, done


def test_apply_loads_the_firewall_after_the_vm_and_rollback_puts_both_back(site) -> None:
    # What was live before: the ruleset of an older inventory (another address).
    old = site.inventory("old", address="10.77.0.32")
    assert site.vmguard("firewall", "apply", "--inventory", str(old)).returncode == 0
    previous, xml_before = site.show(), xml_hash(site.vm)
    assert "10.77.0.32" in previous
    inv = site.inventory("inv")
    _hook(site, inv)

    code, plan = site.json("plan", "--inventory", str(inv))
    assert code == 1, plan
    jsonschema.validate(plan, schema("plan"))
    assert plan["firewall"]["up_to_date"] is False and plan["firewall"]["drifts"]
    assert "audio" in [c["subject"] for c in plan["plans"][0]["changes"]]

    code, dry = site.json("apply", "--inventory", str(inv), "--dry-run")
    assert code == 0 and dry["firewall"]["dry_run"] and not dry["firewall"]["changed"], dry
    assert site.show() == previous and xml_hash(site.vm) == xml_before  # --dry-run: nothing changed

    code, doc = site.json("apply", "--inventory", str(inv))
    assert code == 0, doc
    jsonschema.validate(doc, schema("apply"))
    [vm] = doc["vms"]
    assert vm["applied"] and vm["error"] is None and "sound" not in site_xml(site.vm)
    fw = doc["firewall"]
    assert fw["changed"] and fw["hook"] is None and fw["problems"] == []
    assert fw["vms"] == [{"vm": site.vm, "addressed": True, "port": None}]  # stopped: no port
    [saved] = [Path(p) for p in fw["saved"]]
    assert saved.parent == Path(vm["backup"]).parent  # next to the configuration backup
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert previous in json.loads(saved.read_text())["before"]["text"]
    live = site.show()
    assert ADDRESS in live and "10.77.0.32" not in live  # the inventory's ruleset, loaded

    again = site.vmguard("plan", "--inventory", str(inv))
    assert again.returncode in (0, 4) and "firewall (nftables): up to date" in again.stdout, again

    code, back = site.json("rollback", site.vm, "--inventory", str(inv))
    assert code == 0, back
    jsonschema.validate(back, schema("rollback"))
    assert back["configuration"] and back["firewall"]["loaded"] is True
    assert site.show() == previous and xml_hash(site.vm) == xml_before  # both as they were
    assert [e["action"] for e in site.events("firewall")].count("saved") == 1
    assert site.events("rollback-firewall") and site.events("rollback")
    assert eventlog.verify(Path(site.env["VMGUARD_LOG"])) == []


def site_xml(vm: str) -> str:
    driver = LibvirtDriver("qemu:///system")
    try:
        return driver.persistent_xml(vm)
    finally:
        driver.close()


def test_rollback_is_refused_whole_when_the_live_ruleset_changed_since_apply(site) -> None:
    inv = site.inventory("inv")
    _hook(site, inv)
    assert site.vmguard("apply", "--inventory", str(inv)).returncode == 0
    applied, xml_applied = site.show(), xml_hash(site.vm)
    # Someone changes vmguard's table meanwhile (what another VM's start would do).
    site.ns.run("nft", "add", "element", "inet", "vmguard", "vm_ifaces", '{ "vmgother0" }')
    changed = site.show()
    assert changed != applied  # control: the change is seen

    refused = site.vmguard("rollback", site.vm, "--inventory", str(inv))
    assert refused.returncode == 3, refused
    assert "is not the one `vmguard apply` loaded" in refused.stderr
    assert site.show() == changed and xml_hash(site.vm) == xml_applied  # nothing half-done
    assert site.events("rollback-refused")

    # Control: the same rollback once the live ruleset is the applied one again.
    site.ns.run("nft", "delete", "element", "inet", "vmguard", "vm_ifaces", '{ "vmgother0" }')
    done = site.vmguard("rollback", site.vm, "--inventory", str(inv))
    assert done.returncode == 0, done
    assert "restored the firewall ruleset" in done.stdout and "configuration" in done.stdout
    assert site.show() == ""  # nothing of vmguard's was loaded before that apply


def test_a_missing_start_hook_fails_closed_naming_the_fix(site) -> None:
    inv = site.inventory("inv")
    empty = site.root / "no-hooks"
    empty.mkdir()
    done = site.vmguard("apply", "--inventory", str(inv), hooks=empty)
    assert done.returncode == 3, done
    assert f"vmguard hook install --inventory {inv}" in done.stderr
    assert "firewall (nftables): loaded" in done.stdout  # the ruleset is loaded all the same
    code, doc = site.json("plan", "--inventory", str(inv), hooks=empty)
    assert code == 3 and "vmguard hook install" in doc["firewall"]["hook"]
    _hook(site, inv)  # control: with the hook, nothing is missing
    assert site.vmguard("plan", "--inventory", str(inv)).returncode in (0, 4)


def test_without_a_firewall_in_the_inventory_apply_says_so_and_touches_none(site) -> None:
    inv = site.inventory("plain", firewall=False)
    code, doc = site.json("apply", "--inventory", str(inv), "--dry-run")
    assert code == 0 and doc["firewall"]["configured"] is False
    assert doc["firewall"]["note"] == "not configured in the inventory"
    done = site.vmguard("apply", "--inventory", str(inv))
    assert done.returncode == 0 and "firewall: not configured in the inventory" in done.stdout
    assert site.show() == "" and not site.events("firewall")  # no table in the namespace


class _RefusingDriver(LibvirtDriver):
    """The real driver with one injected fault: libvirt refuses the new definition."""

    def apply(self, name, plan, *, dry_run):
        if not dry_run:
            raise DriverError(f"{self.uri}: define: injected refusal")
        return super().apply(name, plan, dry_run=dry_run)


def test_a_vm_whose_hypervisor_part_failed_is_in_the_json_with_the_reason(
    tcg_domain, tmp_path, monkeypatch, capsys
) -> None:
    from vmguard.drivers.libvirt import driver as libvirt_driver

    vm = tcg_domain.define(extra_devices=SOUND).name
    for policy in (REPO / "policy").glob("*.yaml"):
        shutil.copy(policy, tmp_path)
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY.format(firewall="", vm=vm, address=""))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "log.jsonl"))
    monkeypatch.setattr(libvirt_driver, "LibvirtDriver", _RefusingDriver)
    code = main(["apply", "--inventory", str(inv), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, schema("apply"))
    assert code == 3
    [entry] = doc["vms"]
    assert entry["vm"] == vm and "injected refusal" in entry["error"] and entry["guest"] is None
