"""Independent black-box attack p on `vmguard vet`'s session-39 text and name claims (issue
#13, session 39): docs/quarantine.md's text row as changed by attack o text (at most one
`ESC [ A` a line and none on a file's first line: "whatever lines of whatever files a reader
shows ... its view climbs at most 1 row"; bare `<html> <body> <meta> <form> <iframe>` tags
are text), "JSON and text: what exactness leaves", and the "Walk" names (tool configuration
read from `.`: rust-toolchain, Gemfile, Vagrantfile, Rakefile, poetry.toml, mypy.ini ...;
LaTeX jobs known from .latex .ltx .dtx .Rnw .Rtex .Snw .texi .tex.gz), not the code
(neither the validators nor their tests were read).

Text: a reader that shows the head of each line (`cut -c1-80`, `colrm 81`, awk's substr)
leaves an ESC open before each LF where an admitted `ESC [ A` straddles the cut; LF is
executed inside the sequence and the next line's `[2J` or `[9A` ends it: tmux (checked here
when installed), xterm and VTE erase the screen and climb 9 rows, above the file.
Pages (refusals checked to hold): every bare first tag WHATWG sniffing takes for HTML
(`<html>`, `<h1>`, `<div>`, `<table>`, `<title>`, `<head>`, `<font>`, `<br>`, `<style>`,
`<iframe>`, `<HTML>`, after white space `<p>`, `<body>`) followed by an `<img onerror>`,
`<input autofocus onfocus>`, `<details ontoggle>` or a bare `<form>` of a password field:
all refused (sniffed-as-page or text/html).
Names: tool files read from `.` (most from each parent too) that run code or send a tool
elsewhere, beside the listed ones: go.work, Snakefile, justfile/Justfile, Taskfile.yml/
.yaml, pixi.toml, shell.nix, luigi.cfg, ruff.toml (output-file), settings.gradle, Ruby
files (Capfile, Thorfile, Guardfile, Podfile, Berksfile, Brewfile), compose.yaml and
docker-compose.yml (the override refused, the base not), SConstruct, build.sbt,
GNUmakefile, MODULE.bazel, WORKSPACE, flake.nix, default.nix, Tiltfile.
LaTeX: jobs started from Pweave's .Pnw/.pnw/.texw/.pmd, lilypond-book's .lytex,
Sweave's .Stex and .nw, R Markdown's .Rmd, Quarto's .qmd, Org's .org, Weave.jl's .jmd (each renders main.tex and runs LaTeX on it in the same directory), each beside a
main.brf of TeX code. Listed (documented admission): UTF-8 `ś9A` (C5 9B 39 41), CSI 9 A to
a terminal in an 8-bit mode.
Controls, real tool output: g++'s template report (`std::vector<Body>`), make driving gcc,
Python logging in UTF-8 and UTF-16 (English; Japanese, whose UTF-16 `合` U+5408 at a
line's start is BS to a terminal: documented), a pytest failure report, tqdm's two nested
bars to a file, pandas CSV and TSV, coreutils `pr -f` (FF: documented). No TeX, R,
makeinfo or Fortran toolchain here: none of their output.

All files of job `ptext` are vetted ONCE through the CLI (batch.yaml's allow_types,
scanners off, per-file promotion). HOLES and FALSE_REJECTIONS are strict xfails whose
reason says what got out or was refused; DOCUMENTED_REFUSALS are ordinary output a
documented rule refuses.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("tqdm")
pytest.importorskip("pandas")

from tests.quarantine.test_attack_independent_dcontent import _policy  # noqa: E402
from tests.quarantine.test_attack_independent_econtent import _vet  # noqa: E402
from tests.support import attack_ptext_cases as cases  # noqa: E402
from tests.support import attack_ptext_controls as ctl  # noqa: E402

ROOT_DIR = Path(__file__).resolve().parents[2]
_CFG_REASONS = {
    "go/go.work": "go finds go.work in . or any parent on every go build: replace swaps a "
                  "module for another directory's code",
    "smk/Snakefile": "snakemake runs ./Snakefile (Python) (the docs refuse its profile, "
                     "'taken unasked when a Snakefile is found', not the Snakefile)",
    "just/justfile": "just searches . and each parent: its recipe runs",
    "just2/Justfile": "just searches . and each parent: its recipe runs",
    "task/Taskfile.yml": "Task searches . and each parent: its commands run",
    "task2/Taskfile.yaml": "Task searches . and each parent: its commands run",
    "pixi/pixi.toml": "pixi finds it from . upward: activation scripts, another channel",
    "nix/shell.nix": "nix-shell without arguments evaluates ./shell.nix, runs shellHook",
    "luigi/luigi.cfg": "luigi reads luigi.cfg of the working directory: another scheduler",
    "ruff/ruff.toml": "ruff reads it from . upward: output-file writes any path (as mypy.ini's "
                      "junit_xml, refused)",
    "gradle/settings.gradle": "gradle searches . and parents for it: Groovy run on a build",
    "cap/Capfile": "Capistrano (rake) finds it from . upward: Ruby, as the refused Rakefile",
    "thor/Thorfile": "thor loads it from .: Ruby, as the refused Rakefile",
    "guard/Guardfile": "guard evaluates it from .: Ruby, as the refused Gemfile",
    "pods/Podfile": "pod install evaluates it from .: Ruby, as the refused Gemfile",
    "berks/Berksfile": "berks evaluates it from .: Ruby and another source, as Gemfile",
    "brew/Brewfile": "brew bundle evaluates it from .: Ruby, as the refused Gemfile",
    "compose/compose.yaml": "docker compose finds it from . upward: a privileged service "
                            "mounting / (compose.override.yaml, merged into it, is refused)",
    "compose2/docker-compose.yml": "docker compose finds it from . upward: a privileged "
                                   "service mounting / (the override is refused)",
    "scons/SConstruct": "scons (-u/-D search parents) runs it as Python",
    "sbt/build.sbt": "sbt evaluates ./build.sbt (Scala): runs `id`",
    "make/GNUmakefile": "GNU make prefers it to makefile/Makefile in .: as the refused Rakefile",
    "bazel/MODULE.bazel": "bazel takes the nearest parent holding it as the workspace: "
                          "http_archive fetches and builds other code",
    "bazel2/WORKSPACE": "bazel takes the nearest parent holding it as the workspace: "
                        "http_archive fetches and builds other code",
    "nix2/flake.nix": "nix develop/build search . and parents for it: shellHook runs",
    "nix3/default.nix": "nix-build without arguments evaluates ./default.nix: a build runs",
    "tilt/Tiltfile": "tilt up runs ./Tiltfile (Starlark local() runs a command)",
}
HOLES: dict[str, str] = {}
# Published as the docs now say (session 39): a view that cuts lines (`cut -c`) is as
# unbounded as one that joins them (an ESC [ A cut after its ESC leaves the ESC open for
# the next line's text), and Bazel's older WORKSPACE file (a directory named workspace is a
# lab's own; MODULE.bazel is refused). The other tool files and the LaTeX sources found
# here are refused since session 39 (names2).
CUT_OR_NAMED = {
    "cutview/train.err": "cuts lines",
    "cutview/reset.err": "cuts lines",
    "bazel2/WORKSPACE": "WORKSPACE",
}
FALSE_REJECTIONS: dict[str, str] = {}
DOCUMENTED_REFUSALS = {
    # Python logging, UTF-16, a Japanese line starting 合 (U+5408: bytes 08 54): the docs
    # name it ("a UTF-16LE line that starts with ... 合 U+5408 ... is refused").
    "logs/ja-utf16.log": "text: the byte 0x08 near byte",
    # coreutils `pr -f` (a printer listing): FF between pages; the text row names the price
    # ("so is a page break in printer output or source, remedy tr '\\f' '\\n'").
    "build/listing.txt": "text: FF (form feed, U+000C) near byte",
}

# Published as the docs say (UTF-8's 0x9B inside a letter stays admitted).
LISTED = cases.listed()
HOSTILE = cases.hostile()
PAGES = cases.page_hostile()
CONTEXT = cases.tex_context()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-ptext")
    start = time.monotonic()
    controls = ctl.controls(base / "made")
    files = HOSTILE | PAGES | CONTEXT | LISTED | controls
    vetted = _vet(base, "ptext", files, _policy())
    return {**vetted, "controls": controls, "seconds": time.monotonic() - start}


def _case(name: str, table: dict[str, str]):
    if name in table:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=table[name]))
    return name


def test_tables_name_real_cases(run):
    assert set(HOLES) | set(_CFG_REASONS) | set(CUT_OR_NAMED) <= set(HOSTILE)
    assert set(FALSE_REJECTIONS) | set(DOCUMENTED_REFUSALS) <= set(run["controls"])
    assert not set(HOSTILE) & set(run["controls"])


def test_hostile_files_differ_from_what_writers_write():
    """Each main.brf holds \\openout, which backref never writes; each tool file runs `id`
    or names another index/path/host; the cut-view file holds `[9A` and `[2J` as text
    right after a line whose 80th character is ESC: no writer lays lines out so."""
    for name, data in HOSTILE.items():
        if name.endswith(".brf"):
            assert b"\\openout" in data
    for name, data in cases.CONFIGS.items():
        assert any(s in data for s in (b"id", b"example.net", b"/tmp/job-4242", b"/host",
                                       b"autostart")), name
    for name in ("cutview/train.err", "cutview/reset.err"):
        data = HOSTILE[name]
        lines = data.split(b"\n")
        assert lines[0].count(b"\x1b") == 0 and all(ln.count(cases.UP) <= 1 for ln in lines)
        assert data.count(b"\x1b") == data.count(cases.UP) >= 1


def _tmux_screen(tmux: str, command: str) -> str:
    """What a 100x40 tmux pane shows after 20 marker lines and `command`."""
    sock = f"ptext-{time.monotonic_ns()}"
    pre = "; ".join(f"echo BEFORE-{i:02d}" for i in range(20))
    subprocess.run([tmux, "-L", sock, "new-session", "-d", "-x", "100", "-y", "40",
                    f"{pre}; {command}; sleep 5"], check=True)
    try:
        time.sleep(1.5)
        return subprocess.run([tmux, "-L", sock, "capture-pane", "-p"], capture_output=True,
                              check=True).stdout.decode()
    finally:
        subprocess.run([tmux, "-L", sock, "kill-server"], check=False)


def _before_shown(tmux: str, command: str) -> int:
    screen = _tmux_screen(tmux, command)
    return sum(f"BEFORE-{i:02d}" in screen for i in range(20))


def test_cut_hands_the_terminal_open_escapes(tmp_path):
    """Real `cut -c1-80` writes `ESC LF [2J` and `ESC LF [9A`; in tmux the forged line lands
    9 rows up and what was shown before the file is erased."""
    path = tmp_path / "train.err"
    path.write_bytes(HOSTILE["cutview/train.err"])
    shown = subprocess.run(["cut", "-c1-80", str(path)], capture_output=True, check=True).stdout
    assert shown == cases.cut_view(path.read_bytes())
    assert b"\x1b\n[2J" in shown and b"\x1b\n[9A" in shown
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.skip("tmux not installed")
    assert _before_shown(tmux, f"cat {path}") == 20  # cat climbs 1 row, within the file
    screen = _tmux_screen(tmux, f"cut -c1-80 {path}")
    assert "FORGED" in screen
    assert sum(f"BEFORE-{i:02d}" in screen for i in range(20)) == 0, screen


def test_cut_turns_an_ordinary_next_line_into_a_reset(tmp_path):
    """`checkpoint saved` after the cut ESC: ESC LF c is RIS; tmux clears its screen."""
    path = tmp_path / "reset.err"
    path.write_bytes(HOSTILE["cutview/reset.err"])
    shown = subprocess.run(["cut", "-c1-80", str(path)], capture_output=True, check=True).stdout
    assert b"\x1b\ncheckpoint saved" in shown
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.skip("tmux not installed")
    assert _before_shown(tmux, f"cat {path}") == 20
    screen = _tmux_screen(tmux, f"cut -c1-80 {path}")
    assert "heckpoint saved" in screen or "done" in screen, screen
    assert sum(f"BEFORE-{i:02d}" in screen for i in range(20)) == 0, screen


def test_controls_are_what_the_tools_wrote(run):
    c = run["controls"]
    assert b"std::vector<Body>" in c["build/gxx-templates.log"]
    assert c["logs/train.err"].count(cases.UP) >= 20
    assert c["logs/ja-utf16.log"].startswith(b"\xff\xfe\x08\x54")  # 合 U+5408
    assert b"assert" in c["logs/pytest.out"] and b"1 failed" in c["logs/pytest.out"]


@pytest.mark.parametrize("name", sorted(DOCUMENTED_REFUSALS))
def test_documented_refusal(run, name):
    if name not in run["controls"]:
        pytest.skip("tool not installed")
    entry = run["entries"][name]
    assert entry["verdict"] == "rejected", entry
    assert entry["detail"].startswith(DOCUMENTED_REFUSALS[name]), entry["detail"]


@pytest.mark.parametrize("name", [_case(n, FALSE_REJECTIONS)
                                  for n in sorted(set(ctl.NAMES) - set(DOCUMENTED_REFUSALS))])
def test_ordinary_output_published_byte_identical(run, name):
    if name not in run["controls"]:
        pytest.skip("tool not installed")
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    published = (run["out"] / name).read_bytes()
    assert published == run["controls"][name]
    assert entry["sha256"] == hashlib.sha256(published).hexdigest()


@pytest.mark.parametrize("name", [_case(n, HOLES) for n in sorted(set(HOSTILE) - set(CUT_OR_NAMED))])
def test_hostile_file_is_not_published(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] != "accepted", entry
    assert entry["reasons"], entry
    assert not (run["out"] / name).exists()


@pytest.mark.parametrize("name", sorted(CUT_OR_NAMED))
def test_documented_limits_are_published(run, name):
    """docs/quarantine.md names each (grep the phrase): kept honest, fails when that changes."""
    assert run["entries"][name]["verdict"] == "accepted", run["entries"][name]
    assert CUT_OR_NAMED[name] in (ROOT_DIR / "docs" / "quarantine.md").read_text()


@pytest.mark.parametrize("name", sorted(LISTED))
def test_listed_published_byte_identical(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    assert (run["out"] / name).read_bytes() == LISTED[name]
    assert b"\xc5\x9b9A" in LISTED[name]


@pytest.mark.parametrize("name", sorted(PAGES))
def test_sniffed_page_refused(run, name):
    """Bare first tags a sniffer takes for HTML, with a handler after: refused (holds)."""
    entry = run["entries"][name]
    assert entry["verdict"] == "rejected", entry
    assert not (run["out"] / name).exists()


def test_the_vet_exits_as_a_partly_refused_job(run):
    assert run["rc"] == 1, run["rc"]
    assert run["seconds"] < 90, run["seconds"]
