"""The fields libhdf5 uses only when it writes (how a heap grows, when B-tree nodes split
and merge, when a free-space manager shrinks, how a library that does not know a header
message should treat it): a reader never needs them, so each is pinned to the only value
libhdf5 writes. They are compile-time constants, not
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
# Chunk indexes (H5Dearray.c, H5Dfarray.c): an extensible array's maximum index bits, index
# block elements, least data block elements, least super block pointers and data block page
# bits; a fixed array's page bits.
EXTENSIBLE_ARRAY = (32, 4, 16, 4, 10)
FIXED_ARRAY = (10,)
# A header message's flags by its type (H5O_MSG_FLAG_*: 0x01 constant, 0x02 shared, 0x04
# not shareable, 0x10 mark if unknown), as H5D, H5G, H5A, H5O and H5Fsuper write them: a
# datatype is constant, shared when committed (0x03), not shareable in a committed
# datatype's own header (0x05); the file space info not shareable and marked if unknown.
MESSAGE_FLAGS = {
    **dict.fromkeys((0x01, 0x02, 0x06, 0x0C, 0x0D, 0x0E, 0x10, 0x11, 0x12), {0x00}),
    # libhdf5 turns a message it moves or removes into a null keeping its flags
    # (H5O__release_mesg): 0x04 is the attribute and link info messages' (1 bit a null)
    0x00: {0x00, 0x04},
    0x08: {0x00, 0x01},  # constant when space is allocated early (not for compact or filtered data)
    0x03: {0x01, 0x03, 0x05},
    **dict.fromkeys((0x04, 0x05, 0x0A, 0x0B), {0x01}),
    0x13: {0x05},  # B-tree K values (superblock extension): constant, not shareable (H5Fsuper.c)
    **dict.fromkeys((0x15, 0x16), {0x04}),
    0x17: {0x14},
}

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


def message_flags(kind: int, flags: int, what: str) -> None:
    """The flags of a header message of a known type (others are refused by type)."""
    if flags not in MESSAGE_FLAGS.get(kind, {flags}):
        raise Invalid(
            f"hdf5: a message of type {kind:#06x} in {what} has flags {flags:#04x}, where libhdf5 "
            f"writes {' or '.join(f'{n:#04x}' for n in sorted(MESSAGE_FLAGS[kind]))}"
        )


def datatype_flags(flags: int, committed: bool, what: str) -> None:
    """A datatype message is not shareable (0x05) in a committed datatype's own header
    (one without a layout), constant or shared (0x01, 0x03) in a dataset's."""
    if (flags == 0x05) != committed:
        raise Invalid(
            f"hdf5: the datatype message of {what} has flags {flags:#04x}, where libhdf5 writes "
            f"{'0x05 in a committed datatype' if committed else '0x01 or 0x03 in a dataset'}"
        )


def chunk_index(got: tuple[int, ...], wanted: list[tuple[int, ...]], name: str) -> None:
    """A fixed or extensible array chunk index's parameters: (client, element size, then
    FIXED_ARRAY's or EXTENSIBLE_ARRAY's), one of `wanted`: what libhdf5 writes for the
    dataset."""
    if got not in wanted:
        raise Invalid(
            f"hdf5: {name} has the parameters (client, element size...) {got}, where libhdf5 "
            f"writes {' or '.join(map(str, wanted))}"
        )
