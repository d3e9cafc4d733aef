"""Version 2 B-trees (a `BTHD` header, `BTIN` internal and `BTLF` leaf nodes): the
indexes of dense link and attribute storage (record types 5, 6, 8, 9). Every node is
claimed whole (its node size, as the header says), once (a node reached twice is a
loop); its checksum is recomputed; the bytes after its checksum are zeros; the record
counts an internal node gives for its children, the root's and the tree's total are the
records found; no node holds more records than its size allows (H5B2__hdr_init)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..stream import Invalid
from . import tuning
from .ledger import UNDEFINED

if TYPE_CHECKING:
    from .objects import Walker

MAX_DEPTH = 16  # far beyond any real tree (a depth of 3 holds millions of records)
HEADER = 38
_PREFIX = 10  # signature, version, type and checksum of a node


def enc_size(n: int) -> int:
    """Bytes HDF5 encodes a count of at most n in (H5VM_limit_enc_size)."""
    return (max(n, 1).bit_length() - 1) // 8 + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Tree:
    what: str
    kind: int
    node_size: int
    record: int  # bytes of one record
    max_nrec: tuple[int, ...]  # per depth: the records a node holds at most
    cum_size: tuple[int, ...]  # per depth: bytes of a child's total record count


def records(w: Walker, address: int, kind: int, shape: tuple[int, str]) -> list[tuple[int, bytes]]:
    """(file address, bytes) of every record of the tree at `address`, in key order;
    shape is (record size, what the tree is)."""
    record, what = shape
    name = f"the version 2 B-tree (type {kind}) of {what}"
    w.ledger.claim_checked(address, HEADER, name)
    w.file.signature(address, b"BTHD", name)
    version, t, node_size, rsize, depth, split, merge, root, nrec, total = w.file.unpack(
        "4xBBIHHBBQHQ", address, name
    )
    if version or t != kind or rsize != record or depth > MAX_DEPTH:
        raise Invalid(
            f"hdf5: {name} at {address} has version {version}, type {t}, records of {rsize} bytes "
            f"or depth {depth} (records of {record} bytes expected)"
        )
    tuning.btree2((node_size, split, merge), f"{name} at {address}")
    tree = _shape(name, kind, node_size, record, depth)
    if root == UNDEFINED:
        if nrec or total:
            raise Invalid(f"hdf5: {name} counts records but has no root node")
        return []
    found: list[tuple[int, bytes]] = []
    _node(w, tree, (root, depth, nrec), found)
    if len(found) != total:
        raise Invalid(f"hdf5: {name} counts {total} records and holds {len(found)}")
    return found


def _shape(name: str, kind: int, node_size: int, record: int, depth: int) -> Tree:
    """The node geometry HDF5 derives from the header (H5B2__hdr_init)."""
    leaf = (node_size - _PREFIX) // record if node_size > _PREFIX + record else 0
    if leaf < 2 or node_size > 1 << 20:
        raise Invalid(f"hdf5: {name} has node size {node_size}")
    nrec_size = enc_size(leaf)
    max_nrec, cum, cum_size = [leaf], [leaf], [0]
    for d in range(1, depth + 1):
        pointer = 8 + nrec_size + cum_size[d - 1]
        n = (node_size - (_PREFIX + pointer)) // (record + pointer)
        if n < 1:
            raise Invalid(f"hdf5: {name} is {depth} deep: its nodes cannot hold it")
        max_nrec.append(n)
        cum.append((n + 1) * cum[d - 1] + n)
        cum_size.append(enc_size(cum[d]))
    return Tree(
        what=name,
        kind=kind,
        node_size=node_size,
        record=record,
        max_nrec=tuple(max_nrec),
        cum_size=tuple(cum_size),
    )


def _node(w: Walker, tree: Tree, at: tuple[int, int, int], found: list[tuple[int, bytes]]) -> None:
    """The records of one node and its children, appended to `found` in key order."""
    address, depth, nrec = at
    if not w.ledger.claim(address, tree.node_size, tree.what):
        raise Invalid(f"hdf5: {tree.what}: the node at {address} is reached twice (a loop)")
    sig = b"BTIN" if depth else b"BTLF"
    raw = w.file.bytes(address, tree.node_size, tree.what)
    if raw[:4] != sig or raw[4] != 0 or raw[5] != tree.kind or nrec > tree.max_nrec[depth]:
        raise Invalid(
            f"hdf5: {tree.what}: the node at {address} is not a {sig.decode()} node of "
            f"its tree or holds more records than it can ({nrec})"
        )
    end = 6 + nrec * tree.record
    if not depth:
        found += [(address + 6 + i, raw[6 + i : 6 + i + tree.record]) for i in range(0, end - 6, tree.record)]
        return _tail(w, tree, address, end, raw)
    width = enc_size(tree.max_nrec[0])
    pointer = 8 + width + tree.cum_size[depth - 1]
    pointers = [raw[end + i * pointer : end + (i + 1) * pointer] for i in range(nrec + 1)]
    _tail(w, tree, address, end + (nrec + 1) * pointer, raw)
    for i, p in enumerate(pointers):
        before = len(found)
        child, count = int.from_bytes(p[:8], "little"), int.from_bytes(p[8 : 8 + width], "little")
        _node(w, tree, (child, depth - 1, count), found)
        if depth > 1 and int.from_bytes(p[8 + width :], "little") != len(found) - before:
            raise Invalid(f"hdf5: {tree.what}: the node at {address} miscounts its child's records")
        if i < nrec:
            at = 6 + i * tree.record
            found.append((address + at, raw[at : at + tree.record]))
    return None


def _tail(w: Walker, tree: Tree, address: int, end: int, raw: bytes) -> None:
    """The node's checksum follows its content; the rest of the node is zeros."""
    if end + 4 > tree.node_size:
        raise Invalid(f"hdf5: {tree.what}: the node at {address} overruns its size")
    w.file.checksummed(address, end + 4, tree.what)
    if raw[end + 4 :].strip(b"\0"):
        raise Invalid(f"hdf5: {tree.what}: the bytes after the node's checksum at {address} hold data")
