"""display.shown() and the renderers built on it, on their own (issue #24): shown() is
one inert line that names exactly one input, the Markdown writers keep their structure
and make no link, a batch verdict stays one line per item, the stream guard leaves
nothing raw, and the checks used by the CLI tests can fail."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.hostile_text import (
    FORGED,
    PIECES,
    assert_inert,
    assert_no_links,
    bad_characters,
    body_rows,
    headings,
    hostile_text,
    markdown_tokens,
)
from vmguard.audit.reports import markdown
from vmguard.batch.job import BatchJob
from vmguard.batch.verdict import JobOutcome, JobVerdict, Rejection
from vmguard.core.display import SafeStream, shown
from vmguard.fleet.report import _markdown as fleet_markdown

FAST = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
# What `report merge` counts per host and for the fleet (rules and score: issue #21).
COUNTED = {"rules": {"checked": 40, "passed": 37, "failed": 2, "waived": 1}, "score": 93}


@FAST
@given(texts=st.lists(hostile_text, min_size=1, max_size=8))
def test_fleet_markdown_keeps_its_structure(texts):
    pick = iter(texts * 20)
    hosts = [
        {
            "host": next(pick),
            "vms": 1,
            "failing": 1,
            "worst": "high",
            "by_severity": {"high": 1},
            "waived": 0,
            "unreachable": [next(pick)],
            **COUNTED,
        }
        for _ in range(2)
    ]
    findings = [
        {
            "severity": "high",
            "waived": False,
            "host": next(pick),
            "vm": next(pick),
            "rule": "VMG-FS-001",
            "message": next(pick),
            "remediation": next(pick),
        }
        for _ in range(3)
    ]
    doc = {
        "generated": next(pick),
        "totals": {
            "hosts": 2,
            "vms": 2,
            "failing": 3,
            "by_severity": {"high": 3},
            "waived": 0,
            "unreachable": 2,
            **COUNTED,
        },
        "hosts": hosts,
        "findings": findings,
    }
    md = fleet_markdown(doc)
    assert_inert(md)
    tokens = markdown_tokens(md)
    assert_no_links(md, tokens)
    assert len(headings(tokens)) == 3
    assert body_rows(tokens) == len(hosts) + len(findings)


def test_batch_verdict_text_and_summary_stay_one_line_each():
    hostile = "x\x1b]52;c;Zm9v\x07\u202e" + FORGED
    job = BatchJob(runner="slurm", id="42" + hostile, user="u", uid=1000, gid=1000, name=hostile)
    verdict = JobVerdict(
        job=job,
        outcome=JobOutcome.REJECTED,
        message=hostile,
        vm=hostile,
        quarantine=hostile,
        rejected=(Rejection("already\\x1bshown", hostile), Rejection(hostile, "name-control-characters")),
    )
    text = verdict.text()
    assert_inert(text)
    assert len(text.splitlines()) == 4  # head, two rejections, what to do
    assert "rejected: already\\x1bshown: " in text  # the vet's shown form is not escaped twice
    assert_inert(verdict.summary(), allowed="")


def test_the_stream_guard_alone_leaves_nothing_raw():
    out = io.StringIO()
    guard = SafeStream(out)
    for piece in PIECES:
        print(f"line {piece} end", file=guard)
    assert_inert(out.getvalue(), allowed="\n\t")
    assert "already \\x1b shown" in (SafeStream(out).write("already \\x1b shown") and out.getvalue())


def test_the_checks_can_fail():
    """Controls: raw hostile text fails the oracle and breaks a Markdown table."""
    assert bad_characters("a\x1b]52;c;Zm9v\x07") and bad_characters("evil\u202egpj.exe")
    raw_row = "| severity | finding |\n|---|---|\n| high | " + FORGED.replace("\n", "\r\n") + " |\n"
    assert body_rows(markdown_tokens(raw_row)) > 1
    assert (
        body_rows(markdown_tokens(raw_row.replace(FORGED.replace("\n", "\r\n"), markdown.esc(FORGED)))) == 1
    )
    for link in ("see https://evil.example/x", "a@evil.com", "www.evil.example", "x;;//evil.example/"):
        with pytest.raises(AssertionError):
            assert_no_links(link, markdown_tokens(link))
        assert_no_links(markdown.esc(link), markdown_tokens(markdown.esc(link)))


def _unshown(text: str) -> str:
    """The inverse of display.shown(), written from its documented escapes."""
    out, i = [], 0
    while i < len(text):
        if text[i] != "\\":
            out.append(text[i])
            i += 1
            continue
        kind = text[i + 1]
        if kind == "\\":
            out.append("\\")
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}[kind]
        code = int(text[i + 2 : i + 2 + width], 16)
        out.append(chr(code + 0xDC00) if kind == "x" and code >= 0x80 else chr(code))
        i += 2 + width
    return "".join(out)


@FAST
@given(text=st.one_of(hostile_text, st.binary(max_size=40).map(os.fsdecode)))
def test_shown_is_one_inert_line_that_names_exactly_one_input(text):
    out = shown(text)
    assert_inert(out, allowed="")
    assert _unshown(out) == text  # unambiguous: two inputs never show the same


def test_shown_examples():
    assert shown("evil\u202egpj.exe") == "evil\\u202egpj.exe"
    assert shown("a\x1b]52;c;Zm9v\x07") == "a\\x1b]52;c;Zm9v\\x07"
    assert shown("\u2028\u2029\r\n") == "\\u2028\\u2029\\x0d\\x0a"
    assert shown("\x85") == "\\u0085" and shown(os.fsdecode(b"\x85")) == "\\x85"
    assert shown("C:\\VMs") == "C:\\\\VMs" and shown("plain é 名前") == "plain é 名前"
    assert shown("\U000e0041\ufe0f\u3164") == "\\U000e0041\\ufe0f\\u3164"
