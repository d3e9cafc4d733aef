"""Strings inside a ROOT object's streamed payload are terminal text (session 40,
root_strings.py): a histogram's own fName and fTitle (uproot's `h.title`), its axes'
titles, a TObjString, a tree's title in its payload, the top directory's title, and the
StreamerInfo's class names, member names, comments and type names
(`f->ShowStreamerInfo()`). Files are uproot's; where uproot writes the same string in the
key header (which root.py judged before), the key's is made clean: uproot's add_object is
given a clean title (its payload, compressed by uproot, keeps the control), or an
uncompressed payload is edited in place, the same length. Honest titles (units, LaTeX,
μm) are admitted unchanged."""

from __future__ import annotations

import re

import numpy as np
import pytest
import uproot
from uproot.writing import _cascade
from uproot.writing.identify import to_TAxis, to_TH1x, to_TH2x, to_TProfile

from tests.quarantine.test_validators import vet
from vmguard.quarantine.validators import Invalid, terminal

ROOT = "application/x-root"
CONTROLS = {  # each a terminal acts on
    "esc": "\x1b[2K",
    "csi": "\u009b2J",
    "osc": "\x1b]52;c;aGk=\x07",
    "c1": "a\u009d0;t\u009c",
}
ZLIB = uproot.ZLIB(1)
HONEST = ["p_{T} [GeV/c]", "#eta", "μm", "#mu^{+}#mu^{-} mass;m [GeV];Events / 10 GeV", ""]
_CLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _axis(name: str, title: str = "", bins: int = 2) -> object:
    return to_TAxis(name, title, bins, 0.0, 2.0)


def _th1(title: str = "", xtitle: str = "") -> object:
    counts = np.array([0.0, 3.0, 5.0, 0.0])
    return to_TH1x(fName="h", fTitle=title, data=counts, fEntries=8.0, fTsumw=8.0, fTsumw2=8.0,
                   fTsumwx=10.5, fTsumwx2=16.0, fSumw2=counts, fXaxis=_axis("xaxis", xtitle))


def _th2(ytitle: str) -> object:
    counts = np.zeros(16)
    return to_TH2x(fName="h2", fTitle="", data=counts, fEntries=0.0, fTsumw=0.0, fTsumw2=0.0,
                   fTsumwx=0.0, fTsumwx2=0.0, fTsumwy=0.0, fTsumwy2=0.0, fTsumwxy=0.0, fSumw2=counts,
                   fXaxis=_axis("xaxis"), fYaxis=_axis("yaxis", ytitle))


def _profile(title: str) -> object:
    counts = np.zeros(4)
    return to_TProfile(fName="p", fTitle=title, data=counts, fEntries=0.0, fTsumw=0.0, fTsumw2=0.0,
                       fTsumwx=0.0, fTsumwx2=0.0, fTsumwy=0.0, fTsumwy2=0.0, fSumw2=counts,
                       fBinEntries=counts, fBinSumw2=counts, fXaxis=_axis("xaxis"))


def _write(path, objects: dict, compression=ZLIB, clean_keys: bool = False) -> bytes:
    """A file uproot writes; with clean_keys, each key's title without its controls (the
    payload uproot streams keeps them)."""
    add = _cascade.Directory.add_object

    def clean(self, sink, classname, name, title, *rest, **more):
        return add(self, sink, classname, name, _CLEAN.sub("", title), *rest, **more)

    with pytest.MonkeyPatch.context() as patch:
        if clean_keys:
            patch.setattr(_cascade.Directory, "add_object", clean)
        with uproot.recreate(path, compression=compression) as f:
            for name, value in objects.items():
                f[name] = value
    return path.read_bytes()


def _edited(data: bytes, old: bytes, new: bytes, skip: int) -> bytes:
    """data with the (skip + 1)-th occurrence of old replaced by new, as long."""
    assert len(old) == len(new)
    at = -1
    for _ in range(skip + 1):
        at = data.index(old, at + 1)
    return data[:at] + new + data[at + len(old) :]


def _refused(data: bytes, what: str) -> None:
    with pytest.raises(terminal.TerminalString, match=re.escape(what)):
        vet(data, ROOT)


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS)
@pytest.mark.parametrize("compression", [uproot.ZLIB(1), None], ids=["zlib", "uncompressed"])
def test_a_histograms_own_title_behind_a_clean_key_is_refused(tmp_path, control, compression):
    data = _write(tmp_path / "h.root", {"h": _th1(title=f"pt{control}")}, compression, clean_keys=True)
    assert uproot.open(tmp_path / "h.root")["h"].title == f"pt{control}"  # what a reader prints
    _refused(data, "the title of the TH1D in the key at")


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS)
def test_an_axis_title_is_refused(tmp_path, control):
    data = _write(tmp_path / "a.root", {"h": _th1(xtitle=f"m{control}")})
    _refused(data, "the title of its x axis of the TH1D in the key at")


