"""name-config's TeX names as data (vmguard/quarantine/texdist.py): every name Debian's TeX
packages install where kpathsea searches `.` first, each one's NAME.tex (try_std_extension
_first), LaTeX's auxiliary files read back as TeX code, other tools' directory
configuration, and the NTFS 8.3 aliases of names and patterns alike (dirconfig.config_why).
Lab names the distribution does not have stay publishable."""

from __future__ import annotations

import gzip
import time

import pytest

from tests.quarantine.test_attack_independent_dcontent import _policy
from tests.quarantine.test_attack_independent_econtent import _vet
from vmguard.quarantine import dirconfig, texdist
from vmguard.quarantine.model import Reason
from vmguard.quarantine.names import acted_on, config_note

_TEX = b"\\immediate\\openout9=latexmkrc \\immediate\\write9{system('id');}\\endinput\n"

REFUSED = {
    # names Debian's TeX packages install (texlive-pictures, -latex-recommended, -publishers,
    # -science, -metapost, -base's maps and encodings, lmodern), in any case
    "tikz.code.tex": "so tikz.code.tex would replace the distribution's tikz.code.tex",
    "pgfutil-common.tex": "would replace the distribution's pgfutil-common.tex",
    "XKeyVal.tex": "would replace the distribution's XKeyVal.tex",
    "translator-basic-dictionary-English.dict": "would replace",
    "aps4-2.rtx": "would replace",
    "siunitx-abbreviations.cfg": "would replace",
    "plain.mp": "would replace",
    "lm-ec.enc": "would replace",
    "plain.bst": "would replace",
    "latex.ist": "would replace",
    # loaded when present, installed by none (dirconfig._TEX), and updmap's maps
    "psfonts.map": "load psfonts.map by that name",
    "hologo.cfg": "load hologo.cfg by that name",
    "pgfplotslibraryfillbetween.code.tex": "by that name",
    # NAME.tex is read before NAME
    "graphics.cfg.tex": "try_std_extension_first",
    "mt-cmr.cfg.tex": "try_std_extension_first",
    "seminar.con.tex": "try_std_extension_first",
    "thesis.aux.tex": "try_std_extension_first",
    # \jobname.EXT read back as TeX code
    "main.aux": "reads \\jobname.aux back",
    "thesis.toc": "reads \\jobname.toc back",
    "paper.bbl": "reads \\jobname.bbl back",
    "talk.nav": "reads \\jobname.nav back",
    "talk.vrb": "reads \\jobname.vrb back",
    "main.ind": "reads \\jobname.ind back",
    # 8.3 aliases of patterns and of names
    "TIKZLI~1.TEX": "NTFS 8.3 alias",
    "PGFLIB~2.TEX": "NTFS 8.3 alias",
    "PGFPLO~1.TEX": "NTFS 8.3 alias",
    "MT-CMR~1.TEX": "NTFS 8.3 alias",  # of mt-cmr.cfg.tex
    "GRAPHI~1.TEX": "NTFS 8.3 alias",
    "UNICOD~1.TEX": "NTFS 8.3 alias",
    "ANALYS~1.AUX": "reads \\jobname.aux back",  # an .aux, by any name
}
TOOLS = ("tex4ht.env", "araraconfig.yaml", "arararc.yaml", "uv.toml", "pyproject.toml", "pytest.ini", "tox.ini")
PUBLISHED = (
    ("results_table.tex", "notes.tex", "paper.tex", "main.tex", "thesis.tex", "fig_mass.tex", "defs.tex")
    # hyperref's \jobname.out is also a batch job's stdout file (by design); biber's .bcf is
    # XML read when named; a log, the index input makeindex reads when named
    + ("slurm-4242.out", "main.out", "run.out", "main.bcf", "main.log", "main.idx", "main.blg")
    + ("references.bib", "run.cfg", "channel.map", "job.ini", "README", "Makefile", "data.csv")
    + ("RESULT~1.TEX", "NOTES~1.TXT", "protein.ent")
)


def test_the_data_names_its_source_and_holds_names_only():
    text = gzip.decompress(texdist.NAMES.read_bytes()).decode()
    head, *names = text.splitlines()
    assert texdist.URL in head and "2026-12-05" in head, head
    assert names == sorted(set(names)) and all(n == n.lower() and "/" not in n for n in names)
    assert len(names) > 30000 and texdist.NAMES.stat().st_size < 200_000
    assert not {"readme", "makefile", "sample.bib"} & set(names)


def test_extract_keeps_what_kpathsea_searches_from_contents_lines():
    root = "usr/share/texlive/texmf-dist"
    lines = [
        f"{root}/tex/latex/pgf/frontendlayer/tikz.code.tex    tex/texlive-pictures\n",
        f"{root}/fonts/map/dvips/lm/lm.map   tex/lmodern,tex/texlive-fonts-recommended\n",
        f"{root}/tex/latex/mwe/example-image.pdf    tex/texlive-latex-extra\n",
        f"{root}/tex/latex/foo/README    tex/texlive-latex-extra\n",
        f"{root}/doc/latex/foo/foo.sty    tex/texlive-latex-extra-doc\n",
        f"{root}/bibtex/bib/base/xampl.bib    tex/texlive-base\n",
        "usr/share/texmf/tex/latex/lm/lmodern.STY    tex/lmodern\n",
        "usr/share/doc/foo/foo.tex    doc/foo\n",
    ]
    assert texdist.extract(lines) == ["lm.map", "lmodern.sty", "tikz.code.tex"]


def test_the_names_are_read_once_and_a_lookup_is_fast():
    assert texdist.distribution_names() is texdist.distribution_names()
    assert isinstance(texdist.distribution_names(), frozenset)
    start = time.perf_counter()
    for _ in range(10000):
        dirconfig.config_why("results_table.tex")
        dirconfig.config_why("tikz.code.tex")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_tex_name_is_refused_with_why(name):
    assert acted_on(name) == [Reason.NAME_CONFIG]
    assert REFUSED[name] in config_note(name), config_note(name)


@pytest.mark.parametrize("name", TOOLS)
def test_a_tool_configuration_name_is_refused(name):
    assert acted_on(name) == [Reason.NAME_CONFIG]
    assert acted_on(name.upper() + ".") == [Reason.NAME_CONFIG]


@pytest.mark.parametrize("name", PUBLISHED)
def test_a_lab_name_the_distribution_lacks_is_not_config(name):
    assert not dirconfig.loaded_by_name(name), dirconfig.config_why(name)


def test_vet_refuses_them_with_the_tex_reason_and_publishes_lab_tex(tmp_path):
    files = dict.fromkeys(("tikz.code.tex", "main.aux", "graphics.cfg.tex", "notes.tex", "run.out"), _TEX)
    files["pgfcore.code.tex.gz"] = gzip.compress(_TEX, mtime=0)
    run = _vet(tmp_path, "tex", files, _policy())
    entries = run["entries"]
    for name in ("tikz.code.tex", "main.aux", "graphics.cfg.tex", "pgfcore.code.tex.gz"):
        assert entries[name]["verdict"] != "accepted" and "name-config" in entries[name]["reasons"]
        assert not (run["out"] / name).exists()
    assert "so tikz.code.tex would replace the distribution's tikz.code.tex" in entries["tikz.code.tex"]["detail"]
    assert "gunzip makes it pgfcore.code.tex: TeX searches" in entries["pgfcore.code.tex.gz"]["detail"]
    for name in ("notes.tex", "run.out"):
        assert entries[name]["verdict"] == "accepted", entries[name]
        assert (run["out"] / name).read_bytes() == _TEX
