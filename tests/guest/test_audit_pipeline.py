"""The audit's path for a libvirt VM: driver facts -> guest inspection -> guest rules."""

from __future__ import annotations

import dataclasses

import pytest

from tests.guest.test_offline import POLICY
from vmguard.audit.checks import vm_checks
from vmguard.drivers.libvirt import LibvirtDriver
from vmguard.guest import inspect

pytestmark = [pytest.mark.root, pytest.mark.slow]
DISK_XML = """    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{path}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""


def test_libvirt_vm_disk_found_by_the_driver_and_inspected(tcg_domain, inspected, guest_cache):
    image = inspected["rpm"].image
    domain = tcg_domain.define(extra_devices=DISK_XML.format(path=image))  # defined, not started
    driver = LibvirtDriver("qemu:///system")
    try:
        facts = driver.read_facts(domain.name)
    finally:
        driver.close()
    assert [(d.path, d.format) for d in facts.disks] == [(str(image), "raw")]
    # Same image content as the session's inspection: answered from the cache.
    guest = inspect(facts, cache=guest_cache, scan_files=True, timeout=1)
    assert guest == inspected["rpm"].facts
    facts = dataclasses.replace(facts, guest=guest)
    found = [
        f
        for rule, check in vm_checks().items()
        if rule.startswith(("VMG-USR", "VMG-SW"))
        for f in check(POLICY, facts)
    ]
    assert {f.subject for f in found} == {domain.name}
    assert sorted({f.rule for f in found}) == [
        "VMG-SW-001",
        "VMG-SW-002",
        "VMG-SW-004",
        "VMG-SW-005",
        "VMG-USR-001",
        "VMG-USR-002",
    ]
