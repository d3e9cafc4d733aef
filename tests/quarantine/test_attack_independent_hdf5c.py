"""Third independent attack on the HDF5 validator's claim (issue #13, session 30).

Attacks the claim of docs/quarantine.md, not the code (neither the validator nor its
tests were read): every byte of a published HDF5 file is structure checked to the only
value libhdf5 writes, or data a reader returns; what remains is listed in "what exactness
leaves". Classes two earlier attacks found (compound padding, precision < size, bytes after
a string's NUL, v1 member-name padding, extensible array statistics, the old fill value
message, attribute phase change, file space threshold, dangling/region references) are
not repeated. Files: tests/support/hdf5_attack_c_*.py (h5py writes, bytes patched per the
format specification, lookup3 recomputed). All files go into ONE quarantine vetted once
through the CLI with the shipped batch policy's allow_types, per file.

Each attack carries PAYLOAD (4 bytes of the attacker's choice; where one field is too
small, spread over several: crafted.carried reads it back) in bytes no reader returns,
the file still read by libhdf5, and must be refused; a hole is a strict xfail saying what
got out (crafted.HOLES). Controls (ordinary h5py
output) must be published byte-identical; a false rejection is a strict xfail.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

from tests.support import hdf5_attack_c as crafted  # noqa: E402
from tests.support.hdf5_attack_c_bytes import PAYLOAD, read_attr, read_dataset, readable  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: attack-hdf5c}
spec:
  quarantine:
    allow_types: [text, csv, json, root, fits, hdf5, gzip]
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {mode: per-file, file_mode: 0644, dir_mode: 0755}
"""

HOLES = crafted.HOLES
FALSE_REJECTIONS = crafted.FALSE_REJECTIONS


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    base = tmp_path_factory.mktemp("attackh5c")
    controls, attacks = crafted.controls(), crafted.attacks()
    documented = crafted.documented()
    q = base / "q"
    q.mkdir()
    for name, data in {**controls, **attacks, **documented}.items():
        (q / name).write_bytes(data)
        os.chmod(q / name, 0o644)
    (base / "p.yaml").write_text(POLICY)
    out = base / "pub" / "job1"
    cmd = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", str(base / "p.yaml")]
    cmd += ["--to", str(out), "--job", "job1", "--format", "json"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, capture_output=True, env=env, timeout=120, check=False)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    entries = {e["path"]: e for e in json.loads(proc.stdout)["entries"]}
    return {"controls": controls, "attacks": attacks, "entries": entries, "out": out,
            "rc": proc.returncode}


def _returned(data: bytes) -> list[bytes]:
    """Every value libhdf5 returns through h5py: datasets, fill values, attributes,
    and the names, tags and filter names a reader can ask for. Creation settings a
    property list query shows (filter flags and client data, group phase change) are not
    values; HOLES says where a payload is one of those."""
    seen: list[bytes] = []

    def visit(name, obj) -> None:
        seen.append((name or "").encode())
        if isinstance(obj, h5py.Dataset):
            seen.append(read_dataset(obj))
            # no fill value: none defined, or no numpy type (a tagged opaque, a custom float)
            with contextlib.suppress(OSError, RuntimeError, TypeError, ValueError):
                seen.append(np.asarray(obj.fillvalue).tobytes())
            ftype = obj.id.get_type()
            if ftype.get_class() == h5py.h5t.OPAQUE:
                seen.append(ftype.get_tag())
            dcpl = obj.id.get_create_plist()
            seen.extend(dcpl.get_filter(i)[3] for i in range(dcpl.get_nfilters()))
        for key in obj.attrs:
            seen.extend((key.encode(), read_attr(obj, key)))

    with h5py.File(io.BytesIO(data), "r") as f:
        visit("", f)
        f.visititems(visit)
    return seen


CONTROLS = sorted(crafted.CONTROLS)
ATTACKS = sorted(crafted.ATTACKS)


def test_every_hole_and_exemption_names_a_real_case():
    assert set(HOLES) <= set(ATTACKS)
    assert set(FALSE_REJECTIONS) <= set(CONTROLS)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=FALSE_REJECTIONS[n]))
     if n in FALSE_REJECTIONS else n for n in CONTROLS],
)
def test_control_published_byte_identical(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == vetted["controls"][name]


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_file_is_readable_and_hides_the_payload(vetted, name):
    """libhdf5 still reads the crafted file (a refusal is the validator's), it carries the
    payload, and no value, name, tag or filter name a reader gets holds it."""
    data = vetted["attacks"][name]
    assert crafted.carried(name, data)
    assert readable(data), name
    assert not any(PAYLOAD in value for value in _returned(data)), name


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=HOLES[n])) if n in HOLES
     else n for n in ATTACKS],
)
def test_attack_refused(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected", f"published: {name}"
    assert entry["detail"].startswith("hdf5:"), entry["detail"]
    assert not (vetted["out"] / name).exists()


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=crafted.MISLEADING[n]))
     if n in crafted.MISLEADING else n for n in sorted(crafted.DOCUMENTED)],
)
def test_documented_refusal_names_its_reason(vetted, name):
    """Ordinary h5py output the docs say is refused: refused, and the message says why."""
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected"
    assert entry["detail"].startswith("hdf5:"), entry["detail"]
    assert crafted.DOCUMENTED[name][1] in entry["detail"], entry["detail"]


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=crafted.CONTRADICTORY[n]))
     if n in crafted.CONTRADICTORY else n for n in ATTACKS],
)
def test_refusal_message_is_coherent(vetted, name):
    detail = vetted["entries"][name]["detail"]
    assert not re.search(r"declared (\d+) bytes, not \1\b", detail), detail
    assert "None" not in detail, detail


def test_whole_run_exit_code(vetted):
    """Per-file mode: findings give exit 1 (there are refusals); controls still published."""
    assert vetted["rc"] == 1
