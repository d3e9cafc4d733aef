"""The search for a fractal heap's old free-space section lists whose start a later
structure took (oldsections.OldSections.hidden): lists built size group by size group in
libhdf5's order, each compared with the bytes still shown past the hidden ones as soon
as it reaches them, the work counted across the file (MAX_WORK)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING

from .checksum import sealed

if TYPE_CHECKING:
    from .oldsections import OldSections, Tails

SHOWN = 8  # bytes of a list shown at least past the structure that took its start
MAX_WORK = 20_000  # lists tried for starts under later lists, in all


class Exhausted(Exception):
    """The search for hidden lists reached MAX_WORK."""


class Capped(Exception):
    """The search from one start reached its own bound (FIRST_TRY)."""


@dataclass(slots=True)
class Search:
    """Old lists of one heap built section group by section group, in libhdf5's order,
    each compared with the bytes shown past the `hidden` ones as soon as it reaches them."""

    tails: Tails
    shown: bytes
    hidden: int
    owner: OldSections  # its work counts every try (MAX_WORK)
    cap: int = MAX_WORK  # the owner's work at which this search stops (Capped)
    index: dict[int, int] = field(default_factory=dict)  # a group's size -> its place

    def run(self, prefix: bytes, count_size: int) -> bytes | None:
        by_size: dict[int, list[int]] = {}
        for offset, block in sorted(self.tails.ends.items()):
            by_size.setdefault(block - offset, []).append(offset)
        groups = sorted(by_size.items())
        self.index = {size: i for i, (size, _) in enumerate(groups)}
        return self._step(prefix, (0, 0), frozenset(), (groups, count_size))

    def _next_groups(self, body: bytes, nxt: int, how: tuple) -> range:
        """The groups that may come next: where the next group's first offset is shown
        whole, only the one group of its size (offset + size is its block's end), so a
        hidden head costs one try, not one per group."""
        (groups, count_size), (len_size, off_size) = how, self.tails.widths
        at = len(body) + count_size + len_size - self.hidden  # the first offset, in shown
        if at < 0 or at + off_size > len(self.shown):
            return range(nxt, len(groups))
        offset = int.from_bytes(self.shown[at : at + off_size], "little")
        i = self.index.get(self.tails.ends.get(offset, -1) - offset, -1)
        return range(i, i + 1) if i >= nxt else range(0)

    def _step(self, body: bytes, at: tuple[int, int], used: frozenset[int], how: tuple) -> bytes | None:
        """A list starting `body` (at: the next size group, sections so far) that fits."""
        groups, count_size = how
        self.owner.work += 1
        if self.owner.work > MAX_WORK:
            raise Exhausted
        if self.owner.work > self.cap:
            raise Capped
        shown = body[self.hidden :]
        if shown != self.shown[: len(shown)]:
            return None
        sections, size = at[1], len(body) + 4
        shows = self.hidden + SHOWN <= size <= self.hidden + len(self.shown)  # its checksum shown whole
        if sections and counted(sections, count_size) and shows:  # only then the checksum's cost
            whole = sealed(body)
            if self._ends(whole):
                return whole
        return self._groups(body, at, used, how)

    def _ends(self, whole: bytes) -> bool:
        return whole[self.hidden :] == self.shown[: len(whole) - self.hidden]

    def _groups(self, body: bytes, at: tuple[int, int], used: frozenset[int], how: tuple) -> bytes | None:
        """`body` continued by each next size group libhdf5 could have written."""
        (groups, count_size), (nxt, sections) = how, at
        len_size, off_size = self.tails.widths
        for i in self._next_groups(body, nxt, how):
            size, offsets = groups[i]
            free = [o for o in offsets if self.tails.ends[o] not in used]
            for k in range(1, len(free) + 1):
                for chosen in combinations(free, k):
                    group = k.to_bytes(count_size, "little") + size.to_bytes(len_size, "little")
                    group += b"".join(o.to_bytes(off_size, "little") + bytes(1) for o in chosen)
                    ends = frozenset(self.tails.ends[o] for o in chosen)
                    got = self._step(body + group, (i + 1, sections + k), used | ends, how)
                    if got is not None:
                        return got
        return None


def counted(sections: int, count_size: int) -> bool:
    """A list of `sections` encodes its counts in count_size bytes (btree2.enc_size,
    which imports the ledger, that imports this module)."""
    return (max(sections, 1).bit_length() - 1) // 8 + 1 == count_size
