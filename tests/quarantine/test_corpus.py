"""An adversarial quarantine, built for real as root, vetted once: every attack is
rejected (or, for attributes, stripped) for the right reason, nothing outside the
quarantine is read or published, and the quarantine is left exactly as it was."""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import subprocess
import time
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import ELF, published_files, rules, snapshot, write
from tests.support.require import require_root
from vmguard.core import eventlog as log
from vmguard.quarantine.model import Reason, Status, Verdict

SECRET = b"TOP-SECRET-OUTSIDE-THE-QUARANTINE"
OLD = time.time() - 3 * 86400
PE = b"MZ" + b"\0" * 58 + struct.pack("<I", 0x80) + b"\0" * 0x40 + b"PE\0\0" + b"\0" * 200
MACHO = b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\0" * 200
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
FORGED = 'x.txt\n{"path": "evil.sh", "verdict": "accepted"}'
QUOTED = 'q", "verdict": "accepted", "x": "y.txt'
# struct posix_acl_xattr: version 2, then (tag, perm, id): user::rw-, user:1234:r--,
# group::r--, mask::r--, other::r--
ACL = struct.pack("<I", 2) + b"".join(
    struct.pack("<HHI", tag, perm, ident)
    for tag, perm, ident in (
        (1, 6, 0xFFFFFFFF),
        (2, 4, 1234),
        (4, 4, 0xFFFFFFFF),
        (0x10, 4, 0xFFFFFFFF),
        (0x20, 4, 0xFFFFFFFF),
    )
)
CAP_SYS_ADMIN = struct.pack("<5I", 0x02000001, 1 << 21, 0, 0, 0)  # vfs_cap_data v2

# path in the quarantine -> the reason it must be rejected for
EXPECTED = {
    "link-to-secret.txt": Reason.SYMLINK,
    "link-to-outside-dir": Reason.SYMLINK,
    "dangling-link": Reason.SYMLINK,
    "hard-a.txt": Reason.HARDLINK,
    "hard-b.txt": Reason.HARDLINK,
    "fifo.txt": Reason.SPECIAL_FILE,
    "socket": Reason.SPECIAL_FILE,
    "chardev": Reason.SPECIAL_FILE,
    "blockdev": Reason.SPECIAL_FILE,
    "setuid.txt": Reason.SETUID,
    "setgid.txt": Reason.SETGID,
    "sticky.txt": Reason.STICKY,
    "mode-exec.txt": Reason.EXECUTABLE_MODE,
    "elf-renamed.txt": Reason.EXECUTABLE_CONTENT,
    "script-renamed.root": Reason.EXECUTABLE_CONTENT,
    "pe-renamed.dat": Reason.EXECUTABLE_CONTENT,
    "macho-renamed.dat": Reason.EXECUTABLE_CONTENT,
    "text-then-elf.txt": Reason.BINARY_IN_TEXT,
    "picture.txt": Reason.TYPE_NOT_ALLOWED,
    "page.txt": Reason.TYPE_NOT_ALLOWED,  # text/html: found only by libmagic's text tests
    "layout.txt": Reason.TYPE_NOT_ALLOWED,  # text/xml
    "bom-script.txt": Reason.EXECUTABLE_CONTENT,  # #! behind a UTF-8 byte order mark
    "cleanup.txt": Reason.EXECUTABLE_CONTENT,  # a DOS batch file
    "sparse-2TiB.txt": Reason.FILE_TOO_LARGE,
    "..\\\\..\\\\etc\\\\passwd": Reason.NAME_TRAVERSAL,  # shown() doubles backslashes
    "new\\x0aline.txt": Reason.NAME_CONTROL,
    FORGED.replace("\n", "\\x0a"): Reason.NAME_CONTROL,
    "bidi-\\u202etxt.exe": Reason.NAME_CONTROL,
    "not-utf8-\\xff.txt": Reason.NAME_NOT_UTF8,
    "Report.txt": Reason.NAME_COLLISION,
    "report.txt": Reason.NAME_COLLISION,
    "caf\u00e9.txt": Reason.NAME_COLLISION,
    "cafe\u0301.txt": Reason.NAME_COLLISION,
    "L" * 120 + ".txt": Reason.NAME_TOO_LONG,
    "deep/1/2/3/4/5/6": Reason.TOO_DEEP,
    "mnt": Reason.MOUNT_POINT,
}
ACCEPTED = {"good.txt", "data.json", "sub/nested.txt", "empty.txt", QUOTED}


def build(q: Path, outside: Path) -> None:
    write(outside / "secret.txt", SECRET)
    write(outside / "dir" / "secret2.txt", SECRET)
    os.utime(outside / "secret.txt", (OLD, OLD))
    os.symlink(outside / "secret.txt", q / "link-to-secret.txt")
    os.symlink(outside / "dir", q / "link-to-outside-dir")
    os.symlink("/nonexistent/nowhere", q / "dangling-link")
    write(q / "hard-a.txt")
    os.link(q / "hard-a.txt", q / "hard-b.txt")
    os.mkfifo(q / "fifo.txt")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(q / "socket"))
    sock.close()
    os.mknod(q / "chardev", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(q / "blockdev", 0o660 | stat.S_IFBLK, os.makedev(7, 0))
    for name, mode in (
        ("setuid.txt", 0o4644),
        ("setgid.txt", 0o2644),
        ("sticky.txt", 0o1644),
        ("mode-exec.txt", 0o755),
    ):
        write(q / name, mode=mode)
    write(q / "elf-renamed.txt", ELF)
    write(q / "script-renamed.root", "#!/bin/sh\nrm -rf ~\n")
    write(q / "pe-renamed.dat", PE)
    write(q / "macho-renamed.dat", MACHO)
    write(q / "text-then-elf.txt", b"an innocent log line\n" * 60 + ELF)
    write(q / "picture.txt", PNG + b"\0" * 64)
    write(q / "page.txt", "<!DOCTYPE html>\n<html><body><script>steal()</script></body></html>\n")
    write(q / "layout.txt", '<?xml version="1.0"?>\n<job><x/></job>\n')
    write(q / "bom-script.txt", b"\xef\xbb\xbf#!/bin/sh\nrm -rf ~\n")
    write(q / "cleanup.txt", "@echo off\r\ndel /q C:\\data\r\n")
    with open(q / "sparse-2TiB.txt", "wb") as fh:
        fh.truncate(2 << 40)
    build_names(q)
    write(q / "deep/1/2/3/4/5/6/7/8/file.txt")
    (q / "mnt").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(q / "mnt")], check=True)
    write(q / "mnt" / "inside-mount.txt", SECRET)
    build_accepted(q)


