"""`rollback` undoes an apply's firewall change with the iptables backend too.

As test_apply_firewall.py, with `backend: iptables` (legacy iptables, ipsets and the
nftables bridge table) in a namespace this module creates; `firewall show` is the
listing compared. An admin's rule outside vmguard's chains must survive.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.enforce.test_apply_firewall import FIREWALL, INVENTORY, MAC, Site, xml_hash
from tests.firewall.conftest import legacy_bin
from tests.support.netns import netns
from tests.support.require import require_root, require_tools

pytestmark = [pytest.mark.root]
NONE = "# no vmguard chains loaded\n"
ADMIN = ("-p", "tcp", "--dport", "2222", "-j", "ACCEPT")  # the admin's own, after our jump


class IptSite(Site):
    def inventory(self, name: str, *, firewall: bool = True, address: str = "10.77.0.31") -> Path:
        path = self.root / f"{name}.yaml"
        fw = FIREWALL.replace("nftables", "iptables")
        where = f", address: {address}, mac: '{MAC}'"
        path.write_text(INVENTORY.format(firewall=fw, vm=self.vm, address=where))
        return path

    def show(self) -> str:
        done = self.vmguard("firewall", "show", "--inventory", str(self.inventory("inv")))
        assert done.returncode == 0, done
        return done.stdout

    def save(self) -> list[str]:
        out = self.ns.run("iptables-legacy-save", "-t", "filter").stdout
        return [ln for ln in out.splitlines() if not ln.startswith("#")]


@pytest.fixture
def site(tcg_domain, tmp_path):
    require_root()
    require_tools("nft", "ip", "ipset", "iptables-legacy-save", "iptables-legacy-restore")
    vm = tcg_domain.define(extra_devices="<sound model='ich6'/>\n").name
    with netns("apipt") as ns:
        made = IptSite(ns, tmp_path, vm)
        made.env["PATH"] = f"{legacy_bin(tmp_path / 'legacy-bin')}:{made.env['PATH']}"
        yield made


def _applied(site: IptSite) -> Path:
    inv = site.inventory("inv")
    done = site.vmguard("hook", "install", "--inventory", str(inv), "--hooks-dir", str(site.hooks))
    assert done.returncode == 0, done
    done = site.vmguard("apply", "--inventory", str(inv), "--format", "json")
    assert done.returncode == 0, done
    [saved] = json.loads(done.stdout)["firewall"]["saved"]
    return Path(saved)


def test_rollback_puts_the_previous_iptables_ruleset_back_and_keeps_the_admins_rule(site) -> None:
    old = site.inventory("old", address="10.77.0.32")
    assert site.vmguard("firewall", "apply", "--inventory", str(old)).returncode == 0
    site.ns.run("iptables-legacy", "-A", "INPUT", *ADMIN)
    site.ns.run("iptables-legacy", "-I", "INPUT", "1", "-p", "tcp", "--dport", "2223", "-j", "DROP")
    previous, save_before, xml_before = site.show(), site.save(), xml_hash(site.vm)
    assert "10.77.0.32" in previous and "table bridge vmguard" in previous and "create vmg-ids4 " in previous
    assert '-I INPUT 2 -m comment --comment "vmguard jump VMG-INPUT"' in previous  # after the admin's DROP

    _applied(site)
    applied = site.show()
    assert '-I INPUT 1 -m comment --comment "vmguard jump VMG-INPUT"' in applied  # apply puts it first
    assert "10.77.0.31" in applied and "10.77.0.32" not in applied  # control: it changed
    site.ns.run("ip6tables-legacy", "-A", "FORWARD", *ADMIN)  # added after apply: survives too

    done = site.vmguard("rollback", site.vm, "--inventory", str(site.inventory("inv")))
    assert done.returncode == 0, done
    assert "restored the firewall ruleset" in done.stdout
    assert site.show() == previous and xml_hash(site.vm) == xml_before
    assert site.save() == save_before  # every rule of the table, the admin's and our jump in their place
    assert "-A FORWARD -p tcp -m tcp --dport 2222 -j ACCEPT" in site.ns.run("ip6tables-legacy-save").stdout
    sets = site.ns.run("ipset", "list", "-n").stdout.split()
    assert len(sets) == 4, sets  # one generation: the other one destroyed


def test_rollback_is_refused_whole_when_the_iptables_ruleset_changed_since_apply(site) -> None:
    _applied(site)
    site.ns.run("iptables-legacy", "-A", "VMG-INPUT", "-j", "RETURN")  # someone else's change
    changed, xml_applied = site.show(), xml_hash(site.vm)

    refused = site.vmguard("rollback", site.vm, "--inventory", str(site.inventory("inv")))
    assert refused.returncode == 3, refused
    assert "is not the one `vmguard apply` loaded" in refused.stderr
    assert site.show() == changed and xml_hash(site.vm) == xml_applied  # nothing half-done

    site.ns.run("iptables-legacy", "-D", "VMG-INPUT", "-j", "RETURN")  # control: as applied again
    done = site.vmguard("rollback", site.vm, "--inventory", str(site.inventory("inv")))
    assert done.returncode == 0, done
    assert site.show() == NONE  # nothing of vmguard's was loaded before that apply
    assert site.ns.run("ipset", "list", "-n").stdout == "" and "VMG-" not in "\n".join(site.save())


BROKEN = {  # part: (a line of the saved listing, what replaces it, the reason given)
    "iptables": (
        "-A VMG-INPUT ",
        "-A VMG-INPUT -p tcp -m tcp --dport 99999 -j RETURN\n-A VMG-INPUT ",
        "does not load",
    ),
    "ipset": (
        "create vmg-ids4 ",
        "create vmg-ids4 bitmap:nonsense\ncreate vmg-ids4 ",
        "ipset restore failed",
    ),
    "nftables": ("\tchain vm_frame {", "\tchain vm_frame {\n\t\tnonsense here", "nft --check"),
}  # lines that are not vmguard's: test_iptables_listing.py


def test_a_saved_ruleset_that_does_not_load_leaves_everything_as_it_is(site) -> None:
    old = site.inventory("old", address="10.77.0.32")
    assert site.vmguard("firewall", "apply", "--inventory", str(old)).returncode == 0
    record_path = _applied(site)
    saved = record_path.read_text()
    applied, save_applied, sets = site.show(), site.save(), site.ns.run("ipset", "list", "-n").stdout
    xml_applied = xml_hash(site.vm)
    for part, (good, bad, why) in BROKEN.items():
        record = json.loads(saved)
        assert good in record["before"]["text"], part  # control: the line the test breaks is there
        record["before"]["text"] = record["before"]["text"].replace(good, bad, 1)
        record_path.write_text(json.dumps(record))

        refused = site.vmguard("rollback", site.vm, "--inventory", str(site.inventory("inv")))
        assert refused.returncode == 3 and why in refused.stderr, (part, refused)
        assert site.show() == applied and site.save() == save_applied and xml_hash(site.vm) == xml_applied
        assert site.ns.run("ipset", "list", "-n").stdout == sets, part  # no half-loaded generation

        # The restore itself, not only the check rollback runs first, leaves it all alone.
        code = (
            "import sys; from vmguard.firewall.iptables import IptablesBackend as B; B().restore(sys.argv[1])"
        )
        argv = site.ns.argv(sys.executable, "-c", code, record["before"]["text"])
        done = subprocess.run(argv, env=site.env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode != 0 and "FirewallError" in done.stderr and why in done.stderr, (part, done)
        assert site.show() == applied and site.save() == save_applied, part
        assert site.ns.run("ipset", "list", "-n").stdout == sets, part


KILLED = """
import os, signal, sys
from vmguard.firewall import ipsets, nftables
from vmguard.firewall import iptables_restore as ir
from vmguard.firewall.iptables import IptablesBackend
kill_at, steps = int(sys.argv[1]), []
def step(name, fn, changes):
    def wrapped(*args, **kwargs):
        if changes(*args, **kwargs):
            if len(steps) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            steps.append(name)
        return fn(*args, **kwargs)
    return wrapped
