"""The inventory: which VMs, on which connections, under which policy."""
