"""The fast paths of a vet give the answers of the slow ones.

- Text: ASCII without a control byte skips the character search; every ASCII byte is
  judged as the search judges it, wherever it sits in the chunk.
- Staging writes run on the writer thread: a write that fails there (the public
  filesystem full in the middle of a large file's chunks) is still exit 3, one line, a
  `failed` event and nothing partial; and a large file is staged byte-identical.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess

import pytest

import vmguard
from tests.quarantine.conftest import policy, published_files, write
from tests.quarantine.test_write_failures import last_event, vet_filled
from tests.support.require import require_root
from vmguard.quarantine.validators import Invalid, Stream, text


@pytest.mark.parametrize("byte", range(128))
def test_every_ascii_byte_is_judged_as_the_character_search_judges_it(byte):
    for data in (b"x" * 100 + bytes([byte]) + b"y" * 3000, bytes([byte]) + b"z" * 5):
        refused = text._CONTROL.search(chr(byte) + "y") is not None  # ESC only before `[A` is text
        try:
            text.validate(Stream(iter([data])))
        except Invalid as err:
            assert refused, err
            assert f"U+{byte:04X}" in str(err) or "NUL" in str(err)
        else:
            assert not refused, f"control byte {byte:#x} passed"


@pytest.fixture
def tiny_public(tmp_path):
    """A 4 MiB tmpfs as the public area, and a 3 MiB file (three chunks) to stage."""
    require_root()
    public = tmp_path / "small"
    public.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(public)], check=True)
    q = tmp_path / "q"
    write(q / "big.txt", "".join(f"line {i:07d} of a long log\n" for i in range(120_000)))
    (tmp_path / "policy.yaml").write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: full}\n"
        "spec:\n  quarantine:\n    allow_types: [text/plain]\n"
    )
    try:
        yield tmp_path, q, public
    finally:
        subprocess.run(["umount", str(public)], check=True)


def test_a_failed_chunk_write_on_the_writer_thread_is_exit_3_and_nothing_partial(tiny_public, vet_log):
    tmp_path, q, public = tiny_public
    assert os.path.getsize(q / "big.txt") > 2 << 20, "control: the file is copied in chunks"
    done = vet_filled(tmp_path, q, public, "copy-chunk", "big.txt")
    assert (public / "filler").exists(), "control: the filesystem was filled at that step"
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert "No space left on device" in done.stderr
    assert sorted(os.listdir(public)) == [".vmguard-staging", "filler"]
    assert os.listdir(public / ".vmguard-staging") == ["run1.lock"]
    assert last_event(vet_log)["data"]["status"] == "failed"
    os.unlink(public / "filler")
    again = vet_filled(tmp_path, q, public, "never", "")
    assert again.returncode == 0, again.stderr
    assert published_files(public / "run1") == published_files(q)


def test_many_small_and_large_files_are_staged_byte_identical(tmp_path):
    """Small files (written whole from one read) and large ones (chunks through the ring
    of buffers, some O_DIRECT) in several directories, in one vet."""
    q = tmp_path / "q"
    for d in range(3):
        for i in range(200):
            write(q / f"d{d}" / f"s{i}.txt", f"small {d} {i}\n" * (i % 7 + 1))
    write(q / "d1" / "chunked.txt", "".join(f"row {i}\n" for i in range(400_000)))  # ~4 MiB
    write(q / "direct.txt", "".join(f"direct row {i:08d}\n" for i in range(600_000)))  # ~12 MiB
    result = vmguard.vet(q, policy(), tmp_path / "pub" / "run1")
    assert result.status.value == "promoted"
    assert published_files(tmp_path / "pub" / "run1") == published_files(q)
    sums = {e.path: e.sha256 for e in result.entries if e.kind.value == "file"}
    assert sums["direct.txt"] == hashlib.sha256((q / "direct.txt").read_bytes()).hexdigest()


def test_text_without_a_less_than_sign_cannot_hold_markup():
    """The markup search is skipped for text without '<': every pattern starts with it,
    and no other code point matches it when case is ignored."""
    branches, depth, start = [], 0, 0  # the pattern's top-level alternatives
    for i, c in enumerate(text._MARKUP.pattern + "|"):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if c == "|" and depth == 0:
            branches.append(text._MARKUP.pattern[start:i])
            start = i + 1
    assert len(branches) == 3 and all(b.startswith("<") for b in branches), branches
    assert [c for c in map(chr, range(0x110000)) if re.fullmatch("<", c, re.IGNORECASE)] == ["<"]
    for page in ("<html lang=en>", "< SCRIPT src=x>", "<!DOCTYPE html>", "<?xml version='1.0'?>"):
        with pytest.raises(Invalid, match="markup"):  # control: found, also cut by a chunk boundary
            text.validate(Stream(iter([b"x" * 4094 + page[:2].encode(), page[2:].encode()])))
