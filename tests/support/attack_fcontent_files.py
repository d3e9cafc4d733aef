"""Files for tests/quarantine/test_attack_independent_fcontent.py (independent attack f,
content; FITS in attack_fcontent_fits.py): real tool output (pandas, orjson, ujson, json, numpy, logging, gzip(1), Python's
gzip, astropy, tarfile, GNU tar, zipfile, Info-ZIP) and byte patches of it.

Every builder returns {path in the quarantine: bytes}. A path whose base name starts with
`ctl` is a control: real output, written as a physicist would, that must be published
byte-identical; any other path is a case the claims say must be refused. Paths in SETUP
only build a case's surroundings (the files beside a git HEAD) and are judged by neither.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from tests.support.attack_fcontent_fits import MARK, fits_bytes

TEXT = b"run 1 done: 1000 events\n"
CSV = b"run,energy\n1,0.5\n2,0.75\n"
# Files beside a git HEAD of another case: neither controls nor cases.
SETUP: frozenset[str] = frozenset(
    f"{repo}/{leaf}"
    for repo in ("gitcase-upper", "gitcase-lower", "gitcase-exact")
    for leaf in ("objects/info.txt", "refs/heads.txt", "config")
)


def json_cases() -> dict[str, bytes]:
    """pandas' to_json (ujson's double_precision=10 writer) beside other serializers."""
    import orjson
    import pandas as pd
    import ujson

    rec = [{"run": 1, "energy": 1 / 3, "eff": 0.1, "lumi": 1e20, "name": "π-scan"}]
    return {
        # pandas writes 1e-10 as 0.0000000001, a t0 of 123456789.123456789 with 18 digits
        # (123456789.123456791) and 1e16 as 10000000000000000.0: its own spellings.
        "ctl-pandas-small.json": pd.DataFrame({"sigma": [1e-10, 2.5e-9]}).to_json().encode(),
        "ctl-pandas-t0.json": pd.DataFrame({"t0": [123456789.123456789]}).to_json().encode(),
        "ctl-pandas-pot.json": pd.DataFrame({"pot": [1e16]}).to_json().encode(),
        "ctl-pandas-records.json": pd.DataFrame({"x": [0.5, 1.25], "y": [1, 2]})
        .to_json(orient="records")
        .encode(),
        "ctl-pandas-iso.json": pd.DataFrame({"t": pd.to_datetime(["2024-12-04T10:00:00"]), "v": [3.25]})
        .to_json(date_format="iso")
        .encode(),
        "ctl-pandas-series.json": pd.Series([1.5, 2.5, np.nan]).to_json().encode(),
        "ctl-orjson.json": orjson.dumps(rec),
        "ctl-orjson-indent.json": orjson.dumps(rec, option=orjson.OPT_INDENT_2),
        "ctl-ujson.json": ujson.dumps(rec).encode(),
        "ctl-ujson-indent.json": ujson.dumps(rec, indent=4).encode(),
        "ctl-json-tab.json": json.dumps(rec, indent="\t").encode(),
        "ctl-json-sorted.json": json.dumps(rec, indent=2, sort_keys=True).encode(),
        "ctl-json-utf8.json": json.dumps(rec, indent=2, ensure_ascii=False).encode(),
        "ctl-json-indent0.json": json.dumps(rec, indent=0).encode(),
        "ctl-np-tolist.json": json.dumps(np.linspace(0, 1, 7).tolist()).encode(),
        "ctl-pandas-split.json": pd.DataFrame({"a": [0.5, 1.25], "b": ["x", "y"]})
        .to_json(orient="split")
        .encode(),
        "ctl-pandas-table.json": pd.DataFrame({"a": [0.5, 1.25], "b": ["x", "y"]})
        .to_json(orient="table")
        .encode(),
        "json-empty-bits.json": _empty_container_bits(MARK),
    }


def _empty_container_bits(payload: bytes) -> bytes:
    """json.dumps(indent=2) of a list of empty lists, each written `[]` for a 0 bit or split
    over two lines (`[` then the closing bracket at its depth) for a 1 bit."""
    bits = "".join(f"{byte:08b}" for byte in payload)
    items = ["  []" if bit == "0" else "  [\n  ]" for bit in bits]
    return ("[\n" + ",\n".join(items) + "\n]").encode()


def empty_container_payload(document: bytes) -> bytes:
    """The payload _empty_container_bits hid: no JSON reader returns it."""
    lines = [line.strip() for line in document.decode().splitlines()[1:-1]]
    bits = ["1" if line == "[" else "0" for line in lines if line in ("[", "[]", "[],")]
    return bytes(int("".join(bits[i : i + 8]), 2) for i in range(0, len(bits), 8))


def text_cases() -> dict[str, bytes]:
    """Text a job writes (some of it shaped like JSON), and control characters in UTF-16."""
    import pandas as pd

    u16 = lambda s: codecs.BOM_UTF16_LE + s.encode("utf-16-le")  # noqa: E731
    return {
        # Text that starts with { or [ and parses, but not as a serializer spells it: the
        # claims say it is then text (admitted by `text`); it is refused as JSON instead.
        "ctl-hand-config.txt": b'{ "run": 42, "energy": 91.2 }\n',
        "ctl-hand-config.cfg": b'{\n  "run": 42,\n  "beam": "e+e-",\n  "energy": 91.2\n}\n\n',
        "ctl-echo-list.txt": b"[1,2, 3]\n",
        "ctl-pandas-dump.log": pd.DataFrame({"sigma": [1e-10]}).to_json().encode() + b"\n",
        "ctl-print-list.log": (str([0.5, 1.25, 1e-08]) + "\n").encode(),
        "ctl-eff.txt": f"{0.1:.2f}\n".encode(),
        "ctl-utf16.log": u16("Événement 1 ok\nrun 2 ok\n"),
        "ctl-greek.log": "σ = 1.5 ± 0.2 µb, Δφ < π/2\n".encode(),
        "ctl-bom.csv": codecs.BOM_UTF8 + CSV,
        "ctl-logging.log": _logging_output(),
        "ctl-csvmodule.csv": _csv_module_output(),
        **_astropy_ascii(),
        "ctl-np-savetxt.csv": _savetxt(np.random.default_rng(1).random((5, 3)), delimiter=","),
        "ctl-np-savetxt-one.txt": _savetxt([0.5]),
        "ctl-pandas.csv": pd.DataFrame({"e": [1 / 3, 1e-10], "n": ["π", "b"]}).to_csv().encode(),
        "ctl-pandas.tsv": pd.DataFrame({"e": [1 / 3, 1e20]}).to_csv(sep="\t").encode(),
        "text-utf16-esc.txt": u16("run 1 ok\n\x1b]0;owned\x07\x1b[2J\n"),
        "text-utf16be-esc.txt": codecs.BOM_UTF16_BE + "ok \x1b[2J\n".encode("utf-16-be"),
        "text-utf16-csi.txt": u16("run 1 ok\n\x9b2J\n"),
        "text-utf16-odd.txt": u16("run 1 ok\n") + b"Z",
        "text-utf8-nel.txt": "run 1 \u0085 x\n".encode(),
        "text-utf8bom-esc.txt": codecs.BOM_UTF8 + b"ok \x1b[2J\n",
    }


def _logging_output() -> bytes:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("attack-f.fit")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.info("χ²/ndf = %.3f", 1.02)
    log.warning("tab\there")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.exception("fit failed")
    log.removeHandler(handler)
    return out.getvalue().encode()


def _astropy_ascii() -> dict[str, bytes]:
    """astropy's text table formats (ECSV with its YAML header, IPAC, fixed width)."""
    import astropy.units as u
    from astropy.table import Table

    table = Table({"e": [0.5, 1.25] * u.GeV, "n": [1, 2], "name": ["a", "β"]}, meta={"run": 42})
    files = {}
    for fmt, name in (
        ("ascii.ecsv", "ctl-t.ecsv"),
        ("ascii.ipac", "ctl-t.tbl"),
        ("ascii.fixed_width", "ctl-t.txt"),
    ):
        out = io.StringIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # IPAC: the meta "run" is not written, as astropy says
            table.write(out, format=fmt)
        files[name] = out.getvalue().encode()
    return files


