"""Names, text, JSON and gzip files for the independent content attack e
(tests/quarantine/test_attack_independent_econtent.py). Controls (named ctl-*) are what
the real tools write; hostile files are real output under a name, or with a byte patch.
A hostile file that hides a payload carries MARK there.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import struct
import subprocess
import zlib
from decimal import Decimal
from pathlib import Path

import awkward as ak
import numpy as np
import simplejson

MARK = b"PAYLOAD-e-" * 8
CSV = b"a,b\n1,2\n3,4\n"
# Rendered by a browser that takes the file as any XML type (application/*+xml, XHTML):
# an XHTML-namespace element with an event handler runs script. None of the text rule's
# listed tags (<script, <svg, <html, <?xml ...) occurs in it.
XML_XSS = b'<x:img xmlns:x="http://www.w3.org/1999/xhtml" src="#" onerror="alert(document.domain)"/>\n'


def _exts(words: str) -> tuple[str, ...]:
    return tuple(words.split())


# Extensions a client acts on whatever the bytes are, from the sources the docs name:
# mime.types (Debian's /etc/mime.types: every extension of text/html, XHTML, JavaScript
# and any */*+xml type, which browsers render as an XML document where an XHTML-namespace
# element runs script), Outlook's blocked-attachment list (Microsoft's "Blocked
# attachments in Outlook"), and what a web server executes (PHP, CGI, ASP, JSP).
EXT_GROUPS: dict[str, tuple[str, ...]] = {
    "mime-page": _exts("""atom atomcat atomdeleted atomsrv atomsvc dwd held rsat apxml xcs ccmp ccxml cellml
        cml clue cpl mpd davmount xmls xdssc emma emotionml fdt gml ink inkml its lgr lostxml lostsyncxml
        mads mrcx mml meta4 mets maei musd mods opf relo provx xsf pskcxml rdf rif rl rld rfcxml rs rapd
        sls rusd senmlx sensmlx shf cl smil smi sml srx grxml sru ssml swidtag tei teicorpus odd tfi ttml
        gsheet rsheet td uis 1km xdp dist distz pkg mpkg bmml cdxml csl wbs uvt uvvt es3 et3 kml hal zmm
        irp lasxml lbe xul dd2 obgx osm link66 fo sdkm sdkd wadl scl xsm xdm ddf uoml uo zaz vxml wif
        wsdl wspolicy rss xav xca xdf xel xer xns xhtml xhtm xht xlf xop xsl xslt xspf mxml xhvml xvml
        xvm yin svg svgz stpx dae moml x3d x3dz html htm shtml es js mjs"""),
    "outlook": _exts("""ade adp app application appref-ms asp aspx asx bas bat bgi cab cer chm cmd cnt com
        cpl crt csh der diagcab exe fxp gadget grp hlp hpj hta htc inf ins iso isp its jar jnlp js jse ksh
        lnk mad maf mag mam maq mar mas mat mau mav maw mcf mda mdb mde mdt mdw mdz msc msh msh1 msh2
        mshxml msh1xml msh2xml msi msp mst msu ops osd pcd pif pl plg prf prg printerexport ps1 ps1xml ps2
        ps2xml psc1 psc2 psd1 psdm1 pst py pyc pyo pyw pyz pyzw reg scf scr sct shb shs theme tmp url vb
        vbe vbp vbs vhd vhdx vsmacros vsw webpnp website ws wsb wsc wsf wsh xbap xll xnk"""),
    "windows-other": _exts("""searchconnector-ms search-ms themepack deskthemepack appcontent-ms msix
        msixbundle appx appxbundle appinstaller diagcfg diagpkg rdp one img"""),
    "server": ("php", "phtml", "phar", "php5", "cgi", "fcgi", "jsp", "jspx", "asa", "cer", "shtm"),
}
# Names a server or a shell acts on whatever their bytes are.
ACTIVE_NAMES = {
    ".htaccess": b"AddType text/html .log\nAddHandler cgi-script .csv\n",  # Apache reads it per directory
    "web.config": b"<configuration><system.webServer><handlers/></system.webServer></configuration>\n",
    ".user.ini": b"auto_prepend_file=job.log\n",  # PHP-FPM reads it per directory
    "job.php": b"<?=system($_GET[0])?>\n",  # PHP's short echo tag: always on since PHP 5.4
}


def ext_cases() -> dict[str, bytes]:
    """Plain CSV under every extension of a group: the bytes are harmless, the name is not."""
    return {f"name-{group}.{ext}": CSV for group, exts in EXT_GROUPS.items() for ext in exts}


def name_cases() -> dict[str, bytes]:
    """Names a client acts on, with bytes that make them live."""
    files = {
        f"name-active{n}" if n.startswith(".") else f"name-active-{n}": b for n, b in ACTIVE_NAMES.items()
    }
    files |= {  # expected refused (case, trailing dot/space, double extension): checks the checks
        "name-case.HtM": CSV, "name-trailing-dot.bat.": CSV, "name-trailing-space.cmd ": CSV,
        "name-double.xhtml.log": CSV, "name-dotfile.hta": CSV,
    }  # fmt: skip
    return files | {"xss-img.xhtm": XML_XSS, "xss-img.rdf": XML_XSS, "xss-img.mml": XML_XSS}


# ---------------------------------------------------------------- gzip


def _gz(body: bytes, name: bytes = b"", mtime: int = 1_700_000_000) -> bytes:
    """One member as gzip(1) writes it: FNAME if named, XFL 0, OS 3."""
    flags = 8 if name else 0
    head = b"\x1f\x8b\x08" + bytes([flags]) + struct.pack("<I", mtime) + b"\x00\x03"
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = comp.compress(body) + comp.flush()
    return head + (name + b"\0" if name else b"") + raw + struct.pack("<II", zlib.crc32(body), len(body))


def _py_gzip(path: Path, body: bytes) -> bytes:
    """Python's gzip module writing under its final name (FNAME: basename minus '.gz',
    Latin-1 encoded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(body)
    return path.read_bytes()


