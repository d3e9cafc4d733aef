"""zip, where a policy allows it: every member vetted as a file, the central directory
agreeing with the local headers, nothing outside the members, no encryption, links,
executables, comments or free-form extra fields, and bombs stopped early."""

from __future__ import annotations

import io
import stat
import struct
import time
import zipfile

import pytest

from tests.quarantine.conftest import ELF
from tests.quarantine.test_formats import shipped, vet_files
from tests.quarantine.test_validators import chunked
from vmguard.quarantine import validators
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.validators import Invalid

LOG = b"2026-12-03 run 42 ok\n" * 2000


def make(files: dict[str, bytes], mode: int = 0o644, **kw) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, **kw) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, (2026, 12, 3, 0, 0, 0))
            info.external_attr = (
                (stat.S_IFDIR | 0o755) if name.endswith("/") else (stat.S_IFREG | mode)
            ) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return out.getvalue()


GOOD = make({"logs/": b"", "logs/job.log": LOG, "table.csv": b"a,b\n1,2\n" * 100})


def vet(data: bytes, size: int = 4096, inner: str = "text/plain") -> list:
    return validators.vet(chunked(data, size), lambda head: inner)


def _patch(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


def _central(data: bytes) -> int:
    return data.index(b"PK\x01\x02")


def test_a_zip_of_allowed_files_passes_in_any_chunking():
    for size in (1, 7, 4096):
        assert vet(GOOD, size) == [("application/zip", "zip"), ("text/plain", "text")]


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (GOOD + b"\0", "zip: bytes after the end of central directory record"),
        (GOOD[:-2] + b"\x04\x00#!sh", "zip: the archive has a comment"),
        (make({"tool": ELF}), "ELF inside a container"),
        (make({"run.sh": b"echo hi\n"}, mode=0o755), "zip: member b'run.sh' is executable"),
        (make({"a.txt": b"x\n"}, mode=0o644 | stat.S_ISUID), "is executable or set-id"),
        (make({"a": b"\0\x01binary"}), "NUL"),
    ],
)
def test_each_zip_rule_names_itself(data, rule):
    with pytest.raises(Invalid, match=rule.replace("(", "\\(")):
        vet(data)


def test_links_encryption_descriptors_and_extra_fields_are_refused():
    link = bytearray(make({"shadow": b"/etc/shadow"}))
    struct.pack_into("<I", link, _central(link) + 38, (stat.S_IFLNK | 0o777) << 16)
    with pytest.raises(Invalid, match="is a link or special file"):
        vet(bytes(link))
    for bit, rule in ((0x1, "is encrypted"), (0x8, "data descriptor")):
        flagged = bytearray(GOOD)
        for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            pos = flagged.index(sig)
            struct.pack_into("<H", flagged, pos + at, struct.unpack_from("<H", flagged, pos + at)[0] | bit)
        with pytest.raises(Invalid, match=rule):
            vet(bytes(flagged))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        info = zipfile.ZipInfo("a.txt")
        info.extra = struct.pack("<HH", 0xCAFE, len(ELF[:4000])) + ELF[:4000]  # a payload as "extra"
        z.writestr(info, b"x\n")
    with pytest.raises(Invalid, match="extra field"):
        vet(out.getvalue())


def test_the_central_directory_must_list_the_members_as_they_are():
    # Two directory entries for one member (overlapping entries), a lying offset, a
    # lying size, and a gap of payload bytes between two members.
    two = make({"a.txt": b"x\n", "b.txt": b"y\n"})
    cd = _central(two)
    second = two.index(b"PK\x03\x04", 4)
    with pytest.raises(Invalid, match="does not list member"):
        vet(_patch(two, two.index(b"PK\x01\x02", cd + 4) + 42, struct.pack("<I", 0)))  # b -> a's offset
    with pytest.raises(Invalid, match="does not list member"):
        vet(_patch(two, cd + 24, struct.pack("<I", 999)))
    gap = two[:second] + b"#!/bin/sh\nid\n" + two[second:]
    with pytest.raises(Invalid, match="zip: bytes that are no member"):
        vet(gap)


def test_a_zip_bomb_is_stopped_early_in_bounded_memory():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("zeros.bin", bytes(400 << 20))  # 400 MiB from 400 KiB: past 200x + 256 MiB
    bomb = out.getvalue()
    started = time.monotonic()
    with pytest.raises(Invalid, match="a compression bomb"):  # typed as a file no validator reads: inflated to the end
        vet(bomb, 1 << 20, "application/octet-stream")
    assert time.monotonic() - started < 30
    lying = bytearray(bomb)  # a header that understates the size is caught at that size
    for at in (22, _central(bomb) + 24):
        struct.pack_into("<I", lying, at, 1000)
    with pytest.raises(Invalid, match="inflates past its size"):
        vet(bytes(lying), 1 << 20, "application/octet-stream")


def test_a_zip_is_refused_unless_the_policy_allows_it_then_published_byte_identical(tmp_path):
    files = {"out.zip": GOOD, "elf.zip": make({"tool": ELF}), "latin.zip": make({"l.log": b"caf\xe9\n" * 50})}
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml"))
    assert entries["out.zip"].reasons == (Reason.TYPE_NOT_ALLOWED,)  # batch.yaml does not allow zip
    assert all(e.verdict is Verdict.REJECTED for e in entries.values()), entries
    allowed = shipped("batch.yaml", allow_types=("text", "zip"))
    entries, _ = vet_files(tmp_path / "allowed", files, allowed)
    assert entries["out.zip"].verdict is Verdict.ACCEPTED, entries["out.zip"]
    assert (tmp_path / "allowed" / "pub" / "run1" / "out.zip").read_bytes() == GOOD
    assert entries["elf.zip"].reasons == (Reason.EXECUTABLE_CONTENT,)
    assert entries["latin.zip"].reasons == (Reason.TYPE_NOT_ALLOWED,)  # its member's encoding


def test_archives_hold_at_most_so_many_members(monkeypatch):
    from tests.quarantine.test_formats import _tar
    from vmguard.quarantine.validators import containers, ziparchive

    monkeypatch.setattr(containers, "MAX_MEMBERS", 5)
    monkeypatch.setattr(ziparchive, "MAX_MEMBERS", 5)
    five = {f"f{i}.txt": b"x\n" for i in range(5)}
    assert vet(make(five)) and vet(_tar([(n, d, 0o644) for n, d in five.items()]))
    six = {**five, "g.txt": b"y\n"}
    with pytest.raises(Invalid, match="zip: more than 5 members"):
        vet(make(six))
    with pytest.raises(Invalid, match="tar: more than 5 members"):
        vet(_tar([(n, d, 0o644) for n, d in six.items()]))


def test_the_type_name_zip_is_read_from_yaml(tmp_path):
    from vmguard.policy.loader import load_policy

    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: z}\nspec:\n"
        "  quarantine:\n    allow_types: [text, zip]\n"
    )
    assert load_policy(path).quarantine.allow_types == ("text", "zip")
