"""The real qemu:///system libvirtd that the shared fixtures hand out."""

from __future__ import annotations

import subprocess
from pathlib import Path

import libvirt

LIBVIRTD_SH = Path(__file__).parents[1] / "support" / "libvirtd.sh"


def test_qemu_system_answers(libvirt_conn):
    assert libvirt_conn.getURI() == "qemu:///system"
    assert libvirt_conn.getLibVersion() >= 9_000_000
    caps = libvirt_conn.getCapabilities()
    assert "<domain type='qemu'" in caps  # TCG is what the test guests use


def test_libvirtd_sh_is_idempotent_when_running(libvirt_uri):
    proc = subprocess.run(["bash", str(LIBVIRTD_SH)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "starting" not in proc.stderr  # already up: it must not start a second one


def test_no_libvirt_network_reaches_the_real_network(libvirt_conn):
    # libvirt-daemon-system's NAT'd 'default' network must not run. A test may define
    # a NAT network to audit it, but never start one: that would make a bridge and NAT.
    active = libvirt_conn.listAllNetworks(libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE)
    forwarding = [net.name() for net in active if "<forward" in net.XMLDesc(0)]
    assert forwarding == []
