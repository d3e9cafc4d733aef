"""The fake cannot drift from pyvbox, and pyvbox's 6.1 enumerations are checked against
VirtualBox 7.2's own constants (PyPI vbox-sdk's vboxapi) for every value vmguard uses."""

from __future__ import annotations

import inspect
import re
import sys

import pytest
from virtualbox import library as lib
from virtualbox import library_base

from tests.drivers import fake_pyvbox as fake
from vmguard.core.errors import DriverError
from vmguard.drivers.vbox import live_facts as vbox_live_facts
from vmguard.drivers.vbox import names as vbox_names
from vmguard.drivers.vbox.api import ENUMS, Api, pyvbox_table, vboxapi_table
from vmguard.drivers.vbox.driver import VirtualBoxDriver


def _sample(cls: type) -> object:
    """An instance, to see the attributes its __init__ sets."""
    samples = {
        fake.FakeVirtualBox: lambda: fake.FakeVirtualBox(),
        fake.FakeSession: lambda: fake.FakeSession(),
        fake.FakeConsole: lambda: fake.FakeConsole(fake.FakeMachine("m")),
        fake.FakeProgress: lambda: fake.FakeProgress(),
        fake.FakeEventSource: lambda: fake.FakeEventSource(),
        fake.FakeEventListener: lambda: fake.FakeEventListener(),
        fake.FakeMachineEvent: lambda: fake.FakeMachineEvent("on_machine_state_changed", "id"),
        fake.FakeMachine: lambda: fake.FakeMachine("m"),
        fake.FakeNetworkAdapter: lambda: fake.FakeNetworkAdapter(0, "NAT"),
        fake.FakeNATEngine: lambda: fake.FakeNATEngine(),
        fake.FakeSharedFolder: lambda: fake.FakeSharedFolder("s", "/p", True, True),
        fake.FakeUSBController: lambda: fake.FakeUSBController("OHCI", "OHCI"),
        fake.FakeAudioAdapter: lambda: fake.FakeAudioAdapter(True, 0),
        fake.FakeVRDEServer: lambda: fake.FakeVRDEServer(),
        fake.FakeSerialPort: lambda: fake.FakeSerialPort(0),
        fake.FakeParallelPort: lambda: fake.FakeParallelPort(0),
        fake.FakePCIDeviceAttachment: lambda: fake.FakePCIDeviceAttachment(1, 2),
        fake.FakeUSBDeviceFilters: lambda: fake.FakeUSBDeviceFilters([]),
        fake.FakeUSBDeviceFilter: lambda: fake.FakeUSBDeviceFilter("f", True),
    }
    return samples[cls]()


def _public(obj: object) -> set[str]:
    names = {n for n in vars(type(obj)) if not n.startswith("_")}
    return names | {n for n in vars(obj) if not n.startswith("_")}


@pytest.mark.parametrize("fake_cls", list(fake.PYVBOX_CLASS), ids=lambda c: c.__name__)
def test_every_fake_attribute_exists_in_pyvbox(fake_cls: type) -> None:
    real = fake.PYVBOX_CLASS[fake_cls]
    missing = sorted(n for n in _public(_sample(fake_cls)) if not hasattr(real, n))
    assert missing == [], f"{fake_cls.__name__} has names {real.__name__} lacks: {missing}"


def test_fake_signatures_match_pyvbox() -> None:
    for fake_cls, real in fake.PYVBOX_CLASS.items():
        for name, member in vars(fake_cls).items():
            if name.startswith("_") or not callable(member):
                continue
            want = list(inspect.signature(getattr(real, name)).parameters)
            assert list(inspect.signature(member).parameters) == want, (fake_cls, name)


def _com_names(cls: type) -> set[str]:
    """COM attribute names a pyvbox class reads: _get_attr("enabledIn") and the like."""
    found: set[str] = set()
    for klass in cls.__mro__:  # lib.IMachine is pyvbox's extension of the generated class
        if klass.__module__.startswith("virtualbox."):
            found |= set(re.findall(r'_(?:get|set)_attr\("(\w+)"', inspect.getsource(klass)))
    return found


def test_raw_7x_audio_adapter_uses_the_com_names_pyvbox_reads() -> None:
    raw = {n for n in vars(fake.FakeRawAudioAdapter7(True, 0)) if not n.startswith("_")}
    assert raw <= _com_names(lib.IAudioAdapter)
    assert "audioAdapter" in _com_names(lib.IMachine)  # what 7.x moved away
    assert hasattr(library_base.Interface, "_get_attr")  # how the driver reaches audioSettings


