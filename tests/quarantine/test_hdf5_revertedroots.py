"""The root indirect block a reverted fractal heap freed (session 40, revertedroots.py):
netCDF-4 files whose coordinate variable keeps its attributes dense (more than 8) and
whose dimension is given a variable in a later session, by netCDF4-python or h5netcdf.
The attach rewrites the scale's REFERENCE_LIST, which empties the heap's second block:
libhdf5 reverts the heap and frees its root indirect block, then writes a new one; the
free-space section list written at close takes the old one's start, its undefined
entries and checksum stay behind it. Admitted: exactly that tail, the old root being
the live one with at most one entry up to its block size - 1 bytes before or after the
live one's. A byte changed in it, 8 chosen bytes there, a checksum of a place outside that
window, are refused."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from vmguard.quarantine.validators.hdf5 import revertedroots
from vmguard.quarantine.validators.hdf5.checksum import lookup3
from vmguard.quarantine.validators.hdf5.objects import walk

np = pytest.importorskip("numpy")
pytest.importorskip("h5py")
netCDF4 = pytest.importorskip("netCDF4")
h5netcdf = pytest.importorskip("h5netcdf")

REVERTED = "(the heap reverted)"
UNCLAIMED = "are reached from no structure"


def _nc(steps) -> bytes:
    """A file written in len(steps) sessions, each (step, "nc": netCDF4-python, or
    "h5n": h5netcdf)."""
    with tempfile.TemporaryDirectory(prefix="revertedroots-") as where:
        path = Path(where) / "f.nc"
        for i, (step, lib) in enumerate(steps):
            mode = "w" if i == 0 else "a"
            opened = netCDF4.Dataset(path, mode, format="NETCDF4") if lib == "nc" else h5netcdf.File(path, mode)
            with opened as ds:
                step(ds)
        return path.read_bytes()


def _coords(dims=("x",), attributes: int = 12, unlimited: bool = False, group: str = ""):
    """Each dimension and its coordinate variable of `attributes` floats (dense from 9),
    and p on them, in the root or a group."""
    def step(ds) -> None:
        where = ds.createGroup(group) if group else ds
        for d in dims:
            where.createDimension(d, None if unlimited else 3)
            v = where.createVariable(d, "f8", (d,))
            for i in range(attributes):
                v.setncattr(f"a{i}", float(i))
        where.createVariable("p", "f8", dims)
    return step


def _add(*names: str, dims=("x",), group: str = "", late: bool = False, data: bool = True):
    """Variables on existing dimensions (`data`: written); `late`: and one more attribute
    of the first dimension's variable."""
    def step(ds) -> None:
        where = ds[group] if group else ds
        for name in names:
            v = where.createVariable(name, "f8", dims)
            if data:
                v[:] = np.ones([3] * len(dims))
        if late:
            where[dims[0]].setncattr(f"late_{names[0]}", 2.0)
    return step


def _in_group(name: str):
    """A variable on the root's dimension x in group g (made if missing)."""
    def step(ds) -> None:
        group = ds.groups.get("g") or ds.createGroup("g")
        group.createVariable(name, "f8", ("x",))
    return step


def _h5n_coords(ds) -> None:
    ds.dimensions = {"x": None}
    v = ds.create_variable("x", ("x",), "f8")
    for i in range(12):
        v.attrs[f"a{i}"] = float(i)
    ds.create_variable("p", ("x",), "f8")


def _h5n_coords_fixed(ds) -> None:
    ds.dimensions = {"x": 3}
    ds.create_variable("x", ("x",), "f8", data=np.arange(3.0))
    ds.create_variable("p", ("x",), "f8")


def _h5n_add(name: str):
    def step(ds) -> None:
        ds.create_variable(name, ("x",), "f8")
    return step


def _nc_only(*steps):
    return [(step, "nc") for step in steps]


