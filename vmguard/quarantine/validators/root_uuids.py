"""A ROOT file's and its directories' UUIDs, as far as the writers make them (root_tables
checks each directory's)."""

from __future__ import annotations

import uuid

from .stream import Invalid

_UUID_DELAY = 10**8  # 10 s in 100 ns: uproot makes the directory's UUID right after the file's


def check(file: bytes, directory: bytes, top: bool) -> None:
    """UUIDs as ROOT and uproot make them (TUUID::TUUID; uuid.uuid1): time-based, RFC 4122
    variant, version 1, or version 3 where ROOT found no network address and made the node
    random (TUUID::GetNodeIdentifier: its first byte's top bit set, version 3 OR'ed over
    the 1). ROOT gives the top directory the file's UUID; uproot makes it right after the
    file's: the same clock sequence and node, less than 10 s later. A subdirectory's is
    made whenever it is (a later job's: another clock)."""
    ours, theirs = uuid.UUID(bytes=file[2:]), uuid.UUID(bytes=directory[2:])
    if file[:2] != b"\0\1":
        raise Invalid("root: the file header's UUID is not TUUID version 1")
    for made in (ours, theirs):
        random_node = made.version == 3 and made.node >> 47
        if made.variant != uuid.RFC_4122 or not (made.version == 1 or random_node):
            raise Invalid(
                f"root: the UUID {made} is not time-based as ROOT and uproot make it (version 1, "
                "or 3 with a random node)"
            )
    if not top or ours == theirs:
        return
    same_source = (ours.clock_seq, ours.node) == (theirs.clock_seq, theirs.node)
    if not same_source or not 0 < theirs.time - ours.time < _UUID_DELAY:
        raise Invalid(
            f"root: the directory's UUID {theirs} was not made right after the file's {ours} "
            "(the same clock sequence and node, less than 10 s later)"
        )
