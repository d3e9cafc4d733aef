"""What a browser sniffs as a page is not published (identify.page_sniffed): Apache 2.4
sends no Content-Type for a name outside its table (.dat, .out, .lhe, none), and Chrome,
Firefox and the WHATWG MIME Sniffing standard then render first bytes such as `<p>`,
`<!--`, `<?xml` or `%PDF-` as a page. Every validated file and every file inside a gzip or
tar is held to it, whatever its name; the lab's own text (LHE, logs, CSV, JSON) passes."""

from __future__ import annotations

import gzip
import http.server
import io
import shutil
import socketserver
import subprocess
import tarfile
import threading
import urllib.parse
from pathlib import Path

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.validators import Invalid, Stream
from vmguard.quarantine.validators import vet as validate
from vmguard.quarantine.validators.identify import PAGE_SNIFF_SIZE, page_sniffed

XSS = "<img src=x onerror=alert(document.domain)>\n"
# WHATWG's HTML patterns (a tag then a space or >), Chrome's (the tag's prefix alone),
# Firefox's further tags, <! and <? (XML, comments, doctypes), PDF.
_WHATWG = ("html", "head", "script", "iframe", "h1", "div", "font", "table", "a", "style", "title", "b", "body", "br", "p")  # fmt: skip
_FIREFOX = ("frameset", "img", "link", "base", "applet", "meta", "center", "form", "isindex", "h2", "h6", "pre")  # fmt: skip
SNIFFED = [
    *(f"<{tag}>" for tag in _WHATWG),
    *(f"<{tag} x" for tag in _FIREFOX),
    "<!DOCTYPE html>", "<!-- run 42 -->", "<!x>", '<?xml version="1.0"?>', "<?php", "<beam>", "<particles>",
    "<ArticleTitle>", "<BR/>", "<P\n", "%PDF-1.7",
]  # fmt: skip
# Text whose first bytes no browser sniffs as a page.
PLAIN = [
    '<LesHouchesEvents version="3.0">', "<event>", "<init>", "<x>", "<1 GeV", "< a", "<", "run <b>42</b>",
    "<imgs>", "<h7>", "<center-of-mass>", "% PDF", "#<p>",
]  # fmt: skip


@pytest.mark.parametrize("start", SNIFFED)
@pytest.mark.parametrize("space", ["", "\n", " \t\r\n\f\v  "])
def test_what_a_browser_sniffs_as_a_page_is_named(start, space):
    head = f"{space}{start}\n{XSS}".encode()
    assert page_sniffed(head) is not None
    assert page_sniffed(head.swapcase()) is not None  # the patterns are matched in any case


@pytest.mark.parametrize("start", PLAIN)
def test_control_text_a_browser_shows_as_text(start):
    assert page_sniffed(f"{start}\n{XSS}".encode()) is None


def test_only_the_first_bytes_a_browser_looks_at_count():
    assert page_sniffed(b" " * (PAGE_SNIFF_SIZE - 3) + b"<p>") is not None
    assert page_sniffed(b" " * PAGE_SNIFF_SIZE + b"<p>") is None  # past WHATWG's resource header
    assert page_sniffed(b"\xef\xbb\xbf<p>") is None  # a BOM first: text/plain (WHATWG, Chrome)


def test_the_validators_refuse_it_at_any_chunking_and_inside_gzip():
    data = f"<div>run 42</div>\n{XSS}".encode()
    for size in (1, 3, 4096):
        stream = Stream(iter([data[i : i + size] for i in range(0, len(data), size)]))
        with pytest.raises(Invalid, match="starts with '<div'") as err:
            validate(stream, lambda head: "text/plain")
        assert err.value.code == "sniffed-as-page"
    inner = Stream(iter([gzip.compress(data, mtime=0)]))
    with pytest.raises(Invalid, match="starts with '<div'"):
        validate(inner, lambda head: "text/plain")


