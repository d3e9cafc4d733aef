"""What `cat` of a text file does to a terminal beyond the file's own lines (session 36,
attack k's holes 6 and 7; session 39, attack o text).

ESC [ A is admitted at most once a line (LF to LF) and never on the first line
(validators/text.py, TextChecker._climb): whatever lines of whatever files a view shows
(`tail`, `grep -rh`, `sort`), it climbs at most 1 row above its first, however the chunks
cut the file. Real tqdm output, nested every way a training loop nests
it, stays admitted. A UTF-16 file's bytes hold no 0x1B and no C2 xx a UTF-8 terminal acts
on as a C1 control (CSI, OSC, DCS, SOS, PM, APC, RI, DECID): `cat` writes bytes, not
characters; lone 0x80..0x9F bytes, which Greek, CJK and arrows need in UTF-16, and the
other C1 pairs, which Korean needs, stay admitted."""

from __future__ import annotations

import io
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


FIRST_LINE = {  # data, the byte of the cursor-up before the file's first LF
    "up-first": (_UP + b"forged\n", 0),
    "cr-then-up": (b"\r" + _UP + b"forged\n", 1),
    "vt-not-counted": (b"a\x0b" + _UP, 2),  # VT is no line's end to grep
    "wrapped-line-not-counted": (b"y" * 300 + _UP, 300),
    "latin-1": ("°C".encode("latin-1") + _UP + b"\n", 2),
}
SECOND = {  # data, the byte of a line's second cursor-up
    "two-ups": (b"a\nb\n" + _UP * 2 + b"\rforged\n", 7),
    "cr-between": (b"a\nb\n" + _UP + b"\r" + _UP + b"\n", 8),
    "vt-between": (b"a\nb\n" + _UP + b"\x0b" + _UP + b"\n", 8),
    "ups-then-lfs": (b"a\n" + _UP + _UP + b"\n\n", 5),
    "latin-1": ("°C\n".encode("latin-1") + _UP * 2, 6),
    "utf-8": ("µs\n".encode() + _UP * 2, 7),
    "late": (b"x\n" * 1000 + _UP + b"x" * 5000 + _UP + b"\n", 2000 + 3 + 5000),
}
STAYS = {
    "one-a-line": b"a\nb\n" + _UP + b"\rc\n" + _UP + b"d\n",
    "down-up-down": b"\n" + _UP + b"\n" + _UP + b"\n" + _UP + b"x\n",
    # no LF at the end: the last line's cursor-up with none on the line before it (tac)
    "unterminated": b"a\n" + _UP + b"b\nc\n" + _UP + b"x",
    "unterminated-plain": b"a\n" + _UP + b"b\nlast words",
    "after-cr": b"a\n\r" + _UP + b"\r",
    "many": b"x\n" + (_UP + b"\n") * 5000,  # one a line: any number of lines
}


# GNU tac prints an unterminated last line joined to the line before it: their cursor-ups
# land on one row, 2 rows climbed; admitted, since a killed job's stderr ends so (session 40,
# attack q text's tac/epoch.err; docs: "one reader is bounded at 2 rows").
TAC = {
    "attack-q": b"epoch 1 done\n" + _UP + b"FORGED-LINE-1\n" + _UP,
    "down-up-down": b"\n" + _UP + b"\n" + _UP + b"\n" + _UP + b"x",
    "up-at-the-end-of-the-line-before": b"a\nb" + _UP + b"\nc" + _UP + b"d",
    "latin-1": "°C\n".encode("latin-1") + _UP + b"\n" + _UP,
}


def _lowest_row(shown: bytes) -> int:
    """How far above its first row a view climbs (rows counted as the terminal moves)."""
    row = low = 0
    for part in shown.split(_UP)[:-1]:
        row = row + part.count(b"\n") - 1
        low = min(low, row)
    return low


def test_tac_of_what_passes_climbs_at_most_two_rows(tmp_path):
    """Real GNU tac of admitted files: 1 row at most where a LF ends the file, 2 where the
    last line (no LF) is joined to the one before, one file or many."""
    paths = []
    for i, data in enumerate([*(v for k, v in STAYS.items() if k != "many"), *TAC.values()]):
        assert _judge(data, 4096).startswith("text")
        paths.append(tmp_path / f"{i}.err")
        paths[-1].write_bytes(data)
        shown = subprocess.run(["tac", str(paths[-1])], capture_output=True, check=True).stdout
        assert _lowest_row(shown) >= (-1 if data.endswith(b"\n") else -2), (i, shown)
    shown = subprocess.run(["tac", *map(str, paths)], capture_output=True, check=True).stdout
    assert _lowest_row(shown) >= -2
    shown = subprocess.run(["tac"], input=TAC["attack-q"], capture_output=True, check=True).stdout
    assert _UP * 2 in shown and _lowest_row(shown) == -2  # two on one row: the price


