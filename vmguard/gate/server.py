"""`vmguard hook serve`: the start gate's answers from a warm process.

Started for each hook call, vmguard pays Python's start-up and its imports (seconds on a
busy host) three times per VM start. Served, the hook file only pipes its arguments and
the domain XML through socat to this process, which keeps the modules loaded and each
inventory parsed until one of its files changes.

Protocol, one request per connection: the inventory path, the connection name and
"OPERATION SUBOP VM" on three lines, then the domain XML up to EOF; the answer is one
line, "CODE TEXT": 0 go on, 1 refused (TEXT is the refusal), 3 vmguard broke.
The socket is root's only (0600 in a 0700 directory): whoever may ask can also make the
firewall follow a VM, as libvirtd does through the hook.
"""

from __future__ import annotations

import os
import socketserver
import stat
import threading
from pathlib import Path

from vmguard.core.errors import GateError, VmguardError
from vmguard.core.eventlog import EventLog
from vmguard.gate import hook
from vmguard.gate.decide import context
from vmguard.inventory.loader import load_inventory
from vmguard.inventory.model import Inventory

MAX_REQUEST = 4 << 20


class InventoryCache:
    """Each inventory parsed once, again when it or a policy file it uses changed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded: dict[str, tuple[tuple, Inventory]] = {}

    @staticmethod
    def _stamp(paths: set[str]) -> tuple:
        """ctime too: a writer can set mtime back (cp -p, rsync -t, os.utime) and keep the
        size, but every write or utime moves ctime to now, which no one but the clock sets."""
        stats = ((p, os.stat(p)) for p in sorted(paths))
        return tuple((p, s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns) for p, s in stats)

    @staticmethod
    def _files(inventory: Inventory) -> set[str]:
        files = {inventory.source}
        for policy in inventory.policies:
            files |= {policy.source} | {o.rsplit(":", 2)[0] for o in policy.origins.values()}
        return files

    def get(self, path: str) -> Inventory:
        """Loaded outside the lock: one inventory that hangs (a FIFO, a dead NFS mount)
        must not hold up the answers for the others."""
        with self.lock:
            cached = self.loaded.get(path)
        try:
            if cached is not None and self._stamp(self._files(cached[1])) == cached[0]:
                return cached[1]
        except OSError:
            pass  # a file went away: load again, and say what is wrong
        inventory = load_inventory(path)
        stamp = self._stamp(self._files(inventory))
        with self.lock:
            self.loaded[path] = (stamp, inventory)
        return inventory


def _read(sock) -> bytes:
    chunks, size = [], 0
    while chunk := sock.recv(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REQUEST:
            raise GateError("request too large")
    return b"".join(chunks)


def answer(cache: InventoryCache, request: bytes, events: EventLog) -> str:
    """The reply line for one request; never raises for vmguard's own errors."""
    try:
        head = request.split(b"\n", 3)
        if len(head) < 4:
            raise GateError("malformed request")
        inventory_path, connection, call = (part.decode() for part in head[:3])
        operation, sub, vm = call.split(" ", 2)
        got = hook.run(
            cache.get(inventory_path), connection, hook.HookCall(vm, operation, sub), head[3], events
        )
    except (VmguardError, ValueError, OSError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"3 vmguard: {first}"
    return f"{got.code} {got.line or 'ok'}"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            request = _read(self.request)
        except GateError as err:
            self.request.sendall(f"3 vmguard: {err}\n".encode())
            return
        self.request.sendall((answer(self.server.cache, request, self.server.events) + "\n").encode())  # type: ignore[attr-defined]


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, events: EventLog) -> None:
        _prepare(path)
        self.cache = InventoryCache()
        self.events = events  # the serving process's one log, for every request
        super().__init__(str(path), _Handler)
        os.chmod(path, 0o600)


def _prepare(path: Path) -> None:
    """A root-only directory; a stale socket of ours removed, anything else refused."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = path.parent.lstat()
    if not stat.S_ISDIR(folder.st_mode) or folder.st_uid != os.geteuid() or folder.st_mode & 0o077:
        raise GateError(f"{path.parent} must be a directory only its owner ({os.geteuid()}) can use")
    if path.is_symlink() or (path.exists() and not stat.S_ISSOCK(path.lstat().st_mode)):
        raise GateError(f"{path} exists and is not a socket: not replaced")
    path.unlink(missing_ok=True)


def serve(path: Path, events: EventLog) -> None:
    context()  # the rule catalog and checks loaded before the first VM waits on them
    with Server(path, events) as server:
        server.serve_forever()
