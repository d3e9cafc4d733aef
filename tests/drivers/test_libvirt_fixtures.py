"""The libvirt facts parser on every real domain XML fixture (offline: no networks known)."""

from __future__ import annotations

import pytest

from tests.drivers.conftest import FIXTURES
from vmguard.drivers import safexml
from vmguard.drivers.libvirt.facts import facts_from_xml
from vmguard.facts.vm import Attachment

LIBVIRT = FIXTURES / "libvirt"
REAL = sorted(p for p in LIBVIRT.glob("*__*.xml"))


def _facts(stem: str):
    path = LIBVIRT / f"{stem}.xml"
    return facts_from_xml(safexml.parse(path.read_bytes(), str(path)), lookup=lambda _n: None, file=str(path))


def test_every_fixture_parses() -> None:
    assert len(REAL) == 12
    for path in REAL:
        facts = facts_from_xml(
            safexml.parse(path.read_bytes(), str(path)), lookup=lambda _n: None, file=str(path)
        )
        assert facts.name and facts.clipboard.source.where


# stem -> (clipboard, file transfer, usb redirections, audio model, serial modes)
EXPECTED = {
    "Fmstrat__winapps__RDPWindows": ("bidirectional", "host-to-guest", 2, "ich9", ["pty"]),
    "Kicksecure__libvirt-dist__Kicksecure": ("disabled", "disabled", 0, "ich9", ["pty"]),
    "Kicksecure__libvirt-dist__Hardened-Debian": ("disabled", "disabled", 0, "ich6", ["pty"]),
    "SoloSaravanan__vm_templates__Whonix-Gateway": ("bidirectional", "disabled", 0, "", ["pty"]),
    "kpcyrd__jenkins-debian__default": ("bidirectional", "host-to-guest", 0, "ich6", ["tcp"]),
    "bnunowo__qemu_xmls__Gaming": ("disabled", "disabled", 2, "", []),
}


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_hand_written_facts(stem: str) -> None:
    clip, dnd, redirs, audio, serial = EXPECTED[stem]
    facts = _facts(stem)
    assert facts.clipboard.value.value == clip
    assert facts.drag_and_drop.value.value == dnd
    assert facts.usb.redirections == redirs
    assert facts.audio.driver == audio
    assert [p.mode for p in facts.ports if p.kind == "serial"] == serial


def test_shares_passthrough_and_nics() -> None:
    kali = _facts("SoloSaravanan__vm_templates__KaliLinux")
    share = kali.shared_folders[0]
    assert (share.name, share.host_path, share.read_only) == (
        "/share",
        "/media/applications/ISO/VM_Share",
        False,
    )
    assert kali.displays[0].listen == "none"  # <listen type='none'/>: no TCP listener
    win = _facts("jack-karamanian__vms__win10q35")
    assert [(n.attachment, n.network) for n in win.nics] == [(Attachment.BRIDGED, "enp4s0")]
    assert ("usb", "0x045e:0x028e") in [(h.kind, h.address) for h in win.host_devices]
    assert ("pci", "0000:01:00.0") in [(h.kind, h.address) for h in win.host_devices]
    user = _facts("Kicksecure__libvirt-dist__Kicksecure")
    assert [n.attachment for n in user.nics] == [Attachment.USER]


def test_templates_parse_and_name_their_placeholders() -> None:
    coreos = _facts("L3n41c__kubernetes-coreos-libvirt__coreos")
    assert coreos.name == "%NAME%"
    assert [(s.name, s.read_only) for s in coreos.shared_folders] == [
        ("config-2", True),
        ("kubernetes", True),
    ]
    assert any("'%CONFIG%'" in u for u in coreos.unknown)
    koishi = _facts("KoishiMoe__kvm-conf__vm")
    assert any("'CHANGEME'" in u for u in koishi.unknown)
    assert any("<shmem>" in u for u in koishi.unknown)  # ivshmem: host memory shared in
