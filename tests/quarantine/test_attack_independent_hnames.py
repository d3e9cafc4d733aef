"""Independent black-box attack h on `vmguard vet`'s NAME claims (issue #13), after the
session-34 fixes of round g's name holes (NTFS's `:` and trailing-dot rewrites, startup
names, desktop-active, server-run and Windows-active extensions, JSON-typed names).

New classes tried beyond rounds a-g (test_attack_independent_gcontent.py and earlier):
other Win32 stream forms (`::$data` lower case, named streams with a type, `. .` mixes,
a space before the stream, gunzip suffixes before and after a stream,
`::$INDEX_ALLOCATION` and `:$I30:$INDEX_ALLOCATION` on `node_modules`), Unicode
look-alikes of `.` and `:` and fullwidth extensions (a Windows ANSI client's best-fit
mapping writes `run．bat` as run.bat), startup and search-path files of other lab tools
(LaTeX's `.cls .sty .bst`, read from the directory `pdflatex` runs in before the
installed ones), other server handlers (IIS's asp.dll `.cdx`, Axis `.jws`, mod_ruby
`.rbx`, Embperl `.epl`), other desktop openers (Terminal's older `.term`, Linux
one-click installers `.flatpakref .ymp`), the same names inside tar, zip and gzip, and
JSON-typed names inside archives and under Apache's own +json types, a gzip FNAME in
its Latin-1 spelling (gunzip -N writes its bytes: another name), MATLAB's startup-folder
java.opts, Windows openers of .accdb/.accda, certificate files and .vsix, and ordinary
names with a page or handler extension before a typed last one (.es .res .dir .M). Controls: ordinary lab names (colon time stamps as
`date -Iseconds` writes them, a Geant4 macro the user runs, a qmake `.pro`, batch logs,
numpy.savetxt, csv, gzip FNAME with colons).

All files are vetted ONCE through the CLI (batch.yaml's allow_types, scanners off,
per-file promotion); archives in a second vet whose policy also admits tar and zip. A
hit is a strict xfail (HOLES, FALSE_REJECTIONS) whose reason says what got out or was
refused.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.quarantine.test_attack_independent_dcontent import _policy
from tests.quarantine.test_attack_independent_econtent import _vet
from tests.support import attack_hnames_cases as cases

_BESTFIT = (
    "published: the name holds a fullwidth {}, which a Windows client converting to its "
    "ANSI code page (best-fit, cp1252: the WorstFit class) writes as ASCII, making it {}"
)
_SERVER = (
    "published: {} runs a file of this extension anywhere in its name ({}), the class "
    "the docs refuse for .rvt .psp .wsgi"
)
_MATLAB = (
    "published: MATLAB reads {} from its startup folder, the directory `matlab` starts in on Linux "
    "(MathWorks' documented place), as Octave's PKG_ADD (refused)"
)
_WINDOWS = "published: Windows opens it as {}, the class of {} (refused by name)"
# Fixed in session 36 (textnames): graphics.cfg, a package's configuration file kpathsea
# finds in `.` first, is refused (name-config) with the class dirconfig.py lists.
HOLES: dict[str, str] = {}
FALSE_REJECTIONS: dict[str, str] = {
    "ctl-yield.Rb.csv": "refused (name-type) by design: rubidium's symbol as a middle extension is "
    "taken for a Ruby handler (.rb anywhere)",
    "ctl-decay.Pm.csv": "refused (name-type) by design: promethium's symbol as a middle extension is "
    "taken for a Perl module handler (.pm anywhere)",
    "ctl-notes.pl.txt": "refused (name-type) by design: a Polish translation's suffix is taken for "
    "a Perl CGI handler (.pl anywhere)",
    "ctl-analysis.pro": "refused (name-type) by design: a Qt qmake project `analysis.pro` is taken for "
    "an IDL/GDL routine (.pro anywhere in a name)",
}

FLAT = cases.flat_cases()
PACKED = cases.archive_cases()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-hnames")
    start = time.monotonic()
    flat = _vet(base, "names", FLAT, _policy())
    packed = _vet(base, "archives", PACKED, _policy(("tar", "zip")))
    return {
        "entries": flat["entries"] | packed["entries"],
        "out": {**dict.fromkeys(FLAT, flat["out"]), **dict.fromkeys(PACKED, packed["out"])},
        "rc": (flat["rc"], packed["rc"]),
        "seconds": time.monotonic() - start,
    }


def _case(name: str, table: dict[str, str]):
    if name in table:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=table[name]))
    return name


def _entry(run: dict, name: str) -> dict:
    """The file's entry, or its nearest directory's when that directory was refused whole."""
    parts = name.split("/")
    for cut in range(len(parts), 0, -1):
        entry = run["entries"].get("/".join(parts[:cut]))
        if entry is not None:
            return entry
    raise KeyError(name)


def _names(controls: bool) -> list[str]:
    return sorted(n for n in FLAT | PACKED if n.split("/")[0].startswith("ctl") == controls)


def test_tables_name_real_cases():
    assert set(HOLES) <= set(_names(False))
    assert set(FALSE_REJECTIONS) <= set(_names(True))


@pytest.mark.parametrize("name", [_case(n, FALSE_REJECTIONS) for n in _names(True)])
def test_ordinary_lab_name_is_published_byte_identical(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    published = (run["out"][name] / name).read_bytes()
    assert published == (FLAT | PACKED)[name]
    assert entry["sha256"] == hashlib.sha256(published).hexdigest()


@pytest.mark.parametrize("name", [_case(n, HOLES) for n in _names(False)])
def test_hostile_name_is_not_published(run, name):
    entry = _entry(run, name)
    assert entry["verdict"] != "accepted", entry
    assert entry["reasons"], entry
    assert not (run["out"][name] / name).exists()


def test_the_vets_exit_as_a_partly_refused_job_and_take_under_twenty_seconds(run):
    assert all(rc in (0, 1) for rc in run["rc"]), run["rc"]
    assert run["seconds"] < 20, run["seconds"]
