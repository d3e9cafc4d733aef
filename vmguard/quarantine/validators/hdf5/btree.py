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
) -> Iterator[tuple[int, bytes, bytes]]:
    """(child, the key before it, the key after it) of every leaf entry, in key order;
    shape is (node type, K, key size). A node's first and last keys are the keys around
    it in its parent, its last its right neighbour's first; final checks the last key of
    the last node of each level. Each node is read once, in one piece."""
    key = shape[2]
    level: list[tuple[int, bytes | None, bytes | None]] = [(root, None, None)]
    depth: int | None = None
    while level:
        below: list[tuple[int, bytes | None, bytes | None]] = []
        nodes = [n for n, _, _ in level]
        for i, (node, first, last) in enumerate(level):
            raw = _node(w, node, shape, what)
            if depth not in (None, raw[5]):
                raise Invalid(f"hdf5: {what}: the node at {node} is not at its level")
            depth, end = raw[5], 24 + struct.unpack_from("<H", raw, 6)[0] * (key + 8)
            own = (raw[24 : 24 + key], raw[end : end + key])
            _neighbours(raw, nodes, i, (first, last, *own), what)
            if i + 1 == len(level) and final is not None:
                final(raw[end : end + key])
            for at in range(24, end, key + 8):
                child = int.from_bytes(raw[at + key : at + key + 8], "little")
                around = (raw[at : at + key], raw[at + key + 8 : at + 2 * key + 8])
                if depth:
                    below.append((child, *around))
                else:
                    yield child, *around
        level = below
        depth = None if depth is None else depth - 1


def _neighbours(raw: bytes, level: list[int], i: int, keys: tuple[bytes | None, ...], what: str) -> None:
    """The node's sibling addresses are its neighbours on its level; its first and last
    keys (keys[2:]) the keys its parent holds around it (keys[:2]; None for the root)."""
    siblings = (level[i - 1] if i else UNDEFINED, level[i + 1] if i + 1 < len(level) else UNDEFINED)
    if struct.unpack_from("<QQ", raw, 8) != siblings:
        raise Invalid(f"hdf5: {what}: the sibling addresses of the node at {level[i]} are not its neighbours")
    first, last, own_first, own_last = keys
    if first is not None and (first, last) != (own_first, own_last):
        raise Invalid(f"hdf5: {what}: the keys of the node at {level[i]} are not those its parent holds")


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
