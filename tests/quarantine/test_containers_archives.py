"""tar and zip after attack d: every header byte pinned to what tarfile, GNU tar, zipfile
and Info-ZIP write, and member names held to the walk's own rules (names.py) as if
unpacked. Controls are written by the real tools."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from tests.quarantine.test_validators import chunked
from vmguard.quarantine import validators
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.names import archive_reasons
from vmguard.quarantine.validators import Invalid

CSV = b"a,b\n1,2\n"


def vet(data: bytes, size: int = 4096) -> list:
    return validators.vet(chunked(data, size), lambda head: "text/plain")


def _tree(root: Path) -> Path:
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "a.csv").write_bytes(CSV * 100)
    (root / "d" / "sub" / "b.log").write_bytes(b"ok\n" * 3000)
    (root / "d" / "empty.log").write_bytes(b"")
    return root


@pytest.mark.skipif(shutil.which("tar") is None or shutil.which("zip") is None, reason="needs GNU tar, zip")
def test_what_gnu_tar_tarfile_zipfile_and_info_zip_write_passes(tmp_path):
    root = _tree(tmp_path / "src")
    made = {}
    for fmt in ("gnu", "posix", "ustar"):
        made[fmt] = subprocess.run(["tar", f"--format={fmt}", "-cf", "-", "d"], cwd=root, capture_output=True, check=True)
    made["dot"] = subprocess.run(["tar", "-cf", "-", "-C", "d", "."], cwd=root, capture_output=True, check=True)
    archives = {name: proc.stdout for name, proc in made.items()}
    for name, level in (("zip", "-6"), ("zip9", "-9"), ("zip1", "-1")):  # to a file: no data descriptors
        subprocess.run(["zip", "-qr", level, str(tmp_path / f"{name}.zip"), "d"], cwd=root, check=True)
        archives[name] = (tmp_path / f"{name}.zip").read_bytes()
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
            tar.add(root / "d", "d")
        archives[f"tarfile{fmt}"] = out.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted((root / "d").rglob("*")):
            z.write(path, path.relative_to(root))
    archives["zipfile"] = out.getvalue()
    for name, data in archives.items():
        for size in (1, 4096):
            assert vet(data, size)[0][1] in ("tar", "zip"), name
    files = {f"{name}.{'zip' if 'zip' in name else 'tar'}": data for name, data in archives.items()}
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", allow_types=("text", "tar", "zip")))
    assert {n: (e.verdict, e.detail) for n, e in entries.items() if e.verdict is not Verdict.ACCEPTED} == {}


def _tar(*members: tuple[str, bytes], fmt: int = tarfile.USTAR_FORMAT, **pax: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uname = len(data), 0o644, "batch"
            info.pax_headers = pax
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _put(data: bytes, at: int, new: bytes) -> bytes:
    """`new` at `at`, with the first header's checksum recomputed."""
    x = bytearray(data[:at] + new + data[at + len(new) :])
    x[148:156] = b" " * 8
    x[148:156] = b"%06o\0 " % sum(x[:512])
    return bytes(x)


ONE = _tar(("a.csv", CSV))
TWO = _tar(("a.csv", CSV), ("b.csv", CSV))


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (_put(ONE, 265 + 6, b"X"), "bytes after the uname"),  # after "batch\0"
        (_put(ONE, 2 + 5, b"Y"), "bytes after the name"),  # after "a.csv\0"
        (_put(ONE, 136, b"    1234567\0"), "the mtime of 'a.csv' is not written as tar writes it"),
        (_put(ONE, 100, b"644\0\0\0\0\0"), "the mode of"),
        (_put(ONE, 345 + 10, b"prefix"), "bytes after the last field"),
        (_put(ONE, 156, b"7"), "has type"),  # contiguous file: a regular file by another name
        (_tar(("a.csv", CSV), fmt=tarfile.PAX_FORMAT, comment="x"), "pax record 'comment'"),
        (_tar(("a.csv", CSV), fmt=tarfile.PAX_FORMAT, **{"GNU.sparse.size": "8"}), "GNU.sparse.size"),
        (TWO[:520] + b"P" + TWO[521:], "padding after a member's data"),
    ],
)
def test_each_free_tar_field_is_refused_naming_it(data, rule):
    with pytest.raises(Invalid, match=rule.replace("(", "\\(")):
        vet(data, 7)


