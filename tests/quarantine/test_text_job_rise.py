"""text.MAX_RISE holds for the job (session 38, attack n text's multi/job-*.err): the
cursor-ups of a line beyond its first, summed over every admitted text file (an archive's
members with it), stay under 8, since `grep -h X *.err` shows the lines of all files one
after another. Real vets, per-file and whole-job promotion, a tar of such files, and
nested tqdm bars (one cursor-up a line: they add nothing)."""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
import tarfile

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.policy.model import PromoteMode, PromotePolicy
from vmguard.quarantine.model import Reason, Status, Verdict
from vmguard.quarantine.validators.text import MAX_RISE

UP = b"\x1b[A"


def climbing(excess: int) -> bytes:
    """Plain lines, then one line of excess + 1 cursor-ups (excess beyond its first)."""
    return b"epoch ok\n" * (excess + 1) + UP * (excess + 1) + b"FORGED\n"


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


def test_grep_of_files_under_the_bound_each_climbs_by_their_sum(tmp_path):
    """What the rule rests on: grep -h of the files climbs 1 + the sum of their excess."""
    for i, excess in enumerate((3, 4)):
        (tmp_path / f"job-{i}.err").write_bytes(climbing(excess))
    shown = subprocess.run(["grep", "-h", "FORGED", *sorted(map(str, tmp_path.iterdir()))],
                           capture_output=True, check=True).stdout
    assert climb_of(shown) == 1 + 3 + 4


def test_a_job_under_the_bound_is_published(tmp_path):
    files = {"a.err": climbing(3), "b.err": climbing(4), "plain.log": b"ok\n"}
    entries, result = vet_files(tmp_path, files, shipped("batch.yaml"))
    assert result.status is Status.PROMOTED, {p: e.detail for p, e in entries.items()}


def test_files_each_under_the_bound_are_refused_together(tmp_path):
    """4 + 4 reaches 8: both refused (no file order decides which), naming the other and
    the rule; the plain log is published (per-file mode)."""
    files = {"a.err": climbing(4), "sub/b.err": climbing(4), "plain.log": b"ok\n"}
    entries, result = vet_files(tmp_path, files, shipped("batch.yaml"))
    assert result.status is Status.PARTIAL
    assert entries["plain.log"].verdict is Verdict.ACCEPTED
    for name, other in (("a.err", "sub/b.err"), ("sub/b.err", "a.err")):
        entry = entries[name]
        assert entry.verdict is Verdict.REJECTED and entry.reasons == (Reason.INVALID_FORMAT,)
        assert repr(other) in entry.detail and f"are 8 in all, not fewer than {MAX_RISE}" in entry.detail
        assert not (tmp_path / "pub" / "run1" / name).exists()


def test_whole_job_promotion_refuses_the_job(tmp_path):
    files = {"a.err": climbing(4), "b.err": climbing(4), "plain.log": b"ok\n"}
    rules = shipped("batch.yaml")
    rules = dataclasses.replace(rules, promote=PromotePolicy(mode=PromoteMode.ALL_OR_NOTHING, file_mode=0o644,
                                                             dir_mode=0o755))
    entries, result = vet_files(tmp_path, files, rules)
    assert result.status is Status.REJECTED
    assert entries["a.err"].verdict is Verdict.REJECTED
    assert not (tmp_path / "pub" / "run1" / "plain.log").exists()


def test_an_archives_members_are_summed_with_it(tmp_path):
    """A tar of two members of 4 each: the archive's rise is 8 alone; with 3 + 4 it is
    7 and published, but then a loose file of 1 more reaches the bound."""
    rules = shipped("batch.yaml")
    rules = dataclasses.replace(rules, allow_types=(*rules.allow_types, "tar"))
    over = {"logs.tar": _tar({"a.err": climbing(4), "b.err": climbing(4)})}
    entries, _ = vet_files(tmp_path / "over", over, rules)
    assert entries["logs.tar"].verdict is Verdict.REJECTED, entries["logs.tar"]
    assert "are 8 in all" in entries["logs.tar"].detail
    under = {"logs.tar": _tar({"a.err": climbing(3), "b.err": climbing(4)})}
    entries, _ = vet_files(tmp_path / "under", under, rules)
    assert entries["logs.tar"].verdict is Verdict.ACCEPTED, entries["logs.tar"].detail
    entries, _ = vet_files(tmp_path / "both", under | {"c.err": climbing(1)}, rules)
    assert {entries[n].verdict for n in ("logs.tar", "c.err")} == {Verdict.REJECTED}


def test_one_cursor_up_a_line_adds_nothing(tmp_path):
    """Nested bars' lines (one cursor-up each) in many files: published whatever their number."""
    bars = b"files 0\n" + b"".join(b"events %d" % i + UP + b"\n" for i in range(40))
    files = {f"train-{i:02d}.err": bars for i in range(20)}
    entries, result = vet_files(tmp_path, files, shipped("batch.yaml"))
    assert result.status is Status.PROMOTED, {p: e.detail for p, e in entries.items()}


@pytest.mark.parametrize("excess", [MAX_RISE - 1])
def test_one_file_under_the_bound_alone_is_published(tmp_path, excess):
    entries, result = vet_files(tmp_path, {"a.err": climbing(excess)}, shipped("batch.yaml"))
    assert result.status is Status.PROMOTED, entries["a.err"].detail
