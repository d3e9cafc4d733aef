"""The rpm database reader on real databases made by Debian's rpm, and on hostile ones."""

from __future__ import annotations

import contextlib
import struct
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.guest import images
from tests.support.require import require_tools
from vmguard.guest.rpmdb import RpmDbError, read_packages
from vmguard.guest.rpmheader import HeaderError, parse_header

PACKAGES = [
    ("bash", "4.1.2", "48.el6"),
    ("firefox", "52.8.0", "1.el6_9"),
    ("telnet-server", "0.17", "48.el6"),
]
WANTED = {("bash", "4.1.2-48.el6"), ("firefox", "52.8.0-1.el6_9"), ("telnet-server", "0.17-48.el6")}


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    """rpmdb.sqlite as rpm 4.18 writes it, and the same headers as Berkeley DB files."""
    require_tools("rpm", "rpmbuild", "db5.3_load")
    work = tmp_path_factory.mktemp("rpmdb")
    root = work / "root"
    images.install_rpms(root, work, PACKAGES)
    sqlite = root / "var/lib/rpm/rpmdb.sqlite"
    found = {"sqlite": sqlite}
    for page_size in (4096, 512):  # 512: every header spills into overflow pages
        folder = work / f"bdb{page_size}"
        folder.mkdir()
        images.packages_file(sqlite, folder / "Packages", page_size)
        found[f"bdb{page_size}"] = folder / "Packages"
    return found


def _identity(packages):
    return {(p.name, p.evr) for p in packages}


@pytest.mark.parametrize("kind", ["sqlite", "bdb4096", "bdb512"])
def test_reads_real_databases(databases, kind):
    packages, problems = read_packages(databases[kind], sqlite=kind == "sqlite")
    assert (_identity(packages), problems) == (WANTED, [])


@pytest.mark.parametrize("kind", ["bdb4096", "bdb512"])
def test_berkeley_files_are_what_rpm_itself_reads(databases, kind):
    """The fixture is a genuine Berkeley DB: rpm's own bdb_ro backend lists the same."""
    out = subprocess.run(
        [
            "rpm",
            "--dbpath",
            str(databases[kind].parent),
            "--define",
            "_db_backend bdb_ro",
            "-qa",
            "--qf",
            "%{NAME} %{VERSION}-%{RELEASE}\n",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert {tuple(line.split()) for line in out.splitlines()} == WANTED


def test_a_bad_header_is_a_problem_not_a_crash(databases, tmp_path):
    copy = tmp_path / "Packages"
    data = bytearray(databases["bdb4096"].read_bytes())
    name_at = data.find(b"firefox\0")
    data[name_at : name_at + 8] = b"fire\x01ox\0"  # an unprintable name
    copy.write_bytes(bytes(data))
    packages, problems = read_packages(copy, sqlite=False)
    assert {p.name for p in packages} == {"bash", "telnet-server"}
    assert len(problems) == 1 and "unprintable" in problems[0]


def test_overflow_chain_loop_is_rejected(databases, tmp_path):
    data = bytearray(databases["bdb512"].read_bytes())
    page_size = 512
    for pgno in range(1, len(data) // page_size):
        page = pgno * page_size
        if data[page + 25] == 7:  # overflow page: point its next page at itself
            struct.pack_into("<I", data, page + 16, pgno)
            struct.pack_into("<H", data, page + 22, 1)
            break
    copy = tmp_path / "Packages"
    copy.write_bytes(bytes(data))
    with pytest.raises(RpmDbError, match="loops|overflow"):
        read_packages(copy, sqlite=False)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "too short"),
        (b"\0" * 4096, "bad magic"),
        (b"\0" * 12 + struct.pack("<III", 0x061561, 7, 4096) + b"\0" * 4072, "version 7"),
        (b"\0" * 12 + struct.pack("<III", 0x061561, 9, 1000) + b"\0" * 4072, "page size"),
    ],
)
def test_not_a_berkeley_hash_file(tmp_path, content, error):
    path = tmp_path / "Packages"
    path.write_bytes(content)
    with pytest.raises(RpmDbError, match=error):
        read_packages(path, sqlite=path.name.endswith("sqlite"))


def test_sqlite_that_is_not_sqlite(tmp_path):
    path = tmp_path / "rpmdb.sqlite"
    path.write_bytes(b"SQLite format 3\0" + b"\xff" * 2000)
    with pytest.raises(RpmDbError):
        read_packages(path, sqlite=path.name.endswith("sqlite"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_databases_never_crash(databases, tmp_path, data):
    """Any byte flipped anywhere: a package list, problems, or RpmDbError; nothing else."""
    kind = data.draw(st.sampled_from(["bdb4096", "bdb512"]))
    content = bytearray(databases[kind].read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        content[data.draw(st.integers(0, len(content) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path / "Packages"
    path.write_bytes(bytes(content))
    with contextlib.suppress(RpmDbError):
        read_packages(path, sqlite=path.name.endswith("sqlite"))


@given(st.binary(max_size=512))
def test_random_header_blobs_only_raise_header_error(blob):
    with contextlib.suppress(HeaderError):
        parse_header(blob)


def test_header_lengths_are_checked():
    with pytest.raises(HeaderError, match="implausible"):
        parse_header(struct.pack(">II", 0x10000, 0))
    with pytest.raises(HeaderError, match="does not match"):
        parse_header(struct.pack(">II", 1, 4) + b"\0" * 16)


def test_sqlite_write_ahead_log_is_applied(databases, tmp_path):
    """A package installed while rpm still held the database lives only in the -wal file
    until a checkpoint: a copied-out database with its log must show it."""
    import sqlite3

    live = tmp_path / "live" / "rpmdb.sqlite"
    live.parent.mkdir()
    live.write_bytes(databases["sqlite"].read_bytes())
    con = sqlite3.connect(live)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    blob = con.execute("SELECT blob FROM Packages LIMIT 1").fetchone()[0]
    con.execute("INSERT INTO Packages (blob) VALUES (?)", (blob,))
    con.commit()
    copy = tmp_path / "copy" / "rpmdb.sqlite"
    copy.parent.mkdir()
    copy.write_bytes(live.read_bytes())
    wal = live.with_name("rpmdb.sqlite-wal").read_bytes()
    assert wal  # the new row is only in the log
    copy.with_name("rpmdb.sqlite-wal").write_bytes(wal)
    con.close()
    packages, _ = read_packages(copy, sqlite=True)
    assert len(packages) == len(WANTED) + 1
