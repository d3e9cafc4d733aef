"""Attack n text's false rejections (session 38): a tag's name ends only at white space,
/ or > (`#include <form.h>` is no form), and libmagic's Python guess from words in a
.log's head (pytest's failure report) is text, while a script's name, no extension or a
`#!` keeps it refused. Real vets."""

from __future__ import annotations

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.validators import Invalid, Stream, text

# pytest -q's report of a failing test: its source within the first 512 bytes
REPORT = (
    b"F                                                                        [100%]\n"
    b"=================================== FAILURES ===================================\n"
    b"_________________________________ test_calib _________________________________\n\n"
    b"    def test_calib():\n"
    b">       assert Reco(\"/vmdata/input/calib_run42.txt\").calib\n"
    b"E       FileNotFoundError: [Errno 2] No such file or directory\n\n"
    b"test_reco.py:7: FileNotFoundError\n1 failed in 0.02s\n"
)


def _text(data: bytes, size: int | None = None) -> str:
    chunks = [data] if size is None else [data[i : i + size] for i in range(0, len(data), size)]
    return text.validate(Stream(iter(chunks)))


@pytest.mark.parametrize("size", [None, 1, 3, 7])
@pytest.mark.parametrize("data", [
    b"tui.c:1:10: fatal error: form.h: No such file or directory\n    1 | #include <form.h>\n",
    b"#include <object.h>\n#include <meta.h>\n#include <svg.h>\n#include <script.h>\n",
    b"<html-report> <bodyguard> <formula> <metadata> <embedded>\n",
    b"a log that ends in <form",
    b"error: no match for 'operator<' (std::vector<Body> and std::vector<Form>)\n",  # session 39
    b"<html> <body> <iframe> <META> <form >\n",  # bare: act through no attribute
])
def test_a_longer_tag_name_is_text(data, size):
    assert _text(data, size) == "text"


@pytest.mark.parametrize("size", [None, 1, 3, 7])
@pytest.mark.parametrize("data", [
    b"<form name=x>", b"x <form action=/login>", b"x <FORM\nmethod=post>", b"<svg/onload=alert(1)>",
    b"<script\tsrc=//evil.example/x.js>", b"<h:script>", b"<iframe src=x>", b"<meta http-equiv=refresh>",
    b"<object data=x.swf>", b"<embed src=x>", b"<body onload=x()>", b"<html\x0cmanifest=x>", b"<form/>",
])
def test_each_listed_tag_is_still_refused(data, size):
    with pytest.raises(Invalid, match="markup|FF \\(form feed"):  # FF: refused as a control
        _text(data, size)


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    files = {
        "pytest.log": REPORT, "pytest.txt": REPORT, "report": REPORT, "test_x.py": REPORT,
        "shebang.log": b"#!/usr/bin/python3\n" + REPORT, "other/report.": REPORT,
    }
    entries, _ = vet_files(tmp_path_factory.mktemp("guess"), files, shipped("batch.yaml"))
    return entries


def test_libmagic_calls_the_report_python(vetted):
    """What the rule rests on: without the rule, the report is a Python script to libmagic."""
    assert "text/x-script.python" in vetted["report"].detail, vetted["report"]


@pytest.mark.parametrize("name", ["pytest.log", "pytest.txt"])
def test_a_python_guess_named_as_data_is_published_as_text(vetted, name):
    entry = vetted[name]
    assert entry.verdict is Verdict.ACCEPTED and entry.mime == "text/plain", entry


@pytest.mark.parametrize("name", ["report", "other/report.", "test_x.py", "shebang.log"])
def test_a_script_name_no_extension_or_shebang_stays_refused(vetted, name):
    entry = vetted[name]
    assert entry.verdict is Verdict.REJECTED and Reason.EXECUTABLE_CONTENT in entry.reasons, entry
