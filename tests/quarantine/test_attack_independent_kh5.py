"""Independent attack k on the HDF5 null-message bound (issue #13, session 36).

Attacks docs/quarantine.md's HDF5 section as changed in session 36 (not the code:
neither the validators nor their tests were read): a null message of a v2 object header
whose links or attributes moved after a flush or a reopen may hold pieces of the
header's own messages (slices of 6+ bytes, a message's last 1-5 bytes, a continuation
length, one stale checksum in a header with dense storage), at most 2 a message + 1 a
held link or attribute + 4; "data in a null message of a header nothing moved from is
refused". Tried here (tests/support/attack_kh5_nulls.py), each a real h5py file whose
null bodies alone were rewritten (block checksum recomputed):
- payload spelled by piece CHOICE past the count: 59 two-byte and 118 one-byte message
  tails (f0 3f / ff ff) in /g's 118-byte null;
- pieces of ANOTHER header (the root's attribute) in /g's null, /g's strips in a
  subgroup's null; two stale checksums in one header; a checksum without dense storage;
- nulls of headers that never held the pieces: a subgroup never touched again, the root
  (only written in the first session), and a file written in ONE session with no flush
  (a dataset whose header outgrew its block: a continuation block and a zero null);
- a freed continuation block's null that is not its last message given data (the block's
  checksum recomputed);
- a dense link's message (from a freed block) in /g's null renamed, its name shuffled or
  its address changed, with the one stale checksum spent in the other null;
- documented capacity, measured (admitted): one stale checksum (32 bits anywhere in the
  nulls: it also admits a link message naming 'PWN_0_3_...', which no link has), 19
  slices chosen by payload, 27 pieces (11 of them 2-byte tails chosen f0 3f / ff ff).
Ordinary multi-session h5py workflows (tests/support/attack_kh5_ordinary.py: attributes
of many types and sizes, numeric attributes only, links and soft links, datasets with
attributes, track_order, libver default and 'latest'; no deletion, no rewrite) must be
published byte-identical. All files go into ONE quarantine vetted once through the CLI
with the shipped batch policy's allow_types.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("h5py")

from tests.support import attack_kh5_nulls as nulls  # noqa: E402
from tests.support import attack_kh5_ordinary as ordinary  # noqa: E402
from tests.support.hdf5_attack_c_bytes import readable  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ALLOW = "allow_types: [text, csv, json, root, fits, hdf5, gzip]"  # policy/batch.yaml's
POLICY = f"""\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: attack-kh5}}
spec:
  quarantine:
    {ALLOW}
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {{mode: per-file, file_mode: 0644, dir_mode: 0755}}
"""

# Closed in session 36 (moved._cut_tail): without dense storage, a non-zero null is only
# the tail of a message a continuation message displaced; the four one-session and
# unmoved-root nulls holding slices of their own messages are refused.
HOLES: dict[str, str] = {}

FALSE_REJECTIONS: dict[str, str] = {
    # ctl-k-links4-u-latest.h5 (libhdf5 left a null with flags 0x04): published since
    # session 36's lead fix (tuning.MESSAGE_FLAGS: a null keeps its message's flags)
    # Session 37 (h5fix): ctl-k-numbers3-{t-def,t-latest,u-latest}, ctl-k-sizes3-{t,u}-latest
    # and ctl-k-calib12-5x17-latest (old lists holding a first row section: skipped.py),
    # ctl-k-big9-500-t-def, ctl-k-sizes3-t-def, ctl-k-calib9-50-latest and ctl-k-calib12
    # again (a freed block of attributes in a row, its start under the dense storage, the
    # first after the message a continuation message displaced: heldblocks.py) are published
    # Session 39 (h5jkl): ctl-k-members4-t-def-str (a freed block's continuation and null
    # messages, one displaced message's slot, and a link under later structures, its checksum
    # shown: oldblocks.SLOTS, test_hdf5_hiddenslots.py) is published
    "ctl-k-big9-1500-u-latest.h5": "refused ('bytes 240..96707 (after the object header of "
    "/g) are reached from no structure', the whole file but the superblock and headers): /g "
    "given one 12 KB attribute (1500 doubles) a session, 9 sessions, 'latest': 108 KB of "
    "messages, under the docs' 256 KiB bound, and the refusal names no bound (the default "
    "libver passes; session 37: /g's first chunk grew in place to 96 KB, then shrank to 61 "
    "bytes when the attributes became huge dense objects: its freed tail is not recomputed)",
    "ctl-k-mixed9-u-latest.h5": "refused ('bytes 6352..8192 (after the free-space section "
    "list of the fractal heap of the attributes of /g) are reached from no structure'; they "
    "are link messages 'grp6', 'grp7'): /g given a subgroup, a float array attribute and a "
    "short string attribute a session, 9 sessions, 'latest' (the default libver passes; "
    "session 37: the links' freed block, whose last null holds stale headers of attributes "
    "moved out before)",
    "ctl-k-members4-u-latest-flt.h5": "refused ('bytes 757..1239 (after an indirect block of "
    "the fractal heap of the attributes of /g) are reached from no structure'): /g untracked, "
    "'latest', given 3 subgroups and 4 float array attributes (1-16 doubles) a session, 4 "
    "sessions (the docs' own sweep shape; 248 of 256 such files pass; session 37: a freed "
    "block of a session's links then its attributes, two runs heldblocks.py does not join)",
}

ATTACKS = nulls.HOSTILE_NAMES
ORDINARY = sorted(ordinary.CONTROL_NAMES
                  + ["ctl-kh5-base.h5", "ctl-kh5-one-session.h5", "ctl-kh5-one-session-20.h5"])


def _vet(q: Path, policy: Path, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", str(policy)]
    cmd += ["--to", str(out), "--job", "job1", "--format", "json"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(cmd, capture_output=True, env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    """One quarantine of every case, vetted once."""
    assert ALLOW in (REPO / "policy" / "batch.yaml").read_text()
    base, one, many = nulls.base(), nulls.one_session(), nulls.one_session_many()
    ctl = {**ordinary.controls(), "ctl-kh5-base.h5": base, "ctl-kh5-one-session.h5": one,
           "ctl-kh5-one-session-20.h5": many}
    attacks, within = nulls.hostile(base, one, many), nulls.within_bound(base)
    where = tmp_path_factory.mktemp("attackkh5")
    q = where / "q"
    q.mkdir()
    for name, data in {**ctl, **attacks, **within}.items():
        (q / name).write_bytes(data)
        os.chmod(q / name, 0o644)
    policy = where / "p.yaml"
    policy.write_text(POLICY)
    proc = _vet(q, policy, where / "pub" / "job1")
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    entries = {e["path"]: e for e in json.loads(proc.stdout)["entries"]}
    return {"ordinary": ctl, "attacks": attacks, "within": within, "entries": entries,
            "out": where / "pub" / "job1", "rc": proc.returncode, "base": base, "one": one,
            "many": many}


def _marked(names, table):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=table[n]))
            if n in table else n for n in sorted(names)]


def test_every_exemption_names_a_real_case():
    assert set(HOLES) <= set(ATTACKS)
    assert set(FALSE_REJECTIONS) <= set(ORDINARY)


def test_the_cases_are_the_files(vetted):
    assert sorted(vetted["attacks"]) == ATTACKS
    assert sorted(vetted["ordinary"]) == ORDINARY
    assert sorted(vetted["within"]) == nulls.WITHIN_NAMES


def test_the_nulls_attacked_are_real(vetted):
    """/g's largest null holds libhdf5's strips (non-zero), the one-session null and the
    subgroup's null are zeros as written: the attacks fill what libhdf5 left."""
    base, one = vetted["base"], vetted["one"]
    assert any(nulls._body(base, nulls._nulls(nulls._header(base, nulls.G))[0]))
    assert not any(nulls._body(one, nulls._nulls(nulls._header(one, nulls.ONE))[0]))
    assert not any(nulls._body(base, nulls._nulls(nulls._header(base, nulls.SUB))[0]))
    assert not any(nulls._body(base, nulls._nulls(nulls._header(base, nulls.ROOT))[0]))
    for n in range(20):
        hdr = nulls._header(vetted["many"], f"/d{n}")
        assert len(hdr.chunks) == 2 and not any(nulls._body(vetted["many"], nulls._nulls(hdr)[0]))


