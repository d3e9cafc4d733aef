"""Shared pieces of the driver tests: a policy that forbids everything, test:/// URIs."""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

import pytest
from lxml import etree

from vmguard.facts.vm import HostOnly, HostOnlyKind
from vmguard.policy.model import (
    Access,
    DevicesPolicy,
    Metadata,
    NetworkMode,
    NetworkPolicy,
    Policy,
    SharedFoldersPolicy,
    ShareRule,
    Toggle,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
TESTNODE = FIXTURES / "libvirt" / "testnode.xml"


def batch_policy(input_path: str = "/srv/vmdata/input", **devices: object) -> Policy:
    """Host-only network, one read-only input share, every device off but the agent."""
    return Policy(
        metadata=Metadata("batch"),
        source="policy/batch.yaml",
        network=NetworkPolicy(mode=NetworkMode.HOST_ONLY),
        shared_folders=SharedFoldersPolicy(
            allow=(ShareRule("input", input_path, Access.READ_ONLY),),
            forbid_host_paths=("/home",),
        ),
        devices=DevicesPolicy(host_devices=Toggle.DISABLED, **devices),
        origins={"spec.devices.clipboard": "policy/batch.yaml:12:16"},
    )


ISOLATED = HostOnly(HostOnlyKind.NETWORK, "isolated")  # testnode.xml's network without <forward>


def no_network(policy: Policy) -> Policy:
    """The policy with `network.mode: none`: every NIC is detached (not moved)."""
    return dataclasses.replace(policy, network=dataclasses.replace(policy.network, mode=NetworkMode.NONE))


@pytest.fixture
def log_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("VMGUARD_LOG", str(path))
    monkeypatch.setenv("VMGUARD_STATE_DIR", str(tmp_path / "state"))
    return path


@pytest.fixture
def testnode_uri() -> str:
    """A fresh test-driver host per open: every connection starts from the file."""
    return f"test://{TESTNODE}"


# Devices a batch policy forbids, for domains defined on the real daemon (never booted
# like this: vmguard applies the policy first). The NIC sits on a defined-only network.
FORBIDDEN_NICS = """
    <interface type='network'><source network='{nat}'/><model type='virtio'/></interface>
    <interface type='user'><model type='e1000'/></interface>
"""
FORBIDDEN = """
    <filesystem type='mount' accessmode='passthrough'>
      <source dir='/home'/><target dir='home'/>
    </filesystem>
    <graphics type='spice' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
    <redirdev bus='usb' type='spicevmc'/>
    <input type='tablet' bus='usb'/>
    <sound model='ich6'/>
"""


@pytest.fixture
def nat_network(libvirt_conn):
    """A NAT network, defined only and only for one test: a NIC on it is NAT; it is never
    started, so no bridge and no NAT rule ever reach the host."""
    name = f"vmg-test-nat-{os.getpid()}-{secrets.token_hex(2)}"
    net = libvirt_conn.networkDefineXML(
        f"<network><name>{name}</name><forward mode='nat'/>"
        "<ip address='192.0.2.1' netmask='255.255.255.0'/></network>"
    )
    yield name
    if net.isActive():  # nothing of ours starts it; if something did, stop it first
        net.destroy()
    net.undefine()


def forbidden_xml(factory, nat: str | None) -> str:
    """The infra test domain's XML with every setting the batch policy forbids added
    (the NICs only with a NAT network to put one on)."""
    root = etree.fromstring(factory.xml().encode())
    devices = root.find("devices")
    for usb in devices.findall("controller[@type='usb']"):
        devices.remove(usb)
    etree.SubElement(devices, "controller", type="usb", index="0", model="qemu-xhci")
    nics = FORBIDDEN_NICS.format(nat=nat) if nat else ""
    for el in etree.fromstring(f"<d>{nics}{FORBIDDEN}</d>"):
        devices.append(el)
    return etree.tostring(root, encoding="unicode")
