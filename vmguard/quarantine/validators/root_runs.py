"""Runs of live metadata: the one measure of ROOT free space (root_remains) and of a keys
list's slack (root_slack). A stretch is zeros, runs of at least MIN_RUN bytes found
verbatim in a live record, and loose bytes the file may still spend (Loose); any other
byte is a payload, refused (stray)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .stream import Invalid

if TYPE_CHECKING:  # root_slack judges with covered: imported for the annotation alone
    from .root_slack import Rationed

MIN_RUN = 24
_ZEROS = re.compile(b"\0+")


@dataclass
class Loose:
    """The loose bytes free space may still hold (shared by the stretches of a file): any
    stretch's, then the TTree share, only for what uproot leaves."""

    left: int
    shared: int = 0


def covered(
    data: bytes,
    live: list[bytes],
    offset: int,
    loose: Loose,
    head: int | None = None,
    shared: bool = False,
    rationed: Rationed | None = None,
) -> None:
    """data is zeros and runs of live metadata (or, `rationed.left` times, of its
    sources), but for loose bytes (taken from loose.left, then from loose.shared if
    `shared`), in its first `head` bytes if given."""
    at = 0
    while at < len(data):
        zeros = _ZEROS.match(data, at)
        if zeros:
            at = zeros.end()
            continue
        run = longest(data, at, live)
        if run >= MIN_RUN:
            at += run
            continue
        if rationed is not None and rationed.left and (run := longest(data, at, rationed.sources)):
            rationed.count(data, at, run)
            at += run
            continue
        if rationed is not None and not rationed.left and rationed.another(data, at, live):
            raise stray(offset, at)  # a run more than counted: not paid for as loose bytes
        if loose.left:
            loose.left -= 1
        elif shared and loose.shared:
            loose.shared -= 1
        else:
            raise stray(offset, at)
        at += 1
        if head is not None and at > head:
            raise stray(offset, at - 1)


def charge(loose: Loose, cost: int, offset: int) -> None:
    """Take `cost` loose bytes (the stretch's, then the shared ones), or Invalid."""
    mine = min(cost, loose.left)
    loose.left -= mine
    if cost - mine > loose.shared:
        raise stray(offset, 0)
    loose.shared -= cost - mine


def stray(offset: int, at: int) -> Invalid:
    """The refusal of byte `at` of the free space (or slack) at `offset`."""
    return Invalid(
        f"root: the free space at {offset} holds data that is not the remains of a record "
        f"the writer moved (free space is zeros, a record, or remains of the live metadata; "
        f"byte {offset + at} is none: a payload, or what is left of a deleted object "
        "written over, which vmguard cannot check: copy the objects into a new file)"
    )


def longest(data: bytes, at: int, live: list[bytes]) -> int:
    """The length of the longest run of data from `at` found in a live record (0 if it is
    shorter than MIN_RUN and not the rest of data)."""

    def found(n: int) -> bool:
        piece = data[at : at + n]
        return any(piece in record for record in live)

    if at + MIN_RUN > len(data):  # the last piece: shorter, where a run was cut off
        return MIN_RUN if found(len(data) - at) else 0
    if not found(MIN_RUN):
        return 0
    low, high = MIN_RUN, MIN_RUN * 2
    while at + high <= len(data) and found(high):
        low, high = high, high * 2
    high = min(high, len(data) - at + 1)
    while high - low > 1:  # found(low), not found(high) (or past the end)
        middle = (low + high) // 2
        low, high = (middle, high) if found(middle) else (low, middle)
    return low
