"""Independent attack o on the ROOT claims (issue #13, session 39): what session 38 added.

Attacks docs/quarantine.md's "ROOT: what exactness leaves" as changed in session 38, not
the code (neither the validators nor their tests were read):
- the slack behind the top keys list at its first place (`root_slack.behind_list`:
  "zeros where the directory shows no deletion ... and the file no writer ..., else key
  material only: at most one run of a live keys list and the file's loose bytes ... and,
  without a writer, no copy of a key the file holds"): chosen text, and one run of the
  list, in a one-job file of histograms; in a one-job file of histograms and a TTree (a
  writer, nothing deleted) one run (the docs' limit), 24 loose bytes (the docs' limit),
  two runs in a chosen order, whole keys repeated in a chosen order, a whole key copy
  dated a second after every key of the file, or by 4 chosen bytes that decode as a date
  13 years before the file (tests/support/attack_oroot_forge.py `slack`); in a file that
  deleted two histograms (no writer), past the versions: one run of 27 bytes, two, three
  of 25, a whole key copy, 16 and 48 chosen bytes (`behind_del`); behind a
  subdirectory's list (at its first place: zeros), one, two and three runs of 30 bytes
  of its list, three runs of the StreamerInfo (`behind_sub`);
- datimes ("every datime a calendar date-time", session 38): a deleted record's key whole
  in free space dated November 31, 23:59:60 or 23:60:00 (each lies, as a packed number,
  between the file's making and its last write), a live key and its list copy, the
  StreamerInfo key, the top directory's and a subdirectory's creation and modification
  times at no date, and 4 chosen bytes that decode as a date in a directory's creation
  time (`datimes`);
- a live TTree's key as an older keys list kept it before uproot moved the tree (attack
  n's five jobs): dated at no date, later than the live key, 13 years before the file,
  earlier (documented), 2014 once the file's making says 2013, cycle 2, 100 bytes
  shorter or longer; 192 (documented) and 320
  chosen bytes in its old record's tail left free (`moved`);
- a TTree deleted, made again and extended: the deleted tree's orphan baskets dated at
  no date, after the live tree, earlier (documented), 13 years before (`orphans`);
- the hosts' clocks window (26 h 5 min, `root_trees.CLOCKS`): a deleted record dated
  26 h 4 min (documented) and 26 h 6 min before the file's making; dated 2020 or 2035
  after the top directory's fDatimeC or fDatimeM (not recomputed) was set to 2013 or 2040;
- blocks ("every block but the last inflating to 16 MiB - 1"): an empty zlib block
  before a small histogram's one, its payload cut at 1000 bytes (`blocks`);
- ordinary uproot 5.7 workflows over several jobs on hosts with different clocks (uproot's
  own `datetime.now` set per job: 5 h west, 9 h east, UTC-12 and UTC+14 of the maker,
  30 s behind, a daylight-saving fall-back hour), `uproot.update` jobs writing, extending
  and deleting histograms, TTrees (one moved by 11 extends, one deleted and made again),
  RNTuples (one jagged, extended), strings, subdirectories, in every codec
  (tests/support/attack_oroot_files.py).
All files go into ONE quarantine vetted once through the CLI with the shipped batch
policy's allow_types. HOLES: strict xfails saying what got out; FALSE_REJECTIONS:
ordinary output refused; DOCUMENTED_REFUSALS: ordinary output a documented rule refuses;
LISTED: published, as the docs say (kept honest: fails when that changes).
"""

from __future__ import annotations

import io
import os

import pytest

uproot = pytest.importorskip("uproot")

from tests.support import attack_nroot_forge as nforge  # noqa: E402
from tests.support import attack_nroot_rio as rio  # noqa: E402
from tests.support import attack_oroot_files as ordinary_files  # noqa: E402
from tests.support import attack_oroot_forge as forge  # noqa: E402

# Session 39 (orootfix) closed attack o's holes: two runs of the live list behind it in
# a chosen order, keys repeated, two runs past the versions (root_slack.Rationed: at most
# one run, what follows it only a tail of the key it ends on); fDatimeC moved alone, the
# making moved without the top list's and FreeSegments' keys (root_dates: the file's dates
# agree). fDatimeM moved alone is priced (LISTED below); tests/quarantine/test_root_dates.py
# has the variants.
HOLES: dict[str, str] = {}