def test_a_global_pax_header_is_refused():
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "hi"}) as tar:
        info = tarfile.TarInfo("a.csv")
        info.size = len(CSV)
        tar.addfile(info, io.BytesIO(CSV))
    with pytest.raises(Invalid, match="bytes between members"):
        vet(out.getvalue())


def _zip(**fields: object) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("a.csv", (2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o100644 << 16
        for name, value in fields.items():
            setattr(info, name, value)
        z.writestr(info, CSV)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"extra": struct.pack("<HHI", 0x000A, 4, 0)}, "0x000a"),  # NTFS times: refused
        ({"extra": struct.pack("<HHBI", 0x5455, 9, 1, 0) + b"ABCD"}, "0x5455"),  # UT longer than its flags
        ({"extra": struct.pack("<HHBBIBI", 0x7875, 11, 2, 4, 0, 4, 0)}, "0x7875"),  # ux version 2
        ({"internal_attr": 2}, "internal attributes 0x0002"),
        ({"external_attr": (0o100644 << 16) | 0x01}, "MS-DOS attributes 0x0001"),  # read-only, but writable
        ({"external_attr": (0o100644 << 16) | 0x10}, "MS-DOS attributes 0x0010"),  # a file as a directory
        ({"create_system": 3, "create_version": 21}, "'version made by' 3/21"),
    ],
)
def test_each_free_zip_field_is_refused_naming_it(fields, rule):
    with pytest.raises(Invalid, match=rule.replace("(", "\\(")):
        vet(_zip(**fields), 5)


def test_zip_flags_and_version_needed_are_as_written():
    good = _zip()
    central = good.index(b"PK\x01\x02")
    for at_local, at_central, value, rule in ((6, 8, 0x0010, "has flags 0x0010"), (4, 6, 45, "needs version 45")):
        data = bytearray(good)
        struct.pack_into("<H", data, at_local, value)
        struct.pack_into("<H", data, central + at_central, value)
        with pytest.raises(Invalid, match=rule):
            vet(bytes(data))


def test_zip_fields_as_info_zip_writes_them_pass():
    ut = struct.pack("<HHBI", 0x5455, 5, 1, 1700000000)
    ux = struct.pack("<HHBBIBI", 0x7875, 11, 1, 4, 1000, 4, 1000)
    assert vet(_zip(extra=ut + ux, internal_attr=1, create_version=30))
    assert vet(_zip(external_attr=(0o100444 << 16) | 0x01))  # read-only: Info-ZIP says so


def test_member_names_are_held_to_the_walks_rules():
    def reasons(*paths: str) -> dict[str, list[Reason]]:
        return archive_reasons(paths, 255)

    assert reasons("./", "./a.csv", "./d/", "./d/b.csv", "c.csv") == {}  # GNU tar's `tar cf x.tar .`
    assert reasons("a.csv", "a.csv") == {"a.csv": [Reason.NAME_COLLISION]}
    assert reasons("./a.csv", "a.csv") == {"a.csv": [Reason.NAME_COLLISION]}
    assert reasons("d/a.csv", "d/./a.csv") == {"d/./a.csv": [Reason.NAME_TRAVERSAL]}
    assert reasons("d/a.csv", "D/b.csv") == {"d": [Reason.NAME_COLLISION], "D": [Reason.NAME_COLLISION]}
    assert reasons("d/a.csv", "d/A.csv") == {"d/a.csv": [Reason.NAME_COLLISION], "d/A.csv": [Reason.NAME_COLLISION]}
    assert reasons("a", "a/b") == {"a": [Reason.NAME_COLLISION]}  # a file, and a directory
    assert reasons("x\u202etxt.exe") == {"x\u202etxt.exe": [Reason.NAME_CONTROL]}
    assert reasons("e\x1b]0;x\x07.csv") == {"e\x1b]0;x\x07.csv": [Reason.NAME_CONTROL]}
    assert reasons("/etc/passwd")["/etc/passwd"] == [Reason.NAME_EMPTY]
    assert reasons("../../x")["../../x"] == [Reason.NAME_TRAVERSAL]
    assert reasons("a//b")["a//b"] == [Reason.NAME_EMPTY]
    assert archive_reasons(["CON.csv"], 255, portable_only=True) == {"CON.csv": [Reason.NAME_NOT_PORTABLE]}


