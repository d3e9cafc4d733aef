"""Independent black-box attack l on `vmguard vet`'s session-36 text and name claims
(issue #13): tqdm's `ESC [ A` bounded to the file's own lines and 8 rows above the lowest
row reached, UTF-16 bytes as a terminal takes them, and the names tools load from `.`.

New classes tried: a reader that shows non-adjacent lines (grep, zgrep, sort, diff) or
squeezes empty ones (`cat -s`) joins cursor-ups the file separated by the LFs it drops;
UTF-16 bytes that are C0 controls (ENQ, SO) rather than ESC or a C2 xx pair; LaTeX files
read back by the document's name beyond the listed extensions (and main.out.tex, the
twin of the .out published by design), caches read by name (minted, pythontex, svg);
configuration read from `.` beside the refused pytest.ini, uv.toml, tex4ht.env
(pylintrc, pytest.toml, tox.toml, luaotfload.conf, CTestCustom.cmake, snakemake's
profiles/default, bunfig.toml, deno.jsonc, make4ht's main.mk4, Asymptote's plain.asy,
_quarto.yml) and CVS's working-copy metadata (CVS/ is no dot name). Claimed refusals
are checked to hold (VT/FF not taken for rows, a counted cursor-up and a UTF-16 C2 9B
split across the 1 MiB chunk, Kelvin-sign and long-s case-folds and an 8.3 alias of
data names, language.dat.lua, dvips' .pro headers). Controls published byte-identical:
real tqdm (8 and 12 workers' positioned bars), a rich table, pdflatex's log lines, a
Windows UTF-16 file, lab names (samples.tex, ConTeXt's standalone document of that name,
published; poster.tex refused by design: poster-mac's poster.sty inputs it).

All files are vetted ONCE through the CLI (batch.yaml's allow_types, scanners off,
per-file promotion). A hit is a strict xfail (HOLES, FALSE_REJECTIONS) whose reason says
what got out or was refused.
"""

from __future__ import annotations

import hashlib
import subprocess
import time

import pytest

pytest.importorskip("tqdm")

from tests.quarantine.test_attack_independent_dcontent import _policy  # noqa: E402
from tests.quarantine.test_attack_independent_econtent import _vet  # noqa: E402
from tests.quarantine.test_attack_independent_hnames import _entry  # noqa: E402
from tests.support import attack_ltext_cases as cases  # noqa: E402

