"""ROOT files written by ROOT itself (C++, ROOT 5.23 to 6.14: trees, histograms,
directories; zlib, lzma, lz4 and uncompressed), from the test data three pinned sdists on
PyPI ship: uproot 2.9.0 (tests/samples), root_numpy 4.8.0 and rootpy 1.0.1 (testdata).

Each sdist is fetched once per machine into ~/.cache/vmguard-tests/root-cxx (a lock keeps
concurrent runs from fetching twice), its sha256 checked, and its .root files extracted
there. uproot's comes through pip's configured index (`pip download`); root_numpy's and
rootpy's setup.py need ROOT to run, so pip cannot download them: they come by HTTPS from
PyPI's simple index, as uproot's does when pip fails. A fetch that fails raises: a test
that needs the corpus fails saying why, it is never skipped.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vmguard-tests" / "root-cxx"
SIMPLE = "https://pypi.org/simple/{name}/"
TIMEOUT = 120  # seconds for one download


@dataclass(frozen=True)
class Sdist:
    name: str
    version: str
    sha256: str
    folder: str  # where its .root files are, inside the archive's top directory
    pip: bool  # pip download works (its setup.py runs without ROOT)
    names: tuple[str, ...]  # its .root files, without the suffix

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.tar.gz"


_SAMPLES = """Event HZZ-lz4 HZZ-lzma HZZ-uncompressed HZZ-zlib HZZ Zmumu-lz4 Zmumu-lzma
Zmumu-uncompressed Zmumu-zlib Zmumu demo-double32 foriter foriter2 hepdata-example histograms
issue21 issue30 issue31 issue33 issue38a issue38b issue46 issue49 issue57 issue60 issue63
issue64 issue66 issue70 issue74 issue76 issue79 mc10events nesteddirs simple small-dy-nooffsets
small-dy-withoffsets small-evnt-tree-fullsplit small-flat-tree vectorVectorDouble"""
_VERSIONS = {  # uproot's sample-<ROOT version>-<compression>.root
    "5.23.02 5.24.00 5.25.02 5.26.00 5.27.02 5.28.00 5.29.02": "uncompressed zlib",
    "5.30.00 6.08.04": "lzma uncompressed zlib",
    "6.10.05 6.14.00": "lz4 lzma uncompressed zlib",
}
_UPROOT = _SAMPLES.split() + [
    f"sample-{version}-{codec}"
    for versions, codecs in _VERSIONS.items()
    for version in versions.split()
    for codec in codecs.split()
]
_ROOT_NUMPY = "directories fixed1 fixed2 ntuple object1 object2 single1 single2 string struct test trees vary1 vary2 vector"
_ROOTPY = "test_csv test_dicts test_file test_file_2 test_tree"

SDISTS = (
    Sdist(
        "uproot",
        "2.9.0",
        "42a3898db598726c92cf5761e5178566a32eb8832a5bccbaf95016ab90755c67",
        "tests/samples",
        True,
        tuple(_UPROOT),
    ),
    Sdist(
        "root_numpy",
        "4.8.0",
        "5842bbcde92133f60a61f56e9f0a875a0dbc2a567cc65a9ac141ecd72e416878",
        "root_numpy/testdata",
        False,
        tuple(_ROOT_NUMPY.split()),
    ),
    Sdist(
        "rootpy",
        "1.0.1",
        "7d85fc8fc4ff96a833fa593be401aa4836b755757b518d23d4c00d7a105ce27e",
        "rootpy/testdata",
        False,
        tuple(_ROOTPY.split()),
    ),
)
NAMES = tuple(sorted(f"{name}.root" for sdist in SDISTS for name in sdist.names))  # 89, unique


class FetchError(RuntimeError):
    """The corpus could not be fetched or does not match its pin."""


def files() -> dict[str, Path]:
    """Every ROOT-written file of the corpus by its name (NAMES, unique across the sdists)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch per machine, even with runs in parallel
        found = {path.name: path for sdist in SDISTS for path in _extracted(sdist)}
    if sorted(found) != list(NAMES):
        raise FetchError(f"the sdists hold {sorted(set(found) ^ set(NAMES))} against the pinned names")
    return found


def _extracted(sdist: Sdist) -> list[Path]:
    into = CACHE / f"{sdist.name}-{sdist.version}"
    done = into / ".done"
    if not done.exists():
        archive = _archive(sdist)
        into.mkdir(exist_ok=True)
        prefix = f"{sdist.name}-{sdist.version}/{sdist.folder}/"
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = member.name[len(prefix) :]
                if (
                    member.isfile()
                    and member.name.startswith(prefix)
                    and name.endswith(".root")
                    and "/" not in name
                ):
                    (into / name).write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
        done.touch()
    return sorted(into.glob("*.root"))


def _archive(sdist: Sdist) -> Path:
    """The sdist in the cache, fetched if it is not there, its sha256 the pinned one."""
    path = CACHE / sdist.filename
    if path.exists() and _sha256(path) == sdist.sha256:
        return path
    errors = []
    for fetch in (_pip, _https) if sdist.pip else (_https,):
        try:
            fetch(sdist, path)
        except (OSError, subprocess.SubprocessError, ValueError, FetchError) as error:
            errors.append(f"{fetch.__name__}: {error}")
            continue
        if _sha256(path) == sdist.sha256:
            return path
        errors.append(f"{fetch.__name__}: sha256 {_sha256(path)}, not the pinned {sdist.sha256}")
        path.unlink()
    raise FetchError(f"cannot fetch {sdist.filename} from PyPI ({'; '.join(errors)})")


def _pip(sdist: Sdist, path: Path) -> None:
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", tmp, "-q",
               f"{sdist.name}=={sdist.version}"]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT * 2, check=False)
        got = Path(tmp) / sdist.filename
        if proc.returncode or not got.exists():
            raise FetchError(f"pip download: {proc.stderr.decode(errors='replace')[-500:]}")
        os.replace(got, path)


def _https(sdist: Sdist, path: Path) -> None:
    """The sdist's link from PyPI's simple index (JSON), downloaded to path."""
    request = urllib.request.Request(  # noqa: S310 (SIMPLE is https)
        SIMPLE.format(name=sdist.name), headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 (https, fixed)
        index = json.load(response)
    urls = [f["url"] for f in index["files"] if f["filename"] == sdist.filename]
    if not urls or not urls[0].startswith("https://"):
        raise FetchError(f"PyPI lists no {sdist.filename}")
    part = path.with_suffix(".part")
    with urllib.request.urlopen(urls[0], timeout=TIMEOUT) as response, open(part, "wb") as out:  # noqa: S310
        while chunk := response.read(1 << 20):
            out.write(chunk)
    os.replace(part, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
