"""ROOT files written by ROOT itself (C++, ROOT 5.23 to 6.14; tests/support/root_cxx_corpus.py
fetches them from three pinned sdists on PyPI): every one is published byte for byte in ONE
vet under the shipped policy/batch.yaml's allow_types, but where ROOT left bytes no rule
can recompute (strict xfails naming them). Then each rule relaxed for ROOT's output, on a
real ROOT-written file changed to a value ROOT cannot write, is refused naming the rule."""

from __future__ import annotations

import hashlib
import struct
import time
import uuid
from pathlib import Path

import pytest

from tests.quarantine.test_attack_independent_dcontent import _policy, _vet
from tests.quarantine.test_root_exact import _key, _put, _top_directory
from tests.quarantine.test_validators import vet
from tests.support import root_cxx_corpus
from vmguard.quarantine.validators import Invalid

ROOT = "application/x-root"
OK = [(ROOT, "root")]
# ROOT's TKey::Create puts a record in a free gap larger than itself and writes the rest's
# length, negated, after it (TFile::MakeFree likewise at a freed segment's start); what the
# rest held stays: the tail of a compressed record ROOT deleted (an older TTree header or
# StreamerInfo, replaced as the file was saved again), whose start the new record covers.
# Neither its key nor its blocks can be parsed or recomputed: admitting it would admit any
# bytes after a negated length. (test_csv.root passes since session 36: its older
# StreamerInfo's block survived whole behind its key's strings, root_tails.older_copy.)
_WRITTEN_OVER = (
    "ROOT wrote over the start of a compressed record it deleted (a smaller record placed in "
    "its gap, the rest's length negated after it); the record's compressed tail stays in the "
    "free segment and cannot be recomputed: 'the free space at N holds data that is not the "
    "remains of a record the writer moved'"
)
REFUSED = dict.fromkeys(
    ("issue30.root", "issue38b.root", "issue64.root", "issue79.root"), _WRITTEN_OVER
)
SLOW = 60  # seconds: the bound for the whole vet (Event.root alone is 31 MB)


@pytest.fixture(scope="module")
def corpus() -> dict[str, Path]:
    return root_cxx_corpus.files()  # a failed fetch fails the tests (never skips them)


@pytest.fixture(scope="module")
def vetted(corpus, tmp_path_factory) -> dict:
    files = {name: path.read_bytes() for name, path in corpus.items()}
    started = time.monotonic()
    result = _vet(tmp_path_factory.mktemp("rootcxx"), "rootcxx", files, _policy())
    result["seconds"] = time.monotonic() - started
    return result


def test_one_vet_of_the_corpus_is_fast_enough(vetted):
    assert vetted["seconds"] < SLOW, vetted["seconds"]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=REFUSED[name]))
        if name in REFUSED
        else name
        for name in root_cxx_corpus.NAMES
    ],
)
def test_root_written_file_is_published_byte_identical(corpus, vetted, name):
    entry = vetted["entries"][name]
    assert (entry["verdict"], entry["type"]) == ("accepted", ROOT), entry["detail"]
    published = (vetted["out"] / name).read_bytes()
    assert hashlib.sha256(published).hexdigest() == hashlib.sha256(corpus[name].read_bytes()).hexdigest()


def test_the_refused_ones_are_refused_for_the_written_over_record_only(vetted):
    for name in REFUSED:
        assert "holds data that is not the remains" in vetted["entries"][name]["detail"], name


def test_an_sdist_that_is_not_the_pinned_one_fails_the_fetch(corpus, tmp_path, monkeypatch):
    """root_numpy's real archive served as rootpy's: its sha256 is not rootpy's pin."""
    other = corpus["vary1.root"].parents[1] / "root_numpy-4.8.0.tar.gz"
    monkeypatch.setattr(root_cxx_corpus, "CACHE", tmp_path)
    monkeypatch.setattr(root_cxx_corpus, "_https", lambda sdist, path: path.write_bytes(other.read_bytes()))
    with pytest.raises(root_cxx_corpus.FetchError, match="rootpy-1.0.1.tar.gz .*not the pinned 7d85fc8f"):
        root_cxx_corpus._archive(next(s for s in root_cxx_corpus.SDISTS if s.name == "rootpy"))
    assert not list(tmp_path.iterdir())  # nothing kept that a later run would trust


# Each relaxation, on a ROOT-written file: a value ROOT writes passes, one it cannot is refused.


def _data(corpus, name: str) -> bytes:
    data = corpus[name].read_bytes()
    assert vet(data, ROOT) == OK
    return data


@pytest.mark.parametrize("setting", [0, 4, 207, 404, 505, 599])
def test_fcompress_of_a_root_file_is_any_setting_root_stores(corpus, setting):
    assert vet(_put(_data(corpus, "HZZ.root"), 33, struct.pack(">i", setting)), ROOT) == OK


@pytest.mark.parametrize("setting", [-1, 600, 1001])
def test_fcompress_of_a_root_file_root_cannot_store_is_refused(corpus, setting):
    with pytest.raises(Invalid, match=f"fCompress {setting} is no compression setting ROOT writes"):
        vet(_put(_data(corpus, "HZZ.root"), 33, struct.pack(">i", setting)), ROOT)


def _both_uuids(data: bytes, made: uuid.UUID) -> bytes:
    """The file's UUID and the top directory's (ROOT gives it the file's) both `made`."""
    return _put(_put(data, 47, made.bytes), _top_directory(data) + 32, made.bytes)


