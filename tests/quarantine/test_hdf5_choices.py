"""Fields plain h5py calls set and no reader uses (issue #13, choices.py): the attribute
phase change of a v2 object header and the file space info of the superblock extension.
They cannot be pinned (ordinary output holds what the caller asked), so they must agree
with the file and stay within documented bounds; what those leave free is counted in
docs/quarantine.md, and the last test keeps that count and the code together."""

from __future__ import annotations

import io
import math
import re
import struct
from pathlib import Path

import pytest

from tests.quarantine.test_hdf5_walk import _refusal
from tests.support import hdf5_dense as hd
from tests.support.hdf5_bytes import fix_v2_checksum, put, u
from vmguard.quarantine.validators import Invalid
from vmguard.quarantine.validators.hdf5 import choices
from vmguard.quarantine.validators.hdf5.ledger import File, Ledger
from vmguard.quarantine.validators.hdf5.objects import Message, Walker

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

DOCS = Path(__file__).resolve().parents[2] / "docs" / "quarantine.md"


def _phase(most: int, least: int, attributes: int):
    def build(f):
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_attr_phase_change(most, least)
        g = h5py.Group(h5py.h5g.create(f.id, b"g", gcpl=gcpl))
        for i in range(attributes):
            g.attrs[f"a{i}"] = i

    return build


def _file(build, path: Path | None = None, **kw) -> bytes:
    """h5py's file, on disk when `path` is given (a paged file's end is page-aligned
    only there)."""
    target = path or io.BytesIO()
    with h5py.File(target, "w", libver="latest", **kw) as f:
        build(f)
    return path.read_bytes() if path else target.getvalue()


def _group_header(data: bytes) -> int:
    with h5py.File(io.BytesIO(data), "r") as f:
        return h5py.h5o.get_info(f["g"].id).addr


@pytest.mark.parametrize(
    ("most", "least", "attributes"),
    [(0, 0, 3), (5, 5, 5), (5, 5, 6), (255, 0, 30), (20, 10, 2), (1, 0, 1), (8, 6, 9), (100, 2, 101)],
)
def test_phase_changes_h5py_writes_within_the_bound_pass(most, least, attributes):
    assert _refusal(_file(_phase(most, least, attributes))) == ""


def test_a_phase_change_above_the_bound_is_refused():
    """Plain h5py writes it; no ordinary writer keeps more than 255 attributes in a header."""
    assert "above 255 refused" in _refusal(_file(_phase(256, 0, 1)))
    assert _refusal(_file(_phase(255, 0, 1))) == ""  # control


def _patched_phase(most: int, least: int, attributes: int = 2) -> str:
    """The stored pair rewritten (checksum recomputed) in a group whose header stores one."""
    data = bytearray(_file(_phase(7, 3, attributes)))
    at = _group_header(data)
    assert data[at + 5] & 0x10, "control: the header stores a pair"
    pair = at + 6 + (16 if data[at + 5] & 0x20 else 0)
    assert (u(data, pair, "<H"), u(data, pair + 2, "<H")) == (7, 3)
    put(data, pair, most, "<H")
    put(data, pair + 2, least, "<H")
    fix_v2_checksum(data, at)
    return _refusal(bytes(data))


@pytest.mark.parametrize(("most", "least"), [(8, 6), (3, 4), (0x5750, 0x444E)])
def test_a_stored_pair_libhdf5_does_not_store_is_refused(most, least):
    assert "stores the attribute phase change" in _patched_phase(most, least)


def test_more_compact_attributes_than_the_phase_change_allows_are_refused():
    assert _patched_phase(7, 3) == ""  # control
    assert "keeps 2 attributes, more than its attribute phase change allows (1" in _patched_phase(1, 0)


def test_a_header_storing_no_pair_keeps_at_most_the_default():
    """libhdf5 never writes such a header (it moves the 9th attribute to dense storage):
    the rule on its own."""
    assert choices.attr_phase_change(None, "/g") == choices.DEFAULT_PHASE[0] == 8
    choices.compact(8, 8, "attribute", "/g")
    with pytest.raises(Invalid, match="keeps 9 attributes, more than its attribute phase change allows"):
        choices.compact(9, 8, "attribute", "/g")


# ------------------------------------------------------------------ file space info


def _dataset(f):
    f.create_dataset("d", data=np.arange(4))


def _space(tmp_path: Path, **kw) -> bytes:
    return _file(_dataset, tmp_path / "s.h5", **kw)


@pytest.mark.parametrize(
    "kw",
    [{"fs_strategy": "fsm", "fs_threshold": 100}, {"fs_strategy": "fsm", "fs_threshold": 0},
     {"fs_strategy": "aggregate"}, {"fs_strategy": "none"}, {"fs_strategy": "page"},
     {"fs_strategy": "page", "fs_page_size": 512}, {"fs_strategy": "page", "fs_page_size": 1 << 20},
     {"fs_strategy": "page", "fs_threshold": 10}],
)
def test_file_space_settings_h5py_writes_pass(tmp_path, kw):
    assert _refusal(_space(tmp_path, **kw)) == ""


@pytest.mark.parametrize(
    ("kw", "named"),
    [({"fs_strategy": "fsm", "fs_threshold": 1 << 40}, "refused above the file's size"),
     ({"fs_strategy": "page", "fs_page_size": 1000}, "a power of two from 512")],
)
def test_file_space_settings_beyond_the_bound_are_refused(tmp_path, kw, named):
    assert named in _refusal(_space(tmp_path, **kw))


def test_a_threshold_up_to_the_files_size_passes(tmp_path):
    size = len(_space(tmp_path, fs_strategy="fsm", fs_threshold=100))
    assert _refusal(_space(tmp_path, fs_strategy="fsm", fs_threshold=size)) == ""
    assert "refused above the file's size" in _refusal(_space(tmp_path, fs_strategy="fsm", fs_threshold=size + 1))


