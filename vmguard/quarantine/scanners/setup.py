"""`vmguard scanners setup`: the host's clamd made usable by vet, also on an offline host.

A fresh machine without internet has no ClamAV signatures (freshclam downloads them)
and clamd refuses to start without any; Debian's unit and init script also wait for
freshclam's main and daily databases. So this installs vmguard's small site database
(vmguard.hdb: the EICAR test file, so that clamd starts and can be checked) into
clamd's DatabaseDirectory, sets what vet requires of clamd (`AlertExceedsMax yes`; limits
of 4000M), starts clamd (systemd: with a drop-in that drops the wait for freshclam;
otherwise clamd itself), waits until it answers and checks that it finds EICAR in a file
handed over as a descriptor. On connected hosts clamav-freshclam adds the official
signatures and clamd reloads them by itself (SelfCheck).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from vmguard.core import progress
from vmguard.core.atomicfile import write_atomic
from vmguard.policy.model import ClamdScanner
from vmguard.quarantine.scanners.clamd import Clamd
from vmguard.quarantine.scanners.interface import ScanError

CONFIG = "/etc/clamav/clamd.conf"
DATABASE = "vmguard.hdb"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# What vet needs of clamd: files over a limit reported, never passed as clean; size
# limits as high as clamd goes (larger files are rejected by vet, by name); a scan time
# limit (ms) under the shipped policies' 120 s timeout, so that a file made to scan slowly
# is rejected by name (Heuristics.Limits.Exceeded.MaxScanTime) rather than stopping the vet.
SETTINGS = {"AlertExceedsMax": "yes", "MaxFileSize": "4000M", "MaxScanSize": "4000M", "MaxScanTime": "100000"}
DROP_IN = Path("/etc/systemd/system/clamav-daemon.service.d/vmguard.conf")
DROP_IN_TEXT = (
    "# vmguard: start without freshclam's main/daily databases (vmguard.hdb is enough)\n"
    "[Unit]\nConditionPathExistsGlob=\n"
)
START_TIMEOUT = 600.0  # loading freshclam's full databases takes minutes on a small host


def settings(config: str) -> dict[str, str]:
    """clamd.conf's options (first word, rest of the line), comments skipped."""
    out = {}
    for line in Path(config).read_text().splitlines():
        key, _, value = line.strip().partition(" ")
        if key and not key.startswith("#"):
            out[key] = value.strip()
    return out


def configure(config: str) -> list[str]:
    """Set SETTINGS in clamd.conf (replaced in place or appended); what changed."""
    lines, changed, seen = Path(config).read_text().splitlines(), [], set()
    for i, line in enumerate(lines):
        key = line.strip().partition(" ")[0]
        if key in SETTINGS:
            seen.add(key)
            if line.strip() != f"{key} {SETTINGS[key]}":
                lines[i] = f"{key} {SETTINGS[key]}"
                changed.append(lines[i])
    missing = [f"{key} {value}" for key, value in SETTINGS.items() if key not in seen]
    if changed or missing:
        _replace(Path(config), "\n".join(lines + missing) + "\n")
    return changed + missing


def install_database(database_dir: str) -> Path | None:
    """vmguard.hdb into clamd's database folder; None when it is there already."""
    target = Path(database_dir) / DATABASE
    shipped = resources.files("vmguard.quarantine.scanners").joinpath("clamav", DATABASE).read_text()
    if target.is_file() and target.read_text() == shipped:
        return None
    _replace(target, shipped, mode=0o644)
    return target


def _replace(path: Path, text: str, mode: int | None = None) -> None:
    """Atomically, keeping the file's mode (or `mode` for a new one)."""
    keep = path.stat().st_mode & 0o7777 if path.exists() else mode or 0o644
    write_atomic(path, text.encode(), keep, ScanError)


def start(config: str, conf: dict[str, str]) -> str:
    """(Re)start clamd so that it reads its configuration; how."""
    if os.path.isdir("/run/systemd/system"):  # sd_booted()
        DROP_IN.parent.mkdir(parents=True, exist_ok=True)
        _replace(DROP_IN, DROP_IN_TEXT)
        for argv in (["daemon-reload"], ["enable", "clamav-daemon"], ["restart", "clamav-daemon"]):
            _run(["systemctl", *argv])
        return "systemctl restart clamav-daemon"
    sock = conf.get("LocalSocket", "/run/clamav/clamd.ctl")
    if (pid := _peer_pid(sock)) is not None:
        os.kill(pid, 15)
        _wait(lambda: _peer_pid(sock) is None, "the running clamd to stop")
    user = pwd.getpwnam(conf.get("User", "clamav"))
    Path(sock).parent.mkdir(parents=True, exist_ok=True)
    os.chown(Path(sock).parent, user.pw_uid, user.pw_gid)
    _serve(["clamd", "--foreground", "-c", config], sock)
    return f"clamd -c {config}"


