"""A file's libmagic type is a function of its bytes alone, not of the files typed before.

Each libmagic worker types every file of a job on the same handles, in the walk's order,
which the guest sets by naming its files. libmagic 5.44 keeps nothing on a handle that
changes the next answer, but it reads a byte it never wrote (a full-word `search` test
that ends the buffer reads past the text pass's copy, a fresh malloc): on memory handed
back as it was freed, `#! /usr/bin/stap` or `#! /usr/bin/texlua` are text/plain after
most files and scripts after others. The worker's allocator hands out zeroed memory
(glibc tunables), and a worker checks that it does before it says it is ready.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.magic_corpus import SEARCHED, corpus, dirty, fresh, run_in_order
from vmguard.quarantine import detect_process
from vmguard.quarantine.detect import Detector

ROOT = Path(__file__).parents[2]
BARE = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
UNZEROED = {  # environments whose allocator hands back freed memory as it was
    "none": BARE,
    "perturb, tcache on": BARE | {"GLIBC_TUNABLES": "glibc.malloc.perturb=255"},
    "no tcache, no perturb": BARE | {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"},
}


def after_each(buffers: list[bytes], env: dict[str, str] | None = None) -> list[tuple[bytes, bytes, str]]:
    """(earlier, later, answer) for every ordered pair: `later` typed right after
    `earlier`, all pairs in one worker-like process."""
    answers = run_in_order([[x for later in buffers for x in (earlier, later)] for earlier in buffers], env)
    return [
        (earlier, later, typed[2 * i + 1])
        for earlier, typed in zip(buffers, answers, strict=True)
        for i, later in enumerate(buffers)
    ]


def test_every_buffer_is_typed_the_same_after_every_other():
    buffers = corpus()
    alone = dict(zip(buffers, fresh(buffers), strict=True))
    changed = [(e[:24], later, a, alone[later]) for e, later, a in after_each(buffers) if a != alone[later]]
    assert changed == []
    assert len(set(alone.values())) > 40  # the corpus reaches many types, scripts among them
    assert alone[b"#! /usr/bin/stap"] == "text/x-systemtap"


def test_the_corpus_sees_earlier_files_where_memory_comes_back_as_freed():
    """The test above can fail: without the worker's tunables the searched scripts'
    types follow the file before them (the tunables are what makes them pure)."""
    lines = [b for b in corpus() if b.endswith(SEARCHED)]
    zeroed = dict(zip(lines, fresh(lines), strict=True))
    pairs = after_each(lines + dirty(), UNZEROED["none"])
    flipped = {later for _, later, answer in pairs if later in zeroed and answer != zeroed[later]}
    assert {b"#! /usr/bin/stap", b"#! /usr/bin/texlua"} <= flipped


@pytest.mark.parametrize("env", UNZEROED.values(), ids=UNZEROED.keys())
def test_a_worker_whose_memory_comes_back_as_freed_does_not_start(env, monkeypatch):
    monkeypatch.setattr(detect_process, "WORKER_ENV", env)
    with Detector(workers=1) as detector, pytest.raises(OSError, match="did not start: .* not zeroed"):
        detector.submit(b"#! /usr/bin/stap").result()


POLICY = "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: order}\nspec:\n  quarantine:\n    allow_types: [text/plain]\n"
# Scripts in UTF-16 (no `#!` a kernel runs, so only libmagic's type refuses them):
# text/x-systemtap and text/x-luatex on zeroed memory, text/plain after most files.
LATER = {
    "b-stap.txt": b"\xff\xfe" + "#! /usr/bin/stap".encode("utf-16-le"),
    "b-texlua.txt": b"\xff\xfe" + "#! /usr/bin/texlua".encode("utf-16-le"),
}


def vet_entries(area: Path, files: dict[str, bytes]) -> dict[str, dict]:
    (area / "q").mkdir(parents=True)
    for name, data in files.items():
        (area / "q" / name).write_bytes(data)
    (area / "policy.yaml").write_text(POLICY)
    argv = [sys.executable, "-m", "vmguard", "vet", str(area / "q"), "--policy", str(area / "policy.yaml")]
    argv += ["--to", str(area / "pub"), "--format", "json"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return {e["path"]: e for e in json.loads(proc.stdout)["entries"]}


def test_files_named_to_be_typed_first_do_not_change_a_later_files_verdict(tmp_path):
    """Letters of the lengths whose copies the scripts' text pass reuses, and a snappy
    frame, named to sort first: twice as many as the workers (files go to the workers
    in turn), so each worker types some before the scripts."""
    earlier = {f"a{i:02}.txt": data for i, data in enumerate(dirty() * 2)}
    earlier["a.sz"] = b"\xff\x06\x00\x00sNaPpY" + bytes(20)
    assert len(earlier) >= 2 * (os.cpu_count() or 1)
    after = vet_entries(tmp_path / "after", earlier | LATER)
    for name, data in LATER.items():
        alone = vet_entries(tmp_path / name, {name: data})[name]
        assert after[name] == alone
        assert alone["verdict"] == "rejected" and alone["reasons"] == ["type-not-allowed"]
    assert after["a00.txt"]["verdict"] == "accepted"