@pytest.mark.parametrize("size", _SIZES)
@pytest.mark.parametrize("name", sorted(FIRST_LINE))
def test_a_cursor_up_on_the_first_line_is_refused(name, size):
    data, byte = FIRST_LINE[name]
    said = _refused(data, size)
    assert f"ESC [ A near byte {byte} moves the cursor above the file's first line" in said, said


@pytest.mark.parametrize("size", _SIZES)
@pytest.mark.parametrize("name", sorted(SECOND))
def test_a_lines_second_cursor_up_is_refused(name, size):
    data, byte = SECOND[name]
    assert f"ESC [ A near byte {byte} is its line's second cursor-up" in _refused(data, size)


def test_grep_of_what_passes_climbs_at_most_one_row(tmp_path):
    """The bound is the reader's, over files: real `grep -rh` of many files that pass, each
    line holding a cursor-up, climbs at most 1 row above its first line."""
    data = b"".join(b"\n" * 3 + b"FORGED" + _UP + b"\n" for _ in range(40))
    assert _judge(data, 4096) == "text"
    for i in range(20):
        (tmp_path / f"job-{i}.err").write_bytes(data)
    shown = subprocess.run(["grep", "-rh", "FORGED", str(tmp_path)], capture_output=True, check=True)
    row = low = 0
    for part in shown.stdout.split(_UP)[:-1]:
        row = row + part.count(b"\n") - 1
        low = min(low, row)
    assert low == -1


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
def test_three_nested_tqdm_bars_are_refused_at_their_first_two_up_line(tmp_path, levels):
    """Their lines climb 2 rows and more each: `grep` of a run climbs without bound. The
    first line with two cursor-ups is named, early in the file."""
    data = _bars(tmp_path / "job.err", levels, False, True, True)
    byte = data.index(_UP * 2) + len(_UP)
    assert f"ESC [ A near byte {byte} is its line's second cursor-up" in _refused(data, 4096)
    assert "keep tqdm to two nested bars" in _refused(data, 7)


def test_a_bar_alone_at_a_lower_position_is_refused(tmp_path):
    """position=2 with nothing above it: tqdm moves down 2 first, then up 2 on one line,
    as a third nested bar does: refused (the price of the per-line bound)."""
    with (tmp_path / "w.err").open("w", encoding="utf-8") as err:
        for _ in tqdm.tqdm(range(3), file=err, mininterval=0, position=2):
            pass
    data = (tmp_path / "w.err").read_bytes()
    assert data.startswith(b"\n\n") and _UP * 2 in data
    assert "is its line's second cursor-up" in _refused(data, 1)


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
    """Every byte alone (as the low byte of U+41xx, a CJK character, after `A`) and after C2
    (U+xxC2): only ENQ FF SO SI ESC alone, and C2 before RI DCS SOS DECID CSI OSC PM APC,
    are refused (BS after a printable byte stays: _backspaces)."""
    alone = {b for b in range(256) if _refused_or_none(b"A\x00" + bytes((b, 0x41)))}
    assert alone == {0x05, 0x0C, 0x0E, 0x0F, 0x1B}
    paired = {b for b in set(range(256)) - alone - set(range(0xD8, 0xE0)) if _refused_or_none(b"A\x00" + bytes((0xC2, b)))}
    assert paired == {0x8D, 0x90, 0x98, 0x9A, 0x9B, 0x9D, 0x9E, 0x9F}


def _refused_or_none(raw: bytes) -> str | None:
    try:
        assert _judge(_utf16(raw, "utf-16-le"), 4096) == "text:utf-16"
    except Invalid as err:
        return str(err)
    return None


@pytest.mark.parametrize("leave", [True, False])
def test_a_killed_jobs_nested_bars_pass(leave):
    """A job killed inside two nested tqdm bars leaves stderr cut at one of tqdm's writes,
    with no final LF: admitted at every cut (refusing what `tac` joins would refuse 15 of 38
    and 21 of 41 of them: the docs' reason to bound tac at 2 rows)."""

    class Writes(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.ends: list[int] = []

        def write(self, s: str) -> int:
            done = super().write(s)
            self.ends.append(len(self.getvalue().encode()))
            return done

    err = Writes()
    for _ in tqdm.tqdm(range(3), file=err, mininterval=0, desc="outer"):
        for _ in tqdm.tqdm(range(4), file=err, mininterval=0, desc="inner", leave=leave):
            pass
    data, joined = err.getvalue().encode(), 0
    for end in sorted(set(err.ends)):
        cut = data[:end]
        assert _judge(cut, 4096) == "text", end
        lines = cut.split(b"\n")
        joined += not cut.endswith(b"\n") and _UP in lines[-1] and _UP in lines[-2]
    assert joined > 0  # cuts whose last two lines tac joins: admitted all the same
