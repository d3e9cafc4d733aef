"""One writer a tar archive (session 39, attack p content's tar-p-mtime-rounding-mixed,
tar-p-pax-writers-mixed, tar-p-prefix-split-middle): the first member whose headers show
tarfile's way or GNU tar's pins the writer, a later member written the other way is
refused, and a ustar path is split where its writer splits it. Controls: real tarfile and
GNU tar output (ustar splits of files and directories, pax dates x.7, long names)."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.quarantine.test_containers_archives import vet
from vmguard.quarantine.validators import Invalid, tarextended

CSV = b"a,b\n1,2\n"
ONE_WAY = "tarfile and GNU tar write one way an archive"
NEITHER = "written neither as tarfile nor as GNU tar"
needs_tar = pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")


def _tarfile(names: list[str], fmt: int, mtime: float = 1_733_443_200) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(CSV), 0o644, mtime
            tar.addfile(info, io.BytesIO(CSV))
    return out.getvalue()


def _gnu_tar(root: Path, names: list[str], *options: str) -> bytes:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(CSV)
        os.utime(root / name, (1_733_443_200.7, 1_733_443_200.7))
    cmd = ["tar", *options, "--owner=:1000", "--group=:1000", "--no-recursion", "-cf", "-", *names]
    return subprocess.run(cmd, cwd=root, capture_output=True, check=True).stdout


def _checksum(raw: bytearray, at: int) -> None:
    raw[at + 148 : at + 156] = b" " * 8
    raw[at + 148 : at + 156] = b"%06o\0 " % sum(raw[at : at + 512])


def _split(data: bytes, at: int, path: bytes, prefix_len: int) -> bytes:
    """The member header at `at` with `path` split after `prefix_len` bytes."""
    raw = bytearray(data)
    raw[at : at + 100] = path[prefix_len + 1 :].ljust(100, b"\0")
    raw[at + 345 : at + 500] = path[:prefix_len].ljust(155, b"\0")
    _checksum(raw, at)
    return bytes(raw)


# tarfile splits at the first slash that leaves a name of at most 100 bytes, GNU tar at
# the last one in the first 156 bytes: the prefix lengths each writes
PATHS = {
    "a" * 40 + "/" + "b" * 40 + "/" + "c" * 40 + "/d.csv": (40, 122),
    "p" * 30 + "/" + "q" * 60 + "/" + "r" * 40 + "/s.csv": (91, 132),
    "u" * 20 + "/" + "v" * 70 + "/" + "w" * 80 + "/x.csv": (91, 91),  # 178 bytes: alike
}


def test_each_writers_split_is_its_own():
    for path, (mine, gnu) in PATHS.items():
        assert len(tarextended._tarfile_split(path.encode())) == mine
        assert len(tarextended._gnu_split(path.encode())) == gnu


@needs_tar
def test_the_splits_are_the_writers_own(tmp_path):
    """Random paths of 101-250 bytes, files and directories: the prefix tarfile and GNU
    tar write is the one computed; both archives pass."""
    rng, seen = random.Random(39), 0
    for n in range(60):
        path = "/".join("x" * rng.randint(1, 60) for _ in range(rng.randint(2, 6)))
        if not 100 < len(path) <= 250:
            continue
        root, directory = tmp_path / str(n), rng.random() < 0.3
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).mkdir() if directory else (root / path).write_bytes(CSV)
        written = subprocess.run(["tar", "--format=ustar", "--no-recursion", "-cf", "-", path], cwd=root,
                                 capture_output=True, check=False)  # fmt: skip
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            try:
                tar.add(root / path, arcname=path, recursive=False)
            except ValueError:  # tarfile: "name is too long"
                out = None
        name = (path + "/" * directory).encode()
        for data, split in ((written.stdout if not written.returncode else None, tarextended._gnu_split),
                            (out and out.getvalue(), tarextended._tarfile_split)):  # fmt: skip
            assert (data[345:500].rstrip(b"\0") if data else None) == split(name)
            if data:
                assert vet(data)
                seen += 1
    assert seen > 40


@needs_tar
def test_a_gnu_tar_split_after_a_tarfile_split_is_refused(tmp_path):
    """tarfile's ustar archive of two long paths passes; its second member split as GNU tar
    splits it is refused, and GNU tar's archive with its second split as tarfile's."""
    ours = _tarfile(list(PATHS)[:2], tarfile.USTAR_FORMAT)
    assert vet(ours)
    second = 1024
    path = list(PATHS)[1].encode()
    with pytest.raises(Invalid, match=ONE_WAY):
        vet(_split(ours, second, path, len(tarextended._gnu_split(path))))
    gnu = _gnu_tar(tmp_path, list(PATHS)[:2], "--format=ustar")
    assert vet(gnu) and gnu[345:500].rstrip(b"\0") == tarextended._gnu_split(list(PATHS)[0].encode())
    with pytest.raises(Invalid, match=ONE_WAY):
        vet(_split(gnu, second, path, len(tarextended._tarfile_split(path))))


@pytest.mark.parametrize("prefix_len", [81, 40 + 1 + 40])
def test_a_split_no_writer_makes_is_refused(prefix_len):
    ours = _tarfile(list(PATHS)[:1], tarfile.USTAR_FORMAT)
    with pytest.raises(Invalid, match=NEITHER):
        vet(_split(ours, 0, list(PATHS)[0].encode(), prefix_len))


def test_a_short_path_is_not_split():
    """Neither writer splits a path that fits the name field: `d/a.csv` as prefix `d`."""
    ours = _tarfile(["d/a.csv"], tarfile.USTAR_FORMAT)
    assert vet(ours)
    with pytest.raises(Invalid, match=NEITHER):
        vet(_split(ours, 0, b"d/a.csv", 1))


def _member_heads(data: bytes) -> list[int]:
    return [
        i for i in range(0, len(data), 512) if data[i + 257 : i + 262] == b"ustar" and data[i + 156] == 48
    ]


def _mtime(data: bytes, at: int, value: int) -> bytes:
    raw = bytearray(data)
    raw[at + 136 : at + 148] = b"%011o\0" % value
    _checksum(raw, at)
    return bytes(raw)


def test_truncated_then_rounded_is_refused():
    """tarfile's pax archive dated x.7 (header 1733443201, rounded) passes; its first member
    truncated as GNU tar truncates it with the second left rounded is refused; a tarfile
    pax header over a truncated time is refused within the member."""
    ours = _tarfile(["a.csv", "b.csv"], tarfile.PAX_FORMAT, mtime=1_733_443_200.7)
    assert vet(ours)
    first, second = _member_heads(ours)
    with pytest.raises(Invalid, match=ONE_WAY):
        vet(_mtime(ours, first, 1_733_443_200))
    with pytest.raises(Invalid, match=ONE_WAY):
        vet(_mtime(_mtime(ours, first, 1_733_443_200), second, 1_733_443_200))


@needs_tar
def test_gnu_tar_pax_then_tarfile_rounding_is_refused(tmp_path):
    """GNU tar's posix archive of two members dated x.7 (headers truncated) passes; the
    second's header mtime rounded as tarfile rounds it is refused."""
    gnu = _gnu_tar(tmp_path, ["a.csv", "b.csv"], "--format=posix")
    assert vet(gnu)
    first, second = _member_heads(gnu)
    assert int(gnu[second + 136 : second + 147], 8) == 1_733_443_200
    with pytest.raises(Invalid, match=ONE_WAY):
        vet(_mtime(gnu, second, 1_733_443_201))


