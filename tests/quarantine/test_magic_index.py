"""magic_index.py: libmagic with a database cut for a buffer answers as with all of it.

The reference is libmagic's own default loading with the worker's flags. Compared on
the heads of the files on this machine, on a buffer built to pass each top-level test of
the database (read here from the records, independently of the module), on random text,
on text in other encodings (which libmagic's text pass re-encodes), and on a database
whose `indirect` test runs the database again on a part of the buffer; the
regular-expression reading is checked against glibc's own regexec.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import random
import struct
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest

from vmguard.quarantine import magic_index
from vmguard.quarantine.magic_index import RECORD, Database, only_compiled_database, regex_needs
from vmguard.quarantine.magic_types import Types

magic = pytest.importorskip("magic")

# type code: (width, byte order) as file.h defines them; the test's own table
WIDTHS = {
    1: (1, "little"),
    2: (2, "little"),
    4: (4, "little"),
    7: (2, "big"),
    8: (4, "big"),
    10: (2, "little"),
    11: (4, "little"),
    24: (8, "little"),
    25: (8, "little"),
    26: (8, "big"),
}


class Cut:
    """Answers through the database cut for each head's bytes, and through the whole."""

    def __init__(self) -> None:
        self.types = Types(magic_index)
        assert self.types.index is not None, "this machine's libmagic database is not understood"
        self.whole = magic.magic_open(self.types.flags)
        assert magic.magic_load(self.whole, None) == 0
        self.answers: dict[bytes, bytes] = {}  # the whole database's, as compare() last got it

    def answer(self, head: bytes) -> bytes:
        """The whole database's answer: compare()'s if it asked, else asked now. (Asked
        right after the cut's, as compare() does: an answer may depend on the buffer
        typed before, see magic_types.Types.heap_leak.)"""
        known = self.answers.get(head)
        return known if known is not None else magic.magic_buffer(self.whole, head)

    def differences(self, heads: list[bytes]) -> list[tuple[bytes, bytes, bytes]]:
        by_offer: dict[frozenset[int], list[bytes]] = {}
        for head in heads:
            offer = self.types.index.offered(head)
            if offer is not None:  # None: the worker asks the whole database
                by_offer.setdefault(offer, []).append(head)
        return [d for offer, group in by_offer.items() for d in self.compare(offer, group)]

    def compare(self, offer: frozenset[int], heads: list[bytes]) -> list[tuple[bytes, bytes, bytes]]:
        """(head, cut answer, whole answer) wherever a database cut for `offer` differs."""
        cookie, _memory = self.types._cookie(self.types.index.for_bytes(offer))
        try:
            answers = [(h, magic.magic_buffer(cookie, h), magic.magic_buffer(self.whole, h)) for h in heads]
            self.answers.update((h, w) for h, _, w in answers)
            return [(h[:40], c, w) for h, c, w in answers if c != w]
        finally:
            magic.magic_close(cookie)


@pytest.fixture(scope="module")
def cut() -> Cut:
    return Cut()


def machine_heads(per_root: int = 500) -> Iterator[bytes]:
    for root in ("/usr/bin", "/usr/lib", "/usr/share", "/etc", "/var/lib/dpkg"):
        yield from islice(_heads_under(root), per_root)  # stops the walk there: not all of /usr


def _heads_under(root: str) -> Iterator[bytes]:
    for directory, _, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                head = Path(path).read_bytes()[:512] if os.path.getsize(path) < 1 << 20 else b""
            except OSError:
                continue
            if head:
                yield head


def literal_heads(data: bytes) -> Iterator[bytes]:
    """For each top-level numeric or string test: its value at its offset, in text and in zeros."""
    count = struct.unpack_from("<I", data, 8)[0]
    for i in range(1, count + 1):
        record = data[RECORD * i : RECORD * (i + 1)]
        level, kind, offset = (
            struct.unpack_from("<H", record)[0],
            record[6],
            struct.unpack_from("<i", record, 12)[0],
        )
        if level != 0 or not 0 <= offset < 400:
            continue
        if kind in WIDTHS:
            width, order = WIDTHS[kind]
            value = (int.from_bytes(record[32:40], "little") % (1 << 8 * width)).to_bytes(width, order)
        elif kind in (5, 20):  # string, search
            value = record[32 : 32 + record[5]]
        else:
            continue
        for filler in (b"x", b"\0"):
            head = bytearray(filler * 512)
            head[offset : offset + len(value)] = value
            yield bytes(head[:512])
        if offset + len(value):
            yield bytes(head[: offset + len(value)])  # the buffer ends with the value


def random_text(count: int) -> list[bytes]:
    rng = random.Random(5)
    alphabet = bytes(range(32, 127)) + b"\n\t"
    return [bytes(rng.choices(alphabet, k=rng.choice([8, 64, 300, 512]))) for _ in range(count)]


