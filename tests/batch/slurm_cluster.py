"""A real single-node Slurm (munged, slurmctld, slurmd from Debian) in a temp folder.

Learned on these machines: slurmd runs in this container with ProctrackType=
proctrack/linuxproc, TaskPlugin=task/none and no cgroup plugin (no cgroup.conf
needed); slurmd logs that mpi/pmix cannot load, which is harmless. The epilog sees
SLURM_JOB_ID/UID/GID/USER/PARTITION/COMMENT/WORK_DIR and SLURM_CONF, but not the job
name; `scontrol update ... Comment=` is refused once the job has finished.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.batch.scratch import note_pid

NODE = "vmgnode"
SLURM_CONF = """\
ClusterName=vmgtest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={root}/munge.sock
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerParameters=sched_interval=1
{hooks}
NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=vmg Nodes=ALL Default=YES MaxTime=10 State=UP OverSubscribe=FORCE:8
PartitionName=vmg-mc Nodes=ALL MaxTime=10 State=UP OverSubscribe=FORCE:8
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    """Poll `check` until it returns something true; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.25)
    raise TimeoutError(f"waited {timeout:g} s for {what}")


@dataclass
class Slurm:
    root: Path
    procs: list[subprocess.Popen]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.root / "slurm.conf")}

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True, timeout=30, check=check
        )

    def node_state(self) -> str:
        return self.run("sinfo", "-h", "-n", NODE, "-o", "%T", check=False).stdout.strip()

    def sbatch(self, *args: str) -> str:
        out = self.run("sbatch", "--parsable", *args).stdout.strip()
        return out.split(";")[0]

    def log_tail(self) -> str:
        logs = sorted((self.root / "log").glob("*.log"))
        return "\n".join(f"== {p.name}\n" + "\n".join(p.read_text().splitlines()[-15:]) for p in logs)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _daemon(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    note_pid(log.parent, proc.pid)  # for the reaper, should this run be killed
    return proc


def start(root: Path, hooks: str) -> Slurm:
    """munged, then slurmctld, then slurmd, in the foreground as our own children.

    `hooks`: the slurm.conf lines of docs/batch.md (Prolog=, Epilog=, Licenses=, ...).
    """
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mungekey", "-c", "-f", "-k", str(root / "munge.key")], check=True, capture_output=True, timeout=30
    )
    (root / "munge.key").chmod(0o600)
    conf = SLURM_CONF.format(
        host=socket.gethostname(),
        root=root,
        hooks=hooks,
        node=NODE,
        ctld_port=free_port(),
        slurmd_port=free_port(),
    )
    (root / "slurm.conf").write_text(conf)
    slurm = Slurm(root, [])
    slurm.procs.append(
        _daemon(
            [
                "munged",
                "-F",
                "-f",
                f"--key-file={root}/munge.key",
                f"--socket={root}/munge.sock",
                f"--pid-file={root}/munged.pid",
                f"--seed-file={root}/munged.seed",
                f"--log-file={root}/log/munged.log",
            ],
            slurm.env,
            root / "log/munged.out",
        )
    )
    wait_for(lambda: (root / "munge.sock").exists(), 15, "munged's socket")
    slurm.procs.append(_daemon(["slurmctld", "-D", "-i"], slurm.env, root / "log/ctld.out"))
    slurm.procs.append(_daemon(["slurmd", "-D", "-N", NODE], slurm.env, root / "log/d.out"))
    try:
        wait_for(lambda: slurm.node_state() == "idle", 45, "the Slurm node to be idle")
    except TimeoutError:
        tail = slurm.log_tail()
        slurm.stop()
        raise TimeoutError(f"Slurm did not come up:\n{tail}") from None
    return slurm
