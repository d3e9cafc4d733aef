"""Which extensions a web server types as something a browser renders as a page or runs as
script, and which as JSON: derived from complete extension tables, not picked by hand.

The sources: Debian's /etc/mime.types (media-types 10.0.0, public domain), kept in this
repository as sources/debian-mime.types because the web servers of a Debian host (Apache's
mod_mime, nginx via mime-support, lighttpd) type files by it; Apache httpd's own
conf/mime.types (public domain, says its header), the TypesConfig of httpd built from
source, of its container image and of the macOS and Windows builds, kept as
sources/apache-mime.types (`python -m vmguard.quarantine.pagetypes --apache TARBALL`
writes it from npm's mime 1.2.11 package, MIT, whose types/mime.types is httpd's file
verbatim; npm's mime-db cannot give it: its db.json merges every source's extensions);
Python's built-in table (http.server and every Python file server); and EXTRA, what other
servers' own tables add.
Every extension of a type `renders` says yes to goes into served_pages.py's PAGES, every
one of a type `announces_json` says yes to into its JSON_NAMES: a generated table
(`python -m vmguard.quarantine.pagetypes` writes it; tests/quarantine/
test_served_tables.py regenerates it and fails when it is stale or when a source holds a
markup- or script-like type that is neither rendered nor listed in INERT with a reason).
"""

from __future__ import annotations

import json
import mimetypes
import re
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path

SOURCE = Path(__file__).with_name("sources") / "debian-mime.types"
APACHE = SOURCE.with_name("apache-mime.types")
_APACHE_MEMBER = "package/types/mime.types"  # in npm's mime 1.x tarball
TABLE = Path(__file__).with_name("served_pages.py")

