"""One rule for a string a reader prints (terminal.py, session 39, attack o text): JSON's
strings (raw or \\u-escaped, keys and values), HDF5's variable-length strings, attribute
and link names, ROOT's key headers (class, name, title), FITS' string columns
(test_fits_string_controls.py). Refused: C0 but TAB LF CR (ESC, VT, FF, BS, BEL, NUL), DEL,
C1 (CSI U+009B, OSC U+009D); admitted: what writers write (json.dumps of non-ASCII, h5py
units, uproot's LaTeX titles) and bidi controls, as the text row admits them."""

from __future__ import annotations

import json

import pytest

from vmguard.quarantine.validators import jsonfmt, terminal, vet
from vmguard.quarantine.validators.stream import Invalid, Stream

RULE = "holds a control character"
# Climb 9 rows, erase a line, forge a summary, retitle; write the clipboard (OSC 52).
CLIMB = "\x1b[9A\x1b[2K\rsha256sum -c: all 412 files OK\x1b]0;vmguard: 0 refused\x07"
CLIPBOARD = "\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07"
HOSTILE = [CLIMB, CLIPBOARD, "\x9b2J", "a\x9d0;t\x9c", "\x07", "x\x00y", "\x7f", "\x0c", "\x0b", "\x08"]
ORDINARY = ["p_{T} [GeV]", "GeV/c²", "μm", "line 1\nline 2\ttab\r\n", "日本", "\U0001f600",
            "שלום\u200f (RLM)", "evil\u202egpj.exe", "\u2066isolated\u2069", "#mu^{+}#mu^{-}"]


def _json(data: bytes, size: int = 7) -> str:
    checker = jsonfmt.JsonChecker()
    for i in range(0, len(data), size):
        checker.feed(data[i : i + size])
    return checker.close()


@pytest.mark.parametrize("text", HOSTILE)
def test_the_rule_refuses_controls(text):
    with pytest.raises(terminal.TerminalString, match=RULE):
        terminal.check(text, "a string", "test")
    with pytest.raises(terminal.TerminalString, match=RULE):
        terminal.check(text.encode(), "a string", "test")


@pytest.mark.parametrize("text", ORDINARY)
def test_the_rule_admits_text_and_bidi(text):
    """Bidi controls reorder what is shown and drive no terminal: admitted, as in text."""
    terminal.check(text, "a string", "test")
    terminal.check(text.encode(), "a string", "test")


def test_bytes_not_utf8_are_latin1():
    terminal.check(b"caf\xe9", "a string", "test")  # Latin-1 é
    with pytest.raises(terminal.TerminalString, match="U\\+009B"):
        terminal.check(b"caf\xe9\x9b2J", "a string", "test")  # CSI to a terminal not UTF-8


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("where", ["value", "key"])
@pytest.mark.parametrize("ascii", [True, False])
def test_json_strings_are_terminal_text(text, where, ascii):
    value = {"status": text} if where == "value" else {text: 1}
    data = json.dumps(value, ensure_ascii=ascii).encode()
    with pytest.raises(terminal.TerminalString, match=RULE):
        _json(data)


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("ascii", [True, False])
def test_json_of_ordinary_strings_passes(indent, ascii):
    data = json.dumps({s: s for s in ORDINARY}, indent=indent, ensure_ascii=ascii).encode()
    assert _json(data) == "json"


def test_an_escaped_backslash_is_no_escape():
    assert _json(json.dumps(["\\u001b", "\\\\u009b", "C:\\f"]).encode()) == "json"


def test_json_a_serializer_did_not_lay_out_is_not_text_when_its_strings_drive_a_terminal():
    """`[1,2, "..."]` breaks the layout rules: held to the text rules it would be published
    (its \\u001b is six characters of text), yet jq reads it and prints ESC."""
    data = b'[1,2, 3, "\\u001b[9A\\u001b[2Kforged"]\n'

    def mime_of(head: bytes) -> str:
        return "text/plain"

    with pytest.raises(terminal.TerminalString, match=RULE):
        vet(Stream(iter([data])), mime_of)
    plain = b'[1,2, 3, "fine"]\n'
    assert vet(Stream(iter([plain])), mime_of)[0][0] == "text/plain"
    with pytest.raises(Invalid, match="followed by a space"):
        _json(plain)


