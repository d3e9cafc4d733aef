"""A deleted record's datime against hosts' local clocks (issue #13, session 38, attack n
root's false rejections): uproot dates keys with the host's local time, so a job on a host
in another time zone, a host whose clock is behind, or one host across a daylight-saving
change dates its keys outside the span from the file's creation to its last write. A
record such a job writes and a later one deletes (left whole in free space) passes within
root_trees.CLOCKS (26 h between UTC-12 and UTC+14, 5 min of skew) of that span, and is
refused a second beyond it, on either side; the files are uproot's own, written at those
clocks (tests/support/attack_nroot_files.py: nothing edited after uproot wrote it)."""

from __future__ import annotations

import struct

import pytest

from tests.quarantine.test_root_datimes import shifted
from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid
from vmguard.quarantine.validators.root_trees import CLOCKS

uproot = pytest.importorskip("uproot")

from tests.support import attack_nroot_files as jobs  # noqa: E402
from tests.support import attack_nroot_rio as rio  # noqa: E402

ROOT = "application/x-root"
OK = [(ROOT, "root")]
REFUSED = "none the file's history explains"
ORPHAN = "is in no list of its tree's baskets"
CODECS = ("none", "zlib")


def _west(tmp_path, codec: str, behind: float) -> bytes:
    """Job 1 makes the file with TH1D a; job 2, on a host `behind` seconds behind, writes
    TH1D b; job 3, 5 s later on job 2's clock, deletes b: b's datime is the file's
    creation less `behind`."""
    steps = [jobs.hist("a"), jobs.hist("b"), jobs.delete("b")]
    return jobs.jobs(tmp_path / f"west-{codec}.root", jobs.CODECS[codec], steps, [-behind, 5.0])


def _east(tmp_path, codec: str, ahead: float) -> bytes:
    """Job 1 makes the file with TH1D a; job 2, on a host `ahead` seconds ahead, writes
    TH1D b; job 3, on job 1's clock a second later, deletes b (the file's last write): b's
    datime is the last write plus `ahead` - 1."""
    steps = [jobs.hist("a"), jobs.hist("b"), jobs.delete("b")]
    return jobs.jobs(tmp_path / f"east-{codec}.root", jobs.CODECS[codec], steps, [ahead, 1.0 - ahead])


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    "behind",
    [30.0, 3600.0, 5.5 * 3600, 3600.0 + 30, CLOCKS],  # skew, a zone west (or DST), India from UTC, both, the bound
)
def test_a_job_behind_the_files_clock_that_deletes_what_it_wrote_passes(tmp_path, codec, behind):
    assert vet(_west(tmp_path, codec, behind), ROOT) == OK


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("ahead", [3600.0, 13.75 * 3600, CLOCKS + 1])  # a zone east, Chatham from UTC-1, the bound
def test_a_job_ahead_of_the_files_clock_that_deletes_what_it_wrote_passes(tmp_path, codec, ahead):
    assert vet(_east(tmp_path, codec, ahead), ROOT) == OK


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("behind", [CLOCKS + 1, 27 * 3600, 365 * 86400])
def test_a_record_dated_further_before_the_file_than_clocks_differ_is_refused(tmp_path, codec, behind):
    """One second past the bound, 27 h (no two zones), a year: no host's clock. (Session
    39: where the job that deleted it, on the same clock, dated fDatimeM more than CLOCKS
    before the making, the file's dates disagree first: root_dates.)"""
    with pytest.raises(Invalid, match=f"{REFUSED}|the file's dates disagree: a live key or fDatimeM"):
        vet(_west(tmp_path, codec, behind), ROOT)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("ahead", [CLOCKS + 2, 27 * 3600, 30 * 86400])
def test_a_record_dated_further_after_the_last_write_than_clocks_differ_is_refused(tmp_path, codec, ahead):
    with pytest.raises(Invalid, match=REFUSED):
        vet(_east(tmp_path, codec, ahead), ROOT)