# Types outside the markup families that a browser (or the plug-in it hands them to)
# renders with its own scripting: PDF and its form data (Acrobat JavaScript), Flash under
# each of its types (FutureSplash's .spl is an SWF: the Flash plug-in and Ruffle play it,
# and an SWF can be all ASCII text, Rosetta Flash), Macromedia's Shockwave (Director:
# Lingo) and Silverlight players, IE's HTML components and applications, MHTML archives
# (IE and Edge's IE mode open message/rfc822 and multipart/related .mht as a page).
RENDERED = frozenset(
    {
        "application/pdf", "application/fdf", "application/xfdf", "application/vnd.adobe.flash.movie",
        "application/x-shockwave-flash", "application/futuresplash", "application/x-director",
        "application/x-silverlight", "text/x-component", "application/hta", "message/rfc822",
        "multipart/related", "application/x-mimearchive", "application/vnd.fdf",
        # Apache's names for XFDF, FutureSplash and Silverlight's application package
        "application/vnd.adobe.xfdf", "application/x-futuresplash", "application/x-silverlight-app",
    }
)  # fmt: skip
# Types whose name looks like markup or script (LOOKS_ACTIVE) that no browser renders,
# each for its reason: the test fails on a source type that is in neither set.
INERT = frozenset(
    {
        # ZIP packages of XML (Office Open XML, OpenOffice 1, MusicXML, STEP): downloaded
        *(f"application/vnd.openxmlformats-officedocument.{k}" for k in (
            "presentationml.presentation", "presentationml.slide", "presentationml.slideshow",
            "presentationml.template", "spreadsheetml.sheet", "spreadsheetml.template",
            "wordprocessingml.document", "wordprocessingml.template")),
        *(f"application/vnd.sun.xml.{k}" for k in (
            "calc", "calc.template", "draw", "draw.template", "impress", "impress.template", "math",
            "writer", "writer.global", "writer.template")),
        "application/vnd.recordare.musicxml", "application/vnd.software602.filler.form-xml-zip",
        "model/step-xml+zip",
        # binary WAP XML and WML script byte code: no desktop browser decodes them
        "application/vnd.syncml.dm+wbxml", "application/vnd.wap.wbxml", "application/vnd.wv.csp+wbxml",
        "application/vnd.wap.wmlscriptc", "text/vnd.wap.wmlscript",
        # XML that is not a document (a DTD, an entity), encrypted RDF, ATML test data
        "application/xml-dtd", "application/xml-external-parsed-entity", "application/prs.rdf-xml-crypt",
        "application/atxml",
        # scripts of other languages that browsers show as text or download
        "application/postscript", "application/vnd.coffeescript", "application/vnd.yamaha.hv-script",
        "text/vnd.dmclientscript", "text/vnd.senx.warpscript",
        # descriptors and sealed media of device players, S/MIME
        "application/vnd.kodak-descriptor", "text/vnd.esmertec.theme-descriptor",
        "text/vnd.sun.j2me.app-descriptor", "application/vnd.sealedmedia.softseal.html",
        "application/vnd.sealedmedia.softseal.pdf", "application/vnd.dtg.local.flash",
        "application/pkcs7-mime",
        # Apache's: a game's component, a Ghostscript font, Gramps' gzipped genealogy XML
        "application/vnd.antix.game-component", "application/x-font-ghostscript",
        "application/x-gramps-xml",
    }
)  # fmt: skip
_SCRIPTS = ("javascript", "ecmascript", "jscript", "livescript")
# Plug-in players are named by brand, not by "flash": futuresplash, shockwave, x-director, silverlight.
LOOKS_ACTIVE = re.compile(
    r"xml|html|script|flash|splash|shockwave|x-director|silverlight|pdf|fdf|component|hta|rfc822|related|mime"
)
# Extensions other servers' tables type as pages or JSON that no complete source lists, as
# they type them: IIS's default MIME map (XML types as text/xml), and PHP's phtml, Mozilla's
# XBL, Node's CommonJS modules, IIS's server-side includes. A source table of its own
# (other_servers), so pages and JSON names are derived from it as from the others.
EXTRA = {
    **dict.fromkeys(("xsd", "dtd", "disco", "vml"), "text/xml"),
    "htt": "text/webviewhtml", "jsx": "text/jscript",
    **dict.fromkeys(("shtm", "stm", "dhtml", "phtml"), "text/html"),
    "xbl": "application/xml", "cjs": "text/javascript",
}  # fmt: skip


def renders(mime: str) -> bool:
    """Whether a browser renders a file served as `mime` as a page or runs it as script:
    any HTML; any XML document (application/xml, text/xml and every +xml type: Chromium
    and Firefox render them as XML, where an XHTML-namespace element runs script);
    every JavaScript MIME type of the HTML standard (javascript, ecmascript, jscript,
    livescript: a page of the same site loads them as script past its CSP); RENDERED."""
    sub = mime.lower().partition("/")[2]
    markup = "html" in sub or sub == "xml" or sub.endswith("+xml")
    return markup or any(s in sub for s in _SCRIPTS) or mime.lower() in RENDERED


def announces_json(mime: str) -> bool:
    """Whether a client parses a file served as `mime` as one JSON value: application/json
    and every +json type (RFC 6839's structured syntax suffix: .webmanifest, .gltf,
    .jsonld ...). JSON text sequences (json-seq, RFC 7464) are not one value, and JSON
    lines (.jsonl, .ndjson) are in no table: text."""
    sub = mime.lower().partition("/")[2]
    return sub == "json" or sub.endswith("+json")


def mime_types(text: str) -> dict[str, list[str]]:
    """A mime.types file as type -> extensions (lower case; comments and empty types dropped)."""
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.partition("#")[0].split()
        if len(words) > 1:
            table.setdefault(words[0].lower(), []).extend(e.lower() for e in words[1:])
    return table


def python_types() -> dict[str, list[str]]:
    """Python's built-in table (strict and not), without any file the host has."""
    table: dict[str, list[str]] = {}
    for part in mimetypes.MimeTypes().types_map:
        for ext, mime in part.items():
            table.setdefault(mime.lower(), []).append(ext.lstrip(".").lower())
    return table


