"""Online facts of a running guest through the QEMU guest agent (libvirt qemuAgentCommand).

The agent runs inside the guest, so every answer is untrusted: each reply is size
limited, parsed strictly (no NaN, bounded nesting, exact types), each call has a
timeout and the whole read a deadline. We only read (guest-get-users and
guest-file-open/read/close of /proc/net/*); no program is started in the guest.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import json
import re
import time
from typing import Any, Protocol

from vmguard.guest.model import GuestSource, ListeningSocket, LoggedInUser, OnlineFacts

MAX_REPLY = 1024 * 1024  # one agent answer (JSON text)
MAX_FILE = 4 * 1024 * 1024  # one /proc/net file; 64 k sockets is about 10 MiB: far beyond a VM's
READ_CHUNK = 48 * 1024  # base64 of this stays well under MAX_REPLY
MAX_USERS = 1000
CALL_TIMEOUT = 5  # seconds per agent call
DEADLINE = 30.0  # seconds for all of a VM's online facts
NET_FILES = ("tcp", "tcp6", "udp", "udp6")
_USER = re.compile(r"[A-Za-z0-9_.@$\\-]{1,256}")
_SOCKET_LINE = re.compile(
    r"\s*\d+:\s+([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})\s+[0-9A-Fa-f]+:[0-9A-Fa-f]{4}\s+([0-9A-Fa-f]{2})\s"
)
LISTEN_STATES = {"tcp": "0A", "udp": "07"}  # TCP_LISTEN; TCP_CLOSE = unconnected UDP socket


class AgentError(Exception):
    """One agent call failed, timed out or answered something unacceptable."""


class AgentTransport(Protocol):
    def command(self, request: str, timeout: int) -> str:
        """Send one JSON command, return the agent's raw JSON reply."""


class LibvirtAgent:
    """The agent of a libvirt domain, reached through libvirtd's agent channel."""

    def __init__(self, domain) -> None:  # domain: libvirt.virDomain
        self._domain = domain

    def command(self, request: str, timeout: int) -> str:
        import libvirt
        import libvirt_qemu

        try:
            return libvirt_qemu.qemuAgentCommand(self._domain, request, timeout, 0)
        except libvirt.libvirtError as err:
            raise AgentError(str(err)) from err


class AgentSession:
    """Calls to one agent within one deadline."""

    def __init__(self, transport: AgentTransport, deadline: float = DEADLINE) -> None:
        self._transport = transport
        self._end = time.monotonic() + deadline

    def call(self, execute: str, arguments: dict[str, Any] | None = None) -> Any:
        left = self._end - time.monotonic()
        if left <= 0:
            raise AgentError(f"{execute}: the deadline for this guest's agent has passed")
        request = {"execute": execute, **({"arguments": arguments} if arguments else {})}
        reply = self._transport.command(json.dumps(request), max(1, min(CALL_TIMEOUT, int(left))))
        return parse_reply(execute, reply)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_reply(execute: str, reply: object) -> Any:
    """The "return" value of one reply; AgentError for anything else."""
    if not isinstance(reply, str) or len(reply) > MAX_REPLY:
        raise AgentError(f"{execute}: reply is not text or is over {MAX_REPLY} bytes")
    try:
        data = json.loads(reply, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise AgentError(f"{execute}: malformed reply ({str(err)[:80]})") from None
    if not isinstance(data, dict) or "return" not in data:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        desc = error.get("desc", "no return value") if isinstance(error, dict) else "no return value"
        raise AgentError(f"{execute}: {str(desc)[:200]}")
    return data["return"]


def read_online(transport: AgentTransport, deadline: float = DEADLINE) -> OnlineFacts:
    """Logged-in users and listening sockets; each failure becomes a problem, not a crash."""
    session, problems = AgentSession(transport, deadline), []
    users: list[LoggedInUser] = []
    sockets: list[ListeningSocket] = []
    try:
        users = logged_in_users(session)
    except AgentError as err:
        problems.append(str(err))
    for name in NET_FILES:
        try:
            text = read_file(session, f"/proc/net/{name}")
        except AgentError as err:
            problems.append(str(err))
            continue
        found, bad = parse_proc_net(text, name)
        sockets += found
        problems += [f"/proc/net/{name}: {bad} malformed lines"] if bad else []
    return OnlineFacts(tuple(users), tuple(sockets), tuple(problems))


def logged_in_users(session: AgentSession) -> list[LoggedInUser]:
    answer = session.call("guest-get-users")
    if not isinstance(answer, list) or len(answer) > MAX_USERS:
        raise AgentError(f"guest-get-users: not a list of at most {MAX_USERS} users")
    source = GuestSource("guest agent guest-get-users")
    names = []
    for entry in answer:
        name = entry.get("user") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not _USER.fullmatch(name):
            raise AgentError(f"guest-get-users: bad user entry {str(entry)[:80]!r}")
        names.append(name)
    return [LoggedInUser(n, source) for n in sorted(set(names))]


def read_file(session: AgentSession, path: str) -> str:
    handle = session.call("guest-file-open", {"path": path, "mode": "r"})
    if not isinstance(handle, int) or isinstance(handle, bool):
        raise AgentError(f"guest-file-open {path}: the handle is not an integer")
    try:
        return _read_chunks(session, handle, path).decode("ascii", errors="replace")
    finally:
        # The read's own error (or its data) matters more than a failed close.
        with contextlib.suppress(AgentError):
            session.call("guest-file-close", {"handle": handle})


def _read_chunks(session: AgentSession, handle: int, path: str) -> bytes:
    data = b""
    while len(data) <= MAX_FILE:
        answer = session.call("guest-file-read", {"handle": handle, "count": READ_CHUNK})
        chunk, eof = _chunk(answer, path)
        data += chunk
        if eof or not chunk:
            return data
    raise AgentError(f"{path}: over {MAX_FILE} bytes")


def _chunk(answer: Any, path: str) -> tuple[bytes, bool]:
    if not isinstance(answer, dict) or not isinstance(answer.get("buf-b64"), str):
        raise AgentError(f"guest-file-read {path}: no buf-b64 in the answer")
    try:
        chunk = base64.b64decode(answer["buf-b64"], validate=True)
    except (binascii.Error, ValueError):
        raise AgentError(f"guest-file-read {path}: buf-b64 is not base64") from None
    if answer.get("count") != len(chunk) or len(chunk) > READ_CHUNK:
        raise AgentError(f"guest-file-read {path}: count does not match the data")
    return chunk, answer.get("eof") is True


def parse_proc_net(text: str, name: str) -> tuple[list[ListeningSocket], int]:
    """Listening sockets of one /proc/net file, and the number of malformed lines."""
    sockets, bad = [], 0
    source = GuestSource("guest agent guest-file-read", f"/proc/net/{name}")
    for line in text.splitlines()[1:]:  # the first line is the column header
        found = _SOCKET_LINE.match(line)
        if not found:
            bad += 1 if line.strip() else 0
            continue
        address, port, state = found.groups()
        if state.upper() == LISTEN_STATES[name.rstrip("6")]:
            sockets.append(ListeningSocket(name, _address(address), int(port, 16), source))
    return sockets, bad


def _address(hex_address: str) -> str:
    """/proc/net prints each 32-bit word in the guest's byte order (little-endian x86)."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))
