"""Files for tests/quarantine/test_attack_independent_jcontent.py (independent attack j,
content): names a web server types by an earlier extension, the text rule's `<object` and
`<embed` edges and chunk boundaries, "near byte N", text encodings; gzip in
attack_jcontent_gzip.py.

Every builder returns {path in the quarantine: bytes}. A path whose base name starts with
`ctl` is a control (real output, or a case the claims say is published) that must be
published byte-identical; any other path is a case the claims say must be refused.
"""

from __future__ import annotations

import csv
import io
import json
import logging

MIB = 1 << 20
# JSON whose white space no serializer writes: text to vmguard, so its spaces are free.
LOOSE_JSON = b'{ "run" :  42 ,"energy":   [0.5 ,  0.75] }\n'
# A line the text rule lets through (docs: `<img onerror>` in a .log is served as text):
# it runs where a browser renders the file as a page.
IMG = b"run 42 <img src=x onerror=alert(document.domain)>\n"

# Extensions Python's built-in table types (application/msword, audio/midi, text/richtext,
# image/pict ...) and Debian's /etc/mime.types does not; and .tr, which Debian's mime.conf
# un-types (`RemoveType tr`, `AddLanguage tr .tr`: Turkish, as Apache's MultiViews names
# pages: index.html.tr). Debian's Apache skips them, so the extension before decides.
SERVER_UNTYPED = ("tr", "midi", "rtx", "pic", "3gp", "wiz", "xlb", "mpa")
PAGE_HOLES = {f"index.html.{ext}": IMG for ext in SERVER_UNTYPED} | {"about.HTML.Tr": IMG}
JSON_HOLES = {f"run.json.{ext}": LOOSE_JSON for ext in ("tr", "midi", "rtx", "pic")}


def served_refused() -> dict[str, bytes]:
    """The same rule where vmguard applies it (refused, checked): a language, a charset, an
    encoding Apache adds (.br is Breton, .po Polish, .utf16, .jis charsets, .Z gunzip's) and
    the server-typed .es/.nws/.xpdl pages."""
    files = {f"index.html.{ext}": IMG for ext in ("br", "po", "en", "utf8", "jis", "es", "nws")}
    files |= {f"run.json.{ext}": LOOSE_JSON for ext in ("br", "po", "ml", "cs", "utf16", "latin1", "es")}
    # .bak is application/x-trash in Debian's table only: an upstream httpd sends it as JSON
    files["run.json.bak"] = LOOSE_JSON
    return files


def served_controls() -> dict[str, bytes]:
    """Typed by their last extension in every table (Apache sends text/plain, text/csv):
    text, published."""
    return {
        "ctl-run.json.txt": LOOSE_JSON,
        "ctl-run.json.csv": b"run,energy\n42,0.5\n",
        "ctl-index.html.txt": IMG,
    }


# Tags a page loads or runs whatever the bytes around them; refused by the text rule.
TAGS_REFUSED = {
    "tag-obj-nl.log": b"a <object\ndata=x.html>\n",
    "tag-obj-cr.log": b"a <object\rdata=x.html>\n",
    "tag-obj-tab.log": b"a <object\tdata=x.html>\n",
    "tag-obj-ff.log": b"a <object\x0cdata=x.html>\n",
    "tag-obj-space-eq.log": b"a <object data = x.html>\n",
    "tag-obj-unquoted-upper.log": b"a <OBJECT DATA=x.html>\n",
    "tag-obj-slash.log": b"a <object/data=x.html>\n",
    "tag-obj-nul.log": b"a <object\x00data=x.html>\n",
    "tag-obj-ns.log": b"a <h:object data=x.html>\n",
    "tag-obj-49-bare.log": b"a <object " + b"w " * 24 + b">\n",
    "tag-embed-nl.log": b"a <embed\nsrc=x.svg>\n",
    "tag-obj-nl-before-eq.log": b"a <object data\n=x.html>\n",
    "tag-obj-nl-after-eq.log": b"a <object data=\nx.html>\n",
    "tag-embed-blank-lines.log": b"a <embed src\n\n=\n\n//evil.example/x.svg>\n",
    "tag-obj-backtick.log": b"a <object data=`x.html`>\n",
    "tag-embed-cr.log": b"a <embed\rsrc=x.svg>\n",
    "tag-obj-utf16.log": "a <object data=x.html>\n".encode("utf-16"),
    "tag-embed-utf16be.log": b"\xfe\xff" + "a <embed src=x.svg>\n".encode("utf-16-be"),
    "tag-svg-utf16.log": "a <svg onload=alert(1)>\n".encode("utf-16"),
    "tag-iframe-srcdoc.log": b"a <iframe srcdoc='<script>alert(1)</script>'>\n",
    "tag-xml-stylesheet.log": b"a <?xml-stylesheet href=x.xsl?>\n",
}
# Bare tags, which name nothing (checked with headless Chromium while writing this: an
# <object> without data= loads no <param name=src>): published.
TAGS_PUBLISHED = {
    "ctl-tag-obj-repr.log": b"INFO pool=<object object at 0x7f3a2c4b1d90> ready\n",
    "ctl-tag-obj-repr-utf16.log": "x <object object at 0x7f3a2c4b1d90>\n".encode("utf-16"),
    "ctl-tag-obj-bare-attr.log": b"a <object data>\n",
    "ctl-tag-objective.log": b"trial 3: best <objective=0.31> after 40 steps\n",
    "ctl-tag-embedding.log": b"model <embedding dim=128 vocab=30000>\n",
}