WORKFLOWS = {
    "nc-2-sessions": _nc_only(_coords(), _add("q")),
    "nc-2-sessions-late-attribute": _nc_only(_coords(), _add("q", late=True)),
    "nc-3-sessions": _nc_only(_coords(), _add("q"), _add("r")),
    "nc-4-sessions": _nc_only(_coords(), _add("q"), _add("r"), _add("s")),
    "nc-2-variables-with-data-in-the-second-session": _nc_only(_coords(), _add("q", "r")),
    "nc-2-variables-in-the-second-session": _nc_only(_coords(), _add("q", "r", data=False)),
    "nc-unlimited-3-sessions": _nc_only(_coords(unlimited=True), _add("q"), _add("r")),
    "nc-2-dims-3-sessions": _nc_only(_coords(("x", "y")), _add("q", dims=("x", "y")), _add("r", dims=("y",))),
    "nc-6-sessions": _nc_only(_coords(), *(_add(name) for name in "qrstu")),
    "nc-2-dims-4-sessions": _nc_only(_coords(("x", "y")), _add("q"), _add("r", dims=("y",)), _add("s", dims=("x", "y"))),
    "nc-200-attributes-3-sessions": _nc_only(_coords(attributes=200), _add("q", "r"), _add("s")),
    "nc-30-attributes-3-sessions": _nc_only(_coords(attributes=30), _add("q"), _add("r")),
    "nc-group-3-sessions": _nc_only(_coords(group="g"), _add("q", group="g"), _add("r", group="g")),
    "nc-group-on-the-root-s-dimension-3-sessions": _nc_only(_coords(), _in_group("u"), _in_group("v")),
    "h5netcdf-unlimited-3-sessions": [(_h5n_coords, "h5n"), (_h5n_add("q"), "h5n"), (_h5n_add("r"), "h5n")],
    "h5netcdf-fixed-dimension-one-session": [(_h5n_coords_fixed, "h5n")],  # session 40: dimids.py
    # session 40: the list's copies in either encoding (scalelists._reencoded), test_hdf5_reencoded.py
    "h5netcdf-appends-to-netcdf4": [(_coords(unlimited=True), "nc"), (_h5n_add("q"), "h5n"), (_h5n_add("r"), "h5n")],
    "h5netcdf-appends-once-to-netcdf4": [(_coords(unlimited=True), "nc"), (_h5n_add("q"), "h5n")],
    "h5netcdf-appends-to-fixed-netcdf4": [(_coords(), "nc"), (_h5n_add("q"), "h5n"), (_h5n_add("r"), "h5n")],
    "netcdf4-h5netcdf-netcdf4": [(_coords(unlimited=True), "nc"), (_h5n_add("q"), "h5n"), (_add("r", data=False), "nc")],
    "netcdf4-after-h5netcdf-appended-twice": [  # netCDF-C's list, h5py's copies (version 1 messages)
        (_coords(unlimited=True), "nc"), (_h5n_add("q"), "h5n"), (_h5n_add("r"), "h5n"), (_add("s", data=False), "nc")],
}

_REVERTED_TWICE = (
    "known false rejection (session 40): netCDF4-python appending twice, then h5netcdf: the "
    "block h5netcdf's attach emptied (netCDF-C's version 3 copy of 2 entries, recomputed) ends "
    "37 zero bytes before the live first block, where something freed since lay: its place is "
    "pinned neither by the gap's end nor by an old root naming it (emptiedblocks.py): 'bytes ... "
    "(after a continuation block of the object header of /r) are reached from no structure'")
_UNPINNED = (
    "known false rejection (session 40): /x's freed root names the block it emptied at an "
    "address neither near the live block's (libhdf5 put the new one at the file's end) nor "
    "shown by the emptied block's stale bytes (/y's new root covers them, zeros after): "
    "nothing in the file pins it, so the tail's checksum is not recomputed: 'bytes ... (after "
    "the free-space section list of the fractal heap of the attributes of /y) are reached from "
    "no structure'")
_DELETED_STATE = (
    "known false rejection (session 40): with an attribute added in each of 5 sessions, the heap "
    "reverts in two of them; the free-space section lists of those sessions (states after a "
    "REFERENCE_LIST rewrite and a revert) stay, each over a root the revert freed, and "
    "oldstates.py recomputes a tracked heap's states by creation order, objects only added: "
    "'bytes ... (after a direct block of the fractal heap of the attributes of /x) ... a "
    "free-space section list nothing refers to'")
FALSE_REJECTIONS = {
    "nc-2-dims-2-variables-3-sessions": (_nc_only(
        _coords(("x", "y")), _add("q", "r", dims=("x", "y"), data=False), _add("s", dims=("y", "x"))), _UNPINNED),
    "nc-5-sessions-late-attributes": (_nc_only(
        _coords(), *(_add(name, late=True) for name in "qrst")), _DELETED_STATE),
    "netcdf4-twice-then-h5netcdf": (
        [(_coords(unlimited=True), "nc"), (_add("q", data=False), "nc"), (_h5n_add("r"), "h5n")],
        _REVERTED_TWICE),
}


def _file(name: str) -> bytes:
    return _nc(WORKFLOWS[name])


def _old_roots(data: bytes) -> list[tuple[int, int]]:
    return [(s, e) for s, (e, what) in sorted(walk(data, len(data)).items()) if REVERTED in what]


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_workflows_appending_to_dense_scales_pass(name):
    assert _refusal(_file(name)) == ""


