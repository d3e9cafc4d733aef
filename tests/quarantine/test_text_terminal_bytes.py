"""What `cat` of a text file does to a terminal beyond the file's own lines (session 36,
attack k's holes 6 and 7).

ESC [ A is admitted only while the cursor stays on the file's own lines: each LF one row
down, each ESC [ A one up, never above the first nor more than 8 above the lowest reached
(validators/text.py, TextChecker._climb: `tail` and `grep` show a slice),
however the chunks cut the file. Real tqdm output, nested every way a training loop nests
it, stays admitted. A UTF-16 file's bytes hold no 0x1B and no C2 xx a UTF-8 terminal acts
on as a C1 control (CSI, OSC, DCS, SOS, PM, APC, RI, DECID): `cat` writes bytes, not
characters; lone 0x80..0x9F bytes, which Greek, CJK and arrows need in UTF-16, and the
other C1 pairs, which Korean needs, stay admitted."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from vmguard.quarantine.validators import Invalid, Stream, jsonfmt, text

tqdm = pytest.importorskip("tqdm")

_UP = b"\x1b[A"
_SIZES = (1, 2, 3, 5, 4096)


def _judge(data: bytes, size: int) -> str:
    return text.validate(Stream(iter([data[i : i + size] for i in range(0, len(data), size)])))


def _refused(data: bytes, size: int) -> str:
    with pytest.raises(Invalid) as err:
        _judge(data, size)
    return str(err.value)


CLIMBS = {  # data, the byte of the cursor-up that leaves the file's lines
    "up-first": (_UP + b"forged\n", 0),
    "cr-then-up": (b"\r" + _UP + b"forged\n", 1),
    "one-too-many": (b"a\nb\n" + _UP * 3 + b"\rforged\n", 10),
    "vt-ff-not-counted": (b"a\x0b\x0c" + _UP, 3),  # a terminal may not move down for them
    "wrapped-line-not-counted": (b"y" * 300 + _UP, 300),
    "ups-then-lfs": (b"a\n" + _UP + _UP + b"\n\n", 5),  # order counts, not totals
    "latin-1": ("°C\n".encode("latin-1") + _UP * 2, 6),
    "utf-8": ("µs\n".encode() + _UP * 2, 7),
}
STAYS = {
    "as-many-as-lfs": b"a\nb\n" + _UP * 2 + b"\rc\n\n",
    "down-up-down": b"\n" + _UP + b"\n" + _UP + b"\n" + _UP + b"x",
    "after-cr": b"a\n\r" + _UP + b"\r",
}


@pytest.mark.parametrize("size", _SIZES)
@pytest.mark.parametrize("name", sorted(CLIMBS))
def test_a_cursor_up_above_the_first_line_is_refused(name, size):
    data, byte = CLIMBS[name]
    assert f"ESC [ A near byte {byte} moves the cursor above" in _refused(data, size)


@pytest.mark.parametrize("size", _SIZES)
@pytest.mark.parametrize("lines", [9, 1000])
def test_lines_that_climb_more_than_eight_rows_in_all_are_refused(lines, size):
    """A reader may show any of the lines (`grep`, `sort`, `cat -s`): a line's cursor-ups
    beyond its first climb wherever it is shown, so their sum is bounded (text.MAX_RISE,
    8: a view of whole lines climbs 1 + that sum)."""
    assert _judge(b"x\n" * lines + _UP * 8 + b"\rshown\n", size) == "text"  # 7 beyond the first
    refused = _refused(b"x\n" * lines + _UP * 9, size)
    assert f"ESC [ A near byte {2 * lines + 3 * 8} lets a view of its lines climb more than 8" in refused
    spread = b"x\n" * lines + (_UP * 3 + b"\n" * 3) * 4  # 2 beyond the first, 4 times: 8
    assert "climb more than 8 lines" in _refused(spread, size)
    assert _judge(b"x\n" * lines + (_UP + b"\n") * 500, size) == "text"  # one a line: any number


def test_a_grep_of_what_passes_climbs_at_most_eight_rows(tmp_path):
    """The bound is the reader's: real grep of a file that passes, picking every line
    with a cursor-up, climbs no more than 8 rows above its first line."""
    data = b"".join(b"\n" * 3 + b"FORGED" + _UP * (2 if i < 7 else 1) + b"\n" for i in range(40))
    assert _judge(data, 4096) == "text"
    (tmp_path / "job.err").write_bytes(data)
    shown = subprocess.run(["grep", "-a", "FORGED", str(tmp_path / "job.err")], capture_output=True, check=True)
    row = low = 0
    for part in shown.stdout.split(_UP)[:-1]:
        row = row + part.count(b"\n") - 1
        low = min(low, row)
    assert -8 <= low < 0


@pytest.mark.parametrize("size", _SIZES)
@pytest.mark.parametrize("name", sorted(STAYS))
def test_cursor_ups_within_the_file_are_text(name, size):
    assert _judge(STAYS[name], size) == "text"


def _bars(path: Path, levels: int, leave: bool, positions: bool, logged: bool) -> bytes:
    """A job's stderr: `levels` nested bars, inner ones leave=`leave`, position= given or
    left to tqdm, with log lines through tqdm.write between them."""
    log = logging.getLogger("textesc")
    log.propagate = False
    with path.open("w", encoding="utf-8") as err:

        class ToTqdm(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                tqdm.tqdm.write(self.format(record), file=err)

        def loop(depth: int) -> None:
            pos = {"position": depth} if positions else {}
            inner = {"leave": leave} if depth else {}
            for i in tqdm.tqdm(range(3), desc=f"l{depth}", file=err, mininterval=0, **pos, **inner):
                if depth + 1 < levels:
                    loop(depth + 1)
                elif logged and i == 1:
                    log.warning("depth %d: 3 events skipped", depth)

        handler = ToTqdm()
        log.addHandler(handler)
        try:
            loop(0)
        finally:
            log.removeHandler(handler)
    return path.read_bytes()


@pytest.mark.parametrize("leave", [False, True])
@pytest.mark.parametrize("positions", [False, True])
@pytest.mark.parametrize("logged", [False, True])
def test_two_nested_tqdm_bars_stay_within_their_lines(tmp_path, leave, positions, logged):
    data = _bars(tmp_path / "job.err", 2, leave, positions, logged)
    assert _UP in data and data.count(b"\x1b") == data.count(_UP)
    for size in (1, 7, 4096):
        assert _judge(data, size) == "text", size


@pytest.mark.parametrize("levels", [3, 5])
def test_three_nested_tqdm_bars_are_refused_for_what_grep_shows(tmp_path, levels):
    """Their lines climb 2 rows and more each: `grep` of a run climbs without bound."""
    data = _bars(tmp_path / "job.err", levels, False, True, True)
    assert "lets a view of its lines climb more than 8 lines" in _refused(data, 4096)


def test_a_bar_alone_at_a_lower_position_stays_within_its_lines(tmp_path):
    """position=2 with nothing above it: tqdm moves down 2 first, then up 2."""
    with (tmp_path / "w.err").open("w", encoding="utf-8") as err:
        for _ in tqdm.tqdm(range(3), file=err, mininterval=0, position=2):
            pass
    data = (tmp_path / "w.err").read_bytes()
    assert data.startswith(b"\n\n") and _UP * 2 in data
    assert _judge(data, 1) == "text"


def _utf16(raw: bytes, order: str) -> bytes:
    """UTF-16 text (byte order mark first) whose bytes after the mark are `raw`."""
    bom = "\ufeff".encode(order)
    raw.decode(order)  # every pair is a character
    return bom + raw


TERMINAL_BYTES = {  # data, the byte named, what is said of it
    "le-esc-in-a-cjk-character": (_utf16(b"\x1b[8m", "utf-16-le"), 2, "0x1B"),
    "be-esc-in-a-character": (_utf16(b"[\x1b8m", "utf-16-be"), 3, "0x1B"),
    "esc-as-a-character": ("ok\x1b[A".encode("utf-16"), 6, "0x1B"),
    "le-csi-in-a-character": (_utf16(b"\xc2\x9b8m", "utf-16-le"), 2, "U+009B"),
    "be-osc-across-characters": (_utf16("a\u00c2\u9d00".encode("utf-16-be"), "utf-16-be"), 5, "U+009D"),
    "le-ri-across-characters": (_utf16("\uc218\u0b8d".encode("utf-16-le"), "utf-16-le"), 3, "U+008D"),
    "le-sos-across-characters": (_utf16("\uc218\u0b98".encode("utf-16-le"), "utf-16-le"), 3, "U+0098"),
    "be-apc-in-a-character": (_utf16("\uc29f".encode("utf-16-be"), "utf-16-be"), 2, "U+009F"),
    "le-decid-cut-pair": (_utf16("ab\uc200\u009a".encode("utf-16-le"), "utf-16-le"), 7, "U+009A"),
    "late-after-text": (_utf16("line\n".encode("utf-16-le") * 900 + b"\x1b[", "utf-16-le"), 9002, "0x1B"),
    "le-enq-in-armenian": ("\ufeffԱ".encode("utf-16-le"), 3, "0x05 near byte 3 of UTF-16 text is ENQ"),
    "be-so-in-thai": ("\ufeffok ก".encode("utf-16-be"), 8, "0x0E near byte 8 of UTF-16 text is SO"),
    "le-si-in-tibetan": ("\ufeffༀ".encode("utf-16-le"), 3, "0x0F near byte 3 of UTF-16 text is SI"),
    "le-enq-in-polish": ("\ufeffzą".encode("utf-16-le"), 4, "is ENQ"),
}


@pytest.mark.parametrize("size", _SIZES)
@pytest.mark.parametrize("name", sorted(TERMINAL_BYTES))
def test_utf16_bytes_a_terminal_acts_on_are_refused(name, size):
    data, byte, what = TERMINAL_BYTES[name]
    said = _refused(data, size)
    assert f"near byte {byte} of UTF-16" in said and what in said and "`cat` writes" in said, said


@pytest.mark.parametrize("order", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("size", [1, 3, 4096])
def test_utf16_letters_with_bytes_0x80_to_0x9f_stay_text(order, size):
    """Λ Ν (Greek), 道 通 (CJK), ← (arrows), Ґ (Ukrainian): single 0x9B 0x9D 0x90 bytes, no
    UTF-8 a terminal decodes, as a log of a Windows job writes them."""
    data = "\ufeffΛ=1 Ν=2\r\n道通 ← Ґ\r\n".encode(order) * 50
    assert any(b in data for b in (b"\x9b", b"\x9d", b"\x90"))
    assert _judge(data, size) == "text:utf-16"


@pytest.mark.parametrize("order", ["utf-16-le", "utf-16-be"])
def test_utf16_letters_with_c0_bytes_a_terminal_ignores_stay_text(order):
    """Greek (03: ETX), Cyrillic (04: EOT), Arabic (06: ACK), a CJK character on 0x01:
    bytes a terminal ignores; BS, HT, LF, CR bytes move it as text's own controls do."""
    data = "\ufeffΔΣ Привет مرحبا 丁 \u0908 \u0a10\r\n".encode(order) * 20
    assert all(b in data for b in (b"\x03", b"\x04", b"\x06", b"\x01", b"\x09", b"\x0a"))
    assert _judge(data, 3) == "text:utf-16"


