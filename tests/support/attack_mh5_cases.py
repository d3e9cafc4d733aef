"""The cases of attack m h5 (session 37), built from real h5py files:
- ordinary(): multi-session workflows (attack_mh5_ordinary), variable-length string
  attributes of tracked objects added over sessions, and a few of a random sweep;
- forged(): blocks of /data's dense attributes written into a hole of zeros inside a
  real 12-session file (its 4000-row dataset's raw data moved to the end of the file,
  which vet admits: the hole ends at the header of /log, a dataset session 1 wrote
  right after the raw data, not at an old section list): whole blocks at chosen
  offsets, tails whose start lies under /data's header, and variants outside the pins
  (flags, padding, gap bytes, trailing bytes, another layout address, too many blocks);
- cont_orders(): a tracked header's live continuation message given order fields."""

from __future__ import annotations

import struct
from collections.abc import Callable

import h5py
import numpy as np

from tests.support import attack_mh5_held as H
from tests.support import attack_mh5_ordinary as O
from tests.support.attack_fbinary_hdf5 import sessions
from tests.support.hdf5_attack_c_bytes import resum

Cases = dict[str, bytes]


def _note(kind: str) -> Callable[[int], Callable[[h5py.File], None]]:
    def step(s: int) -> Callable[[h5py.File], None]:
        def go(f: h5py.File) -> None:
            if kind == "root":
                obj = f
            elif "g" in f:
                obj = f["g"]
            else:
                obj = f.create_group("g", track_order=True)
            obj.attrs[f"note{s}"] = f"session {s}"
            if kind == "pair":
                obj.attrs[f"cfg{s}"] = "x" * (79, 52, 10)[s % 3]
        return go
    return step


def vlen_notes(kind: str, count: int) -> bytes:
    """A file opened with track_order=True; one variable-length string attribute (or
    two: 'pair') added to the root or to /g in each session."""
    step = _note(kind)
    return sessions([step(s) for s in range(count)], track_order=True)


def sweep(kind: str, count: int, lib: str | None, track: bool, seed: int) -> bytes:
    """A group given random float arrays (1-119 doubles) a session: 'attrs' 1-3 of them,
    'flush' 3 with a flush after each, 'mix' a dataset, an attribute and every other
    session a subgroup."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 120, size=(count, 4))

    def step(s: int) -> Callable[[h5py.File], None]:
        def go(f: h5py.File) -> None:
            g = f["g"] if "g" in f else f.create_group("g", track_order=track or None)
            if kind == "attrs":
                for i in range(1 + s % 3):
                    g.attrs[f"a{s}_{i}"] = rng.random(int(sizes[s, i]))
            elif kind == "mix":
                g.create_dataset(f"d{s}", data=rng.random(10))
                g.attrs[f"a{s}"] = rng.random(int(sizes[s, 0]))
                if s % 2:
                    g.create_group(f"sub{s}")
            else:
                for i in range(3):
                    g.attrs[f"f{s}_{i}"] = rng.random(int(sizes[s, i]))
                    f.flush()
        return go
    kw: dict = {"libver": lib} if lib else {}
    if track:
        kw["track_order"] = True
    return sessions([step(s) for s in range(count)], **kw)


def ordinary() -> Cases:
    out = O.controls()
    for kind, count in (("root", 3), ("group", 3), ("pair", 2), ("root", 2), ("pair", 5)):
        out[f"ctl-m-vlen-{kind}{count}-tracked.h5"] = vlen_notes(kind, count)
    for kind, count, lib, track in (("attrs", 14, "latest", False),
                                    ("flush", 14, "latest", False),
                                    ("mix", 9, None, True), ("mix", 9, "latest", True)):
        name = f"ctl-m-sw-{kind}{count}-{lib or 'def'}-{'t' if track else 'u'}.h5"
        out[name] = sweep(kind, count, lib, track, count * 31 + len(kind))
    out["ctl-m-calib12.h5"] = H.calib_run()
    out["ctl-m-tracked-root4.h5"] = tracked_root()
    return out


def messages(bodies: list[bytes], idx, flags: int = 0, pad: int = 0) -> bytes:
    """Attribute messages (untracked: 4-byte headers) of the bodies idx names."""
    out = b""
    for i in idx:
        body = bodies[i] + bytes(pad)
        out += struct.pack("<BHB", 12, len(body), flags) + body
    return out


class Hole:
    """The relocated calib file (with /log: its hole ends at a live header), its hole
    [start, end) and /data's dense bodies."""

    def __init__(self, n0: int = 5, grow: int = 17) -> None:
        buf = H.calib_run(12, 4000, n0, grow, log=True)
        self.buf, lo, self.end = H.relocated(buf, "data")
        self.start = H.hole_start(self.buf, lo)
        assert self.buf[self.end:self.end + 4] == b"OHDR", "the hole ends at /log's header"
        self.bodies = H.cal_bodies(12, n0, grow)
        assert all(buf.count(b) >= 1 for b in self.bodies)  # in the heap (and real tails)

    def msgs(self, idx, flags: int = 0, pad: int = 0) -> bytes:
        return messages(self.bodies, idx, flags, pad)

    def at(self, where: int, data: bytes) -> bytes:
        assert self.start <= where and where + len(data) <= self.end
        return H.put_at(self.buf, where, data)

    def whole(self, blocks: list[bytes]) -> bytes:
        return self.at(self.start, b"".join(blocks))

    def tail(self, blk: bytes, under: int = 179) -> bytes:
        """blk written at /data's header (179) before it: its start hidden there."""
        assert self.start < under + len(blk) <= self.end
        return self.at(self.start, blk[self.start - under:])

    def own(self, path: str, nth: int = 0) -> bytes:
        """The nth message of 16 bytes or more of path's header that is no attribute."""
        m = [m for m in H.hdr(self.buf, path).msgs if m.size >= 16 and m.type not in (0, 12)][nth]
        return self.buf[m.head:m.head + 4] + self.buf[m.body:m.body + m.size]

    def layout(self, addr: int | None) -> bytes:
        h = H.hdr(self.buf, "data")
        lay = next(m for m in h.msgs if m.type == 8)
        body = bytearray(self.buf[lay.body:lay.body + lay.size])
        if addr is not None:
            struct.pack_into("<Q", body, 2, addr)
        return struct.pack("<BHB", 8, len(body), 0) + bytes(body)