# Names vmguard reads or writes, per enumeration.
USED = {
    "ClipboardMode": set(vbox_names.TRANSFER_MODES),
    "DnDMode": set(vbox_names.TRANSFER_MODES),
    "NetworkAttachmentType": set(vbox_names.ATTACHMENT_TYPES),
    "USBControllerType": set(vbox_names.USB_CONTROLLERS),
    "AuthType": {"Null", "External", "Guest"},
    "PortMode": set(vbox_names.PORT_MODES),
    "MachineState": set(vbox_live_facts.STATES) - {"AbortedSaved"} | {"Running", "Null"},
    "LockType": {"Write", "Shared"},
    "AudioControllerType": {"AC97", "SB16", "HDA"},
}
ONLY_IN_7 = {("NetworkAttachmentType", "HostOnlyNetwork")}  # macOS host-only, 7.0+
# 7.x inserted members (AudioDriverType 'Default', MachineState 'AbortedSaved'), shifting
# the numbers after them: vmguard names values by the answering generation's table.
RENUMBERED = {"AudioDriverType", "MachineState"}
WRITTEN = {  # values the driver writes through pyvbox's (6.1) enum classes
    "ClipboardMode": set(vbox_names.TRANSFER_MODES),
    "DnDMode": set(vbox_names.TRANSFER_MODES),
    "NetworkAttachmentType": {"Null", "NAT", "Bridged", "Internal", "HostOnly", "NATNetwork"},
    "AuthType": {"Null", "External", "Guest"},
    "USBControllerType": set(vbox_names.USB_CONTROLLERS),
    "LockType": {"Write", "Shared"},
}


def _by_name(enum: str) -> tuple[dict[str, int], dict[str, int]]:
    old = {n: v for v, n in pyvbox_table(lib, enum).items()}
    return old, {n: v for v, n in vboxapi_table(enum).items()}


@pytest.mark.parametrize("enum", sorted(USED))
def test_used_enum_values_mean_the_same_in_7_2(enum: str) -> None:
    old, new = _by_name(enum)
    for name in sorted(USED[enum]):
        assert name in new, f"{enum}.{name} is gone in 7.2"
        assert Api(lib, 7).name(enum, new[name]) == name
        if (enum, name) in ONLY_IN_7:
            assert name not in old
            continue
        assert Api(lib, 6).name(enum, old[name]) == name
        if enum not in RENUMBERED:
            assert old[name] == new[name], f"{enum}.{name}: 6.1={old[name]} 7.2={new[name]}"


@pytest.mark.parametrize("enum", sorted(RENUMBERED))
def test_renumbered_enums_really_differ(enum: str) -> None:
    old, new = _by_name(enum)
    assert any(old[n] != new[n] for n in old.keys() & new.keys()), f"{enum} no longer differs"


@pytest.mark.parametrize("enum", sorted(WRITTEN))
def test_written_values_pass_through_pyvbox_with_7_2_numbers(enum: str) -> None:
    _old, new = _by_name(enum)
    for name in WRITTEN[enum]:
        assert int(Api(lib, 7).value(enum, name)) == new[name]


def test_audio_driver_numbers_moved_and_vmguard_names_them_by_generation() -> None:
    old, new = pyvbox_table(lib, "AudioDriverType"), vboxapi_table("AudioDriverType")
    assert old[4] == "DirectSound" and new[4] == "Pulse"  # why numbers are never trusted
    assert Api(lib, 6).name("AudioDriverType", 4) == "DirectSound"
    assert Api(lib, 7).name("AudioDriverType", 4) == "Pulse"


def test_every_enum_vmguard_names_exists_in_both_generations() -> None:
    for enum in ENUMS:
        assert pyvbox_table(lib, enum) and vboxapi_table(enum), enum


def test_without_virtualbox_the_error_names_what_to_install() -> None:
    with pytest.raises(DriverError) as err:
        VirtualBoxDriver.connect()
    message = str(err.value)
    assert "VirtualBox" in message and "vboxapi" in message and "\n" not in message


def test_without_vboxapi_at_all_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vboxapi", None)  # as on a host without the SDK
    with pytest.raises(DriverError, match="needs VirtualBox installed.*import of vboxapi"):
        VirtualBoxDriver.connect()
