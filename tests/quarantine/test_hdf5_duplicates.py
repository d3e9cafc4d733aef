"""One name, one link or attribute (session 40, h5dups; validators/hdf5/once.py).

libhdf5 refuses a second link or attribute of one name (H5Lcreate, H5Acreate) and every
reader reads by name, so of two of one name a reader shows one and the other's bytes
never. Forged here, each from a real h5py file with one name changed (checksums
recomputed): two symbol table entries of one name across the nodes of an old-style group
of 300 links, its entries out of name order (within a node, across nodes), a compact hard
and soft link of one name, two dense links and two dense attributes of one name (tracked
order or not), two attributes of one name in different blocks of a v1 and of a v2
header, or of a committed datatype (read after the walk), and a dense name index's two
records of one hash out of name order (h5py lists both and finds one). Admitted: h5py's
own files with hundreds of links and attributes (old-style groups over many B-tree
nodes, compact, dense, tracked, written in several sessions), names that differ in case
only, one name in many objects, a link and an attribute of one name, and an old group's
names with bytes above 0x7F, sorted as strcmp sorts them."""

from __future__ import annotations

import io
import struct

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support.hdf5_bytes import checksummed_length, lookup3, v1_messages

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

TWICE = "hdf5: the {} name {!r} appears twice in {} (libhdf5 names one once"
UNSORTED = "hdf5: the symbol table entries of / are not in name order"


def _file(*steps, **kw) -> bytes:
    """An h5py file written in one session per step (the later ones reopen it with 'r+')."""
    buf = io.BytesIO()
    for i, step in enumerate(steps):
        with h5py.File(buf, "w" if i == 0 else "r+", **kw) as f:
            step(f)
    return buf.getvalue()


def _sums(data: bytes) -> list[tuple[int, int]]:
    """(start, checksummed length) of every object header and continuation block."""
    spans = []
    for sig in (b"OHDR", b"OCHK"):
        at = data.find(sig)
        while at >= 0:
            spans.append((at, checksummed_length(data, at, 8192)))
            at = data.find(sig, at + 1)
    return spans


def _renamed(data: bytes, old: bytes, new: bytes) -> bytes:
    """`old` (found once) made `new` (as long), the checksums of headers recomputed."""
    assert data.count(old) == 1 and len(old) == len(new), old
    spans = _sums(data)
    out = bytearray(data.replace(old, new))
    for start, n in spans:
        out[start + n : start + n + 4] = lookup3(bytes(out[start : start + n])).to_bytes(4, "little")
    return bytes(out)


# -- old-style groups: entries across many nodes ------------------------------------


def _old_group(count: int = 300) -> bytes:
    def links(f):
        for i in range(count):
            f[f"n{i:03d}"] = [i]

    return _file(links)


def _node_names(data: bytes) -> list[list[bytes]]:
    """The names of each SNOD node's entries (the root's local heap holds them all)."""
    heap = data.find(b"HEAP")
    segment = struct.unpack_from("<Q", data, heap + 24)[0]
    nodes, at = [], data.find(b"SNOD")
    while at >= 0:
        count = struct.unpack_from("<H", data, at + 6)[0]
        offsets = [struct.unpack_from("<Q", data, at + 8 + 40 * i)[0] for i in range(count)]
        nodes.append([data[segment + o : data.index(b"\0", segment + o)] for o in offsets])
        at = data.find(b"SNOD", at + 1)
    return nodes


def _across_nodes() -> tuple[bytes, bytes]:
    """(a node's last name, the next name in order: the first of another node)."""
    data = _old_group()
    nodes = _node_names(data)
    assert len(nodes) > 30, "control: the group spans many nodes"
    last = sorted(n[-1] for n in nodes)[0]
    following = f"n{int(last[1:]) + 1:03d}".encode()
    assert following not in next(n for n in nodes if last in n), "control: it is in another node"
    return last, following


def test_old_group_of_many_nodes_passes():
    assert _refusal(_old_group()) == ""


def test_old_group_in_sessions_passes():
    """Links added in three sessions (the heap grows and moves, the B-tree splits)."""

    def add(start):
        return lambda f: [f.create_dataset(f"n{i:03d}", data=[i]) for i in range(start, start + 100)]

    assert _refusal(_file(add(200), add(0), add(100))) == ""


