"""vmguard: enforce and audit security policy on VMs that run legacy batch software."""

__version__ = "0.1.0"


def vet(*args, **kwargs):  # noqa: ANN002, ANN003 - the signature lives in vmguard.quarantine
    """Vet a quarantine directory and promote what passes: see vmguard.quarantine.api.vet."""
    from vmguard.quarantine.api import vet as _vet

    return _vet(*args, **kwargs)
