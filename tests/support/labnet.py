"""The host-only lab of the end-to-end tests (tests/drivers/test_host_only_e2e.py) and the
gate lab (tests/gate/lab.py): the isolated libvirt network, the two kinds of NIC a guest
gets, and the policy that allows one endpoint on the host. Each lab picks its own subnet,
MACs and policy name, so the two can run in one session."""

from __future__ import annotations

NETWORK_NAME = "lab-hostonly"


def network_xml(bridge: str, host: str, dhcp: str = "") -> str:
    """The isolated network (no <forward>): the host is `host`/24 on `bridge`."""
    return f"""<network><name>{NETWORK_NAME}</name><bridge name='{bridge}'/>
<ip address='{host}' netmask='255.255.255.0'>{dhcp}</ip></network>"""


def network_nic(mac: str) -> str:
    """A NIC on the lab network: what the policy allows."""
    return (
        f"<interface type='network'><mac address='{mac}'/><source network='{NETWORK_NAME}'/>"
        "<model type='virtio'/></interface>\n"
    )


def user_nic(mac: str) -> str:
    """A user-mode (NAT) NIC: what the policy forbids (VMG-NET-002)."""
    return f"<interface type='user'><mac address='{mac}'/><model type='virtio'/></interface>\n"


def host_only_policy(name: str, host: str, extra: str = "") -> str:
    """batch.yaml with host-only networking and one egress rule, to `host`:8080/tcp;
    `extra` is more of the spec (indented by two spaces)."""
    return f"""apiVersion: vmguard/v1
kind: Policy
metadata: {{name: {name}}}
extends: batch.yaml
spec:
  network:
    mode: host-only
    egress:
      - {{name: svc, to: {host}/32, ports: [8080], protocol: tcp}}
    ingress: []
{extra}"""
