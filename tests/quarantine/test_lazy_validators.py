"""The vet process does not load the formats' validators (they run in the workers; about
30 ms of CPU per vet to import), and a worker loads all of them before it gives up
opening files (validators.load_all): a module left to load on first use there would
fail inside a file's validation."""

from __future__ import annotations

import ast
import importlib.util
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
    # text's own parts (session 40: its control rule, terminal.py, and the escapes of it,
    # textescapes.py and namedescapes.py) are the text validator, not another format's
    text = (".text", ".terminal", ".textescapes", ".namedescapes")
    assert loaded <= {
        f"vmguard.quarantine.validators{m}" for m in ("", ".identify", ".inside", ".stream", ".hdf5", *text)
    }


def test_a_worker_holds_every_validator_module_and_runs_it_once_confined():
    # As magic_worker.py and walk_worker.py load the package (by path, as `validators`),
    # then as confined (no new descriptor: no file can be opened) every module imports.
    code = (
        "import importlib, importlib.util, os, resource, sys\n"
        "spec = importlib.util.spec_from_file_location('magic_worker', sys.argv[1])\n"
        "worker = importlib.util.module_from_spec(spec); spec.loader.exec_module(worker)\n"
        "validators = worker._load_validators()\n"
        "os.closerange(3, 1 << 16)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))\n"
        "names = [m.strip() for m in sys.stdin]\n"
        "for name in names: importlib.import_module(name)\n"
        "validators.load_all()\n"
        "print('\\n'.join(m for m in sys.modules if m == 'validators' or m.startswith('validators.')))"
    )
    modules = {
        ".".join(("validators", *p.relative_to(VALIDATORS).with_suffix("").parts)).removesuffix(".__init__")
        for p in VALIDATORS.rglob("*.py")
    }
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code, str(WORKER)],
        input="\n".join(sorted(modules)),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert set(proc.stdout.split()) == modules


def test_the_worker_loads_the_standard_library_modules_the_validators_import():
    found = set()
    for path in VALIDATORS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names if node.module == "encodings"}
    spec = importlib.util.spec_from_file_location("magic_worker_stdlib", WORKER)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    # imported by the worker itself (or the interpreter) before it loads them
    assert found - set(worker._STDLIB) <= {"codecs", "encodings", "functools", "importlib", "json", "os", "struct", "sys"}


def test_vet_and_walk_are_the_same_from_the_package():
    from vmguard.quarantine import validators
    from vmguard.quarantine.validators import vetting

    assert validators.vet is vetting.vet and validators.MAX_DEPTH == vetting.MAX_DEPTH
    with pytest.raises(validators.Invalid, match="superblock"):  # objects.walk's own refusal
        validators.hdf5.walk(b"", 0)


def test_the_worker_binds_every_native_library_before_it_is_confined():
    """A module that opens a shared library (ctypes.CDLL) on import is run before the worker
    gives up opening files: held until first use, its library was missing once confined
    and every zstd ROOT file was refused ('libzstd.so.1 is not installed'; session 39)."""
    binding = {
        ".".join(("validators", *p.relative_to(VALIDATORS).with_suffix("").parts))
        for p in VALIDATORS.rglob("*.py")
        if "ctypes.CDLL(" in p.read_text()
    }
    code = (
        "import importlib.util, os, resource, sys\n"
        "spec = importlib.util.spec_from_file_location('magic_worker', sys.argv[1])\n"
        "worker = importlib.util.module_from_spec(spec); spec.loader.exec_module(worker)\n"
        "worker._load_validators()\n"
        "os.closerange(3, 1 << 16)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))\n"
        "from validators import deflateblocks, root_lz4, root_zstd\n"
        "assert None not in (deflateblocks._LIB, root_lz4._DECOMPRESS, root_lz4._XXH64, root_zstd._LIB)\n"
        "print(' '.join(worker.NATIVE))"
    )
    assert set(_run(code, str(WORKER)).split()) == binding
