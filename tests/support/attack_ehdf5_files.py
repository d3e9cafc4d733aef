"""Fifth HDF5 attack (session 32): the files. Every file is written by h5py on disk (the
sec2 driver, as the lab writes), some in several sessions ('w' then 'a'); attacks then
patch bytes per the HDF5 file format specification (lookup3 recomputed).

ORDINARY: plain h5py output (one session, or steps a physicist takes: appending,
accumulating, shrinking, copying), each must be published byte-identical; the ones
refused are FALSE_REJECTIONS. DOCUMENTED: ordinary output docs/quarantine.md says is
refused (the remains of an earlier state), with the words its refusal must say.
ATTACKS: PAYLOAD hidden in bytes no reader returns; the ones published are HOLES.
"""

from __future__ import annotations

import io
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from tests.support.hdf5_attack_c_bytes import PAYLOAD, Header, Msg, addr_of, header, resum

Step = Callable[[h5py.File], None]


def sessions(steps: list[Step], **kw) -> bytes:
    """The file after steps[0] in a new file and each later step in a session of its own."""
    with tempfile.TemporaryDirectory(prefix="attackeh5-") as where:
        path = Path(where) / "f.h5"
        for n, step in enumerate(steps):
            with h5py.File(path, "a" if n else "w", **kw) as f:
                step(f)
        return path.read_bytes()


def _features(f: h5py.File) -> None:
    """One session of most of what h5py writes (chunked filters resized, fill values,
    strings of both kinds, empties, compact layout, scales, references, links, dense)."""
    ev = f.create_dataset("ev", data=np.arange(300.0).reshape(100, 3), maxshape=(None, 3),
                          chunks=(25, 3), compression="gzip", shuffle=True, fletcher32=True)
    ev.resize((130, 3))
    f.create_dataset("fix", data=np.arange(64).reshape(8, 8), chunks=(4, 4), compression="gzip")
    f.create_dataset("fill", (20,), chunks=(8,), dtype="i2", fillvalue=7)[:5] = 1
    f["s"] = np.array(["alpha", "béta", ""], dtype=h5py.string_dtype())
    f["fs"] = np.array([b"ab", b"cde"], dtype="S4")
    f["scalar"] = 3.5
    f.create_dataset("empty", data=h5py.Empty("f8"))
    f.attrs["emptyattr"] = h5py.Empty("i4")
    f.attrs.create("u8", "ünï", dtype=h5py.string_dtype("utf-8"))
    f.attrs["list"], f.attrs["arr"] = ["a", "b"], np.arange(6).reshape(2, 3)
    f.attrs["cmp"] = np.zeros(2, [("a", "i4"), ("b", "f8")])
    f["dtype"] = np.dtype([("x", "f4"), ("y", "i8")])
    f.create_dataset("typed", (3,), dtype=f["dtype"])
    many = f.create_group("many")
    for i in range(40):
        many[f"m{i}"] = i
    for i in range(12):
        many.attrs[f"k{i}"] = i * 1.5
    ordered = f.create_group("ordered", track_order=True)
    for i in range(12):
        ordered[f"z{11 - i}"] = i
    f["x"] = np.arange(4.0)
    f["x"].make_scale("x")
    f["img"] = np.zeros(4)
    f["img"].dims[0].attach_scale(f["x"])
    f["refs"] = np.array([f["x"].ref, f["img"].ref, h5py.Reference()], dtype=h5py.ref_dtype)
    f["rr"] = np.array([f["fix"].regionref[1:3, 2:5]], dtype=h5py.regionref_dtype)
    f["soft"], f["hard"] = h5py.SoftLink("/ev"), f["ev"]
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    space = h5py.h5s.create_simple((10,))
    compact = h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I32LE, space, dcpl)
    compact.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(10, dtype="i4"))
    f.create_dataset("vi", (3,), dtype=h5py.vlen_dtype("i2"))[1] = np.arange(3, dtype="i2")
    f.create_dataset("big", data=np.arange(200000, dtype="f4"), chunks=(10000,),
                     compression="gzip", compression_opts=9)


