"""The file's own dates and the runs of a live keys list behind it (issue #13, session 39,
orootfix: independent attack o root's holes and variants of them).

- The clock window's ends and the moved tree's older key are dated by the file's making
  (the TFile key's datime, fDatimeC) and its last write: root_dates makes them agree with
  each other as uproot and ROOT write them (the TFile key at fDatimeC's moment, the top
  keys list's key and the FreeSegments key at the making or the last write, no live key
  and no fDatimeM more than CLOCKS before the making). One of them moved alone is
  refused; a making stated coherently (every field at one date) is the forger's, as the
  docs price it: it passes here, kept honest.
- Behind a live keys list at most one run of a live keys list (root_slack.Rationed):
  what uproot leaves past it is the end of an older version ending on the key the run
  ends on; a second run of another key, however the longest match splits it, is refused.
"""

from __future__ import annotations

import datetime
import struct

import pytest

from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid

uproot = pytest.importorskip("uproot")

from tests.support import attack_nroot_files as files  # noqa: E402
from tests.support import attack_nroot_forge as nforge  # noqa: E402
from tests.support import attack_nroot_rio as rio  # noqa: E402
from tests.support import attack_oroot_forge as forge  # noqa: E402
from tests.support import attack_proot_forge as pforge  # noqa: E402
from tests.support import root_cxx_corpus  # noqa: E402

ROOT = "application/x-root"
OK = [(ROOT, "root")]
DISAGREE = "the file's dates disagree"
STRAY = "holds data that is not the remains"
Y2013 = forge.EARLY  # 2013-12-25 21:36:33 ("K3Y!")


