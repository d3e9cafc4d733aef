"""Cases of independent attack i (names): files named as another client would have or act
on the name, and ordinary physics output under the names its tools and batch systems give.

Every file's bytes are real output (csv, gzip, tarfile, zipfile, uproot, h5py) or short
text; the attack is the name. HOSTILE and CONTROLS are disjoint; SUPPORT files only make
the directories a client acts on (git's objects/ and refs/) and are asserted nothing of.
"""

from __future__ import annotations

import csv
import gzip
import io
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

BAT = b"calc.exe\r\n"
TEX = b"\\ProvidesFile{x}\\immediate\\write18{id}\n"
ASP = b'<% CreateObject("WScript.Shell").Run("calc") %>\r\n'
LOG = b"2024-12-05 10:00:00,123 INFO run 42 started\n"
LHE = (
    b'<LesHouchesEvents version="3.0">\n<header>\n<MGVersion>\n3.5.1\n</MGVersion>\n</header>\n'
    b"<init>\n2212 2212 6.5e+03 6.5e+03 0 0 247000 247000 -4 1\n</init>\n<event>\n"
    b" 5 1 +1.0e+00 9.1e+01 7.5e-03 1.1e-01\n</event>\n</LesHouchesEvents>\n"
)


def _csv() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([["t", "e"], [0.5, 12.25], [1.5, 13.0]])
    return out.getvalue().encode()


def _gzip(inner_name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename=inner_name, mode="wb", fileobj=out, mtime=1733306400) as gz:
        gz.write(data)
    return out.getvalue()


def _gzip_fname(fname: bytes, data: bytes) -> bytes:
    """A gzip whose FNAME holds `fname`'s bytes (Python's gzip writing a placeholder, patched)."""
    holder = b"P" * 40
    return _gzip(holder.decode(), data).replace(holder, fname, 1)


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


def _zip_unflagged(first: str, raw: bytes, data: bytes) -> bytes:
    """zipfile's archive of `first` (UTF-8 flag set) and a second member whose name field is
    `raw` without the UTF-8 flag (an ASCII placeholder of its length, patched): as Info-ZIP
    on DOS or an old Windows zipper writes names. Readers decode such a name as cp437."""
    holder = "q" * len(raw)
    return _zip({first: data, holder: data}).replace(holder.encode(), raw)


def _webarchive() -> bytes:
    """A Safari web archive in the OpenStep (text) property-list form CoreFoundation reads:
    its main resource is HTML with a script, held as hex data."""
    html = b"<html><body><script>alert(document.cookie)</script></body></html>"
    return (
        "{\n    WebMainResource = {\n"
        f"        WebResourceData = <{html.hex()}>;\n"
        '        WebResourceMIMEType = "text/html";\n'
        '        WebResourceTextEncodingName = "UTF-8";\n'
        '        WebResourceURL = "file:///tmp/run42.html";\n'
        '        WebResourceFrameName = "";\n    };\n}\n'
    ).encode()


# Windows' best-fit tables (bestfit1252.txt, used by WideCharToMultiByte for an ANSI
# program) map more than NFKC does: letters with marks cp1252 lacks to the bare letter,
# U+2236 RATIO to ':', U+2212 MINUS SIGN and U+2010 HYPHEN to '-'.
BEST_FIT = {
    "bf-macron.b\u0101t": BAT,
    "bf-emacron.\u0113xe": BAT,
    "web.c\u014dnfig": b"<configuration/>\r\n",
    "desktop.\u012bni": b"IconResource=x.ico,0\r\n",
    "desktop.\u0131n\u0131": b"IconResource=x.ico,0\r\n",
    "bf-ratio.bat\u2236\u2236$DATA": BAT,
    "\u2212\u2212checkpoint-action=exec=sh run.txt": b"x\n",
    "\u2010\u2010checkpoint=1": b"x\n",
    # Separators: cp932 (Japanese) and cp949 (Korean) best-fit U+00A5 and U+20A9 to 0x5C,
    # which is their path separator; cp1252 best-fits U+2215 DIVISION SLASH to '/'.
    "jp\u00a5..\u00a5..\u00a5run.txt": b"x\n",
    "kr\u20a9..\u20a9..\u20a9run.txt": b"x\n",
    "x\u2215..\u2215..\u2215run.txt": b"x\n",
    "web\u00a5web.config": b"<configuration/>\r\n",
}

# IIS: version 6 cuts a name at ';' to choose its handler and runs every file below a
# directory named *.asp as ASP; IIS 4-6's other default script maps (.idc .cdx refused).
SERVERS = {
    "iis-semicolon.asp;.txt": ASP,
    "iis6dir.asp/notes.txt": ASP,
    "iis-htr.htr": b"<%if idhttpcode eq 200%>ok<%endif%>\r\n",
    "iis-idq.idq": b"[Query]\r\nCiColumns=filename\r\nCiTemplate=/x.htx\r\n",
}

