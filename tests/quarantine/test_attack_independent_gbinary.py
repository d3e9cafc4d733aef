"""Independent attack g on the ROOT and HDF5 claims (issue #13, session 34).

Attacks docs/quarantine.md's ROOT and HDF5 rows and their "what exactness leaves", not
the code (neither the validators nor their tests were read). Tried here:
- ROOT codec streams with more than one stream a block: a zstd skippable frame after
  the frame, a second xz stream (empty, or holding the object's tail), an empty zlib
  stream after the object's; a zlib preset dictionary id;
- ROOT deleted records whose key's datime the file's history does not explain;
- HDF5 chunk B-tree final key: its size, filter mask and the element dimension's offset
  (libhdf5 writes 0), off the chunk grid, two chunks past a bounded maximum;
- ordinary uproot output not written before: a TTree (one that moved too) or an RNTuple
  deleted with `del` (same job or a later one), one basket past zstd's 512 KiB window or past the 16 MiB a
  ROOT block holds (LZ4, zlib: two blocks a record), update jobs adding trees under
  LZ4/zstd/LZMA, 2D/3D histograms replaced, RNTuples of jagged arrays under LZ4/LZMA;
- ordinary h5py output over sessions: groups (track_order or not) given links and
  attributes in 4 sessions, a gzip table appended to in 3, 5 and 6 sessions, a resizable dataset shrunk
  off a chunk boundary and grown again (plain, filtered, libver latest), a dataset's
  variable-length strings overwritten, a dataset deleted and written again in one session.
Files: tests/support/attack_gbinary_{root,hdf5}.py. All go into ONE quarantine vetted
once through the CLI with the shipped batch policy's allow_types. A hole is a strict
xfail saying what got out (HOLES); ordinary output must be published byte-identical
(FALSE_REJECTIONS lists what is refused).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("h5py")
pytest.importorskip("uproot")

from tests.support import attack_gbinary_hdf5 as h5files  # noqa: E402
from tests.support import attack_gbinary_root as rootfiles  # noqa: E402
from tests.support.attack_fbinary_hdf5 import readable  # noqa: E402
from tests.support.attack_fbinary_root import PAYLOAD, opens  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ALLOW = "allow_types: [text, csv, json, root, fits, hdf5, gzip]"  # policy/batch.yaml's
POLICY = f"""\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: attack-gbinary}}
spec:
  quarantine:
    {ALLOW}
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {{mode: per-file, file_mode: 0644, dir_mode: 0755}}
"""

HOLES: dict[str, str] = {}

# every false rejection of this round is fixed (gh5: HDF5 appends and dense groups; groot: del of a moved TTree)
FALSE_REJECTIONS: dict[str, str] = {}


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    assert ALLOW in (REPO / "policy" / "batch.yaml").read_text()
    base = tmp_path_factory.mktemp("attackgb")
    made = base / "made"
    ordinary = {**rootfiles.controls(made / "ctl"), **h5files.controls()}
    attacks = {**rootfiles.hostile(made / "hostile"), **h5files.hostile()}
    q = base / "q"
    q.mkdir()
    for name, data in {**ordinary, **attacks}.items():
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


def _marked(names, table):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=table[n]))
            if n in table else n for n in sorted(names)]


ROOT_ATTACKS = sorted(rootfiles.HOSTILE_NAMES)
H5_ATTACKS = sorted(h5files.HOSTILE_NAMES)
ORDINARY = sorted(rootfiles.CONTROL_NAMES + h5files.CONTROL_NAMES)
BITS_ONLY = rootfiles.BITS_ONLY | h5files.BITS_ONLY


def test_every_exemption_names_a_real_case():
    assert set(HOLES) <= set(ROOT_ATTACKS + H5_ATTACKS)
    assert set(FALSE_REJECTIONS) <= set(ORDINARY)


def test_the_cases_are_the_files(vetted):
    assert sorted(vetted["attacks"]) == sorted(ROOT_ATTACKS + H5_ATTACKS)
    assert sorted(vetted["ordinary"]) == ORDINARY


@pytest.mark.parametrize("name", _marked(ORDINARY, FALSE_REJECTIONS))
def test_ordinary_output_published_byte_identical(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == vetted["ordinary"][name]


@pytest.mark.parametrize("name", ROOT_ATTACKS + H5_ATTACKS)
def test_attack_file_carries_the_payload(vetted, name):
    """The attack is real: the payload (or the case's bits) is in the file, and the file
    is what the tool wrote but for the patch (ROOT: uproot opens it; HDF5: libhdf5 reads
    every dataset)."""
    data = vetted["attacks"][name]
    assert (PAYLOAD in data) or name in BITS_ONLY
    assert opens(data) if name.endswith(".root") else readable(data)


@pytest.mark.parametrize("name", _marked(ROOT_ATTACKS + H5_ATTACKS, HOLES))
def test_attack_refused(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected", f"published: {name}"
    assert entry["detail"].split(":")[0] in ("root", "hdf5"), entry["detail"]
    assert not (vetted["out"] / name).exists()


def test_whole_run_exit_code(vetted):
    """Per-file mode: refusals give exit 1; the rest is still published."""
    assert vetted["rc"] == 1
