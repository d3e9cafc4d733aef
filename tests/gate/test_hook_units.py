"""The hook's parts without libvirtd: the stdin XML and network files, the server's
socket and protocol, the verdict's wording."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from vmguard.core.errors import DriverError, GateError
from vmguard.facts.vm import Attachment, PowerState
from vmguard.gate import server
from vmguard.gate.domainxml import facts_from_stdin, network_from_disk

ISOLATED = "<network><name>iso</name><bridge name='virbr9'/></network>"
NATTED = "<network><name>nat</name><forward mode='nat'/></network>"


@pytest.fixture
def nets(tmp_path):
    folder = tmp_path / "networks"
    folder.mkdir()
    (folder / "iso.xml").write_text(ISOLATED)
    (folder / "nat.xml").write_text(NATTED)
    (tmp_path / "outside.xml").write_text(ISOLATED)
    return (folder,)


def test_network_kinds_come_from_their_definition_files(nets):
    assert network_from_disk("iso", nets) is Attachment.HOST_ONLY
    assert network_from_disk("nat", nets) is Attachment.NAT
    assert network_from_disk("missing", nets) is None


@pytest.mark.parametrize("name", ["../outside", "/etc/passwd", ".hidden", ""])
def test_a_network_name_cannot_reach_outside_the_network_folders(nets, name):
    assert network_from_disk(name, nets) is None  # control: "iso" above is found


@pytest.mark.parametrize(
    "data, why",
    [
        (b"<network/>", "not a <domain>"),
        (b"<domain><name>x", "not well-formed"),
        (b'<!DOCTYPE d [<!ENTITY e "x">]><domain><name>&e;</name></domain>', "DOCTYPE"),
        (b"<domain>" + b" " * (5 << 20) + b"</domain>", "over"),
    ],
)
def test_hostile_stdin_is_refused_not_parsed(data, why):
    with pytest.raises(DriverError, match=why):
        facts_from_stdin(data, None, PowerState.OFF)


@pytest.mark.parametrize("mode", [0o770, 0o707])
def test_the_server_refuses_a_socket_folder_others_can_use(tmp_path, mode):
    folder = tmp_path / "run"
    folder.mkdir()
    folder.chmod(mode)
    with pytest.raises(GateError, match="only its owner"):
        server.Server(folder / "gate.sock")


def test_the_server_does_not_replace_a_file_that_is_not_a_socket(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    (folder / "gate.sock").write_text("precious")
    with pytest.raises(GateError, match="not a socket"):
        server.Server(folder / "gate.sock")
    assert (folder / "gate.sock").read_text() == "precious"


def test_server_answers_each_request_with_one_line(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    srv = server.Server(folder / "gate.sock")
    assert oct(os.stat(folder / "gate.sock").st_mode & 0o777) == "0o600"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        for request, start in (
            (b"garbage", "3 vmguard: malformed request"),
            (f"{tmp_path}/none.yaml\nlab\nprepare begin vm\n<domain/>".encode(), "3 vmguard: "),
        ):
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(folder / "gate.sock"))
                client.sendall(request)
                client.shutdown(socket.SHUT_WR)
                reply = client.recv(65536).decode()
            assert reply.startswith(start) and reply.count("\n") == 1
    finally:
        srv.shutdown()
        srv.server_close()
