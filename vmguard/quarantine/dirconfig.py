"""The names a server, a desktop or a tool reads from the directory it runs in, by that
exact name, whatever the file holds (name-config): the table names.acted_on asks.

Compared as Windows and IIS compare: any case, trailing dots and spaces dropped, an NTFS
stream cut (names.windows_name: `web.config::$DATA` is web.config). Each name is here
because a program's own source or documentation says it reads it from the current
directory (or a directory searched before its installed files); a name a tool reads only
when told to (`Makefile`, a `.do` given as the argument, `config=run` to caption: run.cfg)
is not, nor a name read only from the home or the installed tree (TeX Live's texmf.cnf,
dvips' config.ps, dvipdfmx.cfg: kpathsea's TEXMFCNF, TEXCONFIG and DVIPDFMXINPUTS do not
hold `.`). Dot names are names.DOT's; whole extensions a tool loads are served.py's.
"""

from __future__ import annotations

# IIS: web.config maps handlers; PHP's CGI and CLI read php.ini (and php-SAPI.ini) from the
# directory; Explorer reads desktop.ini (an icon on a UNC path leaks the reader's NTLM
# hash); Node's require('x') loads node_modules/x, whose package.json names any file as the
# code to run. Dot names (.htaccess, .user.ini) are dot files already. ROOT (system.rootrc:
# Rint.Logon, Rint.Load, Rint.Logoff, macro path `.` first) runs rootlogon.C and
# rootlogoff.C and loads rootalias.C from the directory `root` starts in (`root -l
# data.root` to look at a job's file); PAW runs pawlogon.kumac. The other analysis tools
# that run a startup file from the directory they start in, by that exact name (the ones
# that load any file of an extension, IDL's .pro, Stata's .ado, are
# served_active.TOOL_LOADED's; dot names, R's .Rprofile and .RData, gdb's .gdbinit, .octaverc,
# .latexmkrc, are dot files): Geant4's examples run init_vis.mac when started without a
# macro, which runs vis.mac, and gui.mac in a Qt session (`/control/shell`); latexmk reads
# latexmkrc (Perl); Octave runs PKG_ADD (PKG_DEL) of a directory put on its path; Stata
# runs profile.do from the directory it starts in; SAS on Unix reads sasv9.cfg and
# autoexec.sas from there first (the X statement runs a command); gnuplot reads
# GNUPLOT.INI there (Windows; builds configured to read the directory).
_SERVERS_AND_TOOLS = frozenset(
    ["web.config", "php.ini", "php-cgi.ini", "php-cli.ini", "desktop.ini", "node_modules"]
    + ["rootlogon.c", "rootalias.c", "rootlogoff.c", "pawlogon.kumac"]
    + ["init_vis.mac", "vis.mac", "gui.mac", "latexmkrc", "pkg_add", "pkg_del", "profile.do"]
    + ["autoexec.sas", "sasv9.cfg", "gnuplot.ini"]
    # Nextflow evaluates nextflow.config of its launch directory (Groovy) on `nextflow run`
    + ["nextflow.config"]
    # MATLAB's startup folder: java.opts (-javaagent runs a JAR), the JVM's class and library paths
    + ["java.opts", "javaclasspath.txt", "javalibrarypath.txt"]
    # matplotlib reads $PWD/matplotlibrc before every other (matplotlib_fname, Debian's
    # python3-matplotlib 3.6.3: backend: module://x imports x, animation.ffmpeg_path runs a
    # program); biber reads biber.conf of the current directory first (Biber/Config.pm, 2.18)
    + ["matplotlibrc", "biber.conf"]
)
# TeX: kpathsea searches TEXINPUTS `$TEXMFDOTDIR;$TEXMF/tex/...`, TEXMFDOTDIR = `.`
# (texmf.cnf of Debian bookworm's texlive-base 2022.20230122-3), so `pdflatex paper.tex`
# reads these from the paper's directory before the installed ones: TeX code run with the
# document (\openout writes files there, a latexmkrc for the next latexmk run; \write18's
# restricted list). The configuration files a package or class loads by that exact name
# (\InputIfFileExists{graphics.cfg}, \input{hologo.cfg}, \openin=docstrip.cfg), every one
# the TeX sources of texlive-base, -latex-base and -latex-recommended 2022.20230122-3 name
# (format-time ones too: fmtutil runs where it is told). pdftex reads pdftex.map by
# TEXFONTMAPS (`.` first) on every run: which font file embeds each font.
_TEX = frozenset(
    (
        "amsart.cfg", "amsbook.cfg", "amsproc.cfg", "attachfile.cfg", "bblopts.cfg", "bookmark.cfg",
        "color.cfg", "crop.cfg", "docstrip.cfg", "epstopdf-sys.cfg", "epstopdf.cfg", "fancyvrb.cfg",
        "fontmath.cfg", "fontsmpl.cfg", "fontspec.cfg", "fonttext.cfg", "geometry.cfg",
        "gettitlestring.cfg", "graphics.cfg", "hologo.cfg", "hyperref.cfg", "hyphen.cfg", "l3doc.cfg",
        "latex209.cfg", "listings.cfg", "lstlocal.cfg", "ltnews.cfg", "ltxdoc.cfg", "ltxguide.cfg",
        "microtype.cfg", "natbib.cfg", "pdfcrypt.cfg", "pdfpages.cfg", "preload.cfg", "rerunfilecheck.cfg",
        "resizegather.cfg", "scrdate.cfg", "sfonts.cfg", "texsys.cfg", "textcomp.cfg", "thumbpdf.cfg",
        "typearea.cfg", "seminar.con", "csplain.ini", "luatex.ini", "lualatex.ini", "pdftex.map",
    )  # fmt: skip
)
CONFIG_NAMES = _SERVERS_AND_TOOLS | _TEX
# Families of names TeX loads by a pattern, lower case (prefix, suffix): microtype loads
# mt-FAMILY.cfg for each font family a document uses (mt-cmr.cfg), babel its locales'
# babel-LOCALE.ini and babel-LANGUAGE.tex (babel.sty: \IfFileExists{babel-\bbl@tempa.ini}),
# TikZ and PGF a library by its whole name (\usetikzlibrary{calc} reads
# tikzlibrarycalc.code.tex).
CONFIG_PATTERNS = (
    ("mt-", ".cfg"),
    ("babel-", ".ini"),
    ("babel-", ".tex"),
    ("tikzlibrary", ".code.tex"),
    ("pgflibrary", ".code.tex"),
)


def loaded_by_name(name: str) -> bool:
    """Whether a server or tool reads a file of this name (one client's form of it) from
    the directory it runs in: CONFIG_NAMES, or one of CONFIG_PATTERNS."""
    low = name.lower()
    return low in CONFIG_NAMES or any(low.startswith(p) and low.endswith(s) for p, s in CONFIG_PATTERNS)