_TEX = (
    "published (name-config misses it): pdflatex main.tex in the paper's directory holding it "
    "runs it as the document's TeX code (\\openout writes a latexmkrc there): "
)
_AUX = {
    "main.brf": "backref (hyperref's backref=page) inputs \\jobname.brf",
    "main.nls": "nomencl's \\printnomenclature inputs \\jobname.nls",
    "main.glstex": "glossaries-extra's \\GlsXtrLoadResources inputs bib2gls' \\jobname.glstex",
    "main.glsdefs": "glossaries inputs \\jobname.glsdefs at \\begin{document}",
    "main.mtc1": "minitoc's \\minitoc inputs \\jobname.mtc1",
    "main.ptc1": "minitoc's \\parttoc inputs \\jobname.ptc1",
    "main.sagetex.sout": "sagetex inputs \\jobname.sagetex.sout",
    "main.xref": "tex4ht (htlatex, make4ht) inputs \\jobname.xref",
    "main.4tc": "tex4ht inputs \\jobname.4tc",
    "main.cb2": "changebar inputs \\jobname.cb2",
    "main-figure0.dpth": "TikZ's external library inputs \\jobname-figure0.dpth",
    "main.out.tex": "hyperref inputs \\jobname.out, kpathsea tries main.out.tex first "
    "(the .tex twin of the .out published by design; the other aux names' twins are refused)",
    "main.loe": "thmtools' \\listoftheorems inputs \\jobname.loe",
    "main.lox": "fixme's \\listoffixmes inputs \\jobname.lox",
    "main.ptc": "titletoc's \\printcontents inputs \\jobname.ptc",
    "main.xsim": "xsim inputs \\jobname.xsim at \\begin{document}",
    "svg-inkscape/plot_svg-tex.pdf_tex": "the svg package's \\includesvg{plot} inputs its cached "
    "TeX part by the figure's name",
    "_minted-main/default.pygstyle": "minted 2 inputs its cache's default.pygstyle by name",
    "pythontex-files-main/main.pytxmcr": "pythontex inputs its macros file by the document's name",
}
_CONFIG = "published (name-config misses it, a sibling of the refused pytest.ini, tox.ini, nextflow.config): "
_TOOLS = {
    "pylintrc": "pylint reads ./pylintrc; its init-hook is Python that pylint runs",
    "pylintrc.toml": "pylint reads ./pylintrc.toml; its init-hook is Python that pylint runs",
    "pytest.toml": "pytest 9 reads ./pytest.toml (configfile: pytest.toml, checked with "
    "pytest 9.2): addopts --basetemp=.. empties the parent directory",
    "tox.toml": "tox 4.21+ reads ./tox.toml: its commands run in every tox run",
    "luaotfload.conf": "luaotfload (every lualatex run with fontspec) reads ./luaotfload.conf "
    "first: its fontloader names the Lua file it loads",
    "luaotfloadrc": "luaotfload reads ./luaotfloadrc as luaotfload.conf",
    "CTestCustom.cmake": "ctest runs the build directory's CTestCustom.cmake (CMake script, "
    "execute_process) on every run",
    "profiles/default/config.yaml": "snakemake 8 uses the workflow directory's profiles/default "
    "unasked: its keys are options, the cluster submit command among them",
    "CVS/Root": "CVS's working-copy metadata (batch.yaml's own CVS server): cvs update/commit "
    "there talks to the server CVS/Root names (:ext: an attacker's host), whose responses "
    "write the working copy; CVS/ is no dot name",
    "CVS/Repository": "CVS's working-copy metadata, with CVS/Root",
    "CVS/Entries": "CVS's working-copy metadata, with CVS/Root",
    "main.mk4": "make4ht main.tex runs the Lua build file main.mk4 of its directory unasked",
    "plain.asy": "Asymptote searches . first and imports plain.asy on every asy run (LaTeX's "
    "asymptote package runs asy on the paper's figures)",
    "feynman.asy": "Asymptote's import feynman (Feynman diagrams) loads ./feynman.asy first",
    "_quarto.yml": "quarto render in its directory renders it as a project, running its pre-render scripts",
    "bunfig.toml": "bun reads ./bunfig.toml on every run: [install] registry sends bun install "
    "to another registry, as uv.toml's index-url (refused) sends uv's",
    "deno.jsonc": "deno reads ./deno.jsonc on every deno run: its import map fetches a URL "
    "prefix's modules from another host (deno.json is refused, as JSON, by name-type only)",
}
# Closed in session 37 (text.py; per line since session 39: a line holds at most one
# cursor-up, so a view of lines climbs at most 1; grep-climb, squeeze-climb,
# grep-climb.err.gz refused); UTF-16 bytes ENQ, SO and SI are refused as ESC
# is (utf16-enq, utf16-so refused).
# Fixed (names2): _AUX by the job's name (texjobs.py), the caches and _TOOLS by name
# (dirconfig.py), snakemake's profiles/default as a directory within one.
FIXED = {
    **{name: _TEX + why for name, why in _AUX.items()},
    **{name: _CONFIG + why for name, why in _TOOLS.items()},
}
HOLES: dict[str, str] = {}
_LINES = ("refused (text: ESC [ A ... is its line's second cursor-up) by design since "
          "session 37 (per line since session 39): real tqdm, one bar a worker "
          "(position=0..{n}): its lines climb up to {n} rows each, so `grep` of it climbs "
          "without bound (attack l text's grep-climb): tqdm's positioned bars in a file are "
          "refused, 2 nested bars pass")
