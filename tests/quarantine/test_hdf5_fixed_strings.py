"""Every fixed-length string an HDF5 reader returns is terminal text (session 40, issue #13;
hdf5/fixedtext.py): h5py returns a dataset's `S` strings as bytes, and `.decode()` or
`.asstr()` then `print` hands a terminal what they hold, alone or in a compound, nested,
in an array member, in a variable-length sequence, as the fill value of chunks never
written, whatever the storage (compact, contiguous, chunked with shuffle, deflate and
fletcher32). A compound's or an enum's member names and an opaque type's tag are printed
too (h5py's dtype, h5dump). Refused naming the rule (terminal.py); admitted byte-identical
through the CLI: units, each padding (NULLPAD, NULLTERM, SPACEPAD), Latin-1 without C1,
UTF-8 whose continuation bytes lie in 80..9F, TAB LF CR, strings longer than the walk's
window, 50 MB of them. The window's fast reading is compared with terminal.check string by
string on strings built to straddle its shortcuts."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")

from tests.support import attack_nh5_tools as tools  # noqa: E402
from tests.support.hdf5_refusal import refusal  # noqa: E402
from vmguard.quarantine.validators import terminal  # noqa: E402
from vmguard.quarantine.validators.hdf5 import fixedtext  # noqa: E402

RULE = "holds a control character"
CLIMB = b"\x1b[9A\x1b[2K"  # climb 9 rows, erase the line
TITLE = b"\x1b]0;ok\x07"  # OSC 0: the window title
CSI_UTF8 = "\x9b2J".encode()  # C1 CSI as UTF-8 (C2 9B): clears the screen
OSC_LATIN1 = b"\x9d0;t\x9c"  # C1 OSC as a Latin-1 byte (not UTF-8)
HOSTILE = {"esc": CLIMB, "osc": TITLE, "c1utf8": CSI_UTF8, "c1latin1": OSC_LATIN1, "del": b"a\x7f"}


def _file(make, **kw) -> bytes:
    with tempfile.TemporaryDirectory(prefix="h5strings-") as where:
        path = Path(where) / "f.h5"
        with h5py.File(path, "w", **kw) as f:
            make(f)
        return path.read_bytes()


def _strings(text: bytes, n: int = 2, size: int = 16) -> np.ndarray:
    """n strings, the last `text`, the others honest."""
    return np.array([b"GeV"] * (n - 1) + [text], dtype=f"S{size}")


def _compact(f, text):
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    f.create_dataset("d", data=_strings(text), dcpl=dcpl)


def _chunked(f, text):
    f.create_dataset("d", data=_strings(text, 3000), chunks=(1000,), compression="gzip", shuffle=True,
                     fletcher32=True)


def _compound(f, text):
    dt = np.dtype([("n", "<i4"), ("unit", "S16")])
    f.create_dataset("d", data=np.array([(1, b"GeV"), (2, text)], dtype=dt))


def _nested(f, text):
    inner = np.dtype([("x", "<f8"), ("label", "S16")])
    dt = np.dtype([("n", "<i2"), ("in", inner)])
    f.create_dataset("d", data=np.array([(1, (0.5, b"ok")), (2, (1.5, text))], dtype=dt))


def _array_member(f, text):
    dt = np.dtype([("n", "<i4"), ("names", "S16", (3,))])
    f.create_dataset("d", data=np.array([(1, [b"a", b"b", b"c"]), (2, [b"a", text, b"c"])], dtype=dt))


def _sequence(f, text):
    d = f.create_dataset("d", shape=(2,), dtype=h5py.vlen_dtype(np.dtype("S16")))
    d[0] = _strings(b"ok")
    d[1] = _strings(text)


def _attribute_member(f, text):
    dt = np.dtype([("n", "<i4"), ("unit", "S16")])
    f.create_dataset("d", data=np.arange(3.0)).attrs["meta"] = np.array([(1, b"GeV"), (2, text)], dtype=dt)


def _fill(f, text):
    d = f.create_dataset("d", shape=(100,), dtype="S16", chunks=(10,), fillvalue=text)
    d[:10] = _strings(b"ok", 10)


def _long(f, text):  # one string longer than the walk's window, the control at its end
    size = fixedtext.WINDOW + 4096
    f.create_dataset("d", data=np.array([b"x" * (size - len(text)) + text], dtype=f"S{size}"))


def _long_array(f, text):  # an element larger than the window: an array of strings
    dt = np.dtype([("names", "S8", (200_000,))])
    value = np.zeros(1, dtype=dt)
    value["names"][0][:] = b"GeV"
    value["names"][0][150_000] = text[:8]
    f.create_dataset("d", data=value)


PLACES = {
    "compact": (_compact, "/d (element 1)"),
    "contiguous": (lambda f, text: f.create_dataset("d", data=_strings(text)), "/d (element 1)"),
    "chunked": (_chunked, "/d (element 2999)"),
    "compound": (_compound, "/d (element 1)"),
    "nested": (_nested, "/d (element 1)"),
    "array member": (_array_member, "/d (element 1)"),
    "sequence": (_sequence, "/d"),
    "attribute member": (_attribute_member, "an attribute of /d (element 1)"),
    "fill value": (_fill, "the fill value of /d (element 0)"),
    "long string": (_long, "/d (element 0)"),
    "long array": (_long_array, "/d (element 0)"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_control_in_a_fixed_string_is_refused(place, kind):
    make, named = PLACES[place]
    reason = refusal(_file(lambda f: make(f, HOSTILE[kind])))
    assert RULE in reason and "a fixed-length string of " + named in reason, reason


def test_a_chunked_string_is_named_by_its_place_in_the_dataset():
    def make(f):
        data = np.full((6, 5), b"ok", dtype="S4")
        data[4, 3] = b"\x1b[2J"
        f.create_dataset("d", data=data, chunks=(4, 2))

    assert "a fixed-length string of /d (element 23) " + RULE in refusal(_file(make))


def _opaque(f):
    tid = h5py.h5t.create(h5py.h5t.OPAQUE, 4)
    tid.set_tag(b"raw\x1b]0;x\x07")
    h5py.h5d.create(f.id, b"d", tid, h5py.h5s.create_simple((2,)))


NAMES = {
    "member name": lambda f: f.create_dataset("d", data=np.zeros(2, dtype=[("e\x1b[2K", "<i4")])),
    "nested member name": lambda f: f.create_dataset(
        "d", data=np.zeros(2, dtype=[("a", [("b\x9b2J", "<i4")])])
    ),
    "enum name": lambda f: f.create_dataset(
        "d", data=np.zeros(2, "i1"), dtype=h5py.enum_dtype({"ok": 0, "b\x1b]0;t\x07": 1}, basetype="i1")
    ),
    "opaque tag": _opaque,
}


@pytest.mark.parametrize("place", sorted(NAMES))
def test_a_control_in_a_type_name_is_refused(place):
    reason = refusal(_file(NAMES[place]))
    named = "the tag of an opaque datatype" if place == "opaque tag" else "a member name in the datatype"
    assert reason.startswith(f"hdf5: {named} of /d {RULE}"), reason


def _padded(f, pad: int, values: list[bytes]) -> None:
    """A dataset whose strings have the padding `pad` (h5py writes NULLPAD alone)."""
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(12)
    tid.set_strpad(pad)
    d = h5py.h5d.create(f.id, f"pad{pad}".encode(), tid, h5py.h5s.create_simple((len(values),)))
    d.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array(values, dtype="S12"))


def _honest(f):
    f.create_dataset("units", data=np.array([b"GeV", b"GeV/c", "\u03bcm".encode(), b""], dtype="S8"))
    f.create_dataset("latin1", data=np.array([b"caf\xe9", b"\xb5m", b"\xe0 \xff"], dtype="S6"))
    f.create_dataset("text", data=np.array([b"a\tb", b"line 1\nline 2\r\n"], dtype="S20"))
    # UTF-8 whose continuation bytes are 80..9F (the bytes of C1 in Latin-1), filling
    # each string exactly: adjacent strings, no NUL between them
    words = ["\u041f\u0440\u0438", "\u20ac\u20ac", "\u2026\u2026", "\u0391\u0392\u0393"]
    f.create_dataset("utf8", data=np.array([w.encode() for w in words], dtype="S6"),
                     chunks=(2,), compression="gzip", shuffle=True)
    dt = np.dtype([("n", "<i4"), ("unit", "S3"), ("names", "S6", (2,))])
    f.create_dataset("table", data=np.array([(1, "\u20ac".encode(), ["\u041f\u0440\u0438".encode(), b"x"])], dtype=dt))
    f.attrs["units"] = np.array([(1, b"GeV")], dtype=[("n", "<i4"), ("unit", "S4")])
    for pad in (h5py.h5t.STR_NULLTERM, h5py.h5t.STR_NULLPAD, h5py.h5t.STR_SPACEPAD):
        _padded(f, pad, [b"GeV", b"", b"a b", "\u03bcm".encode()])
    d = f.create_dataset("sparse", shape=(1000,), dtype="S8", chunks=(100,), fillvalue=b"n/a")
    d[:100] = np.array([b"ok"] * 100, dtype="S8")
    size = fixedtext.WINDOW + 10
    f.create_dataset("long", data=np.array(["\u20ac".encode() * (size // 3)], dtype=f"S{size}"))
    f.create_dataset("seq", shape=(1,), dtype=h5py.vlen_dtype(np.dtype("S4")))[0] = np.array([b"GeV"], "S4")
    f.create_dataset("named", data=np.zeros(2, dtype=[("p_T [GeV]", "<f8"), ("\u03b7", "<f8")]))


def _big(f):
    words = np.array([b"GeV/c", "\u03bcm".encode(), "\u20ac".encode(), b"n/a", b"x" * 10], dtype="S10")
    data = np.resize(words, 50_000_000 // 10)
    f.create_dataset("big", data=data)
    f.create_dataset("chunked", data=data[: 10_000_000 // 10], chunks=True, compression="gzip", shuffle=True)


CONTROLS = {"ctl-h5strings-honest.h5": _honest, "ctl-h5strings-big.h5": _big}


def test_honest_fixed_strings_are_admitted_byte_identical(tmp_path):
    files = {name: _file(make) for name, make in CONTROLS.items()}
    for data in files.values():
        assert refusal(data) == "accepted"
    entries, out, _ = tools.vet(files, tmp_path)
    for name, data in files.items():
        assert entries[name]["verdict"] == "accepted", entries[name]["detail"]
        assert (out / name).read_bytes() == data


UTF8 = [b"a", b"GeV", b"\xe2\x82\xac", b"\0", b"\xd0\x9f", b"\t", b"\n", b"\xf0\x9f\x98\x80"]
LATIN1 = [b"a", b"GeV", b"\0", b"\xe9", b"\xb5", b"\r\n"]
HOSTILE_PIECES = [b"\x1b", b"\x7f", b"\xc2\x9b", b"\xc2", b"\x9b", b"\x80", b"\xe2", b"\x82\xac"]
GAP = b"\x1b\x9b\xc2\x82\x7f\x80\xbfa\0"  # what lies between strings: not read as text


def _terminal(raw: bytes, tmap: bytes) -> bool:
    """Whether terminal.check refuses one of the strings `tmap` marks, each alone."""
    for start in (i for i, b in enumerate(tmap) if b == 1):
        end = start + 1
        while end < len(tmap) and tmap[end] == 2:
            end += 1
        try:
            terminal.check(raw[start:end].replace(b"\0", b""), "s", "t")
        except terminal.TerminalString:
            return True
    return False


def _element(rng: random.Random, tmap: bytes, rate: float) -> bytes:
    """One element: its strings most often honest (UTF-8, Latin-1, NULs), else with cut
    characters and controls (at `rate`); hostile bytes between them."""
    out = bytearray()
    for at, kind in enumerate(tmap):
        if kind == 0:
            out.append(rng.choice(GAP))
        elif kind == 1:
            end = tmap.find(b"\1", at + 1)
            end = len(tmap) if end < 0 else min(end, at + len(tmap[at:].split(b"\0")[0]))
            out += _string(rng, end - at, rng.random() < rate)
    return bytes(out)


def _string(rng: random.Random, size: int, hostile: bool) -> bytes:
    """`size` bytes of pieces: honest ones whole (UTF-8, or Latin-1), NUL-padded; or any,
    cut at the end."""
    text, honest = b"", rng.choice([UTF8, LATIN1])
    while len(text) < size:
        piece = rng.choice(UTF8 + LATIN1 + HOSTILE_PIECES if hostile else honest)
        if not hostile and len(text) + len(piece) > size:
            return text + bytes(size - len(text))
        text += piece
    return text[:size]


@pytest.mark.parametrize("seed", range(40))
def test_the_window_reads_each_string_as_terminal_check_does(seed):
    """Random elements of strings and other bytes, built from pieces that straddle the
    fast path's shortcuts (a character cut between two strings, NUL inside a sequence,
    Latin-1 next to UTF-8, controls between strings): refused exactly when a string
    alone is. Odd seeds: more than fixedtext._GATHERED bytes of strings an element
    (zeroed in place, not gathered)."""
    rng = random.Random(seed)
    low, high = (22, 30) if seed % 2 else (1, 5)
    sizes = [rng.randint(low, high) for _ in range(rng.randint(3 if seed % 2 else 1, 4))]
    tmap = b"".join(b"\0" * rng.randint(0, 2) + b"\1" + b"\2" * (s - 1) for s in sizes)
    verdicts = set()
    for _ in range(30):
        rate = rng.choice([0, 0.1])  # half the windows honest but for what lies between strings
        raw = b"".join(_element(rng, tmap, rate) for _ in range(rng.randint(1, 6)))
        expected = _terminal(raw, tmap * (len(raw) // len(tmap)))
        try:
            fixedtext.elements(raw, tmap, fixedtext.Numbering("/d"))
            got = False
        except terminal.TerminalString:
            got = True
        assert got == expected, (raw, tmap)
        verdicts.add(got)
    assert verdicts == {True, False}  # both verdicts seen: the case is not trivial


WIDE = b"\1" + b"\2" * 69  # more strings bytes than fixedtext._GATHERED: zeroed in place
SHORTCUTS = {  # (the map of one element, the elements' bytes, refused)
    "a character cut between two strings": (b"\1\2\2\1\2\2", b"ab\xe2\x82\xaca", True),
    "C2 then 9B across two strings": (b"\1\2\1\2", b"a\xc2\x9ba", True),
    "a character cut across a gap": (b"\1\2\0\1\2", b"a\xe2\0\x82\xac", True),
    "a cut character, the strings wide": (WIDE + b"\0" + WIDE, b"a" * 69 + b"\xe2" + b"\0" + b"\x82\xac" + b"a" * 68,
                                          True),
    "whole characters side by side": (b"\1\2\2\1\2\2", "\u20ac\u20ac".encode(), False),
    "NUL inside a character": (b"\1\2\2\2", b"\xe2\0\x82\xac", False),
    "controls between strings": (b"\1\2\0\0\1\2", b"ab\x1b\x9bcd", False),
    "controls between wide strings": (WIDE + b"\0\0" + WIDE, b"a" * 70 + b"\x1b\x9b" + "\u20ac".encode() * 23 + b"a",
                                      False),
    "C1 after controls between strings": (b"\1\2\0\1\2\2", b"ab\x1b" + "x\u009b".encode(), True),
    "ESC after ESC between wide strings": (WIDE + b"\0" + WIDE, b"a" * 70 + b"\x1b" + b"a" * 69 + b"\x1b", True),
    "ESC after ESC between strings": (b"\1\2\0\1\2", b"ab\x1bc\x1b", True),
    "a character cut between two elements": (b"\1\2\2", b"ab\xe2\x82\xaca", True),
    "whole characters in elements side by side": (b"\1\2\2", "\u20ac\u20ac".encode(), False),
}


@pytest.mark.parametrize("case", sorted(SHORTCUTS))
def test_each_shortcut_of_the_window_reads_strings_alone(case):
    tmap, raw, refused = SHORTCUTS[case]
    assert _terminal(raw, tmap * (len(raw) // len(tmap))) == refused  # the rule itself
    if refused:
        with pytest.raises(terminal.TerminalString, match=RULE):
            fixedtext.elements(raw, tmap, fixedtext.Numbering("/d"))
    else:
        fixedtext.elements(raw, tmap, fixedtext.Numbering("/d"))


def test_utf8_cut_by_the_strings_size_is_read_as_latin1():
    """A UTF-8 string its fixed size cuts mid-character is no UTF-8: read as Latin-1, as
    terminal.check reads it, its continuation byte 9F (of U+041F) is C1 APC: refused, as
    an attribute's was since session 39; cut between characters it passes."""
    word = "\u041f\u0440\u0438".encode()  # D0 9F D1 80 D0 B8

    def cut(size):
        return _file(lambda f: f.create_dataset("d", data=np.array([word[:size]], dtype=f"S{size}")))

    assert "(U+009F, at 1)" in refusal(cut(5))
    assert refusal(cut(4)) == "accepted"
