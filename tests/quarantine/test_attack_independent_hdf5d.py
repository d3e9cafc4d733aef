"""Fourth independent attack on the HDF5 validator's claim (issue #13, session 31).

Attacks the claim of docs/quarantine.md, not the code (neither the validator nor its
tests were read): every byte of a published HDF5 file is structure checked to the one
value libhdf5 writes, or data a reader returns; what remains is listed in "what exactness
leaves". Classes the three earlier attacks found are not repeated; new here: strings a
version 2 link message stores with their length but libhdf5 reads as C strings (a link's
name, a soft link's value), the address of a dataset with no elements, the numbers and
order of global heap objects, the order of an object header's messages and how its free
space is cut into null messages, message versions libhdf5 never pairs with a header's
(layout 4 for contiguous storage, dataspace 2 and fill value 3 in a version 1 header),
the version 0 superblock's group K values, and the order in which a job writes its
chunks (plain h5py; a gap in "what exactness leaves"). Files: tests/support/hdf5_attack_d_cases.py (h5py
writes, bytes patched), hdf5_attack_d_ctl.py (controls: ordinary h5py output of features
the earlier attacks did not write). All files go into ONE quarantine vetted once through
the CLI with the shipped batch policy's allow_types, per file.

Each attack carries PAYLOAD (4 bytes; where one field is too small, spread over two and
read back by cases.carried; the K values carry 6 bits) in bytes no reader returns, and
must be refused; a hole is a strict xfail saying what got out (HOLES). Controls must be
published byte-identical; a false rejection is a strict xfail (ctl.FALSE_REJECTIONS).
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

from tests.support import hdf5_attack_d_cases as cases  # noqa: E402
from tests.support import hdf5_attack_d_ctl as ctl  # noqa: E402
from tests.support.hdf5_attack_c_bytes import PAYLOAD, h5file, read_attr, read_dataset  # noqa: E402
from tests.support.hdf5_attack_d_bytes import permutation, rank  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ALLOW = "allow_types: [text, csv, json, root, fits, hdf5, gzip]"  # policy/batch.yaml's
POLICY = f"""\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: attack-hdf5d}}
spec:
  quarantine:
    {ALLOW}
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {{mode: per-file, file_mode: 0644, dir_mode: 0755}}
"""

HOLES: dict[str, str] = {}  # every hole of attack d is closed (session 31)
@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    assert ALLOW in (REPO / "policy" / "batch.yaml").read_text()
    base = tmp_path_factory.mktemp("attackh5d")
    controls, attacks, documented = ctl.controls(), cases.attacks(), ctl.documented()
    order = {f"write-order-{v}.h5": bytes(_write_order(v)) for v in ("earliest", "latest")}
    q = base / "q"
    q.mkdir()
    for name, data in {**controls, **attacks, **documented, **order}.items():
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
    return {"controls": controls, "attacks": attacks, "order": order, "entries": entries,
            "out": out, "rc": proc.returncode}


def _returned(data: bytes, unopened: tuple[str, ...] = ()) -> list[bytes]:
    """Every value libhdf5 returns through h5py: link names, soft link values, datasets,
    fill values, attribute names and values (objects libhdf5 refuses to open skipped)."""
    seen: list[bytes] = []

    def visit(group) -> None:
        for name in group:
            seen.append(name.encode())
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.SoftLink):
                seen.extend((link.path.encode(), group.id.links.get_val(name.encode())))
                continue
            if f"{group.name.rstrip('/')}/{name}" in unopened:
                continue
            obj = group[name]
            if isinstance(obj, h5py.Group):
                visit(obj)
            else:
                seen.append(read_dataset(obj))
                with contextlib.suppress(OSError, RuntimeError, TypeError, ValueError):
                    seen.append(np.asarray(obj.fillvalue).tobytes())
            for key in obj.attrs:
                seen.extend((key.encode(), read_attr(obj, key)))
        for key in group.attrs:
            seen.extend((key.encode(), read_attr(group, key)))

    with h5py.File(io.BytesIO(data), "r") as f:
        visit(f)
    return seen


CONTROLS = sorted(ctl.CONTROLS)
ATTACKS = sorted(cases.ATTACKS)


def _marked(names, table):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=table[n]))
            if n in table else n for n in names]


def test_every_hole_and_exemption_names_a_real_case():
    assert set(HOLES) <= set(ATTACKS)
    assert set(ctl.FALSE_REJECTIONS) <= set(CONTROLS)
    assert set(ctl.MISLEADING) <= set(ctl.DOCUMENTED)


@pytest.mark.parametrize("name", _marked(CONTROLS, ctl.FALSE_REJECTIONS))
def test_control_published_byte_identical(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == vetted["controls"][name]


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_file_is_readable_and_hides_the_payload(vetted, name):
    """libhdf5 reads the crafted file (but the objects UNOPENED names), the file carries
    the payload, and no name, value or link value a reader gets holds it."""
    data = vetted["attacks"][name]
    unopened = cases.UNOPENED.get(name, ())
    assert cases.carried(name, data)
    assert all(not cases.opens(data, path) for path in unopened), "libhdf5 opens it"
    returned = _returned(data, unopened)
    assert not any(PAYLOAD in value for value in returned), name


@pytest.mark.parametrize("name", _marked(ATTACKS, HOLES))
def test_attack_refused(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected", f"published: {name}"
    assert entry["detail"].startswith("hdf5:"), entry["detail"]
    assert not (vetted["out"] / name).exists()


@pytest.mark.parametrize("name", _marked(sorted(ctl.DOCUMENTED), ctl.MISLEADING))
def test_documented_refusal_names_its_reason(vetted, name):
    """Ordinary h5py output the docs say is refused: refused, and the message says why."""
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected"
    assert entry["detail"].startswith("hdf5:"), entry["detail"]
    assert ctl.DOCUMENTED[name][1] in entry["detail"], entry["detail"]


def _write_order(libver: str) -> bytearray:
    """16 chunks written one by one in the order that encodes PAYLOAD: plain h5py."""
    order = permutation(16, int.from_bytes(PAYLOAD, "big"))

    def build(f) -> None:
        d = f.create_dataset("d", shape=(64,), chunks=(4,), dtype="i4")
        for c in order:
            d[c * 4:(c + 1) * 4] = np.arange(4) + c

    return h5file(build, libver=libver)


def _chunk_order(data: bytes) -> bytes:
    with h5py.File(io.BytesIO(data), "r") as f:
        ds = f["d"].id
        info = [ds.get_chunk_info(i) for i in range(ds.get_num_chunks())]
    placed = [c.chunk_offset[0] // 4 for c in sorted(info, key=lambda c: c.byte_offset)]
    return rank(placed).to_bytes(4, "big")


def _leaves() -> str:
    text = (REPO / "docs" / "quarantine.md").read_text()
    return text[text.index("**HDF5: what exactness leaves"):text.index("Refused rather than checked")]


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_write_order_channel_is_listed(vetted, libver):
    name = f"write-order-{libver}.h5"
    assert vetted["entries"][name]["verdict"] == "accepted", vetted["entries"][name]["detail"]
    assert _chunk_order(vetted["order"][name]) == PAYLOAD
    # "HDF5 derives them from the write order" is there, about a B-tree's final key only
    placed = r"(chunks?|structures?|objects?|headers?)\s+(lie|are placed)|placement|\baddresses\b"
    assert re.search(placed, _leaves()), "where structures lie is not listed"


def test_whole_run_exit_code(vetted):
    """Per-file mode: findings give exit 1 (there are refusals); controls still published."""
    assert vetted["rc"] == 1
