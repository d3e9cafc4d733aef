"""The files a LaTeX job reads back by its own name (\\jobname): a directory holding a
job's source or what only a TeX run writes names the job, and every sibling named after
it, NAME.* or NAME-*, is refused but for what a reader takes as the job's output
(name-config).

LaTeX packages read `\\jobname.EXT` back as TeX code, each with an extension of its own,
and more are written every year: the kernel's .aux .toc .lof, backref's .brf, nomencl's
.nls, bib2gls' .glstex, glossaries' .glsdefs, minitoc's .mtc1 and .ptc1, sagetex's
.sagetex.sout, tex4ht's .xref and .4tc, changebar's .cb2, thmtools' .loe, fixme's .lox,
titletoc's .ptc, xsim's .xsim, make4ht's Lua build file .mk4, and by `\\jobname-`: the
TikZ external library's `NAME-figure0.dpth`, gnuplottex's `NAME-gnuplottex-fig1.tex`,
the asymptote package's inline figures `NAME-1.tex` (asy writes them from NAME-1.asy). A
list cannot hold them all, so once the job is known its name is the class. The job is
known by names alone (the walk's and an archive's question is one directory's names):
NAME.tex (the source `pdflatex NAME.tex` runs; also a chapter \\input by another, whose
siblings are then refused too) or another source a TeX run starts on (SOURCES), or a
name only a TeX engine or latexmk writes for a job (NAME.aux, NAME.fls, NAME.fdb_latexmk,
NAME.synctex.gz, NAME.dvi, NAME.xdv, NAME.bcf, NAME.run.xml, NAME.toc): not NAME.log nor
NAME.out, which every batch job's stdout may be. Without one of these the job is unknown and
dirconfig's list of \\jobname extensions (.aux .toc .bbl ...) is what is refused.
"""

from __future__ import annotations

from collections.abc import Mapping

# The names that say a directory holds the job NAME: its source, or a file only a TeX
# run writes (the engine: .aux, -recorder's .fls, SyncTeX's .synctex.gz; latexmk's
# database .fdb_latexmk; session 38, attack n names: the DVI of `latex NAME.tex`,
# `xelatex -no-pdf`'s and latexmk -xelatex's .xdv, biblatex's .bcf and its request file
# .run.xml, the kernel's .toc). Not NAME.log, whose pdfTeX banner would say so: a batch
# job's stdout may be NAME.log, and the walk judges names, not bytes.
# Sources: a TeX engine run on NAME.EXT is job NAME whatever EXT, so every file a run is
# started on names it (session 39, attack o text): .latex and .ltx, a package's documented
# source .dtx, knitr's .Rnw and .Rtex and Sweave's .Snw (which make NAME.tex), Texinfo's
# .texi .texinfo .txi (texi2pdf runs TeX as job NAME, whose @printindex inputs NAME.cps
# ...).
_SOURCES = (".tex", ".latex", ".ltx", ".dtx", ".rnw", ".rtex", ".snw", ".texi", ".texinfo", ".txi")
# Session 39, attack p text: more tools that write NAME.tex from NAME.EXT and run LaTeX on
# it: Pweave (.Pnw .texw .pmd), noweb (.nw), lilypond-book (.lytex), Stex, R Markdown
# (.Rmd), Quarto (.qmd), Org mode (.org), Weave.jl (.jmd).
_SOURCES += (".pnw", ".texw", ".pmd", ".nw", ".lytex", ".stex", ".rmd", ".qmd", ".org", ".jmd")
# Session 40 (names3): ConTeXt's sources, the suffixes its resolver takes for TeX files
# that a run starts on (data-sch's tex suffixes: MkII, MkIV, MkVI, LMTX's .mkxl .mklx, and
# a Lua document .cld): `context NAME.mkiv` is job NAME, and loads NAME.tuc with dofile
# (Lua) on every pass, so NAME.tuc (and every ConTeXt work file NAME.*) is refused beside.
_SOURCES += (".mkii", ".mkiv", ".mkvi", ".mkxl", ".mklx", ".cld")
# Session 40 (escnames; attack r text): ltxdoc's driver .drv (`latex NAME.drv` is job
# NAME: a .dtx's documentation driver), R Markdown's other suffix .Rmarkdown (as .Rmd), and
# a Jupyter notebook .ipynb, which `quarto render NAME.ipynb --to pdf` renders as it does a
# .qmd: NAME.tex written in `.` and LaTeX run on it as job NAME (so NAME.* beside a
# notebook, but the OUTPUT below, is refused: a notebook's NAME.csv and NAME-x.csv too, the cost;
# NAME_x.csv is published).
_SOURCES += (".drv", ".rmarkdown", ".ipynb")
# gzip(1) strips these (any case, served._GZIP_SUFFIXES' but .tgz .taz): gunzip makes
# NAME.tex of NAME.tex.gz, NAME.tex.Z, NAME.tex-gz, NAME.tex_z ..., so each names the job.
GZIP_SUFFIXES = (".gz", "-gz", ".z", "-z", "_z")
SOURCES = _SOURCES + tuple(f"{s}{z}" for s in _SOURCES for z in GZIP_SUFFIXES)
# ConTeXt's utility file (.tuc) is written only by a ConTeXt run: it names the job too.
MARKS = (".aux", ".fls", ".fdb_latexmk", ".synctex.gz", ".synctex", ".tuc")
MARKS += (".dvi", ".xdv", ".bcf", ".run.xml", ".toc")
# What a reader takes as the job's output, never read back as TeX code by the job's name:
# the PDF (DVI, XDV) a viewer or dvipdfmx reads; the engine's, BibTeX's and makeindex's logs (.log .blg
# .ilg: written, never read by TeX; latexmk greps the .log for reruns); -recorder's .fls,
# latexmk's .fdb_latexmk and SyncTeX's .synctex.gz (data a viewer or latexmk parses, no
# TeX reads them); a BibTeX database (.bib: read only where a document names it,
# \bibliography{refs} as much as \bibliography{NAME}: refusing NAME.bib would guard
# nothing); the source itself (.tex: the document the reader runs). hyperref's .out is
# read back as bookmarks but published by design (a batch job's stdout is NAME.out), as
# dirconfig's list has it. Anything else named after the job is refused: .bcf (biber
# reads NAME.bcf on `biber NAME`), .idx and .glo (makeindex turns them into the .ind and
# .gls LaTeX inputs), .mk4 (make4ht runs it), and every extension a package invents.
OUTPUT = (".pdf", ".dvi", ".xdv", ".log", ".blg", ".ilg", ".fls", ".fdb_latexmk", ".synctex.gz", ".synctex")
OUTPUT += (".bib", ".info")  # makeinfo's manual of a Texinfo job: no TeX reads it back
OUTPUT += (".md",)  # what R Markdown, Quarto and Pweave render to besides the PDF
_OWN = (*OUTPUT, *SOURCES, ".out")  # exactly NAME + one of these
# NAME-X: the outputs only. NAME-X.tex is refused: gnuplottex inputs
# \jobname-gnuplottex-fig1.tex, and kpathsea reads NAME-figure0.dpth.tex for the TikZ
# external library's NAME-figure0.dpth (try_std_extension_first).
_DASHED = OUTPUT
# Longest first: main.synctex.gz is job main's SyncTeX file, not a source of main.syn.
_SIGNS = tuple(sorted((*SOURCES, *MARKS), key=len, reverse=True))


