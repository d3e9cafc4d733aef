"""A live keys list's slack read as its older versions (root_versions, session 37), on the
uproot workflows the rule first refused: 4 of session 36's 150 random string and
histogram workflows (tests.support.root_del_workflows.strings_workflow) that passed
before it (66, 105, 145 always; 100 in some runs: it depends on the second uproot writes
in, its keys' datime). What uproot did there that the reading missed: a version shorter than its
deleted key (keys added between deletions) was given the shortest deleted key that fit,
where uproot had deleted a longer one (seed 66: 2 bytes of a 69-byte key's deletion, the
39-byte one still to come); the deleted key of a version had its record written over by
a later one, so its length is not in the file (seeds 105, 145: it ends on the current
last key all the same, as a version as long as its deleted key does); a last key ending in
zeros (a TH1D's empty title) looked shorter than it is (145); the oldest version left
ends where uproot's first slack begins (105). Each such version costs Keys.cost loose
bytes: without them the same files are refused."""

from __future__ import annotations

import contextlib
import datetime
import struct
from collections import Counter

import pytest

from tests.quarantine.test_root_keylists import _base, _tails
from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid, root_remains
from vmguard.quarantine.validators.root_versions import _fits

pytest.importorskip("uproot")
from tests.support import attack_nroot_files as jobs  # noqa: E402 - needs uproot
from tests.support import root_del_workflows  # noqa: E402
from tests.support.root_del_workflows import strings_workflow  # noqa: E402

ROOT = "application/x-root"
OK = [(ROOT, "root")]
FREE = "the free space at .* holds data that is not the remains of a record the writer moved"
SEEDS = [66, 100, 105, 145]  # ZSTD, ZSTD, LZ4, ZLIB


