"""magic_index.py: libmagic with a database cut for a buffer answers as with all of it.

The reference is libmagic's own default loading, as the worker used it before the
index. Compared on the heads of the files on this machine, on a buffer built to pass
each top-level test of the database (read here from the records, independently of the
module), and on random text; the regular-expression reading is checked against glibc's
own regexec.
"""

from __future__ import annotations

import ctypes
import os
import random
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmguard.quarantine.magic_index import RECORD, regex_needs
from vmguard.quarantine.magic_worker import Types, _only_compiled_database

magic = pytest.importorskip("magic")

# type code: (width, byte order) as file.h defines them; the test's own table
WIDTHS = {1: (1, "little"), 2: (2, "little"), 4: (4, "little"), 7: (2, "big"), 8: (4, "big"),
          10: (2, "little"), 11: (4, "little"), 24: (8, "little"), 25: (8, "little"),
          26: (8, "big")}


class Cut:
    """Answers through the database cut for each head's key, and through the whole."""

    def __init__(self) -> None:
        self.types = Types()
        assert self.types.index is not None, "this machine's libmagic database is not understood"
        self.whole = magic.magic_open(self.types.flags)
        assert magic.magic_load(self.whole, None) == 0

    def differences(self, heads: list[bytes]) -> list[tuple[bytes, bytes, bytes]]:
        by_key: dict[object, list[bytes]] = {}
        for head in heads:
            by_key.setdefault(self.types.index.key(head), []).append(head)
        found = []
        for key, group in by_key.items():
            cookie, _memory = self.types._cookie(self.types.index.for_key(key))
            try:
                for head in group:
                    cut, whole = magic.magic_buffer(cookie, head), magic.magic_buffer(self.whole, head)
                    if cut != whole:
                        found.append((head[:40], cut, whole))
            finally:
                magic.magic_close(cookie)
        return found


@pytest.fixture(scope="module")
def cut() -> Cut:
    return Cut()


def machine_heads(per_root: int = 500) -> Iterator[bytes]:
    for root in ("/usr/bin", "/usr/lib", "/usr/share", "/etc", "/var/lib/dpkg"):
        count = 0
        for directory, _, files in os.walk(root):
            for name in sorted(files):
                path = os.path.join(directory, name)
                if count >= per_root or os.path.islink(path) or not os.path.isfile(path):
                    continue
                try:
                    head = Path(path).read_bytes()[:512] if os.path.getsize(path) < 1 << 20 else b""
                except OSError:
                    continue
                if head:
                    count += 1
                    yield head


def literal_heads(data: bytes) -> Iterator[bytes]:
    """For each top-level numeric or string test: its value at its offset, in text and in zeros."""
    count = struct.unpack_from("<I", data, 8)[0]
    for i in range(1, count + 1):
        record = data[RECORD * i:RECORD * (i + 1)]
        level, kind, offset = struct.unpack_from("<H", record)[0], record[6], struct.unpack_from("<i", record, 12)[0]
        if level != 0 or not 0 <= offset < 400:
            continue
        if kind in WIDTHS:
            width, order = WIDTHS[kind]
            value = (int.from_bytes(record[32:40], "little") % (1 << 8 * width)).to_bytes(width, order)
        elif kind in (5, 20):  # string, search
            value = record[32:32 + record[5]]
        else:
            continue
        for filler in (b"x", b"\0"):
            head = bytearray(filler * 512)
            head[offset:offset + len(value)] = value
            yield bytes(head[:512])
        if offset + len(value):
            yield bytes(head[:offset + len(value)])  # the buffer ends with the value


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
    answers = {magic.magic_buffer(cut.whole, h) for h in heads}
    assert len(heads) > 8000 and len(answers) > 250  # the tests really were passed
    assert cut.differences(heads) == []


def test_cut_databases_answer_as_the_whole_on_random_text(cut):
    assert cut.differences(random_text(1500)) == []


def test_a_text_buffer_gets_a_much_smaller_database(cut):
    index = cut.types.index
    text = index.for_key(index.key(b"event 12 muon jet 3.5e-3\n" * 20))
    binary = index.for_key(index.key(Path("/bin/sh").read_bytes()[:512]))
    assert len(text) < len(index.data) * 0.4
    assert len(binary) < len(index.data)  # an ELF head drops the tests for other first bytes


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


def database_regexes(data: bytes) -> list[bytes]:
    count = struct.unpack_from("<I", data, 8)[0]
    records = (data[RECORD * i:RECORD * (i + 1)] for i in range(1, count + 1))
    return [r[32:160].partition(b"\0")[0] for r in records if r[:2] == b"\0\0" and r[6] == 17]


def test_only_a_lone_compiled_database_is_cut(tmp_path):
    (tmp_path / "local").write_text("# comments only\n\n")
    (tmp_path / "misc.mgc").write_bytes(b"")
    paths = f"{tmp_path}/local:{tmp_path}/misc:{tmp_path}/absent"
    assert _only_compiled_database(paths) == f"{tmp_path}/misc.mgc"
    (tmp_path / "local").write_text("0 string ZZ my format\n")  # an admin's own test
    assert _only_compiled_database(paths) is None
    (tmp_path / "local").write_text("#\n")
    (tmp_path / "other.mgc").write_bytes(b"")
    assert _only_compiled_database(paths + f":{tmp_path}/other.mgc") is None


def test_databases_are_built_for_kinds_seen_twice_within_a_budget():
    types = Types()
    heads = [b"%c line %d\n" % (c, i) for c in range(65, 91) for i in range(2)]
    for head in heads:
        types.of(head)
    assert 0 < types.builds <= Types.FREE_BUILDS + len(heads) // Types.FILES_PER_BUILD
    for _ in range(3):
        types.of(b"A repeated kind\n")
    assert types.index.key(b"A repeated kind\n") in types.cut
    assert len(types.cut) <= Types.MAX_DATABASES