def _csv_module_output() -> bytes:
    """csv.writer's defaults: CRLF line ends, a quoted field with a comma and quotes."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([["run", "label"], [1, 'naïve, "quoted"'], [2, "plain"]])
    return out.getvalue().encode()


def _savetxt(values, **kw) -> bytes:
    out = io.BytesIO()
    np.savetxt(out, values, **kw)
    return out.getvalue()


def name_cases() -> dict[str, bytes]:
    """Names: a lab's, gunzip's suffixes behind a trailing dot or space, git layouts in any case."""
    gz = gzip.compress(TEXT, mtime=0)
    head = b"ref: refs/heads/main\n"
    config = b"[core]\n\tfsmonitor = touch /tmp/vmguard-attack-f\n"
    files = {
        n: TEXT
        for n in (
            "ctl-run_0001.dat",
            "ctl-fit_v1.2.3.txt",
            "ctl-job.o12345",
            "ctl-slurm-4242.out",
            "ctl-README",
            "ctl-x.lhe",
            "ctl-mc.hepmc",
            "ctl-data.2024.12.04.h.txt",
        )  # fmt: skip
    }
    files |= {"ctl-run.log.1": TEXT, "ctl-run.log.2024-12-04_10": TEXT, "ctl-img.fits.fz": _fits_bytes_fz()}
    files |= {"ctl-scan.2024-12-04.csv": CSV, "ctl-results.v2.json": b'{"a": 1}', "ctl-notes.txt.gz": gz}
    # Windows and browsers drop trailing dots and spaces from a name: `run.bat.gz.` arrives
    # as run.bat.gz, which gunzip (or 7-Zip) turns into run.bat.
    files |= {"gzname-run.bat.gz.": gz, "gzname-run.cmd.gz ": gz, "gzname-run.bat.z.": gz}
    files |= {"gzname-run.exe.gz": gz, "gzname-run.ps1-GZ": gz, "gzname-run.vbs_z": gz}
    # Debian's mime.types: application/futuresplash spl (Flash's other type; an SWF can be all
    # ASCII: Rosetta Flash, 2014), beside the .swf the table refuses.
    files |= {"name-flash.spl": TEXT, "name-flash.swf": TEXT}
    # Names that announce nothing: Apache 2.4 sends no Content-Type for them (DefaultType is
    # gone), and a browser sniffs an unknown type as HTML when it starts with one of the
    # WHATWG/Chrome tags (<b <br <p <div <font <h1 <a <!--); the text rule lists none of them.
    xss = "<img src=x onerror=alert(document.domain)>\n"
    files |= {
        "sniff-b.dat": f"<b>run 42 done</b>\n{xss}".encode(),
        "sniff-p": f"<p>run 42 done\n{xss}".encode(),
        "sniff-comment.out": f"<!-- run 42 -->\n{xss}".encode(),
        "sniff-div.lhe": f"<div>run 42</div>\n{xss}".encode(),
        "sniff-title.dat": f"<title>run 42</title>\n{xss}".encode(),
    }
    for repo, name in (("gitcase-upper", "Head"), ("gitcase-lower", "head"), ("gitcase-exact", "HEAD")):
        files |= {f"{repo}/{name}": head, f"{repo}/objects/info.txt": TEXT, f"{repo}/refs/heads.txt": TEXT}
        files[f"{repo}/config"] = config
    return files


def _fits_bytes_fz() -> bytes:
    """What fpack names NAME.fits.fz: a tile-compressed image (astropy's here)."""
    from astropy.io import fits

    img = np.random.default_rng(2).normal(0, 1, (32, 32)).astype(np.float32)
    return fits_bytes([fits.PrimaryHDU(), fits.CompImageHDU(img)])


def gzip_cases(work: Path) -> dict[str, bytes]:
    """GNU gzip and Python's gzip as a job calls them; FNAME and FLG patches."""
    import pandas as pd

    work.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    for name in ("ctl-py.csv.gz", "ctl-upper.csv.GZ", "ctl-py.csv.z", "ctl-café.csv.gz", "ctl-Ωmega.csv.gz"):
        with gzip.open(work / name, "wb") as out:
            out.write(CSV)
    np.savetxt(work / "ctl-np.txt.gz", np.arange(6.0).reshape(2, 3))
    pd.DataFrame({"a": [1, 2]}).to_csv(work / "ctl-pd.csv.gz")
    for session in ("session 1\n", "session 2\n"):
        with gzip.open(work / "ctl-append.log.gz", "at") as log:
            log.write(session)
    for options, name in (("-9 -k", "ctl-gnu9.csv"), ("-n", "ctl-gnun.csv"), ("-S .z", "ctl-gnuS.csv")):
        (work / name).write_bytes(CSV)
        subprocess.run(["gzip", *options.split(), name], cwd=work, check=True)
    _library_gzip(work)
    for path in work.iterdir():
        if path.name.startswith("ctl") and path.suffix != ".csv":
            files[path.name] = path.read_bytes()
    # A member without FNAME, then one with it: whether each member names the file is free.
    with gzip.open(work / "gz-fname-mixed.csv.gz", "wb") as out:
        out.write(CSV)
    files["gz-fname-mixed.csv.gz"] = (
        gzip.compress(b"x\n", mtime=0) + (work / "gz-fname-mixed.csv.gz").read_bytes()
    )
    ftext = bytearray(gzip.compress(CSV, mtime=0))
    ftext[3] |= 1
    files["gz-ftext.csv.gz"] = bytes(ftext)
    return files


def _library_gzip(work: Path) -> None:
    """Files that astropy, pandas and numpy gzip themselves when the name ends in .gz."""
    import pandas as pd
    from astropy.io import fits
    from astropy.table import Table

    img = np.random.default_rng(1).normal(0, 1, (32, 32)).astype(np.float32)
    fits.HDUList([fits.PrimaryHDU(img)]).writeto(work / "ctl-img.fits.gz")
    Table({"a": [1, 2]}).write(work / "ctl-tab.fits.gz")
    frame = pd.DataFrame({"a": [0.5, 1.5]})
    frame.to_json(work / "ctl-df.json.gz")
    frame.to_json(work / "ctl-df.jsonl.gz", orient="records", lines=True)
    frame.to_csv(work / "ctl-df.tsv.gz", sep="\t")
    np.savetxt(work / "ctl-np.dat.gz", img[:3])


def _pax_tar(records: bytes) -> bytes:
    """tarfile's PAX archive of one member whose extended header holds exactly `records`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("a.csv")
        info.size, info.mode, info.mtime = len(CSV), 0o644, 1733356800
        info.pax_headers = {"comment": "Z"}  # forces an extended header, replaced below
        tar.addfile(info, io.BytesIO(CSV))
    raw = out.getvalue()
    blocks = (int(raw[124:135], 8) + 511) // 512
    head = bytearray(raw[:512])
    head[124:136] = b"%011o\0" % len(records)
    head[148:156] = b" " * 8
    head[148:156] = b"%06o\0 " % sum(head)
    return bytes(head) + records + b"\0" * (-len(records) % 512) + raw[512 + blocks * 512 :]


def _record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def archive_cases(work: Path) -> dict[str, bytes]:
    """tarfile, GNU tar, zipfile, Info-ZIP and shutil over one output tree; pax spellings."""
    tree = work / "run42"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.csv").write_bytes(CSV)
    (tree / "sub" / "notes.txt").write_text("ok é\n")
    (tree / "sub" / "r.json").write_text('{"x": 0.5}')
    (tree / "sub" / "Ωmega_scan.csv").write_bytes(CSV)  # non-ASCII names: pax path, zip's UTF-8 flag
    for fmt, name in ((tarfile.PAX_FORMAT, "ctl-tf-pax.tar"), (tarfile.GNU_FORMAT, "ctl-tf-gnu.tar")):
        with tarfile.open(work / name, "w", format=fmt) as tar:
            tar.add(tree, arcname="run42")
    with tarfile.open(work / "ctl-tf.tar.gz", "w:gz") as tar:
        tar.add(tree, arcname="run42")
    for argv, name in ((["tar", "cf"], "ctl-gnutar.tar"), (["tar", "--format=posix", "-czf"], "ctl-gnutar.tgz"),
                       (["zip", "-qr"], "ctl-infozip.zip"), (["zip", "-qrX"], "ctl-infozip-X.zip")):  # fmt: skip
        subprocess.run([*argv, name, "run42"], cwd=work, check=True)
    shutil.make_archive(str(work / "ctl-shutil"), "zip", work, "run42")
    with zipfile.ZipFile(work / "ctl-zf.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(tree.rglob("*.*")):
            z.write(path, os.path.relpath(path, work))
    files = {p.name: p.read_bytes() for p in work.iterdir() if p.name.startswith("ctl")}
    spellings = {"lead0": "0001733356800.5", "plus": "+1733356800.5", "longfrac": "1733356800.5000000000000000000001",
                 "exp": "1.7333568e9", "20digits": "1733356800.12345678901234567890"}  # fmt: skip
    files |= {f"tar-pax-mtime-{k}.tar": _pax_tar(_record("mtime", v)) for k, v in spellings.items()}
    files["tar-pax-uid-lead0.tar"] = _pax_tar(_record("uid", "0000000000000000001000"))
    files["tar-pax-length-lead0.tar"] = _pax_tar(b"023 mtime=1733356800.5\n")
    return files
