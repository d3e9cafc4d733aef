"""Every datime the ROOT validator accepts is a calendar date-time (session 38, attack n
root): ROOT's TDatime and uproot's datetime_to_code pack a clock's fields (year - 1995 in 6
bits, month, day, hour, minute, second), so month 0 or 13-15, a day past its month's,
hour 24-31, minute or second 60-63 are no writer's. Rules that bound a datime between two
others compare the packed numbers: a number no clock gives between them widened what "an
earlier datime" may choose (hour 31 of a day lies between that day and the next). One
function decodes them (root_model.decode_datime): the walk checks every key (live or in
free space, baskets too), the directories their fDatimeC and fDatimeM, and a key's copy
with an earlier datime in an older keys list is one only if its datime is a date."""

from __future__ import annotations

import datetime
import struct

import numpy as np
import pytest

from tests.quarantine.test_root_exact import _key, _put, _top_directory
from tests.quarantine.test_validators import vet
from tests.support.attack_nroot_rio import datime
from vmguard.quarantine.validators import Invalid
from vmguard.quarantine.validators.root_keylists import Cuts, Keys, _key_at, _undated
from vmguard.quarantine.validators.root_model import KEY, decode_datime

uproot = pytest.importorskip("uproot")
ROOT = "application/x-root"
OK = [(ROOT, "root")]
NO_DATE = "which is no date-time"


def shifted(code: int, seconds: float) -> int:
    """A datime `seconds` later (earlier if negative), as a clock gives it: the packed
    number plus or minus seconds may be no date (second 60...), refused for that alone."""
    moved = uproot._util.code_to_datetime(code) + datetime.timedelta(seconds=seconds)
    return uproot._util.datetime_to_code(moved)


@pytest.mark.parametrize(
    "fields",
    [(2026, 12, 5, 21, 59, 59), (2026, 2, 28, 0, 0, 0), (2028, 2, 29, 23, 59, 59), (1995, 1, 1, 0, 0, 0),
     (2058, 12, 31, 23, 59, 59)],
)
def test_a_clocks_datime_decodes(fields):
    assert decode_datime(datime(*fields)).timetuple()[:6] == fields
    now = uproot._util.datetime_to_code(uproot._util.code_to_datetime(datime(*fields)))
    assert now == datime(*fields)


@pytest.mark.parametrize(
    "fields",
    [(2026, 11, 30, 31, 63, 63), (2026, 12, 1, 24, 0, 0), (2026, 12, 1, 23, 60, 0), (2026, 12, 1, 23, 59, 60),
     (2026, 2, 29, 12, 0, 0), (2026, 11, 31, 12, 0, 0), (2026, 12, 0, 12, 0, 0), (2026, 0, 1, 12, 0, 0),
     (2026, 13, 1, 12, 0, 0)],
)
def test_no_date_is_none(fields):
    assert decode_datime(datime(*fields)) is None
    with pytest.raises(ValueError):
        uproot._util.code_to_datetime(datime(*fields))  # uproot's reader refuses it too


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> bytes:
    """A histogram, a tree and a subdirectory; a second job adds a histogram."""
    path = tmp_path_factory.mktemp("rootdatimes") / "r.root"
    rng = np.random.default_rng(38)
    with uproot.recreate(path) as f:
        f["h"] = np.histogram(rng.normal(size=100), bins=5)
        f.mktree("t", {"x": "f8"})
        f["t"].extend({"x": rng.normal(size=500)})
        f["dir/h"] = np.histogram(rng.normal(size=100), bins=5)
    with uproot.update(path) as f:
        f["h2"] = np.histogram(rng.normal(size=100), bins=5)
    return path.read_bytes()


def test_the_control_passes(real):
    assert vet(real, ROOT) == OK


def _redated(data: bytes, at: int, stamp: int) -> bytes:
    """The key at `at` and each copy of it (a keys list's) dated `stamp`."""
    keylen = struct.unpack_from(">h", data, at + 14)[0]
    own = data[at : at + keylen]
    return data.replace(own, own[:10] + struct.pack(">I", stamp) + own[14:])


@pytest.mark.parametrize(("klass", "name"), [(b"TH1D", b"h2"), (b"TBasket", b"x"), (b"TFile", b"r.root")])
def test_a_key_dated_at_no_date_is_refused(real, klass, name):
    """A live key (and its keys list's copy) at hour 24 of its own day: a number between
    its day and the next, no date."""
    at = _key(real, klass, name)
    day = decode_datime(KEY.unpack_from(real, at)[3])
    bad = _redated(real, at, datime(day.year, day.month, day.day, 24, 0, 0))
    with pytest.raises(Invalid, match=NO_DATE):
        vet(bad, ROOT)


@pytest.mark.parametrize("field", [2, 6])  # fDatimeC, fDatimeM after the TDirectory's version
@pytest.mark.parametrize("where", ["top", "dir"])
def test_a_directory_dated_at_no_date_is_refused(real, field, where):
    if where == "top":
        at = _top_directory(real)
    else:
        key = _key(real, b"TDirectory", b"dir")
        body = key + struct.unpack_from(">h", real, key + 14)[0]
        at = body  # a subdirectory's payload is its TDirectory part alone
    stamp = struct.unpack_from(">I", real, at + field)[0]
    assert decode_datime(stamp) is not None
    bad = _put(real, at + field, struct.pack(">I", stamp | 63))  # second 63
    with pytest.raises(Invalid, match=NO_DATE):
        vet(bad, ROOT)


def test_a_copy_dated_at_no_date_is_no_key_of_the_history():
    """_key_at: a record's own key with an earlier datime between the file's making and
    its write is one (an older list keeps it), at a number no clock gives it is not."""
    made, written = datime(2026, 11, 30, 23, 59, 50), datime(2026, 12, 1, 23, 59, 50)
    own = struct.pack(">ihiIhh", 100, 4, 40, written, 60, 1) + bytes(42)
    keys = Keys(frozenset({own}), {_undated(own): own}, struct.pack(">I", made), (len(own),), (), {}, {}, 1,
                Cuts(0, 0))

    def copy(stamp: int) -> bytes:
        return own[:10] + struct.pack(">I", stamp) + own[14:]

    assert _key_at(copy(datime(2026, 12, 1, 12, 0, 0)), 0, keys) == own
    hour_31 = datime(2026, 11, 30, 31, 63, 63)
    assert made < hour_31 < written
    assert _key_at(copy(hour_31), 0, keys) == b""
