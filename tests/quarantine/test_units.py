"""Pure parts: name checks, the safe display of names, executable signatures, type globs,
and the libmagic worker's sandbox (a real worker process)."""

from __future__ import annotations

import json
import os
import signal
import struct
import time
from pathlib import Path

import pytest

from tests.quarantine.conftest import ELF
from tests.support.require import require_root
from vmguard.core.display import shown
from vmguard.quarantine import detect_process, report
from vmguard.quarantine.content import executable_format, type_allowed
from vmguard.quarantine.detect import Detector
from vmguard.quarantine.model import Entry, Kind, Reason, Status, Verdict, VetResult
from vmguard.quarantine.names import colliding, name_reasons


@pytest.mark.parametrize(
    "name, reason",
    [
        ("", Reason.NAME_EMPTY),
        ("..", Reason.NAME_TRAVERSAL),
        ("a/b", Reason.NAME_TRAVERSAL),
        ("..\\x", Reason.NAME_TRAVERSAL),
        ("tab\there", Reason.NAME_CONTROL),
        ("c1\x85", Reason.NAME_CONTROL),
        ("rtl\u202egnp.exe", Reason.NAME_CONTROL),
        (os.fsdecode(b"\xff\xfe"), Reason.NAME_NOT_UTF8),
        ("\u00e9" * 60, Reason.NAME_TOO_LONG),  # 120 bytes in UTF-8
        ("...", Reason.NAME_DOTFILE),  # not traversal, but hidden from ls and globs
    ],
)
def test_name_reasons(name, reason):
    assert reason in name_reasons(name, max_length=100)


def test_ordinary_names_pass():
    for name in ("run_0042.root", "résumé.txt", "データ.json", "a b (1).txt", "a...b"):
        assert name_reasons(name, 255) == [], name


def test_collisions_by_case_and_normalisation():
    names = ["Data.txt", "data.TXT", "caf\u00e9", "cafe\u0301", "other"]
    assert colliding(names) == set(names) - {"other"}


def test_shown_escapes_everything_that_could_forge_output():
    assert shown("a\nb") == "a\\x0ab"
    assert shown("back\\slash") == "back\\\\slash"
    assert shown(os.fsdecode(b"x\xff")) == "x\\xff"
    assert shown("\u202e") == "\\u202e"
    assert shown("plain é.txt") == "plain é.txt"


PE_FAR = b"MZ" + b"\0" * 58 + struct.pack("<I", 4096) + b"\0" * 100


@pytest.mark.parametrize(
    "head, fmt",
    [
        (ELF[:512], "ELF"),
        (b"\xca\xfe\xba\xbe" + b"\0" * 60, "Mach-O"),
        (b"#!/usr/bin/env python\n", "script (#!)"),
        (PE_FAR, "PE"),  # PE header beyond what is seen: still refused
        (b"MZ is my name and this is a long enough plain text file, not a program at all....", None),
        (b"just text\n", None),
    ],
)
def test_executable_signatures(head, fmt):
    assert executable_format(head) == fmt


def test_type_globs():
    allow = ("text/*", "application/json")
    assert type_allowed("text/csv", allow) and type_allowed("application/json", allow)
    assert not type_allowed("application/json-seq", allow)
    assert not type_allowed("textual/plain", allow)


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def test_libmagic_worker_runs_confined():
    require_root()
    with Detector(workers=1) as detector:
        assert detector.submit(b"hello\n").result().mime == "text/plain"  # loaded and confined
        pid = detector.workers[0].proc.pid
        status = proc_status(pid)
        assert status["Uid"].split()[0] == "65534" and status["Groups"].strip() == ""
        limits = Path(f"/proc/{pid}/limits").read_text()
        assert "Max address space         268435456" in limits
        assert "Max open files            3" in limits
        assert "Max file size             0" in limits
        assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]


