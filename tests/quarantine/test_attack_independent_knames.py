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

_TEX_RUNS = "; pdflatex beside the job's output runs it as TeX code (\\openout writes a latexmkrc)"
HOLES: dict[str, str] = {
    **{
        n: f"published: kpathsea (try_std_extension_first = t) reads ./{n} before the system's "
        f"{n[:-4]} (the name-config file refused by its own name){_TEX_RUNS}"
        for n in cases.STD_EXTENSION_FIRST
    },  # fmt: skip
    **{
        n: f"published: PGF/TikZ input {n} by its whole name from `.` first on every "
        f"\\usepackage{{tikz}} or pgfplots use; the session-36 pattern covers only "
        f"tikzlibrary*/pgflibrary*{_TEX_RUNS}"
        for n in cases.PGF_CORE
    },  # fmt: skip
    **{
        n: f"published: revtex4-2.cls (APS's class) inputs {n} by name, kpathsea finds it in "
        f"`.` first{_TEX_RUNS}"
        for n in cases.REVTEX
    },  # fmt: skip
    **{
        n: f"published: {n} is a font map kpathsea reads from `.` first (TEXFONTMAPS), a sibling "
        "of the refused pdftex.map; dvips/dvipdfmx read it on every run"
        for n in cases.FONT_MAPS
    },
    **{
        n: f"published: `pdflatex main.tex` (Overleaf's default name) reads {n} back as TeX "
        f"code by the document's name{_TEX_RUNS}"
        for n in cases.AUX
    },  # fmt: skip
    **{
        n: f"published: {n} is loaded by its whole name by a package of the claimed scope "
        f"(texlive-latex-recommended: xkeyval, unicode-math, beamer's translator); kpathsea "
        f"finds it in `.` first{_TEX_RUNS}"
        for n in cases.IN_SCOPE_TEX
    },
    **{
        n: f"published: {n} is loaded by its whole name from `.` first (siunitx; MetaPost's "
        "MPINPUTS, on every mpost run and for feynmp), code run as the package's own"
        for n in cases.OTHER_TEX
    },
    "lm-ec.enc": "published: pdftex reads Latin Modern's T1 encoding lm-ec.enc from `.` first "
    "(ENCFONTS); renamed glyphs change every digit the paper prints",
    "tex4ht.env": "published: tex4ht/t4ht read tex4ht.env from the work directory; its `s` "
    "lines are commands t4ht runs (htlatex, make4ht)",
    "araraconfig.yaml": "published: arara reads araraconfig.yaml from the working directory "
    "first; `paths: ['./']` makes a published rule the one `arara paper.tex` runs",
    "arararc.yaml": "published: arara reads arararc.yaml from the working directory (same)",
    "pyproject.toml": "published: pytest's [tool.pytest.ini_options] and uv's [tool.uv] are "
    "read from the directory they run in (addopts --basetemp=.., index-url)",
    "setup.cfg": "published: pytest reads setup.cfg's [tool:pytest] of the directory it runs in",
    "win/TIKZLI~1.TEX": "published: the NTFS 8.3 alias of tikzlibrary*.code.tex (the session-36 "
    "pattern); babel-*.ini's BABEL-~1.INI is refused: names.short_names misses the new pattern",
    "win/PGFLIB~1.TEX": "published: the NTFS 8.3 alias of pgflibrary*.code.tex (same)",
    "uv.toml": "published: uv reads uv.toml from the current directory (and parents); its "
    "index-url sends `uv run`'s installs to another index",
    "pytest.ini": "published: pytest reads pytest.ini of the directory it runs in; addopts "
    "--basetemp=.. empties the parent directory, --doctest-glob=*.txt runs every text file's "
    ">>> lines",
    "tox.ini": "published: pytest reads tox.ini's [pytest] as pytest.ini (same addopts)",
    "tikz.code.tex.gz": "published: gunzip makes tikz.code.tex (gunzip's names are claimed "
    "judged, as init_vis.mac.gz)",
    "graphics.cfg.tex.gz": "published: gunzip makes graphics.cfg.tex, read before graphics.cfg",
    "up-first.err": "published: ESC [ A before the file's first line moves the cursor above "
    "the file's output: `cat` overwrites the lines the terminal showed before it (a "
    "`sha256sum -c` FAILED, vet's summary) with a forged one; CR reaches only its own line",
    "up-past-start.err": "published: 9 ESC [ A after 1 line climb 8 lines above the file's "
    "output and overwrite them (more cursor-ups than the lines the file wrote)",
    "up-in-field.csv": "published: a CSV field holding 6 ESC [ A after 1 line: `cat` of the "
    "table overwrites the 5 lines the terminal showed above it",
    "up-after-cr.err": "published: CR then ESC [ A at the file's start: the same climb",
    "utf16-conceal.txt": "published: UTF-16LE text U+5B1B U+6D38 is the bytes ESC [ 8 m; `cat` "
    "hands them to the terminal, which conceals all later output (SGR conceal, refused as "
    "characters)",
    "utf16-up99.txt": "published: UTF-16LE text whose bytes are ESC [ 9 9 A: a counted cursor "
    "move of 99 lines on `cat`, refused as characters",
    "utf16-clipboard.txt": "published: UTF-16LE text whose bytes are ESC ] 52 ; ; <base64> ESC \\ "
    "(every pair a printable CJK character): `cat` sets the reader's clipboard to a command",
}
_BY_DESIGN = "refused (name-config) by design: "
FALSE_REJECTIONS: dict[str, str] = {
    "geometry.cfg": _BY_DESIGN + "a detector's geometry configuration, the name LaTeX's "
    "geometry package loads",
    "train-colour.err": "refused (text: U+001B) by design: tqdm's own colour='green' writes SGR "
    "colour escapes into the job's stderr file",
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
    assert set(HOLES) <= set(HOSTILE)
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


@pytest.mark.parametrize("name", [_case(n, HOLES) for n in sorted(HOSTILE)])
def test_hostile_file_is_not_published(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] != "accepted", entry
    assert entry["reasons"], entry
    assert not (run["out"] / name).exists()


def test_the_vet_exits_as_a_partly_refused_job_and_takes_under_fifteen_seconds(run):
    assert run["rc"] in (0, 1), run["rc"]
    assert run["seconds"] < 15, run["seconds"]