# ctl-o-tz-tree-again-*: refused until rootfr (session 39: orphan baskets dated up to
# root_model.CLOCKS after the tree made again): controls now.
FALSE_REJECTIONS: dict[str, str] = {}

# "Still refused (false rejections): ... the tail of a compressed record deleted and
# written over (a smaller record at the start of its segment) whose object is not live
# again byte for byte: a histogram deleted and not written again, or written again with
# other contents": b deleted and written again with 7 bins (zlib); a TH2D and a string
# deleted, a TH3D written later (every compressed codec). Both refused on one clock too.
_SMALLER_OVER = "root: the free space at"
DOCUMENTED_REFUSALS = sorted(
    ["ctl-o-tz-hists-zlib.root"]
    + [f"ctl-o-tz-jagged-mixed-{c}.root" for c in ("lz4", "lzma", "zlib", "zstd")])

LISTED = {
    # behind a subdirectory's list: "at most one run of a live keys list" and "runs of
    # the live metadata but the keys lists'" in any number: three runs of the
    # StreamerInfo (two and three runs of run1's list are refused: session 39)
    "root-o-sub-one-run.root",
    "root-o-sub-streamer-runs.root",
    # with a writer a copy of a key the file holds is key material, and "a key dated
    # before the file or at no date is no key of the chain, its datime 4 of the loose
    # bytes": a key copy dated a second after every key, or by 'K3Y!' (2013-12-25)
    "root-o-slack-key-copy-later-tree.root",
    "root-o-slack-key-copy-k3y-tree.root",
    # a deletion shown: "at most one run of a live keys list" (27 bytes) ...
    "root-o-del-one-run.root",
    # ... "and the file's loose bytes" (16 chosen; 48 are refused)
    "root-o-del-text-16.root",
    # the moved tree's older key: "datime (from the file's making to the live key's ...)"
    "root-o-moved-key-earlier.root",
    # its record's tail left free, "judged as remains of the live tree": "one older
    # copy's 48 + 48 a branch with baskets for each tree uproot moved" (2 branches: 192
    # chosen bytes; 320 are refused)
    "root-o-moved-tail-192.root",
    # orphan baskets: "their datime no later than the live tree's"; a basket's datime is
    # "about 31 bits a key ... baskets included": an earlier hour, and 'K3Y!' (2013)
    "root-o-orphan-earlier.root",
    "root-o-orphan-k3y.root",
    # ... "dated at most CLOCKS (26 h 5 min) after the tree made again" (session 39,
    # rootfr): an orphan 6 s after the live tree
    "root-o-orphan-after-live.root",
    # "What a forger still places past the versions: one run of a live keys list"
    "root-o-slack-one-run-tree.root",
    # "... and the file's loose bytes" (24)
    "root-o-slack-loose-24-tree.root",
    # a record in free space dated "from 26 h 5 min before the file's creation"
    "root-o-free-key-window-26h04.root",
    # "Not recomputed: ... a subdirectory's creation and modification times (the clock's)":
    # 4 chosen bytes that decode as a date (2013-12-25 21:36:33); the top directory's
    # fDatimeC is the TFile key's moment since session 39 (refused)
    "root-o-subdir-ctime-chosen.root",
    # the window's end is the file's last write as it states it (fDatimeM: a job that only
    # deletes leaves no other date), priced in the docs: a deleted record dated 2035 once
    # fDatimeM says 2040
    "root-o-mtime-2040-free-2035.root",
}

ATTACK_NAMES = sorted(forge.NAMES)
ORDINARY = sorted((set(ordinary_files.CONTROL_NAMES) | set(forge.BASE_NAMES))
                  - set(DOCUMENTED_REFUSALS))


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    assert rio.ALLOW in (rio.REPO / "policy" / "batch.yaml").read_text()
    base = tmp_path_factory.mktemp("attackoroot")
    ordinary = ordinary_files.controls(base / "made" / "ctl")
    attacks, bases = forge.hostile(base / "made" / "forge")
    ordinary |= bases
    q = base / "q"
    q.mkdir()
    for name, data in {**ordinary, **attacks}.items():
        (q / name).write_bytes(data)
        os.chmod(q / name, 0o644)
    entries, out, rc = rio.vet(q, base)
    return {"ordinary": ordinary, "attacks": attacks, "entries": entries, "out": out,
            "rc": rc}


def _marked(names, table):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=table[n]))
            if n in table else n for n in sorted(names)]


