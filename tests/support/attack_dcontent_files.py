"""Files for the independent content attack d (tests/quarantine/test_attack_independent_dcontent.py):
text, JSON, gzip and FITS. Controls are what the real tools write; hostile files are real
output with a byte patch. Every hostile file carries MARK where the payload sits, so a test
can show the payload reached the public area.
"""

from __future__ import annotations

import configparser
import csv
import gzip
import io
import json
import logging
import struct
import tempfile
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

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
    with gzip.GzipFile(filename="out.csv", mode="wb", fileobj=named, mtime=1700000000) as f:
        f.write(CSV)  # gzip.open and the gzip command store the name (FNAME), as here
    return {"ctl-fname.csv.gz": named.getvalue(), "ctl-plain.csv.gz": gzip.compress(CSV)}


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


# ---------------------------------------------------------------- FITS


def _hdul(hdus: list) -> bytes:
    out = io.BytesIO()
    fits.HDUList(hdus).writeto(out)
    return out.getvalue()


def _cards(data: bytes, start: int) -> tuple[dict[bytes, bytes], dict[bytes, int], int]:
    """A header's values and card offsets, and where its data starts."""
    values: dict[bytes, bytes] = {}
    where: dict[bytes, int] = {}
    off = start
    while True:
        card = data[off : off + 80]
        key = card[:8].strip()
        values.setdefault(key, card[10:30].strip())
        where.setdefault(key, off)
        off += 80
        if key == b"END":
            return values, where, start + -(-(off - start) // 2880) * 2880


def _hdu_at(data: bytes, index: int) -> tuple[int, int, int]:
    """(header offset, data offset, data size) of HDU index (images and tables)."""
    off = 0
    for i in range(index + 1):
        values, _, start = _cards(data, off)
        n = int(values[b"NAXIS"])
        product = int(np.prod([int(values[b"NAXIS%d" % (k + 1)]) for k in range(n)])) if n else 0
        size = abs(int(values[b"BITPIX"])) // 8 * (product + int(values.get(b"PCOUNT", b"0")))
        if i == index:
            return off, start, size
        off = start + -(-size // 2880) * 2880
    raise AssertionError("unreachable")


def _set(data: bytes, header: int, key: bytes, value: int) -> bytes:
    _, where, _ = _cards(data, header)
    card = (key.ljust(8) + b"= " + str(value).encode().rjust(20)).ljust(80)
    return data[: where[key]] + card + data[where[key] + 80 :]


def _add(data: bytes, header: int, key: bytes, value: int) -> bytes:
    _, where, start = _cards(data, header)
    end = where[b"END"]
    assert end + 160 <= start, "no free card before the header's end"
    card = (key.ljust(8) + b"= " + str(value).encode().rjust(20)).ljust(80)
    return data[:end] + card + b"END".ljust(80) + data[end + 160 :]


def _redata(data: bytes, index: int, body: bytes, fill: bytes = b"\0") -> bytes:
    """HDU index's data section replaced by body, filled to 2880 again."""
    _, start, size = _hdu_at(data, index)
    end = start + -(-size // 2880) * 2880
    return data[:start] + body + fill * (-len(body) % 2880) + data[end:]


def fits_files() -> dict[str, bytes]:
    rng = np.random.default_rng(5)
    vla = _hdul(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns(
                [
                    fits.Column(name="e", format="D", array=rng.normal(size=10)),
                    fits.Column(name="v", format="PJ()", array=[[1, 2], [3]] * 5),
                ]
            ),
        ]
    )
    ascii_t = _hdul(
        [
            fits.PrimaryHDU(),
            fits.TableHDU.from_columns(
                [
                    fits.Column(name="a", format="I5", array=np.arange(10)),
                    fits.Column(name="b", format="E12.4", array=rng.normal(size=10)),
                ]
            ),
        ]
    )
    ext = _hdul([fits.PrimaryHDU(), fits.ImageHDU(np.arange(20, dtype="i2"))])
    bits = _hdul(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns(
                [
                    fits.Column(name="b", format="3X", array=np.array([[1, 0, 1]] * 4, dtype=bool)),
                    fits.Column(name="l", format="L", array=np.array([True, False, True, False])),
                ]
            ),
        ]
    )
    table = Table({"e": rng.normal(size=10) * u.GeV, "id": np.arange(10)}, meta={"RUN": 7})
    out, ecsv = io.BytesIO(), io.StringIO()
    table.write(out, format="fits")
    table.write(ecsv, format="ascii.ecsv")
    groups = fits.GroupData(
        rng.normal(size=(4, 1, 2, 2)).astype("f4"),
        parnames=["u", "v"],
        pardata=[rng.normal(size=4).astype("f4"), rng.normal(size=4).astype("f4")],
        bitpix=-32,
    )
    rice = fits.CompImageHDU(rng.integers(0, 100, (64, 64)).astype("i4"), compression_type="RICE_1")
    comment = fits.Header()
    comment["COMMENT"] = "<img src=x onerror=alert(1)>"
    return {
        "ctl-vla.fits": vla,
        "ctl-ascii-table.fits": ascii_t,
        "ctl-image-ext.fits": ext,
        "ctl-bits.fits": bits,
        "ctl-astropy-table.fits": out.getvalue(),
        "ctl-astropy-table.ecsv": ecsv.getvalue().encode(),
        "ctl-groups.fits": _groups(groups),
        "ctl-rice.fits": _hdul([fits.PrimaryHDU(), rice]),
        "fits-bit-padding.fits": _bit_padding(bits),
        "fits-logical-other.fits": _logical_other(bits),
        "fits-heap-unreferenced.fits": _heap_unreferenced(vla),
        "fits-theap-gap.fits": _theap_gap(vla),
        "fits-image-pcount.fits": _image_pcount(ext),
        "fits-second-pcount.fits": _second_card(ext, b"PCOUNT  =                   20", MARK[:40]),
        "fits-image-gcount2.fits": _second_card(ext, b"GCOUNT  =                    2", ext[-2880:][:40]),
        "fits-ascii-column-gap.fits": _ascii_gap(ascii_t),
        "fits-comment-markup.html": _hdul([fits.PrimaryHDU(np.arange(4, dtype="i2"), header=comment)]),
    }


def _heap_unreferenced(vla: bytes) -> bytes:
    """Bytes after the heap's last array, inside PCOUNT: no descriptor points there."""
    header, start, size = _hdu_at(vla, 1)
    values, _, _ = _cards(vla, header)
    patched = _redata(vla, 1, vla[start : start + size] + MARK)
    return _set(patched, header, b"PCOUNT", int(values[b"PCOUNT"]) + len(MARK))


def _groups(groups: fits.GroupData) -> bytes:
    """Random groups (astropy writes them to a path only: a BytesIO raises on its arrays)."""
    with tempfile.TemporaryDirectory() as where:
        fits.GroupsHDU(groups).writeto(Path(where) / "g.fits")
        return (Path(where) / "g.fits").read_bytes()


def _bit_padding(bits: bytes) -> bytes:
    """The 5 bits of each row's 3X byte that hold no bit of the column: set."""
    _, start, _ = _hdu_at(bits, 1)
    x = bytearray(bits)
    for row in range(4):
        x[start + 2 * row] |= 0x1F
    return bytes(x)


def _logical_other(bits: bytes) -> bytes:
    """Logical bytes other than T, F and 0 (astropy reads them as False: the byte is lost)."""
    _, start, _ = _hdu_at(bits, 1)
    x = bytearray(bits)
    x[start + 1], x[start + 3] = ord("Z"), ord("Q")
    return bytes(x)


def _theap_gap(vla: bytes) -> bytes:
    """THEAP moves the heap away from the table: the bytes between are in no column or array."""
    header, start, size = _hdu_at(vla, 1)
    values, _, _ = _cards(vla, header)
    table = int(values[b"NAXIS1"]) * int(values[b"NAXIS2"])
    body = vla[start : start + table] + MARK + vla[start + table : start + size]
    patched = _redata(vla, 1, body)
    patched = _set(patched, header, b"PCOUNT", int(values[b"PCOUNT"]) + len(MARK))
    return _add(patched, header, b"THEAP", table + len(MARK))


def _image_pcount(ext: bytes) -> bytes:
    """An IMAGE extension with PCOUNT > 0: the bytes after the image belong to no pixel."""
    header, start, size = _hdu_at(ext, 1)
    patched = _redata(ext, 1, ext[start : start + size] + MARK[:40])
    return _set(patched, header, b"PCOUNT", 20)  # BITPIX 16: 20 x 2 bytes


def _second_card(ext: bytes, card: bytes, more: bytes) -> bytes:
    """A card added before END (a second PCOUNT, a GCOUNT) that would make more bytes data;
    the bytes follow the image (controls: refused)."""
    header, start, size = _hdu_at(ext, 1)
    patched = _redata(ext, 1, ext[start : start + size] + more)
    _, where, _ = _cards(patched, header)
    end = where[b"END"]
    return patched[:end] + card.ljust(80) + b"END".ljust(80) + patched[end + 160 :]


def _ascii_gap(table: bytes) -> bytes:
    """An ASCII table whose TBCOL2 leaves 8 columns of each row to no field."""
    header, start, size = _hdu_at(table, 1)
    values, _, _ = _cards(table, header)
    width, rows, col2 = int(values[b"NAXIS1"]), int(values[b"NAXIS2"]), int(values[b"TBCOL2"]) - 1
    body = b"".join(
        table[start + r * width : start + r * width + col2]
        + MARK[:8]
        + table[start + r * width + col2 : start + (r + 1) * width]
        for r in range(rows)
    )
    patched = _redata(table, 1, body, fill=b" ")
    patched = _set(patched, header, b"NAXIS1", width + 8)
    return _set(patched, header, b"TBCOL2", col2 + 9)


BUILDERS: tuple[Callable[[], dict[str, bytes]], ...] = (
    text_controls,
    text_hostile,
    gzip_controls,
    gzip_hostile,
    fits_files,
)


def write_all(where: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for build in BUILDERS:
        files.update(build())
    for name, data in files.items():
        (where / name).write_bytes(data)
    return files
