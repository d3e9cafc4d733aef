"""The names a server, a desktop or a tool reads from the directory it runs in, by that
exact name, whatever the file holds (name-config): the table names.acted_on asks.

Compared as Windows and IIS compare: any case, trailing dots and spaces dropped, an NTFS
stream cut (client_forms.windows_name: `web.config::$DATA` is web.config). Each name is here
because a program's own source or documentation says it reads it from the current
directory (or a directory searched before its installed files); a name a tool reads only
when told to (`Makefile`, a `.do` given as the argument, `config=run` to caption: run.cfg)
is not, nor a name read only from the home or the installed tree (TeX Live's texmf.cnf,
dvips' config.ps, dvipdfmx.cfg: kpathsea's TEXMFCNF, TEXCONFIG and DVIPDFMXINPUTS do not
hold `.`). Dot names are names.DOT's; whole extensions a tool loads are served.py's; build,
task and package tools' files (go.mod, package.json, *.sbt ...) are toolnames.py's table,
asked here.
TeX's are data (texdist.py: every name Debian's TeX packages install where kpathsea
searches `.` first), with kpathsea's NAME.tex of each and LaTeX's \\jobname.aux ...;
config_why answers for a name, a pattern's name and the NTFS 8.3 alias of either.
"""

from __future__ import annotations

import re
from functools import cache

