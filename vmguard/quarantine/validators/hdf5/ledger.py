"""The bytes of one HDF5 file as the walk reads them (random access, every read checked
against the end-of-file address) and the ledger of what each byte is: every structure
the walk reaches claims its extent; extents may not overlap and what no structure
claims must be zeros."""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import UNDEFINED as UNDEFINED  # the package's own, for the walk's modules
from .checksum import lookup3
from .deleteddims import DeletedDims
from .emptiedblocks import EmptiedBlocks
from .heldblocks import HeldBlocks
from .oldblocks import Blocks
from .oldchunks import OldChunks
from .oldlists import OldLists
from .oldsections import OldSections
from .remains import Remains

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_EXTENTS = 1_000_000  # structures and chunks: a file with more is refused, not walked
_WINDOW = 1 << 20  # unclaimed bytes are checked this much at a time
_RUN = 16  # structures right before unclaimed bytes that may have reused a heap's old block
_SIGNATURES = {  # what unclaimed bytes that start with a structure's signature were
    b"GCOL": ", a global heap collection nothing refers to",
    b"TREE": ", a B-tree node nothing refers to",
    b"SNOD": ", a symbol table node nothing refers to",
    b"HEAP": ", a local heap nothing refers to",
    b"OHDR": ", an object header nothing refers to",
    b"OCHK": ", an object header continuation block nothing refers to, not one libhdf5 freed as this"
    " file's headers show (oldblocks.py)",
    b"FSSE": ", a free-space section list nothing refers to, not one an earlier state of a dense "
    "storage's heap had (oldsections.py)",
}
_PRUNED = (  # unclaimed data right after a chunk: chunk data HDF5 freed, never cleared
    ", perhaps chunk data libhdf5 freed without clearing it: chunks a shrink (resize()) "
    "pruned, or an earlier version of a compressed chunk rewritten elsewhere that is not "
    "today's chunk cut to an earlier extent (values overwritten since, another zlib): old "
    "data no rule recomputes"
)


@lru_cache(maxsize=256)
def _layout(fmt: str) -> struct.Struct:
    return struct.Struct("<" + fmt)


class File:
    """Bounded little-endian reads from a buffer (bytes or an mmap) of the whole file."""

    def __init__(self, buf: bytes | memoryview, eof: int) -> None:
        self.buf, self.eof = buf, eof

    def unpack(self, fmt: str, address: int, what: str) -> tuple:
        layout = _layout(fmt)
        self.inside(address, layout.size, what)
        return layout.unpack_from(self.buf, address)

    def bytes(self, address: int, size: int, what: str) -> bytes:
        self.inside(address, size, what)
        return bytes(self.buf[address : address + size])

    def inside(self, address: int, size: int, what: str) -> None:
        if address < 0 or size < 0 or address + size > self.eof:
            raise Invalid(
                f"hdf5: {what} ({address}, {size} bytes) does not lie under the end-of-file address"
            )

    def checksummed(self, address: int, size: int, what: str) -> None:
        """The structure's last 4 bytes are the lookup3 checksum of the rest."""
        data = self.bytes(address, size, what)
        if size < 4 or lookup3(data[:-4]) != int.from_bytes(data[-4:], "little"):
            raise Invalid(f"hdf5: the checksum of {what} at {address} is not its bytes'")

    def signature(self, address: int, sig: bytes, what: str) -> None:
        if self.bytes(address, len(sig), what) != sig:
            raise Invalid(f"hdf5: {what} at {address} does not start with its signature {sig.decode()}")


