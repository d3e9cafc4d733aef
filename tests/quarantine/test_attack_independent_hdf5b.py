"""Second independent attack on the HDF5 validator's claim (issue #13, session 29).

Attacks the claim of docs/quarantine.md, not the code (neither the validator nor its
tests were read): every byte of a published HDF5 file is structure checked to the only
value libhdf5 writes, or data a reader returns; what remains is listed in "what exactness
leaves". Files: tests/support/hdf5_attack_b.py (h5py writes, bytes patched, lookup3 and
fletcher32 recomputed). All files go into ONE quarantine vetted once through the CLI with
the shipped batch policy's allow_types (no scanner: not this test's subject), per file.

Each attack carries PAYLOAD (4 bytes of the attacker's choice, at least once) and must be
refused; a hole is a strict xfail saying what got out. Controls (ordinary h5py output)
must be published byte-identical.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

from tests.support import hdf5_attack_b as crafted  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: attack-hdf5b}
spec:
  quarantine:
    allow_types: [text, csv, json, root, fits, hdf5, gzip]
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {mode: per-file, file_mode: 0644, dir_mode: 0755}
"""

HOLES: dict[str, str] = {}  # none open
FALSE_REJECTIONS: dict[str, str] = {}  # none open (ctl-regionrefs: walked, regions.py)
# libhdf5 itself cannot read these (an address out of the file, a count it allocates):
# refused either way, so no check that the crafted file is valid.
UNREADABLE = {
    "frhp-huge-btree-address.h5",
    "frhp-fs-manager-address.h5",
    "bthd-total-records-0.h5",
    "bthd-total-records-1.h5",
    "sb0-freespace-address.h5",
    "sb0-driver-address.h5",
    "frhp-starting-block-size.h5",
    "bitfield-precision24.h5",  # h5py has no conversion for a bitfield
}
# Holes whose payload is not in anything h5py returns (values or raw array buffers).
HIDDEN = {
    "int-precision24-v1.h5",
    "int-precision24-v2.h5",
    "str-nullterm-after-nul.h5",
    "vlen-str-after-nul.h5",
    "vlen-str-after-nul-latest.h5",
    "compound-member-name-padding.h5",
    "enum-member-name-padding.h5",
    "old-fill-value-message.h5",
}


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    base = tmp_path_factory.mktemp("attackh5b")
    (base / "w").mkdir()
    controls = crafted.controls(base / "w")
    attacks = crafted.attacks(base / "w")
    q = base / "q"
    q.mkdir()
    for name, data in {**controls, **attacks}.items():
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
    """Every value h5py returns from the file, as raw bytes (datasets, their fill values,
    attributes)."""
    seen: list[bytes] = []

    def visit(obj) -> None:
        if isinstance(obj, h5py.Dataset):
            seen.append(np.asarray(obj[()]).tobytes())
            seen.append(np.asarray(obj.fillvalue).tobytes())
            if obj.dtype.kind == "O":
                seen.extend(bytes(v) if isinstance(v, bytes) else str(v).encode()
                            for v in np.asarray(obj[()]).ravel())
        for value in obj.attrs.values():
            seen.append(np.asarray(value).tobytes())

    with h5py.File(io.BytesIO(data), "r") as f:
        visit(f)
        f.visititems(lambda _, obj: visit(obj))
    return seen


def _carries(data: bytes) -> bool:
    """PAYLOAD in a row, one byte per 4-byte element (the unused top byte of an integer),
    or in two 2-byte fields (the reference counts of two global heap objects)."""
    if any(crafted.PAYLOAD in data[k::step] for step in (1, 4) for k in range(step)):
        return True
    return crafted.PAYLOAD[:2] + b"\0\0" in data and crafted.PAYLOAD[2:] + b"\0\0" in data


def _names(build) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="attackh5b-names-") as where:
        return sorted(build(Path(where)))


CONTROLS = _names(crafted.controls)
ATTACKS = _names(crafted.attacks)


def test_every_hole_and_exemption_names_a_real_case():
    assert set(HOLES) | UNREADABLE | HIDDEN <= set(ATTACKS)
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
def test_attack_file_is_valid_hdf5_carrying_the_payload(vetted, name):
    """The crafted file still reads (so a refusal is the validator's), and holds PAYLOAD."""
    data = vetted["attacks"][name]
    assert _carries(data)
    if name in UNREADABLE:
        pytest.skip("libhdf5 itself refuses this file")
    returned = _returned(data)
    if name in HIDDEN:
        assert not any(_carries(value) for value in returned), name


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


def test_whole_run_exit_code(vetted):
    """Per-file mode: findings give exit 1 (there are refusals); controls still published."""
    assert vetted["rc"] == 1
