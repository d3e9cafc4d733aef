"""What a LaTeX job reads back by its name (texjobs.py), LaTeX's caches, and the
configuration tools read from `.` or a directory of a name (dirconfig.py): one
directory's names as the walk and an archive's members see them."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import time

import pytest

from vmguard.quarantine import served, texjobs
from vmguard.quarantine.model import Reason
from vmguard.quarantine.names import acted_on, archive_reasons, sibling_notes, sibling_reasons

# What latexmk -pdf -recorder -synctex=1 leaves beside main.tex with hyperref, biblatex
# and TikZ's external library, and what the job's packages read back by its name.
OUTPUT = ("main.tex", "main.pdf", "main.log", "main.out", "main.synctex.gz", "main.fls")
OUTPUT += ("main.fdb_latexmk", "main.blg", "main.bib", "main-figure0.pdf", "main-figure0.log")
READ_BACK = ("main.brf", "main.nls", "main.glstex", "main.mtc1", "main.xsim", "main.bcf", "main.mk4")
READ_BACK += ("main.out.tex", "main-figure0.dpth", "main-figure0.md5", "main-gnuplottex-fig1.tex")
READ_BACK += ("main.brf.tex",)  # kpathsea's twin of main.brf, though it names a job main.brf
LAB = ("run42.csv", "fit.png", "notes.txt", "mainframe.csv", "main_results.csv")


def _refused(names, directory: str = "") -> set[str]:
    return {n for n, reasons in sibling_reasons(names, directory).items() if Reason.NAME_CONFIG in reasons}


def test_a_job_refuses_what_it_reads_back_and_publishes_its_output():
    assert _refused([*OUTPUT, *READ_BACK, *LAB]) == set(READ_BACK)
    assert "LaTeX job main" in sibling_notes([*OUTPUT, *READ_BACK])["main.brf"]


@pytest.mark.parametrize("mark", ["main.aux", "main.fls", "main.fdb_latexmk", "main.synctex.gz"])
def test_what_only_a_tex_run_writes_names_the_job_too(mark):
    assert _refused([mark, "main.brf", "main.pdf"]) >= {"main.brf"}


@pytest.mark.parametrize("source", ["main.latex", "main.ltx", "main.dtx", "main.Rnw", "main.Rtex", "main.Snw",
                                    "main.texi", "main.texinfo", "main.txi", "main.tex.gz",
                                    "main.drv", "main.Rmarkdown", "main.ipynb", "main.drv.gz"])
def test_every_file_a_tex_run_starts_on_names_the_job(source):
    """Session 39, attack o text: `pdflatex main.dtx`, knitr's main.Rnw, texi2pdf main.texi
    are all job main; its sources and outputs stay published beside each other. Session 40
    (escnames, attack r text): ltxdoc's main.drv, main.Rmarkdown, and main.ipynb, which
    `quarto render main.ipynb --to pdf` makes main.tex of and runs LaTeX on."""
    output = [source, "main.tex", "main.pdf", "main.log", "main.info", "main.synctex.gz"]
    refused = _refused([*output, "main.brf", "main.cps"])
    assert refused - {"main.ltx"} == {"main.brf", "main.cps"}  # .ltx: a kernel module's name too


def test_a_synctex_file_names_no_job_of_its_stem():
    """Longest sign first: main.synctex.gz ends in .tex.gz, yet names job main, not main.syn."""
    assert texjobs.jobs({"main.synctex.gz": "main.synctex.gz", "b.tex.gz": "b.tex.gz"}) == {"main", "b"}


def test_an_unknown_job_keeps_the_list():
    """No main.tex, nothing only TeX writes: main.log and main.out are any batch job's."""
    names = ["main.log", "main.out", "main.brf", "main-figure0.dpth"]
    assert _refused(names) == set()
    assert acted_on("main.aux") == [Reason.NAME_CONFIG]  # the \jobname list still holds


def test_a_job_is_named_as_a_client_has_the_names():
    assert _refused(["MAIN.TEX", "main.Brf", "Main-Figure0.DPTH", "main.PDF"]) == {
        "main.Brf",
        "Main-Figure0.DPTH",
    }
    assert _refused(["paper.tex", "main.brf", "paper2.brf"]) == set()  # another job's, a longer name


def test_data_named_after_the_job_is_refused_with_it():
    """The class's price, documented: yields.tex (a table) beside yields.csv names a job."""
    assert _refused(["yields.tex", "yields.csv"]) == {"yields.csv"}


def test_archive_members_are_judged_per_directory():
    paths = ["paper/main.tex", "paper/main.nls", "data/main.nls", "paper/main.pdf"]
    assert set(archive_reasons(paths, 255)) == {"paper/main.nls"}


