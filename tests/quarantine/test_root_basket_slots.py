"""A live TTree's basket arrays, every slot accounted for (session 40, root_slots): real
uproot files (every codec, a tree in a subdirectory extended over several jobs, jagged
branches) are published; the same files with bytes placed in the slots no reader takes a
basket from, or with used slots that are not the branch's live baskets, are refused
naming the rule; ROOT's own trees (the C++ corpus) are read and published."""

from __future__ import annotations

import datetime as _dt
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

uproot = pytest.importorskip("uproot")

from tests.quarantine.test_validators import vet  # noqa: E402
from tests.support import attack_qroot_files as rf  # noqa: E402
from tests.support import root_cxx_corpus  # noqa: E402
from vmguard.quarantine.validators import Invalid, root_codecs, root_strings  # noqa: E402

ROOT = "application/x-root"
CODECS = {"zlib": uproot.ZLIB(1), "lz4": uproot.LZ4(1), "zstd": uproot.ZSTD(3),
          "lzma": uproot.LZMA(1), "none": None}
JAGGED = {"x": np.arange(3.0), "n": [[1, 2], [], [3]]}
UNUSED = "slots past the"
SLOT = "no live basket key of the branch"
# A forgery that drops a basket from the live tree's list: refused by root_data's orphan
# rule where no tree lists it, by root_slots' where an older copy in free space does.
DROPPED = f"{SLOT}|in no list of its tree's baskets"


@dataclass(frozen=True)
class Arrays:
    """Where one branch's fBasketBytes, fBasketEntry and fBasketSeek start in the file
    (their first slot), and how many baskets it wrote."""

    nbytes: int
    entry: int
    seek: int
    used: int
    slots: int


def _find(data: bytes, span: tuple[int, int], fmt: str, values) -> int:
    """The first place after span[0] holding the values (the branches' arrays are streamed
    in order: the cursor moves past each)."""
    at = data.find(b"".join(struct.pack(fmt, int(v)) for v in values), *span)
    assert at > 0, "array not found"
    return at


def arrays(path: Path, tree: str) -> dict[str, Arrays]:
    """Each branch's arrays, located by the values uproot reads (an uncompressed tree)."""
    data = path.read_bytes()
    folder, _, name = tree.rpartition("/")
    with uproot.open(path) as f:
        start = (f[folder] if folder else f).key(name).fSeekKey
        span = (start, start + rf.key_at(data, start).nbytes)
        out = {}
        for branch in f[tree].branches:
            used, slots = branch.num_baskets, int(branch.member("fMaxBaskets"))
            found = []
            for member, fmt in (("fBasketBytes", ">i"), ("fBasketEntry", ">q"), ("fBasketSeek", ">q")):
                found.append(_find(data, span, fmt, branch.member(member)[:slots]))
                span = (found[-1] + 1, span[1])
            out[branch.name] = Arrays(*found, used, slots)
    return out