def other_servers() -> dict[str, list[str]]:
    """EXTRA as a table of its own: type -> extensions."""
    table: dict[str, list[str]] = {}
    for ext, mime in EXTRA.items():
        table.setdefault(mime, []).append(ext)
    return table


def mod_mime_tables() -> dict[str, dict[str, list[str]]]:
    """The tables an Apache httpd's mod_mime types by, each named: Debian's (a Debian
    host's Apache) and httpd's own (upstream, its container image, macOS, Windows)."""
    return {
        "Debian's /etc/mime.types": mime_types(SOURCE.read_text()),
        "Apache httpd's own conf/mime.types": mime_types(APACHE.read_text()),
    }


def sources() -> list[dict[str, list[str]]]:
    """Debian's table first, then Apache's, Python's, then the other servers' (the first
    that renders or announces JSON gives an extension its type)."""
    return [*mod_mime_tables().values(), python_types(), other_servers()]


def derive(tables: Iterable[dict[str, list[str]]]) -> dict[str, str]:
    """Every extension whose type (in any table; the first that renders) a browser
    renders -> that type."""
    pages: dict[str, str] = {}
    for table in tables:
        for mime, exts in sorted(table.items()):
            for ext in exts:
                if renders(mime):
                    pages.setdefault(ext, mime)
    return dict(sorted(pages.items()))


def derive_json(tables: Iterable[dict[str, list[str]]]) -> dict[str, str]:
    """Every extension whose type (in any table; the first that is JSON) announces JSON ->
    that type. Dotted entries (`sarif.json`, `tm.jsonld`) are left out: a name's last
    extension is what a server and a client go by, and theirs (.json, .jsonld) is typed."""
    names: dict[str, str] = {}
    for table in tables:
        for mime, exts in sorted(table.items()):
            for ext in exts:
                if announces_json(mime) and "." not in ext:
                    names.setdefault(ext, mime)
    return dict(sorted(names.items()))


def unclassified(tables: Iterable[dict[str, list[str]]]) -> list[str]:
    """Types that look like markup or script but are neither rendered nor INERT."""
    names = {m for table in tables for m in table}
    return sorted(m for m in names if LOOKS_ACTIVE.search(m) and not renders(m) and m not in INERT)


def _rows(table: dict[str, str]) -> str:
    return "".join(f"    {json.dumps(ext)}: {json.dumps(mime)},\n" for ext, mime in table.items())


def render(pages: dict[str, str], json_names: dict[str, str]) -> str:
    """The text of served_pages.py."""
    return (
        '"""Generated by `python -m vmguard.quarantine.pagetypes` (see pagetypes.py): every\n'
        "extension a web server types as a page or script a browser runs -> that type (PAGES),\n"
        'and every one it types as JSON -> that type (JSON_NAMES). Do not edit: regenerate."""\n\n'
        f"PAGES: dict[str, str] = {{\n{_rows(pages)}}}\n"
        f"JSON_NAMES: dict[str, str] = {{\n{_rows(json_names)}}}\n"
    )


def vendor_apache(tarball: Path) -> str:
    """sources/apache-mime.types from npm's mime 1.x package (`npm pack mime@1.2.11`):
    its types/mime.types, httpd's file verbatim, under a line that says where it is from."""
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(_APACHE_MEMBER)
        if member is None:
            raise ValueError(f"{tarball}: no {_APACHE_MEMBER}")
        text = member.read().decode("utf-8")
    return f"# Apache httpd's conf/mime.types, from npm's {tarball.name} ({_APACHE_MEMBER}).\n{text}"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--apache"]:
        APACHE.write_text(vendor_apache(Path(args[1])))
    tables = sources()
    TABLE.write_text(render(derive(tables), derive_json(tables)))


if __name__ == "__main__":
    main()
