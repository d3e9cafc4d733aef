"""A dimension scale's REFERENCE_LIST, as the Dimension Scales API rewrites it: each
H5DSattach_scale after the first reads the list, deletes the attribute and creates it
anew one entry longer (its size changes), so in an object tracking attribute creation
order each attach after the first leaves one order no attribute carries, below the
list's own. netCDF-C tracks creation order on every object and attaches each variable
to its dimensions' scales, so almost every netCDF-4 file shows such gaps (session 39,
attack oh5's ctl-oh5-nc-two-vars: /x's orders 0, 1, 2, 4, next 5). Only these gaps are
admitted (dense.creation_orders): at most one fewer than the list's entries, all below
its order; any other attribute deleted or renamed still leaves a refused gap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .shapes import dataspace

if TYPE_CHECKING:
    from .ledger import File

NAME = b"REFERENCE_LIST"  # H5DS's DIMENSION_SCALE back-reference attribute
MAX_COPIES = 256  # earlier copies of one list offered to freed blocks (its entries: 16 bytes each)


def attribute_name(f: File, at: int, what: str) -> bytes:
    """The name of the attribute message at `at` (storage.attribute checked its NUL)."""
    version, _, size = f.unpack("BBH", at, f"an attribute of {what}")
    return f.bytes(at + (9 if version == 3 else 8), size, f"an attribute of {what}").rstrip(b"\0")


def places(f: File, at: int, what: str) -> tuple[int, int]:
    """(where the dataspace, where the value) of the attribute message at `at`."""
    version, _, name, dtype, space = f.unpack("BBHHH", at, f"an attribute of {what}")
    pad = (lambda n: -(-n // 8) * 8) if version == 1 else (lambda n: n)
    space_at = at + (9 if version == 3 else 8) + pad(name) + pad(dtype)
    return space_at, space_at + pad(space)


def rewrites(f: File, attributes: list[tuple[int, int | None]], what: str) -> tuple[int, int]:
    """(how many creation orders may be missing, the order they lie below) for an
    object's attributes (where each message lies, its creation order): the list's
    entries less one and its order, (0, 0) without a list."""
    for at, order in attributes:
        if order is not None and attribute_name(f, at, what) == NAME:
            return max(0, dataspace(f, places(f, at, what)[0], what).elements - 1), order
    return 0, 0


def earlier(f: File, at: int, size: int, missing: list[int], what: str) -> list[tuple[bytes, int]]:
    """The copies of the list at `at` (`size` bytes) H5DSattach_scale deleted, as a freed
    continuation block may still hold them: (message body, creation order), the k-th
    copy (bodies) pinned to the k-th missing order: only where every attach after the
    first left its order missing (len(missing) == n - 1)."""
    copies = bodies(f, at, size, what)
    if len(missing) != len(copies):
        return []
    return list(zip(copies, sorted(missing), strict=True))


def bodies(f: File, at: int, size: int, what: str, only: int | None = None) -> list[bytes]:
    """The message bodies the list at `at` (`size` bytes) had before its last attaches:
    its first k entries, dimensions k, for k = 1 to n-1 (each attach appends one; the
    list's dataspace is simple of rank 1, maximum its size), at most MAX_COPIES; `only`:
    just the one of that many bytes, if any."""
    space_at, data_at = places(f, at, what)
    space = dataspace(f, space_at, what)
    n = space.elements
    if len(space.dims) != 1 or not 1 < n <= MAX_COPIES + 1:
        return []
    version = f.unpack("B", space_at, what)[0]
    dims = space_at + (4 if version == 2 else 8) - at  # its dimension, then its maximum
    body = f.bytes(at, size, what)
    entry = (size - (data_at - at)) // n
    out, ks = [], range(1, n)
    if only is not None:
        k, extra = divmod(only - (data_at - at), entry) if entry else (0, 1)
        ks = range(k, k + 1) if not extra and 1 <= k < n else range(0)
    for k in ks:
        copy = bytearray(body[: data_at - at + k * entry])
        copy[dims : dims + 8] = copy[dims + 8 : dims + 16] = k.to_bytes(8, "little")
        out.append(bytes(copy))
    return out


def deleted(f: File, held: list[tuple[int, int, int | None]], following: int, what: str) -> tuple[bytes, ...]:
    """The bodies of the deleted copies (earlier) of the list among an object's attributes
    (where each lies, its size, its creation order; `following` the next order)."""
    if not 0 < following - len(held) <= MAX_COPIES:
        return ()
    missing = sorted(set(range(following)) - {order for _, _, order in held})
    for at, size, order in held if missing else ():
        if order is not None and attribute_name(f, at, what) == NAME:
            return tuple(body for body, _ in earlier(f, at, size, missing, what))
    return ()
