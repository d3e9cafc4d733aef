"""The file's own dates agree with each other as its writers set them (session 39,
attack o root: the clock window's ends, the top directory's fDatimeC and fDatimeM, and the
TFile key's datime, which root_trees and root_keylists date the file by, are fields
nothing recomputes, so one of them set years off widened the window every deleted
record's datime, and an older keys list's copy of a moved tree's key, may lie in).

- The making: the TFile key's datime and fDatimeC are one job's clock at one moment
  (uproot and ROOT read the clock for each, the same second or the next): TICK apart.
- The top keys list's key and the FreeSegments key: uproot dates both when it makes the
  file and never again (it keeps a list's key but for its lengths and position, and keeps
  a ROOT file's); ROOT dates them anew at each write, with fDatimeM, the FreeSegments
  key last. So the FreeSegments key is dated within MAKING of the list's key, and the
  list's key within TICK of the making or the last write where uproot made the file (the top
  directory's UUID is not the file's: root_uuids; ROOT's last write where ROOT updated
  it), else (ROOT made it) between the two, and at ROOT's last write: within TICK of
  fDatimeM (all 89 ROOT files of the corpus: 0 s), or, where uproot updated the file since
  (it dates fDatimeM anew and keeps ROOT's list, FreeSegments and StreamerInfo keys, so
  they stay at ROOT's last write), within MAKING after the latest live key dated no later:
  the last ROOT wrote (corpus: 0 s in 85 files, 1 or 3 s in 3; session 39, attack p root:
  before, anywhere from the making to fDatimeM, about 31 chosen bits).
- The making comes first, within root_trees.CLOCKS (hosts' clocks): no live key and no
  fDatimeM is dated more than CLOCKS before fDatimeC.

What stays chosen: one making (the TFile key, fDatimeC and, in a file uproot made, the
list's and FreeSegments keys, all at one date) and the last write (fDatimeM, the live
keys' datimes); docs/quarantine.md gives the bits."""

from __future__ import annotations

import datetime
import struct

from .root_model import KEY, Record, RootWalk, decode_datime, read_string
from .root_trees import CLOCKS
from .stream import Invalid

# Seconds between two reads of one job's clock for one write (uproot's TFile key is dated a
# second before fDatimeC where the second turns between its calls; ROOT's corpus: the next).
TICK = 2
# and between ROOT's top keys list's key and its FreeSegments key, which it writes last,
# after every directory's list (ROOT's corpus: up to 7 s), and between the last key ROOT
# wrote and its list's key, one close (corpus: up to 3 s).
MAKING = 60
_EPOCH = datetime.datetime(1995, 1, 1)
_DIRECTORY = {False: struct.Struct(">hIIiiiii"), True: struct.Struct(">hIIiiqqq")}


def top_times(top: Record) -> tuple[int, int, bytes] | None:
    """The top directory's fDatimeC, fDatimeM and UUID (after its TNamed: name and title;
    its version says the layout), or None where it is compressed."""
    if top.body is None:
        return None
    at = read_string(top.body, read_string(top.body, 0, "the top directory")[1], "the top directory")[1]
    body = top.body.ljust(at + 2, b"\0")
    layout = _DIRECTORY[struct.unpack_from(">h", body, at)[0] > 1000]
    body = body.ljust(at + layout.size + 18, b"\0")
    _, created, modified = layout.unpack_from(body, at)[:3]
    return created, modified, body[at + layout.size : at + layout.size + 18]


def check(walk: RootWalk, free: set[int]) -> None:
    top = walk.records[walk.header.begin]
    times = top_times(top)
    if times is None:
        return
    created, modified, uuid = times
    made = _seconds(created)
    key = _seconds(_datime(top))
    if abs(key - made) > TICK:
        raise _disagree(f"the TFile key's datime is not fDatimeC's moment ({key - made} s apart)")
    last = _seconds(modified)
    live = [_seconds(_datime(r)) for r in walk.records.values() if r.offset not in free]
    if min([last, *live]) < made - CLOCKS:
        raise _disagree("a live key or fDatimeM is dated more than 26 h 5 min before fDatimeC")
    lists = [at for at, (directory, _) in walk.lists.items() if directory == walk.header.begin]
    if not lists:
        return
    listed, segments = (_seconds(_datime(walk.records[at])) for at in (lists[0], walk.header.seek_free))
    if abs(segments - listed) > MAKING:
        raise _disagree("the FreeSegments key is not dated with the top keys list's key")
    by_uproot = uuid != walk.header.uuid  # ROOT gives the top directory the file's UUID
    near = min(abs(listed - made), abs(listed - last)) <= TICK  # at the making or the last write
    if not near if by_uproot else not made - TICK <= listed <= last + TICK:
        raise _disagree("the top keys list's key is not dated at the making or the last write")
    if not by_uproot and abs(listed - last) > TICK:  # uproot updated ROOT's file since
        _after_roots_last_key(walk, free, lists[0], listed)


def _after_roots_last_key(walk: RootWalk, free: set[int], listed_at: int, listed: int) -> None:
    """uproot dates fDatimeM anew and keeps ROOT's list key: that key follows the last key
    ROOT wrote (the latest live key dated no later; uproot's are later) within MAKING."""
    skip = free | {listed_at, walk.header.seek_free}
    dated = (_seconds(_datime(r)) for r in walk.records.values() if r.offset not in skip)
    wrote = max((d for d in dated if d <= listed + TICK), default=None)
    if wrote is None or listed - wrote > MAKING:
        raise _disagree(
            "the top keys list's key is not dated at ROOT's last write (fDatimeM, or where "
            "uproot updated the file since, within 60 s of the last key ROOT wrote)"
        )


def _datime(record: Record) -> int:
    return KEY.unpack_from(record.key)[3]


def _seconds(datime: int) -> int:
    """A datime as seconds on its own clock (each was checked as it was read:
    root_model.check_datime; 0 if not)."""
    when = decode_datime(datime)
    return 0 if when is None else int((when - _EPOCH).total_seconds())


def _disagree(what: str) -> Invalid:
    return Invalid(
        f"root: the file's dates disagree: {what} (the writers date the file's making, its "
        "keys lists and its last write together: a date set apart is none they write; copy "
        "the objects into a new file)"
    )