def test_many_jobs_in_one_directory_are_judged_in_linear_time():
    names = [f"ch{i}.{ext}" for i in range(5000) for ext in ("tex", "pdf", "csv", "brf")]
    start = time.perf_counter()
    assert len(_refused(names)) == 10000
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize(
    "name",
    ["_minted-main", "_minted", "pythontex-files-main", "svg-inkscape", "CVS", "cvs", "_MINTE~1"]
    + ["pylintrc", "pylintrc.toml", "pytest.toml", "tox.toml", "CTestCustom.cmake", "CTestCustom.ctest"]
    + ["luaotfload.conf", "luaotfloadrc", "_quarto.yml", "_quarto.yaml", "_metadata.yml", "bunfig.toml"]
    + ["deno.json", "deno.jsonc", "plain.asy", "plain_Label.asy", "feynman.asy", "Graph3.asy"]
    + ["rust-toolchain.toml", "rust-toolchain", "Gemfile", "Vagrantfile", "Rakefile", "poetry.toml"]
    + ["mypy.ini", "stack.yaml", "cabal.project", "vercel.json", "now.json", "netlify.toml"]
    + ["staticwebapp.config.json", "firebase.json"],
)
def test_names_a_tool_reads_from_dot_are_refused(name):
    assert acted_on(name) == [Reason.NAME_CONFIG]


@pytest.mark.parametrize(
    "name", ["fig1.asy", "minted.txt", "_minted-", "cvs-notes.txt", "profiles", "default"]
)
def test_lab_names_beside_them_are_not(name):
    assert acted_on(name) == []


def test_snakemake_workflow_profiles_are_refused_where_snakemake_looks():
    assert _refused(["default", "beam"], "profiles") == {"default"}
    assert _refused(["config.yaml", "profile.v9+.yaml", "runs.yaml"], "default") == {
        "config.yaml",
        "profile.v9+.yaml",
    }
    assert _refused(["config.yaml", "default"], "analysis") == set()
    paths = ["wf/profiles/default/config.yaml", "wf/config.yaml"]
    assert set(archive_reasons(paths, 255)) == {"wf/profiles/default", paths[0]}  # ./default as well


def test_a_distribution_document_no_package_loads_is_published():
    """ConTeXt's samples.tex is a document of its own (dirconfig._DOCUMENTS); poster-mac's
    poster.tex is what poster.sty inputs, latex209's sample.tex and ConTeXt's knuth.tex
    what documents input by name."""
    assert acted_on("samples.tex") == acted_on("Samples.TEX") == []
    for name in ("poster.tex", "sample.tex", "knuth.tex"):
        assert acted_on(name) == [Reason.NAME_CONFIG], name


# Session 40 (names3): gunzip makes the job's source of every suffix gzip(1) strips, in
# any case, on every source extension (attack q text's main.tex.Z, main.tex-gz, main.Rnw.gz).
_GZIPPED = [f"main{s}{z}" for s in (".tex", ".Rnw", ".dtx", ".ltx", ".mkiv")
            for z in (".gz", ".GZ", "-gz", ".z", ".Z", "-z", "_z", "_Z")]


@pytest.mark.parametrize("source", _GZIPPED)
def test_a_gzipped_source_names_the_job(source):
    assert _refused([source, "main.brf", "main.pdf", "main.log", "run42.csv"]) == {"main.brf"}


def test_the_gzip_suffixes_are_gunzips(tmp_path):
    """gunzip makes main.tex of each, unasked (gzip(1) strips .gz -gz .z -z _z, any case),
    and texjobs' list is served's gzip suffixes but the tar ones (.tgz .taz)."""
    assert set(texjobs.GZIP_SUFFIXES) == {s for s, inner in served._GZIP_SUFFIXES if not inner}
    if shutil.which("gzip") is None:
        pytest.skip("gzip not installed")
    for z in (*texjobs.GZIP_SUFFIXES, ".Z", "_Z"):
        path = tmp_path / f"main.tex{z}"
        path.write_bytes(gzip.compress(b"\\documentclass{article}\n"))
        subprocess.run(["gzip", "-d", path.name], cwd=tmp_path, check=True)
        assert (tmp_path / "main.tex").read_bytes().startswith(b"\\documentclass"), z
        (tmp_path / "main.tex").unlink()


@pytest.mark.parametrize("source", ["main.mkiv", "main.mkxl", "main.mkvi", "main.mkii", "main.mklx", "main.cld",
                                    "MAIN.MKIV", "main.tuc"])
def test_a_context_job_refuses_its_tuc_and_work_files(source):
    """ConTeXt runs NAME.mkiv (.mkxl ...) as job NAME and loads NAME.tuc with dofile (Lua)
    on every pass; the .tuc alone (only a ConTeXt run writes it) names the job too."""
    siblings = ["main.tuc", "main.tua", "main-mpgraph.mp", "main.pdf", "main.log", "other.tuc.csv"]
    found = _refused([source, *siblings])
    assert found >= {"main.tuc", "main.tua", "main-mpgraph.mp"} and not found & {"main.pdf", "main.log"}
    assert "other.tuc.csv" not in found


def test_a_notebook_names_its_job_and_its_data_named_after_it_pays():
    """Session 40 (escnames): `quarto render main.ipynb --to pdf` is job main, so main.brf is
    refused beside main.ipynb, and so are main.csv and main-fit.csv (the cost, docs); a
    notebook's main_results.csv and its outputs are published."""
    files = ["main.ipynb", "main.pdf", "main.tex", "main.brf", "main.csv", "main-fit.csv", "main_results.csv"]
    assert _refused(files) == {"main.brf", "main.csv", "main-fit.csv"}
    assert _refused(["analysis.ipynb", "main.csv", "main.brf"]) == set()
