"""Independent black-box attack i on `vmguard vet`'s NAME claims (issue #13), after the
session-34 fixes (names judged as Windows opens them and in NFKC, tool-loaded extensions by
the last one, Apache's rightmost typed extension, server-run extensions anywhere,
Windows-active and desktop extensions, gzip FNAME, tar and zip member names).

New classes tried beyond rounds a-h (test_attack_independent_hnames.py and earlier):
Windows' best-fit mapping where it goes beyond NFKC (letters with marks cp1252 lacks, RATIO
for ':', MINUS SIGN and HYPHEN for '-', and separators: cp932's YEN SIGN and cp949's WON
SIGN are 0x5C, cp1252's DIVISION SLASH '/': WorstFit), NTFS 8.3 aliases written as long
names (GIT~1, NODE_M~1), a page extension before a last one that Apache httpd's own
mime.types does not type (.md .markdown .rst .geojson .fits .h5), IIS 6's ';' cut and its
*.asp directories, IIS's other default script maps (.htr .idq), TeX files biblatex,
KOMA-Script and TikZ load by name from the directory pdflatex runs in, Nextflow's
launch-directory config, a Safari web archive (Apple's MHTML) whose page is hex data, a
.csv Excel opens with a DDE formula (the reason .slk is refused), zip names without the
UTF-8 flag (cp437 to readers: two members of one path once unpacked), names with escapes
in a gzip FNAME and in member names (the text summary must escape them), the other
extensions Apache types as .eml and .dcr (.mime .cct .w3d), and the names
physics tools and batch systems give: generators' outputs, dotted versions, run periods,
dates, SGE/PBS `<script>.o<id>` logs, Delphes cards. Refused as they should be: other
Win32 rewrites (a trailing ':', NFKC dots, `..∖`), case-folded look-alikes (long s,
Kelvin, dotless i), the rest of Outlook's list, startup names under NTFS forms, git's
HEAD beside objects/ and refs/ under NTFS and NFKC forms.

All files are vetted ONCE through the CLI (batch.yaml's allow_types, scanners off,
per-file promotion); archives in a second vet whose policy also admits tar and zip. A hit
is a strict xfail (HOLES, FALSE_REJECTIONS) whose reason says what got out or was refused.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("uproot")
pytest.importorskip("h5py")
pytest.importorskip("astropy.io.fits")

from tests.quarantine.test_attack_independent_dcontent import _policy  # noqa: E402
from tests.quarantine.test_attack_independent_econtent import REPO, _vet  # noqa: E402
from tests.support import attack_inames_cases as cases  # noqa: E402

# Fixed in session 35 (their cases pass): Windows' best fit beyond NFKC and its separators
# (client_forms.best_fit), IIS 6's ';' cut and *.asp directories and .htr .idq, NTFS 8.3 aliases
# (names.short_names), Apache httpd's own mime.types (pagetypes), biblatex, KOMA-Script and
# TikZ files, nextflow.config, .webarchive, unflagged non-ASCII zip names.
HOLES: dict[str, str] = {
    "dde.csv": "published: Windows opens a .csv in Excel, which evaluates the cell "
    "`=cmd|' /C calc'!A0` (the csv module's output) as a DDE formula that starts calc: the "
    "reason .slk and .iqy are refused by name (Excel's DDE formulas), under the name every "
    "lab writes; a cell starting `=` `+` `-` `@` with `|` is the DDE form",
}
_BY_DESIGN = "refused (name-type) by design: "
FALSE_REJECTIONS: dict[str, str] = {
    "fit.py.o4242": _BY_DESIGN + "SGE/PBS's output file of `qsub fit.py` (mod_python's .py "
    "handler matches any extension)",
    "fit.res": _BY_DESIGN + "a fit's result file; Apache's mime.types types .res as "
    "application/x-dtbresource+xml, which a browser renders",
    "-20C_iv.csv": "refused (name-option) by design: a silicon sensor's IV curve at -20 C "
    "named by its temperature",
    "delphes_card_CMS.tcl": _BY_DESIGN + "Delphes' detector card, kept beside its output "
    "(Apache Rivet's .tcl handler)",
    "pdf_unc.var.csv": _BY_DESIGN + "a variance table (.var is Apache's type-map handler)",
}

HOSTILE = cases.hostile()
CONTROLS = cases.controls()
ARCHIVES = cases.archives()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-inames")
    start = time.monotonic()
    flat = _vet(base, "names", HOSTILE | CONTROLS | cases.SUPPORT, _policy())
    packed = _vet(base, "archives", ARCHIVES, _policy(("tar", "zip")))
    return {
        "entries": flat["entries"] | packed["entries"],
        "out": {**dict.fromkeys(HOSTILE | CONTROLS, flat["out"]), **dict.fromkeys(ARCHIVES, packed["out"])},
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


def test_tables_name_real_cases():
    assert set(HOLES) <= set(HOSTILE) | set(ARCHIVES)
    assert set(FALSE_REJECTIONS) <= set(CONTROLS)
    assert not set(HOSTILE) & set(CONTROLS)


@pytest.mark.parametrize("name", [_case(n, FALSE_REJECTIONS) for n in sorted(CONTROLS)])
def test_lab_name_is_published_byte_identical(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    published = (run["out"][name] / name).read_bytes()
    assert published == CONTROLS[name]
    assert entry["sha256"] == hashlib.sha256(published).hexdigest()


@pytest.mark.parametrize("name", [_case(n, HOLES) for n in sorted(HOSTILE | ARCHIVES)])
def test_hostile_name_is_not_published(run, name):
    entry = _entry(run, name)
    assert entry["verdict"] != "accepted", entry
    assert entry["reasons"], entry
    assert not (run["out"][name] / name).exists()


def test_the_vets_exit_as_a_partly_refused_job_and_take_under_twenty_seconds(run):
    assert all(rc in (0, 1) for rc in run["rc"]), run["rc"]
    assert run["seconds"] < 20, run["seconds"]


# Names whose bytes would drive a terminal (OSC title, erase line, CR, a newline that
# starts a fake report line, a bidi override) in a gzip FNAME and in member names: the
# rejection details quote them.
_ESCAPING = ("esc-fname.csv.gz", "nl-fname.csv.gz", "tar-ctl-name.tar", "zip-bidi-name.zip")


def test_the_text_summary_escapes_names_quoted_in_details(tmp_path):
    q = tmp_path / "q"
    q.mkdir()
    for name in _ESCAPING:
        (q / name).write_bytes((HOSTILE | ARCHIVES)[name])
    (tmp_path / "p.yaml").write_text(_policy(("tar", "zip")))
    cmd = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", str(tmp_path / "p.yaml"),
           "--to", str(tmp_path / "pub"), "--dry-run", "--per-file", "-q"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, capture_output=True, env=env, timeout=120, check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert not set(out) & {"\x1b", "\x07", "\r", "\u202e"}, repr(out)
    lines = out.splitlines()
    listed = lines[lines.index("rejected:") + 1 :]
    assert [line.split(":")[0].strip() for line in listed] == sorted(_ESCAPING), out