def test_old_group_duplicate_across_nodes_refused():
    last, following = _across_nodes()
    data = _renamed(_old_group(), following + b"\0", last + b"\0")
    assert _refusal(data).startswith(TWICE.format("link", last.decode(), "/"))


@pytest.mark.parametrize("pair", [("n005", "n007"), ("n010", "n250")], ids=["one-node", "across"])
def test_old_group_out_of_order_refused(pair):
    """Two names swapped: each entry now names the other's object, listed out of order."""
    one_node = any(pair[0].encode() in n and pair[1].encode() in n for n in _node_names(_old_group()))
    assert one_node == (pair[0] == "n005"), "control: in one node, or in two"
    a, b = (p.encode() + b"\0" for p in pair)
    data = _renamed(_renamed(_old_group(), a, b"zzzz\0"), b, a)
    data = _renamed(data, b"zzzz\0", b)
    assert _refusal(data).startswith(UNSORTED), _refusal(data)


def test_unsorted_entry_is_not_found_by_h5py(tmp_path):
    """The harm: h5py lists the swapped name, yet opening it by that name fails."""
    data = _renamed(_renamed(_old_group(40), b"n010\0", b"zzzz\0"), b"n030\0", b"n010\0")
    (tmp_path / "u.h5").write_bytes(_renamed(data, b"zzzz\0", b"n030\0"))
    assert _refusal((tmp_path / "u.h5").read_bytes()).startswith(UNSORTED)
    with h5py.File(tmp_path / "u.h5", "r") as f:
        assert "n030" in list(f)
        with pytest.raises(KeyError):
            f["n030"]


def test_old_group_high_bytes_sorted_as_strcmp_passes():
    """Bytes names above 0x7F (ASCII character set: no conversion) sort after 'z'."""

    def links(f):
        for name in (b"\xc3\xa9t\xc3\xa9", b"zeta", b"alpha", b"\xe2\x82\xacuro"):
            f[name] = [1]

    assert _refusal(_file(links)) == ""


# -- compact links ------------------------------------------------------------------


def test_compact_hard_and_soft_link_of_one_name_refused():
    def links(f):
        f["calib"] = [1.0, 2.0]
        f["calic"] = h5py.SoftLink("/calib")

    data = _renamed(_file(links, libver="latest"), b"calic", b"calib")
    assert _refusal(data).startswith(TWICE.format("link", "calib", "/"))


# -- dense storage ------------------------------------------------------------------


def _direct_block(data: bytes, at: int) -> tuple[int, int, int]:
    """(start, size, checksum field) of the fractal heap direct block holding `at`: the
    one size and place whose lookup3 (the field zeroed in the image summed) is there."""
    block = data.rfind(b"FHDB", 0, at)
    for size in (512, 1024, 2048, 4096):
        for field in range(13, 22):
            image = bytearray(data[block : block + size])
            want, image[field : field + 4] = bytes(image[field : field + 4]), bytes(4)
            if lookup3(bytes(image)) == int.from_bytes(want, "little"):
                return block, size, field
    raise AssertionError("no direct block checksum")


def _rehash(data: bytearray, old: bytes, new: bytes) -> None:
    """The name index (v2 B-tree type 5 or 8, one leaf) with old's hash made new's, its
    records in hash order and its leaf's checksum recomputed."""
    tree = data.find(b"BTHD")
    while data[tree + 5] not in (5, 8):
        tree = data.find(b"BTHD", tree + 1)
    kind, size = data[tree + 5], struct.unpack_from("<H", data, tree + 10)[0]
    root, count = struct.unpack_from("<QH", data, tree + 16)
    at = slice(0, 4) if kind == 5 else slice(size - 4, size)
    n = checksummed_length(bytes(data), root)
    records = [bytearray(data[root + 6 + i * size : root + 6 + (i + 1) * size]) for i in range(count)]
    for r in records:
        if r[at] == lookup3(old).to_bytes(4, "little"):
            r[at] = lookup3(new).to_bytes(4, "little")
    records.sort(key=lambda r: int.from_bytes(r[at], "little"))
    data[root + 6 : root + 6 + count * size] = b"".join(records)
    data[root + n : root + n + 4] = lookup3(bytes(data[root : root + n])).to_bytes(4, "little")


