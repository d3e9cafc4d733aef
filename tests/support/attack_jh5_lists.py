"""Hidden free-space structures of fractal heaps no history of the file left (attack j).

libhdf5 itself serializes each "earlier state" used here: a scratch file holding only the
first k links (or attributes) of a group, written in one session, has as its one `FSSE`
list the list of the state after k objects (heap offsets are the same as in the target
file: the heap only fills). The list is moved into the target file, its free-space
manager address set to the target's (`FSHD`) and its checksum recomputed; it goes where
unclaimed bytes are (after the last structure, the end-of-file address raised, as attack
i did for chunk streams) or over the file's live list's slack. The bits are WHICH states
are present and in which order: none of this is something the heap's history wrote when
the target file was written in one session (one close: one list, the live one).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import h5py

from tests.support.attack_fbinary_hdf5 import _checksum_end, sessions
from tests.support.attack_ibinary_hdf5 import EOF_FIELD
from tests.support.hdf5_attack_c_bytes import lookup3, resum_superblock

Fill = Callable[[h5py.Group, int, int], None]


def links(g: h5py.Group, lo: int, hi: int) -> None:
    for i in range(lo, hi):
        g.create_group(f"link_{i:03d}")


def attrs(g: h5py.Group, lo: int, hi: int) -> None:
    for i in range(lo, hi):
        g.attrs[f"attr_{i:03d}"] = i * 3 + 1


def group_file(n: int, fill: Fill = links, *, track: bool = True, cuts: tuple[int, ...] = (),
               libver: str | None = None) -> bytes:
    """/g given objects 0..n-1 by fill, a new session at each cut (none: one session)."""
    bounds = (0, *cuts, n)

    def step(lo: int, hi: int) -> Callable[[h5py.File], None]:
        def run(f: h5py.File) -> None:
            g = f["g"] if "g" in f else f.create_group("g", track_order=track or None)
            fill(g, lo, hi)
        return run
    steps = [step(lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False)]
    return sessions(steps, **({"libver": libver} if libver else {}))


def all_at(buf: bytes, sig: bytes) -> list[int]:
    out, i = [], buf.find(sig)
    while i >= 0:
        out.append(i)
        i = buf.find(sig, i + 1)
    return out


def structure(buf: bytes, at: int) -> bytes:
    """The checksummed structure at `at`, up to and with its checksum."""
    return bytes(buf[at : _checksum_end(buf, at) + 4])


def live_list(buf: bytes, manager: int) -> bytes:
    """The one list of a one-session file naming the manager at `manager`."""
    lists = [a for a in all_at(buf, b"FSSE") if struct.unpack_from("<Q", buf, a + 5)[0] == manager]
    assert len(lists) == 1, lists
    return structure(buf, lists[0])


def retarget(fsse: bytes, manager: int) -> bytes:
    """The list naming the manager at `manager`, its checksum recomputed."""
    out = bytearray(fsse)
    struct.pack_into("<Q", out, 5, manager)
    struct.pack_into("<I", out, len(out) - 4, lookup3(bytes(out[:-4])))
    return bytes(out)


def managers(buf: bytes) -> list[int]:
    return all_at(buf, b"FSHD")


def state_list(k: int, which: int = 0, fill: Fill = links, *, track: bool = True,
               libver: str | None = None) -> bytes:
    """libhdf5's list of the heap after its first k objects (manager `which` of the file,
    in file order), as a one-session file of k objects holds it."""
    buf = group_file(k, fill, track=track, libver=libver)
    return live_list(buf, managers(buf)[which])


def appended(buf: bytes, blobs: list[bytes]) -> bytes:
    """blobs after the file's last byte, the end-of-file address raised."""
    out = bytearray(buf) + b"".join(blobs)
    struct.pack_into("<Q", out, EOF_FIELD[buf[8]], len(out))
    resum_superblock(out)
    return bytes(out)


def with_states(target: bytes, states: list[int], which: int = 0, fill: Fill = links, **kw) -> bytes:
    """target with libhdf5's lists of the given earlier states appended, each naming
    the target's manager `which`."""
    manager = managers(target)[which]
    blobs = [retarget(state_list(k, which, fill, **kw), manager) for k in states]
    return appended(target, blobs)


def checksummed(buf: bytes, at: int, limit: int = 4096) -> bytes:
    """The structure at `at` up to and with the first lookup3 checksum that fits (it may
    end the file)."""
    for end in range(at + 8, min(at + limit, len(buf) - 3)):
        if struct.unpack_from("<I", buf, end)[0] == lookup3(bytes(buf[at:end])):
            return bytes(buf[at : end + 4])
    raise AssertionError(f"no checksum after {at}")


UNDEFINED = b"\xff" * 8
HEAD = 17  # FHIB: signature, version, heap address, a 4-byte block offset (32 address bits)


def old_roots(buf: bytes, copies: list[tuple[int, int]]) -> list[bytes]:
    """Copies of the heap's root indirect block as (rows, children): the root's first
    `children` direct block addresses, then undefined addresses, width 4 a row, the
    checksum recomputed (the docs' "earlier copies, one per (rows, children)")."""
    root = checksummed(buf, all_at(buf, b"FHIB")[-1])
    out = []
    for rows, children in copies:
        entries = [root[HEAD + 8 * i : HEAD + 8 * i + 8] for i in range(children)]
        body = root[:HEAD] + b"".join(entries) + UNDEFINED * (4 * rows - children)
        out.append(body + struct.pack("<I", lookup3(body)))
    return out