def _gnu_gzip(path: Path, body: bytes, *opts: str) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    subprocess.run(["gzip", "-kf", *opts, str(path)], check=True)
    return Path(f"{path}.gz").read_bytes()


def gzip_cases(made: Path) -> dict[str, bytes]:
    bat = b"start calc.exe\r\n"
    files = {  # gunzip strips .z, -gz, _z too (and -N restores FNAME): the result is run.bat
        "gzname-run.bat.z": _gz(bat), "gzname-run.cmd-gz": _gz(bat), "gzname-run.bat_z": _gz(bat),
        "gzname-page.xhtm.gz": _gz(XML_XSS), "gzname-run.py.gz": _gz(b"print(1)\n"),
    }  # fmt: skip
    files["ctl-py-\u00e9t\u00e9.csv.gz"] = _py_gzip(made / "py" / "ctl-py-\u00e9t\u00e9.csv.gz", CSV)
    files["ctl-gnu-\u00e9t\u00e9.csv.gz"] = _gnu_gzip(made / "gnu" / "ctl-gnu-\u00e9t\u00e9.csv", CSV)
    files["ctl-py-upper.csv.GZ"] = _py_gzip(made / "py" / "ctl-py-upper.csv.GZ", CSV)
    files["ctl-gnu-9.csv.gz"] = _gnu_gzip(made / "gnu9" / "ctl-gnu-9.csv", CSV * 50, "-9")
    files["ctl-gnu-1n.csv.gz"] = _gnu_gzip(made / "gnu1" / "ctl-gnu-1n.csv", CSV * 50, "-1", "-n")
    files["ctl-zlib-wbits31.csv.gz"] = zlib.compress(CSV, 9, wbits=31)
    files["ctl-gzip-compress.log.gz"] = gzip.compress(CSV * 20, mtime=0)
    np.savetxt(made / "ctl-savetxt.txt.gz", np.arange(12.0).reshape(4, 3))  # numpy gzips by the name
    files["ctl-savetxt.txt.gz"] = (made / "ctl-savetxt.txt.gz").read_bytes()
    files["ctlsub/ctl-py-in-dir.csv.gz"] = _py_gzip(made / "sub" / "ctl-py-in-dir.csv.gz", CSV)
    return files


# ---------------------------------------------------------------- text and JSON


