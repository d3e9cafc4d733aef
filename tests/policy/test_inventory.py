"""The inventory: validation, references to connections and policies, per-VM values."""

from __future__ import annotations

import ipaddress
import shutil
import textwrap
from pathlib import Path

import pytest

from vmguard.inventory.loader import check_inventory, load_inventory

EXAMPLES = Path(__file__).parents[2] / "policy"


@pytest.fixture()
def site(tmp_path):
    for name in ("base.yaml", "batch.yaml", "dev.yaml", "build.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path


def inventory(site: Path, vms: str, extra: str = "") -> Path:
    path = site / "inv.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nconnections:\n"
        "  - {name: kvm, driver: libvirt, uri: 'test:///default'}\n" + extra + "vms:\n" + textwrap.dedent(vms)
    )
    return path


def messages(path: Path) -> list[str]:
    return [f"{p.line}:{p.where}: {p.message}" for p in check_inventory(path).errors]


def test_example_inventory_loads():
    inv = load_inventory(EXAMPLES / "inventory.example.yaml")
    entry = inv.entry_for("gleam-batch-01")
    assert entry.policy.name == "gleam-batch" and entry.mac == "52:54:00:77:00:11"
    assert entry.addresses == (ipaddress.ip_address("10.77.0.11"),)
    assert inv.entry_for("gleam-batch-17").pattern == "gleam-batch-*"
    assert inv.entry_for("dev-alice").policy.name == "gleam-dev"
    assert inv.entry_for("stranger") is None
    assert (
        inv.entry_for("gleam-batch-01").quarantine_for("gleam-batch-01")
        == "/vmdata/quarantine/gleam-batch-01"
    )


def test_exact_name_wins_over_an_earlier_glob(site):
    inv = load_inventory(
        inventory(
            site,
            """\
        - {name: "vm-*", connection: kvm, policy: batch.yaml}
        - {name: vm-1, connection: kvm, policy: dev.yaml}
        """,
        )
    )
    assert inv.entry_for("vm-1").policy.name == "gleam-dev"
    assert inv.entry_for("vm-2").policy.name == "gleam-batch"


def test_unknown_connection(site):
    path = inventory(site, "- {name: a, connection: vbox, policy: batch.yaml}\n")
    assert messages(path) == ["6:vms[0].connection: unknown connection 'vbox' (known: kvm)"]


def test_missing_policy_file(site):
    path = inventory(site, "- {name: a, connection: kvm, policy: nope.yaml}\n")
    assert messages(path) == [f"6:vms[0].policy: policy file '{site}/nope.yaml' does not exist"]


def test_problems_inside_a_policy_point_into_the_policy(site):
    (site / "bad.yaml").write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: b}\nspec: {devices: {usb: maybe}}\n"
    )
    path = inventory(site, "- {name: a, connection: kvm, policy: bad.yaml}\n")
    [problem] = check_inventory(path).errors
    assert (problem.file, problem.line, problem.where) == (f"{site}/bad.yaml", 4, "spec.devices.usb")


def test_duplicate_names_addresses_and_macs(site):
    path = inventory(
        site,
        """\
        - {name: a, connection: kvm, policy: batch.yaml, address: 10.0.0.1, mac: "52:54:00:00:00:01"}
        - {name: a, connection: kvm, policy: batch.yaml}
        - {name: b, connection: kvm, policy: batch.yaml, address: 10.0.0.1, mac: "52:54:00:00:00:01"}
        """,
    )
    assert messages(path) == [
        "7:vms[1].name: 'a' is listed twice",
        "8:vms[2]: 10.0.0.1 is already used by 'a'",
        "8:vms[2]: 52:54:00:00:00:01 is already used by 'a'",
    ]


def test_glob_with_address_is_refused(site):
    path = inventory(site, "- {name: 'b-*', connection: kvm, policy: batch.yaml, address: 10.0.0.9}\n")
    assert messages(path) == ["6:vms[0].name: a glob entry cannot have an address or MAC (one VM each)"]


def test_bad_address_and_mac(site):
    path = inventory(
        site, "- {name: a, connection: kvm, policy: batch.yaml, address: 10.0.0.300, mac: 'zz'}\n"
    )
    assert messages(path) == [
        "6:vms[0].mac: 'zz' is not valid (a MAC address such as 52:54:00:12:34:56)",
        "6:vms[0]: '10.0.0.300' is not an IP address",
    ]


def test_driver_needs_its_location(site):
    path = inventory(
        site, "- {name: a, connection: files, policy: batch.yaml}\n", "  - {name: files, driver: vbox-file}\n"
    )
    assert messages(path) == ["5:connections[1]: driver vbox-file needs 'path'"]


def test_waiver_for_unknown_vm_is_an_error(site):
    (site / "w.yaml").write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: w}\nextends: batch.yaml\nspec:\n"
        "  waivers: [{rule: VMG-DEV-001, vm: ghost-vm, justification: 'needed for a legacy viewer', "
        "owner: ops, expires: 2099-01-01}]\n"
    )
    path = inventory(site, "- {name: 'gleam-*', connection: kvm, policy: w.yaml}\n")
    [problem] = check_inventory(path).errors
    assert problem.file == f"{site}/w.yaml" and problem.line == 6
    assert problem.message == "waiver names VM 'ghost-vm', which no inventory entry using this policy matches"
    path = inventory(site, "- {name: 'ghost-*', connection: kvm, policy: w.yaml}\n")
    assert check_inventory(path).errors == ()


def test_policy_file_given_to_inventory_check():
    result = check_inventory(EXAMPLES / "batch.yaml")
    assert result.inventory is None
    assert "missing required key 'connections'" in [p.message for p in result.problems]
