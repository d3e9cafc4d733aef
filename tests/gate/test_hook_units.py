"""The hook's parts without libvirtd: the stdin XML and network files, the server's
socket and protocol, the verdict's wording."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from vmguard.core.errors import DriverError, GateError
from vmguard.core.eventlog import EventLog
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
        server.Server(folder / "gate.sock", EventLog(tmp_path / "events.jsonl", syslog=None))


def test_the_server_does_not_replace_a_file_that_is_not_a_socket(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    (folder / "gate.sock").write_text("precious")
    with pytest.raises(GateError, match="not a socket"):
        server.Server(folder / "gate.sock", EventLog(tmp_path / "events.jsonl", syslog=None))
    assert (folder / "gate.sock").read_text() == "precious"


def test_server_answers_each_request_with_one_line(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    srv = server.Server(folder / "gate.sock", EventLog(tmp_path / "events.jsonl", syslog=None))
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


DOMAIN = """<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64'>hvm</type></os><devices>{devices}</devices></domain>"""
CLIPBOARD = (
    "<graphics type='spice' passwd='s3cret'><listen type='address' address='127.0.0.1'/>"
    "<filetransfer enable='no'/></graphics>"
    "<channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>"
)


def _verdict(tmp_path, enforcement: str, waivers: str = ""):
    from vmguard.gate.decide import context, decide
    from vmguard.inventory.loader import load_inventory

    (tmp_path / "p.yaml").write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n"
        f"  network: {{mode: none}}\n  devices: {{clipboard: disabled, remote_display: localhost}}\n"
        f"  enforcement: {enforcement}\n{waivers}"
    )
    (tmp_path / "inv.yaml").write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nconnections:\n"
        "  - {name: kvm, driver: libvirt, uri: 'qemu:///system'}\nvms:\n"
        "  - {name: vm1, connection: kvm, policy: p.yaml}\n"
    )
    inventory = load_inventory(tmp_path / "inv.yaml")
    facts = facts_from_stdin(DOMAIN.format(name="vm1", devices=CLIPBOARD).encode(), None, PowerState.OFF)
    return decide(context(), inventory, "kvm", facts)


def test_a_high_finding_refuses_at_block_at_high(tmp_path):
    verdict = _verdict(tmp_path, "{block_at: high}")
    assert not verdict.allowed and "VMG-DEV-001" in verdict.reason
    assert verdict.reason.endswith(f"fix: vmguard apply --inventory {tmp_path / 'inv.yaml'} --vm vm1")


def test_block_at_critical_lets_a_high_finding_start(tmp_path):
    assert _verdict(tmp_path, "{block_at: critical}").allowed


def test_a_waived_finding_does_not_refuse(tmp_path):
    waiver = (
        "  waivers:\n    - {rule: VMG-DEV-001, vm: vm1, justification: legacy viewer, owner: alice, "
        "expires: 2099-01-01}\n"
    )
    assert _verdict(tmp_path, "{block_at: high}", waiver).allowed


@pytest.mark.parametrize(
    "name, saved, has_password",
    [
        ("vm1", "<graphics type='spice' passwd='x'/>", True),
        ("vm1", "<graphics type='vnc' passwd='x'/>", False),  # another display: not taken
        ("vm1", "<graphics type='spice'/>", False),
        ("../vm1", "<graphics type='spice' passwd='x'/>", False),  # not a file of that folder
    ],
)
def test_display_passwords_come_only_from_the_domains_own_saved_definition(
    tmp_path, name, saved, has_password
):
    folder = tmp_path / "qemu"
    folder.mkdir()
    (folder / "vm1.xml").write_text(DOMAIN.format(name="vm1", devices=saved))
    (tmp_path / "vm1.xml").write_text(
        DOMAIN.format(name="vm1", devices="<graphics type='spice' passwd='x'/>")
    )
    stdin = DOMAIN.format(name=name, devices="<graphics type='spice'/>").encode()
    facts = facts_from_stdin(stdin, None, PowerState.OFF, domains=folder)
    assert facts.displays[0].authenticated is has_password