@pytest.mark.parametrize("name", ["nc-2-sessions", "nc-3-sessions", "nc-2-dims-3-sessions",
                                  "nc-group-3-sessions", "nc-group-on-the-root-s-dimension-3-sessions"])
def test_control_these_leave_a_reverted_root(name):
    assert _old_roots(_file(name))


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=reason))
    for name, (_, reason) in sorted(FALSE_REJECTIONS.items())])
def test_false_rejections_still_known(name):
    assert _refusal(_nc(FALSE_REJECTIONS[name][0])) == ""


@pytest.fixture(scope="module")
def appended() -> tuple[bytes, int, int]:
    """The two-session file, where its old root's tail lies."""
    data = _file("nc-2-sessions")
    ((start, end),) = _old_roots(data)
    assert data[start:end - 4] == b"\xff" * (end - 4 - start), "control: undefined entries, then the checksum"
    return data, start, end


@pytest.mark.parametrize("where", [0, 5, -5, -1], ids=["first", "an-entry", "checksum", "last"])
def test_one_byte_changed_in_the_tail_is_refused(appended, where):
    data, start, end = appended
    at = (start if where >= 0 else end) + where
    out = bytearray(data)
    out[at] ^= 0x01
    assert UNCLAIMED in _refusal(bytes(out))


def test_a_payload_of_8_bytes_there_is_refused(appended):
    data, start, end = appended
    out = bytearray(data)
    out[end - 12 : end - 4] = b"PAYLOAD!"
    assert UNCLAIMED in _refusal(bytes(out))


def _live_root(data: bytes) -> tuple[bytes, int]:
    """The live root indirect block of /x's heap (its body before the checksum), and the
    block size of its second entry's row."""
    ((start, end),) = [(s, e) for s, (e, w) in walk(data, len(data)).items()
                       if w == "an indirect block of the fractal heap of the attributes of /x"]
    return data[start : end - 4], 1024


@pytest.mark.parametrize(("moved", "admitted"), [(0, True), (1023, True), (-1023, True), (1024, False),
                                                (-1024, False), (5000, False)])
def test_the_hidden_entry_only_within_its_window(appended, moved, admitted):
    """The tail's checksum recomputed for the old root with the second block `moved`
    bytes after the live one: admitted up to its block size - 1 before or after (libhdf5
    allocates the new block from the free range the old one joined, overlapping its
    place), not outside."""
    data, start, end = appended
    body, size = _live_root(data)
    second = struct.unpack_from("<Q", body, len(body) - 24)[0]
    assert size == 1024 and body.endswith(b"\xff" * 16), "control: a root of 1 row, 2 blocks"
    old = body[:-24] + struct.pack("<Q", second + moved) + body[-16:]
    out = bytearray(data)
    out[end - 4 : end] = struct.pack("<I", lookup3(old))
    assert (_refusal(bytes(out)) == "") is admitted


def test_each_old_root_once():
    roots = revertedroots.RevertedRoots()
    head = b"FHIB" + bytes(1) + (848).to_bytes(8, "little") + bytes(5)
    roots.heaps[848] = revertedroots.Reverted(head=head, width=4, entries=(7711, 6650, 2**64 - 1, 2**64 - 1),
                                              sizes=(1024,) * 4)
    body = head + struct.pack("<4Q", 7711, 6687, 2**64 - 1, 2**64 - 1)
    whole = body + struct.pack("<I", lookup3(body))
    ((found, hidden),) = roots.fits(848, whole[37:] + b"OHDR", range(1, 38))
    assert (found, hidden) == (whole, 37)
    roots.take(found)
    assert roots.fits(848, whole[37:], range(1, 38)) == []
    assert revertedroots.RevertedRoots(heaps=roots.heaps).fits(848, whole[36:], range(37, 38)) == []  # not there


@pytest.mark.parametrize(("shift", "admitted"), [(0, True), (2048, False)])
def test_or_the_place_of_a_live_block_of_its_size(appended, shift, admitted):
    """Where the new block lies elsewhere, the freed root may name the place libhdf5 gave
    a block of that size since (here the first block's: a live block), not any other."""
    data, start, end = appended
    body, _ = _live_root(data)
    first, second = struct.unpack_from("<QQ", body, len(body) - 32)
    assert abs(first + shift - second) >= 1024, "control: outside the window"
    old = body[:-24] + struct.pack("<Q", first + shift) + body[-16:]
    out = bytearray(data)
    out[end - 4 : end] = struct.pack("<I", lookup3(old))
    assert (_refusal(bytes(out)) == "") is admitted
