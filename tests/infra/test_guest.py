"""The shared TCG guest boots, and its agent answers on the virtio-serial channel."""

from __future__ import annotations

import os
import subprocess
import time
import xml.etree.ElementTree as ET

import libvirt
import pytest

from tests.support.domains import NAME_PREFIX, GuestAgentTimeout, TcgDomainFactory, reap_stale
from tests.support.guest_image import CMDLINE, READY_MARK, build_guest_image


@pytest.fixture(scope="module")
def guest(tcg_domain_module):
    return tcg_domain_module.start()


def test_agent_answers_ping_and_info(guest):
    assert guest.agent("guest-ping") == {}
    info = guest.agent("guest-info")
    enabled = {c["name"] for c in info["supported_commands"] if c["enabled"]}
    assert {"guest-ping", "guest-info", "guest-exec", "guest-shutdown"} <= enabled


def test_guest_is_our_initramfs(guest):
    assert guest.agent("guest-get-osinfo")["id"] == "vmguard-test"
    assert guest.agent("guest-get-host-name")["host-name"] == "vmguard-guest"
    assert READY_MARK in guest.console_text()


def test_domain_is_tcg_without_network(guest):
    live = ET.fromstring(guest.dom.XMLDesc(0))  # noqa: S314 (libvirtd's own XML)
    assert live.get("type") == "qemu"
    assert live.find("./devices/interface") is None
    interfaces = guest.agent("guest-network-get-interfaces")
    assert [i["name"] for i in interfaces] == ["lo"]


def test_qemu_sees_no_network_device(guest):
    devices = [dev for bus in guest.qmp("query-pci") for dev in bus["devices"]]
    pci_classes = {dev["class_info"]["class"] >> 8 for dev in devices}
    assert 0x02 not in pci_classes  # PCI base class 02h: network controllers
    assert "virtio-serial0" in {dev.get("qdev_id") for dev in devices}  # the agent's
    assert guest.qmp("query-status")["status"] == "running"
    assert guest.qmp("query-kvm")["enabled"] is False  # TCG, as the machine requires


def test_exec_runs_a_program_in_the_guest(guest):
    result = guest.exec(["/bin/busybox", "uname", "-r"])
    assert result.exitcode == 0
    assert result.stdout.strip() == guest.agent("guest-get-osinfo")["kernel-release"]
    failed = guest.exec(["/bin/sh", "-c", "echo oops >&2; exit 3"])
    assert (failed.exitcode, failed.stderr) == (3, "oops\n")


def test_cleanup_undefines_a_defined_domain(libvirt_conn, guest_kernel_initrd):
    factory = TcgDomainFactory(libvirt_conn, guest_kernel_initrd)
    defined = factory.define()
    try:
        assert libvirt_conn.lookupByName(defined.name).isActive() == 0
    finally:
        factory.cleanup()
    with pytest.raises(libvirt.libvirtError):
        libvirt_conn.lookupByName(defined.name)


def test_wait_agent_fails_with_console_when_guest_never_comes_up(libvirt_conn, tcg_domain):
    # No such init: the kernel panics and no agent ever answers.
    xml = tcg_domain.xml().replace(CMDLINE, "console=ttyS0 rdinit=/no-such-init")
    made = tcg_domain.start(xml, wait_agent=False)
    with pytest.raises(GuestAgentTimeout, match="console tail") as raised:
        made.wait_agent(timeout=6)
    assert made.name in str(raised.value)
    tcg_domain.cleanup()  # a running domain is destroyed and undefined too
    with pytest.raises(libvirt.libvirtError):
        libvirt_conn.lookupByName(made.name)


def test_image_is_cached(guest_kernel_initrd):
    again = build_guest_image()
    assert again == guest_kernel_initrd
    assert again.initrd.stat().st_mode & 0o004  # libvirt-qemu must read it


def test_reap_stale_removes_only_domains_of_dead_runs(libvirt_conn, tcg_domain):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tcg_domain.define(name=f"{NAME_PREFIX}{dead.pid}-stale")
    live = tcg_domain.define()  # this process's own: must survive
    reaped = reap_stale(libvirt_conn)
    # A concurrent test run's own reaper may get to our stale domain first, so check
    # that it is gone and that everything reaped belonged to a dead run.
    assert live.name not in reaped
    for name in reaped:
        pid = int(name.removeprefix(NAME_PREFIX).split("-")[0])
        assert not os.path.exists(f"/proc/{pid}"), name
    assert libvirt_conn.lookupByName(live.name).name() == live.name
    with pytest.raises(libvirt.libvirtError):
        libvirt_conn.lookupByName(stale.name)


def test_agent_shutdown_powers_the_guest_off(tcg_domain):
    # qemu-ga's guest-shutdown runs /sbin/shutdown, which the image provides.
    made = tcg_domain.start()
    made.dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT)
    deadline = time.monotonic() + 60
    while made.dom.isActive() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not made.dom.isActive(), made.console_text()[-1000:]