# TeX files biblatex, KOMA-Script and TikZ load by name through kpathsea, which searches
# the directory pdflatex runs in first (the class of .sty .cls .bst .clo .ldf .def).
TEX_LOADED = {
    "authoryear.bbx": TEX,
    "authoryear.cbx": TEX,
    "english.lbx": TEX,
    "DIN.lco": TEX,
    "tikzlibrarycalc.code.tex": TEX,
}

IMG = b"Run 42 summary <img src=x onerror=alert(document.domain)>\n"


def _fits_img() -> bytes:
    from astropy.io import fits

    hdu = fits.PrimaryHDU(np.zeros((2, 2)))
    hdu.header["COMMENT"] = "<img src=x onerror=alert(1)>"
    out = io.BytesIO()
    hdu.writeto(out)
    return out.getvalue()


def _hdf5_img(work: Path) -> bytes:
    import h5py

    path = work / "img.h5"
    with h5py.File(path, "w") as out:
        out.attrs["note"] = "<img src=x onerror=alert(1)>"
        out["e"] = np.arange(3.0)
    return path.read_bytes()


def _apache_pages(work: Path) -> dict[str, bytes]:
    """A page extension before a last one that Debian's or Python's table types and Apache
    httpd's own mime.types (the upstream, macOS and Windows builds' TypesConfig) does not:
    there mod_mime keeps text/html."""
    return {
        "summary.html.md": IMG,
        "notes.htm.markdown": IMG,
        "page.xhtml.md": IMG,
        "logo.svg.md": IMG,
        "readme.html.rst": IMG,
        "map.html.geojson": b'{"note": "<img src=x onerror=alert(1)>"}',
        "image.html.fits": _fits_img(),
        "run.html.h5": _hdf5_img(work),
    }


def _dde_csv() -> bytes:
    """The csv module's file whose cell Excel evaluates as a DDE formula when the .csv is
    opened (the reason .slk and .iqy are refused)."""
    out = io.StringIO()
    csv.writer(out).writerows([["run", "energy"], [42, "=cmd|' /C calc'!A0"]])
    return out.getvalue().encode()


MHTML = (
    b"MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=b\r\n\r\n--b\r\n"
    b"Content-Type: text/html\r\n\r\nRun 42 <img src=x onerror=alert(1)>\r\n--b--\r\n"
)

OTHER_CLIENTS = {
    "dde.csv": _dde_csv(),
    # Apache httpd's own mime.types: message/rfc822 (as .eml) and application/x-director
    # (as .dcr .dir .dxr) under their other extensions.
    "report.mime": MHTML,
    "movie.cct": b"run 42\n",
    "scene.w3d": b"run 42\n",
    # Nextflow reads nextflow.config from its launch directory: a Groovy script.
    "nextflow.config": b'process.executor = "local"\n"id".execute()\n',
    "mac-page.webarchive": _webarchive(),
}

# NTFS's 8.3 aliases of names a client acts on: copied into a directory that already has
# .git or node_modules (a checkout), Windows writes through the alias into that directory.
SHORT_ALIASES = {
    "GIT~1/config": b"[core]\n\tfsmonitor = calc\n",
    "NODE_M~1/x/package.json": b'{"main": "evil.txt"}',
}

# Refused, as they should be: the siblings of these rules that were fixed.
REFUSED = {
    "w-trailing-colon.bat:": BAT,
    "bf-onedot\u2024bat": BAT,
    "bf-smallstop\ufe52bat": BAT,
    "bf-setminus..\u2216evil.bat": BAT,
    "win-sandbox.wsb": b"<Configuration><LogonCommand><Command>calc</Command></LogonCommand></Configuration>\r\n",
    "win.wsc": b"x\r\n",
    "win.xnk": b"x\r\n",
    "win.printerexport": b"x\r\n",
    "win.hta ": b"x\r\n",
    "win.js.": b"x\r\n",
    "size10.clo": TEX,
    "english.ldf": TEX,
    "srv.pht.txt": b"x\n",
    "srv.aspx.csv": _csv(),
    "gui.mac::$DATA": b"/control/shell id\n",
    "latexmkrc.": b"system('id');\n",
    "\uff30\uff2b\uff27_ADD": b"system('id')\n",
    "profile.do::$data": b"shell id\n",
    "Autoexec.sas.gz": _gzip("Autoexec.sas", b"x\n"),
    "javalibrarypath.txt::$DATA": b"/tmp\n",
    "java.opts.": b"-x\n",
    "de\u017fktop.ini": b"IconResource=x.ico,0\r\n",
    "latexm\u212arc": b"system('id');\n",
    "node_module\u017f/x/package.json": b'{"main": "evil.txt"}',
    "x.vb\u017f": b"x\r\n",
    "..\u2215..\u2215evil.bat": BAT,
    "git1/HEAD::$DATA": b"ref: refs/heads/main\n",
    "git2/\uff28\uff25\uff21\uff24": b"ref: refs/heads/main\n",
    "git3/HEAD": b"ref: refs/heads/main\n",
    "git5/HEAD": b"ref: refs/heads/main\n",
    "esc-fname.csv.gz": _gzip_fname(b"\x1b]0;PWNED\x07\x1b[2K\rOK.csv", b"t,e\n1,2\n"),
    "nl-fname.csv.gz": _gzip_fname(b"a\nrun.csv: accepted", b"t,e\n1,2\n"),
}