# ---------------------------------------------------------------- the cases


PAYLOAD = b"PWND"
LATEST = {"track": False, "libver": "latest"}


def _tracked() -> dict[str, bytes]:
    one = group_file(20)  # tracked, default libver: dense from the 9th link
    two = group_file(20, cuts=(10,))
    bad = bytearray(with_states(one, [12]))
    bad[-4:] = PAYLOAD
    states = {k: retarget(state_list(k), managers(one)[0]) for k in (10, 11, 12, 15, 17)}
    twelve = states[12]
    chain = [states[12][-13:], states[15], states[17][-13:], states[10], states[11][-13:]]
    return {
        "h5-j-state-tails-under-appended-lists.h5": appended(one, chain),
        "h5-j-state-tail-after-last-structure.h5": appended(one, [twelve[-3:]]),
        "h5-j-state-after-zero-gap.h5": appended(one, [bytes(100), twelve]),
        "h5-j-state-one-session.h5": with_states(one, [12]),
        "h5-j-states-all-one-session.h5": with_states(one, list(range(9, 20))),
        "h5-j-states-chosen-order-one-session.h5": with_states(one, [17, 10, 14]),
        "h5-j-state-extra-two-sessions.h5": with_states(two, [15]),
        "h5-j-state-twice.h5": with_states(one, [12, 12]),
        "h5-j-state-checksum-payload.h5": bytes(bad),
    }


def _untracked() -> dict[str, bytes]:
    one = group_file(20, **LATEST)
    return {
        "h5-j-untracked-state-one-session.h5": with_states(one, [12], **LATEST),
        "h5-j-untracked-states-all-one-session.h5": with_states(one, list(range(9, 20)), **LATEST),
    }


def _roots() -> dict[str, bytes]:
    r150, r300 = group_file(150, **LATEST), group_file(300, **LATEST)
    seven = [(1, 1), (1, 2), (1, 3), (1, 4), (2, 5), (2, 6), (2, 7)]
    state = retarget(state_list(140, **LATEST), managers(r150)[0])
    tails = [retarget(state_list(k, **LATEST), managers(r150)[0])[-6:] for k in (20, 60, 100)]
    fake = old_roots(r150, [(1, 1), (1, 2), (1, 3)])
    chain = [tails[0], fake[0], tails[1], fake[1], tails[2], fake[2], state[-6:]]
    return {
        "h5-j-untracked-tails-under-fake-roots.h5": appended(r150, chain),
        "h5-j-untracked-state-tail-after-root.h5": appended(r150, [state[-6:]]),
        "h5-j-oldroot-more-rows.h5": appended(r150, old_roots(r150, [(3, 8)])),
        "h5-j-oldroot-one-child.h5": appended(r150, old_roots(r150, [(1, 1)])),
        "h5-j-oldroots-four.h5": appended(r150, old_roots(r150, [(1, c) for c in (1, 2, 3, 4)])),
        "h5-j-oldroots-seven.h5": appended(r300, old_roots(r300, seven)),
        "h5-j-oldroot-twice.h5": appended(r150, old_roots(r150, [(1, 4), (1, 4)])),
    }


def bases() -> dict[str, bytes]:
    """The untouched files the hostile ones are built on (controls)."""
    return {"ctl-j-base-tracked-20.h5": group_file(20),
            "ctl-j-base-tracked-20-two-sessions.h5": group_file(20, cuts=(10,)),
            "ctl-j-base-untracked-20.h5": group_file(20, **LATEST),
            "ctl-j-base-untracked-150.h5": group_file(150, **LATEST),
            "ctl-j-base-untracked-300.h5": group_file(300, **LATEST)}


def hostile() -> dict[str, bytes]:
    return {**_tracked(), **_untracked(), **_roots()}


HOSTILE_NAMES = sorted([
    "h5-j-state-tails-under-appended-lists.h5", "h5-j-untracked-tails-under-fake-roots.h5",
    "h5-j-state-tail-after-last-structure.h5", "h5-j-state-after-zero-gap.h5",
    "h5-j-untracked-state-tail-after-root.h5", "h5-j-oldroot-more-rows.h5",
    "h5-j-state-one-session.h5", "h5-j-states-all-one-session.h5",
    "h5-j-states-chosen-order-one-session.h5", "h5-j-state-extra-two-sessions.h5",
    "h5-j-state-twice.h5", "h5-j-state-checksum-payload.h5",
    "h5-j-untracked-state-one-session.h5", "h5-j-untracked-states-all-one-session.h5",
    "h5-j-oldroot-one-child.h5", "h5-j-oldroots-four.h5", "h5-j-oldroots-seven.h5",
    "h5-j-oldroot-twice.h5",
])
BASE_NAMES = sorted(["ctl-j-base-tracked-20.h5", "ctl-j-base-tracked-20-two-sessions.h5",
                     "ctl-j-base-untracked-20.h5", "ctl-j-base-untracked-150.h5",
                     "ctl-j-base-untracked-300.h5"])