from vmguard.quarantine import texdist, toolnames

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
    # tex4ht and t4ht read tex4ht.env from the work directory after -e (its `s` lines are the
    # commands t4ht runs: tex4ht's manual, "tex4ht.env"); arara reads araraconfig.yaml and
    # arararc.yaml there before the home's (arara 7 manual, "Configuration": `paths` puts
    # rules of `.` first); uv reads uv.toml and pyproject.toml's [tool.uv] from the current
    # directory and its parents (uv docs, "Configuration files": index-url); pytest its
    # ini file, pytest.ini, pyproject.toml, tox.ini or setup.cfg, of the directory it runs
    # in (pytest docs, "Configuration file formats": addopts --basetemp=.. empties the
    # parent), tox tox.ini and setup.cfg's [tox:tox] (commands it runs)
    + ["tex4ht.env", "araraconfig.yaml", "arararc.yaml", "uv.toml", "pyproject.toml"]
    + ["pytest.ini", "tox.ini", "setup.cfg"]
    # pylint reads pylintrc and pylintrc.toml of the current directory (pylint 4.1.5's
    # config/find_default_config_files.py, RC_NAMES; .pylintrc is a dot name): init-hook is
    # Python it runs; pytest 9 reads pytest.toml (9.2's _pytest/config/findpaths.py); tox
    # tox.toml (4.67's config/source/toml_tox.py: commands it runs); ctest runs the
    # build directory's CTestCustom.cmake and CTestCustom.ctest (CMake script: CMake's
    # ctest_read_custom_files, "invoking ctest(1) without a script will read custom files
    # from the binary directory"); luaotfload (every lualatex run that loads a font) reads
    # ./luaotfload{.conf,rc} before the home's (luaotfload.conf(5), SYNOPSIS: fontloader
    # names the Lua file it loads); quarto render in a directory holding _quarto.yml (.yaml) renders
    # it as a project, running its pre-render scripts, and merges each directory's
    # _metadata.yml into its documents (filters: Lua it runs; Quarto docs, "Project
    # Basics", "Directory Metadata"); bun reads ./bunfig.toml on every run (bun docs,
    # "bunfig.toml": preload, scripts it runs before any file; [install] registry), deno
    # ./deno.json and ./deno.jsonc (deno docs, "Configuration": an import map sends a URL
    # prefix to another host, tasks it runs)
    + ["pylintrc", "pylintrc.toml", "pytest.toml", "tox.toml", "ctestcustom.cmake", "ctestcustom.ctest"]
    + ["luaotfloadrc", "luaotfload.conf", "_quarto.yml", "_quarto.yaml", "_metadata.yml", "_metadata.yaml"]
    + ["bunfig.toml", "deno.json", "deno.jsonc"]
    # CVS's working-copy directory (git's .git, .svn are dot names): `cvs update` where it
    # is talks to the server CVS/Root names (:ext: runs $CVS_RSH to any host) and writes the
    # files its answers name; caches LaTeX reads back by name: minted 2's _minted-JOB/ (3's
    # _minted/) whose .pygstyle and .pygtex it \input s when present, the svg package's
    # svg-inkscape/ (\includesvg inputs FIGURE_svg-tex.pdf_tex from it unless the .svg is
    # newer), pythontex's pythontex-files-JOB/ (its .pytxmcr macros file, TeX code)
    + ["cvs", "_minted", "svg-inkscape"]
    # Session 38, attack n names. Asymptote runs ./config.asy on every run before the figure
    # (settings.cc: setPath() puts "." first, then locateFile("config.asy"); safe mode still
    # writes files in `.`); voila loads ./voila.json (voila/app.py config_file_paths starts
    # with os.getcwd(): Voila.browser is a command line webbrowser runs); Ruby's irb loads
    # irb.rc, _irbrc and $irbrc of Dir.pwd as Ruby (irb/init.rb rc_file_generators);
    # SExtractor without -c reads ./default.sex and, by its defaults, default.param,
    # default.conv and default.nnw (the catalogue's columns, the detection filter, the
    # star/galaxy network), SWarp ./default.swarp (CATALOG_NAME, IMAGEOUT_NAME: any path
    # the user may write)
    + ["config.asy", "voila.json", "irb.rc", "_irbrc", "$irbrc"]
    + ["default.sex", "default.param", "default.conv", "default.nnw", "default.swarp"]
    # static hosts' per-directory configuration (web.config's class): serve (`npx serve DIR`,
    # serve-handler) reads DIR/serve.json, Netlify and Cloudflare Pages _headers and
    # _redirects of the published directory (a header rule types every .log text/html, where
    # an admitted <img onerror> runs; a redirect or proxy rule sends readers elsewhere)
    + ["serve.json", "_headers", "_redirects"]
    # build and run tools reading these from the project's directory (and its parents) on
    # every run, unasked (CTestCustom.cmake's and uv.toml's class): MSBuild imports
    # Directory.Build.props and .targets (an <Exec> target runs a command) and reads
    # Directory.Build.rsp as command-line switches, NuGet's central package versions
    # Directory.Packages.props; NuGet reads NuGet.Config (packageSources: another host);
    # the .NET SDK global.json (msbuild-sdks: an SDK package whose targets run); docker
    # compose merges compose.override.y(a)ml and docker-compose.override.y(a)ml beside its
    # compose file (a privileged service mounting /); hatch hatch.toml
    # (pre-install-commands), pdm pdm.toml (pypi.url), pipenv Pipfile ([[source]] url);
    # ansible and ansible-playbook ./ansible.cfg before ~/.ansible.cfg (ssh_args'
    # ProxyCommand runs a command for every host reached)
    + ["directory.build.props", "directory.build.targets", "directory.build.rsp"]
    + ["directory.packages.props", "nuget.config", "global.json"]
    + ["compose.override.yaml", "compose.override.yml"]
    + ["docker-compose.override.yaml", "docker-compose.override.yml"]
    + ["hatch.toml", "pdm.toml", "pipfile", "ansible.cfg"]
    # Session 39, attack o text: rustup reads rust-toolchain.toml and rust-toolchain from
    # `.` and its parents (`path`: another toolchain's binaries run); bundler's Gemfile and
    # Vagrant's Vagrantfile, rake's Rakefile, found from `.` upward, are Ruby they run;
    # poetry reads poetry.toml (another package index), mypy mypy.ini (junit_xml: a path it
    # writes), Stack stack.yaml and cabal cabal.project (a compiler or package source
    # fetched and run); static hosts' project files, as _headers: vercel.json (its older
    # now.json), netlify.toml, Azure's staticwebapp.config.json, firebase.json (a header rule
    # types a .log text/html)
    + ["rust-toolchain.toml", "rust-toolchain", "gemfile", "vagrantfile", "rakefile"]
    + ["poetry.toml", "mypy.ini", "stack.yaml", "cabal.project"]
    + ["vercel.json", "now.json", "netlify.toml", "staticwebapp.config.json", "firebase.json"]
    # Session 39, attack p text: build and task tools that find their file in `.` (most in
    # its parents too) and run it or fetch what it names: go.work (replace: another
    # directory's code), Snakefile, justfile, Taskfile, pixi.toml, shell.nix, flake.nix,
    # default.nix, luigi.cfg (another scheduler), ruff.toml (output-file: any path),
    # settings.gradle, the Ruby files Capfile, Thorfile, Guardfile, Podfile, Berksfile,
    # Brewfile (as Gemfile), docker compose's own compose.yaml / docker-compose.yml (as its
    # overrides), SConstruct, build.sbt, GNUmakefile, MODULE.bazel, Tiltfile
    + ["go.work", "snakefile", "justfile", "taskfile.yml", "taskfile.yaml", "pixi.toml"]
    + ["shell.nix", "flake.nix", "default.nix", "luigi.cfg", "ruff.toml", "settings.gradle"]
    + ["settings.gradle.kts", "capfile", "thorfile", "guardfile", "podfile", "berksfile", "brewfile"]
    + ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"]
    + ["sconstruct", "sconscript", "build.sbt", "gnumakefile", "module.bazel", "workspace.bazel"]
    + ["tiltfile"]  # not Bazel's older WORKSPACE: a directory of that name is a lab's own
)
# The caches of the last comment named by the job (prefix): every name below them.
_CACHES = ("_minted-", "pythontex-files-")
# Asymptote searches `.` before its system directory for every module it imports and
# imports plain.asy (and so the plain_*.asy it imports) on every run: the base modules
# Debian bookworm's asymptote 2.85+ds-1 installs in /usr/share/asymptote (dpkg -c of its
# .deb: 81 names; LaTeX's asymptote package runs asy on a paper's figures).
_ASY_MODULES = (
    "CAD animate animation annotate babel bezulate binarytree bsp colormap contour contour3 drawtree "
    "embed external feynman flowchart fontsize geometry graph graph3 graph_settings graph_splinetype "
    "grid3 interpolate labelpath labelpath3 lmfit map markers math metapost obj ode palette patterns "
    "plain plain_Label plain_arcs plain_arrows plain_bounds plain_boxes plain_constants plain_debugger "
    "plain_filldraw plain_margins plain_markers plain_paths plain_pens plain_picture plain_prethree "
    "plain_scaling plain_shipout plain_strings pstoedit rational rationalSimplex roundedpath simplex "
    "size10 size11 slide slopefield smoothcontour3 solids stats syzygy texcolors three three_arrows "
    "three_light three_margins three_surface three_tube tree trembling tube v3d v3dheadertypes v3dtypes "
    "version x11colors"
)
_ASY = frozenset(f"{n}.asy" for n in _ASY_MODULES.lower().split())
# snakemake (9.27.1's cli.py, --workflow-profile) takes, when a Snakefile is found and no
# profile is given, ./default, then profiles/default of the current and of the Snakefile's
# directory as the workflow profile unasked: its profile.yaml or config.yaml (also with a
# minimum version, config.v8+.yaml) holds command-line options, the cluster submit
# command it runs for every job among them. Folded names: directory -> entries it reads.
_SNAKEMAKE = (
    "snakemake uses {0} of the directory it runs in (or of the Snakefile's) as its workflow "
    "profile unasked: its keys are command-line options, the cluster submit command it runs "
    "for every job among them"
)
# wandb.init() reads ./wandb/settings, the workspace settings `wandb init` writes
# (wandb_settings.py settings_workspace): base_url sends the run, its code and the API key
# to another host.
_WANDB = (
    "wandb.init() in the directory reads wandb/settings as its workspace settings: base_url "
    "sends the run and the API key to another host"
)
_WITHIN = {
    "profiles": (re.compile("default"), _SNAKEMAKE.format("profiles/default")),
    "default": (re.compile(r"(profile|config)(\.v\d+\+)?\.yaml"), _SNAKEMAKE.format("default/")),
    "wandb": (re.compile("settings"), _WANDB),
    **{d: (re.compile(rx), why) for d, (rx, why) in toolnames.WITHIN.items()},
}
# TeX: kpathsea searches TEXINPUTS `$TEXMFDOTDIR;$TEXMF/tex/...`, TEXMFDOTDIR = `.`
# (texmf.cnf of Debian bookworm's texlive-base 2022.20230122-3), so `pdflatex paper.tex`
# reads a name TeX loads from the paper's directory before the installed file: TeX code run
# with the document (\openout writes files there, a latexmkrc for the next latexmk run;
# \write18's restricted list). Every name Debian's TeX packages install there is
# texdist.py's data; these are the ones none installs: the configuration files a package or
# class loads by that exact name when there is one (\InputIfFileExists{hyperref.cfg},
# \input{hologo.cfg}, \openin=docstrip.cfg), every one the TeX sources of texlive-base,
# -latex-base and -latex-recommended 2022.20230122-3 name (format-time ones too: fmtutil
# runs where it is told), and the font maps updmap writes into /var/lib/texmf (updmap(1)):
# pdftex reads pdftex.map by TEXFONTMAPS (`.` first) on every run, dvips psfonts.map,
# dvipdfmx kanjix.map: which font file embeds each font.
_TEX = frozenset(
    (
        "amsart.cfg", "amsbook.cfg", "amsproc.cfg", "attachfile.cfg", "bblopts.cfg", "bookmark.cfg",
        "docstrip.cfg", "epstopdf.cfg", "fancyvrb.cfg", "fontsmpl.cfg", "geometry.cfg",
        "gettitlestring.cfg", "hologo.cfg", "hyperref.cfg", "l3doc.cfg", "latex209.cfg", "lstlocal.cfg",
        "ltnews.cfg", "ltxguide.cfg", "natbib.cfg", "pdfcrypt.cfg", "pdfpages.cfg", "rerunfilecheck.cfg",
        "resizegather.cfg", "scrdate.cfg", "sfonts.cfg", "textcomp.cfg", "thumbpdf.cfg", "typearea.cfg",
        "seminar.con", "pdftex.map", "pdftex_dl14.map", "pdftex_ndl14.map", "psfonts.map",
        "psfonts_t1.map", "psfonts_pk.map", "ps2pk.map", "download35.map", "builtin35.map", "kanjix.map",
    )  # fmt: skip
)
CONFIG_NAMES = _SERVERS_AND_TOOLS | _TEX
# Distribution names that are a document of their own, run, never loaded: a published one
# replaces nothing a package or a document reads by that name. ConTeXt's samples.tex
# (Debian bookworm's context 2021.03.05, tex/context/sample/common/; none of the 38
# texlive-* packages has one) is a \starttext document listing the sample quotes: no file
# of context's tex tree names it but as text (grep of its .deb). Not so poster-mac's
# poster.tex (poster.sty does \input{poster.tex}) nor latex209's sample.tex, nor the quotes
# knuth.tex, tufte.tex that ConTeXt documents \input.
_DOCUMENTS = frozenset(["samples.tex"])
# Families of names TeX loads by a pattern, lower case (prefix, suffix): microtype loads
# mt-FAMILY.cfg for each font family a document uses (mt-cmr.cfg), babel its locales'
# babel-LOCALE.ini and babel-LANGUAGE.tex (babel.sty: \IfFileExists{babel-\bbl@tempa.ini}),
# TikZ and PGF a library by its whole name (\usetikzlibrary{calc} reads
# tikzlibrarycalc.code.tex), pgfplots first pgfplotslibraryNAME.code.tex
# (\usepgfplotslibrary{fillbetween}).
CONFIG_PATTERNS = (
    ("mt-", ".cfg"),
    ("babel-", ".ini"),
    ("babel-", ".tex"),
    ("tikzlibrary", ".code.tex"),
    ("pgflibrary", ".code.tex"),
    ("pgfplotslibrary", ".code.tex"),
)
# What LaTeX reads back as TeX code by the document's name (\jobname.EXT, any job):
# \begin{document} inputs .aux, \tableofcontents .toc (\listoffigures .lof, \listoftables
# .lot, listings' .lol, algorithm lists' .loa), \bibliography .bbl, beamer .nav, .snm and a
# fragile frame's .vrb, \printindex .ind, glossaries .gls and .acr, ntheorem .thm, todonotes
# .tdo, endfloat .fff and .ttt: the floor, for any job (a known job's every NAME.* is
# texjobs.py's). Not refused here: hyperref's .out (a batch job's stdout file is
# NAME.out: refusing it would refuse every job's log), biblatex's .bcf (XML biber reads when
# told to), endnotes' .ent (the Protein Data Bank's file extension).
_AUX = ("aux", "toc", "lof", "lot", "lol", "loa", "bbl", "nav", "snm", "vrb")
_AUX += ("ind", "gls", "acr", "thm", "tdo", "fff", "ttt")
AUX_EXTENSIONS = frozenset(_AUX)
_AUX_PATTERNS = tuple(("", f".{ext}") for ext in sorted(AUX_EXTENSIONS))
_SUFFIXES = tuple({s for _, s in CONFIG_PATTERNS})
_TEX_REPLACES = "TeX searches the current directory first, so {0} would replace the distribution's {0}"
_TEX_LOADS = "TeX searches the current directory first, and its packages and programs load {0} by that name"
_TEX_AUX = "LaTeX reads \\jobname{0} back as TeX code, the document's own"
# kpathsea looks for NAME.tex before NAME when NAME does not end in .tex (texmf.cnf:
# try_std_extension_first = t): graphics.cfg.tex is read for graphics.cfg.
_TWIN = "; kpathsea reads NAME.tex before NAME (try_std_extension_first)"
_ALIAS = re.compile(r"([^.~]{1,6})~[1-4](?:\.([^.]{1,3}))?")


