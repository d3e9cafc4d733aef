"""Independent attack m on the HDF5 rules changed in session 37 (issue #13).

Attacks docs/quarantine.md's HDF5 section as changed in session 37 (not the code: neither
the validators nor their tests were read): the tail of a freed continuation block that
held a header's dense attributes in a row is recomputed whole and admitted (heldblocks.py:
OCHK, optionally one displaced message, a run in the order the header got them, a gap of
zeros shorter than a message header, the checksum; each run once, at most n blocks a
header); older free-space section lists naming runs of skipped heap blocks (skipped.py);
a continuation message's order field held to the rule of other non-attribute messages.
Tried (tests/support/attack_mh5_held.py, attack_mh5_cases.py), in a real 12-session
file (a 4000-row dataset, then one calibration attribute a session, 'latest'; attack k
h5's calib12 with more rows; session 1 also writes a small dataset, /log) whose raw data
was moved to the end of the file, which vet admits, leaving a 32 KB hole of zeros inside
the file with /data's header before it and /log's after it (session 38: without /log an
old section list followed the hole, zeros before it, and vet refused the base):
- blocks of /data's dense attributes forged there where nothing was freed: tails whose
  start lies under /data's header, whole blocks, chains of blocks, reversed and skipping
  runs, a run of attributes added after the move, gaps of 6, 40 and 400 zeros (all
  admitted as the docs allow but the 400 gap), and outside the pins: message flags 0x01
  and 0x04, bodies padded, a non-zero gap byte, bytes after the checksum, a null holding
  a payload, a lead layout message with its old or a chosen address, 19 blocks for a
  header of 18 messages, a payload after a tail (all refused);
- whole blocks at chosen offsets of the hole, and of the zeros h5py's own unmodified
  calib12 file has after /data's header (the rest of a 2048-byte metadata block);
- tails starting under the root's header with 3-4 whole small attributes hidden (only
  heldblocks' recomputation explains them): the run, a gap of 3, a lead message of
  /data (admitted); two hidden messages swapped, a gap of 4 (a message header), the
  root's link info as lead (refused);
- (not in the file: every single-byte change, +1 and -1, checksum recomputed, of the last
  24 bytes of the 5 older free-space section lists of attack k h5's calib12, numbers3
  and sizes3 'latest' files, 240 variants: all refused);
- a tracked root's live continuation message given order next-1 (docs: any order below
  the next one), next and 0xffff.
Found: a whole freed block's place in a stretch of zeros was free (closed in session 37). Ordinary
multi-session h5py output (tests/support/attack_mh5_ordinary.py and the sweep and
variable-length string workflows of attack_mh5_cases.py: run logs, growing arrays, links
and attributes together, root attributes; default libver and 'latest', tracked or not)
must be published byte-identical: FALSE_REJECTIONS below. All files go into ONE
quarantine vetted once through the CLI with the shipped batch policy's allow_types.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("h5py")

from tests.support import attack_mh5_cases as cases  # noqa: E402
from tests.support.hdf5_attack_c_bytes import readable  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ALLOW = "allow_types: [text, csv, json, root, fits, hdf5, gzip]"  # policy/batch.yaml's
POLICY = f"""\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: attack-mh5}}
spec:
  quarantine:
    {ALLOW}
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {{mode: per-file, file_mode: 0644, dir_mode: 0755}}
"""

# Closed in session 37 (oldsearch.GapSearch._from): a freed block starts where the unclaimed bytes
# start, where one of the structures before them starts, or right after another freed
# block; never after zeros (mh5-whole-at+1001, +20000, -two, plain-whole-at+1000, -two
# refused). In h5py's own calib12 file, at +1 the block stands where the unclaimed bytes
# start (the byte before is the last of an old root indirect block of /data's heap, its
# start under the header, its checksum ending in a zero): a place the docs list, moved to
# `within` below. Session 38: in the relocated base (with /log, so the heap lies elsewhere)
# the unclaimed bytes start at the header's end ('bytes 447..34048 (after the object
# header of /data)'), so mh5-whole-at+1 stands after a zero: refused, as forged() files it.
# Session 39 (ph5fix: a rebuilt old list or root block shows at least 2 bytes, or 1 where
# the structure covering it starts): calib12's old root block, whose one shown byte ended
# where mh5-plain-whole-at+1's block started, is no longer taken as shown, so that block
# stands after a zero too: refused, as forged() files it; no capacity of this file is listed.
HOLES: dict[str, str] = {}
LISTED: tuple[str, ...] = ()

# Closed in session 38 (moved._gap_merged): a tracked root or group given a variable-length
# string attribute each of 2-3 sessions (ctl-m-vlen-root3, -group3, -pair2-tracked) was
# refused for the null after its continuation message: the displaced attribute info
# message's last 6 bytes and the chunk's 2-byte gap, zeroed by H5O__eliminate_gap.
# Session 38 (oldstates.skips): the sweep's ctl-m-sw-attrs14-latest-u and
# ctl-m-sw-flush14-latest-u pass: an old list hidden under a later one named a run of
# blocks the untracked heap had skipped then and allocated since (test_hdf5_skipstates);
# ctl-m-sw-mix9-def-t and ctl-m-sw-mix9-latest-t pass within the search's bound: /g's
# freed block under the heap's list and root, found (oldblocks.py: a continuation's data
# or a null's header covered, attribute orders pinned, every start tried with few hidden
# choices first; test_hdf5_coveredblocks).
FALSE_REJECTIONS: dict[str, str] = {
}


def _vet(q: Path, policy: Path, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", str(policy)]
    cmd += ["--to", str(out), "--job", "job1", "--format", "json"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(cmd, capture_output=True, env=env, timeout=300, check=False)


def _cases() -> dict[str, dict[str, bytes]]:
    ordinary = cases.ordinary()
    within, hostile, relocated = cases.forged()
    hw, hh = cases.forged_hidden()
    hostile.update(cases.plain_places())
    within.update(hw)
    hostile.update(hh)
    ordinary.update(relocated)
    cw, ch = cases.cont_orders(ordinary["ctl-m-tracked-root4.h5"])
    within.update(cw)
    hostile.update(ch)
    within.update({name: hostile.pop(name) for name in LISTED})
    return {"ordinary": ordinary, "attacks": hostile, "within": within}


CASES = _cases()


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    """One quarantine of every case, vetted once."""
    assert ALLOW in (REPO / "policy" / "batch.yaml").read_text()
    where = tmp_path_factory.mktemp("attackmh5")
    q = where / "q"
    q.mkdir()
    for group in CASES.values():
        for name, data in group.items():
            (q / name).write_bytes(data)
            os.chmod(q / name, 0o644)
    policy = where / "p.yaml"
    policy.write_text(POLICY)
    proc = _vet(q, policy, where / "pub" / "job1")
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    entries = {e["path"]: e for e in json.loads(proc.stdout)["entries"]}
    return {"entries": entries, "out": where / "pub" / "job1", "rc": proc.returncode}


def _marked(names, table):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=table[n]))
            if n in table else n for n in sorted(names)]


def test_every_exemption_names_a_real_case():
    assert set(HOLES) <= set(CASES["attacks"])
    assert set(FALSE_REJECTIONS) <= set(CASES["ordinary"])


@pytest.mark.parametrize("name", sorted(CASES["attacks"]) + sorted(CASES["within"]))
def test_forged_file_is_readable_and_differs(name):
    """libhdf5 opens every forged file and reads all it holds: the forgeries are files."""
    data = {**CASES["attacks"], **CASES["within"]}[name]
    assert data not in CASES["ordinary"].values()
    assert readable(data)


@pytest.mark.parametrize("name", _marked(CASES["ordinary"], FALSE_REJECTIONS))
def test_ordinary_output_published_byte_identical(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == CASES["ordinary"][name]


@pytest.mark.parametrize("name", _marked(CASES["attacks"], HOLES))
def test_attack_refused(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected", f"published: {name}"
    assert entry["detail"].startswith("hdf5"), entry["detail"]
    assert not (vetted["out"] / name).exists()


@pytest.mark.parametrize("name", sorted(CASES["within"]))
def test_documented_capacity_published_as_checked(vetted, name):
    """Within the docs (a freed block of the header's messages in a chosen order, a null
    of zeros, one displaced message; a tail whose start a structure took; an order field
    below the next attribute's): admitted, and the bytes published are those checked."""
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == CASES["within"][name]


def test_whole_run_exit_code(vetted):
    """Per-file mode: refusals give exit 1; the rest is still published."""
    assert vetted["rc"] == 1
