"""The .vbox reader on every real fixture, with facts written out by hand for most."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.drivers.conftest import FIXTURES, batch_policy
from vmguard.core.errors import DriverError
from vmguard.drivers.vbox.file import VboxFileDriver, read_settings_file
from vmguard.enforce.plan import make_plan
from vmguard.facts.vm import PowerState

VBOX = FIXTURES / "vbox"
ALL = sorted(VBOX.glob("*.vbox"))

# file stem -> expected facts, read off the files by hand (see tests/fixtures/README.md).
# nics: enabled adapters as "slot=attachment(network)"; audio: (enabled, in, out).
EXPECTED = {
    "von__pyVBox__TestVM": dict(
        name="TestVM",
        version="1.11-macosx",
        nics=["0=nat"],
        clipboard="bidirectional",
        dnd="disabled",
        usb=("ohci",),
        audio=(True, True, True),
        shares=[],
        ports=[],
    ),
    "alexec__maven-vbox-plugin__WindowsServer2008": dict(
        name="WindowsServer2008",
        version="1.12-windows",
        nics=["0=nat"],
        clipboard="disabled",
        dnd="disabled",
        usb=("ohci", "ehci"),
        audio=(True, True, True),
        shares=[("target", True, True)],
        ports=[],
    ),
    "alexec__maven-vbox-plugin__UbuntuServer_12_10": dict(
        name="UbuntuServer_12_10",
        version="1.12-macosx",
        nics=["0=nat"],
        clipboard="disabled",
        dnd="disabled",
        usb=(),
        audio=(False, False, False),
        shares=[],
        ports=[],
    ),
    "bdaloukas__ubuntu__WinXP": dict(
        name="WinXP",
        version="1.15-linux",
        nics=["0=bridged(enp2s0)"],
        clipboard="disabled",
        dnd="disabled",
        usb=("ohci", "ehci"),
        audio=(True, True, True),
        shares=[],
        ports=[],
    ),
    "Yevheniia11__Practice_work1__Windows_10": dict(
        name="Windows 10",
        version="1.15-windows",
        nics=["0=nat", "1=host-only(VirtualBox Host-Only Ethernet Adapter)"],
        clipboard="disabled",
        dnd="disabled",
        usb=("ohci",),
        audio=(True, False, True),
        shares=[],
        ports=[],
    ),
    "ayoubelkammouri__Systems_AyoubBF__Ubuntu": dict(
        name="Ubuntu",
        version="1.16-windows",
        nics=["0=nat"],
        clipboard="bidirectional",
        dnd="bidirectional",
        usb=("ohci", "ehci"),
        audio=(True, False, True),
        shares=[],
        ports=[("serial", "disconnected")],
    ),
    "propionian__kaliconfig__Whonix_Gateway": dict(
        name="Whonix Gateway",
        version="1.16-linux",
        nics=["0=nat", "1=internal(Whonix)"],
        clipboard="disabled",
        dnd="disabled",
        usb=("ohci",),
        audio=(True, False, True),
        shares=[],
        ports=[],
    ),
    "backlife2005__VirtualBox__centOS_7": dict(
        name="centOS 7",
        version="1.16-macosx",
        nics=["0=nat-network(nat_class_c)"],
        clipboard="disabled",
        dnd="disabled",
        usb=("ohci",),
        audio=(True, False, True),
        shares=[],
        ports=[],
    ),
    "bulletbeall__ITLS__Ubuntu": dict(
        name="Ubuntu",
        version="1.17-windows",
        nics=["0=nat"],
        clipboard="host-to-guest",
        dnd="host-to-guest",
        usb=("ohci",),
        audio=(True, True, True),
        shares=[("shared_folder", False, True)],
        ports=[],
    ),
    "rumah-dot__DebianDownloadFREE__debian": dict(
        name="debian",
        version="1.19-windows",
        nics=["0=bridged(Intel(R) Centrino(R) Advanced-N 6205)", "1=nat"],
        clipboard="bidirectional",
        dnd="bidirectional",
        usb=("ohci", "ehci"),
        audio=(True, False, True),
        shares=[],
        ports=[],
    ),
    "ocanaChris2__Malware-Development-Foundations---ITM-2023__Windows_10": dict(
        name="Windows 10",
        version="1.19-windows",
        nics=["0=nat"],
        clipboard="disabled",
        dnd="bidirectional",
        usb=("xhci",),
        audio=(True, False, True),
        shares=[],
        ports=[],
    ),
    "Marvint-dev__Samba-AD__Debian": dict(
        name="Debian",
        version="1.19-windows",
        nics=["0=internal(intnet)"],
        clipboard="disabled",
        dnd="disabled",
        usb=("ohci", "ehci"),
        audio=(True, False, True),
        shares=[],
        ports=[],
    ),
    "omne-earth__project-cirrus__test": dict(
        name="fedora41",
        version="1.19-linux",
        nics=[],
        clipboard="disabled",
        dnd="disabled",
        usb=(),
        audio=(False, False, False),
        shares=[],
        ports=[],
    ),
}


def _nics(facts) -> list[str]:
    return [
        f"{n.index}={n.attachment.value}" + (f"({n.network})" if n.network else "")
        for n in facts.nics
        if n.enabled
    ]


def test_every_fixture_parses_with_sources() -> None:
    assert len(ALL) >= 16
    for path in ALL:
        facts = read_settings_file(path)
        assert facts.name and facts.driver == "vbox-file"
        assert facts.clipboard.source.file == str(path)
        assert facts.unknown == (), (path.name, facts.unknown)
        for nic in facts.nics:
            assert nic.source.line and nic.source.where.endswith("]") or "Adapter" in nic.source.where


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_hand_written_facts(stem: str) -> None:
    want = EXPECTED[stem]
    facts = read_settings_file(VBOX / f"{stem}.vbox")
    assert facts.name == want["name"]
    assert facts.extra["settings_version"] == want["version"]
    assert _nics(facts) == want["nics"]
    assert facts.clipboard.value.value == want["clipboard"]
    assert facts.drag_and_drop.value.value == want["dnd"]
    assert facts.usb.controllers == want["usb"]
    assert (facts.audio.enabled, facts.audio.input, facts.audio.output) == want["audio"]
    assert [(s.name, s.read_only, s.automount) for s in facts.shared_folders] == want["shares"]
    assert [(p.kind, p.mode) for p in facts.ports] == want["ports"]
    assert facts.displays == ()  # no fixture has VRDE on


def test_old_innotek_namespace_reads_like_the_new_one() -> None:
    old = read_settings_file(VBOX / "alexec__maven-vbox-plugin__WindowsServer2008.vbox")
    assert old.shared_folders[0].host_path.startswith("C:\\Users\\alex.collins")
    assert old.shared_folders[0].real_path == old.shared_folders[0].host_path  # Windows path


def test_absent_clipboard_mode_is_disabled_and_says_so() -> None:
    facts = read_settings_file(VBOX / "omne-earth__project-cirrus__test.vbox")
    assert "absent: default" in facts.clipboard.source.where
    assert "absent: default" in facts.audio.source.where


def test_snapshot_hardware_that_differs_is_reported() -> None:
    facts = read_settings_file(VBOX / "Marvint-dev__Samba-AD__Debian.vbox")
    by_name = {s.name: s.differences for s in facts.snapshots}
    assert "clipboard: bidirectional (now disabled)" in by_name["Before AD"]
    assert "network: nic0=nat (now nic0=internal(intnet))" in by_name["Instantánea 1"]
    centos = read_settings_file(VBOX / "backlife2005__VirtualBox__centOS_7.vbox")
    assert [s.name for s in centos.snapshots] == [
        "Snapshot 1 (Post Installation)",
        "Snapshot 2",
        "Snapshot 3",
    ]
    same = read_settings_file(VBOX / "luiscidade17__VirtualBox__Ubuntu.vbox")
    assert same.snapshots == ()  # one snapshot, identical hardware: nothing to report


def test_saved_state_is_the_power_state() -> None:
    assert read_settings_file(VBOX / "Marvint-dev__Samba-AD__Debian.vbox").power_state is (PowerState.SAVED)


def _edited(tmp_path: Path, stem: str, old: str, new: str) -> Path:
    text = (VBOX / f"{stem}.vbox").read_text(encoding="utf-8")
    assert old in text
    out = tmp_path / "edited.vbox"
    out.write_text(text.replace(old, new, 1), encoding="utf-8")
    return out


def test_nat_forwards_vrde_and_symlinks(tmp_path: Path) -> None:
    stem = "bulletbeall__ITLS__Ubuntu"
    forward = '<Forwarding name="ssh" proto="1" hostip="" hostport="2222" guestport="22"/>'
    path = _edited(tmp_path, stem, "<NAT/>", f"<NAT>{forward}</NAT>")
    text = (
        path.read_text(encoding="utf-8")
        .replace(
            "</Hardware>",
            '<RemoteDisplay enabled="true" authType="Null"><VRDEProperties>'
            '<Property name="TCP/Ports" value="5000"/></VRDEProperties></RemoteDisplay>'
            "</Hardware>",
            1,
        )
        .replace(
            "</ExtraData>",
            '<ExtraDataItem name="VBoxInternal2/SharedFoldersEnableSymlinksCreate/'
            'shared_folder" value="1"/></ExtraData>',
            1,
        )
    )
    path.write_text(text, encoding="utf-8")
    facts = read_settings_file(path)
    nat = facts.nics[0]
    assert [(f.name, f.host_port, f.guest_port, f.protocol) for f in nat.port_forwards] == [
        ("ssh", 2222, 22, "tcp")
    ]
    vrde = [(d.listen, d.port, d.authenticated) for d in facts.displays]
    assert vrde == [("0.0.0.0", 5000, False)]  # noqa: S104 - VRDE's default, read not bound
    assert facts.shared_folders[0].symlinks_allowed


def test_disabled_modes_are_not_the_attachment(tmp_path: Path) -> None:
    forward = '<Forwarding name="ssh" proto="1" hostport="2222" guestport="22"/>'
    path = _edited(
        tmp_path,
        "bulletbeall__ITLS__Ubuntu",
        "<NAT/>",
        f"<DisabledModes><NAT>{forward}</NAT></DisabledModes>",
    )
    nic = read_settings_file(path).nics[0]
    assert (nic.attachment.value, nic.port_forwards) == ("none", ())


def test_a_future_element_is_reported_not_ignored(tmp_path: Path) -> None:
    path = _edited(
        tmp_path,
        "omne-earth__project-cirrus__test",
        "</Hardware>",
        '<TeleportTunnel enabled="true"/></Hardware>',
    )
    facts = read_settings_file(path)
    assert len(facts.unknown) == 1 and "<TeleportTunnel>" in facts.unknown[0]
    assert f"{path}:" in facts.unknown[0]


def test_doctype_and_garbage_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.vbox"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaa">]>'
        "<VirtualBox><Machine name='&a;'><Hardware/></Machine></VirtualBox>"
    )
    with pytest.raises(DriverError, match="DOCTYPE"):
        read_settings_file(bomb)
    junk = tmp_path / "junk.vbox"
    junk.write_text("<VirtualBox><Machine>")
    with pytest.raises(DriverError, match="not well-formed"):
        read_settings_file(junk)
    other = tmp_path / "other.vbox"
    other.write_text("<VirtualBox/>")
    with pytest.raises(DriverError, match="not a VirtualBox machine"):
        read_settings_file(other)


def test_driver_lists_plans_and_refuses_to_apply() -> None:
    driver = VboxFileDriver(str(VBOX / "*.vbox"))
    assert "WinXP" in driver.list_vms()
    plan = make_plan(batch_policy(), driver.read_facts("WinXP"), driver.capabilities)
    assert not plan.changes and plan.manual  # read-only: everything is for the admin
    assert any(c.subject == "nic 0" and c.current == "bridged (enp2s0)" for c in plan.manual)
    with pytest.raises(DriverError, match="no .vbox file for VM"):
        driver.read_facts("nope")


def test_guest_additions_mean_a_guest_control_channel() -> None:
    facts = read_settings_file(VBOX / "bdaloukas__ubuntu__WinXP.vbox")
    assert [(c.kind, c.source.line is not None) for c in facts.channels] == [("vbox-guest-control", True)]
    assert read_settings_file(VBOX / "omne-earth__project-cirrus__test.vbox").channels == ()


def test_nat_loopback_reachability_follows_the_settings_version(tmp_path: Path) -> None:
    old = read_settings_file(VBOX / "bulletbeall__ITLS__Ubuntu.vbox")  # 1.17: always
    assert old.extra["nic0.localhost_reachable"] == "true"
    stem = "ocanaChris2__Malware-Development-Foundations---ITM-2023__Windows_10"
    stated = read_settings_file(VBOX / f"{stem}.vbox")  # 1.19, written out
    assert stated.extra["nic0.localhost_reachable"] == "true"
    path = _edited(tmp_path, stem, '<NAT localhost-reachable="true"/>', "<NAT/>")
    assert read_settings_file(path).extra["nic0.localhost_reachable"] == "false"  # 7.0 default
    internal = read_settings_file(VBOX / "Marvint-dev__Samba-AD__Debian.vbox")
    assert "nic0.localhost_reachable" not in internal.extra  # NAT only in DisabledModes


def test_same_named_vms_in_a_folder_are_told_apart() -> None:
    names = VboxFileDriver(str(VBOX / "*.vbox")).list_vms()
    assert "Ubuntu (bulletbeall__ITLS__Ubuntu.vbox)" in names
    assert "Ubuntu" not in names and "WinXP" in names
