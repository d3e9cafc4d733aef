"""Independent attack j on the ROOT claims (issue #13, session 35): what `del` leaves.

Attacks docs/quarantine.md's ROOT row and "what exactness leaves" as changed in session
35 (a tree or RNTuple deleted with uproot's `del` and written again under its name: its
orphan baskets admitted behind a live tree of that name and directory, uproot's keys,
cycle 0, dated no later than the tree, every branch some; RNTuple orphan footers carrying
an orphan header's checksum; up to 4 older FreeSegments entries after fEND), not the code
(neither the validators nor their tests were read). Tried here:
- ordinary uproot 5.7 jobs (tests/support/attack_jroot_files.py): a tree deleted and made
  again with the same, other, fewer, more, retyped or reordered branches, over 5
  generations, twice in one job, empty, in a (nested) subdirectory or a directory deleted
  whole, extended until it moves before, after or in the same job, two trees swapped,
  jagged, assigned, twins, another codec; RNTuples over generations, with other fields,
  extended, in a subdirectory, twice a job; 12 histograms deleted and written again in
  place; every codec;
- forged files (tests/support/attack_jroot_forge.py): orphan baskets appended behind the
  live tree of a file where nothing was deleted (every branch, one branch, 200), an orphan
  of a real `del` patched in each pinned key field (cycle, datime later and before the
  file existed, parent, title, name, fBufferSize) or its payload; FreeSegments tails after
  fEND (3 or 4 older segments, unordered, another version, past the record) in a file
  whose free list never shrank; RNTuple header and footer blobs no anchor reaches, copied
  behind a live RNTuple of a file where nothing was deleted (the pair, one alone, two
  headers for one footer, payload in the header with its checksums recomputed, another
  name), or behind a TTree of its name (and t's baskets behind an RNTuple t).
All files go into ONE quarantine vetted once through the CLI with the shipped batch
policy's allow_types. HOLES: strict xfails saying what got out; FALSE_REJECTIONS: ordinary
output refused; LISTED: published, as docs/quarantine.md's "what exactness leaves" says
(the test fails when that changes, so the list is kept honest).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("uproot")

from tests.support import attack_jroot_files as ordinary_files  # noqa: E402
from tests.support import attack_jroot_forge as forged  # noqa: E402
from tests.support.attack_fbinary_root import PAYLOAD, opens  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ALLOW = "allow_types: [text, csv, json, root, fits, hdf5, gzip]"  # policy/batch.yaml's
POLICY = f"""\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: attack-jroot}}
spec:
  quarantine:
    {ALLOW}
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {{mode: per-file, file_mode: 0644, dir_mode: 0755}}
"""

# Session 36 closed the two tail holes (root-j-tail-3-segments, root-j-tail-inside-basket):
# what follows fEND is checked against the record's history (root_free._stale).
HOLES: dict[str, str] = {}

# Fixed in session 36 (rbranch): a tree deleted with `del` and made again with other
# branches (other, fewer, wider, jagged-to-flat: its orphans name branches the new tree
# lacks) or more (superset, uncompressed: the deleted tree's record's tail in free space
# lists its orphans of y) passes (root_data._deleted: what the file proves was deleted).
# Passing since session 36 (rover, root_tails): ctl-j-hists-refilled-{zlib,lzma,zstd}, 12
# histograms, every second deleted and written again, the same, in a later job: a deleted
# record's tail behind the smaller record written over its start is the end of the live
# one written again.
FALSE_REJECTIONS: dict[str, str] = {
    "ctl-j-superset-zlib.root": "refused ('the basket at 244 is in no list of its tree's "
    "baskets'): plain uproot, t(x, y) deleted with `del` in job 2 and made again as t(x, y, z) "
    "in job 3 (zlib): the orphans are of branches the new tree has, and the free space lists "
    "none of them (the old record's tail there holds no basket list): vmguard cannot tell "
    "them from baskets forged beside the live tree (root-j-forged-orphans-one-branch)",
}

# Published as docs/quarantine.md says ("baskets of every branch added beside any live
# uproot tree ... carry data of any length no reader shows"; "each key's datime ... up to
# 32 bits a key"; "likewise the header and footer of an RNTuple written again").
# root-j-orphan-datime-1995.root (an orphan's datime 0x00210000) was listed here until
# session 38: month 0 is no date, refused since every datime is a date-time (attack n).
LISTED = {
    "root-j-forged-orphans-every-branch.root": "two forged orphans, no deletion in the file",
    "root-j-forged-orphans-200.root": "200 forged orphans (100 a branch), 173 KB of payload",
    "root-j-orphan-payload.root": "a real orphan's entries replaced",
    "root-j-rntuple-orphan-pair.root": "a copy of the live header and footer blobs, no "
    "RNTuple ever deleted",
    "root-j-rntuple-orphan-pair-payload.root": "the same pair, the header's writer string "
    "'Uproot' replaced by payload, its checksum and the footer's copy of it recomputed",
    "root-j-subdir-orphans-parent-dir.root": "two orphans forged behind d/t, parent d",
}
BITS_ONLY = {"root-j-orphan-cycle-1.root", "root-j-orphan-datime-later.root",
             "root-j-orphan-datime-1995.root", "root-j-orphan-parent-0.root",
             "root-j-orphan-title-u.root", "root-j-orphan-name-q.root",
             "root-j-rntuple-orphan-pair.root", "root-j-rntuple-orphan-header-alone.root",
             "root-j-rntuple-orphan-footer-alone.root", "root-j-rntuple-orphan-two-headers.root",
             "root-j-tail-unordered.root", "root-j-tail-version-7.root",
             "root-j-tail-past-record.root", "root-j-tail-3-segments.root",
             "root-j-tail-4-segments.root", "root-j-rntuple-orphan-pair-other-name.root",
             "root-j-tail-reversed.root", "root-j-tail-zeros.root",
             "root-j-tail-inside-basket.root", "root-j-rntuple-behind-tree.root"}


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    assert ALLOW in (REPO / "policy" / "batch.yaml").read_text()
    base = tmp_path_factory.mktemp("attackjroot")
    ordinary = ordinary_files.controls(base / "made" / "ctl")
    attacks = forged.hostile(base / "made" / "hostile")
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


ATTACKS = forged.HOSTILE_NAMES
ORDINARY = ordinary_files.CONTROL_NAMES


def test_every_exemption_names_a_real_case():
    assert set(HOLES) | set(LISTED) <= set(ATTACKS)
    assert not set(HOLES) & set(LISTED)
    assert set(FALSE_REJECTIONS) <= set(ORDINARY)
    assert not BITS_ONLY - set(ATTACKS)


def test_the_cases_are_the_files(vetted):
    assert sorted(vetted["attacks"]) == ATTACKS
    assert sorted(vetted["ordinary"]) == ORDINARY


@pytest.mark.parametrize("name", _marked(ORDINARY, FALSE_REJECTIONS))
def test_ordinary_output_published_byte_identical(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == vetted["ordinary"][name]


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_output_reads(vetted, name):
    """The controls are real: uproot opens each and lists its keys."""
    assert opens(vetted["ordinary"][name])


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_file_carries_the_payload(vetted, name):
    """The attack is real: the payload (or the case's bits) is in the file, and uproot
    opens the patched file."""
    data = vetted["attacks"][name]
    assert (PAYLOAD in data) or name in BITS_ONLY
    assert opens(data)


@pytest.mark.parametrize("name", sorted(LISTED))
def test_listed_limit_published(vetted, name):
    """What the docs list among exactness's leftovers is published byte-identical."""
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", f"{LISTED[name]}: {entry['detail']}"
    assert (vetted["out"] / name).read_bytes() == vetted["attacks"][name]


@pytest.mark.parametrize("name", _marked(sorted(set(ATTACKS) - set(LISTED)), HOLES))
def test_attack_refused(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected", f"published: {name}"
    assert entry["detail"].startswith("root:"), entry["detail"]
    assert not (vetted["out"] / name).exists()


def test_whole_run_exit_code(vetted):
    """Per-file mode: refusals give exit 1; the rest is still published."""
    assert vetted["rc"] == 1