def test_cut_databases_answer_as_the_whole_on_this_machines_files(cut):
    heads = list(machine_heads())
    assert len(heads) > 1500
    assert cut.differences(heads) == []


def test_cut_databases_answer_as_the_whole_on_a_buffer_passing_each_test(cut):
    heads = list(literal_heads(cut.types.index.data))
    assert cut.differences(heads) == []
    answers = {cut.answer(h) for h in heads}  # mostly those differences() got
    assert len(heads) > 8000 and len(answers) > 250  # the tests really were passed


def test_cut_databases_answer_as_the_whole_on_random_text(cut):
    assert cut.differences(random_text(1500)) == []


def test_a_text_buffer_gets_a_much_smaller_database(cut):
    index = cut.types.index

    def tests_kept(head: bytes) -> int:  # records of top-level tests and their continuations
        return struct.unpack_from("<I", index.for_bytes(index.offered(head)), 8)[0]

    assert tests_kept(b"event 12 muon jet 3.5e-3\n" * 20) < index.count * 0.1
    assert tests_kept(Path("/bin/sh").read_bytes()[:512]) < index.count * 0.25  # few kinds of bytes too


TEXTS = [
    "#!/bin/sh\necho hi\n",
    '<?xml version="1.0"?>\n<a>b</a>\n',
    "<!DOCTYPE html>\n<html></html>\n",
    "#!/usr/bin/perl\nprint 1;\n",
    "%!PS-Adobe-3.0\n",
    '{"a": [1, 2]}\n',
    "<?php echo 1; ?>\n",
    "From: a@b.c\nSubject: x\n\nhi\n",
    "#include <stdio.h>\nint main(void){return 0;}\n",
    "@echo off\r\ndel x\r\n",
    "\\documentclass{article}\n",
    "BEGIN { print }\n",
]
ENCODINGS = {  # how a guest may write the same text so that libmagic's text pass re-encodes it
    "utf-8 with BOM": lambda s: codecs.BOM_UTF8 + s.encode(),
    "utf-8": lambda s: ("\u00b5 " + s).encode(),
    "utf-16le": lambda s: codecs.BOM_UTF16_LE + s.encode("utf-16-le"),
    "utf-16be": lambda s: codecs.BOM_UTF16_BE + s.encode("utf-16-be"),
    "utf-32le": lambda s: codecs.BOM_UTF32_LE + s.encode("utf-32-le"),
    "latin-1": lambda s: ("\u00e9 " + s).encode("latin-1"),
    "ebcdic": lambda s: s.encode("cp500"),
}


def encoded_heads() -> list[bytes]:
    texts = TEXTS + [h.decode("ascii") for h in machine_heads(100) if h.isascii() and b"\0" not in h]
    return [encode(text)[:512] for text in texts for encode in ENCODINGS.values()]


def test_text_that_libmagic_re_encodes_gets_the_whole_database(cut):
    """libmagic's text pass runs on the buffer re-encoded as UTF-8, whose bytes (and first
    byte, after a byte order mark) a cut for the file's own bytes does not foresee: such a
    cut gives wrong answers (the control), so these buffers are never cut."""
    heads = encoded_heads()
    wrong = [d for h in heads for d in cut.compare(frozenset(h) | {0}, [h])]
    assert len(wrong) > 20, "the control: cuts for the raw bytes answer wrongly"
    assert all(cut.types.index.offered(h) is None for h, _, _ in wrong)
    assert cut.differences(heads) == []


def test_a_database_run_again_on_part_of_the_buffer_is_cut_for_all_its_bytes(tmp_path, monkeypatch):
    """An `indirect` test runs the whole database again from an offset into the buffer,
    where the first byte is another: a test for it must be kept."""
    (tmp_path / "m").write_text(
        "0\tstring\tWRAP\twrapper\n>4\tindirect\tx\t\\b, contains\n"
        "0\tstring\t%INNER\tinner\n!:mime\tapplication/x-inner\n"
    )
    compiler = magic.magic_open(magic.MAGIC_NONE)
    monkeypatch.chdir(tmp_path)  # magic_compile writes m.mgc into the working directory
    assert magic.magic_compile(compiler, b"m") == 0
    index = Database((tmp_path / "m.mgc").read_bytes())
    head = b"WRAP%INNER and the rest\n"
    types, answers = Types(magic_index), {}
    for name, data in (
        ("whole", index.data),
        ("cut", index.for_bytes(index.offered(head))),
        ("without the inner test", index.for_bytes(index.offered(b"WRAP"))),
    ):
        cookie, _memory = types._cookie(data)
        answers[name] = magic.magic_buffer(cookie, head)
        magic.magic_close(cookie)
    assert answers["whole"] == answers["cut"] == b"application/x-inner"
    assert answers["without the inner test"] != b"application/x-inner"  # the control


