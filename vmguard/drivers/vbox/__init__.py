"""The VirtualBox drivers: live through pyvbox, offline from .vbox files."""
