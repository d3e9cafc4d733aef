"""The Ansible role against two VM hosts over real SSH, then `vmguard report merge`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.batch.scratch import scratch
from tests.fleet.hosts import Fleet, fleet
from tests.fleet.lab import POLICY_OF, REPO, write_site
from tests.support.require import require_root, require_tools
from tests.support.wheelhouse import Wheelhouse

pytestmark = [pytest.mark.root, pytest.mark.slow]
VENV = REPO / ".venv/bin"


@dataclass(frozen=True)
class Played:
    root: Path
    fleet: Fleet
    proc: subprocess.CompletedProcess[str]
    check: subprocess.CompletedProcess[str]  # a second run with --check
    applies: dict[str, int]  # apply events per host after the first run

    @property
    def fetched(self) -> Path:
        return self.root / "fetched"

    def home(self, name: str) -> Path:
        return self.root / "hosts" / name


def _wheelhouse(root: Path, shared: Wheelhouse) -> Path:
    """The run's wheels (vmguard's and its dependencies', shared with tests/ops), so the
    hosts install without an index. No libvirt-python: as docs/install.md says, the
    virtualenv sees Debian's python3-libvirt."""
    wheels = root / "wheelhouse"
    shutil.copytree(shared.folder, wheels)
    return wheels


def _ansible_inventory(root: Path, hosts: Fleet, wheels: Path, policy: Path) -> Path:
    members = {
        h.name: {
            "ansible_host": h.address,
            # the documented layout (/opt/vmguard, /etc/vmguard, ...) under each host's own
            # root, as `vmguard system install --root` makes it: the hosts share this machine
            "vmguard_system_root": str(root / "hosts" / h.name),
            "vmguard_venv": str(root / "hosts" / h.name / "opt/vmguard"),
            "vmguard_inventory": str(root / f"policy/inventory-{h.name[-1]}.yaml"),
        }
        for h in hosts.hosts
    }
    path = root / "hosts.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "vmguard_hosts": {
                            "hosts": members,
                            "vars": {
                                "ansible_user": "root",
                                "ansible_ssh_private_key_file": str(hosts.key),
                                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no "
                                "-o UserKnownHostsFile=/dev/null",
                                "ansible_python_interpreter": "/usr/bin/python3",
                                "vmguard_apply_args": ["--next-boot"],
                                "vmguard_apt": False,  # .ci/apt-packages.txt has them
                                "vmguard_wheelhouse": str(wheels),
                                "vmguard_policy_dir": str(policy),
                                # The hosts share this machine's /etc/clamav: the clamd set-up
                                # is tested on its own (tests/quarantine/scanners/test_readme.py).
                                "vmguard_clamd": False,
                                "vmguard_fetch_dir": str(root / "fetched"),
                                "vmguard_controller_bin": str(VENV / "vmguard"),
                            },
                        }
                    }
                }
            }
        )
    )
    return path


def playbook(hosts: Fleet, root: Path, inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{VENV}:/usr/bin:/bin:/usr/sbin:/sbin",
        "PYTHONPATH": str(REPO),  # the controller's merge: this tree's, like the hosts' wheel
        "HOME": str(root),
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_LOCAL_TEMP": str(root / "ansible-local"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(root / "cp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_ROLES_PATH": str(REPO / "ansible/roles"),
        "ANSIBLE_FORKS": "2",
        "ANSIBLE_PIPELINING": "True",
    }
    argv = hosts.ctl.argv(
        str(VENV / "ansible-playbook"), "-i", str(inventory), str(REPO / "ansible/site.yml"), *args
    )
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def played(wheelhouse: Wheelhouse) -> Iterator[Played]:
    require_root()
    require_tools("sshd", "ssh-keygen", "ssh", "ip")
    root = scratch("vmg-fleet-")
    try:
        wheels, policy = _wheelhouse(root, wheelhouse), write_site(root)
        with fleet(root) as hosts:
            inventory = _ansible_inventory(root, hosts, wheels, policy)
            first = playbook(hosts, root, inventory)
            applies = {h.name: _events(root / "hosts" / h.name).count("apply") for h in hosts.hosts}
            yield Played(root, hosts, first, playbook(hosts, root, inventory, "--check"), applies)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _events(home: Path) -> list[str]:
    log = home / "var/log/vmguard/events.jsonl"
    return [json.loads(line)["kind"] for line in log.read_text().splitlines()]


