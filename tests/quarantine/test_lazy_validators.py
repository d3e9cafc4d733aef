"""The vet process does not load the formats' validators (they run in the workers; about
30 ms of CPU per vet to import), and a worker loads all of them before it gives up
opening files (validators.load_all): a module left to load on first use there would
fail inside a file's validation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import vmguard

ROOT = Path(vmguard.__file__).resolve().parents[1]
VALIDATORS = ROOT / "vmguard" / "quarantine" / "validators"
WORKER = ROOT / "vmguard" / "quarantine" / "magic_worker.py"


def _run(code: str, *argv: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


def test_the_vet_process_loads_no_format_validator():
    code = (
        "import sys, vmguard.cli.vet, vmguard.quarantine.api, vmguard.quarantine.pipeline\n"
        "from vmguard.quarantine.validators import hdf5, validator_for, TYPES\n"
        "assert hdf5.walked_elsewhere(2 << 20) and validator_for('text/plain') == 'text' and TYPES\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('vmguard.quarantine.validators')))"
    )
    loaded = set(_run(code).split())
    assert loaded <= {
        f"vmguard.quarantine.validators{m}" for m in ("", ".identify", ".inside", ".stream", ".text", ".hdf5")
    }


def test_a_worker_loads_every_validator_module_before_it_is_confined():
    # As magic_worker.py and walk_worker.py load the package: by path, as `validators`.
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('magic_worker', sys.argv[1])\n"
        "worker = importlib.util.module_from_spec(spec); spec.loader.exec_module(worker)\n"
        "worker._load_validators()\n"
        "print('\\n'.join(m for m in sys.modules if m == 'validators' or m.startswith('validators.')))"
    )
    loaded = set(_run(code, str(WORKER)).split())
    modules = {
        ".".join(("validators", *p.relative_to(VALIDATORS).with_suffix("").parts)).removesuffix(".__init__")
        for p in VALIDATORS.rglob("*.py")
    }
    assert modules - loaded == set()


def test_vet_and_walk_are_the_same_from_the_package():
    from vmguard.quarantine import validators
    from vmguard.quarantine.validators import vetting

    assert validators.vet is vetting.vet and validators.MAX_DEPTH == vetting.MAX_DEPTH
    with pytest.raises(validators.Invalid, match="superblock"):  # objects.walk's own refusal
        validators.hdf5.walk(b"", 0)
