"""Creation orders (issue #13): every link message and attribute record carries room
for one, and a v2 object header tracking attribute order gives each message an order
field. What libhdf5 writes, established here on h5py's own files: an object tracking
no order gives a link message no order field (flag 0x04 clear) and a dense attribute
record 65535 (H5O_MAX_CRT_ORDER_IDX); a tracking one numbers its links or attributes
0..n-1, n next; the header's other messages hold 0 or, in a slot libhdf5 reused, the
order of an attribute that was there (never the next order or more). Anything else is
refused; a deleted or replaced link or attribute of a tracking object (gaps) too."""

from __future__ import annotations

import io
import struct

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support import hdf5_dense as hd
from tests.support.hdf5_bytes import fix_v2_checksum, v2_header
from vmguard.quarantine.validators import Invalid
from vmguard.quarantine.validators.hdf5 import walk
from vmguard.quarantine.validators.hdf5.dense import creation_orders

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")


def _h5(build) -> bytes:
    tmp = io.BytesIO()
    with h5py.File(tmp, "w", libver="latest") as f:
        build(f)
    return tmp.getvalue()


def _attrs(track: bool, n: int, replace: bool = False):
    def build(f):
        g = f.create_group("g", track_order=track)
        for i in range(n):
            g.attrs[f"a{i:02d}"] = i
        if replace:
            g.attrs["a00"] = 5.0  # h5py deletes and recreates it: a new order

    return build


def _links(track: bool, delete: bool = False):
    def build(f):
        g = f.create_group("g", track_order=track)
        for i in range(4):
            g[f"x{i}"] = i
        if delete:
            del g["x0"]

    return build


def _record_orders(data: bytes) -> tuple[hd.Tree, list[int], list[int]]:
    """(the attribute name index, its records, their creation orders) of a file whose
    only v2 B-tree is one leaf of dense attribute records (type 8)."""
    (at,) = [s for s in walk(data, len(data)) if data[s : s + 4] == b"BTHD"]
    t = hd.tree(data, at)
    records = hd.root_leaf_records(data, t)
    return t, records, [struct.unpack_from("<I", data, r + 9)[0] for r in records]


def test_an_untracked_dense_attribute_record_holds_65535():
    data = bytearray(_h5(_attrs(False, 12)))
    assert _refusal(bytes(data)) == ""
    t, records, orders = _record_orders(data)
    assert t.type == 8 and orders == [0xFFFF] * 12  # what libhdf5 writes
    struct.pack_into("<I", data, records[3] + 9, 0x4242)
    hd.fix_leaf(data, t, t.root, t.n_root)
    assert "tracks no creation order" in _refusal(bytes(data))


def test_a_link_message_of_an_untracked_group_carries_no_order():
    """h5py's compact untracked group: its link messages have flag 0x04 clear (the dense
    case, a link message with an order in the heap, is test_attack_independent_dense's
    link_creation_order_untracked); the rule itself, on the orders the walk reads."""
    data = bytearray(_h5(_links(False)))
    assert _refusal(bytes(data)) == ""
    header = min(s for s, (_, w) in walk(data, len(data)).items() if w == "the object header of /g")
    links = [body for kind, _, body in v2_header(data, header)[2] if kind == 0x06]
    assert len(links) == 4 and all(not data[body + 1] & 0x04 for body in links)
    creation_orders([None] * 4, (None, None), "the links of /g")  # the control
    with pytest.raises(Invalid, match="tracks no creation order"):
        creation_orders([None, 7, None], (None, None), "the links of /g")
    with pytest.raises(Invalid, match="are not 0..2 with 3 next"):
        creation_orders([0, 1, 3], (4, None), "the links of /g")


@pytest.mark.parametrize("n", [3, 12])
def test_tracked_orders_are_0_to_n_minus_1(n):
    """Compact (3: the header's order fields) and dense (12: records) attributes of a
    tracking group, and its links: h5py's file passes; with a replaced attribute or a
    deleted link (gaps) it is refused, naming the rule."""
    assert _refusal(_h5(_attrs(True, n))) == ""
    assert _refusal(_h5(_links(True))) == ""
    refusal = _refusal(_h5(_attrs(True, n, replace=True)))
    assert "are not 0.." in refusal or "no object and not zeros" in refusal  # dense: the heap's hole
    assert "are not 0..2 with 3 next" in _refusal(_h5(_links(True, delete=True)))


def test_header_order_fields_of_other_messages_stay_below_the_next_order():
    data = bytearray(_h5(_attrs(True, 3)))
    header = min(s for s, (_, w) in walk(data, len(data)).items() if w == "the object header of /g")
    fields = [(kind, body - 2) for kind, _, body in v2_header(data, header)[2]]
    assert sorted(struct.unpack_from("<H", data, at)[0] for kind, at in fields if kind == 0x0C) == [0, 1, 2]
    other = next(at for kind, at in fields if kind != 0x0C)
    struct.pack_into("<H", data, other, 2)  # the order of an attribute: a reused slot's
    fix_v2_checksum(data, header)
    assert _refusal(bytes(data)) == ""
    struct.pack_into("<H", data, other, 3)
    fix_v2_checksum(data, header)
    assert "carries a creation order no attribute had" in _refusal(bytes(data))


def _reopened(opened) -> bytes:  # noqa: ANN001
    """Three root floats in one session; in a second, one attribute opened (`opened`),
    then eight more: the root's attributes go dense (session 38, attack nh5's
    ctl-nh5-min9-modify-dense, cut down)."""
    tmp = io.BytesIO()
    with h5py.File(tmp, "w", libver="latest") as f:
        for name in ("a", "b", "x"):
            f.attrs[name] = 1.0
    with h5py.File(tmp, "a") as f:
        opened(f)
        for i in range(8):
            f.attrs[f"n{i}"] = float(i)
    return tmp.getvalue()


@pytest.mark.parametrize(
    ("opened", "index"),
    [(lambda f: f.attrs.modify("x", 5.0), 2), (lambda f: f.attrs["b"], 1)],
    ids=["modify", "read"],
)
def test_an_untracked_attribute_opened_as_a_message_keeps_its_index_as_order(opened, index):
    """H5O__attr_open_cb gives an attribute of an untracked header the order of its
    index among the header's attribute messages (in the shared struct the header's
    message holds); the move to dense storage writes it into the record. Refused before
    session 38 ('tracks no creation order, yet one carries one other than 65535 or 0')."""
    data = bytearray(_reopened(opened))
    assert _refusal(bytes(data)) == ""
    t, records, orders = _record_orders(data)
    assert sorted(orders) == [0, 0, index] + [0xFFFF] * 8  # the other two decoded as 0
    at = records[orders.index(index)]
    for order, ok in ((7, True), (8, False), (0xFFFE, False)):  # below max compact (8): opened
        struct.pack_into("<I", data, at + 9, order)
        hd.fix_leaf(data, t, t.root, t.n_root)
        assert (_refusal(bytes(data)) == "") is ok, order


def test_untracked_orders_below_max_compact():
    creation_orders([0xFFFF, 0, 7], (None, 0xFFFF), "the attributes of /", 8)
    with pytest.raises(Invalid, match="other than 65535 or one below 8"):
        creation_orders([0xFFFF, 8], (None, 0xFFFF), "the attributes of /", 8)
    with pytest.raises(Invalid, match="other than 65535 or one below 1"):
        creation_orders([1], (None, 0xFFFF), "the attributes of /")
