"""gzip after attack d: the header's free fields pinned to what gzip, zlib and Python write,
the FNAME held to the published name, empty members, empty inner files, and one bomb
budget for every level of nesting. Controls are written by the real tools."""

from __future__ import annotations

import gzip
import io
import shutil
import struct
import subprocess
import tarfile
import time
import zlib
from pathlib import Path

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from tests.quarantine.test_validators import chunked
from vmguard.quarantine import validators
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.validators import Invalid, inside

CSV = b"run,value\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(500))


def vet(data: bytes, size: int = 4096) -> list:
    return validators.vet(chunked(data, size), lambda head: "text/plain")


def _member(body: bytes, flg: int = 0, xfl: int = 0, os_: int = 255, fields: bytes = b"") -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = z.compress(body) + z.flush()
    head = b"\x1f\x8b\x08" + bytes([flg]) + struct.pack("<I", 1700000000) + bytes([xfl, os_])
    return head + fields + deflated + struct.pack("<II", zlib.crc32(body), len(body))


def _gzip_cli(tmp_path: Path, name: str, data: bytes, *args: str) -> bytes:
    path = tmp_path / name
    path.write_bytes(data)
    return subprocess.run(["gzip", "-c", *args, str(path)], capture_output=True, check=True).stdout


def _zlib_gzip(data: bytes, level: int) -> bytes:
    z = zlib.compressobj(level, zlib.DEFLATED, 31)
    return z.compress(data) + z.flush()


@pytest.mark.skipif(shutil.which("gzip") is None, reason="needs the gzip command")
def test_what_gzip_zlib_and_python_write_passes(tmp_path):
    real = [_gzip_cli(tmp_path, "t.csv", CSV, level) for level in ("-1", "-6", "-9")]
    real += [_gzip_cli(tmp_path, "t.csv", CSV, "-n"), _gzip_cli(tmp_path, "e.log", b"")]
    real += [gzip.compress(CSV, level) for level in (1, 6, 9)] + [_zlib_gzip(CSV, lv) for lv in (1, 6, 9)]
    real.append(gzip.compress(b"first\n") + gzip.compress(b"second\n"))  # cat a.gz b.gz
    flushed = io.BytesIO()
    with gzip.GzipFile(fileobj=flushed, mode="wb") as f:  # logging: a sync flush per record
        for i in range(50):
            f.write(b"line %d\n" % i)
            f.flush()
    real.append(flushed.getvalue())
    for data in real:
        for size in (1, 5, 4096):
            assert vet(data, size)[0] == ("application/gzip", "gzip")


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (_member(CSV, flg=0x01), "sets FTEXT"),
        (_member(CSV, flg=0x02, fields=struct.pack("<H", zlib.crc32(_member(b"")[:10]) & 0xFFFF)), "FHCRC"),
        (_member(CSV, flg=0x04, fields=b"\x02\x00AB"), "FEXTRA"),
        (_member(CSV, flg=0x10, fields=b"payload\0"), "FCOMMENT"),
        (_member(CSV, flg=0x40), "a reserved bit"),
        (_member(CSV, xfl=1), "XFL 1"),
        (_member(CSV, os_=0), "OS 0"),
        (_member(CSV, os_=11), "OS 11"),
        # beside others, an empty member is only what gzip.open(path, "ab") writes for a quiet
        # session (test_gzip_empty_members.py): not a stamp earlier than the member before it
        (_member(CSV) + _member(b"")[:4] + struct.pack("<I", 1600000000) + _member(b"")[8:], "an empty member"),
        (_member(b"")[:10] + b"\x02\x0c\x00" + _member(b"")[12:] + _member(CSV), "not what zlib writes"),
        (_member(CSV, flg=0x08, fields=b"x" * 5000), "FNAME is longer"),
        (_member(CSV)[:-4] + b"\0\0\0\0", "CRC-32 or length"),
    ],
)
def test_each_free_header_field_is_refused_naming_it(data, rule):
    with pytest.raises(Invalid, match=rule):
        vet(data, 3)


def test_a_single_empty_member_is_an_empty_file_gzipped():
    assert vet(_member(b"")) == [("application/gzip", "gzip")]
    assert vet(gzip.compress(b"")) == [("application/gzip", "gzip")]


def test_gzip_members_are_bounded(monkeypatch):
    from vmguard.quarantine.validators import gzipfmt

    monkeypatch.setattr(gzipfmt, "MAX_MEMBERS", 3)
    assert vet(_member(b"a\n") * 3)
    with pytest.raises(Invalid, match="more than 3 members"):
        vet(_member(b"a\n") * 4)


@pytest.mark.skipif(shutil.which("gzip") is None, reason="needs the gzip command")
def test_the_fname_must_be_the_published_name_without_gz(tmp_path):
    named = _gzip_cli(tmp_path, "table.csv", CSV)  # FNAME table.csv, as gzip writes it
    out = io.BytesIO()
    with gzip.GzipFile("run.log.gz", "wb", fileobj=out) as f:  # gzip.open's FNAME: run.log
        f.write(b"ok\n")
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as tar:  # inside a tar: its member name
        info = tarfile.TarInfo("d/table.csv.gz")
        info.size, info.mode = len(named), 0o644
        tar.addfile(info, io.BytesIO(named))
    files = {
        "table.csv.gz": named,
        "run.log.gz": out.getvalue(),
        "renamed.csv.gz": named,
        "bashrc.gz": _member(CSV, flg=0x08, fields=b".bashrc\0"),
        "escape.csv.gz": _member(CSV, flg=0x08, fields=b"\x1b]0;x\x07escape.csv\0"),
        "gz-in-gz.csv.gz.gz": gzip.compress(_member(CSV, flg=0x08, fields=b"gz-in-gz.csv\0")),
        "table.tar": packed.getvalue(),
    }
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", allow_types=("text", "csv", "gzip", "tar")))
    for name in ("table.csv.gz", "run.log.gz", "gz-in-gz.csv.gz.gz", "table.tar"):
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]
    for name in ("renamed.csv.gz", "bashrc.gz", "escape.csv.gz"):
        assert entries[name].reasons == (Reason.INVALID_FORMAT,), entries[name]
        assert "gunzip -N" in entries[name].detail and "gzip -n" in entries[name].detail


