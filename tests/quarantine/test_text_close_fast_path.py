"""TextChecker.close leaves out its final feed of b"" only when that feed can judge
nothing new (session 40, smallperf: one feed less per text file). On text that ends in
each state a chunk's end can leave (a UTF-8 character's start, an ESC or ESC [, a JSON
escape's start, a tag cut at the end, markup in the last characters, plain text), fed in
chunks of every size, close answers or refuses exactly as with the final feed forced."""

from __future__ import annotations

import pytest

from vmguard.quarantine.validators import text
from vmguard.quarantine.validators.stream import Invalid

BODY = "event 1 energy 2.5 GeV\n" * 20
ENDINGS = {
    "plain": b"",
    "utf8 start cut": "é".encode()[:1],
    "utf8 whole": "é".encode(),
    "esc": b"\x1b",
    "esc bracket": b"\x1b[",
    "cursor up": b"\x1b[A",
    "json escape start": b"\\u001",
    "json escape": b"\\u001b",
    "tag cut": b"<html",
    "tag": b"<html lang=en>",
    "latin-1 byte": b"\xe9",
    "form feed": b"\x0c",
}


def _judged(data: bytes, size: int, force: bool) -> str:
    checker = text.TextChecker(data[:2])
    if force:  # the final feed every time, as before session 40
        checker._nothing_held = lambda: False
    try:
        for start in range(0, len(data), size):
            checker.feed(data[start : start + size])
        return checker.close()
    except Invalid as err:
        return f"refused: {err}"


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 4096])
def test_close_answers_as_with_the_final_feed(ending, size):
    data = BODY.encode() + ENDINGS[ending]
    assert _judged(data, size, force=False) == _judged(data, size, force=True)


def test_leaving_out_the_final_feed_where_it_judges_would_change_the_answer():
    # the comparison above can fail: with a UTF-8 character's start held at the end, a
    # close without the final feed answers otherwise (the final feed finds the file Latin-1)
    data = BODY.encode() + ENDINGS["utf8 start cut"]
    checker = text.TextChecker(data[:2])
    checker.feed(data)
    assert not checker._nothing_held()
    checker._nothing_held = lambda: True
    assert checker.close() != _judged(data, 4096, force=True)
