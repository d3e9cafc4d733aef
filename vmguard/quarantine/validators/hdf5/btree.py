"""Version 1 B-trees (a group's SNOD nodes, a dataset's chunks), read level by level:
each node claimed once (a node reached twice is a loop), every node of a level at the
same level, its sibling addresses exactly the nodes before and after it on its level
(undefined at the ends), its unused entries zeros, and (chunk trees) its final key a
bound with no room for data: size and filter mask zero, offsets on the chunk grid."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..stream import Invalid
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .objects import Walker

MAX_LEVEL = 64  # B-tree levels: far beyond any real file


def leaves(
    w: Walker, root: int, shape: tuple[int, int, int], what: str, final: Callable[[bytes], None] | None = None
) -> Iterator[tuple[int, bytes]]:
    """(child, its key) of every leaf entry, in key order; shape is (node type, K, key
    size). A node's last key is its right neighbour's first; final checks the last key
    of the last node of each level. Each node is read once, in one piece."""
    kind, k, key = shape
    level: list[int] = [root]
    depth: int | None = None
    bound = b""  # the last key of the node before: the first key of the next one
    while level:
        below: list[int] = []
        for i, node in enumerate(level):
            raw = _node(w, node, shape, what)
            lvl = raw[5]
            if depth not in (None, lvl):
                raise Invalid(f"hdf5: {what}: the node at {node} is not at its level")
            depth = lvl
            last = i + 1 == len(level)
            if struct.unpack_from("<QQ", raw, 8) != (
                level[i - 1] if i else UNDEFINED,
                UNDEFINED if last else level[i + 1],
            ):
                raise Invalid(
                    f"hdf5: {what}: the sibling addresses of the node at {node} are not its neighbours"
                )
            if i and raw[24 : 24 + key] != bound:
                raise Invalid(
                    f"hdf5: {what}: the first key of the node at {node} is not its left neighbour's last"
                )
            end = 24 + struct.unpack_from("<H", raw, 6)[0] * (key + 8)
            bound = raw[end : end + key]
            if last and final is not None:
                final(bound)
            for at in range(24, end, key + 8):
                child = int.from_bytes(raw[at + key : at + key + 8], "little")
                if lvl:
                    below.append(child)
                else:
                    yield child, raw[at : at + key]
        level = below
        depth = None if depth is None else depth - 1


def _node(w: Walker, node: int, shape: tuple[int, int, int], what: str) -> bytes:
    kind, k, key = shape
    size = 24 + (2 * k + 1) * key + 2 * k * 8
    if not w.ledger.claim(node, size, what):
        raise Invalid(f"hdf5: {what}: the node at {node} is reached twice (a loop)")
    raw = w.file.bytes(node, size, what)
    t, lvl, used = struct.unpack_from("<4xBBH", raw)
    if raw[:4] != b"TREE" or t != kind or used > 2 * k or lvl > MAX_LEVEL:
        raise Invalid(f"hdf5: {what}: the node at {node} is not a B-tree node of its kind")
    if raw[24 + used * (key + 8) + key :].strip(b"\0"):
        raise Invalid(f"hdf5: {what}: the unused entries of the node at {node} hold data")
    return raw
