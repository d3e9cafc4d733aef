"""QEMU passthrough in a libvirt domain is a fact whatever its namespace prefix; a
look-alike element outside the QEMU namespace is not (control)."""

from __future__ import annotations

from vmguard.drivers import safexml
from vmguard.drivers.libvirt.facts import facts_from_xml

NS = "http://libvirt.org/schemas/domain/qemu/1.0"


def _facts(body: str, prefix: str = "qemu"):
    xml = f"<domain type='qemu' xmlns:{prefix}='{NS}'><name>p</name><devices/>{body}</domain>"
    return facts_from_xml(safexml.parse(xml.encode(), "p.xml"), lookup=lambda _n: None, file="p.xml")


def test_commandline_nic_is_a_passthrough_fact() -> None:
    body = "<x:commandline><x:arg value='-netdev'/><x:arg value='user,id=n0'/></x:commandline>"
    (found,) = _facts(body, prefix="x").passthrough
    assert (found.kind, found.detail) == ("commandline", "-netdev user,id=n0")
    assert found.source.file == "p.xml" and found.source.line == 1
    assert _facts(body, prefix="x").nics == ()  # the NIC the other rules cannot see


def test_override_and_capabilities_are_passthrough_too() -> None:
    body = (
        "<qemu:override><qemu:device alias='net0'><qemu:frontend>"
        "<qemu:property name='romfile' type='string' value='/x'/></qemu:frontend></qemu:device></qemu:override>"
        "<qemu:capabilities><qemu:add capability='blockdev'/></qemu:capabilities>"
    )
    kinds = [p.kind for p in _facts(body).passthrough]
    assert kinds == ["override", "capabilities"]


def test_control_same_names_in_another_namespace_are_not_passthrough() -> None:
    xml = (
        "<domain type='qemu' xmlns:qemu='urn:other'><name>p</name><devices/>"
        "<metadata><qemu:commandline><qemu:arg value='-x'/></qemu:commandline></metadata></domain>"
    )
    facts = facts_from_xml(safexml.parse(xml.encode(), "p.xml"), lookup=lambda _n: None)
    assert facts.passthrough == ()
    assert _facts("").passthrough == ()