@pytest.fixture(scope="module")
def dated(tmp_path_factory) -> bytes:
    """h0-h3 at T0, h2 deleted 20 s later (whole in free space); run1/g."""
    bases, _ = forge.datimes(tmp_path_factory.mktemp("dated"))
    return bases["ctl-o-base-dated.root"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> bytes:
    bases, _ = forge.slack(tmp_path_factory.mktemp("slack"))
    return bases["ctl-o-base-treejob.root"]


@pytest.fixture(scope="module")
def deleted(tmp_path_factory) -> bytes:
    bases, _ = forge.behind_del(tmp_path_factory.mktemp("del"))
    return bases["ctl-o-base-del.root"]


def _refused(data: bytes, why: str) -> None:
    with pytest.raises(Invalid, match=why):
        vet(data, ROOT, 1 << 20)


def _places(d: bytes) -> dict[str, int]:
    """Where the dated fields are (a small-layout file): the TFile key's datime (the record
    at fBEGIN 100), fDatimeC and fDatimeM, the top list's key's and the FreeSegments key's
    datimes, the top directory's UUID and the file's (the header's)."""
    t = forge._dir_times(d)
    seek_keys = struct.unpack(">i", d[t + 24 : t + 28])[0]
    seek_free = struct.unpack(">i", d[16:20])[0]
    return {"key": 110, "c": t, "m": t + 4, "list": seek_keys + 10, "free": seek_free + 10,
            "uuid": t + 28, "file-uuid": 45}


def _at(d: bytes, **stamps: bytes) -> bytes:
    places = _places(d)
    for field, stamp in stamps.items():
        d = rio.put(d, places[field], stamp)
    return d


def test_the_bases_dates_agree_as_uproot_writes_them(dated, tree, deleted):
    for d in (dated, tree, deleted):
        assert vet(d, ROOT, 1 << 20) == OK
        p = _places(d)
        made = d[p["c"] : p["c"] + 4]
        assert d[p["key"] : p["key"] + 4] == d[p["list"] : p["list"] + 4] == made
        assert d[p["free"] : p["free"] + 4] == made
        assert d[p["uuid"] : p["uuid"] + 18] != d[45:63]  # uproot: another UUID


@pytest.mark.parametrize("field", ["key", "c"])
def test_the_making_moved_in_one_field_is_refused(dated, field):
    """The TFile key's datime and fDatimeC are one moment: either alone 13 years back
    (attack o's ctime-2013-free-2020 moved fDatimeC) is refused."""
    _refused(_at(dated, **{field: Y2013}), "TFile key's datime is not fDatimeC's moment")


def test_the_making_moved_with_the_key_but_not_the_lists_is_refused(dated):
    """attack o's moved-key-2014-made-2013: the TFile key and fDatimeC at 2013; uproot
    dated the top list's key and the FreeSegments key at the making too."""
    _refused(_at(dated, key=Y2013, c=Y2013), "top keys list's key is not dated at the making")


@pytest.mark.parametrize("field", ["list", "free"])
def test_the_list_or_free_segments_key_dated_apart_is_refused(dated, field):
    stamp = forge._stamp(2026, 11, 30, 12, 0, 0)  # 12 h before the making
    _refused(_at(dated, **{field: stamp}), DISAGREE)


def test_a_live_key_dated_long_before_the_making_is_refused(dated):
    """A live histogram's key and its list copy dated 2013 in a file made in 2026."""
    (live,) = [k for k in rio.own_keys(dated, "TH1D", "h1") if rio.seek_key(dated, k) == k.pos]
    s, e, _ = nforge.top_keys(dated)
    copy = dated.find(dated[live.pos + 14 : live.pos + live.keylen], s, e) - 14
    assert copy > 0
    data = rio.put(rio.put(dated, live.pos + 10, Y2013), copy + 10, Y2013)
    _refused(data, "more than 26 h 5 min before fDatimeC")


def test_the_last_write_dated_long_before_the_making_is_refused(dated):
    _refused(_at(dated, m=Y2013), "more than 26 h 5 min before fDatimeC")


def test_a_making_stated_coherently_is_the_forgers(dated):
    """Priced, not closed (docs): every field of the making at 2013 states a file made
    then, and a record deleted from it may be dated any second since (2020 here)."""
    free = nforge._free_record(dated, "TH1D", "h2")
    data = rio.put(_at(dated, key=Y2013, c=Y2013, list=Y2013, free=Y2013), free.pos + 10, forge.MID)
    assert vet(data, ROOT, 1 << 20) == OK
    _refused(rio.put(dated, free.pos + 10, forge.MID), "none the file's history explains")


def test_the_last_write_is_the_forgers(dated):
    """Priced, not closed (docs): fDatimeM alone says when the last job ran (a job that
    only deletes leaves no other date), so the window's end is stated (attack o's
    mtime-2040-free-2035, kept honest)."""
    free = nforge._free_record(dated, "TH1D", "h2")
    data = rio.put(_at(dated, m=forge.LATE), free.pos + 10, forge.LATER)
    assert vet(data, ROOT, 1 << 20) == OK


def test_a_file_stated_as_roots_dates_its_lists_between_making_and_last_write(dated):
    """A top directory with the file's UUID is ROOT's (uproot may have updated it since):
    its list's and FreeSegments' keys anywhere from the making to the last write; before
    the making they are refused."""
    p = _places(dated)
    as_root = rio.put(dated, p["uuid"], dated[45:63])
    assert vet(as_root, ROOT, 1 << 20) == OK
    assert vet(_at(as_root, key=Y2013, c=Y2013), ROOT, 1 << 20) == OK  # priced (docs)
    stamp = forge._stamp(2026, 11, 30, 12, 0, 0)  # 12 h before the making
    _refused(_at(as_root, list=stamp, free=stamp), "top keys list's key is not dated at the making")


def _keys(d: bytes) -> list[bytes]:
    s, e, _ = nforge.top_keys(d)
    out, q = [], s
    while q < e:
        n = struct.unpack(">h", d[q + 14 : q + 16])[0]
        out.append(d[q : q + n])
        q += n
    return out


@pytest.mark.parametrize("order", [(1, 0), (0, 2), (0, 1, 0), (1, 0, 2)])
def test_two_runs_of_the_top_list_behind_it_are_refused(tree, order):
    """Whole keys of the live list (h0, h1, the TTree t) in an order the list does not
    have, behind the top list of a one-job file (a writer): attack o's two-runs-tree and
    keys-repeated, and others. (t, then a key, passes: t is the list's last key, so a
    version of a key a later record was written over, ending on it, root_versions.)"""
    keys = _keys(tree)
    _, end, _ = nforge.top_keys(tree)
    _refused(rio.put(tree, end, b"".join(keys[i] for i in order)), STRAY)


def test_a_run_then_a_tail_of_another_key_is_refused(tree):
    """A whole key, then the last 30 bytes of another (as a version's end would be, but of
    a key the run does not end on)."""
    keys = _keys(tree)
    _, end, _ = nforge.top_keys(tree)
    _refused(rio.put(tree, end, keys[0] + keys[1][-30:]), STRAY)


def test_a_run_then_a_tail_of_the_key_it_ends_on_passes(tree):
    """What uproot leaves (the sweep's trees-133 and trees-134: two older versions ending
    on one key): a run ending on a key, then a tail of that key to its end, paid for as
    loose bytes (30 of them are more than the file's 24 and its TTree share: refused)."""
    keys = _keys(tree)
    _, end, _ = nforge.top_keys(tree)
    assert vet(rio.put(tree, end, keys[0] + keys[1] + keys[1][-20:]), ROOT, 1 << 20) == OK


def test_two_runs_past_the_versions_of_a_deletion_are_refused(deleted):
    """Past the versions of a file that deleted h4 and h2 (no writer): one run of the list
    passes (attack o's del-one-run), a second of 27 bytes after it or before it is refused
    (attack o's del-two-runs)."""
    keys = _keys(deleted)
    _, end, stop = nforge.top_keys(deleted)
    z = end + 70
    assert deleted[z:stop] == bytes(stop - z)
    run = keys[0][18:] + keys[1][:10]
    assert vet(rio.put(deleted, z + 4, run), ROOT, 1 << 20) == OK
    _refused(rio.put(deleted, z, run + keys[0][18:] + keys[1][:10]), STRAY)
    _refused(rio.put(deleted, z, keys[1][18:] + keys[0][:10] + run), STRAY)


# ---- ROOT's last write (session 39, rootmade: attack p root's spread holes) -------------
LAST_WRITE = "top keys list's key is not dated at ROOT's last write"


@pytest.fixture(scope="module")
def rooted(tmp_path_factory) -> dict[str, bytes]:
    """ROOT's sample-6.14.00-uncompressed.root as ROOT wrote it, then updated by uproot 5.7:
    a histogram added, then deleted 3 days later (the corpus file uproot updates into one
    that is published)."""
    src = root_cxx_corpus.files()["sample-6.14.00-uncompressed.root"]
    out = {"root": src.read_bytes()}
    path = tmp_path_factory.mktemp("rooted") / "s.root"
    path.write_bytes(out["root"])
    with files.clock(files.T0), uproot.update(path) as f:
        files.hist("added")(f)
    out["added"] = path.read_bytes()
    with files.clock(files.T0 + datetime.timedelta(days=3)), uproot.update(path) as f:
        files.delete("added")(f)
    out["deleted"] = path.read_bytes()
    return out


def _stamp(d: bytes, field: str) -> bytes:
    at = _places(d)[field]
    return d[at : at + 4]


def test_root_dates_its_list_key_at_its_last_write(rooted):
    """ROOT dates its top list's key at fDatimeM (all 89 corpus files): moved with fDatimeM
    it is the last write's date (priced as fDatimeM's); moved alone between the making and
    a later fDatimeM (attack p's cxx-spread) it is refused."""
    d = rooted["root"]
    assert vet(d, ROOT, 1 << 20) == OK
    m = _stamp(d, "m")
    assert _stamp(d, "list") == m and d[45:63] == d[_places(d)["uuid"] : _places(d)["uuid"] + 18]
    later = pforge._add(m, 3600)
    assert vet(_at(d, m=later, list=later, free=later), ROOT, 1 << 20) == OK
    _refused(_at(d, m=pforge._add(m, 86400), list=later, free=later), LAST_WRITE)


@pytest.mark.parametrize("job", ["added", "deleted"])
def test_uproot_keeps_roots_list_key_at_roots_last_write(rooted, job):
    """uproot updating ROOT's file dates fDatimeM anew and keeps ROOT's list key (and its
    FreeSegments and StreamerInfo keys): published. The list key may follow the last key
    ROOT wrote by 60 s (one close); 61 s or a day after it is refused."""
    d = rooted[job]
    assert vet(d, ROOT, 1 << 20) == OK
    listed = _stamp(rooted["root"], "list")
    assert _stamp(d, "list") == listed != _stamp(d, "m")
    assert vet(_at(d, list=pforge._add(listed, 60), free=pforge._add(listed, 60)), ROOT, 1 << 20) == OK
    for sec in (61, 86400):
        _refused(_at(d, list=pforge._add(listed, sec), free=pforge._add(listed, sec)), LAST_WRITE)
