"""Fifth independent attack on the HDF5 validator's claim (issue #13, session 32).

Attacks the claim of docs/quarantine.md, not the code (neither the validator nor its
tests were read): a published HDF5 file is h5py-written output whose every byte is
structure pinned to what libhdf5 writes, or data a reader returns; what remains is
listed in "what exactness leaves". Classes the four earlier attacks found are not
repeated. New here: the bound on what a moved v2 header's null messages may hold (stale
continuation messages: the docs bound their freed block's address to log2(file size)
bits), and false rejections of files a physicist writes in steps: deflated chunks written
again (chunk cache eviction in one session, `+=` in a later one, appends in later
sessions, a SWMR writer's flushes), a resizable dataset shrunk under libver='latest', a
group's local heap grown over two sessions; and, beyond HDF5, the copy: an 8 MiB block
whose non-zero bytes are followed by ~30 MiB of zeros or more is published as zeros (exit 0,
the report's sha256 the source's: FITS too), or, where it holds the superblock, the file is
refused with a false reason.
Files: tests/support/attack_ehdf5_files.py. All go into ONE quarantine vetted once
through the CLI with the shipped batch policy's allow_types, per file.

Each attack carries PAYLOAD in bytes no reader returns and must be refused; a hole is a
strict xfail saying what got out (files.HOLES). Ordinary output must be published
byte-identical; a false rejection is a strict xfail (files.FALSE_REJECTIONS).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

from tests.support import attack_ehdf5_files as files  # noqa: E402
from tests.support.hdf5_attack_c_bytes import PAYLOAD, read_attr, read_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ALLOW = "allow_types: [text, csv, json, root, fits, hdf5, gzip]"  # policy/batch.yaml's
POLICY = f"""\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: attack-ehdf5}}
spec:
  quarantine:
    {ALLOW}
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {{mode: per-file, file_mode: 0644, dir_mode: 0755}}
"""


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    assert ALLOW in (REPO / "policy" / "batch.yaml").read_text()
    base = tmp_path_factory.mktemp("attackeh5")
    ordinary = files.ordinary()
    attacks, documented = files.attacks(), files.documented()
    q = base / "q"
    q.mkdir()
    for name, data in {**ordinary, **attacks, **documented}.items():
        (q / name).write_bytes(data)
        os.chmod(q / name, 0o644)
    (base / "p.yaml").write_text(POLICY)
    out = base / "pub" / "job1"
    cmd = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", str(base / "p.yaml")]
    cmd += ["--to", str(out), "--job", "job1", "--format", "json"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, capture_output=True, env=env, timeout=300, check=False)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    entries = {e["path"]: e for e in json.loads(proc.stdout)["entries"]}
    return {"ordinary": ordinary, "attacks": attacks, "entries": entries, "out": out,
            "rc": proc.returncode}


def _returned(data: bytes) -> list[bytes]:
    """Every name and value libhdf5 returns through h5py: links, datasets, attributes."""
    seen: list[bytes] = []

    def visit(name: str, obj) -> None:
        seen.append(name.encode())
        if isinstance(obj, h5py.Dataset):
            seen.append(read_dataset(obj))
        for key in obj.attrs:
            seen.extend((key.encode(), read_attr(obj, key)))

    with h5py.File(io.BytesIO(data), "r") as f:
        visit("/", f)
        f.visititems(visit)
    return seen


def _marked(names, table):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=table[n]))
            if n in table else n for n in sorted(names)]


def test_every_exemption_names_a_real_case():
    assert set(files.HOLES) <= set(files.ATTACKS)
    assert set(files.FALSE_REJECTIONS) <= set(files.ORDINARY)


@pytest.mark.parametrize("name", _marked(files.ORDINARY, files.FALSE_REJECTIONS))
def test_ordinary_output_published_byte_identical(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == vetted["ordinary"][name]


@pytest.mark.parametrize("name", _marked(files.ORDINARY, files.REPORT_LIES))
def test_report_sha256_is_the_published_files(vetted, name):
    """What the report says was published (its sha256) is what the public area holds."""
    entry = vetted["entries"][name]
    if entry["verdict"] != "accepted":
        pytest.skip("refused: nothing published")
    published = hashlib.sha256((vetted["out"] / name).read_bytes()).hexdigest()
    assert entry["sha256"] == published


@pytest.mark.parametrize("name", sorted(files.ATTACKS))
def test_attack_file_is_readable_and_hides_the_payload(vetted, name):
    """libhdf5 reads the crafted file, it carries the payload, and no name or value a
    reader gets holds it."""
    data = vetted["attacks"][name]
    assert PAYLOAD in data
    assert not any(PAYLOAD in value for value in _returned(data)), name


@pytest.mark.parametrize("name", _marked(files.ATTACKS, files.HOLES))
def test_attack_refused(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected", f"published: {name}"
    assert entry["detail"].startswith("hdf5:"), entry["detail"]
    assert not (vetted["out"] / name).exists()


@pytest.mark.parametrize("name", sorted(files.DOCUMENTED))
def test_documented_refusal_names_its_remedy(vetted, name):
    """Files written in steps the docs say are refused (what libhdf5 freed and did not
    clear): refused, and the message names the remedy."""
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected"
    assert entry["detail"].startswith("hdf5:"), entry["detail"]
    assert files.DOCUMENTED[name][1] in entry["detail"], entry["detail"]


def test_whole_run_exit_code(vetted):
    """Per-file mode: findings give exit 1 (there are refusals); the rest still published."""
    assert vetted["rc"] == 1
