"""Fewer hand-offs per file, same bytes (issue #13 benchmarks).

- Small files are staged in batches by the writer thread: every file of a tree larger
  than a batch, across directories (each staging directory is closed only after its
  batch), is published byte-identical; a failing job inside a batch does not stop the
  jobs after it and is raised on the main thread.
- A large file's chunks are written GROUP at a time, with one system call in direct
  mode: a short write leaves exactly the unwritten rest, and an unaligned tail leaves
  direct mode; the file is byte-identical.
- The worker answers a run of files with one write, but always before it waits for
  more bytes: a parent that waits for an answer before sending more always gets it.
"""

from __future__ import annotations

import mmap
import os
import threading

import pytest

import vmguard
from tests.quarantine.conftest import policy, published_files, write
from vmguard.quarantine import copy, writer
from vmguard.quarantine.detect import Detector
from vmguard.quarantine.sysio import ALIGN, _after, _set_direct, write_chunks


def test_small_files_in_batches_across_directories_are_published_byte_identical(tmp_path):
    q = tmp_path / "q"
    per_dir = writer.BATCH_FILES + 7  # a batch is handed over inside each directory
    for d in range(3):
        for i in range(per_dir):
            write(q / f"d{d}" / f"f{i:03}.txt", f"file {d}/{i}\n" * (i % 5 + 1))
    result = vmguard.vet(q, policy(), tmp_path / "pub" / "run1")
    assert result.status.value == "promoted"
    assert len(published_files(tmp_path / "pub" / "run1")) == 3 * per_dir
    assert published_files(tmp_path / "pub" / "run1") == published_files(q)


def test_a_failed_job_in_a_batch_is_raised_and_the_others_still_run():
    w = writer.Writer()
    done: list[int] = []

    def job(i: int) -> None:
        if i == 3:
            raise OSError(28, "No space left on device")
        done.append(i)

    try:
        for i in range(10):
            w.add(job, i, size=1)
        assert done == [], "control: nothing runs before the batch is handed over"
        with pytest.raises(OSError, match="No space"):
            w.wait()
        assert done == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    finally:
        w.close()


def test_tiny_files_wait_for_the_disk_by_count_not_only_by_bytes():
    """100,000 files of 100 bytes are 10 MB, under WRITE_AHEAD: counted by their bytes
    alone, all of them (and ~400 B of objects each) would queue behind a slow disk."""
    w = writer.Writer()
    disk = threading.Event()
    queued = []
    try:
        w.submit(disk.wait)  # the disk, stuck until set
        adder = threading.Thread(
            target=lambda: [(w.add(queued.append, i, size=100), queued.append(i)) for i in range(40_000)]
        )
        adder.start()
        adder.join(timeout=10)
        assert adder.is_alive()  # waits for the disk
        limit = writer.WRITE_AHEAD // writer.FILE_COST + writer.BATCH_FILES
        assert writer.BATCH_FILES < len(queued) <= limit
        disk.set()
        adder.join(timeout=60)
        assert not adder.is_alive()
        w.wait()
        assert len(queued) == 2 * 40_000  # every job ran, once the disk moved
    finally:
        disk.set()
        w.close()


def test_after_leaves_exactly_the_unwritten_rest():
    chunks = [memoryview(b"abcd"), memoryview(b"efgh"), memoryview(b"ij")]
    for written in range(11):
        assert b"".join(_after(chunks, written)) == b"abcdefghij"[written:]


def test_chunks_written_direct_then_an_unaligned_tail(tmp_path):
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if not _set_direct(fd, True):
            pytest.skip("this filesystem refuses O_DIRECT")
        buffers = [mmap.mmap(-1, 4 * ALIGN) for _ in range(3)]
        for i, buffer in enumerate(buffers):
            buffer.write(bytes([65 + i]) * len(buffer))
        views = [memoryview(b) for b in buffers]
        assert write_chunks(fd, views[:2], True), "control: aligned chunks stay direct"
        assert not write_chunks(fd, [views[2][: ALIGN + 5]], True), "an unaligned tail leaves direct mode"
    finally:
        os.close(fd)
    assert (tmp_path / "out").read_bytes() == b"A" * 4 * ALIGN + b"B" * 4 * ALIGN + b"C" * (ALIGN + 5)


def test_a_large_file_over_several_groups_with_a_tail_is_byte_identical(tmp_path):
    q = tmp_path / "q"
    size = (2 * copy.GROUP + 3) * copy.BUFFER_SIZE + 123  # two full groups, a short one, a tail
    line = b"a line of a long log with some digits 0123456789\n"
    write(q / "big.log", (line * (size // len(line) + 1))[:size].decode())
    result = vmguard.vet(q, policy(), tmp_path / "pub" / "run1")
    assert result.status.value == "promoted"
    assert published_files(tmp_path / "pub" / "run1") == published_files(q)


def test_answers_come_before_the_worker_waits_for_bytes():
    """The parent sends one file, then waits for its answer before sending the next
    (as when IN_FLIGHT is reached): a worker that held answers back until its buffer
    filled would never answer (the test's 10 s deadline would fail it)."""
    with Detector(workers=1) as detector:
        for i in range(20):
            upload = detector.begin()
            upload.feed(b"line %d\n" % i)
            detector._flush(upload.request.worker)
            pending = upload.end()
            detector._flush(upload.request.worker)
            answer = pending.result()
            assert answer is not None and answer.mime == "text/plain"