@pytest.mark.parametrize("order", ["utf-16-le", "utf-16-be"])
def test_korean_utf16_with_harmless_c1_pairs_stays_text(order):
    """수는 (LE: 18 C2 94 B2, CCH), 슈퍼 (BE: C2 88, HTS): C1 pairs a terminal acts on
    only by marking or not at all."""
    data = "\ufeff수는 슈퍼 수납\r\n".encode(order) * 20
    assert b"\xc2\x94" in data or b"\xc2\x88" in data
    assert _judge(data, 3) == "text:utf-16"


def test_cursor_up_in_json_is_refused_by_the_json_rule():
    """RFC 8259 escapes a control character in a string: a raw ESC [ A is no JSON value, so
    a .json holding one is refused whatever its lines (served.py refuses text named .json)."""
    for data in (b'{"a": "\\n\x1b[A"}', b'["x",\n"\x1b[A"]'):
        with pytest.raises(Invalid, match="not one strict JSON value"):
            jsonfmt.validate(Stream(iter([data])))


def test_exactly_these_utf16_bytes_are_refused():
    """Every byte alone (as the low byte of U+41xx, a CJK character) and after C2 (U+xxC2):
    only ENQ SO SI ESC alone, and C2 before RI DCS SOS DECID CSI OSC PM APC, are refused."""
    alone = {b for b in range(256) if _refused_or_none(bytes((b, 0x41)))}
    assert alone == {0x05, 0x0E, 0x0F, 0x1B}
    paired = {b for b in set(range(256)) - alone - set(range(0xD8, 0xE0)) if _refused_or_none(bytes((0xC2, b)))}
    assert paired == {0x8D, 0x90, 0x98, 0x9A, 0x9B, 0x9D, 0x9E, 0x9F}


def _refused_or_none(raw: bytes) -> str | None:
    try:
        assert _judge(_utf16(raw, "utf-16-le"), 4096) == "text:utf-16"
    except Invalid as err:
        return str(err)
    return None