def _put(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def _value(data: bytes, at: int, fmt: str) -> int:
    return struct.unpack_from(fmt, data, at)[0]


def _refused(data: bytes, match: str) -> None:
    with pytest.raises(Invalid, match=match):
        vet(data, ROOT)


def one_job(path: Path, compression) -> Path:
    """A tree of a number and a jagged branch (its counter too), extended 12 times (uproot
    moves it to 100 slots at the 10th)."""
    with uproot.recreate(path, compression=compression) as f:
        f.mktree("t", {"x": "f8", "n": "var * int32"})
        for i in range(12):
            f["t"].extend({"x": np.arange(3.0) + i, "n": JAGGED["n"]})
    return path


def sessions(path: Path) -> Path:
    """Three jobs 2 h apart extend one tree in a subdirectory (a/b/t), with a histogram
    written and one deleted between them."""
    with uproot.recreate(path, compression=uproot.ZLIB(1)) as f:
        f.mktree("a/b/t", {"x": "f8", "n": "var * int32"})
        for _ in range(4):
            f["a/b/t"].extend(JAGGED)
        f["h"] = rf.hist(3)
    for hours in (2, 4):
        with rf.clock(_dt.timedelta(hours=hours)), uproot.update(path) as f:
            for _ in range(4):
                f["a/b/t"].extend(JAGGED)
            if hours == 2:
                del f["h"]
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """One file a codec (tree t), and the sessions' (a/b/t)."""
    folder = tmp_path_factory.mktemp("slots")
    out = {codec: (one_job(folder / f"{codec}.root", CODECS[codec]), "t") for codec in CODECS}
    return out | {"sessions": (sessions(folder / "sessions.root"), "a/b/t")}


@pytest.fixture(params=[*sorted(CODECS), "sessions"])
def tree(request, made) -> tuple[Path, str]:
    return made[request.param]


@pytest.fixture
def extended(made) -> tuple[Path, str]:
    return made["sessions"]


def test_uproot_trees_are_published(tree):
    path, name = tree
    assert vet(path.read_bytes(), ROOT) == [(ROOT, "root")]
    with uproot.open(path) as f:
        assert f[name].num_entries == 36


@pytest.mark.parametrize("member", ["nbytes", "entry", "seek"])
def test_a_byte_in_an_unused_slot_is_refused(tree, member):
    path, name = tree
    data = path.read_bytes()
    for branch, found in arrays(path, name).items():
        width = 4 if member == "nbytes" else 8
        first = found.used + (member == "entry")  # fBasketEntry: one more slot is used
        last = getattr(found, member) + width * found.slots - 1  # the last slot's last byte
        for at in (getattr(found, member) + width * first, last):
            assert data[at] == 0, branch
            changed = bytearray(data)
            changed[at] = 0x23
            _refused(bytes(changed), UNUSED)


def test_the_next_basket_entry_is_where_the_last_one_ends(tree):
    """fBasketEntry[fWriteBasket]: the entries written, tied to the last basket's fNevBuf."""
    path, name = tree
    data = path.read_bytes()
    found = arrays(path, name)["x"]
    at = found.entry + 8 * found.used
    _refused(_put(data, at, ">q", _value(data, at, ">q") - 1), "fNevBuf")
    _refused(_put(data, found.entry, ">q", 1), "fNevBuf")  # the first basket starts at 0


def test_a_used_slot_is_a_live_basket_of_its_branch(tree):
    path, name = tree
    data = path.read_bytes()
    found = arrays(path, name)
    x, n = found["x"], found["n"]
    seek = _value(data, x.seek, ">q")
    _refused(_put(data, x.nbytes + 4 * 3, ">i", _value(data, x.nbytes + 4 * 3, ">i") + 1),
             "no live basket key of the branch")  # Nbytes
    # no basket there: basket 0 then listed by no tree (root_data), or an older copy only
    _refused(_put(data, x.seek, ">q", seek + 1), DROPPED)
    # n's first basket in x's first slot, with its Nbytes: a live basket, of another branch
    swapped = _put(data, x.seek, ">q", _value(data, n.seek, ">q"))
    _refused(_put(swapped, x.nbytes, ">i", _value(data, n.nbytes, ">i")), DROPPED)


def test_a_basket_listed_twice_is_refused(tree):
    """Two slots of one basket (uproot reads it twice): refused, as listing baskets twice
    where the Nbytes agree (uncompressed, every basket of x alike), else as a slot whose
    Nbytes are no basket's there."""
    path, name = tree
    data = path.read_bytes()
    x = arrays(path, name)["x"]
    forged = _put(data, x.seek + 8, ">q", _value(data, x.seek, ">q"))
    _refused(forged, f"twice|{DROPPED}")


def test_an_older_copy_lists_the_baskets_not_the_live_tree(extended):
    """The live tree's slots name its baskets, not the older copy's only: the sessions'
    tree moved (12 extends), and a used slot of the live copy zeroed is refused, where an
    older copy in free space lists the basket too (root_data admitted it before)."""
    path, name = extended
    data = path.read_bytes()
    x = arrays(path, name)["x"]
    seeks = [_value(data, x.seek + 8 * i, ">q") for i in range(x.used)]
    with uproot.open(path) as f:
        assert seeks == list(f[name]["x"].member("fBasketSeek")[: x.used])
        assert x.slots == 100
    rules = []
    for i in range(x.used - 2):
        with pytest.raises(Invalid, match=DROPPED) as refused:
            vet(_put(data, x.seek + 8 * i, ">q", 0), ROOT)
        rules.append(SLOT in str(refused.value))
    assert any(rules)  # a basket an older copy lists, dropped: root_slots' rule alone


def _corpus_trees(path: Path) -> list[root_strings.BranchSlots]:
    data = path.read_bytes()
    out = []
    with uproot.open(path) as f:
        for name, klass in f.classnames().items():
            if klass != "TTree":
                continue
            key = f.key(name)
            raw = data[key.fSeekKey + key.fKeylen : key.fSeekKey + key.fNbytes]
            payload = raw if len(raw) == key.fObjlen else root_codecs.inflated(raw, key.fSeekKey, key.fObjlen)
            out += root_strings.basket_slots(b"TTree", payload, (key.fSeekKey, key.fKeylen))
    return out


def test_root_cxx_trees_are_read_and_published():
    """ROOT 6.14's trees (every codec) stream their arrays as root_slots reads them and
    are published; ROOT leaves the unused slots zero as uproot does."""
    corpus = root_cxx_corpus.files()
    for codec in ("lz4", "lzma", "uncompressed", "zlib"):
        path = corpus[f"sample-6.14.00-{codec}.root"]
        branches = _corpus_trees(path)
        assert len(branches) == 35 and all(b.write for b in branches)
        assert not any(any(b.seek[b.write :]) for b in branches)
        assert vet(path.read_bytes(), ROOT) == [(ROOT, "root")]


def test_a_root_cxx_tree_forged_is_refused():
    path = root_cxx_corpus.files()["sample-6.14.00-uncompressed.root"]
    data = path.read_bytes()
    found = arrays(path, "sample")
    for branch in ("i4", "ai8"):
        a = found[branch]
        _refused(_put(data, a.seek + 8 * a.used, ">q", 0x2321), UNUSED)
        _refused(_put(data, a.nbytes, ">i", _value(data, a.nbytes, ">i") - 1), "no live basket key")
