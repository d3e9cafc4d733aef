"""Backend selection by name (the inventory's firewall.backend or --backend)."""

from __future__ import annotations

from vmguard.firewall.interface import Backend
from vmguard.inventory.model import FirewallBackend


def backend_for(name: str | FirewallBackend) -> Backend:
    kind = FirewallBackend(name)
    if kind is FirewallBackend.IPTABLES:
        from vmguard.firewall.iptables import IptablesBackend  # needs python-iptables

        return IptablesBackend()
    from vmguard.firewall.nftables import NftablesBackend

    return NftablesBackend()