def _audit_locally(root: Path, name: str) -> dict:
    """The oracle: the same audit run directly, without Ansible, SSH or the role."""
    out = root / f"direct-{name}"
    env = {**os.environ, "VMGUARD_LOG": str(root / f"direct-{name}.jsonl")}
    inventory = root / "policy" / f"inventory-{name}.yaml"
    subprocess.run(
        [str(VENV / "vmguard"), "audit", "-i", str(inventory), "--out", str(out), "--format", "json"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return json.loads((out / "latest/report.json").read_text())


def test_playbook_runs_end_to_end(played: Played) -> None:
    assert played.proc.returncode == 0, played.proc.stdout[-4000:] + played.proc.stderr[-2000:]
    assert "failed=0" in played.proc.stdout and "unreachable=0" in played.proc.stdout


def test_each_host_has_its_own_install_log_and_reports(played: Played) -> None:
    for host in played.fleet.hosts:
        home = played.home(host.name)
        assert (home / "etc/vmguard/inventory.yaml").exists() and (home / "etc/vmguard/batch.yaml").exists()
        events = _events(home)
        assert "audit" in events and "apply" in events
        assert (home / "var/lib/vmguard/audit_reports/latest/report.json").exists()


def test_the_role_installs_the_documented_way(played: Played) -> None:
    """docs/install.md: a virtualenv at /opt/vmguard with the system's site packages
    (Debian's libvirt binding, none compiled or in the wheelhouse), then `vmguard system
    install`: its units run that virtualenv's vmguard, /usr/local/bin links to it."""
    for host in played.fleet.hosts:
        home = played.home(host.name)
        venv = home / "opt/vmguard"
        assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
        assert not list(venv.glob("lib/python3*/site-packages/libvirt*"))  # the system's
        assert (home / "usr/local/bin/vmguard").resolve() == (venv / "bin/vmguard").resolve()
        audit = (home / "etc/systemd/system/vmguard-audit.service").read_text()
        assert f"ExecStart={venv}/bin/vmguard --quiet audit" in audit
        assert (home / "etc/logrotate.d/vmguard").is_file()
    task = played.proc.stdout.split("TASK [vmguard : Install vmguard's units")[1].split("TASK [")[0]
    assert "changed: [vmhost-a]" in task  # a first install: it wrote them


def test_every_hosts_report_was_fetched(played: Played) -> None:
    fetched = sorted(p.name for p in played.fetched.glob("*.json"))
    assert fetched == ["vmhost-a.json", "vmhost-b.json"]


def test_merge_of_fetched_reports_gives_expected_totals(played: Played) -> None:
    out = played.root / "merged"
    files = sorted(str(p) for p in played.fetched.glob("*.json"))
    proc = subprocess.run(
        [str(VENV / "vmguard"), "report", "merge", *files, "--out", str(out), "--fail-on", "never"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    merged = json.loads((out / "fleet.json").read_text())
    direct = {f"vmhost-{n}": _audit_locally(played.root, n)["summary"] for n in POLICY_OF}
    totals = merged["totals"]
    assert totals["hosts"] == 2 and totals["vms"] == 2
    assert totals["failing"] == sum(s["failing"] for s in direct.values()) > 0
    for severity in merged["severities"]:
        assert totals["by_severity"][severity] == sum(s["by_severity"][severity] for s in direct.values())
    assert {h["host"]: h["failing"] for h in merged["hosts"]} == {
        name: s["failing"] for name, s in direct.items()
    }
    assert direct["vmhost-a"]["failing"] > direct["vmhost-b"]["failing"]
    assert [h["host"] for h in merged["hosts"]] == ["vmhost-a", "vmhost-b"]  # worst first
    ranks = [merged["severities"].index(f["severity"]) for f in merged["findings"] if not f["waived"]]
    assert ranks == sorted(ranks), "findings are not worst first"


def test_playbook_wrote_the_fleet_report(played: Played) -> None:
    fleet_dir = played.fetched / "fleet"
    assert {p.name for p in fleet_dir.iterdir()} >= {"fleet.json", "fleet.md", "fleet.html"}
    assert json.loads((fleet_dir / "fleet.json").read_text())["totals"]["hosts"] == 2


def test_apply_changed_the_vms(played: Played) -> None:
    assert "changed 2 setting(s)" in played.proc.stdout
    assert "TASK [vmguard : Apply]" in played.proc.stdout


def test_check_mode_plans_and_changes_nothing(played: Played) -> None:
    out = played.check.stdout
    assert played.check.returncode == 0, out[-4000:]
    assert "nic 0: nat (default) -> host-only" in out  # the plan, shown
    plan = out.split("TASK [vmguard : Plan (check mode)]")[1].split("TASK [")[0]
    assert "changed: [vmhost-a]" in plan, plan  # plan's exit 1: apply would change something
    assert "TASK [vmguard : Apply]" in out and "skipping: [vmhost-a]" in out
    install = out.split("TASK [vmguard : Install vmguard")[1].split("TASK [")[0]
    assert "changed" not in install, install  # the role is idempotent
    for host in played.fleet.hosts:
        assert _events(played.home(host.name)).count("apply") == played.applies[host.name]
