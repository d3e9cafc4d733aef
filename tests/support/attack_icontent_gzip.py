"""gzip files for test_attack_independent_icontent.py: GNU gzip's and pigz's options,
Python's gzip appending per session (a session that wrote nothing too) and with a fixed
mtime, and gzips whose inner name a web server types as JSON.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from tests.support.attack_icontent_files import LOOSE_JSON

# About 300 KiB of CSV: pigz cuts its input into 128 KiB blocks compressed in parallel.
BIG_CSV = b"run,energy,sigma\n" + b"".join(b"%d,%.6f,%.3e\n" % (i, i * 0.37, i * 1e-3) for i in range(12000))


def _tool(work: Path, name: str, data: bytes, argv: list[str]) -> bytes:
    """Run a compressor on `name` in place, as a user would, and read what it wrote."""
    src = work / name
    src.write_bytes(data)
    subprocess.run([*argv, str(src)], check=True, capture_output=True)
    return (work / f"{name}.gz").read_bytes()


def _append_sessions(path: Path, sessions: list[bytes]) -> bytes:
    """gzip.open(path, 'ab') once a session: each a member, empty if nothing was logged."""
    for chunk in sessions:
        with gzip.open(path, "ab") as out:
            if chunk:
                out.write(chunk)
    return path.read_bytes()


def gzip_controls(work: Path) -> dict[str, bytes]:
    work.mkdir(parents=True, exist_ok=True)
    line = b"2024-12-05 10:00:00,001 INFO run 42 event 17 done\n"
    files = {
        "ctl-append-quiet-session.log.gz": _append_sessions(
            work / "ctl-append-quiet-session.log.gz", [line, b"", line]
        ),
        "ctl-append-quiet-first.log.gz": _append_sessions(
            work / "ctl-append-quiet-first.log.gz", [b"", line]
        ),
        "ctl-compress-mtime0.csv.gz": gzip.compress(BIG_CSV[:4000], mtime=0),
        "ctl-gnu-rsyncable.csv.gz": _tool(
            work, "ctl-gnu-rsyncable.csv", BIG_CSV, ["gzip", "--rsyncable", "-k"]
        ),
    }
    with gzip.GzipFile(work / "ctl-py-mtime.csv.gz", "wb", mtime=1733392800) as out:
        out.write(BIG_CSV[:4000])
    files["ctl-py-mtime.csv.gz"] = (work / "ctl-py-mtime.csv.gz").read_bytes()
    if shutil.which("pigz"):
        for flag, stem in (("-6", "pigz"), ("-9", "pigz9"), ("-11", "pigz11"), ("-i", "pigzi"),
                           ("--rsyncable", "pigzr"), ("-1", "pigz1")):  # fmt: skip
            name = f"ctl-{stem}.csv"
            # zopfli (-11) takes seconds a MiB: a smaller input
            data = BIG_CSV[:20000] if flag == "-11" else BIG_CSV
            files[f"{name}.gz"] = _tool(work, name, data, ["pigz", "-k", "-p", "2", flag])
    return files


def gzip_hostile(work: Path) -> dict[str, bytes]:
    """JSON-shaped text whose white space is free, gzipped without a name (`gzip -n`) under
    names whose inner name a server types as JSON: gunzip gives `x.geojson` and
    `x.json.dat` (Apache: application/json, Content-Encoding gzip)."""
    work.mkdir(parents=True, exist_ok=True)
    return {
        "gz-loose.geojson.gz": gzip.compress(LOOSE_JSON, mtime=0),
        "gz-loose.json.dat.gz": gzip.compress(LOOSE_JSON, mtime=0),
        "gz-loose.jsonld.gz": gzip.compress(LOOSE_JSON, mtime=0),
        "gz-loose.geojson.en.gz": gzip.compress(LOOSE_JSON, mtime=0),
        # The page rule's sibling, refused: gunzip's x.html.dat is served as text/html.
        "gz-page.html.dat.gz": gzip.compress(b"run <img src=x onerror=alert(1)>\n", mtime=0),
    }