def test_a_uuid_with_roots_random_node_is_version_3_and_its_node_marked(corpus):
    data = _data(corpus, "sample-5.30.00-zlib.root")
    made = uuid.UUID(bytes=data[47:63])
    assert made.version == 3 and made.node >> 47  # ROOT 5.30 found no network address
    as_v1 = bytearray(made.bytes)
    as_v1[6] = as_v1[6] & 0x0F | 0x10
    assert vet(_both_uuids(data, uuid.UUID(bytes=bytes(as_v1))), ROOT) == OK
    unmarked, v4 = bytearray(made.bytes), bytearray(made.bytes)
    unmarked[10] &= 0x7F  # a version 3 UUID whose node ROOT did not make
    v4[6] = v4[6] & 0x0F | 0x40
    for wrong in (unmarked, v4):
        with pytest.raises(Invalid, match="is not time-based as ROOT and uproot make it"):
            vet(_both_uuids(data, uuid.UUID(bytes=bytes(wrong))), ROOT)


def test_no_streamer_info_is_both_header_fields_zero(corpus):
    data = _data(corpus, "directories.root")  # no object of a class with streamers
    assert struct.unpack_from(">ii", data, 37) == (0, 0)
    with pytest.raises(Invalid, match=r"fSeekInfo \(0\) is not the start of a record"):
        vet(_put(data, 41, struct.pack(">i", 60)), ROOT)
    with pytest.raises(Invalid, match=r"\(TList\) is in no directory.s keys list"):
        vet(_put(_data(corpus, "HZZ.root"), 37, bytes(8)), ROOT)  # a StreamerInfo the header hides


def test_a_nested_directorys_parent_is_its_parent_or_the_top_directory(corpus):
    data = _data(corpus, "nesteddirs.root")
    two = _key(data, b"TDirectory", b"two")
    parent = struct.unpack_from(">i", data, two + 22)[0]
    seek_parent = two + struct.unpack_from(">h", data, two + 14)[0] + 22  # in its TDirectory part
    assert struct.unpack_from(">i", data, seek_parent)[0] == 100  # ROOT: the top directory
    assert vet(_put(data, seek_parent, struct.pack(">i", parent)), ROOT) == OK  # uproot: its parent
    with pytest.raises(Invalid, match="gives another position or parent"):
        vet(_put(data, seek_parent, struct.pack(">i", _key(data, b"TDirectory", b"three"))), ROOT)


def test_a_listed_directory_key_may_name_tdirectoryfile_and_nothing_else(corpus):
    data = _data(corpus, "test_file_2.root")
    copy = data.rfind(b"\x0eTDirectoryFile") - 26  # the top keys list's copy, KeyLen the own key's
    own = struct.unpack_from(">i", data, copy + 18)[0]
    assert (
        data[own + 26 : own + 37] == b"\x0aTDirectory"
        and data[own + 4 : own + 18] == data[copy + 4 : copy + 18]
    )
    for at, new in ((copy + 40, b"X"), (copy + 14, struct.pack(">h", 45))):  # a class, its true length
        with pytest.raises(Invalid, match="is not the key of a record"):
            vet(_put(data, at, new), ROOT)


def test_an_empty_directory_without_a_keys_list_has_both_fields_zero(corpus):
    data = _data(corpus, "test_file_2.root")
    f = _key(data, b"TDirectory", b"f")
    fields = f + struct.unpack_from(">h", data, f + 14)[0] + 10  # after version and two datimes
    assert (
        struct.unpack_from(">i", data, fields)[0] == 0 and struct.unpack_from(">i", data, fields + 16)[0] == 0
    )
    with pytest.raises(Invalid, match=r"\(0\) is not the start of a record"):
        vet(_put(data, fields, struct.pack(">i", 60)), ROOT)


def test_the_name_of_an_update_is_a_path_to_the_created_name(corpus):
    data = _data(corpus, "issue66.root")  # made as E_19keV_..., updated as C:/.../E_19keV_...
    path = b"C:/Users/darksnake/Dropbox/Numass/Simulations/Backscattering/E_19keV_U_18kV_histo.root"
    assert data.count(path) >= 2
    moved = data.replace(path, path.replace(b"Users", b"Userz"))
    assert vet(moved, ROOT) == OK  # its directory part is free (as the created name is)
    renamed = data.replace(path, path.replace(b"histo.root", b"histx.root"))
    with pytest.raises(Invalid, match="is not the one ROOT and uproot write"):
        vet(renamed, ROOT)


def _basket_tail(data: bytes, name: bytes, nth: int = 0) -> int:
    """Where a basket key's 20 bytes after its title start (the form with I/O bits)."""
    at = _key(data, b"TBasket", name, nth)
    return at + struct.unpack_from(">h", data, at + 14)[0] - 20


@pytest.mark.parametrize(
    ("branch", "offset", "new", "rule"),
    [
        (b"nJet", 10, b"\2", "fIOBits 2"),  # an I/O bit ROOT does not have
        (b"nJet", 6, struct.pack(">i", 4), "fIOBits 1 after fNevBufSize 4"),  # a size not negated
        (b"nJet", 0, struct.pack(">h", 2), "fVersion 2"),  # I/O bits in a ROOT 5 basket
        (b"nJet", 19, b"\x50", "flag 80"),  # offsets regenerated for fixed-size entries
        (b"Jet_pt", 19, b"\0", "flag 0"),  # no offsets after entries of variable size
    ],
)
def test_a_basket_key_with_io_bits_is_as_root_writes_it(corpus, branch, offset, new, rule):
    data = _data(corpus, "small-dy-nooffsets.root")
    with pytest.raises(Invalid, match=rule):
        vet(_put(data, _basket_tail(data, branch) + offset, new), ROOT)
