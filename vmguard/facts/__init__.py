"""What vmguard reads about a VM: the hypervisor-independent facts."""