def short_parts(name: str) -> tuple[str, str, bool]:
    """What an NTFS 8.3 alias keeps of a long name, upper case: the stem's first six
    characters (leading dots, spaces and further dots dropped), the last extension's first
    three, and whether Windows makes one (not for a name that is 8.3 already)."""
    stem, dot, ext = name.lstrip(".").upper().replace(" ", "").rpartition(".")
    if not dot:
        stem, ext = ext, ""
    short = name.startswith(".") or "." in stem or len(stem) > 8 or len(ext) > 3 or " " in name
    return stem.replace(".", "")[:6], ext[:3], short


def short_names(name: str) -> frozenset[str]:
    """The NTFS 8.3 aliases Windows may give a long name, upper case (`~1` to `~4`, as
    it numbers the first four that share a stem); none for a name that is 8.3 already
    (DESKTOP.INI)."""
    stem, ext, short = short_parts(name)
    tail = f".{ext}" if ext else ""
    return frozenset(f"{stem}~{n}{tail}" for n in range(1, 5)) if short else frozenset()


def _tex_why(name: str) -> str | None:
    """Why TeX reads a file of this name from `.` in place of its own."""
    low = name.lower()
    if low in texdist.distribution_names() and low not in _DOCUMENTS:
        return _TEX_REPLACES.format(name)
    if low in _TEX or (low.endswith(_SUFFIXES) and _matches(low, CONFIG_PATTERNS)):
        return _TEX_LOADS.format(name)
    stem, dot, ext = low.rpartition(".")
    return _TEX_AUX.format(f".{ext}") if stem and ext in AUX_EXTENSIONS else None


