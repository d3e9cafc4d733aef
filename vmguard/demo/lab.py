"""Domain XML for libvirt's test driver (test:///path/node.xml): no hypervisor needed.

A DomainSpec says which typical misconfigurations a VM has; node_xml() writes the
<node> document the test driver loads. The demo, the tests and the benchmark share it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

NETWORKS = """\
  <network><name>hostonly</name><bridge name='virbr-demo'/>
    <ip address='192.0.2.1' netmask='255.255.255.0'/></network>
  <network><name>default</name><bridge name='virbr-nat'/><forward mode='nat'/>
    <ip address='198.51.100.1' netmask='255.255.255.0'/></network>
"""


@dataclass(frozen=True)
class Share:
    tag: str
    host_path: str
    read_only: bool = True


@dataclass(frozen=True)
class DomainSpec:
    name: str
    network: str = "hostonly"  # hostonly | user (QEMU NAT) | bridge | none
    clipboard: bool = False  # SPICE with the vdagent channel and copy/paste on
    display_listen: str = ""  # "" no display; else a SPICE display on this address
    display_password: str = ""
    audio: bool = False
    usb: bool = False
    serial_tcp: bool = False
    shares: tuple[Share, ...] = ()


def mac_of(name: str) -> str:
    """A fixed MAC per VM name (libvirt would pick a random one at every load)."""
    digest = hashlib.sha256(name.encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


def _nic(spec: DomainSpec) -> str:
    source = {
        "hostonly": "type='network'><source network='hostonly'/>",
        "user": "type='user'>",
        "bridge": "type='bridge'><source bridge='br0'/>",
    }.get(spec.network)
    if source is None:
        return ""
    return f"<interface {source}<mac address='{mac_of(spec.name)}'/></interface>"


def _display(spec: DomainSpec) -> list[str]:
    if not spec.display_listen:
        return []
    passwd = f" passwd={quoteattr(spec.display_password)}" if spec.display_password else ""
    copypaste = "yes" if spec.clipboard else "no"
    return [
        f"<graphics type='spice' autoport='yes' listen={quoteattr(spec.display_listen)}{passwd}>"
        f"<clipboard copypaste='{copypaste}'/><filetransfer enable='no'/></graphics>",
        "<channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>",
    ]


def _share(share: Share) -> str:
    ro = "<readonly/>" if share.read_only else ""
    return (
        f"<filesystem type='mount' accessmode='mapped'><source dir={quoteattr(share.host_path)}/>"
        f"<target dir={quoteattr(share.tag)}/>{ro}</filesystem>"
    )


def domain_xml(spec: DomainSpec) -> str:
    devices = [_nic(spec)] + [_share(s) for s in spec.shares] + _display(spec)
    devices.append(
        "<controller type='usb' model='qemu-xhci'/>" if spec.usb else "<controller type='usb' model='none'/>"
    )
    if spec.audio:
        devices.append("<sound model='ich9'/>")
    if spec.serial_tcp:
        devices.append(
            "<serial type='tcp'><source mode='bind' host='0.0.0.0' service='4555'/>"
            "<target port='0'/></serial>"
        )
    body = "\n      ".join(d for d in devices if d)
    return f"""  <domain type='test'>
    <name>{escape(spec.name)}</name>
    <uuid>{uuid.uuid5(uuid.NAMESPACE_URL, "vmguard-demo:" + spec.name)}</uuid>
    <memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os>
    <devices>
      {body}
    </devices>
  </domain>
"""


def node_xml(domains: list[DomainSpec]) -> str:
    return "<node>\n" + NETWORKS + "".join(domain_xml(d) for d in domains) + "</node>\n"