# Each sign's last extension (every sign starts with "."): a name that ends in a sign ends
# in its last extension, so only names with one of these are asked the endswith of all
# 167 signs (2 µs a name, on every name of a vet; the set look-up costs 0.1 µs).
_LAST_EXTENSIONS = frozenset(s.rpartition(".")[2] for s in _SIGNS)


def jobs(keys: Mapping[str, str]) -> frozenset[str]:
    """The jobs a directory's names show (folded, as `keys` holds each name's)."""
    # the last extension, then one endswith of all the signs: most names end in none
    return frozenset(
        job
        for key in keys.values()
        if key.rpartition(".")[2] in _LAST_EXTENSIONS and key.endswith(_SIGNS) and (job := _job_of(key))
    )


def _job_of(key: str) -> str | None:
    sign = next((s for s in _SIGNS if key.endswith(s) and len(key) > len(s)), None)
    return key[: -len(sign)] if sign else None


def read_back(keys: Mapping[str, str]) -> dict[str, str]:
    """The names of one directory (name -> its folded key, names._client_keys) a LaTeX job
    of that directory would read back by its name -> why, for an entry's detail."""
    known = jobs(keys)
    if not known:
        return {}
    # Judged by the shortest job a name is named after: main.brf.tex names a job main.brf
    # whose own source it would be, yet kpathsea reads it for main's \jobname.brf.
    lengths = sorted({len(j) for j in known})  # few: one look-up each, not one per job
    found = {}
    for name, key in keys.items():
        job = next((key[:n] for n in lengths if key[n : n + 1] in (".", "-") and key[:n] in known), None)
        if job is not None and _named_after(key, job):
            found[name] = (
                f"named after the LaTeX job {job} of its directory ({job}.tex, or what a TeX run "
                f"writes for it): LaTeX packages read \\jobname.* and \\jobname-* back as TeX "
                f"code, each with an extension of its own; only the job's output is published "
                f"(.pdf .dvi .xdv .log .out .synctex.gz .fls .fdb_latexmk .blg .ilg .bib .info, its sources)"
            )
    return found


def _named_after(key: str, job: str) -> bool:
    """Whether a folded name is the job's NAME.* or NAME-* and none of its outputs."""
    rest = key[len(job) :]
    if rest.startswith("."):
        return rest not in _OWN
    return rest.startswith("-") and not rest.endswith(_DASHED)