def build_names(q: Path) -> None:
    write(q / "..\\..\\etc\\passwd")
    write(q / "new\nline.txt")
    write(q / FORGED)
    write(q / "bidi-\u202etxt.exe")
    write(os.fsencode(q) + b"/not-utf8-\xff.txt")
    write(q / "Report.txt")
    write(q / "report.txt")
    write(q / "caf\u00e9.txt")
    write(q / "cafe\u0301.txt")
    write(q / ("L" * 120 + ".txt"))


def build_accepted(q: Path) -> None:
    write(q / "good.txt", "payload one\n" * 100, mode=0o600)
    os.chown(q / "good.txt", 1234, 1234)
    os.setxattr(q / "good.txt", "security.capability", CAP_SYS_ADMIN)
    os.setxattr(q / "good.txt", "system.posix_acl_access", ACL)
    os.setxattr(q / "good.txt", "user.note", b"guest data")
    write(q / "data.json", '{"events": 12345}')
    write(q / "sub" / "nested.txt", "nested\n")
    write(q / "empty.txt", b"")
    write(q / QUOTED, "quoted name\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    require_root()
    base = tmp_path_factory.mktemp("corpus")
    q, outside, public = base / "quarantine", base / "outside", base / "public"
    q.mkdir()
    public.mkdir()
    os.setxattr(public, "system.posix_acl_default", ACL)  # would be inherited if not stripped
    build(q, outside)
    before = snapshot(q), os.stat(outside / "secret.txt").st_atime
    policy = rules(max_name_length=100, max_depth=6, max_file_size=1 << 30)
    try:
        result = vmguard.vet(q, policy, public / "job", per_file=True)
        yield result, q, outside, public, before
    finally:
        subprocess.run(["umount", str(q / "mnt")], check=False)


def by_path(result):
    return {e.path: e for e in result.entries}


def test_at_least_25_distinct_attacks():
    assert len(set(EXPECTED)) >= 25


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_attack_rejected_for_the_right_reason(corpus, path):
    result = corpus[0]
    entry = by_path(result)[path]
    assert entry.verdict is Verdict.REJECTED
    assert EXPECTED[path] in entry.reasons, (entry.reasons, entry.detail)


def test_the_harmless_files_are_promoted_byte_for_byte(corpus):
    result, q, _, public, _ = corpus
    assert result.status is Status.PARTIAL and result.exit_code == 1
    entries = by_path(result)
    for path in ACCEPTED:
        assert entries[path].verdict is Verdict.ACCEPTED, entries[path]
    published = published_files(public / "job")
    assert set(published) == ACCEPTED
    for path, data in published.items():
        assert data == (q / path).read_bytes()


def test_attributes_are_stripped_and_modes_normalised(corpus):
    public = corpus[3]
    for top, dirs, files in os.walk(public / "job"):
        for name in dirs + files:
            path = Path(top, name)
            assert os.listxattr(path) == [], path
            st = path.stat()
            assert stat.S_IMODE(st.st_mode) == (0o755 if name in dirs else 0o644)
            assert (st.st_uid, st.st_gid) == (0, 0)
    assert os.listxattr(public / "job") == []


def test_nothing_outside_the_quarantine_is_read_or_published(corpus):
    result, q, outside, public, (before, secret_atime) = corpus
    assert os.stat(outside / "secret.txt").st_atime == secret_atime
    for top, _, files in os.walk(public):
        for name in files:
            assert SECRET not in Path(top, name).read_bytes(), name
    assert snapshot(q) == before  # vet never modifies the quarantine


def test_manifest_is_json_that_no_name_can_forge(corpus):
    result, q, _, public, _ = corpus
    manifest = json.loads((public / "job.manifest.json").read_text())
    accepted = {e["path"]: e for e in manifest["entries"] if e["verdict"] == "accepted"}
    assert {p for p, e in accepted.items() if e["kind"] == "file"} == ACCEPTED
    assert "evil.sh" not in json.dumps(accepted)
    assert accepted[QUOTED]["sha256"] == by_path(result)[QUOTED].sha256
    text = (public / "job.vet.txt").read_text()
    assert not any(line.startswith('{"path"') for line in text.splitlines())
    assert len(text.splitlines()) == 3 + len(result.rejected)  # header, counts, 'rejected:'


def test_the_decision_is_logged(corpus, vet_log):
    result = corpus[0]
    events = [json.loads(line) for line in vet_log.read_text().splitlines()]
    mine = [e["data"] for e in events if e["kind"] == "vet" and e["data"]["job"] == result.job]
    assert mine[-1]["status"] == "partial"
    assert mine[-1]["rejected_total"] == len(result.rejected) >= len(EXPECTED)
    assert log.verify(vet_log) == []
