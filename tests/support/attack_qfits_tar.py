"""Tar archives for independent attack q (session 40): owner names that both listers print
raw, member types both readers extract as files, and real tarfile / GNU tar archives of
ordinary output as controls."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

CSV = b"run,events\n1,1200\n2,1350\n"
JSON = b'{"run": 1, "events": 1200}\n'
OSC = "\x1b]0;PWNED\x07"  # retitles xterm, VTE, tmux panes
CLEAR = "\x1b[2J\x1b[H"  # erases the screen: what was listed before is gone


def _tar(members: list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for member in members:
            info, data = member if isinstance(member, tuple) else (member, b"")
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _file(name: str, data: bytes, **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 1764990000
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def hostile() -> dict[str, bytes]:
    """Owner names holding terminal controls (`tar -tvf`, `python -m tarfile -v -l` print
    them raw), and a contiguous-file member (type '7') holding an ELF."""
    elf = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\x3e\x00" + bytes(44)
    contig = _file("bin/run.csv", elf)
    contig[0].type = tarfile.CONTTYPE
    return {
        "tar/uname-osc.tar": _tar([_file("a.csv", CSV, uname=OSC)], tarfile.USTAR_FORMAT),
        "tar/gname-clear.tar": _tar([_file("a.csv", CSV, gname=CLEAR)], tarfile.GNU_FORMAT),
        "tar/pax-uname-c1.tar": _tar([_file("a.csv", CSV, uname="\u009b2J\u009bH")],
                                     tarfile.PAX_FORMAT),
        "tar/contig-elf.tar": _tar([contig], tarfile.USTAR_FORMAT),
        "tar/name-c1.tar": _tar([_file("a\u009b2J.csv", CSV)], tarfile.PAX_FORMAT),
    }


def listed_by_gnu_tar(path: Path) -> bytes:
    return subprocess.run(["tar", "-tvf", str(path)], capture_output=True, check=True).stdout


def _tree(made: Path) -> Path:
    out = made / "out"
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "events.csv").write_bytes(CSV)
    (out / "summary.json").write_bytes(JSON)
    (out / "logs" / "run.log").write_bytes(b"INFO start\nINFO done\n")
    for p in (out / "events.csv", out / "summary.json", out / "logs" / "run.log"):
        p.chmod(0o644)
    (out / "logs").chmod(0o755)
    return out


def controls(made: Path, fits_file: bytes) -> dict[str, bytes]:
    """tarfile (ustar, gnu, pax) and GNU tar (ustar, gnu, pax, oldgnu; `-C out .`) archives
    of a job's CSV, JSON, a log and an astropy FITS file."""
    out = _tree(made)
    (out / "image.fits").write_bytes(fits_file)
    (out / "image.fits").chmod(0o644)
    files: dict[str, bytes] = {}
    for label, fmt in (("ustar", tarfile.USTAR_FORMAT), ("gnu", tarfile.GNU_FORMAT),
                       ("pax", tarfile.PAX_FORMAT)):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
            tar.add(out, arcname="out")
        files[f"tctl/tarfile-{label}.tar"] = buf.getvalue()
    if shutil.which("tar"):
        for fmt in ("ustar", "gnu", "pax", "oldgnu"):
            dest = made / f"gnu-{fmt}.tar"
            subprocess.run(["tar", f"--format={fmt}", "-cf", str(dest), "-C", str(out), "."],
                           check=True)
            files[f"tctl/gnutar-{fmt}.tar"] = dest.read_bytes()
    return files


def nested(name: str, data: bytes) -> bytes:
    """A tarfile ustar archive holding one member."""
    return _tar([_file(name, data)], tarfile.USTAR_FORMAT)


PAGE = b"<!doctype html><html><body><script>fetch('/api/token')</script></body></html>\n"


def wrapped() -> dict[str, bytes]:
    """Hostile members one layer down: a tar inside gzip, a tar inside a tar."""
    elf = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\x3e\x00" + bytes(44)
    page = nested("site/index.html", PAGE)
    return {
        "tgz/page.tar.gz": gzip.compress(page, mtime=0),
        "tgz/elf-csv.tgz": gzip.compress(nested("run.csv", elf), mtime=0),
        "tar/inner-page.tar": nested("inner.tar", page),
    }


def compressed_controls(made: Path) -> dict[str, bytes]:
    """`tar czf` (GNU tar, gzip) and tarfile's `w:gz` of the same tree."""
    out = _tree(made)
    files: dict[str, bytes] = {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(out, arcname="out")
    files["tctl/tarfile.tar.gz"] = buf.getvalue()
    if shutil.which("tar") and shutil.which("gzip"):
        dest = made / "gnu.tgz"
        subprocess.run(["tar", "-czf", str(dest), "-C", str(out), "."], check=True)
        files["tctl/gnutar.tgz"] = dest.read_bytes()
    return files