def test_member_names_refuse_the_archive_through_vet(tmp_path):
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("a.csv", CSV)
        z.writestr("../../etc/cron.d/x", CSV)
    files = {
        "dup.tar": _tar(("a.csv", b"hidden,1\n"), ("a.csv", CSV)),
        "ok.tar": _tar(("a.csv", CSV), ("d/a.csv", CSV)),
        "escape.zip": zipped.getvalue(),
        "case.tar.gz": __import__("gzip").compress(_tar(("a.csv", CSV), ("A.csv", CSV))),
    }
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", allow_types=("text", "tar", "zip", "gzip")))
    assert entries["ok.tar"].verdict is Verdict.ACCEPTED, entries["ok.tar"]
    assert entries["dup.tar"].reasons == (Reason.NAME_COLLISION,)
    assert entries["case.tar.gz"].reasons == (Reason.NAME_COLLISION,)
    assert entries["escape.zip"].reasons == (Reason.NAME_TRAVERSAL,)
    assert "../../etc/cron.d/x" in entries["escape.zip"].detail


def _pax_tar(records: bytes) -> bytes:
    """A pax header holding `records`, then a.csv (tarfile's layout, checksums right)."""
    good = _tar(("a.csv", CSV), fmt=tarfile.PAX_FORMAT, mtime="1700000000.5")
    size = int(good[124:135], 8)
    head = bytearray(good[:512])
    head[124:136] = b"%011o\0" % len(records)
    body = records + bytes(-len(records) % 512)
    member = _put(good[512 + -(-size // 512) * 512 :], 136, b"%011o\0" % 1_700_000_000)  # the records' second
    return _put(bytes(head) + body + member, 0, b"")



def _record(key: str, value: str) -> bytes:
    """A pax record with its length right: LEN counts itself."""
    body = f" {key}={value}\n"
    n = len(body) + 1
    while len(f"{n}{body}") != n:
        n += 1
    return f"{n}{body}".encode()


@pytest.mark.parametrize(
    "records",
    [
        _record("mtime", "01700000000.5"),  # a leading zero: a digit a reader drops
        b"0" + _record("mtime", "1700000000.25")[:-1] + b"\n",  # the record's length with a leading zero
        _record("mtime", "1700000000.1234567890123456"),  # more digits than nanoseconds
        _record("uid", "0000001000"),
        _record("comment", "x"),
    ],
)
def test_pax_values_are_written_as_tar_writes_them(records):
    assert vet(_pax_tar(_record("mtime", "1700000000.25")))  # control: a record as written
    with pytest.raises(Invalid, match="pax record|not a valid tar"):
        vet(_pax_tar(records))


def test_a_gnu_long_name_holds_the_name_and_nothing_else():
    long = "d/" + "x" * 120 + ".csv"
    good = _tar((long, CSV), fmt=tarfile.GNU_FORMAT)
    assert vet(good)
    size = int(good[124:135], 8)
    data = bytearray(good)
    data[512 + size : 512 + size + 4] = b"JUNK"  # after the record, in its padding
    with pytest.raises(Invalid, match="padding"):
        vet(bytes(data))
    longer = _put(good, 124, b"%011o\0" % (size + 4))  # the record holds JUNK after the name
    with pytest.raises(Invalid, match="long name record holds bytes after the name|not a valid"):
        vet(bytes(bytearray(longer[:512]) + data[512:]))


def test_the_central_directory_repeats_the_local_time():
    good = _zip()
    data = bytearray(good)
    struct.pack_into("<H", data, good.index(b"PK\x01\x02") + 12, 0x1234)  # its DOS time
    with pytest.raises(Invalid, match="does not list member"):
        vet(bytes(data))


def test_a_zip_members_deflate_padding_is_checked_as_gzips():
    from vmguard.quarantine.validators import deflateblocks

    if not deflateblocks.available():
        pytest.skip("no libz to load: the padding is not checked (documented)")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=0) as z:  # stored deflate blocks
        z.writestr("a.csv", CSV * 10)
    good = out.getvalue()
    at = 30 + len("a.csv")  # the member's first deflate byte: a stored block's header and padding
    assert good[at] & 0x06 == 0 and vet(good)
    with pytest.raises(Invalid, match="zip: a stored deflate block's padding bits"):
        vet(good[:at] + bytes([good[at] | 0x80]) + good[at + 1 :])
