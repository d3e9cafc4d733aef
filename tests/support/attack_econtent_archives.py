"""tar and zip files for the independent content attack e (vetted with a policy that
admits tar and zip): tarfile, zipfile, shutil, GNU tar and Info-ZIP defaults (controls)
and members whose names a client that unpacks them acts on (hostile)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from tests.support.attack_econtent_files import ACTIVE_NAMES, CSV, MARK, XML_XSS, _gz


def _results(made: Path) -> Path:
    """A job's output directory: two CSVs, one in a subdirectory."""
    root = made / "results"
    (root / "sub").mkdir(parents=True, exist_ok=True)
    (root / "a.csv").write_bytes(CSV)
    (root / "sub" / "b.csv").write_bytes(CSV * 3)
    return root


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(body), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


def _resealed(tar: bytes, at: int, field: slice, value: bytes) -> bytes:
    """The tar header at `at` with `field` set to value (NUL-padded) and its checksum
    recomputed as tarfile computes it."""
    block = bytearray(tar[at : at + 512])
    block[field] = value.ljust(field.stop - field.start, b"\0")
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return tar[:at] + bytes(block) + tar[at + 512 :]


def _header_after(tar: bytes, kind: bytes) -> int:
    """The offset of the member header that follows the first extended header of `kind`
    (pax x, GNU long name L): its name field is replaced by the extended name."""
    at = next(
        o
        for o in range(0, len(tar), 512)
        if tar[o + 257 : o + 262] == b"ustar" and tar[o + 156 : o + 157] == kind
    )
    size = int(tar[at + 124 : at + 135], 8)
    return at + 512 + -(-size // 512) * 512


def _extended_header_at(tar: bytes, kind: bytes) -> int:
    return next(
        o
        for o in range(0, len(tar), 512)
        if tar[o + 257 : o + 262] == b"ustar" and tar[o + 156 : o + 157] == kind
    )


def _extended_header_fields() -> dict[str, bytes]:
    """Fields of a pax or GNU long-name header itself, which no tar reader lists: its
    uname (32 bytes) and its own name."""
    pax = _tar({"r\u00e9sultats/\u00e9t\u00e9.csv": CSV})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("d/" + "x" * 120 + ".csv")
        info.size, info.mode = len(CSV), 0o644
        tar.addfile(info, io.BytesIO(CSV))
    gnu = out.getvalue()
    x, long = _extended_header_at(pax, b"x"), _extended_header_at(gnu, b"L")
    renamed = b"r\xc3\xa9sultats/PaxHeaders/" + MARK[:40]
    return {
        "tar-pax-header-uname.tar": _resealed(pax, x, slice(265, 297), MARK[:31]),
        "tar-longlink-header-uname.tar": _resealed(gnu, long, slice(265, 297), MARK[:31]),
        "tar-pax-header-name.tar": _resealed(pax, x, slice(0, 100), renamed),
    }


def _overridden_names() -> dict[str, bytes]:
    """The ustar name field of a member whose name a pax path record or a GNU long name
    gives: tar readers show the extended name; the field holds MARK."""
    long = "d/" + "x" * 120 + ".csv"
    pax = _tar({"r\u00e9sultats/\u00e9t\u00e9.csv": CSV})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(long)
        info.size, info.mode = len(CSV), 0o644
        tar.addfile(info, io.BytesIO(CSV))
    gnu = out.getvalue()
    return {
        "tar-pax-name-field.tar": _resealed(pax, _header_after(pax, b"x"), slice(0, 100), MARK[:99]),
        "tar-longlink-name-field.tar": _resealed(gnu, _header_after(gnu, b"L"), slice(0, 100), MARK[:99]),
    }


def _pax_size() -> bytes:
    """A member whose pax header gives its size: tarfile and GNU tar frame its data by it,
    so the ustar size field (11 octal digits, 33 bits) is left to MARK's choosing."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("a.csv")
        info.size, info.mode, info.pax_headers = len(CSV), 0o644, {"size": str(len(CSV))}
        tar.addfile(info, io.BytesIO(CSV))
    data = out.getvalue()
    return _resealed(data, _header_after(data, b"x"), slice(124, 136), b"%011o\0" % 0o12345670123)


def _zip_local_time() -> bytes:
    """The local header's DOS time and date differ from the central directory's (zipfile
    and unzip list the central one): 32 bits a member beside the documented 32."""
    data = bytearray(_zip({"a.csv": CSV}))
    data[10:14] = MARK[:4]
    return bytes(data)


def _header_bits() -> dict[str, bytes]:
    """One member's typeflag or mode spelled another way that tar readers take alike."""
    plain = _tar({"a.csv": CSV})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        info = zipfile.ZipInfo("a.csv")
        info.external_attr = 0o101644 << 16  # sticky
        z.writestr(info, CSV)
    return {
        "tar-typeflag-nul.tar": _resealed(plain, 0, slice(156, 157), b"\0"),  # old-style regular file
        "tar-typeflag-contiguous.tar": _resealed(plain, 0, slice(156, 157), b"7"),  # read as regular
        "tar-mode-sticky.tar": _resealed(plain, 0, slice(100, 108), b"0001644\0"),
        "zip-mode-sticky.zip": out.getvalue(),
        "tar-pax-size-header-field.tar": _pax_size(),
        "zip-local-time.zip": _zip_local_time(),
    }


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members.items():
            z.writestr(name, body)
    return out.getvalue()


def archive_controls(made: Path) -> dict[str, bytes]:
    root = _results(made)
    files: dict[str, bytes] = {}
    for name, mode in (("ctl-tarfile.tar.gz", "w:gz"), ("ctl-tarfile.tgz", "w:gz"), ("ctl-tarfile.tar", "w")):
        with tarfile.open(made / name, mode) as tar:
            tar.add(root, arcname="results")
        files[name] = (made / name).read_bytes()
    subprocess.run(["tar", "czf", str(made / "ctl-gnu-tar.tgz"), "-C", str(made), "results"], check=True)
    subprocess.run(["zip", "-qr", str(made / "ctl-infozip.zip"), "results"], cwd=made, check=True)
    files["ctl-gnu-tar.tgz"] = (made / "ctl-gnu-tar.tgz").read_bytes()
    files["ctl-infozip.zip"] = (made / "ctl-infozip.zip").read_bytes()
    for fmt, ext in (("zip", "zip"), ("gztar", "tar.gz"), ("tar", "tar")):
        made_at = shutil.make_archive(str(made / f"ctl-make-archive-{fmt}"), fmt, root_dir=root)
        files[f"ctl-make-archive-{fmt}.{ext}"] = Path(made_at).read_bytes()
    files["ctl-zipfile-writestr.zip"] = _zip({"a.csv": CSV, "sub/b.log": CSV})
    files |= _non_ascii(made) | _with_gzip(made) | _python_clis(made, root)
    return files


def _python_clis(made: Path, root: Path) -> dict[str, bytes]:
    """python -m zipfile -c and python -m tarfile -c (compression from the name)."""
    names = {"zipfile": "ctl-python-m-zipfile.zip", "tarfile": "ctl-python-m-tarfile.tgz"}
    for module, name in names.items():
        subprocess.run(
            [sys.executable, "-m", module, "-c", str(made / name), root.name], cwd=root.parent, check=True
        )
    return {name: (made / name).read_bytes() for name in names.values()}


def _with_gzip(made: Path) -> dict[str, bytes]:
    """A job's directory holding gzip -k output in a subdirectory, packed by GNU tar and zip."""
    top = made / "gzipped"
    (top / "sub").mkdir(parents=True, exist_ok=True)
    (top / "sub" / "c.csv").write_bytes(CSV * 10)
    subprocess.run(["gzip", "-kf", str(top / "sub" / "c.csv")], check=True)
    (top / "sub" / "c.csv").unlink()
    subprocess.run(["tar", "czf", str(made / "ctl-tar-with-gz.tgz"), top.name], cwd=made, check=True)
    subprocess.run(["zip", "-qr", str(made / "ctl-zip-with-gz.zip"), top.name], cwd=made, check=True)
    return {name: (made / name).read_bytes() for name in ("ctl-tar-with-gz.tgz", "ctl-zip-with-gz.zip")}


def _non_ascii(made: Path) -> dict[str, bytes]:
    """A job's directory with a non-ASCII name, packed by each tool's defaults."""
    top = made / "r\u00e9sultats"
    top.mkdir(exist_ok=True)
    (top / "\u00e9t\u00e9.csv").write_bytes(CSV)
    subprocess.run(["zip", "-qr", str(made / "ctl-infozip-utf8.zip"), top.name], cwd=made, check=True)
    subprocess.run(["tar", "cf", str(made / "ctl-gnu-utf8.tar"), top.name], cwd=made, check=True)
    cmd = ["tar", "--format=posix", "-cf", str(made / "ctl-gnu-posix-utf8.tar"), top.name]
    subprocess.run(cmd, cwd=made, check=True)
    with tarfile.open(made / "ctl-tarfile-utf8.tar", "w") as tar:
        tar.add(top, arcname=top.name)
    names = ("ctl-infozip-utf8.zip", "ctl-gnu-utf8.tar", "ctl-gnu-posix-utf8.tar", "ctl-tarfile-utf8.tar")
    files = {name: (made / name).read_bytes() for name in names}
    return files | {"ctl-zipfile-utf8.zip": _zip({"r\u00e9sultats/\u00e9t\u00e9.csv": CSV})}


def archive_hostile() -> dict[str, bytes]:
    members = {f"m/{n}": b for n, b in ACTIVE_NAMES.items()} | {"m/p.xhtm": XML_XSS, "m/a.rdf": CSV}
    files = {f"tar-active{i}.tar": _tar({n: b}) for i, (n, b) in enumerate(members.items())}
    files |= {f"zip-active{i}.zip": _zip({n: b}) for i, (n, b) in enumerate(members.items())}
    files["tar-gz-suffix-member.tar"] = _tar({"run.bat.z": _gz(b"start calc.exe\r\n")})
    return files | _overridden_names() | _header_bits() | _extended_header_fields()
