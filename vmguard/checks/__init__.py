"""The rules: one function per rule, grouped in one module per family (devices, network,
shares, quarantine, guest*, firewall, inventory), each named by its catalog entry
(rules/<ID>.yaml `check:`). unit.py says what a rule yields, registry.py finds and runs
them, common.py holds the helpers they share.
"""
