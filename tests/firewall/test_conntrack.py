"""Revoking an endpoint cuts the connections already open to it (both backends): the
replies rule would otherwise keep them working. A connection the new policy still
allows stays up (the control)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firewall.conftest import POLICIES, Firewall, make_firewall, write_policy
from tests.firewall.topology import Topology

pytestmark = pytest.mark.root
BACKENDS = ["nftables", "iptables"]
ECHO = """
import socket, threading
def serve(conn):
    with conn:
        while data := conn.recv(100):
            conn.sendall(data)
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", {port})); srv.listen(8); print("ready", flush=True)
while True:
    threading.Thread(target=serve, args=(srv.accept()[0],), daemon=True).start()
"""
CLIENT = """
import socket, sys
s = socket.create_connection(("{addr}", {port}), timeout=2)
for line in sys.stdin:
    try:
        s.sendall(line.encode()); print(s.recv(100).decode().strip() or "closed", flush=True)
    except OSError:
        print("cut", flush=True)
"""
ENDPOINTS = {"echo-a": 7001, "echo-b": 7002}


@pytest.fixture(params=BACKENDS)
def fw(request: pytest.FixtureRequest, topo: Topology, tmp_path: Path) -> Iterator[Firewall]:
    firewall = make_firewall(topo, tmp_path, request.param)
    servers = [
        topo.services.popen(sys.executable, "-c", ECHO.format(port=p), stdout=subprocess.PIPE)
        for p in ENDPOINTS.values()
    ]
    for server in servers:
        assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
    yield firewall
    firewall("remove")
    write_policy(firewall.inventory.parent, "vm1", POLICIES["vm1"])
    for server in servers:
        server.kill()
        server.wait()


def _policy(fw: Firewall, *names: str) -> None:
    extra = "".join(
        f"\n      - {{name: {n}, to: 10.80.0.20/32, ports: [{ENDPOINTS[n]}], protocol: tcp}}" for n in names
    )
    write_policy(fw.inventory.parent, "vm1", POLICIES["vm1"] + extra)


def _talk(client: subprocess.Popen[str], word: str) -> str:
    assert client.stdin is not None and client.stdout is not None
    client.stdin.write(word + "\n")
    client.stdin.flush()
    return client.stdout.readline().strip()


def test_revoking_an_endpoint_cuts_its_open_connections(fw: Firewall, topo: Topology) -> None:
    _policy(fw, "echo-a", "echo-b")
    fw("apply")
    clients = {
        n: topo.vms["vm1"].popen(
            sys.executable,
            "-c",
            CLIENT.format(addr="10.80.0.20", port=p),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n, p in ENDPOINTS.items()
    }
    try:
        assert {n: _talk(c, "one") for n, c in clients.items()} == dict.fromkeys(ENDPOINTS, "one")
        _policy(fw, "echo-a")  # echo-b revoked
        fw("apply")
        assert _talk(clients["echo-a"], "two") == "two", "control: still allowed, still up"
        assert _talk(clients["echo-b"], "two") == "cut"
    finally:
        for client in clients.values():
            client.kill()
            client.wait()