def _dense_renamed(data: bytes, old: bytes, new: bytes) -> bytes:
    out = bytearray(data)
    assert out.count(old) == 1 and len(old) == len(new)
    at = out.find(old)
    block, size, field = _direct_block(data, at)
    out[at : at + len(old)] = new
    out[block + field : block + field + 4] = bytes(4)
    out[block + field : block + field + 4] = lookup3(bytes(out[block : block + size])).to_bytes(4, "little")
    _rehash(out, old, new)
    return bytes(out)


def _dense_links(track: bool) -> bytes:
    def links(f):
        g = f.create_group("g", track_order=track)
        for i in range(12):
            g[f"l{i:02d}"] = [i]

    return _file(links, libver="latest")


def _dense_attrs(track: bool) -> bytes:
    def attrs(f):
        d = f.create_dataset("d", data=[1], track_order=track)
        for i in range(12):
            d.attrs[f"a{i:02d}"] = float(i)

    return _file(attrs, libver="latest")


@pytest.mark.parametrize("track", [False, True], ids=["untracked", "tracked"])
def test_dense_controls_pass(track):
    """The forgeries' own sources, and a control of the forging: renamed to a new name
    (hash and checksums recomputed) they still pass."""
    for data, old in ((_dense_links(track), b"l07"), (_dense_attrs(track), b"a07")):
        assert b"FHDB" in data and _refusal(data) == ""
        assert _refusal(_dense_renamed(data, old, old[:1] + b"99")) == ""


@pytest.mark.parametrize("track", [False, True], ids=["untracked", "tracked"])
def test_dense_duplicates_refused(track):
    links = _dense_renamed(_dense_links(track), b"l07", b"l06")
    assert _refusal(links).startswith(TWICE.format("link", "l06", "/g"))
    attrs = _dense_renamed(_dense_attrs(track), b"a07", b"a06")
    assert _refusal(attrs).startswith(TWICE.format("attribute", "a06", "/d"))


# Two names of one lookup3 hash (found by a birthday search over b"k%05d"): libhdf5
# orders a name index's records by hash, then by name (H5G__dense_btree2_name_compare).
TIED = (b"k07204", b"k112553")


def _tied(kind: str) -> bytes:
    def build(f):
        g = f.create_group("g")
        put = g.attrs.__setitem__ if kind == "attribute" else g.__setitem__
        for i, name in enumerate((*TIED, *(f"x{i:02d}".encode() for i in range(10)))):
            put(name, [float(i)])

    return _file(build, libver="latest")


def _records_swapped(data: bytes, tree_type: int) -> bytes:
    """The name index's two records of the tied hash swapped (out of name order)."""
    out = bytearray(data)
    tree = out.find(b"BTHD")
    while out[tree + 5] != tree_type:
        tree = out.find(b"BTHD", tree + 1)
    size = struct.unpack_from("<H", out, tree + 10)[0]
    root, count = struct.unpack_from("<QH", out, tree + 16)
    at = slice(0, 4) if tree_type == 5 else slice(size - 4, size)
    records = [bytes(out[root + 6 + i * size : root + 6 + (i + 1) * size]) for i in range(count)]
    i = [r[at] for r in records].index(lookup3(TIED[0]).to_bytes(4, "little"))
    assert records[i + 1][at] == records[i][at], "control: the two records of one hash, in name order"
    records[i], records[i + 1] = records[i + 1], records[i]
    n = checksummed_length(bytes(out), root)
    out[root + 6 : root + 6 + count * size] = b"".join(records)
    out[root + n : root + n + 4] = lookup3(bytes(out[root : root + n])).to_bytes(4, "little")
    return bytes(out)


@pytest.mark.parametrize(("kind", "tree_type"), [("link", 5), ("attribute", 8)])
def test_dense_records_of_one_hash_out_of_name_order_refused(kind, tree_type, tmp_path):
    """The harm: h5py lists both names, and one of them is found by no read by name."""
    assert lookup3(TIED[0]) == lookup3(TIED[1]) and TIED[0] < TIED[1]
    data = _tied(kind)
    assert _refusal(data) == ""
    forged = _records_swapped(data, tree_type)
    (tmp_path / "t.h5").write_bytes(forged)
    with h5py.File(tmp_path / "t.h5", "r") as f:
        held = f["g"].attrs if kind == "attribute" else f["g"]
        assert {n.decode() for n in TIED} <= set(held)
        missing = [n for n in TIED if _lost(held, n.decode())]
        assert missing, "the harm: one name is never found"
    assert _refusal(forged).startswith(
        f"hdf5: the records of the name index of the {kind}s of /g are not in name order"
    ), _refusal(forged)