FALSE_REJECTIONS: dict[str, str] = {
    "workers-12.err": _LINES.format(n=11),
    "workers-8.err": _LINES.format(n=7),
}

HOSTILE = cases.name_hostile() | cases.name_refused() | cases.text_hostile()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-ltext")
    made = base / "made"
    made.mkdir()
    start = time.monotonic()
    controls = cases.name_controls() | cases.text_controls(made)
    vetted = _vet(base, "ltext", HOSTILE | controls, _policy())
    return {**vetted, "controls": controls, "seconds": time.monotonic() - start, "base": base}


def _case(name: str, table: dict[str, str]):
    if name in table:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=table[name]))
    return name


def test_tables_name_real_cases(run):
    assert set(HOLES) <= set(HOSTILE)
    assert set(FALSE_REJECTIONS) <= set(run["controls"])
    assert set(cases.TEXT_CONTROLS) | set(cases.name_controls()) == set(run["controls"])
    assert not set(HOSTILE) & set(run["controls"])


def test_grep_of_the_file_climbs_past_the_bound(tmp_path):
    """What the grep case rests on: the file alone never rises past its first line nor
    more than 8 rows above its lowest, real grep's slice of it rises 43 rows."""
    data = cases.grep_climb()
    assert cases.climb_of(data) == 0
    (tmp_path / "job.err").write_bytes(data)
    shown = subprocess.run(
        ["grep", "-a", "FORGED", str(tmp_path / "job.err")], capture_output=True, check=True
    )
    assert cases.climb_of(shown.stdout) == 43


def test_cat_s_of_the_file_climbs_past_the_bound(tmp_path):
    data = cases.squeeze_climb()
    assert cases.climb_of(data) == 0
    (tmp_path / "job.err").write_bytes(data)
    shown = subprocess.run(["cat", "-s", str(tmp_path / "job.err")], capture_output=True, check=True)
    assert cases.climb_of(shown.stdout) == 37


def test_utf16_cases_are_letters_whose_bytes_are_c0_controls():
    for name, control in (("utf16-enq.txt", 0x05), ("utf16-so.txt", 0x0E)):
        data = cases.text_hostile()[name]
        text = data.decode("utf-16")
        assert all(ch.isalpha() for ch in text.strip("\ufeff\r\n")), name
        assert control in data and 0x1B not in data and b"\xc2" not in data, name


def test_tqdm_workers_write_only_cursor_ups(run):
    for name in ("workers-8.err", "workers-12.err"):
        data = run["controls"][name]
        assert data.count(b"\x1b") == data.count(b"\x1b[A") > 0, name


@pytest.mark.parametrize(
    "name", [_case(n, FALSE_REJECTIONS) for n in sorted({*cases.name_controls(), *cases.TEXT_CONTROLS})]
)
def test_lab_file_is_published_byte_identical(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    published = (run["out"] / name).read_bytes()
    assert published == run["controls"][name]
    assert entry["sha256"] == hashlib.sha256(published).hexdigest()


@pytest.mark.parametrize("name", [_case(n, HOLES) for n in sorted(HOSTILE)])
def test_hostile_file_is_not_published(run, name):
    entry = _entry(run, name)  # CVS/Root: the CVS directory's
    assert entry["verdict"] != "accepted", entry
    assert entry["reasons"], entry
    assert not (run["out"] / name).exists()


@pytest.mark.parametrize("name", sorted(FIXED))
def test_name_read_from_dot_is_refused_as_configuration(run, name):
    """What FIXED names is refused for what a tool reads by name, saying why."""
    entry = _entry(run, name)
    assert entry["verdict"] == "rejected" and "name-config" in entry["reasons"], entry
    assert entry["detail"], entry


def test_the_vet_exits_as_a_partly_refused_job_and_takes_under_fifteen_seconds(run):
    assert run["rc"] in (0, 1), run["rc"]
    assert run["seconds"] < 15, run["seconds"]
