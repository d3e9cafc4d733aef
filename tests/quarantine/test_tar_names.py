"""A tar member is refused when tarfile (whose reading vmguard judges) and GNU tar 1.34
(what `tar x` creates) name it otherwise (issue #13, attack n's tar-n-slash-*): a regular
member named `d/` is a directory to GNU tar, which reads its data as the archive's next
headers. Controls: tarfile's and GNU tar's own archives of a tree, `tar cf x.tar .`."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.quarantine.test_containers_archives import vet
from tests.support import attack_ncontent_tar as made
from vmguard.quarantine.validators import Invalid, tarnames
from vmguard.quarantine.validators.tarnames import Reading

CSV = b"a,b\n1,2\n"


def _tar(name: str, data: bytes = CSV, kind: bytes = tarfile.REGTYPE, fmt: int = tarfile.GNU_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = kind, 0o755 if kind == tarfile.DIRTYPE else 0o644, 1_700_000_000
        info.size = 0 if kind == tarfile.DIRTYPE else len(data)
        tar.addfile(info, io.BytesIO(data) if info.size else None)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "kind", "gnu"),
    [
        (b"d/", tarfile.REGTYPE, Reading(b"d", True)),
        (b"d/", tarfile.CONTTYPE, Reading(b"d", True)),
        (b"d//", tarfile.DIRTYPE, Reading(b"d", True)),
        (b"/etc/x", tarfile.REGTYPE, Reading(b"etc/x", False)),
        (b"///", tarfile.DIRTYPE, Reading(b".", True)),
        (b"a/../b", tarfile.REGTYPE, None),
        (b"./a.csv", tarfile.REGTYPE, Reading(b"./a.csv", False)),
    ],
)
def test_gnu_tar_reading(name, kind, gnu):
    assert tarnames.gnu_tar(name, kind) == gnu


@pytest.mark.parametrize("name", sorted(made.HOSTILE))
def test_attack_n_regular_members_named_as_directories_are_refused(name):
    with pytest.raises(Invalid, match="named otherwise by its readers"):
        vet(made.HOSTILE[name][0])


@pytest.mark.parametrize(
    "data",
    [
        _tar("d/"),
        _tar("d/", b""),  # empty: GNU tar makes a directory, tarfile a file
        _tar("d\u00e9/", fmt=tarfile.PAX_FORMAT),  # a pax path: tarfile strips the / and keeps a file
    ],
)
def test_every_reading_that_differs_is_refused(data):
    with pytest.raises(Invalid, match="named otherwise by its readers"):
        vet(data)


@pytest.mark.parametrize("name", ["/abs.csv", "a/../b.csv", "//d/"])
def test_a_leading_slash_or_dotdot_is_left_to_the_walks_name_rules(name):
    """GNU tar drops a leading / and skips a .. member; the parent refuses such a path
    as name-empty or name-traversal, naming it (test_formats)."""
    out = vet(_tar(name))
    assert out[0] == ("application/x-tar", "tar")


def test_a_directory_holding_data_is_refused():
    data = bytearray(_tar("d/", CSV + bytes(512 - len(CSV)), kind=tarfile.REGTYPE))
    data[156:157] = tarfile.DIRTYPE
    data[148:156] = b"%06o\0 " % (sum(data[:148]) + 256 + sum(data[156:512]))
    with pytest.raises(Invalid):
        vet(bytes(data))


def test_directories_and_files_as_the_writers_name_them_pass(tmp_path):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind in (("d", tarfile.DIRTYPE), ("d/a.csv", tarfile.REGTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.size = (
                kind,
                0o755 if kind == tarfile.DIRTYPE else 0o644,
                len(CSV) * (kind != tarfile.DIRTYPE),
            )
            tar.addfile(info, io.BytesIO(CSV))
    assert vet(out.getvalue())[0] == ("application/x-tar", "tar")
    if shutil.which("tar") is None:
        pytest.skip("needs GNU tar")
    tree = tmp_path / "t"
    (tree / "d" / "sub").mkdir(parents=True)
    (tree / "d" / "a.csv").write_bytes(CSV)
    for argv in (["tar", "cf", "../x.tar", "."], ["tar", "cf", "../y.tar", "d"]):
        subprocess.run(argv, cwd=tree, check=True)
        out = Path(tmp_path / argv[2].removeprefix("../")).read_bytes()
        assert vet(out)[0] == ("application/x-tar", "tar")
