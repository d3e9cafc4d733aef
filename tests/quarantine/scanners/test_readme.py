"""The README's vet example, its lines copy-pasted, on a fresh offline host: clamav-daemon
installed without any ClamAV signature (freshclam needs the internet).

Everything runs in a private mount namespace whose /run, /etc/clamav, /var/lib/clamav,
/var/log/clamav, /vmdata and /data are this test's own directories: the host's clamd,
configuration and files are untouched, and without /run/systemd the set-up starts clamd
itself. A second vet with the EICAR test file in the quarantine is the control: the
clamd the set-up started really scans (exit 1, the file named, nothing published).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.quarantine.conftest import published_files, write
from tests.support.clamd import EICAR
from tests.support.require import require_root, require_tools
from vmguard.quarantine.scanners.setup import _peer_pid

ROOT = Path(__file__).parents[3]
PRIVATE = ("/run", "/etc/clamav", "/var/lib/clamav", "/var/log/clamav", "/vmdata", "/data")


def readme_lines() -> list[str]:
    section = (ROOT / "README.md").read_text().split("\n## Vetting job output\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


@pytest.fixture
def fresh_host(tmp_path):
    """The private directories, and mount points for /vmdata and /data while it runs."""
    require_root()
    require_tools("clamd", "unshare")
    clamav = pwd.getpwnam("clamav")
    made = [path for path in ("/vmdata", "/data") if not os.path.exists(path)]
    for path in made:
        os.mkdir(path)
    own = {path: tmp_path / path.strip("/").replace("/", "-") for path in PRIVATE}
    shutil.copytree("/etc/clamav", own["/etc/clamav"])
    conf = own["/etc/clamav"] / "clamd.conf"  # as Debian's package writes it (if set up here since)
    lines = [line for line in conf.read_text().splitlines() if not line.startswith("AlertExceedsMax")]
    conf.write_text("\n".join(lines) + "\nAlertExceedsMax no\n")
    for path in own.values():
        path.mkdir(exist_ok=True)
    for path in ("/var/lib/clamav", "/var/log/clamav"):
        os.chown(own[path], clamav.pw_uid, clamav.pw_gid)
    socket = own["/run"] / "clamav" / "clamd.ctl"
    try:
        yield own
    finally:
        if (pid := _peer_pid(str(socket))) is not None:  # the clamd the set-up started
            os.kill(pid, signal.SIGTERM)
        for path in made:
            os.rmdir(path)


def in_namespace(own: dict[str, Path], lines: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    mounts = "".join(f"mount --bind {shlex.quote(str(own[p]))} {p}\n" for p in PRIVATE)
    steps = "".join(f'{line}\necho "exit $? <- {line.split()[0]} {line.split()[1]}"\n' for line in lines)
    script = f"set -u\nmount --make-rprivate /\n{mounts}{steps}"
    apt_conf = tmp_path / "apt.conf"  # another apt run on this host: wait for it, as ./dev does
    apt_conf.write_text('DPkg::Lock::Timeout "900";\n')
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        PYTHONPATH=str(ROOT),
        VMGUARD_LOG=str(tmp_path / "events.jsonl"),
        DEBIAN_FRONTEND="noninteractive",
        APT_CONFIG=str(apt_conf),
    )
    return subprocess.run(
        ["unshare", "--mount", "bash", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_the_readme_vet_example_works_on_a_fresh_offline_host(fresh_host, tmp_path):
    lines = readme_lines()
    assert [line.split()[:2] for line in lines] == [
        ["apt-get", "install"],
        ["vmguard", "scanners"],
        ["vmguard", "vet"],
    ]
    quarantine = fresh_host["/vmdata"] / "quarantine" / "gleam-batch-01"
    write(quarantine / "run.log", "INFO event 1 energy 42.0\nINFO event 2 energy 17.5\n")
    write(quarantine / "summary.json", '{"events": 2}\n')
    write(tmp_path / "eicar.txt", EICAR)
    control = lines[-1].replace("job-4711", "job-4712")
    proc = in_namespace(
        fresh_host,
        [
            *lines,
            "vmguard scanners setup",
            f"cp {tmp_path}/eicar.txt /vmdata/quarantine/gleam-batch-01/",
            control,
        ],
        tmp_path,
    )
    out = proc.stdout
    print(out, proc.stderr)  # shown by pytest when an assertion below fails
    assert proc.returncode == 0
    assert "exit 0 <- apt-get install" in out and "exit 0 <- vmguard scanners" in out, (out, proc.stderr)
    assert "changed: /etc/clamav/clamd.conf: AlertExceedsMax yes" in out
    rerun = out.split("exit 0 <- vmguard scanners")[1]
    assert "checked: clamd: Vmguard.Eicar-Test-File" in rerun and "changed: " not in rerun  # idempotent
    assert "clamd on /var/run/clamav/clamd.ctl checked: clamd: Vmguard.Eicar-Test-File" in out, out
    assert out.count("exit 0 <- vmguard vet") == 1 and "exit 1 <- vmguard vet" in out, (out, proc.stderr)
    assert "eicar.txt: scanner-flagged (clamd: Vmguard.Eicar-Test-File.UNOFFICIAL)" in out
    public = fresh_host["/data"] / "public" / "gleam"
    assert published_files(public / "job-4711") == {
        "run.log": (quarantine / "run.log").read_bytes(),
        "summary.json": b'{"events": 2}\n',
    }
    assert not (public / "job-4712").exists()
    assert (fresh_host["/etc/clamav"] / "clamd.conf").read_text().count("AlertExceedsMax yes") == 1
