"""Independent black-box attack sh5 on `vmguard vet`'s HDF5 admissions of session 40
(issue #13): docs/quarantine.md's "HDF5: what exactness leaves" netCDF paragraphs (a freed
root indirect block rebuilt from the live heap, emptied blocks' ends, earlier
REFERENCE_LIST copies in freed version 1 continuation blocks, `oldlists.py`; NETCDF4_CLASSIC
dimension-only header tails, `deleteddims.py`; a stale layout inside a null;
`_Netcdf4Dimid` set twice, `dimids.py`; list copies in either encoding), not the code.

Attack: 8 chosen bytes (`PAYLOAD!`) written over each run of 16+ zero bytes (at its start
and 8 bytes in) of real multi-session files that leave those leftovers: h5py's
attach_scale over three sessions, NETCDF4_CLASSIC's coordinate variable, h5netcdf's
coordinate variable, netCDF4-python twice then h5netcdf appending, netCDF4-python
appending over 3 and 5 sessions. The zeros after a freed list copy, the zeros of a
freed block, the padding of the dimension-only tail: every mutant must be refused (the
contract: a leftover is admitted only as the bytes libhdf5 left, recomputed).
Controls: the real files, admitted and read back by h5py. Beyond this module (session 40,
by hand through the CLI, not repeated here for time): PAYLOAD! at every 8th byte of every
zero run of the first six controls (6835 mutants): all refused but 13, each inside a
dataset's data (x, e, g of h5-3sess.h5; u0 of nc4-sess*.nc: h5py returns it, not hidden). A group of both kinds (an old-style group's symbol
table naming 'secret', plus LINFO/GINFO and optionally a LINK forged into its v1 header):
h5py lists only the link messages, and vet refuses it as session 40 claims.
False rejections (strict xfails): netCDF4-python appending ONCE to an h5netcdf file, and
h5py's attach_scale over three sessions under libver='latest'.

All files of job `sh5` are vetted ONCE through the CLI (batch.yaml's allow_types, scanners
off, per-file promotion).
"""

from __future__ import annotations

import io

import h5py
import pytest

netCDF4 = pytest.importorskip("netCDF4")
pytest.importorskip("h5netcdf")

from tests.quarantine.test_attack_independent_dcontent import _policy  # noqa: E402
from tests.quarantine.test_attack_independent_econtent import _vet  # noqa: E402
from tests.support import attack_sh5_cases as cases  # noqa: E402
from tests.support import attack_sh5_controls as ctl  # noqa: E402
from tests.support import attack_sh5_kind as kind  # noqa: E402

HOLES: dict[str, str] = {}
# A group of both kinds: the refusal names the rule (session 40: a group's kind decided as
# libhdf5 does) or the name twice the merged walk sees first.
KIND_REFUSALS = {
    "kind/both-no-links.h5": "hdf5: /grp holds a link info message and a symbol table",
    "kind/both-link-pub.h5": "hdf5: the link name 'pub' appears twice in /grp",
}
FALSE_REJECTIONS = {
    "ctl/h5nc-nc4.nc": "h5netcdf's coordinate variable, then ONE netCDF4-python session "
                       "appending a variable: refused ('bytes ... after a continuation block of "
                       "the object header of /x are reached from no structure'); the docs list "
                       "only netCDF4-python appending TWICE to such a file as still refused",
    "ctl/h5-latest-3sess.h5": "h5py's attach_scale over three sessions under libver='latest': "
                              "refused ('bytes ... after the object header of /d0 are reached "
                              "from no structure ... an object header continuation block "
                              "nothing refers to'); the docs admit attach_scale over sessions "
                              "(oldlists.py) and list no such limit for version 2 headers",
}  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-sh5")
    controls = ctl.controls(base / "made")
    hostile = cases.payload_mutants(controls) | kind.cases(base / "kind")
    vetted = _vet(base, "sh5", controls | hostile, _policy())
    return {**vetted, "controls": controls, "hostile": hostile}


def _published(run, name: str) -> bool:
    return (run["out"] / name).is_file()


def test_every_file_has_a_verdict(run):
    assert set(run["controls"]) | set(run["hostile"]) <= set(run["entries"])


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=FALSE_REJECTIONS[n]))
        if n in FALSE_REJECTIONS
        else n
        for n in (f"ctl/{w}" for w in ctl.WRITERS)
    ],
)
def test_control_is_published_and_reads(run, name):
    assert _published(run, name), run["entries"][name]
    data = (run["out"] / name).read_bytes()
    assert data == run["controls"][name]
    with h5py.File(io.BytesIO(data), "r") as f:
        assert "x" in f


def test_mutants_exist(run):
    """The attack reached the leftovers: mutants of every workflow's file."""
    stems = {n.split("/")[1].split("@")[0] for n in run["hostile"] if n.startswith("mut/")}
    assert len(stems) == len(ctl.WRITERS)
    assert len(run["hostile"]) > 50


def test_payload_over_zeros_is_refused(run):
    """Each mutant carries PAYLOAD! where the writer left zeros: none may be published."""
    out = [n for n in run["hostile"] if _published(run, n) and n not in HOLES]
    assert not out, out[:10]


@pytest.mark.parametrize("name", sorted(KIND_REFUSALS))
def test_group_of_both_kinds_is_refused(run, name):
    """h5py lists /grp's link messages only ('pub' or nothing): 'secret' and its chosen
    bytes, in the symbol table libhdf5 never reads, reach no reader; refused as claimed."""
    with h5py.File(io.BytesIO(run["hostile"][name]), "r") as f:
        assert "secret" not in f["grp"] and "secret" not in list(f["grp"])
    assert not _published(run, name)
    assert run["entries"][name]["detail"].startswith(KIND_REFUSALS[name])
