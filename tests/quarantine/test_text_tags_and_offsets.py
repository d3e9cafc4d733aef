"""The text rule's markup and its report (issue #13, attack i's classes 3 and 4).

<object and <embed are in the rule because an HTML page loads and runs what they name,
not because a sniffer takes them for a page (none lists them): a tag of bare words, as
Python's repr of object() writes (`<object object at 0x7f...>`), names nothing and is
published; with an attribute that has a value it is refused, as are the tags sniffers
list, anywhere in the file. A refusal names the byte where the character is ("near byte
N"), not the start of the 1 MiB block it was read in. Real logs, vetted."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.validators import Invalid, text
from vmguard.quarantine.validators.stream import Stream

LINE = b"2026-12-05 07:00:00,001 WARNING run 42 event 17 done\n"
DEEP = 30_000  # lines before the character: 1.6 MB, past the first 1 MiB block


def _log(path: Path, messages: list[str], encoding: str = "utf-8") -> bytes:
    """What Python's logging writes to a job's log file."""
    logger = logging.getLogger(f"icfix-{path.name}")
    logger.propagate = False
    handler = logging.FileHandler(path, encoding=encoding)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    try:
        for message in messages:
            logger.warning(message)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return path.read_bytes()


HOSTILE_TAGS = {
    "object-data": b"<object data=https://evil.example/x.html>",
    "object-classid": b"<OBJECT classid=clsid:D27CDB6E-AE6D-11cf-96B8-444553540000>",
    "object-type": b'<object type="text/html" >',
    "object-slash": b"<object/data=x>",
    "object-prefixed": b'<h:object xmlns:h="http://www.w3.org/1999/xhtml" data="x">',
    "object-bare-then-data": b"<object object at 0x7f data=x>",
    "embed-src": b"<embed src=x.svg>",
    "form": b"<form action=/login>",
    "meta": b"<meta http-equiv=refresh content=0;url=x>",
    "iframe": b"<iframe src=x>",
    "body": b"<body onload=x()>",
    "script": b"<script>",
}


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    work = tmp_path_factory.mktemp("logs")
    sentinel = object()
    files = {
        "ctl/object-repr.log": _log(work / "a.log", [f"default {sentinel!r} replaced", "done"]),
        "ctl/object-repr-utf16.log": _log(work / "b.log", [f"cache {object()!r} dropped"], "utf-16"),
        "ctl/embed-bare.log": _log(work / "c.log", ["template holds <embed> and <object> placeholders"]),
        "ctl/metadata.log": _log(work / "d.log", ["read <metadata> and <format> blocks"]),
        # g++'s report of templates over classes named Body, Form, Meta (session 39, attack
        # o text): bare tags, which act through no attribute and no sniffer reads past the start
        "ctl/templates.log": _log(work / "e.log", ["no match for std::vector<Body> < std::map<Form, Meta>"]),
        "ctl/bare-tags.log": _log(work / "f.log", ["ids <Body > <Form> <Meta> of the <iframe> <form> table"]),
    }
    files |= {f"bad/{name}.log": LINE * 200 + tag + b"\n" + LINE for name, tag in HOSTILE_TAGS.items()}
    files["bad/deep-esc.log"] = LINE * DEEP + b"\x1b[2J\n"
    files["bad/deep-markup.log"] = LINE * DEEP + b"x <script>alert(1)</script>\n"
    files["bad/deep-utf16.log"] = ("\ufeff" + "µ" * DEEP + "\x1b").encode("utf-16-le")
    entries, _ = vet_files(tmp_path_factory.mktemp("tags"), files, shipped("batch.yaml"))
    return files, entries


def test_a_python_repr_and_bare_tags_are_published(vetted):
    files, entries = vetted
    for name in (n for n in files if n.startswith("ctl/")):
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]
    assert b"<object object at 0x" in files["ctl/object-repr.log"]


@pytest.mark.parametrize("name", sorted(HOSTILE_TAGS))
def test_a_tag_that_loads_or_that_sniffers_list_is_refused_anywhere(vetted, name):
    _, entries = vetted
    entry = entries[f"bad/{name}.log"]
    assert entry.reasons == (Reason.INVALID_FORMAT,), entry
    assert "text: markup" in entry.detail and f"near byte {200 * len(LINE)}" in entry.detail, entry.detail


@pytest.mark.parametrize(
    ("name", "at"),
    [("deep-esc", DEEP * len(LINE)), ("deep-markup", DEEP * len(LINE) + 2), ("deep-utf16", 2 + 2 * DEEP)],
)
def test_a_refusal_names_the_byte_of_the_character(vetted, name, at):
    _, entries = vetted
    detail = entries[f"bad/{name}.log"].detail
    assert f"near byte {at} " in detail, detail


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_a_tag_cut_by_a_chunk_boundary_is_judged_whole(size):
    """A bare tag left open at a chunk's end is judged with the next chunk's bytes."""
    for tag, refused in ((b"<object object at 0x7f3a2c1b0e70>", False), (b"<object aa bb cc data=x>", True),
                         (b"<h:embed a b c d e f g h i j k l m n src=x>", True)):  # fmt: skip
        data = b"x" * 4090 + tag + b"\n"
        chunks = iter([data[i : i + size] for i in range(0, len(data), size)])
        if refused:
            with pytest.raises(Invalid, match="markup"):
                text.validate(Stream(chunks))
        else:
            assert text.validate(Stream(chunks)) == "text"
