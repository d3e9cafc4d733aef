"""JSON's `\\u` escapes of a control in text (session 40, attack q content; textescapes.py):
what a JSON reader reads but vmguard takes for text (JSON lines, one value behind white
space, a BOM or in UTF-16, a top-level string, values back to back, NaN or 042 on the way)
is refused when an escape names a control jq -r and json.load would print raw, in every
encoding and wherever a chunk cuts it. Ordinary text that quotes escapes is admitted:
`\\u00e9`, `\\u2028`, `\\u0009`, an escaped backslash (`\\\\u001b`), LaTeX's `\\beta`, a
regex's `\\b`, Python's repr `'\\x1b'`. Each hostile file is checked to be what a reader
decodes to ESC (the test can fail both ways)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest

from tests.quarantine.test_validators import chunked
from vmguard.quarantine import validators
from vmguard.quarantine.validators import Invalid, terminal, text
from vmguard.quarantine.validators.stream import Stream

pd = pytest.importorskip("pandas")

FORGE = "\x1b[9A\x1b[2KFORGED: all 40 jobs passed"
RECORD = json.dumps({"step": 2, "status": FORGE})  # json.dumps writes \u001b
UPPER = RECORD.replace("\\u001b", "\\u001B")  # Jackson (Java) writes \u001B
RULE = re.escape("is the control U+001B to a reader that decodes JSON")


def _vet(data: bytes, size: int = 4096) -> list:
    return validators.vet(chunked(data, size), lambda head: "text/plain")


def _lines() -> bytes:
    frame = pd.DataFrame({"step": [1, 2], "status": ["ok", FORGE]})
    return frame.to_json(orient="records", lines=True).encode()


SHAPES = {  # name: (bytes, what a JSON reader returns from them)
    "jsonl-pandas": (_lines(), lambda d: pd.read_json(io.BytesIO(d), lines=True)["status"][1]),
    "jsonl-first": ((RECORD + "\n" + json.dumps({"a": 1}) + "\n").encode(), None),
    "space": ((" " + RECORD).encode(), lambda d: json.loads(d)["status"]),
    "crlf": ((RECORD + "\r\n").encode(), lambda d: json.loads(d)["status"]),
    "two-newlines": ((RECORD + "\n\n").encode(), lambda d: json.loads(d)["status"]),
    "bom": (b"\xef\xbb\xbf" + RECORD.encode(), lambda d: json.loads(d)["status"]),
    "utf-16-le": (b"\xff\xfe" + RECORD.encode("utf-16-le"), lambda d: json.loads(d)["status"]),
    "utf-16-be": (b"\xfe\xff" + RECORD.encode("utf-16-be"), lambda d: json.loads(d)["status"]),
    "upper-hex": ((" " + UPPER).encode(), lambda d: json.loads(d)["status"]),
    "scalar-osc": (json.dumps("\x1b]0;pwned\x07").encode() + b"\n", json.loads),
    "concat": ((json.dumps({"step": 1}) + RECORD).encode(), None),
    "nan": (json.dumps({"loss": float("nan"), "status": FORGE}).encode(),
            lambda d: json.loads(d)["status"]),
    "infinity": (json.dumps({"loss": float("inf"), "status": FORGE}).encode(),
                 lambda d: json.loads(d)["status"]),
    "leading-zero": (('{"run": 042, "status": ' + json.dumps(FORGE) + "}").encode(), None),
    "c1-csi": ((" " + json.dumps({"a": "\x9b2J"})).encode(), lambda d: json.loads(d)["a"]),
    "latin-1": (b"caf\xe9 " + RECORD.encode(), None),  # not UTF-8: judged as Latin-1
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_json_escape_of_a_control_is_refused_in_text(name):
    data, read = SHAPES[name]
    if read is not None:  # what the reader hands a terminal
        assert terminal.CONTROL.match(read(data)), name
    with pytest.raises(terminal.TerminalString, match=r"text: the escape \\u00.. near byte \d+ is the control"):
        _vet(data)


def test_the_refusal_names_the_escape_and_its_byte():
    data = ("Zürich, µ\n" + RECORD).encode()
    at = data.index(b"\\u001b")
    with pytest.raises(Invalid, match=rf"the escape \\u001b near byte {at} {RULE}"):
        _vet(data)
    utf16 = "\ufeffZürich\n" + UPPER
    at = utf16.encode("utf-16-le").index("\\u001B".encode("utf-16-le"))
    with pytest.raises(Invalid, match=rf"the escape \\u001B near byte {at} {RULE}"):
        _vet(utf16.encode("utf-16-le"))


@pytest.mark.parametrize("boundary", [4096, 65536, 1 << 20])
@pytest.mark.parametrize("cut", range(0, 7))
def test_an_escape_cut_by_a_chunk_is_refused(boundary, cut):
    """The six characters straddle the chunk (cut of them before it), behind an odd run of
    backslashes that the chunk also cuts."""
    head = b"x" * (boundary - cut - 2) + b"\\\\"
    data = head + b"\\u001b[2J\n"
    assert json.loads(b'"' + data[len(head) - 2 :].rstrip() + b'"')[1] == "\x1b"
    for size in (boundary, boundary // 2):  # the validator's chunks exactly (vet's head peek joins
        chunks = iter([data[i : i + size] for i in range(0, len(data), size)])  # the first ones)
        with pytest.raises(Invalid, match=rf"near byte {len(head)} "):
            text.validate(Stream(chunks))
    with pytest.raises(Invalid, match=rf"near byte {len(head)} "):
        _vet(data, boundary)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 4096])
def test_an_escaped_backslash_is_no_escape_in_any_chunking(size):
    """json.dumps of the text `\\u001b` (a log quoting the escape) writes `\\\\u001b`: a
    JSON reader returns the six characters, which a terminal shows."""
    data = json.dumps({"note": "type \\u001b for ESC"}).encode() + b" done\n"
    assert b"\\\\u001b" in data and json.loads(data[: -len(b" done\n")])["note"].startswith("type \\u001b")
    assert _vet(data, size) == [("text/plain", "text")]
    with pytest.raises(Invalid, match="near byte 4 "):  # three backslashes: the third escapes
        _vet(b"ab\\\\\\u001b", size)


ORDINARY = {
    "accents": b'log: name="caf\\u00e9" sep="\\u2028" tab="\\u0009" nl="\\u000a" cr="\\u000D"\n',
    "latex": b"\\begin{equation} \\beta = \\frac{1}{2} \\forall \\beta \\end{equation}\n",
    "regex": b"re.compile(r'\\bword\\b\\s+\\f?') matched 3 times\n",
    "repr": repr({"colour": "\x1b[31mred\x1b[0m", "bell": "\x07"}).encode() + b"\n",
    "octal": b"printf '\\033[2J' clears the screen\n",
    "javascript": b"const esc = '\\u{1b}';\n",
    "not-hex": b"C:\\users\\u00gz and \\u00 and \\u001 end\n",
    "nbsp-and-latin": b'{"unit": "\\u00b5m", "name": "\\u00A0"} tail\n',
}


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_text_quoting_escapes_is_admitted(name):
    assert _vet(ORDINARY[name]) == [("text/plain", "text")]
    assert _vet(ORDINARY[name], 1) == [("text/plain", "text")]


def test_a_json_file_still_refuses_its_own_way():
    """Strict JSON is judged by the json rule (jsonfmt.py), which also refuses \\b."""
    with pytest.raises(Invalid, match=r"json: a string \(its escape \\u001b\)"):
        _vet(RECORD.encode())
    with pytest.raises(Invalid, match=r"json: a string \(its escape \\b\)"):
        _vet(json.dumps({"label": "$\beta$"}).encode())
    assert _vet(json.dumps({"label": "$\\beta$"}).encode())[0][1] == "json"


def _log(lines: int, last: bytes) -> Iterator[bytes]:
    block = b"".join(b"2026-12-06 04:00:%02d step %06d loss=0.25 path=C:\\\\runs\\\\a\n" % (i % 60, i)
                     for i in range(16384))
    for _ in range(lines):
        yield block
    yield last


def test_one_escape_at_the_end_of_200_mb_is_refused():
    blocks = 200 * (1 << 20) // len(next(_log(1, b"")))
    ok = validators.vet(Stream(_log(blocks, b"done\n")), lambda head: "text/plain")
    assert ok == [("text/plain", "text")]
    with pytest.raises(Invalid, match=RULE):
        validators.vet(Stream(_log(blocks, RECORD.encode() + b"\n")), lambda head: "text/plain")


def test_every_control_terminal_refuses_is_refused_as_an_escape():
    """One definition (terminal.ESCAPE, from terminal.CONTROL): each code point below U+0100, both hex cases."""
    for code in range(0x100):
        for spelled in {f"\\u{code:04x}", f"\\u{code:04X}"}:
            data = f"see {spelled} here\n".encode()
            refused = (code < 0x20 and code not in (0x09, 0x0A, 0x0D)) or 0x7F <= code <= 0x9F
            if refused:
                with pytest.raises(Invalid, match="to a reader that decodes JSON"):
                    _vet(data)
            else:
                assert _vet(data) == [("text/plain", "text")], spelled


def test_a_cut_character_that_turns_the_file_latin_1_ends_an_escape():
    """`\\u00` then E2 (a UTF-8 start cut by the chunk) then `1b`: not UTF-8, so Latin-1,
    where E2 is `â`: no escape, at any chunking."""
    data = b"caf\\u00\xe21b ok\n"
    for size in (1, 2, 3, 7, 8, 4096):  # the validator itself: vet's head peek joins small chunks
        chunks = iter([data[i : i + size] for i in range(0, len(data), size)])
        assert text.validate(Stream(chunks)) == "text:latin-1", size
