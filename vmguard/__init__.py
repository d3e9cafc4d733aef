"""vmguard: enforce and audit security policy on VMs that run legacy batch software."""

__version__ = "0.1.0"