@needs_tar
def test_gnu_tar_pax_member_then_tarfiles_is_refused(tmp_path):
    """The attack's order reversed: GNU tar's pax member, then tarfile's (each passes alone)."""
    gnu = bytearray(_gnu_tar(tmp_path, ["a.csv"], "--format=posix"))
    for at in (0, _member_heads(gnu)[0]):  # device fields as tarfile spells them (empty)
        gnu[at + 329 : at + 345] = bytes(16)
        _checksum(gnu, at)
    ours = _tarfile(["b.csv"], tarfile.PAX_FORMAT, mtime=1_733_443_200.7)
    assert vet(bytes(gnu)) and vet(ours)
    body = gnu[: _member_heads(gnu)[0] + 1024]  # a.csv's headers and its one data block
    with pytest.raises(Invalid, match=ONE_WAY):
        vet(body + ours)


LONG = "d/" + "x" * 40 + "/" + "y" * 120 + ".csv"


@needs_tar
def test_long_names_of_one_writer(tmp_path):
    """tarfile's GNU long name (mode 0, no owner names, as GNU tar 1.26's where uid 0 has
    no name) then GNU tar 1.34's (mode 0644, root) is refused; GNU tar's oldgnu name cut
    to 99 after one cut to 100 too; a long name for a name that fits the field is refused."""
    ours = _tarfile([LONG, LONG.replace("d/", "e/")], tarfile.GNU_FORMAT)
    assert vet(ours)
    gnu = _gnu_tar(tmp_path, [LONG], "--format=gnu")
    oldgnu = _gnu_tar(tmp_path, [LONG], "--format=oldgnu")
    assert vet(gnu) and vet(oldgnu) and gnu[100:108] == b"0000644\0"
    first = ours[:2048]  # the first member: long name header and name, header, data
    assert first[512:1024].rstrip(b"\0") == LONG.encode() + b"\0"[:0]
    for one, other in ((first, gnu), (first, oldgnu), (gnu[:2048], oldgnu), (oldgnu[:2048], first)):
        with pytest.raises(Invalid, match=ONE_WAY):
            vet(one + other)
    short = bytearray(_tarfile(["a.csv"], tarfile.GNU_FORMAT))
    longlink = bytearray(ours[:1024])
    longlink[124:136] = b"%011o\0" % 6
    longlink[512:1024] = b"a.csv\0".ljust(512, b"\0")
    _checksum(longlink, 0)
    with pytest.raises(Invalid, match="written without a long name|long name"):
        vet(bytes(longlink) + bytes(short))


def test_a_name_field_of_the_other_writer_is_refused():
    """tarfile's pax archive of accented names ('?' behind each path record) passes; the
    second member's field holding the path's bytes, as GNU tar writes it, is refused."""
    names = ["r\u00e9sultat.csv", "\u00e9t\u00e9.csv"]
    ours = _tarfile(names, tarfile.PAX_FORMAT)
    assert vet(ours)
    second = _member_heads(ours)[1]
    assert ours[second : second + 8] == b"?t?.csv\0"
    raw = bytearray(ours)
    raw[second : second + 100] = names[1].encode().ljust(100, b"\0")
    _checksum(raw, second)
    with pytest.raises(Invalid, match=ONE_WAY):
        vet(bytes(raw))
