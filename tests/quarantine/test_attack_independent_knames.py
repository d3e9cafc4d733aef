"""Independent black-box attack k on `vmguard vet`'s session-36 claims (issue #13): names
tools load by themselves from the directory they run in (`name-config`: TeX's kpathsea
searches `.` first, matplotlibrc, biber.conf, mt-*.cfg, babel-*.ini, TikZ/PGF libraries),
and tqdm's cursor-up `ESC [ A`, the one escape text now admits.

New classes tried: kpathsea's try_std_extension_first (`graphics.cfg.tex` is read before
`graphics.cfg`); names loaded by their whole name that the enumeration missed, inside its
own scope (xkeyval.tex, unicode-math-table.tex, beamer's translator .dict) and beside it
(PGF/TikZ's core and pgfplots' files the library pattern misses, REVTeX's .rtx, siunitx,
MetaPost's mpost.mp/feynmp.mp, font maps beside pdftex.map, an .enc); the files pdflatex
reads back by the document's name (main.aux, .out, .nav); other tools' directory
configuration (tex4ht.env, arara's, uv's, pytest's); NTFS 8.3 aliases of the new TikZ/PGF
pattern; cursor-up that climbs above the file's first line (over what the terminal showed
before it), and UTF-16 text whose bytes, as `cat` hands them to a terminal, are escape
sequences the text rule refuses as characters (conceal, a counted move, OSC 52). Variants
claimed refused (case, trailing dot, 8.3 aliases of long names, gunzip's names with .gz,
-gz, _z) are checked to stay refused; lab configuration names, lab maps and real
tqdm/logging output must be published byte-identical.

All files are vetted ONCE through the CLI (batch.yaml's allow_types, scanners off,
per-file promotion). A hit is a strict xfail (HOLES, FALSE_REJECTIONS) whose reason says
what got out or was refused.
"""

from __future__ import annotations

import hashlib
import time

import pytest

pytest.importorskip("tqdm")

from tests.quarantine.test_attack_independent_dcontent import _policy  # noqa: E402
from tests.quarantine.test_attack_independent_econtent import _vet  # noqa: E402
from tests.support import attack_knames_cases as cases  # noqa: E402

# Closed in session 36: the cursor-up climbs and UTF-16 escape bytes (textesc) and every
# name once published (kpathsea's try_std_extension_first twins, the
# names Debian's TeX packages install, LaTeX's auxiliary files, tex4ht, arara, uv, pytest,
# tox, the 8.3 aliases of the patterns, gunzip's names of them) is refused (name-config).
HOLES: dict[str, str] = {}
HOLES_BY_DESIGN: dict[str, str] = {
    "main.out": "published by design: hyperref reads \\jobname.out back (bookmarks), but a batch "
    "job's stdout file is NAME.out (Slurm's slurm-%j.out, `> run.out`): refusing .out refuses "
    "every job's log (docs/quarantine.md, name-config)",
}
_BY_DESIGN = "refused (name-config) by design: "
FALSE_REJECTIONS: dict[str, str] = {
    "geometry.cfg": _BY_DESIGN + "a detector's geometry configuration, the name LaTeX's "
    "geometry package loads",
    "train-colour.err": "refused (text: U+001B) by design: tqdm's own colour='green' writes SGR "
    "colour escapes into the job's stderr file",
    **dict.fromkeys(("train-3levels.err", "train-long.err"), "refused (text: ESC [ A ... is its "
    "line's second cursor-up) by design since session 37 (per line since 39): three nested tqdm "
    "bars write lines that climb 2 rows each; `grep` of them climbs without bound (attack l "
    "text's grep-climb); 2 nested bars pass"),
}

_TQDM = ("train-colour.err", "train-3levels.err", "train-ascii.err", "train-long.err", "train-logging.err")
HOSTILE = cases.name_hostile() | cases.cursor_hostile() | cases.utf16_hostile() | cases.name_refused()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-knames")
    made = base / "made"
    made.mkdir()
    start = time.monotonic()
    controls = cases.name_controls() | cases.text_controls(made)
    vetted = _vet(base, "names", HOSTILE | controls, _policy())
    return {**vetted, "controls": controls, "seconds": time.monotonic() - start}


def _case(name: str, table: dict[str, str]):
    if name in table:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=table[name]))
    return name


def test_tables_name_real_cases(run):
    controls = run["controls"]
    assert set(HOLES) | set(HOLES_BY_DESIGN) <= set(HOSTILE)
    assert set(FALSE_REJECTIONS) <= set(controls)
    assert not set(HOSTILE) & set(controls)


def test_tqdm_controls_hold_cursor_up_and_no_other_escape(run):
    """What the controls rest on: real nested bars write ESC [ A, and only it."""
    for name in _TQDM[1:]:
        data = run["controls"][name]
        assert b"\x1b[A" in data, name
        assert data.count(b"\x1b") == data.count(b"\x1b[A"), name


@pytest.mark.parametrize(
    "name", [_case(n, FALSE_REJECTIONS) for n in sorted({*cases.name_controls(), *_TQDM})]
)
def test_lab_file_is_published_byte_identical(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    published = (run["out"] / name).read_bytes()
    assert published == run["controls"][name]
    assert entry["sha256"] == hashlib.sha256(published).hexdigest()


@pytest.mark.parametrize("name", [_case(n, HOLES | HOLES_BY_DESIGN) for n in sorted(HOSTILE)])
def test_hostile_file_is_not_published(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] != "accepted", entry
    assert entry["reasons"], entry
    assert not (run["out"] / name).exists()


def test_the_vet_exits_as_a_partly_refused_job_and_takes_under_fifteen_seconds(run):
    assert run["rc"] in (0, 1), run["rc"]
    assert run["seconds"] < 15, run["seconds"]
