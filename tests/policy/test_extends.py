"""`extends`: merge rules, relative paths, cycles, and positions that point into the base."""

from __future__ import annotations

from tests.policy.helpers import errors, write
from vmguard.policy import model as m
from vmguard.policy.loader import check_policy, load_policy

BASE = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: base, description: shared}
spec:
  network:
    mode: host-only
    egress: [{name: db, to: 192.0.2.10/32, ports: [3306]}]
  shared_folders:
    forbid_host_paths: [/home, /afs]
  devices: {clipboard: disabled, usb: disabled}
  software: {forbid: [firefox]}
  users: {interactive_login: [vmadmin1]}
"""


def role(extends: str, spec: str) -> str:
    return (
        f"apiVersion: vmguard/v1\nkind: Policy\nmetadata: {{name: role}}\nextends: {extends}\nspec:\n{spec}"
    )


def test_mappings_merge_and_role_wins(tmp_path):
    write(tmp_path, BASE, "base.yaml")
    policy = load_policy(write(tmp_path, role("base.yaml", "  devices: {usb: enabled}\n")))
    assert policy.devices.usb is m.Toggle.ENABLED
    assert policy.devices.clipboard is m.TransferMode.DISABLED
    assert policy.network.egress[0].name == "db"
    assert policy.metadata == m.Metadata("role", "shared")


def test_allow_lists_are_replaced(tmp_path):
    write(tmp_path, BASE, "base.yaml")
    spec = "  network:\n    egress: [{name: cvs, to: 192.0.2.20/32, ports: [2401]}]\n  users: {interactive_login: [bob]}\n"
    policy = load_policy(write(tmp_path, role("base.yaml", spec)))
    assert [e.name for e in policy.network.egress] == ["cvs"]
    assert policy.users.interactive_login == ("bob",)


def test_forbid_lists_are_unioned_never_dropped(tmp_path):
    write(tmp_path, BASE, "base.yaml")
    spec = "  shared_folders: {forbid_host_paths: [/u, /home]}\n  software: {forbid: []}\n"
    policy = load_policy(write(tmp_path, role("base.yaml", spec)))
    assert policy.shared_folders.forbid_host_paths == ("/home", "/afs", "/u")
    assert policy.software.forbid == ("firefox",)


def test_relative_path_from_the_naming_file(tmp_path):
    (tmp_path / "roles").mkdir()
    (tmp_path / "common").mkdir()
    write(tmp_path / "common", BASE, "base.yaml")
    policy = load_policy(write(tmp_path / "roles", role("../common/base.yaml", "  devices: {}\n")))
    assert policy.network.egress[0].name == "db"


def test_chain_of_three(tmp_path):
    write(tmp_path, BASE, "base.yaml")
    write(tmp_path, role("base.yaml", "  devices: {usb: enabled}\n"), "mid.yaml")
    policy = load_policy(write(tmp_path, role("mid.yaml", "  devices: {audio: enabled}\n")))
    assert (policy.devices.usb, policy.devices.audio) == (m.Toggle.ENABLED, m.Toggle.ENABLED)


def test_cycle_is_reported(tmp_path):
    write(tmp_path, role("b.yaml", "  devices: {}\n"), "a.yaml")
    write(tmp_path, role("a.yaml", "  devices: {}\n"), "b.yaml")
    result = check_policy(tmp_path / "a.yaml")
    assert result.policy is None
    [problem] = result.problems
    assert problem.file.endswith("b.yaml") and problem.line == 4
    assert problem.message.startswith("cycle: ") and problem.message.endswith("a.yaml")


def test_self_extension_is_a_cycle(tmp_path):
    result = check_policy(write(tmp_path, role("p.yaml", "  devices: {}\n")))
    assert result.problems[0].message.startswith("cycle:")


def test_missing_base(tmp_path):
    result = check_policy(write(tmp_path, role("nope.yaml", "  devices: {}\n")))
    assert errors(result) == [f"extends: base policy '{tmp_path}/nope.yaml' does not exist"]


def test_error_in_base_points_into_the_base_file(tmp_path):
    write(tmp_path, BASE.replace("usb: disabled", "usb: maybe"), "base.yaml")
    result = check_policy(write(tmp_path, role("base.yaml", "  devices: {}\n")))
    [problem] = result.problems
    assert (problem.file, problem.line) == (str(tmp_path / "base.yaml"), 10)


def test_semantic_error_from_merged_values_points_at_the_role(tmp_path):
    write(tmp_path, BASE, "base.yaml")
    spec = "  shared_folders:\n    allow: [{name: h, host_path: /afs/x, access: read-only}]\n"
    result = check_policy(write(tmp_path, role("base.yaml", spec)))
    [problem] = result.problems
    assert problem.file == str(tmp_path / "p.yaml") and problem.line == 7
    assert "forbidden host path '/afs'" in problem.message


def test_origins_name_the_file_that_set_each_value(tmp_path):
    write(tmp_path, BASE, "base.yaml")
    policy = load_policy(write(tmp_path, role("base.yaml", "  devices: {usb: enabled}\n")))
    assert policy.origin("spec.devices.usb") == f"{tmp_path}/p.yaml:6:18"
    assert policy.origin("spec.devices.clipboard") == f"{tmp_path}/base.yaml:10:24"
    assert policy.origin("spec.devices.audio").startswith(f"{tmp_path}/p.yaml:6:")
