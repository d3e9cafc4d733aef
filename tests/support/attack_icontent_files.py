"""Files for tests/quarantine/test_attack_independent_icontent.py (independent attack i,
content; FITS in attack_icontent_fits.py): real tool output (json, orjson, ujson,
simplejson, jq, pandas, numpy, csv, logging, yaml, gzip(1), pigz, Python's gzip) and
hand-made hostile files.

Every builder returns {path in the quarantine: bytes}. A path whose base name starts with
`ctl` is a control: real output, written as a physicist would, that must be published
byte-identical; any other path is a case the claims say must be refused.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np

# JSON whose white space no serializer writes: text to vmguard, so the spaces are free.
LOOSE_JSON = b'{ "run" :  42 ,"energy":   [0.5 ,  0.75] }\n'
# An XML document whose XHTML <img> runs its onerror handler where a browser renders it as
# XML (application/xml, atom): none of the text rule's markup.
XML_PAGE = (
    b'<feed xmlns:h="http://www.w3.org/1999/xhtml">'
    b'<h:img src="x" onerror="fetch(\'/steal?\'+document.cookie)"/></feed>\n'
)


def json_name_cases() -> dict[str, bytes]:
    """Names Apache (mod_mime, Debian's mime.types) serves as a JSON type: it types a name
    by its rightmost extension that has a type, so `x.json.dat` (no type for .dat) is
    application/json, and so is a language or charset extension after it (`x.json.en`,
    `x.json.utf8`: Debian's mime.conf AddLanguage/AddCharset). vmguard applies that rule to
    pages (`page.html.en` is refused); a client parses these as JSON and drops the white
    space the text holds. `loose.json` shows the rule the siblings escape."""
    return {
        "apache-multi.json.dat": LOOSE_JSON,
        "apache-multi.geojson.out": LOOSE_JSON,
        "apache-lang.json.en": LOOSE_JSON,
        "apache-charset.json.utf8": LOOSE_JSON,
        "apache-multi.webmanifest.1": LOOSE_JSON,
        "apache-upper.JSON.dat": LOOSE_JSON,
        "apache-dots.json..dat": LOOSE_JSON,
        "loose.json": LOOSE_JSON,
    }


# Refused already, the rule the JSON names above escape: pages typed by an extension
# before the last.
PAGE_BEFORE_LAST = {
    "feed.xml.dat": XML_PAGE,
    "page.html.en": b"run <img src=x onerror=alert(1)>\n",
    "code.js.dat": b"alert(document.cookie)\n",
}
# Refused since session 35: .bak is application/x-trash in Debian's mime.types, in which a
# Debian Apache sends them, but httpd's own table types no .bak, so an upstream httpd sends
# them as application/atom+xml (a page) and application/json (loose JSON, as HOLES').
HTTPD_BEFORE_LAST = {
    "feed-trash.atom.bak": XML_PAGE,
    "apache-trash.json.bak": LOOSE_JSON,
}
# Published: the rightmost typed extension is .txt in every table, so Apache sends neither
# JSON nor XML.
LAST_TYPED = {
    "apache-text.json.txt": LOOSE_JSON,
}


def json_number_cases() -> dict[str, bytes]:
    """Strict JSON that no serializer writes (refused, checked). Not here: `1.5e+01` for
    15.0, which docs/quarantine.md lists (a float's form, exponent or not, ~2 bits), nor
    json.dumps' `\\u001b` (an escaped ESC is a string's data; `jq -r` prints it raw)."""
    return {
        "json-exp-plus-zero.json": b"[1.5e+00]",
        "json-fixed-huge.json": b"[100000000000000000000000.0]",
        "json-fixed-tiny.json": b"[0.000000000000000000001]",
        "json-slash-mixed.json": b'{"a":"x\\/y","b":"u/v"}',
        "json-pandas-form-mixed.json": b"[0.0000001,1e-07]",
        "json-crlf-after.json": b'{"run": 42}\r\n',
        "json-py27-some-spaces.json": b'{\n  "a": 1, \n  "b": 2,\n  "c": 3\n}',
        "json-trailing-space-no-comma.json": b'{\n  "a": 1,\n  "b": 2 \n}',
        "json-indent-unit-changes.json": b'{\n  "a": {\n      "b": 1\n  }\n}',
    }


def _frame():
    import pandas as pd

    return pd.DataFrame(
        {
            "run": [1, 2, 3],
            "p": [1e-20, 1.5e-300, 2.5e-17],
            "big": [1e20, 1.234e25, 6.02214076e23],
            "det": ["ecal/barrel", "hcal", "µ-chamber"],
        }
    )


def json_controls(work: Path) -> dict[str, bytes]:
    """Serializers' ordinary output: tiny and huge floats, unicode, indent, jq, json.tool."""
    import orjson
    import simplejson
    import ujson

    doc = {"run": 42, "p": [1e-20, 1.5e-300, 1e22, 6.02214076e23, 0.1, -0.0],
           "det": "µ-chamber/é", "cuts": {}, "empty": [], "nested": [[1, 2], {"a": None}]}  # fmt: skip
    frame = _frame()
    src = work / "doc.json"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(json.dumps(doc))
    files = {
        "ctl-json-indent2-unicode.json": json.dumps(doc, indent=2, ensure_ascii=False).encode(),
        "ctl-json-indent4-sorted.json": (json.dumps(doc, indent=4, sort_keys=True) + "\n").encode(),
        "ctl-orjson-indent-numpy.json": orjson.dumps(
            {"x": np.linspace(0, 1e-8, 4), "y": np.float64(1e300)},
            option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE,
        ),
        "ctl-ujson-indent.json": ujson.dumps(doc, indent=2).encode(),
        "ctl-ujson-plain.json": ujson.dumps(doc, ensure_ascii=False, escape_forward_slashes=False).encode(),
        "ctl-simplejson-indent.json": simplejson.dumps(doc, indent="\t", ensure_ascii=False).encode(),
        "ctl-pd-tiny-records.json": frame.to_json(orient="records").encode(),
        "ctl-pd-tiny-table.json": frame.to_json(orient="table").encode(),
        "ctl-pd-tiny-lines.jsonl": frame.to_json(orient="records", lines=True).encode(),
        "ctl-pd-tiny-p15-unicode.json": frame.to_json(double_precision=15, force_ascii=False).encode(),
        "ctl-pd-p0.json": frame.to_json(double_precision=0).encode(),
        "ctl-pd-p1.json": frame.to_json(double_precision=1).encode(),
    }
    tool = subprocess.run(["python3", "-m", "json.tool", "--no-ensure-ascii", str(src)],
                          capture_output=True, check=True).stdout  # fmt: skip
    files["ctl-json-tool.json"] = tool
    if shutil.which("jq"):
        for flag, name in (
            ("--indent", "ctl-jq-indent3.json"),
            ("-c", "ctl-jq-compact.json"),
            ("--tab", "ctl-jq-tab.json"),
        ):
            argv = ["jq", flag, *(["3"] if flag == "--indent" else []), ".", str(src)]
            files[name] = subprocess.run(argv, capture_output=True, check=True).stdout
    return files


LHE = b"""<LesHouchesEvents version="1.0">
<!--
File generated with POWHEG-BOX-V2
Input file powheg.input contained:
numevts 10000    ! number of events to be generated
ih1   1           ! hadron 1 (1 for protons, -1 for antiprotons)
End of powheg.input content
-->
<header>
<MGVersion>
3.5.1
</MGVersion>
<slha>
BLOCK MASS  #
      6 1.730000e+02 # mt
     25 1.250000e+02 # mh
</slha>
<MGRunCard>
<![CDATA[
  10000 = nevents ! Number of unweighted events requested
]]>
</MGRunCard>
</header>
<init>
 2212 2212 6.500000e+03 6.500000e+03 0 0 260000 260000 -4 1
 5.0e+01 1.0e-01 5.0e+01 1
</init>
<event>
 5 1 +5.0e+01 9.1e+01 7.8e-03 1.2e-01
 21 -1 0 0 503 502 +0.0e+00 +0.0e+00 +4.1e+02 4.1e+02 0.0e+00 0.0e+00 9.0e+00
</event>
</LesHouchesEvents>
"""
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
HEPMC3 = b"""HepMC::Version 3.02.06
HepMC::Asciiv3-START_EVENT_LISTING
E 0 8 12
U GEV MM
W 1.0000000000000000e+00
A 0 GenCrossSection 4.8e+01 1.2e+00 -1 -1
P 1 0 2212 0.0e+00 0.0e+00 6.5e+03 6.5e+03 9.38e-01 4
HepMC::Asciiv3-END_EVENT_LISTING

"""
SLHA = b"""# SUSY Les Houches Accord 2 - MSSM spectrum
BLOCK SPINFO   # Program information
     1    SOFTSUSY    # spectrum calculator
     2    4.1.12      # version number
BLOCK MASS   # Mass spectrum
#  PDG code      mass       particle
        24     8.04190000e+01   # MW
   1000021     2.05389917e+03   # ~g
DECAY   1000021     5.15617127e+01   # gluino decays
     2.0e-01   2     1000001        -1   # BR(~g -> ~d_L  db)
"""
FORTRAN = b"""   RUN       ENERGY          SIGMA
     1   0.150E+11   0.2500000E-03
    42  -0.123E-02   0.1000000E+01
"""


def _logging(path: Path, messages: list[str], encoding: str = "utf-8") -> bytes:
    logger = logging.getLogger(f"attack-i-{path.name}")
    logger.propagate = False
    handler = logging.FileHandler(path, encoding=encoding)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    try:
        for message in messages:
            logger.warning(message)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return path.read_bytes()


def _tqdm(path: Path, nested: bool) -> dict[str, bytes]:
    """A training job's stderr file (`#SBATCH -e train-%j.err`) with tqdm's bars: one bar
    writes CR only; an inner bar (leave=False) moves up with ESC [A, tqdm's own cursor
    control, which it writes to files too (it never asks isatty)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return {}
    with path.open("w", encoding="utf-8") as err:
        for _ in tqdm(range(2), desc="epoch", file=err, mininterval=0):
            for _ in tqdm(range(3), desc="batch", leave=False, file=err, mininterval=0, disable=not nested):
                pass
    return {path.name: path.read_bytes()}


def text_controls(work: Path) -> dict[str, bytes]:
    """Logs, event files and config a physics job writes, each published as it is."""
    import yaml

    work.mkdir(parents=True, exist_ok=True)
    sentinel = object()
    cfg = {"run": 42, "detector": "µ-chamber", "cuts": {"pt_min": 0.5, "eta": [-2.5, 2.5]}}
    return (
        _tqdm(work / "ctl-train-4242.err", nested=False)
        | _tqdm(work / "ctl-train-nested-4243.err", nested=True)
        | {
            "ctl-powheg.lhe": LHE,
            "ctl-events.hepmc3": HEPMC3,
            "ctl-spectrum.slha": SLHA,
            "ctl-fortran.out": FORTRAN,
            "ctl-log-object-repr.log": _logging(work / "o.log", [f"default {sentinel!r} replaced", "done"]),
            "ctl-log-metadata-tag.log": _logging(work / "m.log", ["read <metadata> block of run 42"]),
            "ctl-log-format-tag.log": _logging(work / "f.log", ["column spec <format> = %.3e"]),
            "ctl-log-utf16.log": _logging(work / "u.log", ["Temperatur 20 °C, µ=0.5"], encoding="utf-16"),
            "ctl-config.yaml": yaml.safe_dump(cfg, allow_unicode=True).encode(),
            "ctl-config-escaped.yaml": yaml.safe_dump(cfg).encode(),
            "ctl-merge.yaml": b"<<: *defaults\nrun: 42\n",
            # requests' HTTPError logged with the proxy's body, as job logs hold it.
            "ctl-log-http-502.log": _logging(work / "h.log", [f"upload failed: 502 {NGINX_502}"]),
        }
    )


def csv_controls() -> dict[str, bytes]:
    """pandas and the csv module as a lab writes for Excel: UTF-16 TSV, BOM, CRLF, quotes."""
    frame = _frame()
    quoted = io.StringIO()
    writer = csv.writer(quoted, quoting=csv.QUOTE_ALL)
    writer.writerows([["run", "note"], [1, 'said "ok"\nthen stopped'], [2, "µ, é"]])
    out = {
        "ctl-pd-excel-utf16.tsv": frame.to_csv(sep="\t", index=False).encode("utf-16"),
        "ctl-pd-utf8-sig.csv": frame.to_csv(index=False).encode("utf-8-sig"),
        "ctl-pd-crlf.csv": frame.to_csv(index=False, lineterminator="\r\n").encode(),
        "ctl-csv-quote-all.csv": quoted.getvalue().encode(),
    }
    buf = io.BytesIO()
    np.savetxt(
        buf, np.array([[1.5e-120, 2.0], [3.0, 4e300]]), fmt="%.6E", delimiter=",", header="a,b", comments=""
    )
    out["ctl-savetxt-sci.csv"] = buf.getvalue()
    return out


_LOG_LINE = b"2024-12-05 10:00:00 INFO run 42 event ok\n"
# A character text refuses, 299,997 bytes into a log: (where it is, what the detail names).
AT = 7317 * len(_LOG_LINE)
OFFSET_CASES = {
    "report-esc-deep.log": _LOG_LINE * 7317 + b"\x1b[2J\n",
    "report-markup-deep.log": _LOG_LINE * 7317 + b"<script>x</script>\n",
}


def same_text_other_bytes(files: dict[str, bytes]) -> dict[str, bytes]:
    """The UTF-16LE log (Python's utf-16 on x86) re-encoded as UTF-16BE behind its BOM and
    as UTF-8: each decodes to the same str, so which of the three was written is a choice
    no reader returns; docs/quarantine.md lists it (JSON and text: what exactness leaves,
    2 bits a file), so they are controls: published as written."""
    text = files["ctl-log-utf16.log"].decode("utf-16")
    return {
        "ctl-log-utf16be-of-utf16.log": b"\xfe\xff" + text.encode("utf-16-be"),
        "ctl-log-utf8-of-utf16.log": text.encode("utf-8"),
    }


def csv_hostile() -> dict[str, bytes]:
    """A CSV Excel runs on opening: a DDE formula starts a process (`=cmd|' /C calc'!A0`)."""
    return {"csv-dde-formula.csv": b"run,note\n1,=cmd|' /C calc'!A0\n2,ok\n"}


_NODE = (
    "const o={run:42,p:[1e-7,1e21,5e-324,0.1,123456789.12345679,-0,1e16,2.5e-5,1.5e300],"
    'det:"µ-chamber/é",nested:[[],{}],big:12345678901234567000};'
)


def _notebook(html: list[str]) -> bytes:
    """An executed notebook as nbformat (papermill) writes it: indent 1, sorted keys."""
    frame = _frame().head(2)
    output = {"data": {"text/html": html, "text/plain": str(frame).splitlines(True)},
              "execution_count": 1, "metadata": {}, "output_type": "execute_result"}  # fmt: skip
    cell = {"cell_type": "code", "execution_count": 1, "id": "a1b2c3d4", "metadata": {},
            "outputs": [output], "source": ["df"]}  # fmt: skip
    meta = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "papermill": {"duration": 1.5}}  # fmt: skip
    nb = {"cells": [cell], "metadata": meta, "nbformat": 4, "nbformat_minor": 5}
    return (
        json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False, separators=(",", ": ")) + "\n"
    ).encode()


def json_tool_controls(work: Path) -> dict[str, bytes]:
    """JSON.stringify (node), jq 1.6 on 64-bit ids (it rounds them to 17 digits), papermill
    notebooks holding pandas' HTML and a plotly <script> (JSON strings are data)."""
    files = {
        "ctl-papermill-df.ipynb": _notebook(_frame().head(2)._repr_html_().splitlines(True)),
        "ctl-papermill-plotly.ipynb": _notebook(
            ['<div id="fig"></div>\n', '<script type="text/javascript">Plotly.newPlot("fig",[])</script>']
        ),  # fmt: skip
    }
    if shutil.which("node"):
        for name, args in (("ctl-node-indent2.json", ",null,2"), ("ctl-node-tab.json", ',null,"\\t"'),
                           ("ctl-node-compact.json", "")):  # fmt: skip
            script = f"{_NODE}process.stdout.write(JSON.stringify(o{args}))"
            files[name] = subprocess.run(["node", "-e", script], capture_output=True, check=True).stdout
    if shutil.which("jq"):
        src = work / "ids.json"
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text('{"ids":[12345678901234567890123,18446744073709551615],"x":[1e-7,1.0,3.0e10,1e400]}')
        files["ctl-jq-bigint.json"] = subprocess.run(
            ["jq", ".", str(src)], capture_output=True, check=True
        ).stdout
    return files