def _reads(data: bytes) -> dict:
    """uproot opens the file and reads every object its keys list names: their reprs."""
    with uproot.open(io.BytesIO(data)) as f:
        keys = f.keys(recursive=True)
        assert keys
        return {k: type(f[k]).__name__ for k in keys}


def test_every_exemption_names_a_real_case():
    assert set(HOLES) | LISTED <= set(ATTACK_NAMES)
    assert not set(HOLES) & LISTED
    assert set(FALSE_REJECTIONS) <= set(ORDINARY)
    assert set(DOCUMENTED_REFUSALS) <= set(ordinary_files.CONTROL_NAMES)


@pytest.mark.parametrize("name", DOCUMENTED_REFUSALS)
def test_documented_refusal(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected", f"published: {name}"
    assert entry["detail"].startswith(_SMALLER_OVER), entry["detail"]
    assert _reads(vetted["ordinary"][name])


@pytest.mark.parametrize("name", _marked(ORDINARY, FALSE_REJECTIONS))
def test_ordinary_output_published_byte_identical(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == vetted["ordinary"][name]


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_output_reads(vetted, name):
    """The controls are real: uproot reads every object of each."""
    assert _reads(vetted["ordinary"][name])


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_attack_file_reads_as_its_base(vetted, name):
    """The attack is real and hidden: uproot reads the same objects as from the base file
    it was made from, which it differs from (the chosen bytes are where no reader looks,
    or in a datime field)."""
    data = vetted["attacks"][name]
    base = vetted["ordinary"][forge.BASE_OF[name]]
    assert data != base and len(data) == len(base)
    assert _reads(data) == _reads(base)


def test_slack_is_zeros_in_uproot_output(vetted):
    """Shown hostile: behind the top list uproot leaves zeros in a one-job file, so any
    key material there is placed (no writer's), and the forged bytes are there."""
    for base in ("ctl-o-base-onejob.root", "ctl-o-base-treejob.root"):
        d = vetted["ordinary"][base]
        _, end, stop = nforge.top_keys(d)
        assert d[end:stop] == bytes(stop - end)
    for name in ATTACK_NAMES:
        if "slack" in name:
            d = vetted["attacks"][name]
            _, end, stop = nforge.top_keys(d)
            assert d[end:stop] != bytes(stop - end)


@pytest.mark.parametrize("name", sorted(n for n in forge.NAMES if forge.NO_DATE.get(n)))
def test_no_date_is_no_date(vetted, name):
    """Shown hostile: the forged datime is no calendar date (uproot's decoder refuses it),
    though it lies between the file's making and its last write as a number."""
    stamp = forge.NO_DATE[name]
    with pytest.raises(ValueError):
        uproot._util.code_to_datetime(stamp)


@pytest.mark.parametrize("name", ["root-o-ctime-2013-free-2020.root",
                                  "root-o-mtime-2040-free-2035.root"])
def test_window_widened_by_a_directory_time(vetted, name):
    """Shown hostile: every key and directory time uproot wrote in the base lies within
    20 s of its making; the forged file differs from it in a directory time and the
    deleted record's datime only, which lies years outside that span (the same datime in
    the unedited file is refused)."""
    base, data = vetted["ordinary"]["ctl-o-base-dated.root"], vetted["attacks"][name]
    diff = [i for i in range(len(base)) if base[i] != data[i]]
    t = forge._dir_times(base)
    assert all(t <= i < t + 8 for i in diff[:len(diff) - 4] if i < 1000), diff
    free = nforge._free_record(base, "TH1D", "h2")
    assert all(free.pos + 10 <= i < free.pos + 14 for i in diff if i >= 1000), diff
    stamp = rio.key_at(data, free.pos).datime
    assert abs(stamp - rio.datime(2026, 11, 30, 23, 59, 50)) > 1 << 26  # years apart
    assert vetted["entries"]["root-o-free-2020.root"]["verdict"] == "rejected"


@pytest.mark.parametrize("name", sorted(LISTED))
def test_listed_limit_published(vetted, name):
    data = vetted["attacks"][name]
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == data


@pytest.mark.parametrize("name", _marked(sorted(set(ATTACK_NAMES) - LISTED), HOLES))
def test_attack_refused(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected", f"published: {name}"
    assert entry["detail"].startswith("root:"), entry["detail"]
    assert not (vetted["out"] / name).exists()


def test_whole_run_exit_code(vetted):
    assert vetted["rc"] == 1
