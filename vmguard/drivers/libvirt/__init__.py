"""The libvirt/KVM driver: domain XML to facts, plans to XML."""
