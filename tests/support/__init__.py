"""Shared test helpers: libvirtd control, the TCG guest, network namespaces, leak checks."""
