"""Files of attack rh5 (session 40 HDF5 claims): strings, names and links made by h5py,
some patched in place (version 1 headers: no checksum to redo)."""

from __future__ import annotations

import io
import unicodedata

import h5py
import numpy as np

ESC = b"\x1b]52;c;cHduZWQ=\x07"  # OSC 52: a clipboard write when printed raw
WIN = 1 << 20


def _h5(build, **kw) -> bytes:
    bio = io.BytesIO()
    with h5py.File(bio, "w", **kw) as f:
        build(f)
    return bio.getvalue()


def _swap(buf: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and buf.count(old) == 1, (old, buf.count(old))
    return buf.replace(old, new)


# --- names equal to a reader but not as bytes --------------------------------------------
def nfc_nfd() -> bytes:
    def build(f):
        f.attrs[unicodedata.normalize("NFC", "énergie")] = 1.0
        f.attrs[unicodedata.normalize("NFD", "énergie")] = 666.0
    return _h5(build)


def trailing_nul() -> bytes:
    """Attribute 'gain' and 'gainX' whose X is patched to NUL: libhdf5 reads both as 'gain'."""
    def build(f):
        f["d"] = np.arange(4)
        f["d"].attrs["gain"] = 1.0
        f["d"].attrs["gainX"] = 999.0
    return _swap(_h5(build), b"gainX\x00", b"gain\x00\x00")


def charset_twin() -> bytes:
    """ASCII attribute 'xyz' and a UTF-8 one (message v3) patched to the same bytes."""
    def build(f):
        f.attrs["xyz"] = 1.0
        f.attrs["éa"] = 2.0
    return _swap(_h5(build), "éa".encode() + b"\x00", b"xyz\x00")


def link_twin_nul() -> bytes:
    """Old-style group entries 'run' and 'runX' patched to 'run\\0': two links named run."""
    def build(f):
        f["run"] = np.arange(3)
        f["runX"] = np.arange(3) + 100
    return _swap(_h5(build), b"runX\x00", b"run\x00\x00")


# --- a link message in an old-style group's header ---------------------------------------
def _retype(buf: bytearray, attr: bytes, mtype: int, body: bytes, declared: int = 0) -> None:
    """Turn the v1 attribute message named `attr` into a message of `mtype` holding `body`;
    with `declared`, the message is that long and a null message takes the rest."""
    at = buf.find(attr + b"\x00")
    body_at = at - 8  # v1 attribute message: version, reserved, 3 sizes, then the name
    assert buf[body_at] == 1
    assert int.from_bytes(buf[body_at - 8:body_at - 6], "little") == 0x0C
    size = int.from_bytes(buf[body_at - 6:body_at - 4], "little")
    buf[body_at - 8:body_at - 6] = mtype.to_bytes(2, "little")
    if declared:
        buf[body_at - 6:body_at - 4] = declared.to_bytes(2, "little")
        null = bytes(2) + (size - declared - 8).to_bytes(2, "little") + bytes(4)
        body = body.ljust(declared, b"\x00") + null
    buf[body_at:body_at + size] = body.ljust(size, b"\x00")


def _soft_link(name: bytes, value: bytes) -> bytes:
    """A link message as libhdf5 writes a soft one: version 1, flags 0x08, type 1."""
    return bytes([1, 0x08, 1, len(name)]) + name + len(value).to_bytes(2, "little") + value


def link_in_header(name: bytes = b"evil", on: str = "g", target: bytes = b"PAYLOAD-",
                   pad: int = 8) -> bytes:
    """An attribute message of `on` turned into a soft link message (type 6): readers of an
    old-style group (symbol table) never list it; its target carries what the guest wants out."""
    def build(f):
        g = f.create_group("g")
        g["d"] = np.arange(3)
        f[on].attrs["pad"] = np.zeros(pad)
    buf = bytearray(_h5(build))
    at = buf.find(b"pad\x00")
    room = int.from_bytes(buf[at - 14:at - 12], "little") - 4 - len(name) - 2
    value = (target * room)[:room]
    _retype(buf, b"pad", 6, _soft_link(name, value))
    return bytes(buf)


def linfo_hides_table(on: str = "g") -> bytes:
    """A link info message (type 2, no dense storage) added to an old-style group: libhdf5
    then reads it as a new-style group of no link and never looks at its symbol table, where
    /g/secret, 512 bytes of the guest's choosing, stays."""
    def build(f):
        g = f.create_group("g")
        g["secret"] = np.frombuffer(b"PAYLOAD-" * 64, dtype="u1")
        f[on].attrs["pad"] = np.zeros(2)
    raw = _h5(build)
    with h5py.File(io.BytesIO(raw), "r") as f:
        addr = h5py.h5o.get_info(f[on].id).addr
    buf = bytearray(raw)
    count = int.from_bytes(buf[addr + 2:addr + 4], "little")  # v1 prefix: the message count
    buf[addr + 2:addr + 4] = (count + 1).to_bytes(2, "little")
    _retype(buf, b"pad", 2, bytes([0, 0]) + b"\xff" * 16, declared=24)
    return bytes(buf)


def link_header_cases() -> dict[str, bytes]:
    return {
        "hide/oldgroup-link.h5": link_in_header(),
        "hide/oldgroup-link-esc.h5": link_in_header(b"evil", "g", ESC),
        "hide/dataset-link.h5": link_in_header(b"evil", "g/d"),
        "hide/root-link.h5": link_in_header(b"evil", "/"),
        "hide/oldgroup-link-same-name.h5": link_in_header(b"d", "g"),
        "hide/root-link-64k.h5": link_in_header(b"evil", "/", b"PAYLOAD-", 8000),
        "hide/linfo-over-table.h5": linfo_hides_table(),
        "hide/linfo-over-root.h5": linfo_hides_table("/"),
    }


# --- strings in places the claim may not reach ------------------------------------------
def committed_type_attr() -> bytes:
    def build(f):
        f["t"] = np.dtype("S8")
        f["t"].attrs["note"] = np.bytes_(ESC)
    return _h5(build)


def compound_fill_written() -> bytes:
    """Compound fill value with an S field; every chunk written, so only .fillvalue shows it."""
    dt = np.dtype([("tag", "S16"), ("x", "<f8")])
    def build(f):
        fill = np.array((ESC, 0.0), dtype=dt)
        d = f.create_dataset("c", shape=(4,), dtype=dt, chunks=(4,), fillvalue=fill)
        d[...] = np.array([(b"ok", 1.0)] * 4, dtype=dt)
    return _h5(build)


def string_fill_written() -> bytes:
    def build(f):
        d = f.create_dataset("s", shape=(4,), dtype="S16", chunks=(4,), fillvalue=ESC)
        d[...] = np.array([b"a", b"b", b"c", b"d"])
    return _h5(build)


def contiguous_fill_written() -> bytes:
    def build(f):
        d = f.create_dataset("s", shape=(4,), dtype="S16", fillvalue=ESC)
        d[...] = np.array([b"a", b"b", b"c", b"d"])
    return _h5(build)


def external_storage() -> bytes:
    """Contiguous data kept in an external file (a path the reader's machine opens)."""
    def build(f):
        f.create_dataset("ext", shape=(16,), dtype="u1",
                         external=[("/etc/hostname", 0, 16)])
    return _h5(build)


def opaque_data() -> bytes:
    def build(f):
        f["o"] = np.void(ESC)
    return _h5(build)


def enum_name() -> bytes:
    def build(f):
        dt = h5py.enum_dtype({"ok": 0, "\x1b[2J": 1}, basetype="i1")
        f.create_dataset("e", data=np.array([0, 1], dtype="i1"), dtype=dt)
    return _h5(build)


def region_ref() -> bytes:
    def build(f):
        d = f.create_dataset("d", data=np.arange(10))
        f.attrs["r"] = d.regionref[1:3]
    return _h5(build)


def latin1_c1() -> bytes:
    """Not UTF-8 (FF), so Latin-1: 9B is CSI."""
    def build(f):
        f["s"] = np.array([b"\xff\x9b2J"], dtype="S8")
    return _h5(build)


# --- 1 MiB window edges -------------------------------------------------------------------
def _long(body: bytes, chunks: bool) -> bytes:
    """One fixed-length string of 2 MiB and more, the shape the walk reads in 1 MiB windows;
    two copies shifted by one byte so a window edge falls between a pair's bytes in one."""
    def build(f):
        for name, s in (("even", body), ("odd", b"a" + body)):
            arr = np.array([s], dtype=f"S{len(s)}")
            f.create_dataset(name, data=arr, chunks=(1,) if chunks else None)
    return _h5(build)


def edge_cases() -> dict[str, bytes]:
    n = WIN // 2 + 64
    s_acute = "ś".encode() * n  # UTF-8 C5 9B: every 9B part of a letter
    latin = "ś".encode() * (WIN // 4) + b"a" * (WIN + 4096) + b"\xff"  # whole: Latin-1, 9B = CSI
    return {
        "edge/s-acute-contig.h5": _long(s_acute, False),
        "edge/s-acute-chunk.h5": _long(s_acute, True),
        "edge/latin1-tail-contig.h5": _long(latin, False),
        "edge/latin1-tail-chunk.h5": _long(latin, True),
    }


# --- controls -----------------------------------------------------------------------------
def ctl_unicode_dense() -> bytes:
    def build(f):
        g = f.create_group("mesures", track_order=True)
        for i in range(40):
            g.attrs[f"étalon_{i}_μm"] = float(i)
        for i in range(20):
            g[f"канал_{i}"] = np.arange(3)
    return _h5(build, libver="latest")


def ctl_old_many() -> bytes:
    def build(f):
        g = f.create_group("runs")
        for i in range(300):
            g[f"run_{(i * 37) % 300:04d}"] = np.arange(2)
        for i in range(30):
            f.attrs[f"a{i}"] = i
    return _h5(build)


def ctl_paddings() -> bytes:
    def build(f):
        for pad, name in ((h5py.h5t.STR_NULLTERM, "nullterm"), (h5py.h5t.STR_NULLPAD, "nullpad"),
                          (h5py.h5t.STR_SPACEPAD, "spacepad")):
            tid = h5py.h5t.C_S1.copy()
            tid.set_size(12)
            tid.set_strpad(pad)
            tid.set_cset(h5py.h5t.CSET_UTF8)
            sid = h5py.h5s.create_simple((2,))
            ds = h5py.h5d.create(f.id, name.encode(), tid, sid)
            ds.write(h5py.h5s.ALL, h5py.h5s.ALL,
                     np.array(["µm".encode(), b"GeV/c"], dtype="S12"), mtype=tid)
        f["fixed"] = np.array([b"", b"x", b"12345678"], dtype="S8")
        f.attrs["units"] = np.bytes_("GeV/c²".encode())
    return _h5(build)


def ctl_netcdf(path) -> bytes:
    import netCDF4  # noqa: PLC0415
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("température", 3)
        v = ds.createVariable("Δt", "f8", ("température",))
        v.units = "µs"
        v.long_name = "pas de temps — étalonné"
        for i in range(20):
            setattr(ds, f"attr_{i}", f"valeur {i} é")
        v[:] = [1, 2, 3]
    return path.read_bytes()


def ctl_h5netcdf(path) -> bytes:
    import h5netcdf  # noqa: PLC0415
    with h5netcdf.File(path, "w") as ds:
        ds.dimensions = {"x": 3}
        v = ds.create_variable("énergie", ("x",), float)
        v.attrs["units"] = "GeV"
        v[:] = [1.0, 2.0, 3.0]
    return path.read_bytes()


def _s7_with(positions: list[int], n: int, chunks: bool) -> bytes:
    raw = bytearray(b"abcdefg" * n)
    for p in positions:
        raw[p] = 0x1B
    arr = np.frombuffer(bytes(raw), dtype="S7")

    def build(f):
        f.create_dataset("big", data=arr, chunks=(n,) if chunks else None)
    return _h5(build)


def window_cases() -> dict[str, bytes]:
    """ESC one byte before or at a 1 MiB edge, counted from the data's start or the file's."""
    n = (2 * WIN + 4096) // 7
    probe = io.BytesIO(_s7_with([], n, False))
    with h5py.File(probe, "r") as f:
        start = f["big"].id.get_offset()
    out = {}
    for label, base in (("rel", 0), ("abs", -start)):
        for edge in (WIN, 2 * WIN):
            for d in (-1, 0):
                out[f"win/esc-{label}-{edge // WIN}m{d:+d}.h5"] = _s7_with([base + edge + d], n, False)
    out["win/esc-chunk-1m+0.h5"] = _s7_with([WIN], n, True)
    out["win/esc-chunk-1m-1.h5"] = _s7_with([WIN - 1], n, True)
    return out


def more_string_cases() -> dict[str, bytes]:
    def after_nul(f):
        f["s"] = np.array([b"ok\x00\x1b[2J"], dtype="S12")

    def vlen_fixed(f):
        d = f.create_dataset("v", shape=(1,), dtype=h5py.vlen_dtype(np.dtype("S8")))
        d[0] = np.array([b"fine", ESC[:8]], dtype="S8")

    def latin1_attr_name(f):
        f.attrs[b"\xff\x9b2J"] = 1

    def latin1_link_name(f):
        f[b"\xff\x9b2J"] = np.arange(2)

    def nfd_links(f):
        f[unicodedata.normalize("NFC", "é")] = np.arange(2)
        f[unicodedata.normalize("NFD", "é")] = np.arange(2) + 9

    built = {k: _h5(fn) for k, fn in (("str/after-nul.h5", after_nul),
                                      ("str/vlen-fixed.h5", vlen_fixed),
                                      ("str/latin1-attr-name.h5", latin1_attr_name),
                                      ("str/latin1-link-name.h5", latin1_link_name),
                                      ("names/nfc-nfd-links.h5", nfd_links))}
    return built