def test_an_empty_file_inside_gzip_tar_or_zip_is_admitted(tmp_path):
    import zipfile

    empty = io.BytesIO()
    with gzip.open(empty, "wt"):  # an error log with no line in it
        pass
    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w") as tar:
        for name, data in (("a.csv", CSV), ("empty.log", b"")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("a.csv", CSV)
        z.writestr("empty.log", b"")
    files = {"errors.log.gz": empty.getvalue(), "out.tar": tarred.getvalue(), "out.zip": zipped.getvalue()}
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", allow_types=("text", "gzip", "tar", "zip")))
    assert {n: e.verdict for n, e in entries.items()} == dict.fromkeys(files, Verdict.ACCEPTED), entries


def _zeros_members(size: int) -> bytes:
    """A gzip of `size` zero bytes, a member per MiB (1 KiB each): the densest real gzip."""
    one = gzip.compress(bytes(1 << 20), 9)
    return one * (size >> 20)


def test_nested_gzips_share_one_bomb_budget_fast_and_in_bounded_memory(tmp_path):
    """Three levels, each inflating less than RATIO times its own input: per level, the
    bound let 200 x 256 MiB through the middle; over all levels, FLOOR is the most work."""
    inner = _zeros_members(1 << 30)  # 1 MiB -> 1 GiB
    middle = gzip.compress(inner, 9)  # a few KiB -> 1 MiB
    top = gzip.compress(middle, 9)
    started = time.monotonic()
    share = validators.Inside(chunked(top, 4096))
    with pytest.raises(Invalid, match="compression bomb; counted over every level"):
        validators.vet(share.top, lambda head: "application/octet-stream", inside=share)
    assert share.inflated <= inside.RATIO * len(top) + inside.FLOOR + 3 * inside.STEP
    assert time.monotonic() - started < 15
    entries, _ = vet_files(tmp_path, {"deep.csv.gz": top}, shipped("batch.yaml"))
    # Through the sandboxed worker (256 MiB of address space): refused by the bound, not
    # by running out (that would be type-unknown, no answer).
    assert entries["deep.csv.gz"].reasons == (Reason.INVALID_FORMAT,), entries["deep.csv.gz"]
    assert "compression bomb" in entries["deep.csv.gz"].detail


def _flushed_member(parts: list[bytes]) -> bytes:
    """A member written with a sync flush after each part (an empty stored block each),
    as Python's GzipFile.flush() and a logging handler write it."""
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = b"".join(z.compress(p) + z.flush(zlib.Z_SYNC_FLUSH) for p in parts) + z.flush()
    body = b"".join(parts)
    return b"\x1f\x8b\x08\0\0\0\0\0\0\xff" + deflated + struct.pack("<II", zlib.crc32(body), len(body))


def test_stored_blocks_padding_bits_must_be_zero_wherever_the_block_is():
    from vmguard.quarantine.validators import deflateblocks

    if not deflateblocks.available():
        pytest.skip("no libz to load: the padding is not checked (documented)")
    refused = 0
    for n in range(1, 40):  # the stored header lands at every bit position of its byte
        parts = [CSV[: 7 * n], CSV[7 * n : 9 * n]]
        good = _flushed_member(parts)
        assert vet(good, 3)[0] == ("application/gzip", "gzip")
        at = good.index(b"\x00\x00\xff\xff", 10) - 1  # the byte holding the first stored header's end
        bad = good[:at] + bytes([good[at] | 0x80]) + good[at + 1 :]
        try:
            same = gzip.decompress(bad) == b"".join(parts)  # zlib ignores the padding bits
        except (zlib.error, OSError):
            same = False
        if not same:
            continue  # bit 7 was the header's own (no padding in that byte)
        with pytest.raises(Invalid, match="stored deflate block's padding bits"):
            vet(bad, 1 + n % 5)
        refused += 1
    assert refused > 20
    first = b"\x1f\x8b\x08\0\0\0\0\0\0\xff\xf8\x00\x00\xff\xff\x03\x00" + struct.pack("<II", 0, 0)
    with pytest.raises(Invalid, match="padding bits"):  # the first block (no boundary before it)
        vet(first)


def test_the_padding_after_the_last_block_must_be_zero():
    from vmguard.quarantine.validators import deflateblocks

    if not deflateblocks.available():
        pytest.skip("no libz to load: the padding is not checked (documented)")
    refused = 0
    for n in range(1, 30):  # the last block ends at every bit position of its byte
        good = gzip.compress(CSV[: 11 * n])
        at = len(good) - 9  # the deflate data's last byte
        bad = good[:at] + bytes([good[at] | 0x80]) + good[at + 1 :]
        try:
            same = bad != good and gzip.decompress(bad) == CSV[: 11 * n]
        except (zlib.error, OSError, EOFError):
            same = False
        if same:  # bit 7 was padding: zlib ignores it
            with pytest.raises(Invalid, match="padding bits after the last deflate block"):
                vet(bad, 1 + n % 4)
            refused += 1
    assert refused > 10
