"""The cursor-up bound is per line, so it holds for any set of files (session 39, attack o
text: a bound summed per job failed for the public directory, which shows every job's
files, `grep -rh` of two jobs of 7 beyond each climbed 15). A line (LF to LF) holds at most
one ESC [ A and the file's first line none: whatever lines of whatever files a reader
shows, in any order, a view climbs at most 1 row above its first line. Real vets:
per-file and whole-job promotion, separate jobs into one public area, a tar, and many
files of nested tqdm bars (one cursor-up a line), published whatever their number."""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
import tarfile

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.policy.model import PromoteMode, PromotePolicy
from vmguard.quarantine.model import Reason, Status, Verdict

UP = b"\x1b[A"


def climbing(ups: int) -> bytes:
    """Plain lines, then one line of `ups` cursor-ups and a forged line."""
    return b"epoch ok\n" * ups + UP * ups + b"FORGED\n"


def one_a_line(lines: int) -> bytes:
    """Nested bars' lines: one cursor-up each, after a first line."""
    return b"files 0\n" + b"".join(b"events %d FORGED" % i + UP + b"\n" for i in range(lines))


def climb_of(data: bytes) -> int:
    row, top = 0, 0
    for token in re.findall(rb"\n|\x1b\[A", data):
        row += 1 if token == b"\n" else -1
        top = min(top, row)
    return -top


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_line_of_two_cursor_ups_is_refused_in_any_file(tmp_path):
    """Two cursor-ups on one line: refused, the file alone (no other file decides)."""
    files = {"a.err": climbing(2), "plain.log": b"ok\n"}
    entries, result = vet_files(tmp_path, files, shipped("batch.yaml"))
    assert result.status is Status.PARTIAL
    entry = entries["a.err"]
    assert entry.verdict is Verdict.REJECTED and entry.reasons == (Reason.INVALID_FORMAT,)
    assert f"ESC [ A near byte {9 * 2 + 3} is its line's second cursor-up" in entry.detail
    assert entries["plain.log"].verdict is Verdict.ACCEPTED


def test_whole_job_promotion_refuses_the_job(tmp_path):
    files = {"a.err": climbing(2), "plain.log": b"ok\n"}
    rules = dataclasses.replace(
        shipped("batch.yaml"),
        promote=PromotePolicy(mode=PromoteMode.ALL_OR_NOTHING, file_mode=0o644, dir_mode=0o755),
    )
    entries, result = vet_files(tmp_path, files, rules)
    assert result.status is Status.REJECTED
    assert not (tmp_path / "pub" / "run1" / "plain.log").exists()


def test_a_tar_member_with_a_two_up_line_refuses_the_tar(tmp_path):
    rules = shipped("batch.yaml")
    rules = dataclasses.replace(rules, allow_types=(*rules.allow_types, "tar"))
    files = {"bad.tar": _tar({"a.err": one_a_line(5), "b.err": climbing(2)}),
             "good.tar": _tar({"a.err": one_a_line(5), "b.err": one_a_line(9)})}
    entries, _ = vet_files(tmp_path, files, rules)
    assert entries["bad.tar"].verdict is Verdict.REJECTED, entries["bad.tar"]
    assert "is its line's second cursor-up" in entries["bad.tar"].detail
    assert entries["good.tar"].verdict is Verdict.ACCEPTED, entries["good.tar"].detail


def test_many_files_and_jobs_of_one_up_a_line_climb_one_row_together(tmp_path):
    """Nested bars' lines in many files of two jobs published into one public area, as
    promote.to does for a VM's jobs: all published; real `grep -rh` over the public area,
    every line holding a cursor-up, climbs 1 row above its first line."""
    pub = tmp_path / "pub"
    pub.mkdir()
    for job in ("job-a", "job-b"):
        files = {f"train-{i:02d}.err": one_a_line(40) for i in range(20)}
        entries, result = vet_files(tmp_path / job, files, shipped("batch.yaml"))
        assert result.status is Status.PROMOTED, {p: e.detail for p, e in entries.items()}
        (tmp_path / job / "pub" / "run1").rename(pub / job)
    shown = subprocess.run(["grep", "-rh", "FORGED", str(pub)], capture_output=True, check=True).stdout
    assert shown.count(UP) == 2 * 20 * 40
    assert climb_of(shown) == 1
