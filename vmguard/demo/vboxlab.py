"""The demo lab as VirtualBox settings files (.vbox), read by the offline vbox-file
driver: the demo's fallback where libvirt-python is not installed (a plain
`pip install vmguard`, no compiler). Same VMs and mistakes as the libvirt lab
(vmguard.demo.lab), written as VirtualBox 6.1 writes them (settings 1.16)."""

from __future__ import annotations

import uuid
from xml.sax.saxutils import quoteattr

from vmguard.demo.lab import DomainSpec, Share, mac_of

HOST_ONLY = "vboxnet0"
_ADAPTERS = {
    "hostonly": f"<HostOnlyInterface name='{HOST_ONLY}'/>",
    "user": "<NAT/>",
    "bridge": "<BridgedInterface name='eth0'/>",
}


def _adapter(spec: DomainSpec) -> str:
    inner = _ADAPTERS.get(spec.network)
    if inner is None:
        return ""
    mac = mac_of(spec.name).replace(":", "").upper()
    return f"<Adapter slot='0' enabled='true' MACAddress='{mac}' type='82540EM'>{inner}</Adapter>"


def _share(share: Share) -> str:
    writable = "false" if share.read_only else "true"
    return (
        f"<SharedFolder name={quoteattr(share.tag)} hostPath={quoteattr(share.host_path)}"
        f" writable='{writable}' autoMount='false'/>"
    )


def _display(spec: DomainSpec) -> str:
    if not spec.display_listen:
        return "<RemoteDisplay enabled='false'/>"
    return (
        "<RemoteDisplay enabled='true' authType='Null'><VRDEProperties>"
        f"<Property name='TCP/Address' value={quoteattr(spec.display_listen)}/>"
        "<Property name='TCP/Ports' value='3389'/></VRDEProperties></RemoteDisplay>"
    )


def _devices(spec: DomainSpec) -> list[str]:
    devices = [
        f"<Clipboard mode='{'Bidirectional' if spec.clipboard else 'Disabled'}'/>",
        "<DragAndDrop mode='Disabled'/>",
        _display(spec),
        f"<AudioAdapter controller='HDA' driver='Pulse' enabled='{str(spec.audio).lower()}'/>",
    ]
    if spec.usb:
        devices.append("<USB><Controllers><Controller name='xHCI' type='XHCI'/></Controllers></USB>")
    if spec.serial_tcp:
        devices.append("<UART><Port slot='0' enabled='true' hostMode='TCP' path='4555'/></UART>")
    return devices


def vbox_xml(spec: DomainSpec) -> str:
    """One machine's settings file."""
    shares = "".join(_share(s) for s in spec.shares)
    hardware = "\n      ".join(
        [*_devices(spec), f"<Network>{_adapter(spec)}</Network>", f"<SharedFolders>{shares}</SharedFolders>"]
    )
    machine_id = uuid.uuid5(uuid.NAMESPACE_URL, "vmguard-demo:" + spec.name)
    return f"""<?xml version="1.0"?>
<VirtualBox xmlns="http://www.virtualbox.org/" version="1.16-linux">
  <Machine uuid="{{{machine_id}}}" name={quoteattr(spec.name)} OSType="RedHat_64">
    <Hardware>
      {hardware}
    </Hardware>
  </Machine>
</VirtualBox>
"""