class _Apart:
    """uproot as root_del_workflows calls it, each job a minute after the one before on one
    host's clock (bench_root_del_sweep --apart)."""

    def __init__(self) -> None:
        self.at = jobs.T0

    def _job(self, open_file, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - uproot's
        self.at += datetime.timedelta(minutes=1)

        @contextlib.contextmanager
        def opened():
            with jobs.clock(self.at), open_file(*args, **kwargs) as f:
                yield f

        return opened()

    def recreate(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - uproot's
        return self._job(jobs.uproot.recreate, *args, **kwargs)

    def update(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - uproot's
        return self._job(jobs.uproot.update, *args, **kwargs)

    def __getattr__(self, name: str):  # noqa: ANN204 - anything else is uproot's
        return getattr(jobs.uproot, name)


@pytest.mark.parametrize("seed", SEEDS)
def test_workflows_the_version_rule_refused_pass(tmp_path, seed):
    """The jobs in one second (uproot's clock held: session 39, seed 100 was refused
    whenever its jobs crossed a second, below)."""
    with jobs.clock(jobs.T0):
        assert vet(strings_workflow(tmp_path / f"s{seed}.root", seed), ROOT) == OK


@pytest.mark.parametrize("seed", [66, 105, 145])
def test_the_workflows_with_jobs_a_minute_apart_pass(tmp_path, monkeypatch, seed):
    monkeypatch.setattr(root_del_workflows, "uproot", _Apart())
    assert vet(strings_workflow(tmp_path / f"s{seed}.root", seed), ROOT) == OK


def _apart_100(tmp_path, monkeypatch) -> tuple[bytes, list[int]]:
    """Seed 100 with jobs a minute apart, and where the copies of w0_0's key start: w0_0,
    written in job 2, is deleted in job 3 and w1_0 written over it at its place; behind
    the top keys list the key of w0_0 is the last key of an older version."""
    monkeypatch.setattr(root_del_workflows, "uproot", _Apart())
    data = strings_workflow(tmp_path / "s100.root", 100)
    copies, at = [], data.find(b"\x04TH1D\x04w0_0")
    while at >= 0:
        copies.append(at - 26)  # a small key: 18 bytes, fSeekKey and fSeekPdir, its class
        at = data.find(b"\x04TH1D\x04w0_0", at + 1)
    return data, copies


def test_seed_100_with_jobs_a_minute_apart_passes(tmp_path, monkeypatch):
    """Session 39 (rootfr): the copy of w0_0's key is dated in job 2's second, so no run of
    w1_0's key, which it is where the jobs share one second (refused before:
    bench_root_del_sweep --apart and --clocks strings-100); its datime, a date-time of
    the file's history, costs 3 loose bytes (root_slack._redated)."""
    data, copies = _apart_100(tmp_path, monkeypatch)
    assert len(copies) == 1
    assert vet(data, ROOT) == OK


@pytest.mark.parametrize("seconds", [366 * 86400, None], ids=["a-year-later", "no-date"])
def test_a_copy_dated_out_of_the_history_is_refused(tmp_path, monkeypatch, seconds):
    from tests.quarantine.test_root_datimes import shifted

    data, (at,) = _apart_100(tmp_path, monkeypatch)
    datime = struct.unpack_from(">I", data, at + 10)[0]
    forged = shifted(datime, seconds) if seconds else datime | 31 << 12 | 63 << 6 | 63
    with pytest.raises(Invalid, match=FREE):
        vet(data[: at + 10] + struct.pack(">I", forged) + data[at + 14 :], ROOT)


def test_chosen_bytes_after_the_copys_key_fields_beyond_the_loose_bytes_are_refused(tmp_path, monkeypatch):
    """Its class and name and what follows (25 bytes, a run no more) chosen: the datime paid
    for, the rest costs loose bytes as any (a name 3 bytes off passes, as in one second)."""
    data, (at,) = _apart_100(tmp_path, monkeypatch)
    assert vet(data[: at + 32] + b"XYZ" + data[at + 35 :], ROOT) == OK
    with pytest.raises(Invalid, match=FREE):
        vet(data[: at + 26] + bytes(range(1, 26)) + data[at + 51 :], ROOT)


@pytest.mark.parametrize("seed", SEEDS)
def test_their_shorter_versions_cost_loose_bytes(tmp_path, monkeypatch, seed):
    data = strings_workflow(tmp_path / f"s{seed}.root", seed)
    monkeypatch.setattr(root_remains, "LOOSE_STRETCHES", 0)
    monkeypatch.setattr(root_remains, "LOOSE", 0)
    with pytest.raises(Invalid, match=FREE):
        vet(data, ROOT)


def test_each_shorter_version_is_owed_its_own_deleted_key():
    """Seed 66's: deleted keys of 39, 69, 69 bytes; a 2-byte version may be owed either
    69 (then a 69 and the 39 are left for the versions after it) but not two owed 69s
    and a 39 when one 69 is left."""
    left = Counter({39: 1, 69: 2})
    assert _fits(left, (2,))
    assert _fits(Counter({39: 1, 69: 1}), (2,))
    assert _fits(Counter({39: 1, 69: 1}), (2, 60))
    assert not _fits(Counter({39: 1, 69: 1}), (60, 61))
    assert not _fits(Counter({69: 1}), (2, 2))


def test_a_version_of_a_key_written_over_ends_on_the_last_key(tmp_path):
    """Five tails of keys spelled after _base's versions (in its trailing zeros, each a
    tail of a live key but not of the list's last) are refused with the file's loose
    bytes, as before: a version of unknown length is one ending on the current last key,
    not any tail of the history's (read so, each paid 2 bytes, 12 passed)."""
    data, stale = _base(tmp_path)
    assert vet(_tails(data, stale, "1011"), ROOT) == OK  # within the loose bytes
    with pytest.raises(Invalid, match=FREE):
        vet(_tails(data, stale, "10110"), ROOT)


def _with_tree(path, names: int):
    """One job: a tree (made and extended: baskets, a writer) and `names` histograms."""
    import numpy as np
    import uproot

    with uproot.recreate(path) as f:
        f.mktree("t", {"x": "f8"})
        f["t"].extend({"x": np.arange(10.0)})
        for i in range(names):
            f[f"h{i}"] = np.histogram(np.arange(5.0), bins=3)
    return path.read_bytes()


def test_the_top_list_at_its_first_place_is_uproots_first_allocation(tmp_path):
    """first_place: the top list uproot.create allocated (256 bytes) until it moves."""
    from tests.support.attack_mroot_slack import keys_list
    from vmguard.quarantine.validators.root_versions import INITIAL

    small, large = _with_tree(tmp_path / "small.root", 3), _with_tree(tmp_path / "large.root", 12)
    assert keys_list(small).stop - keys_list(small).start + 4 == INITIAL  # the count, then keys
    assert keys_list(large).stop - keys_list(large).start + 4 > INITIAL  # moved as it grew
    assert vet(small, ROOT) == OK and vet(large, ROOT) == OK


@pytest.mark.parametrize("names", [3, 12])  # the top list at its first place, and moved
def test_one_run_of_a_live_keys_list_behind_its_versions(tmp_path, names):
    """Behind a list's versions one run of a live keys list stands (the rest of a version
    the reader could not follow: a writer, here a tree's baskets, may have taken a deleted
    record's place), more spend the file's loose bytes (session 38: before, any number
passed as runs of the list)."""
    from tests.support import attack_mroot_rio as rio
    from tests.support.attack_mroot_slack import keys_list

    data = _with_tree(tmp_path / "f.root", names)
    found = keys_list(data)
    # histograms' keys (a tree's is a run of its record, kept: what a moved list's place
    # may hold), not the last (a copy of it reads as a version of a key written over)
    one = rio.put(data, found.end, found.keys[1])
    assert vet(one, ROOT) == OK
    # more runs of the list than one spend loose bytes (24, and the tree's share)
    more = rio.put(data, found.end, ((found.keys[2] + found.keys[1]) * 2)[: found.stop - found.end])
    with pytest.raises(Invalid, match=FREE):
        vet(more, ROOT)
