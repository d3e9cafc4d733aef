"""Files for the independent attack ph5 (issue #13, session 39): h5py workflows with
attrs.modify, growing headers, dense attributes, track_order, libver default and
'latest' (ordinary controls, real tool output), and forgeries of the stale messages a
freed header block keeps (an earlier attribute value: the h5n admission). Written from
the HDF5 file format specification and h5py, not from vmguard's validator."""

from __future__ import annotations

import re

import h5py
import numpy as np

from tests.support import attack_nh5_sweep as sweep
from tests.support.attack_nh5_tools import lookup3, sessions

CHOSEN = b"\x11\x22\x33\x44\x55\x66\x77\x40"  # a double, 8 chosen bytes


def _s0(f: h5py.File) -> None:
    f.create_dataset("d", data=np.arange(10.0))


def _s1(f: h5py.File) -> None:
    f.attrs["fixed"] = np.float64(1.2345)
    f.attrs["name8"] = np.bytes_(b"ABCDEFGH")
    f.attrs["pair"] = np.array([1.5, 2.5], dtype=np.float32)
    for i in range(3):
        f.attrs[f"a{i}"] = np.float64(i + 0.1)


def _s2(f: h5py.File) -> None:
    for i in range(3, 12):
        f.attrs[f"a{i}"] = np.float64(i + 0.1)


def stale_source() -> bytes:
    """'latest': a dataset, then 6 root attributes (a block after the dataset's header),
    then 9 more (dense storage: the block freed, its messages left in it)."""
    return sessions([_s0, _s1, _s2], libver="latest")


def _put(data: bytes, off: int, new: bytes) -> bytes:
    out = bytearray(data)
    out[off:off + len(new)] = new
    return bytes(out)


def _stale_value(data: bytes, name: bytes, value: bytes) -> int:
    """Where the freed block's stale message named `name` holds `value` (the first copy
    of the name is the stale one: dense storage's heap comes later in the file)."""
    start = data.index(name)
    heap = data.index(b"FRHP")
    assert start < heap
    return data.index(value, start)


def freed_block(pre: bytes) -> tuple[int, int]:
    """The root's continuation block (start, length) in the file before it was freed:
    the length whose last 4 bytes are the lookup3 checksum of the rest."""
    start = pre.index(b"OCHK")
    for length in range(16, 4096):
        if lookup3(pre[start:start + length - 4]).to_bytes(4, "little") == \
                pre[start + length - 4:start + length]:
            return start, length
    raise AssertionError("no checksummed OCHK block")


