"""A writer's clock in the bytes it writes: the second a writer stamps into each part of
a file as it writes it (astropy's gzip tiles' MTIME, GNU tar 1.26's pax header times, the
one time of `tar --clamp-mtime`). One rule for all (issue #13): the stamps never go back,
span no longer than writing the parts' bytes can take (60 s + 1 s per 64 KiB written
before the stamp), and the first is no later than the vet's clock and a day (the guest's
may run ahead). What stays free, the first stamp and the steps, is listed in
docs/quarantine.md."""

from __future__ import annotations

import time
from dataclasses import dataclass

SKEW = 86_400  # seconds the writer's clock may run ahead of the vet's
SPAN_SECONDS, SPAN_RATE = 60, 1 << 16  # a part's stamp at most 60 s + 1 s per 64 KiB after the first


def too_late(stamp: int) -> bool:
    """Later than the vet's clock and the skew: no writer has written it yet."""
    return stamp > time.time() + SKEW


@dataclass
class WriteClock:
    """The stamps of one file's parts so far, and the bytes written before the next."""

    first: int | None = None
    last: int = 0
    written: int = 0

    def broken(self, stamp: int) -> str | None:
        """Takes the next stamp: the rule it breaks, or None."""
        if self.first is None:
            self.first = self.last = stamp
        span = SPAN_SECONDS + self.written // SPAN_RATE
        if too_late(self.first):
            return "later than the vet's clock and a day"
        if stamp < self.last:
            return "earlier than the one before"
        if stamp - self.first > span:
            return f"more than {span} s after the first"
        self.last = stamp
        return None