def _tar_first(member: str, data: bytes) -> bytes:
    """tarfile's archive whose first member is `member`: its header starts with the name."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(member)
        info.size, info.mode, info.mtime = len(data), 0o644, 1733356800
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _lhe(tmp_path: Path) -> bytes:
    """An LHE file as MadGraph writes it: XML-like, <LesHouchesEvents first (no sniffed tag)."""
    event = "<event>\n 2 1 +1.0e+00 9.1e+01 7.5e-03 1.2e-01\n 11 -1 0 0 0 0 0 0 45.6 45.6 0 0 1\n</event>\n"
    text = (
        '<LesHouchesEvents version="3.0">\n<header>\n<!-- generated -->\n<MGVersion>\n3.5.1\n'
        "</MGVersion>\n</header>\n<init>\n 11 -11 4.56e+01 4.56e+01 0 0 0 0 3 1\n</init>\n"
        + event * 3
        + "</LesHouchesEvents>\n"
    )
    path = tmp_path / "made.lhe"
    path.write_text(text)
    return path.read_bytes()


def test_a_vet_refuses_sniffed_pages_under_every_name_and_publishes_the_labs_text(tmp_path):
    page = f"<p>run 42 done\n{XSS}".encode()
    (tmp_path / "run42").mkdir()
    (tmp_path / "run42" / "<p> notes.txt").write_bytes(b"run 42 ok\n" + XSS.encode())
    subprocess.run(["tar", "cf", "../gnu.tar", "<p> notes.txt"], cwd=tmp_path / "run42", check=True)
    files = {
        "sniff-p.dat": page,
        "sniff-p": page,
        "sniff-p.txt": page,  # text/plain is not sniffed, but a .txt is one rename away from none
        "sniff-comment.out": f"\n<!-- run 42 -->\n{XSS}".encode(),
        "sniff-xml.lhe": f'<?xml version="1.0"?>\n{XSS}'.encode(),
        "sniff-inner.dat.gz": gzip.compress(f"<b>42</b>\n{XSS}".encode(), mtime=0),
        "sniff-tar.dat": _tar_first("<p> notes.txt", b"run 42 ok\n" + XSS.encode()),
        "sniff-gnutar.dat": (tmp_path / "gnu.tar").read_bytes(),
        "ctl-events.lhe": _lhe(tmp_path),
        "ctl-log.dat": f"run 42: <b> is not a tag here\n{XSS}".encode(),
        "ctl-tar.dat": _tar_first("notes.txt", b"run 42 ok\n" + XSS.encode()),
    }
    entries, _ = vet_files(tmp_path, files, shipped("build.yaml"))
    for name in files:
        entry = entries[name]
        if name.startswith("ctl"):
            assert entry.verdict is Verdict.ACCEPTED, entry
        elif entry.mime == "text/xml":  # libmagic's XML: a type no policy here admits, said first
            assert entry.reasons == (Reason.TYPE_NOT_ALLOWED,), entry
        else:
            assert entry.reasons == (Reason.SNIFFED_AS_PAGE,), entry
            assert "renders it as a page" in entry.detail and "begin the file otherwise" in entry.detail
    assert entries["sniff-xml.lhe"].mime == "text/xml"


_QUIET_XSS = "<img src=x onerror=document.title=1>\n"  # no alert(): a dialog stalls headless Chromium


class _NoType(http.server.BaseHTTPRequestHandler):
    """Apache 2.4's answer for a name outside its table: the bytes, no Content-Type."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = urllib.parse.unquote_to_bytes(self.path[1:])
        self.send_response_only(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _chromium_renders_html(port: int, body: bytes, profile: Path) -> bool:
    """Whether headless Chromium, given `body` with no type, builds an HTML page of it
    (its text viewer wraps text in a <pre> under a color-scheme meta)."""
    url = f"http://127.0.0.1:{port}/" + urllib.parse.quote(body, safe="")
    argv = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
    ]
    dom = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True).stdout
    assert dom.startswith("<html>"), dom
    return 'name="color-scheme"' not in dom


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium")
def test_what_chromium_renders_as_html_is_named(tmp_path):
    """The oracle is a browser: every start Chromium renders as a page (its prefix-only
    tags: <beam>, <pre>; VT skipped) is one page_sniffed names; the controls are text to it."""
    pages = ["<p>", "<beam>", "<!-- run -->", "\n\v<p>", "<pre>", "<A>"]
    text = ["<x>", '<LesHouchesEvents version="3.0">', "\ufeff<p>"]
    with socketserver.TCPServer(("127.0.0.1", 0), _NoType) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            seen = {
                s: _chromium_renders_html(server.server_address[1], f"{s}\n{_QUIET_XSS}".encode(), tmp_path)
                for s in pages + text
            }
        finally:
            server.shutdown()
    assert seen == {s: s in pages for s in pages + text}
    assert all(page_sniffed(f"{s}\n".encode()) for s in pages)
