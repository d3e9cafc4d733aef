"""The fields libhdf5 uses only when it writes (how a heap grows, when B-tree nodes split
and merge, when a free-space manager shrinks): a reader never needs them, so each is
pinned to the only value libhdf5 writes. They are compile-time constants, not
properties a program can set (H5Gdense.c, H5Adense.c, H5HFhuge.c, H5HFspace.c: the
same from HDF5 1.8 to 2.0; tests/quarantine/test_hdf5_tuning.py reads them back from
h5py's files)."""

from __future__ import annotations

from ..stream import Invalid

# (heap ID length, largest managed object, table width, starting block size, largest
# direct block, heap address bits, starting rows of the root indirect block)
HEAPS = {
    "link": (7, 4096, 4, 512, 65536, 32, 1),
    "attribute": (8, 4096, 4, 1024, 65536, 40, 1),
}
BTREE2 = (512, 100, 40)  # node size, split and merge percentages (every v2 B-tree)
FREE_SPACE = (80, 120)  # a fractal heap free-space manager's shrink and expand percentages

_HEAP_FIELDS = (
    "heap ID length, largest managed object, table width, starting block, largest direct block, "
    "address bits, starting rows"
)


def heap(kind: str, got: tuple[int, ...], name: str) -> None:
    if got != HEAPS[kind]:
        raise Invalid(f"hdf5: {name} has {_HEAP_FIELDS} {got}, where libhdf5 writes {HEAPS[kind]}")


def btree2(got: tuple[int, int, int], name: str) -> None:
    if got != BTREE2:
        raise Invalid(
            f"hdf5: {name} has node size, split and merge percentages {got}, where libhdf5 writes {BTREE2}"
        )


def free_space(got: tuple[int, int], name: str) -> None:
    if got != FREE_SPACE:
        raise Invalid(
            f"hdf5: {name} has shrink and expand percentages {got}, where libhdf5 writes {FREE_SPACE}"
        )