def _lost(held, name: str) -> bool:
    try:
        held[name]
    except KeyError:
        return True
    return False


# -- attributes in several blocks of one header ---------------------------------------


def _attrs_in_sessions(**kw) -> bytes:
    """'units' written first, 'unitZ' sessions later: in a continuation block by then."""

    def first(f):
        f.create_dataset("d", data=np.arange(3)).attrs["units"] = 1.0

    def more(f):
        for i in range(6):
            f["d"].attrs[f"note{i}"] = np.arange(4.0 + i)

    def last(f):
        f["d"].attrs["unitZ"] = np.arange(8.0)

    return _file(first, more, last, **kw)


def _blocks_apart(data: bytes, v1: bool) -> bool:
    """Whether 'units' lies in the header's first block and 'unitZ' in a continuation
    block (v1: after the first continuation message; v2: inside an OCHK block)."""
    if v1:
        with h5py.File(io.BytesIO(data), "r") as f:
            addr = h5py.h5o.get_info(f["d"].id).addr
        bodies = [(t, body) for t, _, _, body in v1_messages(data, addr)]
        cont = next(i for i, (t, _) in enumerate(bodies) if t == 0x10)
        first_block_end = bodies[cont][1]
        return data.find(b"units") < first_block_end < data.find(b"unitZ")
    block = data.find(b"OCHK")
    end = block + checksummed_length(data, block)
    return not block < data.find(b"units") < end and block < data.find(b"unitZ") < end


@pytest.mark.parametrize("libver", [None, "latest"], ids=["v1", "v2"])
def test_attribute_in_another_block_refused(libver):
    data = _attrs_in_sessions(**({"libver": libver} if libver else {}))
    assert _refusal(data) == "" and _blocks_apart(data, libver is None)
    forged = _renamed(data, b"unitZ", b"units")
    assert _refusal(forged).startswith(TWICE.format("attribute", "units", "/d"))


def _committed(both: bool) -> bytes:
    """/d's 'units' and 'unitZ' of a committed datatype (walked once every datatype is
    known, after the objects), or only 'unitZ' of it."""

    def build(f):
        f["t"] = np.dtype("<f8")
        d = f.create_dataset("d", data=np.arange(3))
        d.attrs.create("units", [1.0], dtype=f["t"] if both else "<f8")
        d.attrs.create("unitZ", [2.0], dtype=f["t"])
        f.create_dataset("e", data=[1]).attrs.create("units", [3.0], dtype=f["t"])

    return _file(build)


@pytest.mark.parametrize("both", [True, False], ids=["both-committed", "one-committed"])
def test_attributes_of_a_committed_datatype_named_twice_refused(both):
    data = _committed(both)
    assert _refusal(data) == ""
    forged = _renamed(data, b"unitZ", b"units")
    assert _refusal(forged).startswith(TWICE.format("attribute", "units", "/d")), _refusal(forged)


# -- honest controls ----------------------------------------------------------------


def _many(f) -> None:
    f.attrs["Units"] = "K"
    f.attrs["units"] = "k"
    f.attrs["calib"] = 1.0
    f["calib"] = [1.0]  # a link and an attribute of one name
    for i in range(20):
        g = f.create_group(f"g{i:02d}")
        g["calib"] = [float(i)]  # one name in many groups
        g["calib"].attrs["units"] = "K"  # and on many objects
        for j in range(12):
            g.attrs[f"a{j:02d}"] = j


@pytest.mark.parametrize("track", [False, True], ids=["untracked", "tracked"])
@pytest.mark.parametrize("libver", [None, "latest"], ids=["default", "latest"])
def test_honest_names_pass(libver, track):
    kw = {"libver": libver} if libver else {}

    def later(f):
        for i in range(20):
            f[f"g{i:02d}"].attrs["extra"] = "x"
            f[f"g{i:02d}/late"] = [1]

    assert _refusal(_file(_many, later, track_order=track, **kw)) == ""
