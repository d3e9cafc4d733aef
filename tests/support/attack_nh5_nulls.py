"""How an object header's free space is cut into null messages (docs/quarantine.md,
"what exactness leaves", session 37: "every other place of a null and the size of a
slot's rest are pinned: at most one null per block and one per continuation message,
none adjacent"; and "in a header without continuation blocks ... its free space is one
null message at its end (pinned)"). Forged from real h5py files, v1 headers (default
libver) and v2 (checksums recomputed), each forgery a reader cannot tell from the
original (h5py sees the same file) while its cut carries chosen bits:
- split: a block's last null cut in two adjacent nulls (where the cut is: chosen bits);
- zero: a null of size 0 (its header alone) put before a block's last null;
- forward: the block's last null swapped with the message before it.
"""

from __future__ import annotations

import io
import struct

import h5py

from tests.support.hdf5_attack_c_bytes import Header, Msg, header, resum

NIL = 0


def headers(buf: bytes) -> dict[str, Header]:
    """Every object header h5py reaches, by path."""
    out: dict[str, int] = {}
    with h5py.File(io.BytesIO(bytes(buf)), "r") as f:
        out["/"] = h5py.h5o.get_info(f["/"].id).addr
        f.visititems(lambda name, obj: out.setdefault(name, h5py.h5o.get_info(obj.id).addr)
                     and None)
    return {path: header(buf, addr) for path, addr in out.items()}


def _hsize(hdr: Header, msg: Msg) -> int:
    return msg.body - msg.head


def _write_nil(buf: bytearray, hdr: Header, at: int, size: int) -> None:
    if hdr.version == 1:
        struct.pack_into("<HHB3x", buf, at, NIL, size, 0)
    else:
        struct.pack_into("<BHB", buf, at, NIL, size, 0)


def _count_plus(buf: bytearray, hdr: Header, k: int) -> None:
    if hdr.version == 1:
        count = struct.unpack_from("<H", buf, hdr.start + 2)[0]
        struct.pack_into("<H", buf, hdr.start + 2, count + k)


def _last_nils(hdr: Header) -> list[int]:
    """Indexes of nulls that end their chunk (the next message starts another chunk or
    none follows)."""
    out = []
    for i, m in enumerate(hdr.msgs):
        nxt = hdr.msgs[i + 1] if i + 1 < len(hdr.msgs) else None
        if m.type == NIL and (nxt is None or nxt.head != m.body + m.size):
            out.append(i)
    return out


def split(buf: bytes, hdr: Header, i: int, first: int) -> bytes | None:
    """The null msgs[i] (all zeros) cut into two adjacent nulls, the first of body size
    `first`."""
    m = hdr.msgs[i]
    h = _hsize(hdr, m)
    rest = m.size - first - h
    if rest < 0 or any(buf[m.body:m.body + m.size]):
        return None
    out = bytearray(buf)
    _write_nil(out, hdr, m.head, first)
    _write_nil(out, hdr, m.body + first, rest)
    out[m.body + first + h:m.body + m.size] = bytes(rest)
    _count_plus(out, hdr, 1)
    if hdr.version == 2:
        resum(out, hdr)
    return bytes(out)


def forward(buf: bytes, hdr: Header, i: int) -> bytes | None:
    """The null msgs[i] swapped with the message right before it in its chunk."""
    m = hdr.msgs[i]
    prev = hdr.msgs[i - 1] if i else None
    if prev is None or prev.body + prev.size != m.head or prev.type in (NIL, 0x10):
        return None
    if i >= 2 and hdr.msgs[i - 2].type == 0x10:
        return None
    out = bytearray(buf)
    nil = bytes(buf[m.head:m.body + m.size])
    moved = bytes(buf[prev.head:prev.body + prev.size])
    out[prev.head:prev.head + len(nil)] = nil
    out[prev.head + len(nil):m.body + m.size] = moved
    if hdr.version == 2:
        resum(out, hdr)
    return bytes(out)


def forgeries(prefix: str, buf: bytes) -> dict[str, bytes]:
    """Each kind once per file: the first header whose last null allows it."""
    out: dict[str, bytes] = {}
    for hdr in headers(buf).values():
        for i in _last_nils(hdr):
            half = (hdr.msgs[i].size // 2) // (8 if hdr.version == 1 else 1)
            half *= 8 if hdr.version == 1 else 1
            for kind in ("split", "zero", "forward"):
                name = f"{prefix}-{kind}.h5"
                if name in out:
                    continue
                data = (forward(buf, hdr, i) if kind == "forward"
                        else split(buf, hdr, i, half if kind == "split" else 0))
                if data is not None:
                    out[name] = data
    return out