LIBC = ctypes.CDLL(None)
REG_EXTENDED, REG_NEWLINE, REG_NOSUB = 1, 4, 8


def glibc_matches(pattern: bytes, text: bytes) -> bool | None:
    """None if glibc refuses the pattern (libmagic's test then never matches)."""
    compiled = ctypes.create_string_buffer(512)  # regex_t is 64 bytes on glibc x86-64
    if LIBC.regcomp(compiled, pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB) != 0:
        return None
    try:
        return LIBC.regexec(compiled, text, 0, None, 0) == 0
    finally:
        LIBC.regfree(compiled)


REGEXES = [  # pattern, a text it matches, the bytes every match has
    (rb"^require\([\"']", b"require('x')", b"(eiqru"),
    (rb"\(;.*GM\[[0-9]{1,2}\]", b"(;xGM[12]", b"(;GM[]"),
    (rb"a(\.)?b", b"ab", b"ab"),
    (rb"x{0,3}\.", b".", b"."),
    (rb"(a@)+z", b"a@a@z", b"@az"),
    (rb"(a@)*z", b"z", b"z"),
    (rb"(;|:)x", b":x", b"x"),
    (rb"(;x|;y)", b";y", b";"),
    (rb"[]:]x", b"]x", b"x"),
    (rb"[^]@]=", b"a=", b"="),
    (rb"[[:space:]]=[[:alpha:]]", b" =a", b"="),
    (rb"[\]x", b"\\x", b"x"),  # a backslash is an ordinary member of a bracket
    (rb"^[ \t]{0,50}\.globl", b"  .globl", b".bglo"),
    (rb"^import.*;$", b"import x;", b";imoprt"),
    (rb"(|@)k", b"k", b"k"),
    (rb"\w@", b"a@", b""),  # an escaped letter is not a plain byte: needs nothing
    (rb"\<abc\>", b"x abc y", b""),  # glibc's word anchors, not '<' and '>'
    (rb"\`x\.y", b"x.y", b""),  # glibc's start of the buffer
    (rb"a\.\{\}\|", b"a.{}|", b".a{|}"),
    (rb"(@", None, b""),  # unbalanced: glibc refuses it, and it needs nothing
    (rb"a)@", b"a)@", b""),
]


@pytest.mark.parametrize("pattern, text, needs", REGEXES)
def test_regex_needs(pattern, text, needs):
    assert glibc_matches(pattern, text or b"") is (None if text is None else True)
    assert regex_needs(pattern) == bytes(sorted(needs))


def test_regex_needs_holds_for_every_glibc_match(cut):
    """Every database regex and the table's: random texts over the pattern's own bytes."""
    rng = random.Random(7)
    patterns = [p for p, _, _ in REGEXES] + database_regexes(cut.types.index.data)
    matched = 0
    for pattern in patterns:
        needs = set(regex_needs(pattern))
        alphabet = bytes(set(pattern) - {0}) + b" \n"
        for _ in range(200):
            text = bytes(rng.choices(alphabet, k=rng.randint(1, 40)))
            if glibc_matches(pattern, text) is True:
                matched += 1
                assert needs <= set(text), (pattern, text)
    assert matched > 500


def test_every_database_regex_that_needs_bytes_compiles(cut):
    """A regex glibc refuses makes libmagic fail on every buffer that reaches it; a cut
    without it would answer instead. (For a database added to Types.INDEXED.)"""
    patterns = database_regexes(cut.types.index.data)
    assert len(patterns) > 50
    assert [p for p in patterns if regex_needs(p) and glibc_matches(p, b"") is None] == []


def database_regexes(data: bytes) -> list[bytes]:
    count = struct.unpack_from("<I", data, 8)[0]
    records = (data[RECORD * i : RECORD * (i + 1)] for i in range(1, count + 1))
    return [r[32:160].partition(b"\0")[0] for r in records if r[:2] == b"\0\0" and r[6] == 17]


@pytest.mark.parametrize("change", ["library", "database"])
def test_a_libmagic_the_tests_have_not_compared_gets_the_whole_database(monkeypatch, change):
    ((version, sha256),) = Types.INDEXED
    other = (version - 1, sha256) if change == "library" else (version, "0" * 64)
    monkeypatch.setattr(Types, "INDEXED", frozenset({other}))
    types = Types(magic_index)
    assert types.index is None
    assert [types.of(b"event 1 muon\n") for _ in range(3)] == [b"text/plain"] * 3
    assert types.builds == 0


