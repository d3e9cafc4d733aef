"""text.MAX_RISE for the job: the cursor-ups of a line beyond its first, summed over every
text file the job publishes (archives' members with their archive), stay under the bound.

A reader shows whole lines of several files one after another (`grep -h X *.err`,
`tail -qn1 *.err`, `head`, `cat *.err | sort`): each line with u cursor-ups climbs u - 1
rows more than its LF brings down wherever it is shown, whatever file it came from, so
such a view rises at most 1 + the job's sum above its first line (session 38, attack n
text: twelve files of 7 each, each under the bound, climbed 85 rows under `grep -h`). The
files are published together (in per-file mode too: a view of the public directory sees
them all), so when the sum reaches the bound every admitted file that adds to it is
refused, naming the others: no file order decides which. Nested tqdm bars (one cursor-up
a line) add nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from vmguard.quarantine.model import Entry, Reason, Verdict
from vmguard.quarantine.validators.text import MAX_RISE

_SHOWN = 5  # the other files a refusal names (a job may hold thousands)


def bounded(entries: Sequence[Entry], rises: Mapping[str, int]) -> list[Entry]:
    """The entries, each admitted file of `rises` (path -> its rise) refused when the
    job's sum reaches MAX_RISE."""
    total = sum(rises.values())
    if total < MAX_RISE:
        return list(entries)
    adds = [e.path in rises and e.verdict is Verdict.ACCEPTED for e in entries]
    return [_refused(e, rises, total) if add else e for e, add in zip(entries, adds, strict=True)]


def _refused(entry: Entry, rises: Mapping[str, int], total: int) -> Entry:
    others = sorted(p for p in rises if p != entry.path)
    named = ", ".join(repr(p) for p in others[:_SHOWN])
    if len(others) > _SHOWN:
        named += f" and {len(others) - _SHOWN} more"
    detail = (
        f"text: its lines' cursor-ups beyond each line's first ({rises[entry.path]}) and those of "
        f"the job's other text files ({named}) are {total} in all, not fewer than {MAX_RISE}: "
        "`grep -h` or `tail -q` of the files together would climb that many rows above its first "
        "line, over what a terminal showed before (text.MAX_RISE holds for the job's files "
        "together; strip the escapes, or tqdm(..., ascii=True, position=None))"
    )
    reasons = (Reason.INVALID_FORMAT,)
    return dataclasses.replace(entry, verdict=Verdict.REJECTED, reasons=reasons, detail=detail)
