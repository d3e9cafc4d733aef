"""The start gate and continuous enforcement (issue #19).

- decide.py: pure verdict on a VM about to start (policy, facts, settings -> allow/refuse).
- domainxml.py: the domain XML libvirt hands a hook -> VmFacts, without calling libvirt.
- hook.py: what the libvirt hook does at prepare (gate), started and release (firewall).
- install.py: the hook file itself (install, remove, status).
- server.py: `vmguard hook serve`, the warm process a served hook asks over a socket.
- enforce.py: what `vmguard watch --enforce` does to a VM that drifted.
"""