def _serve(argv: list[str], sock: str) -> None:
    """Start clamd and wait until it answers on `sock`; ScanError, with what it said, if it
    exits first. In the foreground, not its own daemonizing: its parent waits for a SIGINT
    from the child, installing the handler after the fork; where SIGINT is ignored (nohup,
    a background job) and the child is quick, the signal is lost and the parent waits
    forever (a CI run of session 37 hung there)."""
    with tempfile.TemporaryFile() as errors:
        clamd = _start_session(argv, errors)
        _wait(lambda: clamd.poll() is not None or _peer_pid(sock) is not None, "clamd to answer")
        if clamd.returncode is not None:  # as the wait saw it: exited, or None and answering
            errors.seek(0)
            said = errors.read().decode(errors="replace").strip()[-500:]
            raise ScanError(f"`{' '.join(argv)}` exited with {clamd.returncode}: {said}")
    # clamd runs on as the scanner, never waited for: subprocess keeps the dropped Popen and
    # reaps clamd should it exit while vmguard runs (python -X dev says it still runs).


def _start_session(argv: list[str], stderr) -> subprocess.Popen:
    """`argv` in a session of its own (a terminal's SIGINT or SIGHUP does not reach it, and
    it outlives vmguard, reparented), its stderr to `stderr`, no stdin or stdout."""
    return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
    )


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise ScanError(f"`{' '.join(argv)}` failed: {(proc.stderr or proc.stdout).strip()[-500:]}")


def _peer_pid(path: str) -> int | None:
    """The pid of the process listening on a UNIX socket (its peer credentials)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(path)
        except OSError:
            return None
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        return int.from_bytes(creds[:4], "little")


def _wait(ready, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if time.monotonic() > deadline:
            raise ScanError(f"timed out waiting for {what}")
        time.sleep(0.2)


def check(sock: str) -> str:
    """clamd answers, reports files over its limits and finds EICAR in a descriptor."""
    engine = Clamd(ClamdScanner(socket=sock, timeout=START_TIMEOUT))  # systemd's socket: clamd may still load
    try:
        probe = os.memfd_create("vmguard-eicar", os.MFD_CLOEXEC)
        try:
            os.write(probe, EICAR)
            result = engine.submit(probe).result()
        finally:
            os.close(probe)
    finally:
        engine.close()
    if not result.hits:
        raise ScanError(f"clamd at {sock} does not find the EICAR test file: is {DATABASE} loaded?")
    return result.note


@dataclass(frozen=True, kw_only=True)
class SetupResult:
    """What `scanners setup` did: the text and the JSON are both printed from this."""

    config: str
    settings: tuple[str, ...]  # the clamd.conf lines set, as written
    database: str | None  # vmguard.hdb where it was installed; None: in place already
    started: str | None  # how clamd was (re)started; None: the running one was checked
    socket: str
    checked: str  # clamd's answer to the EICAR probe

    @property
    def changed(self) -> bool:
        return bool(self.settings or self.database or self.started)


def setup(config: str = CONFIG, restart: bool = True) -> SetupResult:
    """Configure, install the site database, (re)start clamd when something changed or it
    is not running, and check it; ScanError when a step cannot be done."""
    if shutil.which("clamd") is None:
        raise ScanError("clamd is not installed (apt-get install clamav-daemon)")
    changed = tuple(configure(config))
    conf = settings(config)
    database = install_database(conf.get("DatabaseDirectory", "/var/lib/clamav"))
    sock, started = conf.get("LocalSocket", "/run/clamav/clamd.ctl"), None
    if restart and (changed or database or _peer_pid(sock) is None):
        with progress.step("starting clamd"):
            started = start(config, conf)
    with progress.step(f"clamd on {sock}: waiting, then checking"):
        _wait(lambda: _peer_pid(sock) is not None, f"clamd on {sock}")
        checked = check(sock)
    return SetupResult(
        config=config,
        settings=changed,
        database=str(database) if database else None,
        started=started,
        socket=sock,
        checked=checked,
    )