def test_only_a_lone_compiled_database_is_cut(tmp_path):
    (tmp_path / "local").write_text("# comments only\n\n")
    (tmp_path / "misc.mgc").write_bytes(b"")
    paths = f"{tmp_path}/local:{tmp_path}/misc:{tmp_path}/absent"
    assert only_compiled_database(paths) == f"{tmp_path}/misc.mgc"
    (tmp_path / "local").write_text("0 string ZZ my format\n")  # an admin's own test
    assert only_compiled_database(paths) is None
    (tmp_path / "local").write_text("#\n")
    (tmp_path / "other.mgc").write_bytes(b"")
    assert only_compiled_database(paths + f":{tmp_path}/other.mgc") is None


def test_databases_are_built_for_kinds_seen_twice_within_a_budget():
    types = Types(magic_index)
    heads = [b"%c line %d\n" % (c, i) for c in range(65, 91) for i in range(2)]
    for head in heads:
        types.of(head)
    assert 0 < types.builds <= Types.FREE_BUILDS + len(heads) // Types.FILES_PER_BUILD
    for _ in range(3):
        types.of(b"A repeated kind\n")
    assert any(types.index.offered(b"A repeated kind\n") <= cut_for for cut_for in types.cut)
    assert len(types.cut) <= Types.MAX_DATABASES


def test_a_database_serves_every_buffer_of_its_bytes():
    """Files that differ in their digits and lower-case letters share one database."""
    types = Types(magic_index)
    heads = [b"Run %d: %s\n" % (i, b"muon jet track"[: i % 14]) * 20 for i in range(Types.NARROW_AFTER - 1)]
    answers = [types.of(h) for h in heads]
    assert types.builds == 1 and len(types.cut) == 1
    assert set(answers) == {b"text/plain"}


def test_a_kind_served_often_gets_a_cut_for_just_its_bytes_and_keeps_the_wide_one():
    """After NARROW_AFTER buffers, a cut for the bytes they held is tried first; a buffer
    with another byte (a letter none had) is still served by the wide cut, not a new one."""
    types = Types(magic_index)
    heads = [b"Run %d: %s\n" % (i, b"muon jet track"[: i % 14]) * 20 for i in range(200)]
    answers = [types.of(h) for h in heads]
    assert types.builds == 2 and len(types.cut) == 2
    wide, narrow = types.cut  # the narrow one was built last
    assert narrow == frozenset(b"".join(heads[: Types.NARROW_AFTER])) | {0} and narrow < wide
    assert types._cookie_for(heads[-1]) is types.cut[narrow]
    other = b"Run 7: muon zebra\n" * 20  # z and b: in the wide cut (all lower-case letters) only
    assert types.of(other) == b"text/plain" and types._cookie_for(other) is types.cut[wide]
    assert types.builds == 2 and set(answers) == {b"text/plain"}


def test_the_database_picked_is_the_most_recent_cut_holding_every_byte_of_the_buffer():
    """The worker tests a buffer against a cut with bytes.translate, not sets: the same
    choice as "offered(head) <= cut_for", also with a cut of more than MAX_OFFERED bytes."""
    types = Types(magic_index)
    rng = random.Random(13)
    kinds = [frozenset(rng.sample(range(256), n)) | {0} for n in (20, 60, 150, 200)]
    for kind in kinds:
        types._build(kind, wide=False)
    for _ in range(2000):
        kind = rng.choice(kinds)
        pool = sorted(kind) if rng.random() < 0.8 else range(256)
        head = bytes(rng.choice(pool) for _ in range(rng.randrange(1, 600)))
        offer = types.index.offered(head)
        expected = types.full
        if offer is not None and len(offer) <= Types.MAX_OFFERED:
            expected = next((types.cut[k] for k in reversed(types.cut) if offer <= k), None)
        if expected is not None:  # else a new kind: counted, maybe built (not compared here)
            assert types._cookie_for(head) is expected


def test_the_worker_answers_as_the_whole_database(cut):
    """Through the worker's own choice of database (reused, budgeted, or the whole)."""
    types = Types(magic_index)
    heads = list(machine_heads(150)) + encoded_heads()[:400]
    wrong = [
        (h[:40], a, w) for h in heads + heads if (a := types.of(h)) != (w := magic.magic_buffer(cut.whole, h))
    ]
    assert types.builds > 0 and wrong == []


def test_text_types_come_from_libmagic_text_tests():
    """HTML, XML, a DOS batch file and a shell script behind a byte order mark are found
    only by libmagic's text tests, which its encoding check switches on."""
    types = Types(magic_index)
    for head, mime in (
        (b"<!DOCTYPE html>\n<html><body><script>x()</script></body></html>\n", b"text/html"),
        (b'<?xml version="1.0"?>\n<a/>\n', b"text/xml"),
        (b"@echo off\r\ndel x\r\n", b"text/x-msdos-batch"),
        (codecs.BOM_UTF8 + b"#!/bin/sh\nrm -rf ~\n", b"text/x-shellscript"),
    ):
        assert [types.of(head) for _ in range(3)] == [mime] * 3  # whole, then cut databases
