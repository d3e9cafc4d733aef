"""Hostile HDF5 files of attack q h5 (session 40): built by h5py and netCDF4, then patched
byte for byte where a reader and the walk part ways (checksums recomputed where the format
has them). Each builder returns the file's bytes; `HARM` says what a real reader shows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from tests.support.hdf5_bytes import checksummed_length, lookup3

# 16 chosen bytes: the payload each duplicate hides (a float64 pair for h5py's attributes).
PAYLOAD = b"PAYLOAD!HIDDEN!!"
# OSC 0 retitles the terminal, ESC [ 2 J erases its screen.
ESC = "\x1b]0;owned\x07\x1b[2J"


def _sums(data: bytes, sig: bytes) -> list[tuple[int, int]]:
    """(start, checksummed length) of every structure starting with sig."""
    spans, at = [], data.find(sig)
    while at >= 0:
        spans.append((at, checksummed_length(data, at, 8192)))
        at = data.find(sig, at + 1)
    return spans


def patched(path: Path, old: bytes, new: bytes) -> bytes:
    """The file with old (found exactly once) replaced by new, every OHDR and OCHK
    checksum recomputed as libhdf5 would: the patch is the only difference."""
    data = path.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new), (path.name, old)
    spans = _sums(data, b"OHDR") + _sums(data, b"OCHK")
    out = bytearray(data.replace(old, new))
    for start, n in spans:
        out[start + n : start + n + 4] = lookup3(bytes(out[start : start + n])).to_bytes(4, "little")
    return bytes(out)


def _pay_f8() -> np.ndarray:
    return np.frombuffer(PAYLOAD, "<f8")


def dup_old_group(made: Path) -> bytes:
    """An old-style root (default libver): payload 'calia', honest 'calib'; the heap name
    'calia' made 'calib'. Two symbol table entries of one name: libhdf5's binary search
    lands on the second, so every lookup of 'calib' returns the honest data."""
    path = made / "dup-old-group.h5"
    with h5py.File(path, "w") as f:
        f["calia"] = np.frombuffer(PAYLOAD, "u1")
        f["calib"] = np.array([1.0, 2.0])
    return patched(path, b"calia\x00", b"calib\x00")


def dup_compact_link(made: Path) -> bytes:
    """libver='latest': compact link messages, honest 'calib' first, payload 'calic' renamed
    'calib' (libhdf5 returns the first message of a name)."""
    path = made / "dup-compact-link.h5"
    with h5py.File(path, "w", libver="latest") as f:
        f["calib"] = np.array([1.0, 2.0])
        f["calic"] = np.frombuffer(PAYLOAD, "u1")
    return patched(path, b"calic", b"calib")


def _dup_attr(made: Path, name: str, **kw) -> bytes:
    path = made / name
    track = kw.pop("track_order", False)
    with h5py.File(path, "w", track_order=track, **kw) as f:
        d = f.create_dataset("d", data=np.arange(3), track_order=track)
        d.attrs["units"] = np.array([1.0])
        d.attrs["unitZ"] = _pay_f8()
    return patched(path, b"unitZ", b"units")


def dup_v1_attr(made: Path) -> bytes:
    return _dup_attr(made, "dup-v1-attr.h5")


def dup_v2_attr(made: Path) -> bytes:
    return _dup_attr(made, "dup-v2-attr.h5", libver="latest")


def dup_tracked_attr(made: Path) -> bytes:
    return _dup_attr(made, "dup-tracked-attr.h5", track_order=True)


def dup_nc_attr(made: Path) -> bytes:
    """netCDF-4 (netCDF4-python): v.units = 'K', then v.unitZ = 16 chosen bytes renamed."""
    import netCDF4

    path = made / "dup-nc-attr.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("x", 3)
        v = ds.createVariable("v", "f8", ("x",))
        v[:] = 1.0
        v.units = "K"
        v.unitZ = PAYLOAD.decode()
    return patched(path, b"unitZ", b"units")


def dup_nc_var(made: Path) -> bytes:
    """netCDF-4: variable 'tempa' (honest), then 'tempb' of 16 chosen bytes renamed 'tempa'."""
    import netCDF4

    path = made / "dup-nc-var.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("x", 3)
        ds.createDimension("y", 16)
        ds.createVariable("tempa", "f8", ("x",))[:] = 1.0
        ds.createVariable("tempb", "u1", ("y",))[:] = np.frombuffer(PAYLOAD, "u1")
    return patched(path, b"tempb", b"tempa")


def unsorted_old_group(made: Path) -> bytes:
    """An old-style root: payload 'a', honest 'b'; the heap's names swapped, so the entries
    are (b -> payload, a -> honest), out of order: 'b' is listed and no lookup finds it."""
    path = made / "unsorted-old-group.h5"
    with h5py.File(path, "w") as f:
        f["a"] = np.frombuffer(PAYLOAD, "u1")
        f["b"] = np.array([1.0, 2.0])
    pad = b"\x00" * 7
    return patched(path, b"a" + pad + b"b" + pad, b"b" + pad + b"a" + pad)


def comment_esc(made: Path) -> bytes:
    """An object comment (message 0x0D, H5Oset_comment) holding OSC 0 and ESC [ 2 J."""
    path = made / "comment-esc.h5"
    with h5py.File(path, "w") as f:
        f["d"] = np.arange(3)
        f.id.set_comment(b"d", ("run 7" + ESC).encode())
    return path.read_bytes()


def comment_after_nul(made: Path) -> bytes:
    """An object comment 'ok', a NUL, then 24 chosen bytes (no reader reads past the NUL)."""
    path = made / "comment-after-nul.h5"
    with h5py.File(path, "w") as f:
        f["d"] = np.arange(3)
        f.id.set_comment(b"d", b"okZPAYLOAD-0123456789-HIDDEN")
    return patched(path, b"okZPAYLOAD", b"ok\x00PAYLOAD")


def converted_stale_name(made: Path) -> bytes:
    """A root libhdf5 converted for 'größe': the old table's name 'x2' made 'q2'."""
    path = made / "converted-stale-name.h5"
    _converted_root(path)
    return patched(path, b"x2" + bytes(6), b"q2" + bytes(6))


def converted_swapped_names(made: Path) -> bytes:
    """The converted root's old table: names 'x1' and 'x3' swapped (each a link now, each
    entry now naming the other link's object)."""
    path = made / "converted-swapped.h5"
    _converted_root(path)
    pad = b"\x00" * 6  # the heap pads names to 8 bytes; a link message has no NULs
    for old, new in ((b"x1", b"x9"), (b"x3", b"x1")):
        path.write_bytes(patched(path, old + pad, new + pad))
    return patched(path, b"x9" + pad, b"x3" + pad)


def _converted_root(path: Path) -> None:
    with h5py.File(path, "w") as f:
        for i in range(5):
            f[f"x{i}"] = np.arange(i + 1)
    with h5py.File(path, "a") as f:
        f["größe"] = np.arange(4)


def _terminal(made: Path, name: str, build: Callable[[h5py.File], None]) -> bytes:
    made.mkdir(parents=True, exist_ok=True)
    path = made / name
    with h5py.File(path, "w") as f:
        build(f)
    return path.read_bytes()


def terminal_refused(made: Path) -> dict[str, bytes]:
    """Strings the terminal rule names (vlen in a dataset, a compound, an attribute array;
    a soft link's value): OSC 0 and ESC [ 2 J in each."""
    sd = h5py.string_dtype()

    def vlen(f):
        f.create_dataset("s", data=np.array(["ok", "bad" + ESC], dtype=object), dtype=sd)

    def cmpd(f):
        a = np.zeros(2, np.dtype([("n", "i4"), ("s", sd)]))
        a["s"] = ["ok", "x" + ESC]
        f.create_dataset("t", data=a)

    def attr_arr(f):
        f.attrs.create("names", np.array(["a", "b", "c" + ESC], dtype=object), dtype=sd)

    def soft(f):
        f["d"] = [1]
        f["s"] = h5py.SoftLink("/d" + ESC)

    builds = {"t-vlen-dset.h5": vlen, "t-vlen-cmpd.h5": cmpd, "t-vlen-attrs.h5": attr_arr,
              "t-soft.h5": soft}  # fmt: skip
    return {name: _terminal(made, name, b) for name, b in builds.items()}


def terminal_listed(made: Path) -> dict[str, bytes]:
    """What the docs leave to readers: compound and enum member names, an opaque tag, a
    dataset's fixed-length strings, each holding OSC 0 and ESC [ 2 J."""

    def cmpd(f):
        f.create_dataset("t", data=np.zeros(3, np.dtype([("energy" + ESC, "<f8"), ("n", "<i4")])))

    def enum(f):
        dt = h5py.enum_dtype({"OK": 0, "BAD" + ESC: 1}, basetype="i1")
        f.create_dataset("e", data=np.array([0, 1], "i1"), dtype=dt)

    def opaque(f):
        tid = h5py.h5t.create(h5py.h5t.OPAQUE, 4)
        tid.set_tag(b"tag" + ESC.encode())
        h5py.h5d.create(f.id, b"o", tid, h5py.h5s.create_simple((2,)))

    def fixed(f):
        f.create_dataset("s", data=np.array([("ok" + ESC).encode()], "S24"))

    builds = {"l-member-name.h5": cmpd, "l-enum-name.h5": enum, "l-opaque-tag.h5": opaque,
              "l-fixed-dset.h5": fixed}  # fmt: skip
    return {name: _terminal(made, name, b) for name, b in builds.items()}


HOLE_BUILDERS = {
    "dup-old-group.h5": dup_old_group,
    "dup-compact-link.h5": dup_compact_link,
    "dup-v1-attr.h5": dup_v1_attr,
    "dup-v2-attr.h5": dup_v2_attr,
    "dup-tracked-attr.h5": dup_tracked_attr,
    "dup-nc-attr.nc": dup_nc_attr,
    "dup-nc-var.nc": dup_nc_var,
    "unsorted-old-group.h5": unsorted_old_group,
    "comment-esc.h5": comment_esc,
}
REFUSED_BUILDERS = {
    "comment-after-nul.h5": comment_after_nul,
    "converted-stale-name.h5": converted_stale_name,
    "converted-swapped.h5": converted_swapped_names,
}


def hostile(made: Path) -> dict[str, bytes]:
    made.mkdir(parents=True, exist_ok=True)
    files = {name: build(made) for name, build in (HOLE_BUILDERS | REFUSED_BUILDERS).items()}
    return files | terminal_refused(made)