def forged() -> tuple[Cases, Cases, Cases]:
    """(admitted as the docs allow, hostile, the relocated control)."""
    z = Hole()
    blk, m = H.block, z.msgs
    within = {
        "mh5-whole-run0-2.h5": z.whole([blk(m([0, 1, 2]))]),
        "mh5-whole-chain12.h5": z.whole([blk(m([i])) for i in range(12)]),
        "mh5-whole-reversed.h5": z.whole([blk(m([2, 1, 0]))]),
        "mh5-whole-skip.h5": z.whole([blk(m([0, 2]))]),
        "mh5-whole-gap6.h5": z.whole([blk(m([0, 1, 2]), bytes(6))]),
        "mh5-whole-lead-layout.h5": z.whole([blk(z.layout(None) + m([0, 1]))]),
        "mh5-tail-run0-3.h5": z.tail(blk(m([0, 1, 2, 3]))),
        "mh5-tail-reversed.h5": z.tail(blk(m([3, 2, 1, 0]))),
        "mh5-tail-gap40.h5": z.tail(blk(m([0, 1, 2, 3]), bytes(40))),
        "mh5-tail-late-run.h5": z.tail(blk(m([9, 10]))),
    }
    hostile = {
        "mh5-whole-at+1.h5": z.at(z.start + 1, blk(m([0, 1]))),
        "mh5-whole-at+1001.h5": z.at(z.start + 1001, blk(m([0, 1]))),
        "mh5-whole-at+20000.h5": z.at(z.start + 20000, blk(m([0, 1]))),
        "mh5-whole-two-at+1001+20000.h5": H.put_at(z.at(z.start + 1001, blk(m([0, 1]))),
                                                   z.start + 20000, blk(m([2]))),
        "mh5-whole-apart.h5": z.whole([blk(m([i])) + bytes(97 * i + 3) for i in range(12)]),
        "mh5-whole-flags01.h5": z.whole([blk(m([0, 1, 2], flags=1))]),
        "mh5-whole-flags04.h5": z.whole([blk(m([0, 1, 2], flags=4))]),
        "mh5-whole-pad3.h5": z.whole([blk(m([0, 1, 2], pad=3))]),
        "mh5-whole-gap-nonzero.h5": z.whole([blk(m([0, 1, 2]), b"\0\x01\0")]),
        "mh5-whole-trailing.h5": z.whole([blk(m([0, 1])) + b"PWND"]),
        "mh5-whole-null-payload.h5": z.whole([blk(m([0]) + b"\0\x04\0\0PWND" + m([1]))]),
        "mh5-whole-lead-old-layout.h5": z.whole([blk(z.layout(2048) + m([0, 1]))]),
        "mh5-whole-lead-chosen-layout.h5": z.whole([blk(z.layout(0x50574E4400001234)
                                                        + m([0, 1]))]),
        "mh5-whole-chain19.h5": z.whole([blk(m([i % 12])) for i in range(19)]),
        "mh5-tail-flags04.h5": z.tail(blk(m([0, 1, 2, 3], flags=4))),
        "mh5-tail-then-payload.h5": H.put_at(z.tail(blk(m([0, 1, 2, 3]))), 3179, b"PWND"),
        "mh5-tail-gap400.h5": z.tail(blk(m([0, 1, 2, 3]), bytes(400))),
    }
    return within, hostile, {"ctl-m-calib12-relocated.h5": z.buf}