def _evict(f: h5py.File) -> None:
    """An image filled a column band at a time: its 800 KB deflated chunks span the bands
    and do not all fit the 1 MiB chunk cache, so libhdf5 writes each several times."""
    d = f.create_dataset("img", (2000, 2000), dtype="f4", chunks=(100, 2000), compression="gzip")
    for j in range(0, 2000, 250):
        d[:, j:j + 250] = np.random.default_rng(j).random((2000, 250), dtype="f4").round(2)


def _histogram(f: h5py.File) -> None:
    f.create_dataset("h", data=np.zeros((64, 64), "i8"), chunks=(16, 16), compression="gzip")


def _accumulate(f: h5py.File) -> None:
    f["h"][...] += np.random.default_rng(1).integers(0, 1000, (64, 64))


def _table(f: h5py.File) -> None:
    f.create_dataset("ev", (0, 4), maxshape=(None, 4), chunks=(64, 4), dtype="f8",
                     compression="gzip", shuffle=True)
    f.create_dataset("name", (0,), maxshape=(None,), chunks=(16,), dtype=h5py.string_dtype())


def _append(f: h5py.File) -> None:
    """A job's later session: 100 more events, their names, the count."""
    d, s = f["ev"], f["name"]
    n, m = d.shape[0], s.shape[0]
    d.resize((n + 100, 4))
    d[n:] = np.arange(400.0).reshape(100, 4) + n
    s.resize((m + 7,))
    s[m:] = [f"evt{m + i}" for i in range(7)]
    f.attrs["nev"] = d.shape[0]


def _log(f: h5py.File) -> None:
    f.create_dataset("e", data=np.arange(1000), maxshape=(None,), chunks=(100,))


def _shrink(f: h5py.File) -> None:
    f["e"].resize((350,))


def _log_flush_shrink(f: h5py.File) -> None:
    """One session: a log written, flushed (readers see it), then cut back."""
    d = f.create_dataset("e", data=np.arange(1000), maxshape=(None,), chunks=(100,))
    d.flush()
    d.resize((350,))


def _grow(f: h5py.File) -> None:
    f["e"].resize((900,))
    f["e"][350:] = 5


def _attrs0(f: h5py.File) -> None:
    f.create_dataset("d", data=np.arange(100.0)).attrs["units"] = "GeV"


def _attrs(f: h5py.File) -> None:
    k = len(f.attrs)
    for i in range(12):
        f["d"].attrs[f"p{k}_{i}"] = np.arange(i + 1, dtype="f8")
        f.attrs[f"r{k}_{i}"] = f"run {k} {i}"


def _members(f: h5py.File) -> None:
    g = f.require_group("many")
    k = len(g)
    for i in range(60):
        g[f"s{k:03d}_{i:03d}"] = np.arange(3) + i


def _counter(f: h5py.File) -> None:
    f.create_dataset("x", data=np.arange(10))
    for i in range(20):
        f.attrs["n"] = i
        f["x"].attrs["last"] = float(i)


def _copied(libver: str) -> bytes:
    """A run group copied from another file (H5Ocopy) next to a copied dataset."""
    def src(f: h5py.File) -> None:
        g = f.create_group("run")
        for i in range(12):
            g.create_dataset(f"d{i}", data=np.arange(i + 5), compression="gzip")
            g.attrs[f"a{i}"] = i
        g["s"] = np.array([b"abc", b"de"], dtype=h5py.string_dtype())

    with tempfile.TemporaryDirectory(prefix="attackeh5-") as where:
        with h5py.File(Path(where) / "s.h5", "w", libver=libver) as s:
            src(s)
            with h5py.File(Path(where) / "d.h5", "w", libver=libver) as d:
                s.copy(s["run"], d, "run")
                d.copy(s["run/d3"], d, "top")
        return (Path(where) / "d.h5").read_bytes()


