"""What PuTTY (and xterm with reverse-wrap) does with text's bytes (session 39, attack o
text): FF clears the screen, so it is refused in any encoding; BS at a line's column 0
goes up a row, so a UTF-16 byte 0x08 (BS is refused as a character already) is refused
where the printable bytes since the line's start (LF, VT) or last CR are fewer than the
BS bytes (validators/text.py, TextChecker._backspaces). Columns are counted as at most
what a terminal moves: 1 a printable ASCII byte, 0 for TAB (it stays at the right
margin), NUL and every byte from 0x80 (what a UTF-8 terminal makes of them may be a
combining mark, 0 wide). Every chunking; LE and BE."""

from __future__ import annotations

import pytest

from tests.support import attack_otext_text as putty
from vmguard.quarantine.validators import Invalid, Stream, text

_SIZES = (1, 2, 3, 5, 4096)
_BS2 = "\u0808"  # its bytes are 08 08 in either order: two BS


def _judge(data: bytes, size: int) -> str:
    return text.validate(Stream(iter([data[i : i + size] for i in range(0, len(data), size)])))


def _refused(data: bytes, size: int) -> str:
    with pytest.raises(Invalid) as err:
        _judge(data, size)
    return str(err.value)


def _utf16(chars: str, order: str) -> bytes:
    return ("\ufeff" + chars).encode(order)


REFUSED = {  # characters, the byte (of the LE file) of the BS refused
    "cr-bs-climb": ("epoch 1 done\n" + "\u080d" * 30, 2 + 26 + 1),  # attack o's: CR BS
    "bs-first": (_BS2 + "x\n", 2),
    "one-bs-too-many": ("ab" + _BS2 + _BS2, 8),
    "after-lf": ("ab\n" + _BS2, 8),
    "after-vt": ("ab\v" + _BS2, 8),
    "after-cr": ("ab\r" + _BS2, 8),
    "tab-counts-0": ("\t" + _BS2, 4),
    "nul-counts-0": ("\u4100" + _BS2, 5),  # bytes 00 41 (LE) / 41 00 (BE): one printable
    "cjk-bytes-from-0x80": ("\u9a9a\u8888" + _BS2, 6),  # no printable byte
    "combining-mark-bytes": ("\u81cc" * 4 + _BS2, 10),  # CC 81: U+0301 to a UTF-8 terminal
}
PASSES = {
    "bs-within-a-line": "run42: FAILED " + _BS2 * 4 + "OK\r\n",  # overwrites as CR does
    "as-many-as-printed": "ab" + _BS2 + "cd" + _BS2 + "\r\n",
    "japanese": "会社（株）合計\r\n" * 20,  # U+FF08, U+5408: bytes 08 FF, 08 54 (LE)
    "cyrillic-je": "Ово је Јован\r\n" * 20,  # U+0408 after a printable byte
}


@pytest.mark.parametrize("order", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("size", _SIZES)
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_bs_byte_past_column_0_is_refused(name, size, order):
    chars, byte = REFUSED[name]
    data = _utf16(chars, order)
    said = _refused(data, size)
    assert "of UTF-16 text is BS to a terminal at its line's first column" in said, said
    if order == "utf-16-le":
        assert f"0x08 near byte {byte} " in said, said


@pytest.mark.parametrize("order", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("size", _SIZES)
@pytest.mark.parametrize("name", sorted(PASSES))
def test_bs_bytes_within_what_the_line_printed_stay_text(name, size, order):
    data = _utf16(PASSES[name], order)
    assert b"\x08" in data
    assert _judge(data, size) == "text:utf-16"


def test_the_attack_file_climbs_in_putty_and_is_refused():
    """Attack o's putty/climb.txt climbs 29 rows by PuTTY's rules; the rule refuses its
    first BS. What passes here, by the same rules, never rises above its first row."""
    assert putty.putty_view(putty.UTF16_CLIMB) == (29, False)
    assert "BS to a terminal at its line's first column" in _refused(putty.UTF16_CLIMB, 4096)
    for chars in PASSES.values():
        for order in ("utf-16-le", "utf-16-be"):
            assert putty.putty_view(_utf16(chars, order), cols=8)[0] == 0


@pytest.mark.parametrize("cols", [4, 80])
def test_bs_runs_at_the_budget_never_rise_in_putty(cols):
    """Lines of printable bytes then exactly as many BS bytes, wrapping at any width:
    admitted, and by PuTTY's rules never above the line they started on."""
    line = "abcdefgh" * 3 + _BS2 * 12 + "\r\n"
    data = _utf16("first\r\n" + line * 10, "utf-16-le")
    assert _judge(data, 3) == "text:utf-16"
    assert putty.putty_view(data, cols=cols)[0] == 0


@pytest.mark.parametrize("size", _SIZES)
def test_ff_is_refused_as_a_character_and_as_a_utf16_byte(size):
    assert "FF (form feed, U+000C) near byte 15" in _refused(putty.FF_CLEAR, size)
    assert "FF (form feed, U+000C) near byte 2" in _refused("°C\f".encode("latin-1"), size)
    said = _refused(_utf16("ok\uff0c", "utf-16-le"), size)  # the full-width comma: 0C FF
    assert "the byte 0x0C near byte 6 of UTF-16 text is FF (PuTTY clears the screen)" in said


def _model(raw: bytes) -> int | None:
    """The byte of the first BS past column 0, by the rule counted byte by byte."""
    column = 0
    for at, byte in enumerate(raw):
        if byte in b"\n\v\r":
            column = 0
        elif byte == 0x08:
            if not column:
                return at
            column -= 1
        elif 0x20 <= byte < 0x7F:
            column += 1
    return None


@pytest.mark.parametrize("seed", range(4))
def test_random_bs_runs_are_judged_as_byte_by_byte_in_any_chunking(seed):
    """The fast path (no BS first or after a BS or line start) and the BS-by-BS path agree
    with the byte-by-byte rule, for bytes of BS runs, printable, TAB, NUL, 0x81, LF and CR,
    cut anywhere."""
    import random

    rng = random.Random(seed)
    alphabet = b"\x08\x08\x08aa\t\x00\x81\n\r"
    for _ in range(400):
        raw = b"\xff\xfe" + bytes(rng.choice(alphabet) for _ in range(2 * rng.randrange(1, 40)))
        if text._CONTROL.search(raw[2:].decode("utf-16-le")):
            continue  # U+0008, U+0081, NUL: refused as characters
        expected = _model(raw)
        for size in (1, 3, 7, 4096):
            if expected is None:
                assert _judge(raw, size) == "text:utf-16", raw
            else:
                assert f"0x08 near byte {expected} " in _refused(raw, size), raw