def plain_places() -> Cases:
    """Whole blocks of /data's dense attributes in the zeros h5py's own calib12 file
    (unmodified) has between /data's header and its raw data (1601 bytes: what is left
    of the metadata block libhdf5 aggregates), at chosen offsets."""
    buf = H.calib_run()
    start = H.hole_start(buf, 2048)
    assert buf[start:2048] == bytes(2048 - start) and 2048 - start > 1200
    bodies = H.cal_bodies()
    blk = H.block

    def m(idx: list[int]) -> bytes:
        return messages(bodies, idx)
    return {
        "mh5-plain-whole-at+1.h5": H.put_at(buf, start + 1, blk(m([0, 1]))),
        "mh5-plain-whole-at+1000.h5": H.put_at(buf, start + 1000, blk(m([0, 1]))),
        "mh5-plain-whole-two.h5": H.put_at(H.put_at(buf, start + 3, blk(m([0]))),
                                           start + 900, blk(m([1]))),
    }


def forged_hidden() -> tuple[Cases, Cases]:
    """Tails of /data's blocks whose start lies under the root's header (48): small
    calibration attributes (3 + s doubles), so 3 or 4 whole messages are hidden and only
    heldblocks' recomputation (the run in the header's order) can explain them."""
    z = Hole(3, 1)
    blk, m = H.block, z.msgs
    run = list(range(9))
    within = {
        "mh5-hidden-run0-8.h5": z.tail(blk(m(run)), 48),
        "mh5-hidden-gap3.h5": z.tail(blk(m(run), bytes(3)), 48),
        "mh5-hidden-lead-own.h5": z.tail(blk(z.own("data") + m(run)), 48),
    }
    hostile = {
        "mh5-hidden-swap.h5": z.tail(blk(m([1, 0] + run[2:])), 48),
        "mh5-hidden-gap4.h5": z.tail(blk(m(run), bytes(4)), 48),
        "mh5-hidden-lead-root.h5": z.tail(blk(z.own("/") + m(run)), 48),
    }
    return within, hostile


def _cont_order(buf: bytes, path: str, order: int) -> bytes:
    h = H.hdr(buf, path)
    cont = next(m for m in h.msgs if m.type == 16)
    out = bytearray(buf)
    struct.pack_into("<H", out, cont.head + 4, order)
    resum(out, h)
    return bytes(out)


def next_order(buf: bytes, path: str) -> int:
    """The attribute info message's next creation index (its 'maximum' field)."""
    h = H.hdr(buf, path)
    info = next(m for m in h.msgs if m.type == 21)
    assert buf[info.body + 1] & 1
    return struct.unpack_from("<H", buf, info.body + 2)[0]


def tracked_root(count: int = 4) -> bytes:
    """A file opened with track_order=True given a growing float root attribute a
    session, and a dataset (so the header cannot grow in place: a continuation block)."""
    def step(s: int) -> Callable[[h5py.File], None]:
        def go(f: h5py.File) -> None:
            f.attrs[f"pass{s}"] = np.cos(np.arange(3 + 25 * s) * 0.1 + s)
            f.create_dataset(f"d{s}", data=np.arange(10.0) * s)
        return go
    return sessions([step(s) for s in range(count)], track_order=True)


def cont_orders(base: bytes, path: str = "/") -> tuple[Cases, Cases]:
    n = next_order(base, path)
    within = {"mh5-cont-order-next-1.h5": _cont_order(base, path, n - 1)}
    hostile = {"mh5-cont-order-next.h5": _cont_order(base, path, n),
               "mh5-cont-order-ffff.h5": _cont_order(base, path, 0xFFFF)}
    return within, hostile
