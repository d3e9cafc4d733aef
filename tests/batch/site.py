"""A throwaway vmguard site for batch tests: policy, inventory, batch settings, and the
two jobs of the issue (one harmless, one hostile) as shell snippets a job runs."""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.batch.scratch import scratch

REPO = Path(__file__).resolve().parents[2]
VMGUARD = Path(os.environ.get("VMGUARD_BIN", REPO / ".venv/bin/vmguard"))
SCRIPTS = REPO / "vmguard/batch/scripts"

POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: test-batch, description: batch VMs of the batch tests}
spec:
  network: {mode: none}
  quarantine:
    allow_types: [text, json]
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
"""

# What the two jobs leave in their VM's quarantine. The hostile one: a symlink to a
# file outside the quarantine and an ELF binary renamed to .txt, beside a good file.
HARMLESS = "echo 'energy 13.6 eV' > {q}/result.txt; echo '{{\"events\": 1000}}' > {q}/summary.json"
HOSTILE = (
    "echo 'fine' > {q}/readme.txt; ln -s /etc/passwd {q}/passwd.txt; "
    "cp /bin/true {q}/notes.txt; chmod 644 {q}/notes.txt"
)


@dataclass(frozen=True)
class Site:
    root: Path
    user: pwd.struct_passwd  # jobs run as this unprivileged user

    @property
    def config(self) -> Path:
        return self.root / "etc/batch.yaml"

    @property
    def log(self) -> Path:
        return self.root / "log/events.jsonl"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def quarantine(self, vm: str) -> Path:
        return self.root / "quarantine" / vm

    def public(self, job_id: str) -> Path:
        return self.root / "public" / self.user.pw_name / job_id

    def env(self) -> dict[str, str]:
        """What the hook scripts need: where vmguard, its settings and its log are."""
        return {
            "VMGUARD": str(VMGUARD),
            "VMGUARD_BATCH_CONFIG": str(self.config),
            "VMGUARD_LOG": str(self.log),
            "VMGUARD_EPILOG_LOG": str(self.root / "log/hook.log"),
        }

    def make_vm_share(self, vm: str) -> Path:
        """The VM's output share, writable by the job's user as the VM would write it."""
        share = self.quarantine(vm)
        share.mkdir(parents=True, exist_ok=True)
        os.chown(share, self.user.pw_uid, self.user.pw_gid)
        return share

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def make_site(vm_field: str = "{name}", time_limit: float = 60, **extra: object) -> Site:
    """A site under a fresh /tmp folder that the unprivileged job user can traverse."""
    root = scratch("vmg-batch-")
    root.chmod(0o755)
    site = Site(root, pwd.getpwnam("nobody"))
    (root / "etc").mkdir()
    (root / "etc/policy.yaml").write_text(POLICY)
    (root / "etc/inventory.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "vmguard/v1",
                "kind": "Inventory",
                "metadata": {"name": "batch-test-host"},
                "connections": [{"name": "t", "driver": "libvirt", "uri": "test:///default"}],
                "vms": [
                    {
                        "name": "vmgjob-*",
                        "connection": "t",
                        "policy": "policy.yaml",
                        "quarantine": str(root / "quarantine/{vm}"),
                    }
                ],
            }
        )
    )
    site.config.write_text(
        yaml.safe_dump(
            {
                "inventory": "inventory.yaml",
                "vm": vm_field,
                "public": str(root / "public/{user}/{job}"),
                "state_dir": str(site.state),
                "time_limit": time_limit,
                **extra,
            }
        )
    )
    for sub in ("log", "work", "public"):
        (root / sub).mkdir()
    os.chown(site.work, site.user.pw_uid, site.user.pw_gid)
    return site