def _matches(low: str, patterns: tuple[tuple[str, str], ...]) -> bool:
    return any(low.startswith(p) and low.endswith(s) and len(low) > len(p) + len(s) for p, s in patterns)


def config_why(name: str, tool_files: bool = True) -> str | None:
    """Whether a server or tool reads a file of this name (one client's form of it), or
    of the long name it is the NTFS 8.3 alias of, from the directory it runs in: None if
    not, else why (empty when names.RULES says it all: CONFIG_NAMES' servers and tools).
    Without `tool_files`, toolnames' table is left out: for a directory's name, which no
    build or task tool reads as its file (a directory `dune`, the experiment's, or `Procfile`)."""
    low = name.lower()
    if low in _SERVERS_AND_TOOLS:
        return ""
    if tool_files and (why := toolnames.why(low)) is not None:
        return why
    if low in _ASY:
        return f"Asymptote searches the current directory first, so {name} would replace its own module"
    if low.startswith(_CACHES) and any(low.startswith(p) and len(low) > len(p) for p in _CACHES):
        return f"a LaTeX package's cache, whose files it inputs by name as TeX code ({name})"
    if (why := _tex_why(name)) is not None:
        return why
    if name.lower().endswith(".tex") and (why := _tex_why(name[:-4])) is not None:
        return why + _TWIN
    if "~" in name and (alias := _ALIAS.fullmatch(name.upper())) and _alias_refused(*alias.groups("")):
        return f"the NTFS 8.3 alias of a name read by name (Windows writes the long file through {name})"
    return None