def _patched_space(tmp_path: Path, offset: int, value: int, fmt: str) -> str:
    data = bytearray(_space(tmp_path, fs_strategy="fsm", fs_threshold=100))
    extension = u(data, 20)
    ((body, size),) = hd.messages(data, extension, 0x17)
    assert size == 29, "control: a version 1 message"
    put(data, body + offset, value, fmt)
    fix_v2_checksum(data, extension)
    return _refusal(bytes(data))


@pytest.mark.parametrize(
    ("offset", "value", "fmt", "named"),
    [(0, 0, "<B", "declared 29 bytes where its content is 10"), (1, 4, "<B", "has version 1 or strategy 4"),
     (1, choices.AGGR, "<B", "other than 1 (the default) with one that does not"),
     (11, 8192, "<Q", "else 4096 (the default)"),
     (3, 1, "<Q", "holds only defaults"), (19, 7, "<H", "page end metadata threshold 7"),
     (21, 0x444E5750, "<Q", "end of file before persisting 1145984848"),
     (2, 1, "<B", "persisted free-space sections are not supported")],
)
def test_file_space_fields_libhdf5_fixes_are_pinned(tmp_path, offset, value, fmt, named):
    assert _patched_space(tmp_path, 3, 100, "<Q") == ""  # control
    assert named in _patched_space(tmp_path, offset, value, fmt)


def test_the_documented_free_bits_are_the_bounds():
    """docs/quarantine.md counts what the bounds leave; a bound changed must change it."""
    text = " ".join(DOCS.read_text().split())
    pairs = (choices.MAX_COMPACT + 1) * (choices.MAX_COMPACT + 2) // 2 - 1  # least <= most, not the default
    bits = f"{math.log2(pairs):.3f}"
    assert re.search(rf"max compact <= {choices.MAX_COMPACT}.{{0,80}}{pairs:,} pairs, log2 = {bits} bits", text)
    assert f"from {choices.MIN_PAGE} that divides" in text and "log2(size + 1)" in text


def _group_info(raw: bytes):
    """choices.link_phase_change on a group info message of these bytes (h5py has no call
    that stores either field: a C program's H5Pset_link_phase_change would)."""
    f = File(raw, len(raw))
    return choices.link_phase_change(Walker(f, Ledger(f)), Message(0x0A, 0x01, 0, len(raw), 1), "/g")


def test_the_link_phase_change_is_bounded_like_the_attributes():
    assert _group_info(bytes(2)) == 8  # h5py's: nothing stored, the default
    assert _group_info(bytes([0, 1]) + struct.pack("<HH", 20, 10)) == 20
    for most, least in ((8, 6), (3, 4), (256, 0)):
        with pytest.raises(Invalid, match="stores the link phase change"):
            _group_info(bytes([0, 1]) + struct.pack("<HH", most, least))
    with pytest.raises(Invalid, match="link count estimates: not written by h5py"):
        _group_info(bytes([0, 2]) + struct.pack("<HH", 4, 8))


def test_a_group_keeps_at_most_its_max_compact_links():
    def build(f):
        g = f.create_group("g", track_order=True)
        for i in range(8):
            g.create_group(f"x{i}")

    clean = _file(build)
    assert _refusal(clean) == ""  # control: 8 links in the header, the default max compact
    with pytest.raises(Invalid, match="keeps 9 links, more than its link phase change allows"):
        choices.compact(9, 8, "link", "/g")


# ------------------------------------------------------------------ dense storage bounds max compact


def _big_phase(most: int, least: int, attributes: int):
    """_phase's group given one more attribute of 72 KB (too large for a header message:
    libhdf5 moves every attribute to dense storage at once, whatever the count)."""
    def build(f):
        _phase(most, least, attributes)(f)
        f["g"].attrs["big"] = np.arange(9000.0)

    return build


@pytest.mark.parametrize(("most", "least", "attributes"), [(20, 10, 2), (255, 0, 0), (8, 6, 3)])
def test_dense_storage_for_one_large_attribute_passes_below_max_compact(most, least, attributes):
    assert _refusal(_file(_big_phase(most, least, attributes))) == ""


def test_dense_storage_outnumbers_max_compact():
    """session 39, attack oh5: (255, 6) stored on a header of 14 dense attributes."""
    choices.dense(13, [40] * 14, False, "attribute", "/")
    choices.dense(255, [40] * 13 + [choices.MESSAGE_MAX], False, "attribute", "/")
    choices.dense(255, [40] * 6, True, "attribute", "/")  # the heap shows a deletion
    for most in (14, 20, 255):
        with pytest.raises(Invalid, match="keeps 14 attributes in dense storage, where its attribute phase"):
            choices.dense(most, [40] * 14, False, "attribute", "/")
    with pytest.raises(Invalid, match="keeps 3 links in dense storage, where its link phase change"):
        choices.dense(8, [30, 30, choices.MESSAGE_MAX - 1], False, "link", "/g")


def test_a_phase_change_dense_storage_does_not_outnumber_is_refused():
    """_phase(5, 5, 6)'s group, its stored pair patched to (6, 5): its 6 dense attributes
    no longer outnumber max compact."""
    data = bytearray(_file(_phase(5, 5, 6)))
    at = _group_header(data)
    pair = at + 6 + (16 if data[at + 5] & 0x20 else 0)
    assert (u(data, pair, "<H"), u(data, pair + 2, "<H")) == (5, 5)
    put(data, pair, 6, "<H")
    fix_v2_checksum(data, at)
    assert "keeps 6 attributes in dense storage, where its attribute phase change keeps up to 6" in _refusal(
        bytes(data)
    )