class Ledger:
    """The extents claimed by the structures reached, checked once the walk is done."""

    def __init__(self, file: File) -> None:
        self.file = file
        self.extents: dict[int, tuple[int, str]] = {}  # start -> (end, what)
        self.remains = Remains()  # what unclaimed bytes may be left of (remains.py)
        self.blocks = Blocks()  # and of freed continuation blocks (oldblocks.py)
        self.lists = OldLists()  # and of freed v1 blocks holding a scale's earlier list (oldlists.py)
        self.dims = DeletedDims()  # and of a netCDF dimension's dataset its variable replaced
        self.held = HeldBlocks()  # and of those that held a header's attributes in a row (heldblocks.py)
        self.emptied = EmptiedBlocks()  # and of a dense heap's blocks a REFERENCE_LIST rewrite emptied
        self.sections = OldSections()  # the old section lists of dense storage's heaps
        self.chunks = OldChunks(self.extents)  # and of compressed chunks libhdf5 rewrote elsewhere
        self.deferred: list[Callable[[], None]] = []  # checks that need the freed blocks found (moved.py)

    def claim(self, start: int, size: int, what: str) -> bool:
        """Claim an extent; False if exactly this extent was claimed before (a structure
        reached twice: a hard link), Invalid if another starts there."""
        self.file.inside(start, size, what)
        if size == 0:
            return True
        if start in self.extents:
            end, other = self.extents[start]
            if end != start + size or other != what:
                raise Invalid(f"hdf5: {what} at {start} overlaps {other} ({start}..{end})")
            return False
        if len(self.extents) >= MAX_EXTENTS:
            raise Invalid(
                f"hdf5: more than {MAX_EXTENTS} structures and chunks (a bomb, or too large to walk)"
            )
        self.extents[start] = (start + size, what)
        return True

    def claim_checked(self, start: int, size: int, what: str) -> bool:
        """claim, for a structure that ends with its checksum (File.checksummed)."""
        claimed = self.claim(start, size, what)
        self.file.checksummed(start, size, what)
        return claimed

    def settle(self) -> None:
        """No two extents overlap; every byte between them, up to the end-of-file
        address, is zero."""
        self._old_sections()
        self._prepare()
        pos, last = 0, "the start of the file"
        run: list[int] = []  # the starts of the structures that end, one after another, at pos
        later: list[tuple[int, int, str, list[int]]] = []  # gaps not explained (yet)
        for start in sorted(self.extents):
            end, what = self.extents[start]
            if start < pos:
                raise Invalid(f"hdf5: {what} ({start}..{end}) overlaps {last} (which ends at {pos})")
            self._zeros(pos, start, last, run, later)
            run = [*run[-_RUN + 1 :], start] if start == pos else [start]
            pos, last = end, what
        self._zeros(pos, self.file.eof, last, run, None, old=False)  # the end: _live_end
        self._again(later)
        self.blocks.chunks |= self.held.found  # every freed block is known now
        for check in self.deferred:
            check()

    def _again(self, later: list[tuple[int, int, str, list[int]]]) -> None:
        """The gaps not explained, tried again while freed blocks found since (which a
        freed block's continuation message may name: oldblocks.py) explain more."""
        while later:
            found = len(self.blocks.chunks)
            retry, later = later, []
            for gap in reversed(retry):  # a block names one allocated after it: the later first
                self._zeros(*gap, later)
            later.reverse()
            if len(self.blocks.chunks) == found and later:
                if not self.blocks.patient:  # once more, each try with all the bound has left
                    self.blocks.patient = True
                    continue
                self._zeros(*later[0], None)  # raises

    def _old_sections(self) -> None:
        """Claim the section lists earlier states of the file's fractal heaps left
        (oldsections.py), as structures: what lies around them is checked as ever. In
        rounds: those whose signature shows at a gap's start (a list lies right after
        what was allocated before it), then those whose start a later list took, until a
        round finds none (a whole list right after a hidden one starts a gap then). First
        the ends of the direct blocks a REFERENCE_LIST rewrite emptied (emptiedblocks.py),
        whose addresses a freed root may name (revertedroots.py)."""
        live = self._live_end()
        gaps = [(start, end) for start, end, _ in self._gaps() if end <= live]
        for start, size, what in self.emptied.claims(self.file.buf, gaps):  # first: a freed root names them
            self.claim(start, size, what)
        self.sections.reverts.emptied = self.emptied.found
        if not self.sections.heaps and not self.sections.roots:
            return
        found, first = True, True
        while found:
            gaps = [(start, min(end, live)) for start, end, _ in self._gaps() if start < live]
            claims, first = self.sections.claims(self.file.buf, gaps, first), False
            for start, size, what in claims:
                self.claim(start, size, what)
            found = bool(claims)
            for start, end, before in self._gaps():
                if end > live:  # freed space at the end libhdf5 cuts off at close
                    continue
                size, what = self.sections.hidden(self.file.buf, before, end)
                if size:
                    self.claim(start, min(size, end - start), what)
                    found = True

    def _live_end(self) -> int:
        """The end of the last structure the walk reached. libhdf5 frees an old list or
        root only where something later is allocated (at close it gives back the free
        space at the end of the file: H5MF_close shrinks the end-of-file address over
        it), so no freed structure, nor the tail of one, lies past it."""
        return max((end for end, _ in self.extents.values()), default=0)

    def _gaps(self) -> list[tuple[int, int, tuple[int, int, str]]]:
        """(start, end, the extent before it: start, end, name) of each unclaimed range."""
        gaps, pos, before = [], 0, (0, 0, "the start of the file")
        for start in sorted(self.extents):
            end, what = self.extents[start]
            if start > pos:
                gaps.append((pos, start, before))
            if end > pos:
                pos, before = end, (start, end, what)
        if pos < self.file.eof:
            gaps.append((pos, self.file.eof, before))
        return gaps

    def _prepare(self) -> None:
        """The unclaimed ranges (each with the start of the structure that ends where it
        starts, or -1) and the live continuation blocks, for oldblocks.py."""
        gaps, live, pos, last = [], [], 0, -1
        for start in sorted(self.extents):
            end, what = self.extents[start]
            if start > pos:
                gaps.append((pos, start, last if pos == self.extents.get(last, (-1,))[0] else -1))
            if what.startswith("a continuation block"):
                live.append((start, end - start))
            if end >= pos:
                pos, last = end, start
        starts = frozenset(self.extents)
        self.blocks.prepare(self.file.buf, gaps, live, starts)  # nothing freed past the last structure

    def _zeros(
        self,
        start: int,
        end: int,
        after: str,
        run: list[int],
        later: list[tuple[int, int, str, list[int]]] | None,
        old: bool = True,
    ) -> None:
        """The bytes of a gap are zeros or what oldlists.py, deleteddims.py, remains.py,
        oldblocks.py, oldchunks.py or heldblocks.py explain (not `old`: zeros only); a gap
        that is neither goes to `later` (None: raise)."""
        buf = self.file.buf
        for at in range(start, end, _WINDOW):
            window = bytes(buf[at : min(end, at + _WINDOW)])
            if window.strip(b"\0"):
                if old and (
                    self.lists.explains(self.file, (start, end))
                    or self.dims.explains(buf, (start, end), run)
                    or self.remains.explains(buf, (start, end), run)
                    or self.blocks.explains(buf, (start, end), run)
                    or self.chunks.explains(buf, (start, end), run)
                    or self.held.explains(buf, (start, end), run)
                ):
                    return
                if later is not None and self.blocks.owners:
                    later.append((start, end, after, run))
                    return
                first = at + len(window) - len(window.lstrip(b"\0"))
                kind = _SIGNATURES.get(bytes(buf[first : first + 4]), "")
                kind = (kind or (_PRUNED if after.startswith("a chunk of") else "")) + self.blocks.note()
                kind += self.chunks.note()
                raise Invalid(
                    f"hdf5: bytes {start}..{end} (after {after}) are reached from no structure of the "
                    f"file and are not zeros (a non-zero byte at {first}{kind}): every byte up to the "
                    "end-of-file address must belong to a structure reached from the root group "
                    "or be zero (a payload, or the remains of a deleted object or of an earlier state "
                    "of the file that vmguard cannot check: h5repack the file)"
                )