def within_why(directory: str, name: str) -> str | None:
    """Why a tool reads an entry of this (folded) name in a directory of that one, or None."""
    pattern, why = _WITHIN.get(directory, (None, ""))
    return why if pattern is not None and pattern.fullmatch(name) else None


def loaded_by_name(name: str) -> bool:
    """Whether a server or tool reads a file of this name from the directory it runs in."""
    return config_why(name) is not None


def _alias_refused(stem: str, ext: str) -> bool:
    """Whether an 8.3 alias STEM~N.EXT may be that of a name config_why refuses: of an
    exact name or its NAME.tex, or of a pattern's (or its NAME.tex's) names."""
    if (stem, ext) in _aliased():
        return True
    patterns = (*CONFIG_PATTERNS, *((p, f"{s}.tex") for p, s in CONFIG_PATTERNS), *_AUX_PATTERNS)
    patterns += tuple((p, "") for p in _CACHES)
    if any(stem.startswith(short_parts(p)[0]) and short_parts(f"x{s}")[1] == ext for p, s in patterns):
        return True
    # toolnames' prefixes take any extension (vite.config.*: VITECO~1.TS)
    return any(stem.startswith(short_parts(p)[0]) and (not s or short_parts(f"x{s}")[1] == ext)
               for p, s, _ in toolnames.PATTERNS)


@cache
def _aliased() -> frozenset[tuple[str, str]]:
    """The (stem, extension) of every alias of a refused exact name and of its NAME.tex,
    built once, when a name first looks like an alias."""
    names = _SERVERS_AND_TOOLS | _ASY | _TEX | texdist.distribution_names() | toolnames.names()
    twins = (f"{n}.tex" for n in _TEX | texdist.distribution_names() if not n.endswith(".tex"))
    return frozenset(short_parts(n)[:2] for n in (*names, *twins) if short_parts(n)[2])