def refreshed(pre: bytes, post: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    """`post` with the freed block's shown bytes edited and its checksum made right
    again (computed over the block as libhdf5 last wrote it, `pre`, its head included,
    which later structures cover in `post`)."""
    start, length = freed_block(pre)
    block = bytearray(pre[start:start + length])
    out = bytearray(post)
    for off, new in edits:
        assert pre[off:off + len(new)] == post[off:off + len(new)]  # shown, unchanged
        block[off - start:off - start + len(new)] = new
        out[off:off + len(new)] = new
    cks = lookup3(bytes(block[:-4])).to_bytes(4, "little")
    assert pre[start + length - 4:start + length] == post[start + length - 4:start + length]
    out[start + length - 4:start + length] = cks
    return bytes(out)


def stale_pre() -> bytes:
    """The stale source before its third session: the block live."""
    return sessions([_s0, _s1], libver="latest")


def stale_values(src: bytes) -> dict[str, bytes]:
    """Chosen bytes in place of stale attribute values in the freed block, the block's
    shown checksum left as it was or made right again."""
    pre = stale_pre()
    a0 = _stale_value(src, b"a0\x00", np.float64(0.1).tobytes())
    a1 = _stale_value(src, b"a1\x00", np.float64(1.1).tobytes())
    name8 = _stale_value(src, b"name8\x00", b"ABCDEFGH")
    pair = _stale_value(src, b"pair\x00", np.array([1.5, 2.5], np.float32).tobytes())
    start, length = freed_block(pre)
    cks = start + length - 4
    # the first shown byte after the section list over the block's head: the low byte
    # of name8's message size (35: version 3 header 9, name 6, datatype 8, dataspace 4,
    # value 8), its type byte under the list
    size = src.index(b"name8\x00") - 12  # size, flags; 9-byte body head
    assert src[size] == 35
    return {
        "ph5-stale-a0-value.h5": _put(src, a0, CHOSEN),
        "ph5-stale-a0-a1-values.h5": _put(_put(src, a0, CHOSEN), a1, CHOSEN),
        "ph5-stale-name8-string.h5": _put(src, name8, b"EVILDATA"),
        "ph5-stale-pair-array.h5": _put(src, pair, CHOSEN),
        "ph5-stale-a0-value-checksum.h5": _put(_put(src, a0, CHOSEN), cks, b"EVIL"),
        "ph5-cks-a0-value.h5": refreshed(pre, src, [(a0, CHOSEN)]),
        "ph5-cks-a0-text.h5": refreshed(pre, src, [(a0, b"EVILDATA")]),
        "ph5-cks-a0-a1-values.h5": refreshed(pre, src, [(a0, CHOSEN), (a1, CHOSEN)]),
        "ph5-cks-name8-string.h5": refreshed(pre, src, [(name8, b"EVILDATA")]),
        "ph5-cks-pair-array.h5": refreshed(pre, src, [(pair, CHOSEN)]),
        "ph5-cks-name8-pair.h5": refreshed(pre, src, [(name8, b"EVILDATA"), (pair, CHOSEN)]),
        **{f"ph5-size-name8-{v:02x}.h5": _put(src, size, bytes([v]))
           for v in (0x00, 0x21, 0x22, 0x24, 0x41, 0xFF)},
    }


def _modify_steps(n_before: int, n_after: int, sess: int):
    def first(f: h5py.File) -> None:
        f.create_dataset("d", data=np.arange(10.0))
        for i in range(n_before):
            f.attrs[f"c{i}"] = np.float64(i + 0.5)
        f.attrs["fixed"] = np.float64(1.0)

    def later(s: int):
        def step(f: h5py.File) -> None:
            f.attrs.modify("fixed", np.float64(s + 1.0))
            for i in range(n_after):
                f.attrs[f"s{s}_{i}"] = np.float64(s * 100 + i)
        return step
    return [first] + [later(s) for s in range(1, sess)]


def controls() -> dict[str, bytes]:
    """Ordinary h5py multi-session workflows (no hand edits)."""
    out: dict[str, bytes] = {}
    for lib in ("def", "latest"):
        for track in (False, True):
            kw = {"track_order": track}
            if lib == "latest":
                kw["libver"] = "latest"
            t = "t" if track else "u"
            for label, (nb, na, ss) in {"grow": (2, 3, 4), "dense": (6, 4, 3),
                                        "modonly": (9, 0, 4)}.items():
                out[f"ctl-ph5-modify-{label}-{t}-{lib}.h5"] = sessions(
                    _modify_steps(nb, na, ss), **kw)
    return out


def occurrences(data: bytes, pat: bytes) -> list[int]:
    return [m.start() for m in re.finditer(re.escape(pat), data)]


def modified_pair() -> tuple[bytes, bytes]:
    """Attack nh5's ctl-nh5-min9-modify-dense (root floats and strings over 3 'latest'
    sessions, 'fixed' set to 1.0, then attrs.modify to 2.0 in the session that went
    dense: the freed block keeps 1.0) and the same workflow before its last session."""
    seed, lib, track, steps = sweep.MINIMAL["ctl-nh5-min9-modify-dense.h5"]
    return sweep.replay(seed, lib, track, steps[:2]), sweep.replay(seed, lib, track, steps)


def modified_values(pre: bytes, post: bytes) -> dict[str, bytes]:
    """Chosen bytes in the freed block of a real attrs.modify, its checksum made right:
    'fixed' (the modified one), another float, both, its type or name changed, a
    variable-length string's heap ID."""
    fixed = post.index(b"fixed\x00")
    assert fixed < post.index(b"FRHP")
    val = post.index(np.float64(1.0).tobytes(), fixed)
    a1 = post.index(b"a1_0\x00")
    a1v = a1 + 29  # name 5, float datatype 20, scalar dataspace 4 (version 3 message)
    note = post.index(b"note1_2\x00")
    heapid = note + 8 + 20 + 4  # name 8, vlen string datatype 20, scalar dataspace 4
    return {
        "ph5-mod-fixed-value.h5": refreshed(pre, post, [(val, CHOSEN)]),
        "ph5-mod-fixed-text.h5": refreshed(pre, post, [(val, b"EVILDATA")]),
        "ph5-mod-fixed-high4.h5": refreshed(pre, post, [(val + 4, b"EVIL")]),
        "ph5-mod-a1-value.h5": refreshed(pre, post, [(a1v, CHOSEN)]),
        "ph5-mod-fixed-a1-values.h5": refreshed(pre, post, [(val, CHOSEN), (a1v, CHOSEN)]),
        "ph5-mod-fixed-int-class.h5": refreshed(pre, post, [(fixed + 6, b"\x10"),
                                                            (val, CHOSEN)]),
        "ph5-mod-fixed-name.h5": refreshed(pre, post, [(fixed, b"g")]),
        "ph5-mod-note-heapid.h5": refreshed(pre, post, [(heapid + 12, b"\x03")]),
    }