def _alt_spelling(v: float) -> str:
    """17 significant digits, neither repr nor %.17g, that read back as the same float."""
    g = f"{v:.17g}"
    for d in "123456789":
        cand = g[:-1] + d
        if cand != g and float(cand) == v and cand != repr(v):
            return cand
    return repr(v)


def _floats_17(values: list[float]) -> bytes:
    """About 3 bits a float beyond the documented choice of two spellings."""
    return ("[" + ", ".join(_alt_spelling(v) for v in values) + "]").encode()


def _bits_as_blanks(payload: bytes) -> str:
    """One indentation unit of spaces and tabs spelling payload's bits (json.dumps takes
    any string as indent): 64 bits a file that no reader returns."""
    return "".join(" \t"[(byte >> i) & 1] for byte in payload for i in range(8))


def json_cases() -> dict[str, bytes]:
    data = {"run": 42, "unit": "m/s", "x": [0.1, 1e-7, 2.5e20, 3.0], "ok": True, "name": "Zürich"}
    rows = np.linspace(0.1, 0.9, 9).reshape(3, 3)
    files = {
        "ctl-json-indent0.json": json.dumps(data, indent=0).encode(),
        "ctl-json-tab-sorted.json": (json.dumps(data, indent="\t", sort_keys=True) + "\n").encode(),
        "ctl-json-unicode.json": json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(),
        "ctl-json-py2-separators.json": json.dumps(data, indent=4, separators=(", ", ": ")).encode(),
        "ctl-json-numpy-tolist.json": json.dumps({"m": rows.tolist(), "f32": np.float32(0.1).item()}).encode(),
        "ctl-simplejson-decimal.json": simplejson.dumps({"calib": Decimal("3.140"), "g": Decimal("1E+2")}).encode(),
        "ctl-simplejson-indent.json": simplejson.dumps(data, indent="  ", sort_keys=True).encode(),
        "ctl-json-indent-tight.json": json.dumps(data, indent=2, separators=(",", ":")).encode(),
        "ctl-awkward-indent.json": ak.to_json(ak.Array([data | {"x": [1.5e-8, 2.0]}]), num_indent_spaces=2).encode(),
        "ctl-awkward-compact.json": ak.to_json(ak.Array([1e21, 1e-7, 0.5, 3.0, 123456789.125])).encode(),
        "json-duplicate-key.json": b'{"run": "' + MARK + b'", "run": 42}',
        "json-float-spelling.json": _floats_17([0.9, 0.7, 0.3, 0.6] * 8),
        "json-underflow-digits.json": b"[1.2345678901234567e-400, 9.8765432109876543e-401, 0.5]",
        "json-overflow-digits.json": b"[1.2345678901234567e+400, 1.0]",
        "json-indent-unit-bits.json": json.dumps(data, indent=_bits_as_blanks(MARK[:8])).encode(),
    }  # fmt: skip
    return files


def text_cases() -> dict[str, bytes]:
    out = io.StringIO()
    csv.writer(out).writerows([["t", "E"], [0.5, 1.25], ["a,b", 'q"q']])  # CRLF, quoting
    sv = io.BytesIO()
    np.savetxt(sv, np.arange(12.0).reshape(4, 3), fmt="%.18e", header="x y z", delimiter="\t")
    bom = "\ufeffa;b\r\n1,5;2\r\n".encode()  # Excel's "CSV UTF-8"
    utf16 = "t,E\n1,2\n".encode("utf-16")
    return {
        "ctl-csv-writer.csv": out.getvalue().encode(),
        "ctl-savetxt.tsv": sv.getvalue(),
        "ctl-excel-bom.csv": bom,
        "ctl-utf16.csv": utf16,
        "utf16-lone-surrogate.log": utf16 + b"\x00\xd8" + "x\n".encode("utf-16-le"),
        "utf16-odd-byte.log": utf16 + b"P",
        "utf16-nul.log": utf16 + "\0".encode("utf-16-le") + MARK.decode().encode("utf-16-le"),
        "utf16-script.log": "\ufeffrun ok\n<script>alert(1)</script>\n".encode("utf-16-le"),
        "utf16be-esc.log": "\ufeffok \x1b[2J\n".encode("utf-16-be"),
    }