def _swmr() -> bytes:
    """A SWMR writer appending a deflated log and flushing after each block (readers)."""
    def build(f: h5py.File) -> None:
        d = f.create_dataset("s", (0,), maxshape=(None,), chunks=(32,), dtype="f4",
                             compression="gzip")
        f.swmr_mode = True
        for i in range(20):
            d.resize((d.shape[0] + 10,))
            d[-10:] = i
            d.flush()
    return sessions([build], libver="latest")


def _scales(f: h5py.File) -> None:
    f["x"] = np.arange(10.0)
    f["x"].make_scale("x")
    for i in range(3):
        f.create_dataset(f"d{i}", data=np.zeros(10)).dims[0].attach_scale(f["x"])


def _detach(f: h5py.File) -> None:
    f["d1"].dims[0].detach_scale(f["x"])


def _zeros(mib: int) -> Step:
    """A preallocated array of zeros (an empty histogram, a buffer never filled)."""
    def build(f: h5py.File) -> None:
        f.create_dataset("z", data=np.zeros(mib * 2**17))
    return build


def _run_then_zeros(f: h5py.File) -> None:
    """8 MiB of measurements, then a 36 MiB buffer of zeros never filled, then a tag."""
    f.create_dataset("a", data=np.random.default_rng(0).random(2**20))
    f.create_dataset("z", data=np.zeros(36 * 2**17))
    f.create_dataset("b", data=np.arange(10))


def _fits_zeros() -> bytes:
    """astropy: an image of 36 MiB of zeros (an empty detector frame)."""
    from astropy.io import fits  # only this case needs it

    buf = io.BytesIO()
    fits.PrimaryHDU(np.zeros(36 * 2**17, ">f8")).writeto(buf)
    return buf.getvalue()


def _vlen_log(f: h5py.File) -> None:
    d = f.get("s") or f.create_dataset("s", (0,), maxshape=(None,), chunks=(64,),
                                       dtype=h5py.string_dtype(), compression="gzip")
    n = d.shape[0]
    d.resize((n + 100,))
    d[n:] = [f"line {n + i}" for i in range(100)]


def _ordinary() -> dict[str, Callable[[], bytes]]:
    table: dict[str, Callable[[], bytes]] = {
        f"feat-{v}.h5": (lambda v=v: sessions([_features], libver=v))
        for v in ("earliest", "v110", "latest")}
    table["feat-tracked-v108.h5"] = lambda: sessions([_features], libver="v108", track_order=True)
    for v in ("earliest", "latest"):
        table[f"copied-{v}.h5"] = lambda v=v: _copied(v)
        table[f"counter-{v}.h5"] = lambda v=v: sessions([_counter], libver=v)
        table[f"evict-{v}.h5"] = lambda v=v: sessions([_evict], libver=v)
        table[f"accumulate-{v}.h5"] = lambda v=v: sessions(
            [_histogram, _accumulate, _accumulate], libver=v)
        table[f"append-sessions-{v}.h5"] = lambda v=v: sessions([_table] + [_append] * 6, libver=v)
        table[f"shrink-grow-{v}.h5"] = lambda v=v: sessions([_log, _shrink, _grow], libver=v)
    table["shrink-latest.h5"] = lambda: sessions([_log, _shrink], libver="latest")
    table["shrink-flush-v110.h5"] = lambda: sessions([_log_flush_shrink], libver="v110")
    table["attrs-sessions-earliest.h5"] = lambda: sessions([_attrs0, _attrs, _attrs], libver="earliest")
    # its older free-space section lists are earlier states of the heap (oldsections.py)
    table["attrs-sessions-latest.h5"] = lambda: sessions([_attrs0, _attrs, _attrs], libver="latest")
    table["members-sessions-earliest.h5"] = lambda: sessions([_members] * 2, libver="earliest")
    # its first root indirect block, freed, shows 3 bytes past the list allocated over it
    # (oldsections.OldSections._recomputed; documented as refused until session 35)
    table["members-sessions-latest.h5"] = lambda: sessions([_members] * 3, libver="latest")
    table["swmr-gzip-flush.h5"] = _swmr
    table["vlen-gzip-sessions-earliest.h5"] = lambda: sessions([_vlen_log] * 3, libver="earliest")
    table["zeros-28mib.h5"] = lambda: sessions([_zeros(28)])
    table["zeros-32mib.h5"] = lambda: sessions([_zeros(32)])
    table["run-then-zeros.h5"] = lambda: sessions([_run_then_zeros])
    table["zeros-36mib.fits"] = _fits_zeros
    table["ctl-moved-latest.h5"] = lambda: _moved()[0]
    return table