def _hdf5(path, make) -> str:
    from vmguard.quarantine.validators import hdf5

    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        make(f)
    return hdf5.validate_inner(Stream(iter([path.read_bytes()])))


@pytest.mark.parametrize("text", [CLIMB, CLIPBOARD, "\x9b2J", "\x0c"])
@pytest.mark.parametrize(
    "place", ["attribute", "fixed attribute", "dataset", "attribute name", "link name", "soft link"]
)
def test_hdf5_strings_are_terminal_text(tmp_path, text, place):
    np = pytest.importorskip("numpy")
    h5py = pytest.importorskip("h5py")

    def make(f):
        if place == "attribute":
            f.attrs["status"] = text
        elif place == "fixed attribute":  # h5py's S dtype: bytes, .decode() before print
            f.attrs["status"] = np.array([b"ok", text.encode()])
        elif place == "dataset":
            f.create_dataset("s", data=np.array(["ok", text], dtype=h5py.string_dtype()))
        elif place == "attribute name":
            f.create_dataset("x", data=np.arange(3.0)).attrs[text] = 1
        elif place == "link name":
            f.create_dataset(f"x{text}", data=np.arange(3.0))
        else:
            f["link"] = h5py.SoftLink(f"/x{text}")

    with pytest.raises(terminal.TerminalString, match=RULE):
        _hdf5(tmp_path / "s.h5", make)


def test_hdf5_ordinary_strings_pass(tmp_path):
    np = pytest.importorskip("numpy")
    h5py = pytest.importorskip("h5py")

    def make(f):
        f.attrs["units"] = "GeV/c²"
        f.attrs["note"] = "line 1\nline 2\ttab"
        f.attrs["fixed"] = np.array([b"GeV", b"", "\u03bcm".encode()])
        f.attrs.create("utf8", "\u03bcm".encode(), dtype=h5py.string_dtype("utf-8", 8))
        f.create_dataset("labels", data=np.array(ORDINARY, dtype=h5py.string_dtype()))
        f.create_dataset("x", data=np.arange(3.0)).attrs["unit"] = "μm"

    assert _hdf5(tmp_path / "ok.h5", make) == "hdf5"


def _root(path, title: str, name: str = "h") -> str:
    from vmguard.quarantine.validators import root

    np = pytest.importorskip("numpy")
    uproot = pytest.importorskip("uproot")
    from uproot.writing.identify import to_TAxis, to_TH1x

    counts = np.array([0.0, 3.0, 5.0, 0.0])
    axis = to_TAxis("xaxis", "", 2, 0.0, 2.0)
    hist = to_TH1x(fName=name, fTitle=title, data=counts, fEntries=8.0, fTsumw=8.0, fTsumw2=8.0,
                   fTsumwx=10.5, fTsumwx2=16.0, fSumw2=counts, fXaxis=axis)
    with uproot.recreate(path) as f:
        f[name] = hist
        f.mktree("events", {"pt": np.float64}, title=title)
        f["events"].extend({"pt": np.arange(3.0)})
    return root.validate(Stream(iter([path.read_bytes()])))


@pytest.mark.parametrize("text", [CLIMB, CLIPBOARD, "\x9b2J", "a\x9d0;t\x9c"])
def test_root_titles_are_terminal_text(tmp_path, text):
    with pytest.raises(terminal.TerminalString, match=RULE):
        _root(tmp_path / "t.root", text)


def test_root_names_are_terminal_text(tmp_path):
    with pytest.raises(terminal.TerminalString, match="the name of the key"):
        _root(tmp_path / "n.root", "ok", name="h\x1b[2K")


@pytest.mark.parametrize("title", ["p_{T} [GeV];Events / 10 GeV", "#mu^{+}#mu^{-} mass", "évents ☃", ""])
def test_root_latex_titles_pass(tmp_path, title):
    assert _root(tmp_path / "ok.root", title) == "root"
