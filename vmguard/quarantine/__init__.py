"""Vet what a job wrote into its VM's quarantine, and promote what passes to public space.

The entry point is vmguard.quarantine.api.vet (also vmguard.vet); docs/quarantine.md
has the threat model and how each step defends against a hostile guest.
"""