ORDINARY = _ordinary()


def ordinary() -> dict[str, bytes]:
    return {name: build() for name, build in ORDINARY.items()}


_FREED = ("a chunk libhdf5 wrote again with another deflated size leaves the old one's bytes "
          "(freed, never cleared) and the file is refused as 'reached from no structure': ")
FALSE_REJECTIONS = {
    "evict-earliest.h5": _FREED + "one session, a 2000x2000 deflated image filled by column "
                         "bands (chunk cache eviction), no flush, no reopen",
    "evict-latest.h5": _FREED + "the same image under libver='latest'",
    "accumulate-earliest.h5": _FREED + "a deflated histogram updated with += in two later sessions",
    "accumulate-latest.h5": _FREED + "the same histogram under libver='latest'",
}


# Accepted, and the report's sha256 (the source's) is not the published file's.
REPORT_LIES: dict[str, str] = {}  # fixed: copy.py's ring (tests/quarantine/test_copy_ring.py)


DOCUMENTED = {  # name: (build, the words the refusal must say)
    "scales-detach-latest.h5": (lambda: sessions([_scales, _detach], libver="latest"),
                                "h5repack the file"),
}


def documented() -> dict[str, bytes]:
    return {name: build() for name, (build, _) in DOCUMENTED.items()}


def _moved() -> tuple[bytes, Header, Msg]:
    """A dataset's header under libver='latest' whose 3 attributes moved to dense storage
    when 9 more came in a later session: its null message holds what libhdf5 left."""
    def first(f: h5py.File) -> None:
        d = f.create_dataset("d", data=np.arange(10))
        for i in range(3):
            d.attrs[f"a{i}"] = np.arange(i + 2)

    def later(f: h5py.File) -> None:
        for i in range(3, 12):
            f["d"].attrs[f"a{i}"] = np.arange(i + 2)

    data = sessions([first, later], libver="latest")
    hdr = header(data, addr_of(data, "/d"))
    return data, hdr, next(m for m in hdr.msgs if m.type == 0)


def _stale_continuation(address: bytes, length: int) -> bytes:
    """The moved header's first stale attribute message header replaced by a stale
    continuation message (type 0x10) naming a freed block at address of length bytes."""
    data, hdr, null = _moved()
    buf = bytearray(data)
    at = null.body + bytes(buf[null.body:null.body + null.size]).index(b"\x0c\x44\x00\x00")
    buf[at:at + 20] = b"\x10\x10\x00\x00" + address.ljust(8, b"\0") + struct.pack("<Q", length)
    resum(buf, hdr)
    return bytes(buf)


ATTACKS = {
    # 8 payload bytes as the address of a freed continuation block, in a 5.5 KB file. The
    # attacker's 4 ('PWND', and 2^40, 2^41) passed: not as a continuation address (that one
    # must lie in the file) but as the stale checksum a header with dense storage may hold
    # (32 bits) and stale null headers, both in the documented per-header bound (lead, s32)
    "stale-continuation-address.h5": lambda: _stale_continuation(PAYLOAD * 2, 64),
}
HOLES: dict[str, str] = {}


def attacks() -> dict[str, bytes]:
    return {name: build() for name, build in ATTACKS.items()}