def test_libmagic_reading_memory_it_never_wrote_sees_zeros():
    """libmagic 5.44's full-word string tests read one byte past a search region that
    ends the buffer: in the text pass an uninitialised heap byte, so the answer for these
    bytes followed whatever the previous file left there. The worker's allocator hands
    out zeroed memory, so the answer is the same after any file."""
    script = b"#! /usr/bin/stap"
    with Detector(workers=1) as detector:
        answers = {
            p.result().mime
            for prev in (b"a" * 16 + b" ", b"a" * 17, b"abcdefghijklmnopq")
            for p in (detector.submit(prev), detector.submit(script))[1:]
        }
    assert answers == {"text/x-systemtap"}


def test_a_worker_that_cannot_start_stops_the_vet_at_once(tmp_path, monkeypatch):
    broken = tmp_path / "worker.py"
    broken.write_text("import sys\nsys.exit(3)\n")  # e.g. libmagic missing
    monkeypatch.setattr(detect_process, "WORKER", broken)
    start = time.monotonic()
    with Detector(workers=2) as detector, pytest.raises(OSError, match="did not start .exit status 3"):
        [detector.submit(b"hello %d\n" % i) for i in range(200)][-1].result()
    assert time.monotonic() - start < 5  # not one worker start per file


def test_a_request_held_back_while_the_copy_runs_long_is_not_timed_out():
    """Requests are written in batches: a deadline starts when one is written, not when
    a file's head was queued before a long copy."""
    with Detector(workers=1) as detector:
        assert detector.submit(b"hello\n").result().mime == "text/plain"
        detector.timeout = 0.5
        pending = detector.submit(b'{"a": 1}')
        time.sleep(1.0)  # copying a large file
        assert pending.result().mime == "application/json"


def test_a_worker_that_dies_hands_its_requests_on():
    with Detector(workers=1) as detector:
        assert detector.submit(b"hello\n").result().mime == "text/plain"
        dead = detector.workers[0].proc
        os.kill(dead.pid, signal.SIGKILL)
        dead.wait()
        pending = [detector.submit(b'{"n": %d}' % i) for i in range(40)]  # written to a closed pipe
        got = [p.result() for p in pending]
        got = [a and a.mime for a in got]
        assert detector.workers[0].proc.pid != dead.pid
    assert got == [None] + ["application/json"] * 39  # the oldest request is given up


def test_pipelined_answers_come_back_to_the_right_files():
    heads = [b"plain text %d\n" % i if i % 3 else b'{"n": %d}' % i for i in range(500)]
    with Detector(workers=2) as detector:
        pending = [detector.submit(h) for h in heads]
        got = [p.result().mime for p in pending]
    assert got == ["text/plain" if i % 3 else "application/json" for i in range(500)]


def test_streamed_reports_are_the_one_shot_json_of_the_result():
    """report.py encodes a batch of entries at a time; the bytes are json.dumps' own,
    also when a path that is not an entry's spells out the "entries" key."""
    entries = tuple(
        Entry(f"d/f{i:05}.txt", Kind.FILE, Verdict.ACCEPTED, size=i, sha256="0" * 64, mime="text/plain")
        for i in range(2 * report.BATCH + 7)
    )
    for some in (entries, ()):
        result = VetResult("job1", '/q/"entries": []/x', Status.PROMOTED, some, output="/pub/job1")
        streamed = b"".join(report.report_json(result))
        one_shot = {"schema": report.VET_SCHEMA, **result.to_dict()}  # vet.json names its schema
        assert streamed == json.dumps(one_shot, sort_keys=True).encode() + b"\n"
        walked = [(f'd/"walked": []{i}', i, i, i, i) for i in range(len(some))] + [("d", 7)]
        manifest = json.loads(b"".join(report.manifest(result, "p.yaml", {}, walked)))
        assert [Entry.from_dict(e) for e in manifest["entries"]] == list(some)
        assert manifest["walked"] == [list(row) for row in walked]
        assert manifest["quarantine"] == '/q/"entries": []/x'
