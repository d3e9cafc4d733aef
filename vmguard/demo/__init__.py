"""The demo lab: libvirt test-driver VMs, an inventory, a policy and a quarantine to vet."""
