"""One gate lab (private libvirtd with vmguard's hook) per test session."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def gate_lab(tmp_path_factory, guest_kernel_initrd):
    if os.geteuid() != 0 or not shutil.which("virsh"):
        pytest.fail("the gate tests need root (namespaces, a private libvirtd) and virsh")
    from tests.gate.lab import gate_lab

    root = tmp_path_factory.mktemp("gate")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VMGUARD_LOG", str(root / "events.jsonl"))
        mp.setenv("VMGUARD_STATE_DIR", str(root / "state"))
        with gate_lab(root, guest_kernel_initrd) as lab:
            yield lab
