"""The libvirt hook file: `vmguard hook install|remove|status`.

vmguard's hook is its own file, HOOKS/qemu.d/vmguard (libvirt runs every executable in
qemu.d/ in turn), so the `qemu` script and other qemu.d/ hooks are never touched. It is a
small sh script, written with what must hold even when vmguard itself is broken: the
settings of the inventory's `gate:` at install time (on_error and timeout; `status` says
when the inventory changed since), a hard timeout (coreutils `timeout -s KILL`, so a hung
vmguard cannot hang libvirtd) and the fail-open/fail-closed answer for every exit that is
not vmguard's own allow or refuse. libvirtd notices hook files present when it starts.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vmguard.core import eventlog as log
from vmguard.core.atomicfile import write_atomic
from vmguard.core.errors import GateError
from vmguard.gate.hook import REFUSED
from vmguard.inventory.model import DriverKind, Inventory, OnError

HOOKS_DIR = Path("/etc/libvirt/hooks")
MARK = "# vmguard start gate"
CARRIED_ENV = ("VMGUARD_LOG", "VMGUARD_STATE_DIR")  # libvirtd gives hooks a bare environment
SCRIPT = """#!/bin/sh
{mark}: written by `vmguard hook install`; `vmguard hook remove` deletes it.
# inventory={inventory} connection={connection} on_error={on_error} timeout={timeout:g} server={server}
{env}case "$2/$3" in prepare/begin|started/begin|release/end) ;; *) exit 0 ;; esac
{call}
[ "$rc" -eq 0 ] && exit 0
why=$(printf '%s\\n' "$out" | tail -n 1)
case "$rc/$why" in 1/{refused_q}*) printf '%s\\n' "$why" >&2; exit 1 ;; esac
[ "$rc" -eq 137 ] && why="no answer within {timeout:g}s"
msg="vmguard gate: vmguard failed at $2 of $1 ($why); {on_error}: {outcome}; check: vmguard hook status"
command -v logger >/dev/null 2>&1 && logger -t vmguard-gate -- "$msg"
printf '%s\\n' "$msg" >&2
exit {exit}
"""
# vmguard itself, started for each call: needs nothing running, costs its start-up time.
DIRECT = """out=$(timeout -s KILL {timeout:g} {python} -m vmguard hook run --inventory {inventory_q} \\
      --connection {connection_q} "$@" 2>&1)
rc=$?"""
# `vmguard hook serve` answers on a socket: the hook costs a socat, not a Python start-up.
# Only root may have put the socket there: its directory is checked before each connect
# (owner root, no group/other write), else an impostor could answer "0 allowed".
SERVED = """dirstate=$(stat -c '%u %a' -- {sockdir_q} 2>&1)
case "$dirstate" in
  "0 "*[2367]?|"0 "*[2367]) rc=3; out="socket directory {sockdir_q} is group/other-writable ($dirstate)" ;;
  "0 "*) out=$({{ printf '%s\\n%s\\n%s %s %s\\n' {inventory_q} {connection_q} "$2" "$3" "$1"; cat; }} | \\
      timeout -s KILL {timeout:g} socat -t {timeout:g} - UNIX-CONNECT:{server_q} 2>&1); rc=$? ;;
  *) rc=3; out="socket directory {sockdir_q} is not root's ($dirstate)" ;;
esac
if [ "$rc" -eq 0 ]; then
  case "$out" in
    [013]" "*) rc=${{out%% *}}; out=${{out#* }} ;;
    *) rc=3; out="no answer from {server_q}: $out" ;;
  esac
fi"""
_SETTINGS = re.compile(
    r"^# inventory=(\S+) connection=(\S+) on_error=(\S+) timeout=(\S+) server=(\S+)$", re.M
)


@dataclass(frozen=True)
class InstalledHook:
    path: Path
    inventory: str
    connection: str
    on_error: str
    timeout: str
    server: str  # "-": vmguard runs for each call


@dataclass(frozen=True)
class RemovedHook:
    path: Path
    removed: bool  # False: no vmguard hook was there


def hook_path(hooks_dir: Path = HOOKS_DIR) -> Path:
    return hooks_dir / "qemu.d" / "vmguard"


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def script(inventory: Inventory, connection: str, server: str = "") -> str:
    """The hook file; server: the socket of `vmguard hook serve` ("" runs vmguard itself)."""
    gate, source = inventory.gate, os.path.abspath(inventory.source)
    env = "".join(f"export {k}={shlex.quote(os.environ[k])}\n" for k in CARRIED_ENV if k in os.environ)
    env += f"export PYTHONPATH={shlex.quote(_package_root())}\n"
    open_ = gate.on_error is OnError.FAIL_OPEN
    values = {
        "timeout": gate.timeout,
        "python": shlex.quote(sys.executable),
        "inventory_q": shlex.quote(source),
        "connection_q": shlex.quote(connection),
        "server_q": shlex.quote(server),
        "sockdir_q": shlex.quote(os.path.dirname(os.path.abspath(server))) if server else "",
    }
    return SCRIPT.format(
        mark=MARK,
        inventory=source.replace(" ", "%20"),
        connection=connection,
        on_error=gate.on_error.value,
        server=server.replace(" ", "%20") or "-",
        env=env,
        call=(SERVED if server else DIRECT).format(**values),
        refused_q=shlex.quote(REFUSED),
        outcome="the VM may start" if open_ else "refused",
        exit=0 if open_ else 1,
        **values,
    )


def _unsafe(folder: Path, *, last: bool) -> str:
    """Why one directory of the chain could let a non-root user place or swap the socket.
    A sticky root directory (/tmp) above the last one is safe: only root renames root's."""
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode):
        return f"{folder} is not a directory (a symlink?)"
    if info.st_uid != 0:
        return f"{folder} is owned by uid {info.st_uid}, not root"
    sticky_ok = not last and info.st_mode & stat.S_ISVTX
    return f"{folder} is group/other-writable" if info.st_mode & 0o022 and not sticky_ok else ""