def _filler(size: int) -> bytes:
    line = b"2024-12-05 10:00:00,001 INFO run 42 event 17 energy 0.75 done\n"
    return (line * (size // len(line) + 1))[:size]


def boundary_cases() -> dict[str, bytes]:
    """A tag at every offset that straddles the first 1 MiB chunk boundary (docs: tags cut
    at a chunk's end are judged whole): the bare-looking head of a tag whose value is in the
    next chunk, `<script`, and UTF-16 (2 bytes a character)."""
    files = {}
    for label, tag, lo in (("obj", b"<object data=x.html>", -21), ("split", b"<object abcd efgh ijkl=x>", -26),
                           ("script", b"<script>", -8)):  # fmt: skip
        for d in range(lo, 2):
            files[f"edge-{label}{d:+d}.log"] = _filler(MIB + d) + tag + b"\n" + _filler(100)
    for d in range(-24, 4, 2):
        body = ("a" * ((MIB + d - 2) // 2)).encode("utf-16-le")
        files[f"edge-utf16{d:+d}.log"] = b"\xff\xfe" + body + "<object data=x>\n".encode("utf-16-le")
    return files


def straddle_controls() -> dict[str, bytes]:
    """Real text whose character straddles the 1 MiB chunk boundary (a UTF-16 surrogate
    pair, UTF-8's 4-byte form, CRLF): published."""
    files = {"ctl-crlf-edge.log": b"a" * (MIB - 1) + b"\r\n" + b"b\r\n"}
    n = (MIB - 4) // 2
    files["ctl-utf16-pair-edge.log"] = b"\xff\xfe" + ("a" * n + "\U0001f600 ok\n").encode("utf-16-le")
    files["ctl-utf16be-pair-edge.log"] = b"\xfe\xff" + ("a" * n + "\U0001f600 ok\n").encode("utf-16-be")
    for d in (-3, -2, -1):
        files[f"ctl-utf8-4byte{d:+d}.log"] = b"a" * (MIB + d) + "\U0001f600 ok\n".encode()
    return files


# name -> (bytes, the byte the refusal must name: "near byte N" exact)
NEAR = {
    "near-utf8-2byte.log": (("é" * 1000 + "\x1b[0m\n").encode(), 2000),
    "near-utf16-surrogates.log": (("\U0001f600" * 1000 + "<script>\n").encode("utf-16"), 4002),
    "near-utf8-past-mib.log": (("€" * 349525 + "ab\x1b\n").encode(), 1048577),
    "near-utf16be-bel.log": (b"\xfe\xff" + ("é" * 700 + "\x07\n").encode("utf-16-be"), 1402),
    "near-edge-obj-3.log": (_filler(MIB - 3) + b"<object data=x>\n", MIB - 3),
}


def near_cases() -> dict[str, bytes]:
    return {name: data for name, (data, _) in NEAR.items()}


def encoding_cases() -> dict[str, bytes]:
    """Encodings beyond the listed four (UTF-8 with or without BOM, UTF-16LE/BE behind a
    BOM): refused. A second BOM is a character a reader returns (U+FEFF): published."""
    return {
        "enc-utf16-lone-surrogate.log": b"\xff\xfe"
        + "ab".encode("utf-16-le")
        + b"\x00\xd8"
        + "cd\n".encode("utf-16-le"),
        "enc-cesu8.log": b"ab \xed\xa0\x80 cd\n",
        "enc-utf16-no-bom.log": "plain run 42\n".encode("utf-16-le"),
        "enc-utf32.log": "plain run 42\n".encode("utf-32"),
        "enc-utf16-odd-length.log": "run 42\n".encode("utf-16") + b"\x00",
        "ctl-enc-utf16-second-bom.log": b"\xff\xfe\xff\xfe" + "run 42\n".encode("utf-16-le"),
        "ctl-enc-utf8-sig.log": "run 42 µ\n".encode("utf-8-sig"),
    }


def text_controls() -> dict[str, bytes]:
    """Ordinary output: logging with reprs and `<` in messages, csv with comparisons, json."""
    stream = io.StringIO()
    log = logging.getLogger("attack-j")
    log.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.warning("cut <pt> 20 GeV applied to %r, sentinel %r", [1, 2], object())
    log.info("x < 3 and y>2: <empty> <none> <b-tagged jets=4>")
    log.removeHandler(handler)
    out = io.StringIO()
    csv.writer(out).writerows([["cut", "value"], ["pt<20", "<0.5"], ["eta>2.4", "a<b>c"]])
    return {
        "ctl-job.log": stream.getvalue().encode(),
        "ctl-cuts.csv": out.getvalue().encode(),
        "ctl-cuts.json": json.dumps({"cuts": ["pt<20", "<object>"], "n": 3}, indent=2).encode(),
    }
