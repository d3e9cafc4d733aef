"""A throwaway vmguard site for batch tests: policy, inventory, pools, batch settings,
two unprivileged job users, and the jobs of the issue as shell snippets.

vmguard itself is "installed" into <root>/prefix as docs/batch.md says, except that the
virtualenv sees this checkout (a .pth file) instead of a pip-installed wheel.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.batch.scratch import scratch
from tests.support.install_doc import install_lines
from tests.support.require import require_root, require_tools
from tests.support.wheelhouse import Wheelhouse

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs/batch.md"
USERS = ("vmgtest-a", "vmgtest-b")  # created by the tests, removed by them

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

# What jobs leave in their VM's quarantine ({q}). The hostile one: a symlink to a file
# outside the quarantine and an ELF binary renamed to .txt, beside a good file.
HARMLESS = "echo 'energy 13.6 eV' > {q}/result.txt; echo '{{\"events\": 1000}}' > {q}/summary.json"
HOSTILE = (
    "echo 'fine' > {q}/readme.txt; ln -s /etc/passwd {q}/passwd.txt; "
    "cp /bin/true {q}/notes.txt; chmod 644 {q}/notes.txt"
)

POOLS = {
    "mc": {"vms": ["vmgjob-a1", "vmgjob-a2"], "users": [USERS[0]], "partitions": ["vmg-mc", "vmbatch"]},
    "bee": {"vms": ["vmgjob-b1"], "users": [USERS[1]]},  # accounts: see test_binding
    "solo": {"vms": ["vmgjob-s1"], "users": list(USERS)},
    "ghost": {"vms": ["other-vm"], "users": list(USERS)},  # its VM is not in the inventory
}


def ensure_users() -> list[pwd.struct_passwd]:
    for name in USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/bin/sh", name],
                check=True,
                timeout=30,
            )
    return [pwd.getpwnam(name) for name in USERS]


def remove_users() -> None:
    for name in USERS:
        subprocess.run(["userdel", name], capture_output=True, timeout=30, check=False)


@dataclass(frozen=True)
class Site:
    root: Path
    users: tuple[pwd.struct_passwd, ...]

    @property
    def user(self) -> pwd.struct_passwd:
        return self.users[0]

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
    def prefix(self) -> Path:
        return self.root / "prefix"

    @property
    def hooks(self) -> Path:
        return self.prefix / "libexec/vmguard"

    def work(self, user: pwd.struct_passwd | None = None) -> Path:
        return self.root / "work" / (user or self.user).pw_name

    def quarantine(self, vm: str) -> Path:
        return self.root / "quarantine" / vm

    def held(self, key: str) -> Path:
        """The job's held folder: named <key>.<assignment serial> (the newest run of the
        id), or the bare key for leftovers; a path that does not exist if none."""
        base = self.root / "quarantine/.vmguard-held"
        runs = sorted(
            (p for p in base.glob(f"{key}.*") if p.name[len(key) + 1 :].isdigit()),
            key=lambda p: int(p.name[len(key) + 1 :]),
        )
        return runs[-1] if runs else base / key

    def public(self, job_id: str, user: pwd.struct_passwd | None = None) -> Path:
        return self.root / "public" / (user or self.user).pw_name / job_id

    def assigned(self, key: str) -> Path:
        return self.state / "assigned" / key

    def vmguard(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The installed vmguard, as an admin runs it."""
        return subprocess.run(
            [str(self.prefix / "bin/python"), "-m", "vmguard", *args],
            env={"PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def remove(self) -> None:
        """The folder, then the users (created again by the next site)."""
        shutil.rmtree(self.root, ignore_errors=True)
        remove_users()


def install(prefix: Path) -> None:
    """A virtualenv at `prefix` that runs this checkout (in place of `pip install`)."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(prefix)],
        check=True,
        timeout=120,
    )
    site_packages = next(prefix.glob("lib/python3*/site-packages"))
    paths = [str(REPO), *(p for p in sys.path if p.endswith("site-packages"))]
    (site_packages / "vmguard-checkout.pth").write_text("\n".join(paths) + "\n")


def install_as_documented(prefix: Path, wheels: Wheelhouse) -> None:
    """docs/install.md's install lines, then docs/batch.md's, with /opt/vmguard -> `prefix`,
    on the run's wheel of this checkout (its dependencies from the run's wheelhouse). Left
    out: apt-get (.ci/apt-packages.txt has the packages), `system install` and systemctl
    (the machine's own /usr/local/bin and units; the hooks use neither)."""
    block = re.search(r"### Install on Debian 12\n.*?```sh\n(.*?)```", DOC.read_text(), re.S).group(1)
    for line in [*install_lines(), *block.strip().splitlines()]:
        if line.startswith(("apt-get ", "systemctl ")) or line.endswith(" system install"):
            continue
        line = line.replace("/path/to/vmguard-*.whl", str(wheels.wheel)).replace("/opt/vmguard", str(prefix))
        if line.startswith("python3 "):
            line = "/usr/bin/" + line  # Debian's python3, not a development interpreter
        subprocess.run(
            shlex.split(line),
            check=True,
            timeout=600,
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), **wheels.offline},
        )


def make_site(time_limit: float = 60, documented: Wheelhouse | None = None, **extra: object) -> Site:
    """A site under a fresh /tmp folder that the unprivileged job users can traverse.

    `documented`: vmguard installed from these wheels by docs/batch.md's lines (slower),
    else a virtualenv that sees this checkout.
    """
    root = scratch("vmg-batch-")
    root.chmod(0o755)
    site = Site(root, tuple(ensure_users()))
    for sub in ("etc", "log", "public", "quarantine", "work"):
        (root / sub).mkdir()
    (root / "etc/policy.yaml").write_text(POLICY)
    inventory = {
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
    (root / "etc/inventory.yaml").write_text(yaml.safe_dump(inventory))
    settings = {
        "inventory": "inventory.yaml",
        "public": str(root / "public/{user}/{job}"),
        "state_dir": str(site.state),
        "time_limit": time_limit,
        "log": str(site.log),
        "pools": POOLS,
        **extra,
    }
    site.config.write_text(yaml.safe_dump(settings))
    for user in site.users:
        site.work(user).mkdir()
        os.chown(site.work(user), user.pw_uid, user.pw_gid)
    if documented:  # the docs' `vmguard batch install-hooks` runs with it; ours below adds paths
        install_as_documented(site.prefix, documented)
    else:
        install(site.prefix)
    proc = site.vmguard(
        "batch", "install-hooks", "--config", str(site.config), "--output", str(root / "log/hooks.log")
    )
    assert proc.returncode == 0, proc.stderr
    return site


def module_site(*tools: str, root: bool = True) -> Iterator[Site]:
    """What a test module's `site` fixture yields: a site (after requiring root and
    `tools`), removed when the module is done."""
    if root:
        require_root()
    if tools:
        require_tools(*tools)
    site = make_site()
    yield site
    site.remove()
