"""The slack behind a live keys list: its older versions (root_versions), then the rest
of one the reader could not follow and what the list's place held before it was written
there, judged as runs of live metadata (root_runs), the live keys lists' rationed
(Rationed: at most LISTED_RUNS runs of them), and copies of keys dated in another second
than the live key read as that key's (_redated)."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from . import root_keylists, root_model, root_versions
from .root_model import KEY, RootWalk, key_fields
from .root_runs import MIN_RUN, Loose, charge, covered, stray
from .stream import Invalid

# Runs of a live keys list behind a keys list's versions: the rest of one version the
# reader could not follow (it ended on a key the file no longer holds, a deleted record's
# written over). Measured, session 38: 17 of the 404 published of 600 random uproot
# workflows use one, none needs a second.
LISTED_RUNS = 1
_VERSIONS = re.compile(b"(?=\0\4|\3\354)..", re.DOTALL)


def behind_list(
    walk: RootWalk,
    offset: int,
    where: tuple[bytes, int],
    listed: root_keylists.Keys,
    budget: Loose,
    live: tuple[list[bytes], list[bytes]],
) -> None:
    """A live keys list's slack: its older versions (root_versions), then the rest of a
    version the reader could not follow (one that ended on a key the file no longer
    holds) and what the list's place held before it was written there: nothing behind
    the top list uproot.create allocated and never moved (root_versions.fresh), else
    runs of the live metadata but the keys lists'; and at most LISTED_RUNS runs of a live
    keys list (copies of keys the file holds: versions() alone reads them), and the
    file's loose bytes."""
    slack, at = where
    directory, last = walk.lists[offset]
    affords = (budget.left + budget.shared) // listed.cost
    writers = root_versions.writers(walk)
    slack, shorter = root_versions.versions(slack, directory, last, listed, affords, writers)
    charge(budget, shorter * listed.cost, at)
    others, lists = live  # the live metadata but the keys lists, and the live keys lists
    if root_versions.first_place(walk, offset):
        rewritten = writers or bool(listed.deleted.get(directory))
        byte = root_versions.fresh(slack, listed, rewritten, writers)
        if byte >= 0:
            raise stray(at, byte)
        others = []  # the place held nothing: what is left is of versions (keys) alone
    trial = Loose(budget.left, budget.shared)
    try:
        covered(slack, others, at, trial, shared=True, rationed=Rationed(lists, LISTED_RUNS, listed))
    except Invalid:  # copies of keys dated in another second than the live key: once more so
        slack, redated = _redated(slack, walk, directory, others + lists)
        charge(budget, redated, at)
        covered(slack, others, at, budget, shared=True, rationed=Rationed(lists, LISTED_RUNS, listed))
    else:
        budget.left, budget.shared = trial.left, trial.shared


def _redated(data: bytes, walk: RootWalk, directory: int, live: list[bytes]) -> tuple[bytes, int]:
    """data with the datime of each copy of a key of this directory naming a record's
    position (its key's but for lengths, datime, class, name and title: a record deleted
    and written over by it, whose key an older version of the list holds) set to that
    record's, where it is a date-time of the file's history (within CLOCKS of its
    datimes); and what naming those datimes costs in loose bytes (log2 of the history's
    seconds each). Where the jobs share one second the copy is a run of the live key as
    it is (session 39: jobs a minute apart, strings-100 of bench_root_del_sweep --apart)."""
    stamps = [root_model.seconds(KEY.unpack_from(r.key)[3]) for r in walk.records.values()]
    known = [s for s in stamps if s is not None]
    if not known:
        return data, 0
    low, high = min(known) - root_model.CLOCKS, max(known) + root_model.CLOCKS
    cost = ((high - low).bit_length() + 7) // 8
    out, spent = bytearray(data), 0
    for found in _VERSIONS.finditer(data, 4, max(4, len(data) - KEY.size - 4)):  # a key's version
        p = found.start() - 4
        large = found.group() == b"\3\354"
        seek, pdir = struct.unpack_from(">qq" if large else ">ii", data.ljust(p + 34, b"\0"), p + 18)
        record = walk.records.get(seek)
        if record is None or pdir != directory or key_fields(record.key)[1] != directory:
            continue
        datime, own = KEY.unpack_from(data, p)[3], KEY.unpack_from(record.key)[3]
        when = root_model.seconds(datime)
        head = data[p : p + KEY.size + 8]  # up to its fSeekPdir: a run of live metadata as it is?
        if datime != own and when is not None and low <= when <= high and not any(head in r for r in live):
            out[p + 10 : p + 14] = record.key[10:14]
            spent += cost
    return bytes(out), spent


@dataclass
class Rationed:
    """Runs of these records (the live keys lists) count only `left` times (where no
    other run is found); once they are spent, a byte that lies in another run of them
    (`another`) is refused, not paid for as a loose byte: the one home of "at most
    LISTED_RUNS runs of a live keys list" (session 39, attack o: two runs in a chosen
    order, or keys repeated, passed where the longest match ran from one into the next
    and loose bytes paid for the rest). What uproot leaves past it is the end of an older
    version that ended on a key the counted run ends on (the list's last key then), a
    tail of that key up to its end: loose bytes still pay for each of its bytes."""

    sources: list[bytes]
    left: int
    keys: root_keylists.Keys
    last: frozenset[bytes] = frozenset()  # the keys the counted run ends on
    seen: int = -1  # the pieces starting up to here are judged (each once: a slack's bytes)

    def count(self, data: bytes, at: int, run: int) -> None:
        """Count the run data[at : at + run]: the keys the last key end in it ends."""
        self.left -= 1
        for stop in range(at + run, at, -1):
            found = self.keys.ends.get(data[max(at, stop - root_keylists.END) : stop], ())
            ending = {k for k in found if k.endswith(data[max(at, stop - len(k)) : stop])}
            if ending:
                self.last = frozenset(ending)
                return

    def another(self, data: bytes, at: int, live: list[bytes]) -> bool:
        """Whether byte `at` lies in a run of the sources no counted run holds: MIN_RUN
        bytes of one (ending on a byte that is not zero: a piece of a list that runs on
        into zeros is the end of one counted) found in no other live record, that is no
        tail of a key the counted run ends on, running to its end."""
        first, self.seen = max(0, at - MIN_RUN + 1, self.seen + 1), max(self.seen, at)
        for start in range(first, min(at, len(data) - MIN_RUN) + 1):
            piece = data[start : start + MIN_RUN]
            if not piece[-1] or not any(piece in s for s in self.sources) or any(piece in r for r in live):
                continue
            if not any(_tail_to_end(data, start, key) for key in self.last):
                return True
        return False


def _tail_to_end(data: bytes, at: int, key: bytes) -> bool:
    """Whether data from `at` is a tail of key running to the key's end."""
    piece = data[at : at + MIN_RUN]
    where = key.find(piece)
    while where >= 0:
        if data[at : at + len(key) - where] == key[where:]:
            return True
        where = key.find(piece, where + 1)
    return False