SUPPORT = {
    "git1/objects/x.txt": b"x\n",
    "git1/refs/y.txt": b"y\n",
    "git2/objects/x.txt": b"x\n",
    "git2/refs/y.txt": b"y\n",
    "git3/objects::$INDEX_ALLOCATION/x.txt": b"x\n",
    "git3/refs/y.txt": b"y\n",
    "git5/objects./x.txt": b"x\n",
    "git5/refs /y.txt": b"y\n",
}

ARCHIVES = {
    "tar-iis6.tar": _tar({"x.asp;.txt": ASP, "d.asp/n.txt": ASP}),
    "zip-bestfit.zip": _zip({"run.b\u0101t": BAT}),
    "zip-yen.zip": _zip({"a\u00a5..\u00a5..\u00a5run.txt": b"x\n"}),
    # Unpacked by Python's zipfile or Explorer, both members are `├⌐.csv`.
    "zip-cp437-collide.zip": _zip_unflagged("\u251c\u2310.csv", "\u00e9.csv".encode(), _csv()),
    "tar-ctl-name.tar": _tar({"a\nFAKE.html": b"x\n", "b.txt": b"y\n"}),
    "zip-bidi-name.zip": _zip({"a\u202eLMTH.txt": b"x\n"}),
}


def _root(work: Path) -> bytes:
    import uproot

    path = work / "fit.root"
    with uproot.recreate(path) as out:
        out["h"] = (np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0, 3.0]))
    return path.read_bytes()


def _hdf5(work: Path) -> bytes:
    import h5py

    path = work / "run.h5"
    with h5py.File(path, "w") as out:
        out["e"] = np.arange(4.0)
    return path.read_bytes()


def _physics(work: Path) -> dict[str, bytes]:
    """Names the lab's tools write: versions, dates, run periods, generators' outputs."""
    return {
        "fit.v2.root": _root(work),
        "run.2024-12-05.h5": _hdf5(work),
        "Run2018A.v3.h5": _hdf5(work),
        "unweighted_events.lhe.gz": _gzip("unweighted_events.lhe", LHE),
        "events.lhe": LHE,
        "events.hepmc3": b"HepMC::Version 3.02.06\nHepMC::Asciiv3-START_EVENT_LISTING\n"
        b"E 0 2 3\nHepMC::Asciiv3-END_EVENT_LISTING\n",
        "main01.cmnd": b"Beams:eCM = 13000.\nHardQCD:all = on\n",
        "G4History.macro": b"/run/initialize\n/run/beamOn 10\n",
        "MG5_aMC_v3.5.1.log": LOG,
        "pythia8.312.log": LOG,
        "CMSSW_14_0_7.log": LOG,
        "data.2024.12.05.csv": _csv(),
        "scan_Pb208.csv": _csv(),
        "sample=A/yield.csv": _csv(),
        "mass.In.csv": _csv(),
        "spectrum.slha": b"BLOCK MASS\n   25  1.25e+02\n",
        "histos.yoda": b"BEGIN YODA_HISTO1D_V2 /x\nEND YODA_HISTO1D_V2\n",
        "run_\u03bc\u03bc.csv": _csv(),
        "E_vs_m\u00b2.csv": _csv(),
        "app.log.1": LOG,
        "iv_+20C.csv": _csv(),
        "benchmarks/align.tsv": b"s\th:m:s\n1.0\t0:00:01\n",
        "fit.pro.txt": b"chi2 1.0\n",
        "labels.class.csv": _csv(),
    }


# Names physics tools and batch systems give that the shipped policy refuses.
REFUSED_LAB = {
    # SGE and PBS name a job's output and error files <script>.o<id> and .e<id>.
    "run.sh.o4242": b"job 4242 done\n",
    "run.sh.e4242": b"warning: low statistics\n",
    # Slurm's common --output=slurm-%x.%j.out: %x is the job name, the script's by default.
    "slurm-run.sh.4242.out": b"job 4242 done\n",
    "fit.py.o4242": b"chi2/ndf = 1.02\n",
    "notes.so.txt": b"Warbixin: run 42\n",
    "fit.res": b"chi2/ndf = 1.02\n",
    "-20C_iv.csv": _csv(),
    "delphes_card_CMS.tcl": b"set ExecutionPath {\n  ParticlePropagator\n}\n",
    "pdf_unc.var.csv": _csv(),
}


def hostile() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        pages = _apache_pages(Path(tmp))
    return BEST_FIT | SERVERS | TEX_LOADED | OTHER_CLIENTS | SHORT_ALIASES | REFUSED | pages


def controls() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        return _physics(Path(tmp)) | REFUSED_LAB


def archives() -> dict[str, bytes]:
    return dict(ARCHIVES)
