"""Text, JSON and gzip files for the independent content attack d
(tests/quarantine/test_attack_independent_dcontent.py). Controls are what the real tools
write; hostile files are real output with a byte patch. Every hostile file that hides a
payload carries MARK there, so a test can show the payload reached the public area.
"""

from __future__ import annotations

import configparser
import csv
import gzip
import io
import json
import logging
import struct
import traceback
import zlib

import numpy as np

MARK = b"PAYLOAD-d-" * 8
PAGE = b"run ok\n" * 100  # the markup sits past libmagic's 512-byte head


# ---------------------------------------------------------------- text and JSON


def _logging_text() -> bytes:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("attack-d-job")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        for i in range(30):
            log.info("event %d done", i)
        try:
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            log.exception("step failed")
    finally:
        log.removeHandler(handler)
    return out.getvalue().encode()


class _JsonFormatter(logging.Formatter):
    """One JSON object per record: structured logging as python-json-logger writes it."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"level": record.levelname, "msg": record.getMessage(), "n": record.lineno})


def _json_lines() -> bytes:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(_JsonFormatter())
    log = logging.getLogger("attack-d-jsonl")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        for i in range(20):
            log.info("event %d done", i)
    finally:
        log.removeHandler(handler)
    return out.getvalue().encode()


def text_controls() -> dict[str, bytes]:
    cp = configparser.ConfigParser()
    cp["run"] = {"seed": "7", "events": "1000"}
    ini = io.StringIO()
    cp.write(ini)
    try:
        raise ValueError("bad input")
    except ValueError:
        tb = traceback.format_exc()
    tsv = io.StringIO()
    csv.writer(tsv, delimiter="\t").writerows([["a", "b c", "x\ny"]] * 5)
    sv = io.BytesIO()
    np.savetxt(sv, np.arange(12).reshape(4, 3), fmt="%d", delimiter="\t", header="x y z")
    return {
        "ctl-logging.log": _logging_text(),
        "ctl-configparser.ini": ini.getvalue().encode(),
        "ctl-traceback.log": tb.encode(),
        "ctl-csv.tsv": tsv.getvalue().encode(),
        "ctl-savetxt.tsv": sv.getvalue(),
        "ctl-json-compact.json": json.dumps({"µ": "é", "runs": [1, 2.5, None]}).encode(),
        "ctl-json-indent.json": json.dumps({"runs": [{"id": i} for i in range(50)]}, indent=4).encode(),
        "ctl-json-lines.log": _json_lines(),
        "ctl-print-lists.log": "".join(f"{[i, i * 0.5, i * i]}\n" for i in range(40)).encode(),
        "ctl-utf16.log": ("run ok µ\n" * 50).encode("utf-16"),
    }


# Markup a browser runs with no click, in a file whose name makes a web server say text/html.
MARKUP = {
    "html-img-onerror.html": b"<img src=x onerror=alert(1)>",
    "html-details-ontoggle.html": b"<details open ontoggle=alert(1)>",
    "html-input-onfocus.html": b"<input autofocus onfocus=alert(1)>",
    "html-video-onerror.html": b"<video src=x onerror=alert(1)></video>",
    "html-custom-tag.html": b"<xss autofocus tabindex=1 onfocus=alert(1)></xss>",
    "html-frameset-onload.html": b"<frameset onload=alert(1)>",
    "html-a-javascript-href.html": b"<a href=javascript:alert(1)>results</a>",
    "xhtml-prefixed-script.xml": b'<r xmlns:h="http://www.w3.org/1999/xhtml"><h:script>alert(1)</h:script></r>',
}


def text_hostile() -> dict[str, bytes]:
    files = {name: PAGE + tag + b"\n" for name, tag in MARKUP.items()}
    files["html-upper-script.html"] = PAGE + b"<SCRIPT>alert(1)</SCRIPT>\n"  # control of the rule
    files["html-utf16-script.html"] = (PAGE.decode() + "<script>alert(1)</script>\n").encode("utf-16")
    files["text-pdf-after-head.pdf"] = PAGE + _pdf(len(PAGE))
    files["windows-script.vbs"] = b'CreateObject("WScript.Shell").Run "calc.exe"\r\n'
    files["windows-batch.bat"] = b"calc.exe\r\n"
    files["text-utf8-surrogate.log"] = b"ok \xed\xa0\x80 x\n"
    files["text-utf8-overlong3.log"] = b"ok \xe0\x80\xaf x\n"
    files["text-utf8-above-max.log"] = b"ok \xf4\x90\x80\x80 x\n"
    files["text-utf16-odd-tail.log"] = "ok line\n".encode("utf-16") + b"A"
    files["text-utf32.log"] = "ok line\n".encode("utf-32")
    files["text-del.log"] = b"ok\x7f\n"
    # JSON: one value, then only white space; white space is the payload (2 bits a byte)
    stego = bytes(b" \t\r\n"[(c >> s) & 3] for c in MARK for s in (0, 2, 4, 6))
    files["json-trailing-whitespace.json"] = b'{"a": 1}' + stego
    bits = [(c >> i) & 1 for c in MARK[:16] for i in range(8)]
    files["json-escape-choice.json"] = b'{"path": "' + b"".join(b"\\/" if b else b"/" for b in bits) + b'"}'
    files["json-script-string.html"] = json.dumps({"x": "<script>alert(1)</script>"}).encode()
    files["json-img-string.html"] = json.dumps({"x": "<img src=x onerror=alert(1)>"}).encode()
    return files


def _pdf(at: int) -> bytes:
    """An all-ASCII PDF whose catalog runs JavaScript when opened, placed at offset at (PDF
    readers look for %PDF- in the first 1024 bytes)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
        b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>",
    ]
    body, offsets = b"%PDF-1.4\n", []
    for i, obj in enumerate(objects):
        offsets.append(at + len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (i + 1, obj)
    xref = at + len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return body + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


# ---------------------------------------------------------------- gzip


def _deflate(body: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(body) + comp.flush()


def _member(body: bytes, flags: int = 0, fields: bytes = b"", head: bytes = b"\0\0\0\0\0\xff") -> bytes:
    """One gzip member: FLG, then MTIME+XFL+OS (head), the optional fields, deflate, trailer."""
    return (
        b"\x1f\x8b\x08"
        + bytes([flags])
        + head
        + fields
        + _deflate(body)
        + struct.pack("<II", zlib.crc32(body), len(body))
    )


CSV = b"a,b\n1,2\n"


def gzip_controls() -> dict[str, bytes]:
    named = io.BytesIO()
    # gzip.open and the gzip command store the name (FNAME), as here: the name the file is
    # published as, without .gz (a gzip renamed after writing is refused: `gunzip -N`).
    with gzip.GzipFile(filename="ctl-fname.csv.gz", mode="wb", fileobj=named, mtime=1700000000) as f:
        f.write(CSV)
    appended = io.BytesIO()
    for session in range(3):  # gzip.open(path, "at") per session: one member each
        with gzip.GzipFile(fileobj=appended, mode="ab") as f:
            f.write(b"session %d ok\n" % session)
    empty = io.BytesIO()
    with gzip.GzipFile(filename="ctl-empty.log.gz", mode="wb", fileobj=empty, mtime=1700000000):
        pass  # a job's error log with no line in it
    return {
        "ctl-fname.csv.gz": named.getvalue(),
        "ctl-plain.csv.gz": gzip.compress(CSV),
        "ctl-appended.log.gz": appended.getvalue(),
        "ctl-empty.log.gz": empty.getvalue(),
    }


def gzip_hostile() -> dict[str, bytes]:
    stored_empty = b"\xf8\x00\x00\xff\xff"  # BFINAL 0, stored, 5 padding bits set, LEN 0
    padded = stored_empty * 64 + _deflate(CSV)
    return {
        "gz-fcomment.csv.gz": _member(CSV, 0x10, MARK + b"\0"),
        "gz-fname-payload.csv.gz": _member(CSV, 0x08, MARK * 20 + b"\0"),
        "gz-fname-escape.csv.gz": _member(CSV, 0x08, b"\x1b]0;owned\x07.csv\0"),
        "gz-fname-dotfile.csv.gz": _member(CSV, 0x08, b".bashrc\0"),
        "gz-empty-members.csv.gz": b"".join(
            _member(b"", head=MARK[i : i + 4] + b"\0\xff") for i in range(0, len(MARK), 4)
        )
        + _member(CSV),
        "gz-stored-padding-bits.csv.gz": b"\x1f\x8b\x08\0\0\0\0\0\0\xff"
        + padded
        + struct.pack("<II", zlib.crc32(CSV), len(CSV)),
        "gz-fhcrc-wrong.csv.gz": _member(CSV, 0x02, b"\x12\x34"),  # control: refused
        "gz-reserved-flag.csv.gz": _member(CSV, 0x20),  # control: refused
    }