def test_a_th2_y_axis_and_a_profile_title_are_reached(tmp_path):
    _refused(_write(tmp_path / "h2.root", {"h2": _th2("y\x1b[9A")}), "the title of its y axis of the TH2D")
    data = _write(tmp_path / "p.root", {"p": _profile("p\x1b]0;x\x07")}, clean_keys=True)
    _refused(data, "the title of the TProfile in the key at")


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS)
def test_a_tobjstring_is_refused(tmp_path, control):
    data = _write(tmp_path / "s.root", {"s": f"run 7{control}"})
    _refused(data, "the string of the TObjString in the key at")


def test_a_trees_title_in_its_payload_is_refused(tmp_path):
    path = tmp_path / "t.root"
    with uproot.recreate(path) as f:  # uproot writes a TTree uncompressed: edited in place
        f.mktree("t", {"x": np.float64}, title="tree AAAA")
        f["t"].extend({"x": np.arange(3.0)})
    # the payload's TNamed (after TObject's fBits), not a key's (after its class, TTree)
    data = re.sub(rb"(?<!TTree)\x01t\ttree AAAA", b"\x01t\ttree \x1b[2K", path.read_bytes())
    assert b"TTree\x01t\ttree AAAA" in data and b"tree \x1b[2K" in data  # the keys are clean
    _refused(data, "the title of the TTree in the key at")


def test_the_top_directorys_name_is_refused(tmp_path):
    data = bytearray(_write(tmp_path / "d.root", {"s": "x"}))
    begin = int.from_bytes(data[8:12], "big")
    keylen = int.from_bytes(data[begin + 14 : begin + 16], "big")
    name = data[begin + keylen]  # its payload: the TNamed's name ("d.root"), title, fields
    data[begin + keylen + name] = 0x1B  # "d.roo" ESC; the key's name stays "d.root"
    _refused(bytes(data), "the name of the top directory at")


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        (b"Basic ROOT object", b"Basic \x1b[2K object", "the title of a TStreamerElement"),
        (b"\x07TString", b"\x07TStr\x1b[m", "the type name of a TStreamerElement"),
        (b"\x05fName", b"\x05f\x9bNme", "the name of a TStreamerElement"),
        (b"\x0bTCollection\x00", b"\x0bTColl\x1b[31mn\x00", "the name of a TStreamerInfo"),
    ],
)
def test_the_streamer_infos_strings_are_refused(tmp_path, old, new, what):
    data = _write(tmp_path / "i.root", {"h": _th1()})  # uproot writes the StreamerInfo uncompressed
    _refused(_edited(data, old, new, skip=data.count(old) - 1), what)  # the live one: the last


@pytest.mark.parametrize("title", HONEST)
def test_honest_titles_are_admitted_unchanged(tmp_path, title):
    objects = {"h": _th1(title=title, xtitle=title), "h2": _th2(title), "p": _profile(title), "s": title}
    for compression in (uproot.ZLIB(1), uproot.LZ4(1), None):
        data = _write(tmp_path / "ok.root", objects, compression)
        assert vet(data, ROOT) == [(ROOT, "root")]
        assert uproot.open(tmp_path / "ok.root")["h"].title == title


def test_an_object_not_streamed_as_its_class_is_refused(tmp_path):
    """A TH1D whose TNamed lacks its byte count: no writer streams it so."""
    data = _write(tmp_path / "b.root", {"h": _th1(title="AAAA")}, compression=None)
    at = re.search(rb"(?<!TH1D)\x01h\x04AAAA", data).start() - 16  # not a key's: its TNamed's

    assert data[at] == 0x40
    with pytest.raises(Invalid, match="without its byte count"):
        vet(data[:at] + b"\x00" + data[at + 1 :], ROOT)


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        (b"\x01x\x03x/D", b"\x01x\x03\x1b/D", "the title of a branch of the TTree"),
        (b"\x01x\x03x/D", b"\x01x\x03\x9b/D", "the title of a branch of the TTree"),  # C1 as Latin-1
        (b"\x01y\x01y", b"\x01\x1b\x01y", "the name of a leaf of the TTree"),
        (b"\x01y\x01y", b"\x01y\x01\x07", "the title of a leaf of the TTree"),
    ],
)
def test_a_trees_branch_titles_and_leaf_names_are_refused(tmp_path, old, new, what):
    path = tmp_path / "b.root"
    with uproot.recreate(path) as f:  # TTree version 20, TBranch 13: uncompressed, edited in place
        f.mktree("t", {"x": np.float64, "y": np.float32})
        f["t"].extend({"x": np.arange(3.0), "y": np.arange(3.0, dtype=np.float32)})
    data = path.read_bytes()
    assert data.count(old) == 1 and vet(data, ROOT) == [(ROOT, "root")]
    _refused(data.replace(old, new), what)


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS)
def test_an_rntuples_field_name_is_refused(tmp_path, control):
    data = _write(tmp_path / "r.root", {"nt": {f"pt{control}": np.arange(3.0), "n": np.arange(3)}})
    _refused(data, "the name of a field of the RNTuple header at")


def test_an_rntuples_honest_fields_pass(tmp_path):
    data = _write(tmp_path / "r.root", {"nt": {"p_T": np.arange(3.0), "jets": [[1.0], [], [2.0, 3.0]]}})
    assert vet(data, ROOT) == [(ROOT, "root")]
