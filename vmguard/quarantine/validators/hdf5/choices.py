"""Fields a program sets through plain HDF5 calls that no reader uses: the attribute
phase change of a v2 object header (H5Pset_attr_phase_change: how many attributes a
writer keeps in the header before it moves them to dense storage), the link phase
change of a group info message (the same for links) and the file space
info message of the superblock extension (H5Pset_file_space_strategy and
H5Pset_file_space_page_size: how a writer reuses free space). h5py writes whatever its
caller asked, so they cannot be pinned like tuning.py's constants: each must agree with
the file it describes, stay within the bounds below (ordinary output keeps to them), and
be absent where libhdf5 writes none (the defaults are never stored). What is left free
is counted in docs/quarantine.md ("what exactness leaves")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stream import Invalid
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .objects import Message, Walker

DEFAULT_PHASE = (8, 6)  # H5O_CRT_ATTR_MAX_COMPACT_DEF, H5O_CRT_ATTR_MIN_DENSE_DEF
MAX_COMPACT = 255  # refused above: no ordinary writer keeps more attributes in a header
MESSAGE_MAX = 65536  # H5O_MESG_MAX_SIZE: a link or attribute this large goes to dense storage at once
FSM_AGGR, PAGE, AGGR, NONE = range(4)  # H5F_fspace_strategy_t
DEFAULT_SPACE = (FSM_AGGR, 0, 1, 4096)  # strategy, persist, threshold, page size
MIN_PAGE = 512  # H5F_FILE_SPACE_PAGE_SIZE_MIN


def attr_phase_change(stored: tuple[int, int] | None, what: str) -> int:
    """The most attributes the v2 header of `what` may keep in itself; stored: its
    (max compact, min dense), None where the header stores none (the defaults)."""
    return _phase_change(stored, f"the object header of {what} stores the attribute phase change")


def link_phase_change(w: Walker, m: Message, what: str) -> int:
    """The most links the group `what` may keep in its header, by its group info message
    (version 0): a link phase change as for attributes; the estimates of its links
    (H5Pset_est_link_info: how large a writer makes a new header; no h5py call sets
    them) refused."""
    version, flags = w.file.unpack("BB", m.at, f"the group info of {what}")
    if version or flags & ~0x01:
        raise Invalid(
            f"hdf5: the group info message of {what} has version {version} or flags {flags:#04x} "
            "(link count estimates: not written by h5py, not supported)"
        )
    stored = w.file.unpack("HH", m.at + 2, f"the group info of {what}") if flags else None
    return _phase_change(stored, f"the group info message of {what} stores the link phase change")


def _phase_change(stored: tuple[int, int] | None, where: str) -> int:
    if stored is None:
        return DEFAULT_PHASE[0]
    most, least = stored
    if stored == DEFAULT_PHASE or not least <= most <= MAX_COMPACT:
        raise Invalid(
            f"hdf5: {where} {stored} (max compact, min dense): libhdf5 stores only values "
            f"other than its defaults {DEFAULT_PHASE}, with min dense <= max compact; above "
            f"{MAX_COMPACT} refused"
        )
    return most


def compact(count: int, most: int, kind: str, what: str) -> None:
    """A header keeps at most its max compact links or (v2) attributes (libhdf5 moves
    them all to dense storage when one more is added)."""
    if count > most:
        raise Invalid(
            f"hdf5: the object header of {what} keeps {count} {kind}s, more than its {kind} "
            f"phase change allows ({most}: libhdf5 would keep them in dense storage)"
        )


def dense(most: int, sizes: list[int], deleted: bool, kind: str, what: str) -> None:
    """Dense storage bounds max compact from above: libhdf5 moves links or attributes to
    it only once one more than max compact comes (H5O__attr_add: nattrs == max compact;
    H5G__obj_insert: nlinks == max compact), so the `sizes` of its objects number more
    than max compact, but where one of them is too large for a header message (it went
    there at once, whatever the count) or its heap shows a deletion (reverted: libhdf5
    keeps dense storage down to min dense). session 39, attack oh5: a dense root of 14
    attributes stored (255, 6), so an untracked dense attribute's creation order (one
    below max compact: dense.creation_orders) carried 8 bits instead of log2(13)."""
    if deleted or max(sizes, default=0) >= MESSAGE_MAX:
        return
    if most >= len(sizes):
        raise Invalid(
            f"hdf5: {what} keeps {len(sizes)} {kind}s in dense storage, where its {kind} phase "
            f"change keeps up to {most} in its header (libhdf5 moves them there only once "
            f"they outnumber it, or for one of {MESSAGE_MAX} bytes or more)"
        )


def file_space(w: Walker, m: Message, what: str, _first: dict[int, Message]) -> None:
    """The file space info message (version 1): no persisted free space, its fixed
    fields libhdf5's, the choices the strategy uses bounded by the file (a threshold
    up to the file's size; a page size a power of two from 512 that divides it), those
    it does not use at their defaults, and not all defaults (then libhdf5 writes none)."""
    f = w.file
    version, strategy, persist, threshold, page, page_end, eoa = f.unpack("BBBQQHQ", m.at, what)
    if version != 1 or strategy > NONE:
        raise Invalid(f"hdf5: the file space info of {what} has version {version} or strategy {strategy}")
    if persist:
        raise Invalid("hdf5: persisted free-space sections are not supported")
    if page_end or eoa != UNDEFINED:
        raise Invalid(
            f"hdf5: the file space info of {what} gives a page end metadata threshold {page_end} "
            f"and an end of file before persisting {eoa}, where libhdf5 writes 0 and undefined"
        )
    got = (strategy, persist, threshold, page)
    if got == DEFAULT_SPACE:
        raise Invalid(f"hdf5: the file space info of {what} holds only defaults (libhdf5 writes none)")
    _threshold(strategy, threshold, f.eof, what)
    _page_size(strategy, page, f.eof, what)


def _threshold(strategy: int, threshold: int, eof: int, what: str) -> None:
    limit = eof if strategy in (FSM_AGGR, PAGE) else DEFAULT_SPACE[2]
    if threshold > limit or (strategy not in (FSM_AGGR, PAGE) and threshold != limit):
        raise Invalid(
            f"hdf5: the file space info of {what} gives the free-space threshold {threshold}: "
            f"refused above the file's size with a strategy that tracks free space, other than "
            f"{DEFAULT_SPACE[2]} (the default) with one that does not"
        )


def _page_size(strategy: int, page: int, eof: int, what: str) -> None:
    if strategy != PAGE:
        ok = page == DEFAULT_SPACE[3]
    else:
        ok = page >= MIN_PAGE and page & (page - 1) == 0 and eof % page == 0
    if not ok:
        raise Invalid(
            f"hdf5: the file space info of {what} gives the page size {page}: paged, a power "
            f"of two from {MIN_PAGE} that divides the file's size; else {DEFAULT_SPACE[3]} (the default)"
        )