def _deleted_key(data: bytes) -> int:
    """Where TH1D b's record starts (its own key: whole in free space, not a copy of it in
    a keys list, which sits in a list's payload)."""
    (key,) = [k for k in rio.own_keys(data, "TH1D", "b") if rio.seek_key(data, k) == k.pos]
    return key.pos


def test_a_deleted_record_at_no_date_is_refused(tmp_path):
    """Hour 31, minute 63, second 63 of the day the job wrote b: a number inside the span
    as packed, no date-time (before session 38 datimes were compared as numbers)."""
    data = _west(tmp_path, "none", 3600.0)
    at = _deleted_key(data)
    datime = struct.unpack_from(">I", data, at + 10)[0]
    forged = data[: at + 10] + struct.pack(">I", datime | 31 << 12 | 63 << 6 | 63) + data[at + 14 :]
    with pytest.raises(Invalid, match="no date|" + REFUSED):
        vet(forged, ROOT)


def _again(tmp_path, behind: float) -> tuple[bytes, int]:
    """Job 1 makes the file with TTree t (x, n), extended, and TH1D h; job 2, on a host
    `behind` seconds behind, deletes t and makes it again, extended: the deleted tree's
    baskets (orphans, their tree's record written over by the new one's) are dated
    `behind` after the live tree. The file and the live tree's key datime."""
    steps = [jobs.both(jobs.tree("t"), jobs.hist("h")), jobs.both(jobs.delete("t"), jobs.tree("t", 300, 4))]
    data = jobs.jobs(tmp_path / "again.root", jobs.CODECS["none"], steps, [-behind])
    (key,) = [k for k in rio.own_keys(data, "TTree", "t") if rio.seek_key(data, k) == k.pos]
    return data, struct.unpack_from(">I", data, key.pos + 10)[0]


def _orphans(data: bytes) -> list[int]:
    """Where the baskets no branch of the live tree lists start (uproot: fBasketSeek)."""
    import io

    tree = uproot.open(io.BytesIO(data))["t"]
    listed = {int(s) for b in tree.branches for s in b.member("fBasketSeek")[: b.num_baskets]}
    baskets = [k for b in ("x", "n") for k in rio.own_keys(data, "TBasket", b) if rio.seek_key(data, k) == k.pos]
    return [k.pos for k in baskets if k.pos not in listed]


@pytest.mark.parametrize("behind", [3600.0, 9 * 3600.0, CLOCKS])  # a zone west (or DST), Tokyo from UTC, the bound
def test_a_tree_made_again_by_a_job_behind_the_deleting_one_passes(tmp_path, behind):
    """Session 39 (bench_root_del_sweep --clocks: 22 of 600 random workflows): the orphans
    a job wrote are dated after the tree a later job behind it made again; refused while
    orphans had to be dated no later than the live tree."""
    data, created = _again(tmp_path, behind)
    assert len(_orphans(data)) == 2  # x and n: the deleted tree's one extend
    assert all(struct.unpack_from(">I", data, at + 10)[0] > created for at in _orphans(data))
    assert vet(data, ROOT) == OK


def test_orphans_dated_further_after_the_tree_than_clocks_differ_are_refused(tmp_path):
    """A job CLOCKS + 1 s behind (no two hosts' clocks: uproot's own output), and an
    orphan of the 1-hour-west file dated CLOCKS + 1 s after the live tree (chosen)."""
    data, _ = _again(tmp_path, CLOCKS + 1)
    with pytest.raises(Invalid, match=f"{ORPHAN}|the file's dates disagree"):  # root_dates first
        vet(data, ROOT)
    data, created = _again(tmp_path, 3600.0)
    at = _orphans(data)[0]
    forged = data[: at + 10] + struct.pack(">I", shifted(created, CLOCKS + 1)) + data[at + 14 :]
    with pytest.raises(Invalid, match=ORPHAN):
        vet(forged, ROOT)
    at = _orphans(data)[1]
    assert vet(data[: at + 10] + struct.pack(">I", shifted(created, CLOCKS)) + data[at + 14 :], ROOT) == OK