def unsafe_socket_dir(socket_path: Path) -> str:
    """Why the socket's directory chain is not root's alone ("" when it is); directories
    not there yet are made by `hook serve`, root-only."""
    folder = socket_path.parent
    existing = [d for d in (folder, *folder.parents) if os.path.lexists(d)]
    for index, directory in enumerate(existing):
        problem = _unsafe(directory, last=index == 0 and directory == folder)
        if problem:
            return problem
    return ""


def pick_connection(inventory: Inventory, name: str | None) -> str:
    libvirts = [c.name for c in inventory.connections if c.driver is DriverKind.LIBVIRT]
    if name is None and len(libvirts) == 1:
        return libvirts[0]
    if name in libvirts:
        return name
    known = ", ".join(libvirts) or "none"
    raise GateError(
        f"name the inventory's libvirt connection this host serves with --connection (known: {known})"
    )


def _ours(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    return MARK in path.read_text(errors="replace")[:200]


def install(
    inventory: Inventory,
    connection: str | None,
    hooks_dir: Path = HOOKS_DIR,
    server: str = "",
    *,
    events: log.EventLog,
) -> InstalledHook:
    """Write the hook file atomically; a file there that is not vmguard's is left alone.
    Returns its settings read back from it, as `hook status` reads them."""
    conn = pick_connection(inventory, connection)
    if server and not shutil.which("socat"):
        raise GateError("socat is needed to reach `vmguard hook serve` (apt-get install socat)")
    if server and (problem := unsafe_socket_dir(Path(os.path.abspath(server)))):
        raise GateError(f"--server {server}: {problem}; whoever can write there can answer for the gate")
    path = hook_path(hooks_dir)
    if (path.exists() or path.is_symlink()) and not _ours(path):
        raise GateError(f"{path} exists and is not vmguard's hook: not replaced")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GateError(f"cannot create {path.parent}: {err.strerror}") from err
    write_atomic(path, script(inventory, conn, server).encode(), 0o755, GateError)
    events.append("gate", action="hook-install", hook=str(path), inventory=inventory.source, connection=conn)
    if (found := installed(hooks_dir)) is None:  # replaced under us since it was written
        raise GateError(f"{path} is not vmguard's hook right after writing it")
    return found


def remove(hooks_dir: Path = HOOKS_DIR, *, events: log.EventLog) -> RemovedHook:
    path = hook_path(hooks_dir)
    if not (path.exists() or path.is_symlink()):
        return RemovedHook(path, removed=False)
    if not _ours(path):
        raise GateError(f"{path} is not vmguard's hook: not removed")
    path.unlink()
    events.append("gate", action="hook-remove", hook=str(path))
    return RemovedHook(path, removed=True)


def installed(hooks_dir: Path = HOOKS_DIR) -> InstalledHook | None:
    path = hook_path(hooks_dir)
    if not _ours(path):
        return None
    found = _SETTINGS.search(path.read_text(errors="replace"))
    if found is None:
        raise GateError(f"{path} is vmguard's hook but unreadable: run vmguard hook install again")
    inventory, connection, on_error, timeout, server = found.groups()
    return InstalledHook(
        path, inventory.replace("%20", " "), connection, on_error, timeout, server.replace("%20", " ")
    )


def answers(socket_path: str) -> bool:
    """Whether something listens on the socket of `vmguard hook serve` (connect only)."""
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        try:
            sock.connect(socket_path)
        except OSError:
            return False
    return True


def unready(inventory: Inventory, connections: Iterable[str], hooks_dir: Path = HOOKS_DIR) -> str:
    """Why the hook would not add a VM's firewall entries when libvirt starts one of
    `connections`' VMs ("" when it would), with the command that fixes it."""
    found = installed(hooks_dir)
    fix = f"run `vmguard hook install --inventory {inventory.source}`, then restart libvirtd"
    if found is None:
        return f"the libvirt start hook is not installed ({hook_path(hooks_dir)}): {fix}"
    if os.path.realpath(found.inventory) != os.path.realpath(inventory.source):
        return f"the libvirt start hook {found.path} reads inventory {found.inventory}: {fix}"
    if found.connection not in set(connections):
        return f"the libvirt start hook {found.path} serves connection {found.connection}: {fix}"
    if found.server != "-" and not answers(found.server):
        return f"`vmguard hook serve` does not answer on {found.server}: start it (vmguard-gate.service)"
    return ""


def stale(found: InstalledHook, inventory: Inventory) -> list[str]:
    """What the inventory's gate settings say now that the installed hook does not."""
    now = {"on_error": inventory.gate.on_error.value, "timeout": f"{inventory.gate.timeout:g}"}
    was = {"on_error": found.on_error, "timeout": found.timeout}
    return [f"{k}: hook has {was[k]}, inventory says {now[k]}" for k in now if now[k] != was[k]]
