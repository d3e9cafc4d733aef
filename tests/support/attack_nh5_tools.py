"""Tools for the independent attack nh5 on HDF5 (issue #13, session 38): the CLI runner
(one quarantine, the shipped batch policy's allow_types), h5py sessions, what a reader
sees of a file (for showing a forgery hides its bytes from readers) and lookup3.
Written from the HDF5 file format specification and h5py, not from vmguard's validator.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from tests.support.hdf5_attack_c_bytes import lookup3  # noqa: F401 - re-exported

REPO = Path(__file__).resolve().parents[2]
ALLOW = "allow_types: [text, csv, json, root, fits, hdf5, gzip]"  # policy/batch.yaml's
POLICY = f"""\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: attack-nh5}}
spec:
  quarantine:
    {ALLOW}
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {{mode: per-file, file_mode: 0644, dir_mode: 0755}}
"""

Step = Callable[[h5py.File], None]


def vet(files: dict[str, bytes], base: Path) -> tuple[dict[str, dict], Path, int]:
    """Write files into ONE quarantine and vet it once through the CLI."""
    q = base / "q"
    q.mkdir(parents=True)
    for name, data in files.items():
        (q / name).write_bytes(data)
        os.chmod(q / name, 0o644)
    (base / "p.yaml").write_text(POLICY)
    out = base / "pub" / "job1"
    cmd = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", str(base / "p.yaml")]
    cmd += ["--to", str(out), "--job", "job1", "--format", "json"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, capture_output=True, env=env, timeout=600, check=False)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    entries = {e["path"]: e for e in json.loads(proc.stdout)["entries"]}
    return entries, out, proc.returncode


def sessions(steps: list[Step], **kw) -> bytes:
    """One file written by h5py in len(steps) sessions (the first creates it)."""
    with tempfile.TemporaryDirectory(prefix="attacknh5-") as where:
        path = Path(where) / "f.h5"
        for i, step in enumerate(steps):
            with h5py.File(path, "w" if i == 0 else "a", **kw) as f:
                step(f)
        return path.read_bytes()


def _value(obj) -> object:
    if obj.dtype.kind == "O" or h5py.check_string_dtype(obj.dtype) is not None:
        return repr(obj[()]) if obj.shape != (0,) else "empty"
    return obj[()].tobytes() if obj.shape != (0,) else b""


def _attrs(obj) -> list:
    out = []
    for name in obj.attrs:
        a = obj.attrs.get_id(name)
        val = obj.attrs[name]
        out.append((name, str(a.dtype), repr(val.tobytes() if isinstance(val, np.ndarray)
                                             and val.dtype.kind != "O" else val)))
    return out


def _links(group) -> list:
    """Every link of a group in the order h5py lists them: name, class, soft target."""
    out = []
    for name in group:
        link = group.get(name, getlink=True)
        out.append((name, type(link).__name__, getattr(link, "path", None),
                    getattr(link, "filename", None)))
    return out


def seen(buf: bytes) -> str | None:
    """Everything h5py returns of the file (every group's links with their class and
    target, attributes in the order h5py lists them, datasets' values and creation
    properties), or None if libhdf5 refuses it."""
    try:
        with h5py.File(io.BytesIO(bytes(buf)), "r") as f:
            lines = [repr(("/", _links(f), _attrs(f)))]

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    lines.append(repr((name, "d", str(obj.dtype), obj.shape, obj.maxshape,
                                       obj.chunks, obj.compression, _value(obj),
                                       _attrs(obj))))
                else:
                    lines.append(repr((name, "g", _links(obj), _attrs(obj))))
            f.visititems(visit)
            return "\n".join(lines)
    except Exception:  # noqa: BLE001 - any failure means libhdf5 refuses the file
        return None