@pytest.mark.parametrize("name", _marked(ORDINARY, FALSE_REJECTIONS))
def test_ordinary_output_published_byte_identical(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == vetted["ordinary"][name]


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_is_a_readable_file_differing_only_in_null_bodies(vetted, name):
    data = vetted["attacks"][name]
    assert readable(data)
    src = vetted["many"] if "20-datasets" in name else (
        vetted["one"] if "one-session" in name else vetted["base"])
    assert len(data) == len(src) and data != src


@pytest.mark.parametrize("name", _marked(ATTACKS, HOLES))
def test_attack_refused(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected", f"published: {name}"
    assert entry["detail"].startswith("hdf5"), entry["detail"]
    assert any(why in entry["detail"] for why in ("null message", "from no structure")), \
        entry["detail"]
    assert not (vetted["out"] / name).exists()


@pytest.mark.parametrize("name", nulls.WITHIN_NAMES)
def test_documented_capacity_published_as_checked(vetted, name):
    """Within the docs' bound (one stale checksum; slices in a chosen order): admitted,
    and the bytes published are the bytes checked. (The docs also say 'a name no link
    has ... is refused': a renamed link passes while the stale checksum is unspent.)"""
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == vetted["within"][name]


def test_whole_run_exit_code(vetted):
    """Per-file mode: refusals give exit 1; the rest is still published."""
    assert vetted["rc"] == 1
