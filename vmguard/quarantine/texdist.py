"""The file names a TeX distribution installs where kpathsea looks them up with the
current directory first: a file published under one of them, beside a paper pdflatex
(mpost, bibtex, makeindex, dvips) runs on, replaces the distribution's file (name-config).

kpathsea's paths hold `.` first for TeX input (TEXINPUTS = $TEXMFDOTDIR;$TEXMF/tex/...),
MetaPost (MPINPUTS), BibTeX styles (BSTINPUTS), font maps (TEXFONTMAPS), encodings
(ENCFONTS) and makeindex styles (INDEXSTYLE): texmf.cnf of Debian bookworm's texlive-base
2022.20230122-3. A hand list of them cannot be complete, so they are data: every file
name Debian's packages install under texmf-dist (or /usr/share/texmf) in those trees,
from bookworm's Contents-all.gz, kept as sources/texlive-names.gz (lower case, sorted,
one a line, under a line that names the source and its date). `python -m
vmguard.quarantine.texdist CONTENTS-ALL.GZ DATE` rewrites it. Left out: what no TeX
program reads as instructions by name, pictures, documentation and plain data
(EXCLUDED), and names with no extension (README, Makefile); BibTeX's .bib databases are
data (bibtex/bib is not a tree read here). Generated maps updmap writes into
/var/lib/texmf (pdftex.map, psfonts.map) are no package's file: dirconfig.py lists them.
"""

from __future__ import annotations

import gzip
import re
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

NAMES = Path(__file__).with_name("sources") / "texlive-names.gz"
URL = "http://deb.debian.org/debian/dists/bookworm/main/Contents-all.gz"
# The installed TeX trees and, under them, the subtrees kpathsea searches after `.`.
_ROOTS = ("usr/share/texlive/texmf-dist/", "usr/share/texmf/")
_TREES = ("tex/", "metapost/", "bibtex/bst/", "fonts/map/", "fonts/enc/", "makeindex/")
# Pictures, documentation, scripts and plain data that sit in those trees: read as a
# figure or by a person, never as TeX's (or MetaPost's, BibTeX's) instructions by name.
EXCLUDED = frozenset(
    ("pdf", "png", "jpg", "jpeg", "gif", "svg", "bmp", "tif", "tiff", "eps", "ps", "mps", "pro")
    + ("txt", "md", "rst", "rme", "html", "htm", "log", "csv", "dat", "json", "yaml", "yml", "xml")
    + ("bib", "pm", "pl", "py", "sh", "rb", "bat", "js", "css", "zip", "gz", "1")
)
_LINE = re.compile(r"^(\S+)\s+\S+$")


@cache
def distribution_names() -> frozenset[str]:
    """The distribution's names (lower case), read once per process (in one piece: line
    by line through GzipFile took twice as long, on the path of every vet)."""
    lines = gzip.decompress(NAMES.read_bytes()).decode("utf-8").split("\n")
    return frozenset(line for line in lines if line and not line.startswith("#"))


def looked_up(path: str) -> str | None:
    """The lower-case file name of a Contents path when kpathsea finds it with `.` first."""
    rest = next((path[len(root) :] for root in _ROOTS if path.startswith(root)), None)
    if rest is None or not rest.startswith(_TREES):
        return None
    name = rest.rpartition("/")[2].lower()
    stem, dot, ext = name.rpartition(".")
    return name if dot and stem and ext not in EXCLUDED else None


def extract(lines: Iterable[str]) -> list[str]:
    """The sorted names of a Contents file's lines (`PATH  SECTION/PACKAGE,...`)."""
    found = {looked_up(m.group(1)) for line in lines if (m := _LINE.match(line.rstrip("\n")))}
    return sorted(found - {None})  # type: ignore[operator]


def write(contents: Path, date: str) -> int:
    """sources/texlive-names.gz from a Contents-all.gz fetched on `date`; the count."""
    with gzip.open(contents, "rt", encoding="utf-8", errors="surrogateescape") as lines:
        names = extract(lines)
    head = f"# kpathsea-searched names of Debian's TeX packages: {URL} ({date}), texdist.py\n"
    NAMES.write_bytes(gzip.compress((head + "".join(f"{n}\n" for n in names)).encode(), 9, mtime=0))
    return len(names)


if __name__ == "__main__":
    print(write(Path(sys.argv[1]), sys.argv[2]))