ipsets.ipset = step("ipset", ipsets.ipset, lambda args, *a, **k: args[0] in ("restore", "destroy"))
nftables._nft = step("nft", nftables._nft, lambda args, *a: "--check" not in args)
ir._restore_table = step("commit", ir._restore_table, lambda *a, test: not test)
IptablesBackend().restore(sys.stdin.read())
print(" ".join(steps))
"""


def _sections(listing: str) -> dict[str, str]:
    """The listing's parts: IPv4 rules with the sets they match, IPv6 rules, bridge table."""
    v4, rest = listing.split("# ip6tables filter\n")
    v6, rest = rest.split("# ipset\n")
    sets, bridge = rest.split("# nftables (frames on the VM bridges)\n")
    return {"ipv4 and sets": v4 + sets, "ipv6": v6, "bridge": bridge}


def test_a_restore_killed_at_any_step_leaves_each_part_old_or_new_and_apply_repairs(site) -> None:
    old = site.inventory("old", address="10.77.0.32")
    assert site.vmguard("firewall", "apply", "--inventory", str(old)).returncode == 0
    previous = site.show()
    inv = site.inventory("inv")

    def restore(kill_at: int) -> subprocess.CompletedProcess[str]:
        argv = site.ns.argv(sys.executable, "-c", KILLED, str(kill_at))
        return subprocess.run(argv, input=previous, env=site.env, capture_output=True, text=True, timeout=120)

    assert site.vmguard("firewall", "apply", "--inventory", str(inv)).returncode == 0
    applied = site.show()
    done = restore(-1)  # control: unkilled, it puts the previous ruleset back
    assert done.returncode == 0 and site.show() == previous, done
    steps = done.stdout.split()
    assert steps[0] == "ipset" and steps.count("commit") == 2 and steps[-1] == "nft", steps
    # Each commit, and the first of each run of ipset commands (the destroys are alike).
    firsts = [i for i, name in enumerate(steps) if i == 0 or steps[i - 1] != name or name == "commit"]
    assert len(firsts) == 5, steps  # ipset restore, IPv6 commit, IPv4 commit, destroys, nft
    for kill_at in firsts:
        assert site.vmguard("firewall", "apply", "--inventory", str(inv)).returncode == 0
        assert site.show() == applied  # apply repaired what the last kill left
        killed = restore(kill_at)
        assert killed.returncode == -signal.SIGKILL, killed
        now, before, after = _sections(site.show()), _sections(previous), _sections(applied)
        for part, text in now.items():
            assert text in (before[part], after[part]), f"killed before {steps[kill_at]}: {part} mixed"
